import type { Gpa, Gva, Hpa } from '../address/address';
import type { Access } from '../walker/access';
import type { WalkResult } from '../walker/walk-result';
import type { TdpExit } from './exit';
import type { NestedExit } from '../nested/nested-exit';
import type { MemoryFaultExit } from '../tdx/memory-fault';
import type { ExceptionExit } from '../nested/l1-intercept';
import type { AccessCost } from '../cost/cost-model';

/** One VM exit and how KVM handled it. */
export interface ExitRecord extends TdpExit {
  /** `RET_PF_*` name from kvm_mmu_page_fault. */
  ret: string;
  /** Fixed by the fast path, without the slow path. */
  fast: boolean;
  /** Served from the MMIO SPTE / MMIO cache. */
  mmio: boolean;
}

export interface AccessResult {
  /**
   * ok: the access completed in hardware; guest-pf: #PF to the guest; emulated: KVM emulated it;
   * l1-exit: (L2 only) an EPT12/NPT12 fault was reflected to L1 as a VM exit, or (L2 without
   * nested TDP) L1 intercepts the #PF the access raised (`l1Intercept`);
   * memory-fault: (VMs with private memory) KVM returned -EFAULT with KVM_EXIT_MEMORY_FAULT to userspace;
   * guest-ve: (TD) the TDX module injected #VE: the private page is PENDING (not accepted);
   * vm-dead: the exit handler killed the VM and KVM_RUN returned -EIO (`vm.dead` says why): a TD
   * with SEPT_VE_DISABLE whose access reached a PENDING page (kvm_vm_dead), or a TD's fetch from
   * shared memory (KVM_BUG_ON: `vm.bugged`); the exit is in `exits` with ret '-EIO'.
   */
  status: 'ok' | 'guest-pf' | 'emulated' | 'l1-exit' | 'memory-fault' | 'guest-ve' | 'vm-dead';
  gva: Gva;
  access: Access;
  gpa: Gpa | undefined;
  hpa: Hpa | undefined;
  /** The final guest walk (with the second stage). */
  guestWalk: WalkResult;
  /**
   * The VM exits of the access, in order. Read-only: an access without exits (every TLB hit) may
   * share one frozen empty array with other results (`NO_EXITS`), so pushing onto it throws.
   */
  exits: readonly ExitRecord[];
  /** Hardware attempts: 1 + the retries after exits. */
  attempts: number;
  /** Why it was emulated (MMIO, write to ROM, …). */
  emulation?: string;
  /** l1-exit: the exit L1 sees (EPT violation / misconfiguration). */
  nestedExit?: NestedExit;
  /** l1-exit of an L2 without nested TDP: the #PF exit L1 sees (EXCEPTION_NMI). */
  l1Intercept?: ExceptionExit;
  /** L2 accesses: the L1 GPA the nGPA translated to. */
  l1Gpa?: Gpa;
  /** memory-fault: what userspace sees in `run->memory_fault`. */
  memoryFault?: MemoryFaultExit;
  /** Where the translation came from: an L1 TLB or STLB hit, or a walk ('miss'; always with the TLB model off). */
  tlb?: 'l1' | 'stlb' | 'miss';
  /** Memory references of the last hardware walk (after the paging-structure and nested caches when the TLB model is on). */
  walkRefs?: number;
  /** Modelled cycles of the access under the VM's cost model (see `cost` for the parts). */
  cycles?: number;
  cost?: AccessCost;
}
