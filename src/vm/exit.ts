/**
 * What the hardware reports when the TDP walk fails: an EPT violation (48) with its exit
 * qualification, an EPT misconfiguration (49), or an SVM NPF (0x400) with EXITINFO1 — and how
 * KVM turns each into the error code of `kvm_mmu_page_fault` (reference §6.3–§6.6).
 */
export const EXIT_REASON = Object.freeze({ EPT_VIOLATION: 48, EPT_MISCONFIG: 49, PML_FULL: 62, SVM_NPF: 0x400 });

export const EPT_VIOLATION = Object.freeze({
  ACC_READ: 1n << 0n,
  ACC_WRITE: 1n << 1n,
  ACC_INSTR: 1n << 2n,
  PROT_READ: 1n << 3n,
  PROT_WRITE: 1n << 4n,
  PROT_EXEC: 1n << 5n,
  GVA_IS_VALID: 1n << 7n,
  GVA_TRANSLATED: 1n << 8n,
});

export const PFERR_GUEST_FINAL = 1n << 32n;
export const PFERR_GUEST_PAGE = 1n << 33n;

export interface TdpExit {
  /** pf_intercept: a #PF in KVM's shadow tables (shadow paging); `gpa` then holds CR2, the GVA. */
  kind: 'ept_violation' | 'ept_misconfig' | 'npf' | 'pf_intercept';
  reason: number;
  /** The faulting GPA (KVM's `cr2_or_gpa`: the GVA for a #PF intercept). */
  gpa: bigint;
  /** Whether the access was to a guest paging structure (else the final translation). */
  onGuestTable: boolean;
  /** EPT violation: the exit qualification; NPF: EXITINFO1; misconfig: 0. */
  info: bigint;
  /** What KVM passes to kvm_mmu_page_fault as the error code. */
  errorCode: bigint;
}

/** `__vmx_handle_ept_violation`: read→U, write→W, fetch→F, any PROT bit→P. */
export function eptViolationErrorCode(qual: bigint): bigint {
  let ec = 0n;
  if (qual & EPT_VIOLATION.ACC_READ) ec |= 4n;
  if (qual & EPT_VIOLATION.ACC_WRITE) ec |= 2n;
  if (qual & EPT_VIOLATION.ACC_INSTR) ec |= 16n;
  if (qual & (EPT_VIOLATION.PROT_READ | EPT_VIOLATION.PROT_WRITE | EPT_VIOLATION.PROT_EXEC)) ec |= 1n;
  // v6.16 means to add PFERR_GUEST_FINAL/PAGE here from bits 7/8 of the qualification, but tests
  // bit 7 of the error code instead, which is never set: the flags never reach the handler for EPT
  // (reference §6.5). We model v6.16 as it is.
  return ec;
}

export function decodeExitQualification(q: bigint): string {
  const parts: string[] = [];
  if (q & EPT_VIOLATION.ACC_READ) parts.push('read');
  if (q & EPT_VIOLATION.ACC_WRITE) parts.push('write');
  if (q & EPT_VIOLATION.ACC_INSTR) parts.push('fetch');
  const prot = [q & EPT_VIOLATION.PROT_READ ? 'R' : '-', q & EPT_VIOLATION.PROT_WRITE ? 'W' : '-', q & EPT_VIOLATION.PROT_EXEC ? 'X' : '-'].join('');
  parts.push(`prot ${prot}`);
  if (q & EPT_VIOLATION.GVA_IS_VALID) parts.push(q & EPT_VIOLATION.GVA_TRANSLATED ? 'final translation' : 'guest paging-structure access');
  return parts.join(', ');
}
