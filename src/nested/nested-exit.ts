/**
 * The exit a failed ngpa walk makes to L1 (reference §6.8): `nested_ept_inject_page_fault` turns
 * an RSVD error into an EPT misconfiguration (qualification 0) and anything else into an EPT
 * violation with the walker's qualification; `nested_svm_inject_npf_exit` makes an NPF whose
 * EXITINFO1 low half is the walker's error code. The exit carries the faulting nGPA as KVM has it:
 * page-aligned for L2 table and final-page translations (KVM translates `gfn_to_gpa(gfn)`).
 *
 * KVM's own high EXITINFO1 bits differ in one case: when the exit L0 is handling is not itself an
 * NPF, `nested_svm_inject_npf_exit` synthesizes bit 32 whatever the cause (a TODO in KVM). This
 * model reports the cause as the hardware would, from the context the caller knows.
 */
import type { Gva, Ngpa } from '../address/address';
import { checkNestedExit, checkNestedExitInputs } from './check-nested-args';
import { PFERR } from '../format/acc';
import { decodeEptQualification, eptViolationQualification, eptViolationQualification73, EPT_QUAL_GUEST_MASK, VMX_EXIT_REASON } from './exit-qualification';
import { decodeNpfErrorCode, npfErrorCode, SVM_EXIT_NPF } from './npf-error-code';
import type { NestedDuring } from './nested-during';

export interface EptViolationExit {
  kind: 'ept-violation';
  exitReason: 48;
  qualification: number;
  qualificationText: string;
  /** vmcs12 guest-physical-address field: the nGPA. */
  guestPhysicalAddress: Ngpa;
  /** vmcs12 guest-linear-address field, valid when qualification bit 7 is set. */
  guestLinearAddress?: Gva;
}

export interface EptMisconfigExit {
  kind: 'ept-misconfig';
  exitReason: 49;
  /** KVM injects EPT misconfigurations with qualification 0. */
  qualification: 0;
  guestPhysicalAddress: Ngpa;
}

export interface NpfExit {
  kind: 'npf';
  exitCode: 0x400;
  /** Error code (bits 31:0) | NPF_GUEST_FINAL (bit 32) | NPF_GUEST_PAGE (bit 33). */
  exitInfo1: number;
  exitInfo1Text: string;
  /** The faulting nGPA. */
  exitInfo2: Ngpa;
}

export type NestedExit = EptViolationExit | EptMisconfigExit | NpfExit;

export interface NestedExitInputs {
  tdp: 'ept' | 'npt';
  /** The ngpa walker's error code (RSVD marks a misconfiguration / reserved-bit NPF). */
  errorCode: number;
  /** The access the walker checked (PFERR bits). */
  pfec: number;
  /** EPT: AND of the raw RWX bits seen, per KVM's `pte_access` at the error label. */
  rwx: number;
  /**
   * KVM 7.3: the walk's accumulated 7.3 ACC at the error label and whether EPT12 has MBEC; the
   * qualification is then 7.3's (`eptViolationQualification73`: reads keyed !W&&!F, bit 6 = XU).
   */
  v73?: { acc: number; mbec: boolean; guestLinear?: number };
  address: Ngpa;
  during: NestedDuring;
  gva?: Gva;
}

export function nestedExit(i: NestedExitInputs): NestedExit {
  checkNestedExitInputs('i', i);
  if (i.tdp === 'npt') {
    const info1 = npfErrorCode(i.errorCode, i.during);
    return { kind: 'npf', exitCode: SVM_EXIT_NPF, exitInfo1: info1, exitInfo1Text: decodeNpfErrorCode(info1), exitInfo2: i.address };
  }
  if ((i.errorCode & PFERR.RSVD) !== 0) {
    return { kind: 'ept-misconfig', exitReason: VMX_EXIT_REASON.EPT_MISCONFIG, qualification: 0, guestPhysicalAddress: i.address };
  }
  let q = i.v73 === undefined ? eptViolationQualification(i.pfec, i.rwx, i.during) : eptViolationQualification73(i.pfec, i.v73.acc, i.during, i.v73.mbec);
  // 7.3: [11:9] from the real exit (a0efd8cb221f), meaningful with bits 7 and 8 set (final).
  if (i.v73 !== undefined && i.during === 'final') q |= (i.v73.guestLinear ?? 0) & EPT_QUAL_GUEST_MASK;
  const e: EptViolationExit = {
    kind: 'ept-violation',
    exitReason: VMX_EXIT_REASON.EPT_VIOLATION,
    qualification: q,
    qualificationText: decodeEptQualification(q),
    guestPhysicalAddress: i.address,
  };
  if (i.during !== 'none' && i.gva !== undefined) e.guestLinearAddress = i.gva;
  return e;
}

/** One line for views and messages. */
export function describeNestedExit(e: NestedExit): string {
  checkNestedExit('e', e);
  switch (e.kind) {
    case 'ept-violation':
      return `EPT violation (exit 48) at nGPA 0x${(e.guestPhysicalAddress as bigint).toString(16)}, qualification 0x${e.qualification.toString(16)} (${e.qualificationText})`;
    case 'ept-misconfig':
      return `EPT misconfiguration (exit 49) at nGPA 0x${(e.guestPhysicalAddress as bigint).toString(16)}`;
    default:
      return `NPF (exit 0x400) at nGPA 0x${(e.exitInfo2 as bigint).toString(16)}, EXITINFO1 0x${e.exitInfo1.toString(16)} (${e.exitInfo1Text})`;
  }
}
