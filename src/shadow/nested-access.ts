/**
 * What the two guest_mmu flavours (shadowing EPT12 and shadowing NPT12) share once the format-
 * specific work is done: the end of `kvm_mmu_page_fault` for an L2 fault — reflect it to L1 when
 * L1's own tables refuse, else count KVM's outcome — and the bookkeeping of one L2 access: the exit
 * record, and the result when the access exits to L1, is emulated, faults in L2 or completes.
 */
import { type Gpa, type Gva, type Hpa, gva as mkGva, hpa as mkHpa, ngpa as mkNgpa } from '../address/address';
import { hex } from '../errors';
import { PFERR } from '../format/acc';
import type { Counters, VcpuStatName } from '../events/stats';
import type { NestedDuring } from '../nested/nested-during';
import type { NestedExit } from '../nested/nested-exit';
import type { NgpaWalker } from '../nested/ngpa-walker';
import { RET_PF, RET_PF_NAMES, type RetPf } from '../tdp/ret-pf';
import { InvariantViolation } from '../tdp/tdp-mmu';
import type { Access } from '../walker/access';
import type { GvaWalker } from '../walker/gva-walker';
import { WalkStop } from '../walker/walk-scratch';
import type { AccessResult, ExitRecord } from '../vm/access-result';
import type { TdpExit } from '../vm/exit';
import type { ShadowContext } from './shadow-context';
import type { ShadowFaultResult } from './shadow-fault';
import type { ShadowMmu } from './shadow-mmu';
import type { ShadowVcpuVm } from './shadow-vcpu';
import { invalidateAddrInRootUnchecked } from './sync';

export interface NestedFaultOutcome {
  ret: RetPf;
  reflected?: NestedExit;
  mmio: boolean;
}

/**
 * After `FNAME(page_fault)` on guest_mmu: a failed walk of L1's tables is injected into L1
 * (`kvm_inject_emulated_page_fault` → `nested_ept_inject_page_fault` / `nested_svm_inject_npf_exit`,
 * invalidating the nGPA in the shadow first for a present, non-reserved fault); otherwise count
 * the outcome. `during` is what the access was for (qualification bits 7/8 of L1's exit, copied
 * from the real exit, vmx/nested.c:442-445; NPF EXITINFO1 bits 32/33). `user` says whether the re-walk that builds L1's exit is a user access (EPT: KVM
 * walks reads as user; NPT: every nested access is user already).
 */
export function finishNestedFault(
  mmu: ShadowMmu, ctx: ShadowContext, stats: Counters<VcpuStatName>, nested: NgpaWalker, tables: string,
  ngpa: bigint, ec: number, during: NestedDuring, res: ShadowFaultResult, user: ((kind: 'read' | 'write' | 'fetch') => boolean) | undefined,
  guestLinear = 0,
): NestedFaultOutcome {
  let r = res.ret;
  if (res.walkFault !== undefined) {
    const wec = res.walkFault.errorCode;
    if ((wec & PFERR.PRESENT) !== 0 && (wec & PFERR.RSVD) === 0) invalidateAddrInRootUnchecked(mmu, ctx, ctx.root.hpa, ngpa);
    const kind = ec & PFERR.WRITE ? 'write' : ec & PFERR.FETCH ? 'fetch' : 'read';
    // 7.3 EPT: bits 11:9 of the real exit go into L1's qualification (a0efd8cb221f, kvm-7x.md §1.2).
    const extra = guestLinear !== 0 && during === 'final' ? { guestLinear } : {};
    const rec = nested.walk(mkNgpa(ngpa), user === undefined ? { kind, during, ...extra } : { kind, user: user(kind), during, ...extra });
    if (rec.status !== 'fault') throw new InvariantViolation('nested-walk-disagrees', `the ${tables} walk failed for KVM but not on the second look`, hex(ngpa));
    stats.inc('nested_reflected');
    return { ret: RET_PF.RETRY, reflected: rec.exit, mmio: false };
  }
  if (r === RET_PF.WRITE_PROTECTED) r = RET_PF.EMULATE;
  if (r === RET_PF.FIXED) {
    stats.inc('pf_fixed');
    stats.inc('nested_fixed');
  } else if (r === RET_PF.EMULATE) stats.inc('pf_emulate');
  else if (r === RET_PF.SPURIOUS) stats.inc('pf_spurious');
  return { ret: r, mmio: res.mmio };
}

/** Record one handled exit of an L2 access: the ExitRecord, and the page_fault event. */
export function recordNestedExit(vm: ShadowVcpuVm, mmu: ShadowMmu, vcpu: number, exits: ExitRecord[], hw: TdpExit, h: NestedFaultOutcome): void {
  const rec: ExitRecord = { ...hw, ret: h.reflected !== undefined ? 'reflected to L1' : RET_PF_NAMES[h.ret]!, fast: false, mmio: h.mmio };
  exits.push(rec);
  mmu.vm.events.recordUnchecked({ kind: 'page_fault', vcpu, gpa: hw.gpa, code: hw.errorCode, outcome: rec.ret });
  vm.afterOperation();
}

/** The result of an L2 access that stopped at an exit KVM did not simply fix: to L1, or emulated. */
export function stoppedResult(w: GvaWalker, stop: number, a: bigint, access: Access, exits: ExitRecord[], attempt: number, h: NestedFaultOutcome): AccessResult | undefined {
  const gva = mkGva(a);
  if (h.reflected !== undefined) {
    return { status: 'l1-exit', gva, access, gpa: undefined, hpa: undefined, guestWalk: w.recordLast(stop, gva, access), exits, attempts: attempt, nestedExit: h.reflected };
  }
  if (h.ret === RET_PF.EMULATE) {
    return { status: 'emulated', gva, access, gpa: undefined, hpa: undefined, guestWalk: w.recordLast(stop, gva, access), exits, attempts: attempt, emulation: h.mmio ? 'MMIO' : 'emulated' };
  }
  return undefined;
}

/** The result of an L2 access whose 2D walk ended without an exit: a #PF to L2, or done. */
export function finishedResult(vm: ShadowVcpuVm, mmu: ShadowMmu, vcpu: number, w: GvaWalker, stop: number, a: bigint, access: Access, exits: ExitRecord[], attempt: number): AccessResult {
  const gva: Gva = mkGva(a);
  const guestWalk = w.recordLast(stop, gva, access);
  if (stop !== WalkStop.Ok) {
    mmu.vm.events.recordUnchecked({ kind: 'guest_pf', vcpu, gva: a, code: BigInt(w.lastErrorCode), outcome: 'L2 #PF (delivered by hardware)' });
    return { status: 'guest-pf', gva, access, gpa: undefined, hpa: undefined, guestWalk, exits, attempts: attempt };
  }
  const l1gfn = w.lastGfn;
  const slot = vm.memslots.find((s) => l1gfn >= s.baseGfn && l1gfn < s.baseGfn + s.npages)!;
  const hpa = mkHpa(BigInt(slot.pfnBase + (l1gfn - slot.baseGfn)) * 4096n + (a & 0xfffn)) as Hpa;
  // The record's "gpa" is L2's GPA (an nGPA); the L1 GPA is in `l1Gpa`.
  const l1Gpa = (BigInt(l1gfn) * 4096n + (a & 0xfffn)) as Gpa;
  return { status: 'ok', gva, access, gpa: guestWalk.status === 'ok' ? guestWalk.gpa : undefined, hpa, guestWalk, exits, attempts: attempt, l1Gpa };
}
