/**
 * KVM's ACC_* access bits (spte.h; mmu.h in 7.x) and #PF error-code bits (kvm_host.h; reference
 * §4.2, §5.4). The ACC encoding is version-explicit: `ACC_7_3` / `ACC_6_16` (or `accEncoding(kvm)`).
 * The bare ACC_* constants are the default version's (DEFAULT_KVM_VERSION, '7.3'; kvm-7x.md §1.4),
 * so `ACC_EXEC` is 8 and `ACC_ALL` 0xF — code about v6.16 must use `ACC_6_16` (EXEC 1, ALL 7).
 * ACC_WRITE (2) and ACC_USER (4) are the same number in both versions (reference §4.2; kvm-7x.md
 * §1.4 table: ACC_WRITE_MASK = PT_WRITABLE_MASK, ACC_USER_MASK = PT_USER_MASK), which is why the
 * shadow MMU may test them bare whatever the VM's version.
 */
import { DEFAULT_KVM_VERSION, KVM_VERSIONS, type KvmVersion } from '../kvm-version';
import { checkBool, checkEnum, checkInt, refuse } from '../validate/checks';

/**
 * One version's ACC values. v6.16 (reference §4.2): EXEC 1, WRITE 2, USER 4, ALL 7, and EPT puts
 * R into USER; there is no READ bit (0 here) and no USER_EXEC. 7.x after a8827c19614 "introduce
 * ACC_READ_MASK" (kvm-7x.md §1.4 table): READ 1 (= PT_PRESENT_MASK; EPT R), WRITE 2, USER 4,
 * USER_EXEC = USER (EPT XU), EXEC 8 (x86 !NX; EPT XS/X), ALL 0xF.
 */
export interface AccEncoding {
  readonly kvm: KvmVersion;
  readonly READ: number;
  readonly WRITE: number;
  readonly USER: number;
  readonly USER_EXEC: number;
  readonly EXEC: number;
  readonly ALL: number;
  /** Number of distinct ACC values: the width of one `permissions[]` entry (8 → u8, 16 → u16). */
  readonly values: 8 | 16;
}

export const ACC_6_16: AccEncoding = Object.freeze({ kvm: '6.16', READ: 0, WRITE: 2, USER: 4, USER_EXEC: 0, EXEC: 1, ALL: 7, values: 8 });
export const ACC_7_3: AccEncoding = Object.freeze({ kvm: '7.3', READ: 1, WRITE: 2, USER: 4, USER_EXEC: 4, EXEC: 8, ALL: 0xf, values: 16 });

export function accEncoding(kvm: KvmVersion): AccEncoding {
  if (kvm === '7.3') return ACC_7_3;
  if (kvm === '6.16') return ACC_6_16;
  return refuse('kvm', 'enum', `must be one of ${KVM_VERSIONS.map((v) => JSON.stringify(v)).join(', ')}`, kvm);
}

/** The default version's encoding, behind the bare constants below. */
const ACC_DEFAULT = accEncoding(DEFAULT_KVM_VERSION);
/** ACC_READ_MASK (7.3: 1 = PT_PRESENT_MASK / EPT R). v6.16 has none: `ACC_6_16.READ` is 0. */
export const ACC_READ = ACC_DEFAULT.READ;
export const ACC_WRITE = ACC_DEFAULT.WRITE;
/** ACC_USER_MASK (4 in both versions); for v6.16 EPT gPTEs this bit means "readable". */
export const ACC_USER = ACC_DEFAULT.USER;
/** ACC_USER_EXEC_MASK (7.3: = ACC_USER_MASK, EPT XU). v6.16 has none: `ACC_6_16.USER_EXEC` is 0. */
export const ACC_USER_EXEC = ACC_DEFAULT.USER_EXEC;
/** ACC_EXEC_MASK: 8 in 7.3 (x86 !NX, EPT XS/X); 1 in v6.16 (`ACC_6_16.EXEC`). */
export const ACC_EXEC = ACC_DEFAULT.EXEC;
/** ACC_ALL: 0xF in 7.3; 7 in v6.16 (`ACC_6_16.ALL`). */
export const ACC_ALL = ACC_DEFAULT.ALL;

/**
 * A v6.16 ACC value as 7.3 encodes the same rights (kvm-7x.md §1.4 "Consequence for models",
 * INFERRED there): x86/NPT `(b&1 ? 8 : 0) | (b & 6) | 1` — R is always 1 after a successful walk.
 * EPT: v6.16 R (USER slot) → READ 1, W → 2, X → EXEC (XS) 8; XU is `xu` (v6.16 has no XU).
 */
export function acc616To73(b: number, ept: boolean, xu = false): number {
  // A v6.16 ACC value has three bits (ACC_ALL = 7, spte.h).
  checkInt('b', b, { max: ACC_6_16.ALL });
  checkBool('ept', ept);
  checkBool('xu', xu);
  if (!ept) return (b & 1 ? 8 : 0) | (b & 6) | 1;
  return (b & 4 ? 1 : 0) | (b & 2) | (b & 1 ? 8 : 0) | (xu ? 4 : 0);
}

export const PFERR = Object.freeze({
  PRESENT: 1 << 0,
  WRITE: 1 << 1,
  USER: 1 << 2,
  RSVD: 1 << 3,
  FETCH: 1 << 4,
  PK: 1 << 5,
  SS: 1 << 6,
  SGX: 1 << 15,
});

/** Decode an error code into the SDM's names, e.g. "P|W|U". */
export function decodeErrorCode(ec: number): string {
  // The #PF error code is 32 bits (SDM Vol. 3A 4.7).
  if (ec >>> 0 !== ec) checkInt('ec', ec, { max: 0xffff_ffff });
  const names: [number, string][] = [
    [PFERR.PRESENT, 'P'],
    [PFERR.WRITE, 'W'],
    [PFERR.USER, 'U'],
    [PFERR.RSVD, 'RSVD'],
    [PFERR.FETCH, 'I/D'],
    [PFERR.PK, 'PK'],
    [PFERR.SS, 'SS'],
    [PFERR.SGX, 'SGX'],
  ];
  const out = names.filter(([b]) => (ec & b) !== 0).map(([, n]) => n);
  return out.length === 0 ? '0' : out.join('|');
}

/** Decode an ACC value, e.g. "UWX" (v6.16) or "RWUX" / EPT "RW-XS+XU" style (7.3). */
export function decodeAcc(acc: number, ept = false, kvm: KvmVersion = DEFAULT_KVM_VERSION): string {
  checkInt('acc', acc, { max: accEncoding(checkEnum('kvm', kvm, KVM_VERSIONS)).ALL });
  checkBool('ept', ept);
  if (kvm === '6.16') {
    const u = ept ? 'R' : 'U';
    const o = ACC_6_16;
    return [(acc & o.USER) !== 0 ? u : '-', (acc & o.WRITE) !== 0 ? 'W' : '-', (acc & o.EXEC) !== 0 ? 'X' : '-'].join('');
  }
  const e = ACC_7_3;
  return [
    (acc & e.READ) !== 0 ? 'R' : '-',
    (acc & e.WRITE) !== 0 ? 'W' : '-',
    (acc & e.USER) !== 0 ? (ept ? 'u' : 'U') : '-',
    (acc & e.EXEC) !== 0 ? 'X' : '-',
  ].join('');
}
