/**
 * EPT-violation exit qualification (reference §6.4) and the VMX exit reasons of nested TDP faults
 * (§12.4). `eptViolationQualification` is what KVM's EPT walker synthesizes for L1 (§6.8):
 * access bits from the walker's access, PROT bits from the raw RWX of the entries, and bits 7/8
 * from the context of the access (KVM copies them from the real exit qualification).
 */
import type { NestedDuring } from './nested-during';
import { NESTED_DURING } from './nested-during';
import { checkBool, checkEnum, checkInt } from '../validate/checks';

/** Exit-qualification bits (asm/vmx.h `EPT_VIOLATION_*`), as numbers: the qualification fits in 13 bits. */
export const EPT_QUAL = Object.freeze({
  ACC_READ: 1 << 0,
  ACC_WRITE: 1 << 1,
  ACC_INSTR: 1 << 2,
  PROT_READ: 1 << 3,
  PROT_WRITE: 1 << 4,
  PROT_EXEC: 1 << 5,
  EXEC_FOR_RING3_LIN: 1 << 6,
  /** 7.2+ name of bit 6 (91a4e313cbc2): with MBEC, the AND of XU (bit 10) over the entries (kvm-7x.md §1.2). */
  PROT_USER_EXEC: 1 << 6,
  GVA_IS_VALID: 1 << 7,
  GVA_TRANSLATED: 1 << 8,
  /**
   * Advanced VM-exit information, valid when bits 7 and 8 are both set (SDM, quoted in kvm-7x.md
   * §1.2; kvm-unit-tests x86/vmx.h:658-660 EPT_VLT_GUEST_USER/RW/NX): the guest linear address is
   * user-mode (9), writable (10), execute-disable (11). KVM names bit 9 EPT_VIOLATION_GVA_USER [T].
   */
  GVA_USER: 1 << 9,
  GVA_WRITABLE: 1 << 10,
  GVA_NX: 1 << 11,
} as const);

/** Bits 11:9 of a qualification: what 7.3 KVM copies from the real exit into L1's (a0efd8cb221f). */
export const EPT_QUAL_GUEST_MASK = EPT_QUAL.GVA_USER | EPT_QUAL.GVA_WRITABLE | EPT_QUAL.GVA_NX;

/**
 * Bits 11:9 for a final translation, from the guest walk's accumulated rights: user-mode (U=1 in
 * every guest paging-structure entry), writable (R/W=1 in every one), execute-disable (XD=1 in
 * some one) — the SDM definitions behind kvm-7x.md §1.2's table.
 */
export function guestLinearBits(user: boolean, writable: boolean, executeDisable: boolean): number {
  checkBool('user', user);
  checkBool('writable', writable);
  checkBool('executeDisable', executeDisable);
  return (user ? EPT_QUAL.GVA_USER : 0) | (writable ? EPT_QUAL.GVA_WRITABLE : 0) | (executeDisable ? EPT_QUAL.GVA_NX : 0);
}

/** VMX basic exit reasons (uapi/asm/vmx.h). */
export const VMX_EXIT_REASON = Object.freeze({
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  PML_FULL: 62,
} as const);

/** `EPT_VIOLATION_RWX_TO_PROT(rwx)`: raw R/W/X (bits 2:0 of EPT entries) → qualification bits 5:3. */
export function rwxToProt(rwx: number): number {
  // The macro masks a whole EPT entry's bits (vmx.h EPT_VIOLATION_RWX_TO_PROT): any non-negative integer.
  checkInt('rwx', rwx);
  return (rwx & 7) << 3;
}

/**
 * The qualification of an EPT violation: `pfec` is the walker's access (PFERR W/U/FETCH; in EPT
 * terms U means "read"), `rwx` the AND of the raw RWX bits of the entries seen (0 when the failing
 * entry is not present), `during` what the access was for.
 */
