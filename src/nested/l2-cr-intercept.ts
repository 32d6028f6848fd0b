/**
 * L1's intercepts of L2's MOV to CR0/CR3/CR4 while L2 runs with nested TDP (vmcs12 with EPT,
 * vmcb12 with NPT), and the VM exit L1 gets for one (v6.16.1). L1 shadowing L2 (no nested TDP) is
 * l1-intercept.ts; its exit shape for VMX (`CrAccessExit`) is reused here.
 *
 * VMX: the hardware exits to L0 (vmcs02 has vmcs12's CR3-load exiting, vmx/nested.c:2383, and
 * vmcs12's CR0/CR4 guest/host masks, :2681, :2716-2719), and `nested_vmx_reflect_vmexit`
 * (:6573) → `nested_vmx_l1_wants_exit` (:6503-6504) → `nested_vmx_exit_handled_cr`
 * (:6236-6304) decides on vmcs12 alone, for MOV to CR (access type 0):
 * - CR0: exits when `cr0_guest_host_mask & (val ^ cr0_read_shadow)` (:6249-6252) — against the
 *   read shadow, not L2's current CR0;
 * - CR3: exits when CPU_BASED_CR3_LOAD_EXITING is set (:6255-6256), whatever the value: KVM
 *   offers L1 no CR3-target values (IA32_VMX_MISC[24:16] = 0: nested_vmx_setup_misc_data keeps
 *   only VMX_MISC_SAVE_EFER_LMA of the host's, :7168-7173; userspace cannot raise it, :1392), so a
 *   vmcs12 with CR3_TARGET_COUNT > 0 fails the VM entry (:2867) and the SDM's target match
 *   (Vol. 3C §26.1.3, MOV to CR3) never applies under KVM;
 * - CR4: exits when `cr4_guest_host_mask & (cr4_read_shadow ^ val)` (:6258-6261).
 * The exit is CR_ACCESS with qualification CR | 0 << 4 | GPR << 8 (SDM Vol. 3C Table 28-3).
 * Not modelled: CLTS (:6269-6273) and LMSW (:6288-6301), which the vCPU does not execute, MOV
 * from CR3/CR8 and CR8 loads, and WRMSR EFER (the MSR bitmap).
 *
 * SVM: vmcb02 intercepts the union of L0's and vmcb12's (`recalc_intercepts`, svm/nested.c:126),
 * and `nested_svm_exit_handled` (:1385) → `nested_svm_intercept` (:1341-1383) reflects
 * SVM_EXIT_WRITE_CRn when vmcb12 intercepts it (:1353-1356) and SVM_EXIT_CR0_SEL_WRITE when vmcb12
 * has INTERCEPT_SELECTIVE_CR0 (the default case, :1376-1378). The hardware gives WRITE_CR0
 * priority over the selective intercept (APM Vol. 2 §15.9.1); when only L0 has the full CR0 write
 * intercept, `cr_interception` asks `check_selective_cr0_intercepted` (svm.c:2661-2680, 2711),
 * which reflects SVM_EXIT_CR0_SEL_WRITE when a bit other than TS and MP
 * (SVM_CR0_SELECTIVE_MASK, asm/svm.h:646) changes from L2's CR0: the same result. EXITINFO1
 * carries the decode-assist information, CR_VALID (bit 63) | GPR (svm.c:2683, 2695-2698; APM
 * Vol. 2 §15.8.1).
 *
 * Priority: only #UD and privilege-based faults come before these VM exits (SDM Vol. 3C §26.1.1;
 * APM Vol. 2 §15.7), so a write L1 intercepts exits even when its value would #GP.
 */
