/**
 * `mmu.c: update_permission_bitmask(mmu, ept)` and `update_pkru_bitmask(mmu)` (reference §4.3,
 * §4.5). `permissions[idx]`, idx = error-code bits 4:1 {W, U, RSVD-slot, FETCH}: bit j is 1 iff
 * an access of that kind faults on a page whose accumulated ACC value is j. The RSVD slot means
 * "SMAP overridden" (explicit supervisor access with EFLAGS.AC=1). v6.16: u8 entries over the
 * 3-bit ACC (X=1, W=2, U=4). 7.3: u16 entries over the 4-bit ACC (R=1, W=2, U/XU=4, X/XS=8;
 * kvm-7x.md §1.4), in `struct kvm_page_format.permissions`.
 */
import { DEFAULT_KVM_VERSION, KVM_VERSIONS, type KvmVersion } from '../kvm-version';
import { InvalidArgumentError } from '../errors';
import { PFERR } from './acc';
import { checkBool, checkEnum, checkObject } from '../validate/checks';

export interface PermissionParams {
  /** Non-EPT: CR0.WP. */
  cr0Wp: boolean;
  /**
   * v6.16: CR4.SMEP. 7.3: `base.cr4_smep` — guest CR4.SMEP for x86 tables, GMET for NPT
   * (kvm-7x.md §2.2); for EPT use `mbec`.
   */
  cr4Smep: boolean;
  cr4Smap: boolean;
  eferNx: boolean;
  ept: boolean;
  /** Which KVM's table to build. Default DEFAULT_KVM_VERSION ('7.3'). */
  kvm?: KvmVersion;
  /** 7.3 EPT only: MBEC enabled (`base.cr4_smep` of an EPT role, kvm-7x.md §3.1). */
  mbec?: boolean;
}

// BYTE_MASK(access): bit j of the byte is set iff ACC value j has `access`.
const X = 0b1010_1010;
const W = 0b1100_1100;
const U = 0b1111_0000;

export function updatePermissionBitmask(p: PermissionParams): readonly number[] {
  const o = checkObject<Record<string, unknown>>('p', p);
  for (const k of ['cr0Wp', 'cr4Smep', 'cr4Smap', 'eferNx', 'ept']) checkBool(`p.${k}`, o[k]);
  if (o.kvm !== undefined) checkEnum('p.kvm', o.kvm, KVM_VERSIONS);
  if (o.mbec !== undefined) checkBool('p.mbec', o.mbec);
  if ((p.kvm ?? DEFAULT_KVM_VERSION) === '7.3') return updatePermissionBitmask73(p);
  if (p.mbec === true) throw new InvalidArgumentError('mbec-version', 'MBEC exists only in the KVM 7.3 model', '6.16');
  const out: number[] = [];
  for (let idx = 0; idx < 16; idx++) {
    const pfec = idx << 1;
    let wf = pfec & PFERR.WRITE ? ~W & 0xff : 0;
    const uf = pfec & PFERR.USER ? ~U & 0xff : 0;
    let ff = pfec & PFERR.FETCH ? ~X & 0xff : 0;
    let smepf = 0;
    let smapf = 0;
    if (!p.ept) {
      // A supervisor access touching a user page.
      const kf = pfec & PFERR.USER ? 0 : U;
      if (!p.eferNx) ff = 0;
      // Supervisor writes ignore R/W when CR0.WP=0.
      if (!p.cr0Wp && !(pfec & PFERR.USER)) wf = 0;
      if (p.cr4Smep) smepf = pfec & PFERR.FETCH ? kf : 0;
      // SMAP applies to data accesses that do not override it (RSVD slot = AC=1 explicit).
      if (p.cr4Smap) smapf = pfec & (PFERR.RSVD | PFERR.FETCH) ? 0 : kf;
    }
    out.push((wf | uf | ff | smepf | smapf) & 0xff);
  }
  return Object.freeze(out);
}