export function eptViolationQualification(pfec: number, rwx: number, during: NestedDuring): number {
  checkInt('pfec', pfec, { max: 0xffff_ffff });
  checkEnum('during', during, NESTED_DURING);
  let q = 0;
  if (pfec & 2) q |= EPT_QUAL.ACC_WRITE;
  if (pfec & 4) q |= EPT_QUAL.ACC_READ;
  if (pfec & 16) q |= EPT_QUAL.ACC_INSTR;
  q |= rwxToProt(rwx);
  if (during !== 'none') q |= EPT_QUAL.GVA_IS_VALID;
  if (during === 'final') q |= EPT_QUAL.GVA_TRANSLATED;
  return q;
}

/**
 * KVM 7.3's qualification for L1 (kvm-7x.md §1.2, from the 7.3 walker comment [T]): [2:0] from the
 * access — a read is an access with neither W nor F (§1.3 point 1), PFERR_USER now means "user-mode
 * linear address" and sets no access bit; [6:3] from the EPT12 walk's accumulated 7.3 ACC
 * (READ → bit 3, WRITE → 4, EXEC/XS → 5, USER_EXEC/XU → 6); [8:7] from the stage. ASSUMPTION
 * (INFERRED in §1.2): KVM sets bit 6 only with MBEC — the [ept-mbec] run compares it (§6.1); with
 * MBEC off the SDM leaves it undefined and it is 0 here.
 */
export function eptViolationQualification73(pfec: number, acc73: number, during: NestedDuring, mbec: boolean): number {
  checkInt('pfec', pfec, { max: 0xffff_ffff });
  checkInt('acc73', acc73, { max: 15 });
  checkEnum('during', during, NESTED_DURING);
  checkBool('mbec', mbec);
  let q = 0;
  if (pfec & 2) q |= EPT_QUAL.ACC_WRITE;
  else if (pfec & 16) q |= EPT_QUAL.ACC_INSTR;
  else q |= EPT_QUAL.ACC_READ;
  // A guest paging-structure access is a read, or read+write when it writes A/D (the 7.3 walker
  // comment, kvm-7x.md §1.2; kvm-unit-tests x86/vmx_tests.c:3274 expects RD|WR for it).
  if (during === 'paging-structure' && pfec & 2) q |= EPT_QUAL.ACC_READ;
  if (acc73 & 1) q |= EPT_QUAL.PROT_READ;
  if (acc73 & 2) q |= EPT_QUAL.PROT_WRITE;
  if (acc73 & 8) q |= EPT_QUAL.PROT_EXEC;
  if (mbec && acc73 & 4) q |= EPT_QUAL.PROT_USER_EXEC;
  if (during !== 'none') q |= EPT_QUAL.GVA_IS_VALID;
  if (during === 'final') q |= EPT_QUAL.GVA_TRANSLATED;
  return q;
}

/** Decode a qualification with KVM's names, e.g. "READ|WRITE|PROT_READ|GVA_IS_VALID". */
export function decodeEptQualification(q: number): string {
  checkInt('q', q);
  const names: [number, string][] = [
    [EPT_QUAL.ACC_READ, 'READ'],
    [EPT_QUAL.ACC_WRITE, 'WRITE'],
    [EPT_QUAL.ACC_INSTR, 'INSTR'],
    [EPT_QUAL.PROT_READ, 'PROT_READ'],
    [EPT_QUAL.PROT_WRITE, 'PROT_WRITE'],
    [EPT_QUAL.PROT_EXEC, 'PROT_EXEC'],
    [EPT_QUAL.EXEC_FOR_RING3_LIN, 'EXEC_FOR_RING3_LIN'],
    [EPT_QUAL.GVA_IS_VALID, 'GVA_IS_VALID'],
    [EPT_QUAL.GVA_TRANSLATED, 'GVA_TRANSLATED'],
    [EPT_QUAL.GVA_USER, 'GVA_USER'],
    [EPT_QUAL.GVA_WRITABLE, 'GVA_RW'],
    [EPT_QUAL.GVA_NX, 'GVA_NX'],
  ];
  const out = names.filter(([b]) => (q & b) !== 0).map(([, n]) => n);
  const rest = q & ~0xfff;
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out.length === 0 ? '0' : out.join('|');
}