import type { PagingRegisters } from '../cpu/registers';
import { CR0 } from '../cpu/registers';
import { InvalidArgumentError, InvalidRegisterStateError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { checkArray, checkBigint, checkBool, checkObject, refuse } from '../validate/checks';
import { checkRegisterTypes } from '../cpu/check-registers';
import { EXIT_REASON, type CrAccessExit, type L1Intercepts } from './l1-intercept';

/** vmcs12's controls for L2's MOV to CR0/CR3/CR4 under nested EPT. All default to off / 0. */
export interface VmxCrIntercepts extends Pick<L1Intercepts, 'cr3Load'> {
  /** vmcs12 CR3-target values 0..CR3_TARGET_COUNT-1: KVM accepts only none (see above). */
  cr3Targets?: readonly bigint[];
  /** vmcs12 CR0_GUEST_HOST_MASK (natural width). */
  cr0GuestHostMask?: bigint;
  /** vmcs12 CR0_READ_SHADOW. */
  cr0ReadShadow?: bigint;
  /** vmcs12 CR4_GUEST_HOST_MASK. */
  cr4GuestHostMask?: bigint;
  /** vmcs12 CR4_READ_SHADOW. */
  cr4ReadShadow?: bigint;
}

/** vmcb12's CR write intercepts (INTERCEPT_CR0_WRITE, _CR3_WRITE, _CR4_WRITE, INTERCEPT_SELECTIVE_CR0). All default to off. */
export interface SvmCrIntercepts {
  cr0Write?: boolean;
  cr3Write?: boolean;
  cr4Write?: boolean;
  selectiveCr0?: boolean;
}

/** SVM exit codes of CR writes (uapi/asm/svm.h:10-13, 38). */
export const SVM_EXIT_CR = Object.freeze({ WRITE_CR0: 0x010, WRITE_CR3: 0x013, WRITE_CR4: 0x014, CR0_SEL_WRITE: 0x065 } as const);
/** EXITINFO1 bit 63: the decode-assist information is valid (svm.c:2683). */
export const SVM_CR_VALID = 1n << 63n;

export interface SvmCrWriteExit {
  kind: 'svm-cr-write';
  exitCode: 0x010 | 0x013 | 0x014 | 0x065;
  /** CR_VALID | GPR number (decode assists). */
  exitInfo1: bigint;
}

/** The exit L1 gets for an L2 CR write it intercepts under nested EPT / NPT. */
export type L2CrExit = CrAccessExit | SvmCrWriteExit;

const VMX_KEYS = ['cr3Load', 'cr3Targets', 'cr0GuestHostMask', 'cr0ReadShadow', 'cr4GuestHostMask', 'cr4ReadShadow'] as const;
const SVM_KEYS = ['cr0Write', 'cr3Write', 'cr4Write', 'selectiveCr0'] as const;
const U64 = (1n << 64n) - 1n;

/** Checked, frozen controls; `undefined` when nothing is intercepted (the path then costs nothing). */
export type CheckedCrIntercepts = Readonly<{ flavour: 'vmx' } & Required<Omit<VmxCrIntercepts, 'cr3Targets'>>> | Readonly<{ flavour: 'svm' } & Required<SvmCrIntercepts>>;

function checkKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) refuse(`intercepts.${k}`, 'l2-cr-intercept-unknown', `is not one of ${what}'s CR write controls modelled under nested TDP (${keys.join(', ')})`, o[k]);
  }
}

/** vmcs12's controls (nested EPT entry): typed errors name the field; a CR3-target list is refused as KVM refuses the entry. */
export function checkVmxCrIntercepts(i: unknown): CheckedCrIntercepts | undefined {
  if (i === undefined) return undefined;
  const o = checkObject<Record<string, unknown>>('intercepts', i);
  checkKeys(o, VMX_KEYS, 'vmcs12');
  if (o.cr3Load !== undefined) checkBool('intercepts.cr3Load', o.cr3Load);
  for (const k of ['cr0GuestHostMask', 'cr0ReadShadow', 'cr4GuestHostMask', 'cr4ReadShadow'] as const) {
    if (o[k] !== undefined) checkBigint(`intercepts.${k}`, o[k], { max: U64 });
  }
  if (o.cr3Targets !== undefined) {
    const t = checkArray('intercepts.cr3Targets', o.cr3Targets);
    t.forEach((v, n) => checkBigint(`intercepts.cr3Targets[${n}]`, v, { max: U64 }));
    if (t.length > 0) {
      throw new InvalidArgumentError('l2-cr3-target-count', `intercepts.cr3Targets: KVM offers L1 no CR3-target values (IA32_VMX_MISC[24:16] = 0, vmx/nested.c:7168), so a vmcs12 with CR3_TARGET_COUNT = ${t.length} fails the VM entry (vmx/nested.c:2867)`, describeValue(o.cr3Targets));
    }
  }
  const c = { flavour: 'vmx' as const, cr3Load: (o.cr3Load as boolean | undefined) ?? false, cr0GuestHostMask: (o.cr0GuestHostMask as bigint | undefined) ?? 0n, cr0ReadShadow: (o.cr0ReadShadow as bigint | undefined) ?? 0n, cr4GuestHostMask: (o.cr4GuestHostMask as bigint | undefined) ?? 0n, cr4ReadShadow: (o.cr4ReadShadow as bigint | undefined) ?? 0n };
  return c.cr3Load || c.cr0GuestHostMask !== 0n || c.cr4GuestHostMask !== 0n ? Object.freeze(c) : undefined;
}

