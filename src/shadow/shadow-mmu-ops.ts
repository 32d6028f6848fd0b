/**
 * What sync and unsync (sync.ts, unsync.ts) call back into the per-VM shadow MMU for. KVM keeps
 * all of it in `mmu.c`, where page lookup syncs (`kvm_mmu_get_shadow_page` → `kvm_sync_page`) and
 * sync zaps (`kvm_sync_page` → `kvm_mmu_prepare_zap_page`): a mutual recursion. Here ShadowMmu
 * implements this interface and imports sync/unsync, which see only the interface, so the
 * modules form no import cycle.
 */
import type { Counters, VmStatName } from '../events/stats';
import type { EventLog } from '../events/event-log';
import type { GuestMemory } from '../memory/guest-memory';
import type { SpteConfig } from '../spte/spte-config';
import type { HostMemory } from '../vm/host-memory';
import type { PossibleNxHugePages } from '../tdp/possible-nx-huge-pages';
import type { Memslot } from '../vm/memslot';
import type { ShadowPage } from './shadow-page';

/** What the shadow MMU needs from its VM. */
export interface ShadowVmContext {
  readonly config: SpteConfig;
  readonly host: HostMemory;
  readonly guestMem: GuestMemory;
  readonly stats: Counters<VmStatName>;
  readonly events: EventLog;
  readonly checking: boolean;
  readonly tdpEnabled: boolean;
  /** The VM's `unsync` option (what-if; KVM always allows unsync where mmu_try_to_unsync_pages can). */
  readonly unsyncAllowed: boolean;
  readonly mmioGeneration: number;
  slotOfGfn(gfn: number): Memslot | undefined;
  /** `mark_page_dirty_in_slot`: the dirty bitmap, or the running vCPU's dirty ring. */
  markDirty(slot: Memslot, gfn: number): void;
  /** `kvm_tdp_mmu_write_protect_gfn` (nested TDP: L1's TDP mapping of an EPT12 table). */
  tdpWriteProtectGfn(gfn: number): boolean;
  /** `kvm->arch.possible_nx_huge_pages`, shared with the TDP MMU. */
  readonly possibleNxHugePages: Pick<PossibleNxHugePages<ShadowPage>, 'track' | 'unaccount'>;
  /** KVM_REQ_TLB_FLUSH to every vCPU (their TLB models); absent: no TLB model to flush. */
  flushRemoteTlbs?(): void;
}

export interface ShadowMmuOps {
  readonly vm: ShadowVmContext;
  readonly config: SpteConfig;
  readSpteUnchecked(sp: ShadowPage, idx: number): bigint;
  isNonpresentValueUnchecked(sp: ShadowPage, idx: number): boolean;
  /** The one SPTE-change function. */
  setSpteUnchecked(sp: ShadowPage, idx: number, next: bigint, vcpu: number): bigint;
  childOfUnchecked(spte: bigint): ShadowPage;
  pageAtUnchecked(pfn: number): ShadowPage | undefined;
  isWriteTrackedUnchecked(gfn: number): boolean;
  validSpsWithGptesUnchecked(gfn: number): ShadowPage[];
  writeProtectGfnUnchecked(gfn: number, vcpu: number): boolean;
  tlbFlushUnchecked(vcpu: number, why: string, gfn?: number, level?: number): void;
  prepareZapUnchecked(sp: ShadowPage, invalid: ShadowPage[], vcpu: number): number;
  zapPteUnchecked(sp: ShadowPage, i: number, invalid: ShadowPage[] | null, vcpu: number): number;
  commitZapUnchecked(invalid: ShadowPage[], vcpu: number): void;
  markDirtyIfWritableUnchecked(gfn: number, spte: bigint): void;
}
