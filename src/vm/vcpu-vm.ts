/**
 * What a vCPU needs from its VM (per-VM state: memslots, memory, the MMUs, the TD). `Vm`
 * implements it and passes itself to each vCPU it creates; the vCPU names this interface rather
 * than `Vm`, so the import graph has no vm/vm ↔ vm/vcpu cycle.
 */
import type { CpuFeatures } from '../cpu/registers';
import type { GuestMemory } from '../memory/guest-memory';
import type { ShadowVcpuVm } from '../shadow/shadow-vcpu';
import type { SpteConfig } from '../spte/spte-config';
import type { TdpMmu, TdpVmContext } from '../tdp/tdp-mmu';
import type { MemoryAttributes } from '../tdx/memory-attributes';
import type { Td } from '../tdx/td';
import type { TdxFaultVm } from '../tdx/tdx-page-fault';
import type { HostMemory } from './host-memory';
import type { DirtyRing } from './dirty-ring';
import type { TlbConfigSpec } from '../tlb/tlb-config';
import type { CostModel } from '../cost/cost-model';

export interface VcpuVm extends TdpVmContext, ShadowVcpuVm, TdxFaultVm {
  readonly config: SpteConfig;
  readonly features: Readonly<CpuFeatures>;
  readonly host: HostMemory;
  /** L1's GPA space. */
  readonly guestMem: GuestMemory;
  readonly tdp: TdpMmu;
  /** `tdp_enabled`: false = shadow paging. */
  readonly tdpEnabled: boolean;
  readonly td: Td | undefined;
  /** Private-memory attributes (a TD or a KVM_X86_SW_PROTECTED_VM), else undefined. */
  readonly memAttributes: MemoryAttributes | undefined;
  /** KVM_CAP_DIRTY_LOG_RING's size in bytes (0: no ring); `dirtyRingRsvdEntries` it keeps free. */
  readonly dirtyRingSize: number;
  readonly dirtyRingRsvdEntries: number;
  /** `kvm_get_running_vcpu()`: the ring of the vCPU in KVM_RUN, whose faults mark pages dirty. */
  runningRing: DirtyRing | undefined;
  /** The vCPUs' TLB model (undefined: off, every access walks). */
  readonly tlbSpec: TlbConfigSpec | undefined;
  /** Cycles per modelled event. */
  readonly costModel: CostModel;
  /** Refuse an ioctl of a dead VM (-EIO: VmDeadError / VmBugged); the vCPU's own, unchecked arguments. */
  checkAliveUnchecked(op: string, vcpu: number): void;
  /** `kvm_vm_dead`. */
  kvmVmDead(reason: string, vcpu?: number): void;
}