/** vmcb12's CR write intercepts (nested NPT entry). */
export function checkSvmCrIntercepts(i: unknown): CheckedCrIntercepts | undefined {
  if (i === undefined) return undefined;
  const o = checkObject<Record<string, unknown>>('intercepts', i);
  checkKeys(o, SVM_KEYS, 'vmcb12');
  for (const k of SVM_KEYS) if (o[k] !== undefined) checkBool(`intercepts.${k}`, o[k]);
  const c = { flavour: 'svm' as const, cr0Write: o.cr0Write === true, cr3Write: o.cr3Write === true, cr4Write: o.cr4Write === true, selectiveCr0: o.selectiveCr0 === true };
  return c.cr0Write || c.cr3Write || c.cr4Write || c.selectiveCr0 ? Object.freeze(c) : undefined;
}

function crAccess(cr: 0 | 3 | 4, gpr: number): CrAccessExit {
  return { kind: 'cr-access', exitReason: EXIT_REASON.CR_ACCESS, qualification: cr | (0 << 4) | (gpr << 8) };
}

function svmExit(exitCode: SvmCrWriteExit['exitCode'], gpr: number): SvmCrWriteExit {
  return { kind: 'svm-cr-write', exitCode, exitInfo1: SVM_CR_VALID | BigInt(gpr) };
}

/** The exit of one MOV to CRn (from RAX) L2 executes, or undefined when L1 does not intercept it. */
function exitOf(c: CheckedCrIntercepts, cr: 0 | 3 | 4, oldValue: bigint, value: bigint): L2CrExit | undefined {
  if (c.flavour === 'vmx') {
    if (cr === 0) return (c.cr0GuestHostMask & (value ^ c.cr0ReadShadow)) !== 0n ? crAccess(0, 0) : undefined;
    if (cr === 3) return c.cr3Load ? crAccess(3, 0) : undefined;
    return (c.cr4GuestHostMask & (c.cr4ReadShadow ^ value)) !== 0n ? crAccess(4, 0) : undefined;
  }
  if (cr === 0) {
    if (c.cr0Write) return svmExit(SVM_EXIT_CR.WRITE_CR0, 0);
    const sel = ~(CR0.TS | CR0.MP);
    return c.selectiveCr0 && ((oldValue ^ value) & sel) !== 0n ? svmExit(SVM_EXIT_CR.CR0_SEL_WRITE, 0) : undefined;
  }
  if (cr === 3) return c.cr3Write ? svmExit(SVM_EXIT_CR.WRITE_CR3, 0) : undefined;
  return c.cr4Write ? svmExit(SVM_EXIT_CR.WRITE_CR4, 0) : undefined;
}

/**
 * The exit to L1 of an L2 register write (`Vcpu.setRegisters` while L2 runs on guest_mmu), each
 * named CR taken as a MOV from RAX; undefined when L1 intercepts none of them. An update naming
 * several control registers of which one exits is refused (InvalidRegisterStateError
 * 'l2-cr-intercept-several'): they are several MOVs, and which ones completed before the exit
 * depends on their order, which an update does not give. `c` is what checkVmxCrIntercepts /
 * checkSvmCrIntercepts returned.
 */
export function l2CrWriteExit(c: CheckedCrIntercepts, old: Readonly<PagingRegisters>, update: Partial<PagingRegisters>): L2CrExit | undefined {
  const o = checkObject<Record<string, unknown>>('intercepts', c);
  const { flavour, ...rest } = o;
  const again = flavour === 'vmx' ? checkVmxCrIntercepts(rest) : flavour === 'svm' ? checkSvmCrIntercepts(rest) : refuse('intercepts.flavour', 'l2-cr-intercept-flavour', "is 'vmx' or 'svm' (a checkVmxCrIntercepts / checkSvmCrIntercepts result)", flavour);
  if (again === undefined) refuse('intercepts', 'l2-cr-intercepts-none', 'intercept nothing: checkVmxCrIntercepts / checkSvmCrIntercepts give undefined for that', c);
  checkRegisterTypes('old', old);
  checkRegisterTypes('update', update, true);
  return l2CrWriteExitUnchecked(c, old, update);
}

/** `l2CrWriteExit` without the checks, for the vCPU, which validated both at its edge. */
export function l2CrWriteExitUnchecked(c: CheckedCrIntercepts, old: Readonly<PagingRegisters>, update: Partial<PagingRegisters>): L2CrExit | undefined {
  let exit: L2CrExit | undefined;
  let named = 0;
  for (const cr of [0, 3, 4] as const) {
    const key = cr === 0 ? 'cr0' : cr === 3 ? 'cr3' : 'cr4';
    const v = update[key];
    if (v === undefined) continue;
    named++;
    exit ??= exitOf(c, cr, old[key], v);
  }
  if (exit !== undefined && named > 1) {
    throw new InvalidRegisterStateError('l2-cr-intercept-several', 'L1 intercepts one of these L2 CR writes: write one control register per update (one MOV each)', Object.keys(update).join(', '));
  }
  return exit;
}
