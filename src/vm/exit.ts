/**
 * What the hardware reports when the TDP walk fails: an EPT violation (48) with its exit
 * qualification, an EPT misconfiguration (49), or an SVM NPF (0x400) with EXITINFO1 — and how
 * KVM turns each into the error code of `kvm_mmu_page_fault` (reference §6.3–§6.6).
 */
import { EPT_QUAL, EPT_QUAL_GUEST_MASK, VMX_EXIT_REASON, rwxToProt } from '../nested/exit-qualification';
import { NPF_GUEST_FINAL, NPF_GUEST_PAGE, SVM_EXIT_NPF } from '../nested/npf-error-code';
import { PFERR } from '../format/acc';
import { checkKvmVersion, type KvmVersion } from '../kvm-version';
import { checkBigint, checkBool, checkInt, checkObject } from '../validate/checks';

/** An exit qualification (a natural-width VMCS field; the defined bits are below 13, SDM Vol. 3C Table 28-7). */
function checkQual(qual: unknown): void {
  checkInt('qual', qual, { max: 0xffff_ffff });
}

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
export function eptViolationErrorCode(qual: number): bigint {
  checkQual(qual);
  let ec = 0n;
  if (qual & EPT_QUAL.ACC_READ) ec |= 4n;
  if (qual & EPT_QUAL.ACC_WRITE) ec |= 2n;
  if (qual & EPT_QUAL.ACC_INSTR) ec |= 16n;
  if (qual & (EPT_QUAL.PROT_READ | EPT_QUAL.PROT_WRITE | EPT_QUAL.PROT_EXEC)) ec |= 1n;
  // v6.16 means to add PFERR_GUEST_FINAL/PAGE here from bits 7/8 of the qualification, but tests
  // bit 7 of the error code instead, which is never set: the flags never reach the handler for EPT
  // (reference §6.5). We model v6.16 as it is.
  return ec;
}

/** Qualification bit 9 (advanced VM-exit information): the linear address is user-mode (kvm-7x.md §1.2). */
export const EPT_QUAL_GVA_USER = EPT_QUAL.GVA_USER;

/**
 * 7.3 `__vmx_handle_ept_violation` (kvm-7x.md §1.3, from the 7.3 rewrite [T]): write → W, fetch →
 * F, a read sets nothing (PFERR_USER now means "user-mode linear address", 9c167cb3c14c); R, W or
 * XS in the PROT bits → P, and with MBEC (`mmu_has_mbec` = root_role.cr4_smep) XU too; the stage
 * comes from the *qualification* bits 7/8 (v6.16 tested the error code, which never had them):
 * GVA_TRANSLATED → PFERR_GUEST_FINAL (+ PFERR_USER from bit 9), else PFERR_GUEST_PAGE.
 */
export function eptViolationErrorCode73(qual: number, mbec: boolean): bigint {
  checkQual(qual);
  checkBool('mbec', mbec);
  let ec = 0n;
  if (qual & EPT_QUAL.ACC_WRITE) ec |= 2n;
  if (qual & EPT_QUAL.ACC_INSTR) ec |= 16n;
  if (qual & (EPT_QUAL.PROT_READ | EPT_QUAL.PROT_WRITE | EPT_QUAL.PROT_EXEC)) ec |= 1n;
  if (mbec && qual & EPT_QUAL.PROT_USER_EXEC) ec |= 1n;
  if (qual & EPT_QUAL.GVA_IS_VALID) {
    if (qual & EPT_QUAL.GVA_TRANSLATED) {
      ec |= BigInt(NPF_GUEST_FINAL);
      if (qual & EPT_QUAL_GVA_USER) ec |= 4n;
    } else ec |= BigInt(NPF_GUEST_PAGE);
  }
  return ec;
}

/** The 7.3 qualification inputs of an EPT exit (`Ept73Exit`), checked as one argument. */
function checkEpt73Exit(v73: Ept73Exit): void {
  checkObject('v73', v73);
  checkBool('v73.mbec', v73.mbec);
  checkBool('v73.xu', v73.xu);
  checkInt('v73.guestLinear', v73.guestLinear, { max: EPT_QUAL_GUEST_MASK });
}

