/**
 * A TD's EPT violation, from `tdx_handle_ept_violation` to the TDP MMU (reference §11.3):
 * private GPAs are treated as writes and carry PFERR_PRIVATE_ACCESS; `fault.gfn` loses the shared
 * bit; a private/shared mismatch with the memory attributes is a KVM_EXIT_MEMORY_FAULT (-EFAULT);
 * private faults map into the mirror root (never fast, 4K only), shared ones into the direct root.
 */
import type { Counters, VcpuStatName } from '../events/stats';
import { PFERR } from '../format/acc';
import { isMmioSpte, isShadowPresent, mmioGenerationMatches } from '../spte/spte';
import { newPageFault } from '../tdp/page-fault';
import { RET_PF, RET_PF_NAMES, type RetPf } from '../tdp/ret-pf';
import { InvariantViolation, TdpMmu, type TdpVmContext } from '../tdp/tdp-mmu';
import type { TdpPage } from '../tdp/tdp-page';
import type { TdpExit } from '../vm/exit';
import { memslotPfn } from '../vm/memslot';
import { KVM_EFAULT, KVM_EIO, type MemoryFaultExit } from './memory-fault';
import { PFERR_PRIVATE_ACCESS, faultinPrivate, memoryFault as privateMemoryFault } from './private-fault';
import { isAddrDirect } from './td-config';
import { Td } from './td';
import { TdpPage as TdpPageClass } from '../tdp/tdp-page';
import { Counters as CountersClass } from '../events/stats';
import { checkVcpuIndex } from '../tdp/check-tdp-args';
import { checkBigint, checkEnum, checkObject, refuse } from '../validate/checks';

/** The VM is a TD's (td a Td, tdp a TdpMmu), the exit a TdpExit, the vCPU's roots TDP pages. */
function checkTdxFaultArgs(vm: unknown, exit: unknown, v: unknown): void {
  const m = checkObject<Record<string, unknown>>('vm', vm);
  if (!(m['td'] instanceof Td)) refuse('vm.td', 'td', 'must be a Td (the VM is a TD)', m['td']);
  if (!(m['tdp'] instanceof TdpMmu)) refuse('vm.tdp', 'tdp-mmu', 'must be the VM\'s TdpMmu', m['tdp']);
  const e = checkObject<Record<string, unknown>>('exit', exit);
  checkEnum('exit.kind', e['kind'], ['ept_violation', 'ept_misconfig']);
  checkBigint('exit.gpa', e['gpa'], { max: (1n << 52n) - 1n });
  checkBigint('exit.errorCode', e['errorCode']);
  const c = checkObject<Record<string, unknown>>('v', v);
  checkVcpuIndex('v.index', c['index']);
  if (!(c['stats'] instanceof CountersClass)) refuse('v.stats', 'counters', 'must be the vCPU statistics (Counters)', c['stats']);
  if (!(c['mirror'] instanceof TdpPageClass)) refuse('v.mirror', 'tdp-page', 'must be the vCPU\'s mirror root', c['mirror']);
  if (!(c['direct'] instanceof TdpPageClass)) refuse('v.direct', 'tdp-page', 'must be the vCPU\'s direct root', c['direct']);
  checkBigint('v.gva', c['gva']);
}

export { PFERR_PRIVATE_ACCESS } from './private-fault';

/**
 * What the TD fault path needs from its VM. The VM passes itself: tdx sits below vm in the
 * pipeline, so it names this interface instead of importing `vm/vm` (which imports `vm/vcpu`,
 * which calls this file).
 */
export interface TdxFaultVm extends Pick<TdpVmContext, 'config' | 'events' | 'mmioGeneration' | 'slotOfGfn'> {
  readonly td: Td | undefined;
  readonly tdp: TdpMmu;
  afterOperation(): void;
  /** KVM_BUG_ON(…, kvm) that fired: `kvm_vm_bugged` (kvm_host.h:905-909). */
  kvmBugOn(reason: string, vcpu: number): void;
}

