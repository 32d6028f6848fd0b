/**
 * KVM's ACC_* access bits (spte.h; mmu.h in 7.x) and #PF error-code bits (kvm_host.h; reference
 * §4.2, §5.4). The bare ACC_* constants are v6.16's; `accEncoding(kvm)` gives either version's.
 */
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';

export const ACC_EXEC = 1;
export const ACC_WRITE = 2;
/** For EPT gPTEs this bit means "readable" (v6.16 reuses ACC_USER_MASK). */
export const ACC_USER = 4;
export const ACC_ALL = 7;

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
  return kvm === '7.3' ? ACC_7_3 : ACC_6_16;
}

/**
 * A v6.16 ACC value as 7.3 encodes the same rights (kvm-7x.md §1.4 "Consequence for models",
 * INFERRED there): x86/NPT `(b&1 ? 8 : 0) | (b & 6) | 1` — R is always 1 after a successful walk.
 * EPT: v6.16 R (USER slot) → READ 1, W → 2, X → EXEC (XS) 8; XU is `xu` (v6.16 has no XU).
 */
export function acc616To73(b: number, ept: boolean, xu = false): number {
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
  if (kvm === '6.16') {
    const u = ept ? 'R' : 'U';
    return [(acc & ACC_USER) !== 0 ? u : '-', (acc & ACC_WRITE) !== 0 ? 'W' : '-', (acc & ACC_EXEC) !== 0 ? 'X' : '-'].join('');
  }
  const e = ACC_7_3;
  return [
    (acc & e.READ) !== 0 ? 'R' : '-',
    (acc & e.WRITE) !== 0 ? 'W' : '-',
    (acc & e.USER) !== 0 ? (ept ? 'u' : 'U') : '-',
    (acc & e.EXEC) !== 0 ? 'X' : '-',
  ].join('');
}