/**
 * The exit the CPU takes when its EPT walk fails (for L1 under TDP, or for L2 on EPT02): a
 * misconfiguration on a reserved bit, else a violation whose qualification holds the access bits
 * the CPU reports (write, else fetch, else read), the AND of R/W/X over the entries used (0
 * once an entry is not present) and bits 7/8 (a guest-linear access; final translation or not).
 * A write to a guest paging structure (EPT A/D on, or the A/D update with A/D off) sets both the
 * read and the write bit (SDM Vol. 3C, EPT-violation exit qualification, bits 0/1 and footnote;
 * kvm-unit-tests x86/vmx_tests.c:3274, :3293, :3322), so KVM sees PFERR_USER|PFERR_WRITE
 * (`vmx/common.h: __vmx_handle_ept_violation`, common.h:91-94) — as its own walker models it
 * (`paging_tmpl.h:347`: nested_access = (have_ad ? PFERR_WRITE_MASK : 0) | PFERR_USER_MASK).
 */
export function hardwareEptExit(gpa: bigint, access: number, rwx: number, final: boolean, misconfig: boolean, v73?: Ept73Exit): TdpExit {
  // The guest-physical address is a 64-bit VMCS field below 2^52 (MAXPHYADDR); the access a PFERR
  // mask (32 bits); rwx the R/W/X AND, bits 2:0 (EPT_VIOLATION_RWX_MASK).
  checkBigint('gpa', gpa, { max: (1n << 52n) - 1n });
  checkInt('access', access, { max: 0xffff_ffff });
  checkInt('rwx', rwx, { max: 7 });
  checkBool('final', final);
  checkBool('misconfig', misconfig);
  if (v73 !== undefined) checkEpt73Exit(v73);
  if (misconfig) {
    return { kind: 'ept_misconfig', reason: VMX_EXIT_REASON.EPT_MISCONFIG, gpa, onGuestTable: !final, info: 0n, errorCode: BigInt(PFERR.RSVD) };
  }
  let q = access & PFERR.WRITE ? EPT_QUAL.ACC_WRITE : access & PFERR.FETCH ? EPT_QUAL.ACC_INSTR : EPT_QUAL.ACC_READ;
  if (!final && (access & PFERR.WRITE) !== 0) q |= EPT_QUAL.ACC_READ;
  q |= rwxToProt(rwx) | EPT_QUAL.GVA_IS_VALID | (final ? EPT_QUAL.GVA_TRANSLATED : 0);
  if (v73 !== undefined) {
    // Bit 6 is the AND of XU only with MBEC (SDM, kvm-7x.md §1.2); bits 11:9 (advanced VM-exit
    // information: user-mode / writable / execute-disable linear address) are valid only with bits
    // 7 and 8 set, i.e. for the final translation.
    if (v73.mbec && v73.xu) q |= EPT_QUAL.PROT_USER_EXEC;
    if (final) q |= v73.guestLinear & EPT_QUAL_GUEST_MASK;
    return { kind: 'ept_violation', reason: VMX_EXIT_REASON.EPT_VIOLATION, gpa, onGuestTable: !final, info: BigInt(q), errorCode: eptViolationErrorCode73(q, v73.mbec) };
  }
  return { kind: 'ept_violation', reason: VMX_EXIT_REASON.EPT_VIOLATION, gpa, onGuestTable: !final, info: BigInt(q), errorCode: eptViolationErrorCode(q) };
}

