/**
 * `mmu.c: kvm_recover_nx_huge_pages` (mmu.c:7522-7614): one pass of the NX huge page recovery
 * worker over the VM's one possible-NX-huge-pages list, TDP MMU and shadow MMU tables alike.
 */
import type { Counters, VmStatName } from '../events/stats';
import type { EventLog } from '../events/event-log';
import type { PossibleNxHugePages } from '../tdp/possible-nx-huge-pages';
import { TdpPage } from '../tdp/tdp-page';
import type { TdpMmu } from '../tdp/tdp-mmu';
import type { ShadowMmu } from '../shadow/shadow-mmu';
import type { ShadowPage } from '../shadow/shadow-page';
import type { Memslot } from './memslot';
import { checkVcpuIndex } from '../tdp/check-tdp-args';
import { checkInt, checkObject, refuse } from '../validate/checks';

/** What one NX huge page recovery pass did (`kvm_recover_nx_huge_pages`). */
export interface NxRecovery {
  /** ⌈nx_lpage_splits / ratio⌉ at the start of the pass. */
  toZap: number;
  /** Tables zapped (their 4 KiB leaves with them). */
  zapped: number;
  /** Tables in dirty-logged slots taken off the list without a zap (`unaccount_nx_huge_page`). */
  unaccounted: number;
}

/** The parts of a VM the recovery pass uses. */
export interface NxRecoveryVm {
  readonly stats: Counters<VmStatName>;
  readonly events: EventLog;
  readonly possibleNxHugePages: PossibleNxHugePages<TdpPage | ShadowPage>;
  readonly tdp: TdpMmu;
  readonly shadow: ShadowMmu;
  readonly gfnDirectBits: number;
  slotOfGfn(gfn: number): Memslot | undefined;
  anyDirtyLogging(): boolean;
}

/**
 * Take ⌈nx_lpage_splits / ratio⌉ tables from the head of the list (ratio 0: none, mmu.c:7544) and
 * zap each — a TDP MMU table with `kvm_tdp_mmu_zap_sp`, a shadow page with
 * `kvm_mmu_prepare_zap_page` (mmu.c:7593-7596) — so the next fault may map a huge page again. A
 * table in a slot that logs dirty pages is only unaccounted (mmu.c:7591-7592): it would fault
 * back at 4 KiB, and disabling dirty logging recovers it. At the end one
 * `kvm_mmu_remote_flush_or_zap` (mmu.c:7609): commit the shadow pages (one flush), else one flush
 * if a TDP table went.
 */
export function recoverNxHugePages(vm: NxRecoveryVm, ratio: number, vcpu = -1): NxRecovery {
  const m = checkObject<Record<string, unknown>>('vm', vm);
  for (const k of ['stats', 'events', 'possibleNxHugePages', 'tdp', 'shadow']) checkObject(`vm.${k}`, m[k]);
  for (const k of ['slotOfGfn', 'anyDirtyLogging']) if (typeof m[k] !== 'function') refuse(`vm.${k}`, 'function-type', 'must be a function', m[k]);
  // nx_huge_pages_recovery_ratio is a uint module parameter (mmu.c); 0 disables recovery.
  checkInt('ratio', ratio, { max: 0xffff_ffff });
  checkVcpuIndex('vcpu', vcpu);
  const toZap = ratio > 0 ? Math.ceil(vm.stats.get('nx_lpage_splits') / ratio) : 0;
  let zapped = 0;
  let unaccounted = 0;
  let flush = false;
  const invalid: ShadowPage[] = [];
  const anyLogging = vm.anyDirtyLogging();
  for (let n = toZap; n > 0; n--) {
    const sp = vm.possibleNxHugePages.first();
    if (sp === undefined) break;
    const tdp = sp instanceof TdpPage; // is_tdp_mmu_page
    const bits = vm.gfnDirectBits;
    // mmu.c:7580-7586: the slot is looked up only while some slot logs dirty pages.
    const slot = anyLogging ? vm.slotOfGfn(tdp && bits > 0 ? sp.gfn % bits : sp.gfn) : undefined;
    if (slot?.dirtyLogging) {
      vm.possibleNxHugePages.unaccount(sp);
      unaccounted++;
    } else if (tdp) {
      if (vm.tdp.zapSp(sp, vcpu)) {
        flush = true;
        zapped++;
      }
    } else {
      vm.shadow.prepareZapUnchecked(sp, invalid, vcpu);
      zapped++;
    }
  }
  // kvm_mmu_remote_flush_or_zap (mmu.c:2076-2088).
  if (invalid.length > 0) vm.shadow.commitZapUnchecked(invalid, vcpu);
  else if (flush) vm.tdp.tlbFlush(vcpu, 'nx huge page recovery');
  vm.events.recordUnchecked({ kind: 'zap', vcpu, outcome: `nx huge page recovery (ratio ${ratio}): ${zapped} zapped, ${unaccounted} unaccounted of ${toZap}` });
  return { toZap, zapped, unaccounted };
}