export interface TdxFaultVcpu {
  index: number;
  stats: Counters<VcpuStatName>;
  mirror: TdpPage;
  direct: TdpPage;
  gva: bigint;
}

export interface TdxFaultOutcome {
  ret: RetPf | typeof KVM_EFAULT | typeof KVM_EIO;
  fast: boolean;
  mmio: boolean;
  emulation?: string;
  memoryFault?: MemoryFaultExit;
}

export function tdxPageFault(vm: TdxFaultVm, exit: TdpExit, v: TdxFaultVcpu): TdxFaultOutcome {
  checkTdxFaultArgs(vm, exit, v);
  const td = vm.td!;
  const isPrivate = !isAddrDirect(td.config, exit.gpa);
  // tdx_handle_ept_violation: TD private pages are always RWX, so the qualification becomes
  // ACC_WRITE alone (no PROT bits); __vmx_handle_ept_violation then adds PFERR_PRIVATE_ACCESS.
  let ec = exit.errorCode;
  if (isPrivate) ec = BigInt(PFERR.WRITE) | PFERR_PRIVATE_ACCESS;
  else if ((ec & BigInt(PFERR.FETCH)) !== 0n && exit.kind === 'ept_violation') {
    // tdx.c:1962-1970: KVM treats a fetch EPT violation on shared memory as broken hardware,
    // KVM_BUG_ON → kvm_vm_bugged, and returns -EIO before trace_kvm_page_fault (tdx.c:1973) and
    // kvm_mmu_page_fault: no pf_taken, no page_fault event; the exit itself was already counted
    // (++vcpu->stat.exits, x86.c:11172). ASSUMPTION (the reference, §11.3, says only "a KVM_BUG";
    // the TDX module's handling of such a fetch is not in it): the model's CPU delivers the EPT
    // violation of a fetch through a shared-bit guest PTE without XD to KVM like any other. The
    // guest caused it, so it is VM state (vm/vm-death.ts), not an engine failure.
    vm.kvmBugOn(`an instruction fetch from shared GPA 0x${exit.gpa.toString(16)} (KVM_BUG_ON in tdx_handle_ept_violation, tdx.c:1969)`, v.index);
    return { ret: KVM_EIO, fast: false, mmio: false };
  }
  const naturalGpa = exit.gpa & ~td.config.gpaSharedMask;
  const bits = td.config.gfnDirectBits;
  let out: TdxFaultOutcome;
  if ((ec & BigInt(PFERR.RSVD)) !== 0n) {
    out = mmioFault(vm, exit, v, Number(naturalGpa >> 12n) + bits);
    if (out.ret !== RET_PF.INVALID) return finish(vm, exit, v, ec, out);
  }
  v.stats.inc('pf_taken');
  td.stats.inc(isPrivate ? 'private_faults' : 'shared_faults');
  const fault = newPageFault(exit.gpa, ec);
  // kvm_mmu_do_page_fault: memslots do not know the shared bit.
  fault.gfn = Number(naturalGpa >> 12n);
  // page_fault_can_be_fast: never for private faults; the fast path walks the direct root only.
  if (!isPrivate) {
    const r = vm.tdp.fastPageFaultUnchecked(fault, v.direct, v.index, v.stats);
    if (r !== RET_PF.INVALID) return finish(vm, exit, v, ec, { ret: r, fast: true, mmio: false });
  }
  // kvm_mmu_faultin_pfn: attribute match, then a private page needs guest_memfd.
  const slot = vm.slotOfGfn(fault.gfn);
  const pf = faultinPrivate(td.attributes, slot, fault.gfn, isPrivate);
  if (pf.kind === 'memory-fault') return finish(vm, exit, v, ec, memoryFault(vm, pf.exit));
  if (slot !== undefined && slot.readonly && fault.write) {
    return finish(vm, exit, v, ec, { ret: RET_PF.EMULATE, fast: false, mmio: false, emulation: 'write to a read-only memslot' });
  }
  if (slot !== undefined) {
    fault.slot = slot;
    fault.pfn = pf.kind === 'private' ? pf.pfn : memslotPfn(slot, fault.gfn);
    fault.mapWritable = !slot.readonly;
  }
  // A huge mapping may not span gfns of both kinds (lpage_info's KVM_LPAGE_MIXED_FLAG).
  fault.maxLevel = Math.min(fault.maxLevel, td.attributes.uniformLevelUnchecked(fault.gfn));
  // tdp_mmu_get_root_for_fault: private → the mirror root, shared → root.hpa (direct).
  const r = vm.tdp.mapUnchecked(fault, isPrivate ? v.mirror : v.direct, v.index, v.stats);
  // kvm_mmu_do_page_fault: EMULATE on a private fault becomes a memory-fault exit (mmu_internal.h:396-400).
  if (r === RET_PF.EMULATE && isPrivate) return finish(vm, exit, v, ec, memoryFault(vm, privateMemoryFault(fault.gfn, true, 'EMULATE on a private fault').exit));
  if (r === RET_PF.EMULATE) return finish(vm, exit, v, ec, { ret: r, fast: false, mmio: true, emulation: 'MMIO (new MMIO SPTE)' });
  return finish(vm, exit, v, ec, { ret: r, fast: false, mmio: false });
}