/**
 * The exit the CPU takes when its EPT walk fails for the PDPTE load of a MOV to CR3 with PAE
 * paging (SDM Vol. 3C §28.2.3, footnote: the MOV to CR3 loads the PDPTEs from memory using the
 * guest-physical address being loaded into CR3, so it can cause an EPT violation or
 * misconfiguration). The load is a read, never a write (§28.2.3.2: "Those loads of guest PDPTEs are
 * treated as reads"), and it has no guest linear address: qualification bit 7 is clear (Table
 * 28-7: the guest linear-address field is valid for all EPT violations except those from loading
 * the guest PDPTEs as part of MOV CR), so bit 8 and the advanced information (bits 11:9) are not
 * set either. The error code is KVM's from that qualification (`__vmx_handle_ept_violation`,
 * vmx/common.h:85-110: a read is PFERR_USER in v6.16; 7.3 adds neither GUEST_FINAL nor GUEST_PAGE
 * without bit 7). `onGuestTable`: the PDPT is a guest paging structure.
 */
export function hardwarePdpteLoadExit(gpa: bigint, rwx: number, misconfig: boolean, v73?: Ept73Exit): TdpExit {
  checkBigint('gpa', gpa, { max: (1n << 52n) - 1n });
  checkInt('rwx', rwx, { max: 7 });
  checkBool('misconfig', misconfig);
  if (v73 !== undefined) checkEpt73Exit(v73);
  if (misconfig) {
    return { kind: 'ept_misconfig', reason: VMX_EXIT_REASON.EPT_MISCONFIG, gpa, onGuestTable: true, info: 0n, errorCode: BigInt(PFERR.RSVD) };
  }
  let q = EPT_QUAL.ACC_READ | rwxToProt(rwx);
  if (v73 !== undefined) {
    if (v73.mbec && v73.xu) q |= EPT_QUAL.PROT_USER_EXEC;
    return { kind: 'ept_violation', reason: VMX_EXIT_REASON.EPT_VIOLATION, gpa, onGuestTable: true, info: BigInt(q), errorCode: eptViolationErrorCode73(q, v73.mbec) };
  }
  return { kind: 'ept_violation', reason: VMX_EXIT_REASON.EPT_VIOLATION, gpa, onGuestTable: true, info: BigInt(q), errorCode: eptViolationErrorCode(q) };
}

/**
 * What a KVM 7.3 EPT exit adds: MBEC in the EPT walked (`mmu_has_mbec`), the AND of XU, and the
 * advanced VM-exit information of the guest linear address (`guestLinearBits`: bits 11:9; with
 * guest paging off user-mode and read/write, not execute-disable: SDM Vol. 3C Table 28-7 bits 9-11,
 * "If CR0.PG = 0", see GvaWalker.stagedGuestRights).
 */
export interface Ept73Exit {
  mbec: boolean;
  xu: boolean;
  guestLinear: number;
}

/** `Ept73Exit` for a version: undefined for v6.16, whose KVM reads none of bits 6 and 9–11. */
export function ept73Exit(kvm: KvmVersion, mbec: boolean, xu: boolean, guestLinear: number): Ept73Exit | undefined {
  checkKvmVersion(kvm);
  checkBool('mbec', mbec);
  checkBool('xu', xu);
  // Qualification bits 11:9 (0xe00, SDM Vol. 3C Table 28-7).
  checkInt('guestLinear', guestLinear, { max: EPT_QUAL_GUEST_MASK });
  return kvm === '7.3' ? { mbec, xu, guestLinear } : undefined;
}

/** An NPF: EXITINFO1 = the walk's #PF-style error code plus GUEST_FINAL or GUEST_PAGE. */
export function hardwareNpfExit(gpa: bigint, errorCode: number, final: boolean, reserved: boolean): TdpExit {
  // EXITINFO2 the faulting GPA (below 2^52), EXITINFO1 bits 31:0 the error code (APM Vol. 2 15.25.6).
  checkBigint('gpa', gpa, { max: (1n << 52n) - 1n });
  checkInt('errorCode', errorCode, { max: 0xffff_ffff });
  checkBool('final', final);
  checkBool('reserved', reserved);
  let info = BigInt(errorCode) | BigInt(final ? NPF_GUEST_FINAL : NPF_GUEST_PAGE);
  if (reserved) info |= BigInt(PFERR.RSVD | PFERR.PRESENT);
  return { kind: 'npf', reason: SVM_EXIT_NPF, gpa, onGuestTable: !final, info, errorCode: info };
}
