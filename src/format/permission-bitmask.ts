/**
 * `mmu.c: update_permission_bitmask(mmu, ept)` and `update_pkru_bitmask(mmu)` (reference §4.3,
 * §4.5). `permissions[idx]`, idx = error-code bits 4:1 {W, U, RSVD-slot, FETCH}: bit j is 1 iff
 * an access of that kind faults on a page whose accumulated ACC value is j. The RSVD slot means
 * "SMAP overridden" (explicit supervisor access with EFLAGS.AC=1).
 */
import { PFERR } from './acc';

export interface PermissionParams {
  cr0Wp: boolean;
  cr4Smep: boolean;
  cr4Smap: boolean;
  eferNx: boolean;
  ept: boolean;
}

// BYTE_MASK(access): bit j of the byte is set iff ACC value j has `access`.
const X = 0b1010_1010;
const W = 0b1100_1100;
const U = 0b1111_0000;

export function updatePermissionBitmask(p: PermissionParams): readonly number[] {
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

export interface PkruParams {
  /** `cpu_role.ext.cr4_pke` (0 outside long mode). */
  cr4Pke: boolean;
  cr0Wp: boolean;
}

export function updatePkruBitmask(p: PkruParams): number {
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