/** handle_mmio_page_fault on the direct root (shared MMIO). */
function mmioFault(vm: TdxFaultVm, exit: TdpExit, v: TdxFaultVcpu, aliasGfn: number): TdxFaultOutcome {
  const [, , , spte] = vm.tdp.lastSpteUnchecked(v.direct, aliasGfn);
  if (isMmioSpte(vm.config, spte)) {
    if (!mmioGenerationMatches(vm.config, spte, vm.mmioGeneration)) return { ret: RET_PF.INVALID, fast: false, mmio: false };
    return { ret: RET_PF.EMULATE, fast: false, mmio: true, emulation: 'MMIO (cached MMIO SPTE)' };
  }
  if (isShadowPresent(spte)) throw new InvariantViolation('mmio-rsvd-present', 'an RSVD fault found a present SPTE (a KVM bug)', '0x' + spte.toString(16));
  void exit;
  return { ret: RET_PF.RETRY, fast: false, mmio: false };
}

function memoryFault(vm: TdxFaultVm, exit: MemoryFaultExit): TdxFaultOutcome {
  vm.td!.stats.inc('memory_fault_exits');
  return { ret: KVM_EFAULT, fast: false, mmio: false, memoryFault: exit };
}

function finish(vm: TdxFaultVm, exit: TdpExit, v: TdxFaultVcpu, ec: bigint, out: TdxFaultOutcome): TdxFaultOutcome {
  const r = out.ret;
  if (r === RET_PF.FIXED) v.stats.inc('pf_fixed');
  else if (r === RET_PF.EMULATE) v.stats.inc('pf_emulate');
  else if (r === RET_PF.SPURIOUS) v.stats.inc('pf_spurious');
  const name = r === KVM_EFAULT ? '-EFAULT' : RET_PF_NAMES[r]!;
  vm.events.recordUnchecked({ kind: 'page_fault', vcpu: v.index, gva: v.gva, gpa: exit.gpa, code: ec, outcome: name + (out.fast ? ' (fast)' : '') });
  if (out.memoryFault !== undefined) {
    vm.events.recordUnchecked({ kind: 'memory_fault', vcpu: v.index, gpa: out.memoryFault.gpa, code: out.memoryFault.flags, outcome: `KVM_EXIT_MEMORY_FAULT: ${out.memoryFault.reason}` });
  }
  vm.afterOperation();
  return out;
}