// The 16-bit BYTE_MASKs over the 7.3 ACC values (kvm-7x.md §1.4 "per-bit masks", INFERRED there
// from the encoding): bit j set iff ACC value j has the right.
const R16 = 0xaaaa;
const W16 = 0xcccc;
const U16 = 0xf0f0; // ACC_USER_MASK = ACC_USER_EXEC_MASK (EPT XU)
const X16 = 0xff00; // ACC_EXEC_MASK (x86 !NX, EPT XS)

/**
 * The 7.3 (post-MBEC) table. ASSUMPTION: no 7.2+ C text of update_permission_bitmask was read;
 * this is the semantic specification of kvm-7x.md §1.5 (INFERRED there), checked against the
 * kvm-unit-tests expectations of §6 in test/format/permission-bitmask-7.3.test.ts:
 *  - EPT: a read is an access with neither W nor F ("!w && !f", §1.3 point 1) and needs R; a write
 *    needs W only; a fetch needs XS — or, with MBEC, XU when the access's U bit (since
 *    9c167cb3c14c: "the guest linear address is user-mode") is set. CR0.WP/SMEP/SMAP/NX do not
 *    apply. Without MBEC the U bit of the index changes nothing.
 *  - non-EPT (x86 and NPT): v6.16's rules with 16-bit masks; `cr4Smep` is base.cr4_smep, which
 *    for NPT is GMET (so GMET is SMEP applied to the NPT's U bit, §2.2). R (ACC value bit 0) is
 *    always 1 after a successful x86 walk, so the R=0 half is don't-care; it is filled by the
 *    same formula, i.e. R is ignored.
 */
function updatePermissionBitmask73(p: PermissionParams): readonly number[] {
  const out: number[] = [];
  for (let idx = 0; idx < 16; idx++) {
    const pfec = idx << 1;
    const w = (pfec & PFERR.WRITE) !== 0;
    const u = (pfec & PFERR.USER) !== 0;
    const f = (pfec & PFERR.FETCH) !== 0;
    let v: number;
    if (p.ept) {
      if (f) v = p.mbec === true && u ? ~U16 : ~X16;
      else if (w) v = ~W16;
      else v = ~R16;
    } else {
      let wf = w ? ~W16 : 0;
      const uf = u ? ~U16 : 0;
      let ff = f ? ~X16 : 0;
      const kf = u ? 0 : U16;
      if (!p.eferNx) ff = 0;
      if (!p.cr0Wp && !u) wf = 0;
      const smepf = p.cr4Smep && f ? kf : 0;
      const smapf = p.cr4Smap && !(pfec & (PFERR.RSVD | PFERR.FETCH)) ? kf : 0;
      v = wf | uf | ff | smepf | smapf;
    }
    out.push(v & 0xffff);
  }
  return Object.freeze(out);
}

export interface PkruParams {
  /** `cpu_role.ext.cr4_pke` (0 outside long mode). */
  cr4Pke: boolean;
  cr0Wp: boolean;
}

export function updatePkruBitmask(p: PkruParams): number {
  const o = checkObject<Record<string, unknown>>('p', p);
  checkBool('p.cr4Pke', o.cr4Pke);
  checkBool('p.cr0Wp', o.cr0Wp);
  if (!p.cr4Pke) return 0;
  let mask = 0;
  for (let idx = 0; idx < 16; idx++) {
    const pfec = idx << 1;
    const ff = (pfec & PFERR.FETCH) !== 0;
    const uf = (pfec & PFERR.USER) !== 0;
    const wf = (pfec & PFERR.WRITE) !== 0;
    // In the PKRU mask the RSVD slot carries the page's U bit.
    const pteUser = (pfec & PFERR.RSVD) !== 0;
    const checkPkey = !ff && pteUser;
    const checkWrite = checkPkey && wf && (uf || p.cr0Wp);
    const bits = (checkPkey ? 1 : 0) | (checkWrite ? 2 : 0);
    mask |= bits << pfec;
  }
  return mask >>> 0;
}
