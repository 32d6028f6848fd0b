/**
 * What L1 intercepts of an L2 it runs without nested TDP (vmcs12 without EPT: L1 shadows L2's page
 * tables itself, so it wants L2's page faults, CR3 loads and INVLPGs), and the VM exits KVM
 * reflects to L1 for them (VMX; `vmx/nested.c`, v6.16.1):
 * - #PF: `nested_vmx_is_page_fault_vmexit` (nested.c:494-504) — exception-bitmap bit 14 XOR
 *   `(error_code & PFEC_MASK) != PFEC_MATCH`, on the low 16 bits of the error code (nested.c:518);
 *   the exit (`nested_vmx_inject_exception_vmexit`, nested.c:3969-4010) is EXCEPTION_NMI with the
 *   faulting address (the #PF payload) as qualification and the u16 error code.
 * - MOV to CR3: `nested_vmx_exit_handled_cr` (nested.c:6254-6256) with CPU_BASED_CR3_LOAD_EXITING;
 *   exit reason CR_ACCESS, qualification CR number | access type 0 (MOV to CR) << 4 | GPR << 8.
 *   Every load exits: KVM offers L1 no CR3-target values, so CR3_TARGET_COUNT is 0
 *   (l2-cr-intercept.ts, vmx/nested.c:2867, 7168).
 * - INVLPG: `nested_vmx_l1_wants_exit` (nested.c:6477-6478) with CPU_BASED_INVLPG_EXITING; the
 *   qualification is the linear address.
 */
import type { Gva } from '../address/address';
import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { checkBigint, checkInt } from '../validate/checks';

/** L1's vmcs12 controls for these intercepts. All default to off / 0. */
export interface L1Intercepts {
  /** Exception bitmap bit 14 (PF_VECTOR). */
  pf?: boolean;
  /** vmcs12 `page_fault_error_code_mask` (PFEC_MASK), 32 bits. */
  pfecMask?: number;
  /** vmcs12 `page_fault_error_code_match` (PFEC_MATCH), 32 bits. */
  pfecMatch?: number;
  /** CPU_BASED_CR3_LOAD_EXITING. */
  cr3Load?: boolean;
  /** CPU_BASED_INVLPG_EXITING. */
  invlpg?: boolean;
}

/** VMX basic exit reasons used here (SDM Vol. 3C Appendix C; `uapi/asm/vmx.h`). */
export const EXIT_REASON = Object.freeze({ EXCEPTION_NMI: 0, INVLPG: 14, CR_ACCESS: 28 } as const);

/** `INTR_INFO_VALID_MASK | INTR_INFO_DELIVER_CODE_MASK | INTR_TYPE_HARD_EXCEPTION | PF_VECTOR`. */
export const PF_INTR_INFO = (0x8000_0000 | 0x800 | (3 << 8) | 14) >>> 0;

export interface ExceptionExit {
  kind: 'exception';
  exitReason: 0;
  /** VM-exit interruption information. */
  intrInfo: number;
  /** VM-exit interruption error code (bits 15:0 of the #PF error code). */
  errorCode: number;
  /** The faulting linear address (CR2). */
  qualification: Gva;
}

export interface CrAccessExit {
  kind: 'cr-access';
  exitReason: 28;
  qualification: number;
}

export interface InvlpgExit {
  kind: 'invlpg';
  exitReason: 14;
  qualification: Gva;
}

export type L1InterceptExit = ExceptionExit | CrAccessExit | InvlpgExit;

/** Check and freeze L1's intercept controls (a typed error names the field and the rule). */
export function checkL1Intercepts(i: L1Intercepts = {}): Readonly<Required<L1Intercepts>> {
  if (typeof i !== 'object' || i === null || Array.isArray(i)) throw new InvalidArgumentError('l1-intercepts', 'intercepts must be an object of vmcs12 controls', describeValue(i));
  for (const k of ['pf', 'cr3Load', 'invlpg'] as const) {
    if (i[k] !== undefined && typeof i[k] !== 'boolean') throw new InvalidArgumentError(`l1-intercept-${k}`, `intercepts.${k} is a boolean`, describeValue(i[k]));
  }
  for (const k of ['pfecMask', 'pfecMatch'] as const) {
    const v = i[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)) throw new InvalidArgumentError(`l1-intercept-${k}`, `intercepts.${k} is a 32-bit VMCS field`, describeValue(v));
  }
  return Object.freeze({ pf: i.pf ?? false, pfecMask: i.pfecMask ?? 0, pfecMatch: i.pfecMatch ?? 0, cr3Load: i.cr3Load ?? false, invlpg: i.invlpg ?? false });
}

/** `nested_vmx_is_page_fault_vmexit` on the u16 error code (vmx/nested.c:494-504, 518). */
export function isPageFaultVmexit(i: Readonly<Required<L1Intercepts>>, errorCode: number): boolean {
  checkL1Intercepts(i);
  checkInt('errorCode', errorCode, { max: 0xffff_ffff });
  const ec = errorCode & 0xffff;
  const inequality = ((ec & i.pfecMask) >>> 0) !== i.pfecMatch >>> 0;
  return inequality !== i.pf;
}

export function pageFaultExit(address: Gva, errorCode: number): ExceptionExit {
  checkBigint('address', address);
  checkInt('errorCode', errorCode, { max: 0xffff_ffff });
  return { kind: 'exception', exitReason: EXIT_REASON.EXCEPTION_NMI, intrInfo: PF_INTR_INFO, errorCode: errorCode & 0xffff, qualification: address };
}

/** MOV to CR3 from general-purpose register `gpr` (0 = RAX … 15 = R15). */
export function cr3LoadExit(gpr: number): CrAccessExit {
  if (!Number.isInteger(gpr) || gpr < 0 || gpr > 15) throw new InvalidArgumentError('mov-cr3-gpr', 'gpr: the source register is a GPR number 0..15', describeValue(gpr));
  return { kind: 'cr-access', exitReason: EXIT_REASON.CR_ACCESS, qualification: 3 | (0 << 4) | (gpr << 8) };
}

export function invlpgExit(address: Gva): InvlpgExit {
  checkBigint('address', address);
  return { kind: 'invlpg', exitReason: EXIT_REASON.INVLPG, qualification: address };
}
