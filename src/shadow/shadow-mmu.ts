/**
 * The per-VM half of the shadow MMU (`mmu.c`, reference §8): shadow pages hashed by (gfn, role),
 * the FIFO of active pages, reverse maps, write tracking of guest page-table gfns, zapping, and
 * the ONE function through which every SPTE changes (`setSpte`: statistics, event, rmap and
 * parent links, invariants in checking mode). Per-vCPU state (roots, the guest walker, the roles)
 * lives in ShadowContext.
 */
import { fillEntries64Unchecked, readEntry64Unchecked, tableWordUnchecked, writeEntry64Unchecked } from '../memory/table-entry';
import type { VmStatName } from '../events/stats';
import type { SpteConfig } from '../spte/spte-config';
import { PT_WRITABLE_MASK, SHADOW_NONPRESENT_VALUE } from '../spte/spte-config';
import { isAccessed, isHostWritable, isLargePte, isLastSpte, isMmioSpte, isMmuWritable, isRsvdSpte, isShadowPresent, isWritable, makeNonleafSpte, markSpteForAccessTrack, spteToPfn } from '../spte/spte';
import type { PageRole } from '../role/page-role';
import { lpageIndex, maxMappingLevel, type Memslot } from '../vm/memslot';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { PageSizeError } from '../errors';
import { resetRsvdsBitsMaskEpt } from '../format/rsvd-bits-mask';
import { Rmap } from './rmap';
import { ShadowPage, type SptePtr } from './shadow-page';
import type { ShadowContext } from './shadow-context';
import type { ShadowMmuOps, ShadowVmContext } from './shadow-mmu-ops';
import { markUnsyncUnchecked, unlinkUnsyncUnchecked, unsyncWalkUnchecked, clearParentsUnchecked } from './unsync';
import { syncPageUnchecked } from './sync';
import {
  checkAccess, checkBool, checkContext, checkGfn, checkGfnRange, checkInt, checkObject, checkOwnPage, checkPageLevel, checkPageList, checkReason, checkRole,
  checkShadowPage, checkSpteIndex, checkSpteValue, checkVcpuArg, checkVmSlot, refuse,
} from './check-shadow-args';

export type { ShadowVmContext } from './shadow-mmu-ops';

const LEVEL_STAT: Record<number, VmStatName> = { 1: 'pages_4k', 2: 'pages_2m', 3: 'pages_1g' };
const GOLDEN_RATIO_64 = 0x61c8864680b583ebn;
const U64 = (1n << 64n) - 1n;
/** `KVM_MIN_FREE_MMU_PAGES`, `KVM_REFILL_PAGES`. */
const MIN_FREE_MMU_PAGES = 5;
const REFILL_PAGES = 25;

/** `hash_64(gfn, KVM_MMU_HASH_SHIFT = 12)`: the bucket, so collision counts match KVM's. */
export function mmuPageHash(gfn: number): number {
  return bucketOf(checkGfn('gfn', gfn));
}

/** mmuPageHash for the MMU's own lookups (its gfns are its pages'). */
function bucketOf(gfn: number): number {
  return Number(((BigInt(gfn) * GOLDEN_RATIO_64) & U64) >> 52n);
}

export class ShadowMmu implements ShadowMmuOps {
  readonly vm: ShadowVmContext;
  /** `mmu_page_hash`: bucket → pages, newest first. */
  private readonly hash = new Map<number, ShadowPage[]>();
  /** `active_mmu_pages` in FIFO order: iteration gives the oldest first. */
  readonly activePages = new Set<ShadowPage>();
  /** Every allocated page by host frame (for `spte_to_child_sp`). */
  private readonly pages = new Map<number, ShadowPage>();
  readonly rmap = new Rmap();
  /** Per-gfn write-track count (`gfn_write_track`), only for gfns shadowed by upper-level pages. */
  private readonly writeTrack = new Map<number, number>();
  /** `kvm->arch.mmu_valid_gen` (0/1, flipped by the fast zap-all). */
  mmuValidGen = 0;
  indirectShadowPages = 0;
  nUsedMmuPages = 0;
  /** `n_max_mmu_pages` (`kvm_mmu_change_mmu_pages`, minimum 64). */
  maxMmuPages: number;
  /** KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, broadcast: each vCPU remembers the last one it handled. */
  freeObsoleteRootsRequest = 0;
  /**
   * `shadow_zero_check` of the shadow MMU: for shadow EPT, `reset_ept_shadow_zero_bits_mask` with
   * L1's execute-only (at most the host's), so execute-only EPT02 leaves are legal. Derived from
   * the VM's settings of the moment (kept with the settings it came from).
   */
  private zeroCheck: { from: SpteConfig; config: SpteConfig } | undefined;

  constructor(vm: ShadowVmContext, maxMmuPages = 4096) {
    checkObject('vm', vm);
    // KVM_SET_NR_MMU_PAGES refuses fewer than KVM_MIN_ALLOC_MMU_PAGES (64) with -EINVAL
    // (x86.c:6417-6418): it is not raised to 64.
    checkInt('maxMmuPages', maxMmuPages, { min: 64 });
    this.vm = vm;
    this.maxMmuPages = maxMmuPages;
  }

  /** The VM's SPTE settings: one copy for both MMUs (the NX huge page mitigation may change at runtime). */
  /**
   * KVM 7.2's `mmu_shadow_pages` VM stat (02953418a137 "Expose number of shadow MMU shadow pages as
   * a stat": "Turn arch.n_used_mmu_pages into a stat, mmu_shadow_pages", v2 posting, lkml.iu.edu
   * 2606.1/15767). ASSUMPTION (kvm-7x.md §5.6 has name and placement UNVERIFIED; the name is from
   * the posting, not from merged C): a per-VM gauge moved exactly where n_used_mmu_pages is, by
   * `kvm_account_mmu_page` / `kvm_unaccount_mmu_page`. KVM 6.16 has no such stat: it stays 0 there.
   */
  private accountShadowPagesStat(by: 1 | -1): void {
    if (this.vm.config.kvm === '7.3') this.vm.stats.inc('mmu_shadow_pages', by);
  }

  get config(): SpteConfig {
    return this.vm.config;
  }

  private get zeroCheckConfig(): SpteConfig {
    const c = this.vm.config;
    if (this.zeroCheck?.from !== c) {
      let config = c;
      if (c.flavour === 'ept') {
        const z = resetRsvdsBitsMaskEpt({ maxPhyAddr: c.hostMaxPhyAddr, execonly: c.execOnly, hugePageLevel: c.maxHugePageLevel });
        config = { ...c, zeroCheck: z.rsvdBitsMask, zeroCheckBadMtXwr: z.badMtXwr };
      }
      this.zeroCheck = { from: c, config };
    }
    return this.zeroCheck.config;
  }

  // ---- raw SPTE access ----

  readSpteUnchecked(sp: ShadowPage, idx: number): bigint {
    return readEntry64Unchecked(this.vm.host.frames, sp.pfn, idx);
  }

  /** `spte == SHADOW_NONPRESENT_VALUE`, on the raw halves (the sync loop asks this for all 512 entries). */
  isNonpresentValueUnchecked(sp: ShadowPage, idx: number): boolean {
    const m = this.vm.host.frames;
    const b = tableWordUnchecked(m, sp.pfn, idx * 2);
    const s = m.words;
    return s[b] === 0 && s[b + 1] === 0x8000_0000;
  }

  private writeRaw(pfn: number, idx: number, v: bigint): void {
    writeEntry64Unchecked(this.vm.host.frames, pfn, idx, v);
  }

  /** Write an entry of a page that is not a shadow page (PAE root): no statistics, not an SPTE. */
  writeSpecialRootUnchecked(pfn: number, idx: number, v: bigint): void {
    this.writeRaw(pfn, idx, v);
  }

  childOfUnchecked(spte: bigint): ShadowPage {
    const c = this.pages.get(spteToPfn(spte));
    if (c === undefined) throw new InvariantViolation('child-sp', 'a non-leaf SPTE points at no shadow page', '0x' + spte.toString(16));
    return c;
  }

  pageAtUnchecked(pfn: number): ShadowPage | undefined {
    return this.pages.get(pfn);
  }

  get allPages(): readonly ShadowPage[] {
    return [...this.pages.values()];
  }

  isObsoleteUnchecked(sp: ShadowPage): boolean {
    return sp.role.invalid || sp.mmuValidGen !== this.mmuValidGen;
  }

  isWriteTrackedUnchecked(gfn: number): boolean {
    return (this.writeTrack.get(gfn) ?? 0) > 0;
  }

  writeTrackCountUnchecked(gfn: number): number {
    return this.writeTrack.get(gfn) ?? 0;
  }

  /** Valid pages with gPTEs at `gfn` (`for_each_gfn_valid_sp_with_gptes`). */
  validSpsWithGptesUnchecked(gfn: number): ShadowPage[] {
    const b = this.hash.get(bucketOf(gfn));
    if (b === undefined) return [];
    return b.filter((sp) => sp.gfn === gfn && !this.isObsoleteUnchecked(sp) && sp.hasGptes);
  }

  // ---- the one SPTE-change function ----

  /**
   * Change one SPTE. Keeps the rmap (leaves) and the children's parent lists (tables) exact, the
   * pages_* statistics, emits the event, and in checking mode asserts what KVM asserts about its
   * own SPTEs. A leaf's rmap gfn is the page's recorded translation, so callers drop a leaf
   * before recording a different gfn for it.
   */
  setSpteUnchecked(sp: ShadowPage, idx: number, next: bigint, vcpu: number): bigint {
    const old = this.readSpteUnchecked(sp, idx);
    if (old === next) return old;
    const level = sp.level;
    const wasPresent = isShadowPresent(old);
    const isPresent = isShadowPresent(next);
    const wasLeaf = wasPresent && isLastSpte(old, level);
    const isLeaf = isPresent && isLastSpte(next, level);
    const gfn = sp.gfnOfUnchecked(idx);
    if (wasLeaf && isLeaf && spteToPfn(old) !== spteToPfn(next)) {
      throw new InvariantViolation('leaf-pfn-change', `present shadow leaf for GFN 0x${gfn.toString(16)} level ${level} would change PFN without a zap`, '0x' + next.toString(16));
    }
    if (this.vm.checking && isPresent) this.checkSpte(sp, idx, next, wasLeaf && isLeaf);
    const ptr: SptePtr = { sp, idx };
    if (wasLeaf && !isLeaf) {
      if (!this.rmap.removeUnchecked(gfn, level, ptr)) throw new InvariantViolation('rmap-missing', `leaf SPTE for GFN 0x${gfn.toString(16)} was not in the rmap`, '0x' + old.toString(16));
    }
    if (wasPresent && !wasLeaf) {
      const child = this.childOfUnchecked(old);
      const i = child.parentPtes.findIndex((p) => p.sp === sp && p.idx === idx);
      if (i < 0) throw new InvariantViolation('parent-pte-missing', `${child} did not list its parent SPTE`, String(idx));
      child.parentPtes.splice(i, 1);
    }
    this.writeRaw(sp.pfn, idx, next);
    this.vm.stats.inc('spte_changes');
    // Leaves exist at levels 1-3 only (KVM_MAX_HUGEPAGE_LEVEL).
    if (wasLeaf !== isLeaf) this.vm.stats.inc(LEVEL_STAT[level]!, isLeaf ? 1 : -1);
    if (isLeaf && !wasLeaf) {
      this.vm.stats.max('max_mmu_rmap_size', this.rmap.addUnchecked(gfn, level, ptr));
    }
    if (isPresent && !isLeaf) this.childOfUnchecked(next).parentPtes.push(ptr);
    this.vm.events.recordUnchecked({ kind: 'spte_change', vcpu, gpa: BigInt(gfn) << 12n, level, oldSpte: old, newSpte: next });
    return old;
  }

  /** Appendix A 1, 2 and 7 (at install time) for an SPTE about to be written. */
  private checkSpte(sp: ShadowPage, idx: number, spte: bigint, sameLeaf: boolean): void {
    const c = this.config;
    const level = sp.level;
    if (isRsvdSpte(this.zeroCheckConfig, spte, level)) {
      throw new InvariantViolation('spte-reserved-bits', `shadow SPTE at level ${level} sets bits shadow_zero_check reserves`, '0x' + spte.toString(16));
    }
    if (!isLastSpte(spte, level)) return;
    const w = isWritable(spte);
    const mw = isMmuWritable(c, spte);
    const hw = isHostWritable(c, spte);
    if ((w && !mw) || (mw && !hw)) throw new InvariantViolation('spte-writable-states', 'Writable ⇒ MMU-writable ⇒ Host-writable is broken', '0x' + spte.toString(16));
    if (level > 1 && !sameLeaf && this.lpageDisallowedUnchecked(sp.gfnOfUnchecked(idx), level)) {
      throw new InvariantViolation('huge-over-disallowed', `a level-${level} leaf is installed over GFN 0x${sp.gfnOfUnchecked(idx).toString(16)} whose huge pages are disallowed (a shadowed guest page table lies inside)`, '0x' + spte.toString(16));
    }
  }

  lpageDisallowedUnchecked(gfn: number, level: number): boolean {
    const slot = this.vm.slotOfGfn(gfn);
    if (slot === undefined || level < 2) return false;
    return slot.lpageDisallow[level - 2]![lpageIndex(slot, gfn, level)]! !== 0;
  }

  /**
   * The end of `make_spte` (spte.c:256-261), on every path that makes a leaf (fault, prefetch,
   * sync): a writable SPTE in a dirty-tracked slot marks its gfn dirty now, since the guest's
   * writes through it will not fault.
   */
  markDirtyIfWritableUnchecked(gfn: number, spte: bigint): void {
    if (!isWritable(spte)) return;
    const slot = this.vm.slotOfGfn(gfn);
    if (slot?.dirtyLogging === true) this.vm.markDirty(slot, gfn);
  }

  tlbFlushUnchecked(vcpu: number, why: string, gfn?: number, level?: number): void {
    this.vm.stats.inc('remote_tlb_flush');
    this.vm.flushRemoteTlbs?.();
    this.vm.events.recordUnchecked({ kind: 'tlb_flush', vcpu, gpa: gfn === undefined ? null : BigInt(gfn) << 12n, level: level ?? null, outcome: why });
  }

  // ---- lookup and creation (§8.2) ----

  /** `kvm_mmu_get_shadow_page`: find a valid page for (gfn, role), syncing an unsync one, or allocate. */
  getShadowPageUnchecked(ctx: ShadowContext, gfn: number, role: PageRole): ShadowPage {
    const bucketKey = bucketOf(gfn);
    const bucket = this.hash.get(bucketKey) ?? [];
    const invalid: ShadowPage[] = [];
    let collisions = 0;
    let found: ShadowPage | undefined;
    for (const sp of [...bucket]) {
      if (this.isObsoleteUnchecked(sp)) continue;
      if (sp.gfn !== gfn) {
        collisions++;
        continue;
      }
      if (sp.role.word !== role.word) {
        // A new upper-level page will write-protect this gfn: an unsync page there must go.
        if (role.level > 1 && sp.unsync) this.prepareZapUnchecked(sp, invalid, ctx.vcpu);
        continue;
      }
      if (sp.role.direct) {
        found = sp;
        break;
      }
      if (sp.unsync) {
        // Bring it up to date; it stays unsync (its gfn stays writable) until a sync of its parents.
        const r = syncPageUnchecked(this, ctx, sp, invalid);
        if (r < 0) break;
        if (r > 0) this.tlbFlushUnchecked(ctx.vcpu, 'sync of an unsync page found by lookup');
      }
      sp.writeFloodingCount = 0;
      found = sp;
      break;
    }
    this.commitZapUnchecked(invalid, ctx.vcpu);
    this.vm.stats.max('max_mmu_page_hash_collisions', collisions);
    if (found !== undefined) return found;
    this.vm.stats.inc('mmu_cache_miss');
    return this.allocShadowPage(gfn, role, ctx.vcpu);
  }

  private allocShadowPage(gfn: number, role: PageRole, vcpu: number): ShadowPage {
    const pfn = this.vm.host.allocTable();
    const sp = new ShadowPage(role, gfn, pfn, this.mmuValidGen);
    // Every entry starts as SHADOW_NONPRESENT_VALUE.
    fillEntries64Unchecked(this.vm.host.frames, pfn, SHADOW_NONPRESENT_VALUE);
    this.pages.set(pfn, sp);
    this.activePages.add(sp);
    const key = bucketOf(gfn);
    let bucket = this.hash.get(key);
    if (bucket === undefined) {
      bucket = [];
      this.hash.set(key, bucket);
    }
    bucket.unshift(sp);
    this.nUsedMmuPages++;
    this.vm.stats.inc('mmu_pages');
    this.accountShadowPagesStat(1);
    this.vm.events.recordUnchecked({ kind: 'sp_alloc', vcpu, gpa: BigInt(gfn) << 12n, level: role.level, outcome: `role 0x${role.word.toString(16)}${role.direct ? ' direct' : ''}` });
    if (sp.hasGptes) this.accountShadowed(sp);
    return sp;
  }

  /** `kvm_mmu_child_role`. */
  private childRoleUnchecked(parent: ShadowPage, idx: number, direct: boolean, access: number): PageRole {
    const r = parent.role;
    const level = r.level - 1;
    return r.withUnchecked({ level, access, direct, passthrough: false, quadrant: r.hasFourByteGpte ? idx & 1 : r.quadrant });
  }

  /** `kvm_mmu_get_child_sp`: null means "-EEXIST" (the SPTE already links a table). */
  getChildSpUnchecked(ctx: ShadowContext, parent: ShadowPage, idx: number, gfn: number, direct: boolean, access: number): ShadowPage | null {
    const spte = this.readSpteUnchecked(parent, idx);
    if (isShadowPresent(spte) && !isLargePte(spte)) return null;
    return this.getShadowPageUnchecked(ctx, gfn, this.childRoleUnchecked(parent, idx, direct, access));
  }

  /** `__link_shadow_page`: replace a huge leaf if any, link, and propagate unsync upwards. */
  linkShadowPageUnchecked(parent: ShadowPage, idx: number, child: ShadowPage, vcpu: number): void {
    const old = this.readSpteUnchecked(parent, idx);
    if (isShadowPresent(old)) {
      // drop_large_spte
      this.setSpteUnchecked(parent, idx, SHADOW_NONPRESENT_VALUE, vcpu);
      this.tlbFlushUnchecked(vcpu, 'huge page replaced by a table', parent.gfnOfUnchecked(idx), parent.level);
    }
    this.setSpteUnchecked(parent, idx, makeNonleafSpte(this.config, child.pfn, child.role.adDisabled), vcpu);
    if (child.unsyncChildren > 0 || child.unsync) markUnsyncUnchecked(this, parent, idx);
  }

  /**
   * `account_nx_huge_page` (mmu.c:797-804), after linking a direct page the NX huge page mitigation
   * made: mark it, and put it on the recovery list when only the mitigation kept the fault from a
   * huge page at the parent's level (`fault->req_level >= it.level`, paging_tmpl.h:734-736,
   * mmu.c:3378-3380).
   */
  accountNxHugePageUnchecked(sp: ShadowPage, nxHugePagePossible: boolean): void {
    sp.nxHugePageDisallowed = true;
    if (nxHugePagePossible) this.vm.possibleNxHugePages.track(sp);
  }

  // ---- write tracking and write protection (§8.2 account_shadowed) ----

  private lpageAdjust(gfn: number, by: number): void {
    const slot = this.vm.slotOfGfn(gfn);
    if (slot === undefined) return;
    for (const level of [2, 3]) slot.lpageDisallow[level - 2]![lpageIndex(slot, gfn, level)]! += by;
  }

  private accountShadowed(sp: ShadowPage): void {
    this.indirectShadowPages++;
    this.vm.stats.inc('indirect_shadow_pages');
    if (sp.level > 1) this.writeTrack.set(sp.gfn, (this.writeTrack.get(sp.gfn) ?? 0) + 1);
    this.lpageAdjust(sp.gfn, 1);
    if (this.writeProtectGfnUnchecked(sp.gfn, -1)) this.tlbFlushUnchecked(-1, 'write-protect a newly shadowed guest page table', sp.gfn, 1);
  }

  private unaccountShadowed(sp: ShadowPage): void {
    this.indirectShadowPages--;
    this.vm.stats.inc('indirect_shadow_pages', -1);
    if (sp.level > 1) {
      const n = (this.writeTrack.get(sp.gfn) ?? 0) - 1;
      if (n < 0) throw new InvariantViolation('write-track-underflow', `write-track count of GFN 0x${sp.gfn.toString(16)} below zero`, String(n));
      if (n === 0) this.writeTrack.delete(sp.gfn);
      else this.writeTrack.set(sp.gfn, n);
    }
    this.lpageAdjust(sp.gfn, -1);
  }

  /** `kvm_mmu_slot_gfn_write_protect(.., PG_LEVEL_4K)`: clear W and MMU-writable in every SPTE mapping gfn. */
  writeProtectGfnUnchecked(gfn: number, vcpu: number): boolean {
    let changed = false;
    for (let level = 1; level <= 3; level++) {
      for (const p of this.rmap.getUnchecked(gfn, level)) {
        const spte = this.readSpteUnchecked(p.sp, p.idx);
        if (!isWritable(spte) && !isMmuWritable(this.config, spte)) continue;
        this.setSpteUnchecked(p.sp, p.idx, spte & ~(PT_WRITABLE_MASK | this.config.mmuWritableMask), vcpu);
        changed = true;
      }
    }
    if (this.vm.tdpEnabled && this.vm.tdpWriteProtectGfn(gfn)) changed = true;
    return changed;
  }

  // ---- zapping (§8.12) ----

  /** `__kvm_mmu_prepare_zap_page`. Returns the number of other pages zapped ("list unstable"). */
  prepareZapUnchecked(sp: ShadowPage, invalid: ShadowPage[], vcpu: number): number {
    this.vm.stats.inc('mmu_shadow_zapped');
    const wasValid = !sp.role.invalid;
    let n = this.zapUnsyncChildren(sp, invalid, vcpu);
    for (let i = 0; i < 512; i++) n += this.zapPteUnchecked(sp, i, invalid, vcpu);
    while (sp.parentPtes.length > 0) {
      const p = sp.parentPtes[0]!;
      this.setSpteUnchecked(p.sp, p.idx, SHADOW_NONPRESENT_VALUE, vcpu);
    }
    if (wasValid && sp.hasGptes) this.unaccountShadowed(sp);
    if (sp.unsync) unlinkUnsyncUnchecked(this, sp);
    let zappedRoot = false;
    this.activePages.delete(sp);
    if (sp.rootCount === 0) {
      n++;
      if (!invalid.includes(sp)) {
        invalid.push(sp);
        // kvm_unaccount_mmu_page (mmu.c:2684) only here: a root still in use stays counted in
        // n_used_mmu_pages until its last reference goes and it is prepared again (mmu.c:2685-2697).
        this.nUsedMmuPages--;
        this.vm.stats.inc('mmu_pages', -1);
        this.accountShadowPagesStat(-1);
      }
    } else {
      // A root in use stays allocated until its last vCPU drops it; vCPUs must reload.
      zappedRoot = !this.isObsoleteUnchecked(sp);
    }
    // mmu.c:2700-2701: a zapped page leaves the possible-NX-huge-pages list (nx_lpage_splits drops).
    if (sp.nxHugePageDisallowed) this.vm.possibleNxHugePages.unaccount(sp);
    sp.role = sp.role.withUnchecked({ invalid: true });
    if (zappedRoot) this.freeObsoleteRootsRequest++;
    this.vm.events.recordUnchecked({ kind: 'sp_zap', vcpu, gpa: BigInt(sp.gfn) << 12n, level: sp.level, outcome: `role 0x${sp.role.word.toString(16)}${sp.rootCount > 0 ? ' (root in use)' : ''}` });
    return n;
  }

  /** `mmu_page_zap_pte`. */
  zapPteUnchecked(sp: ShadowPage, i: number, invalid: ShadowPage[] | null, vcpu: number): number {
    const pte = this.readSpteUnchecked(sp, i);
    if (isShadowPresent(pte)) {
      if (isLastSpte(pte, sp.level)) {
        this.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, vcpu);
      } else {
        const child = this.childOfUnchecked(pte);
        this.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, vcpu);
        // Nested TDP: parentless L2 pages are unlikely to be used again; zap them now.
        if (this.vm.tdpEnabled && invalid !== null && child.role.guestMode && child.parentPtes.length === 0 && !child.role.invalid) {
          return this.prepareZapUnchecked(child, invalid, vcpu);
        }
      }
    } else if (isMmioSpte(this.config, pte)) {
      this.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, vcpu);
    }
    return 0;
  }

  /** `mmu_zap_unsync_children`. */
  private zapUnsyncChildren(parent: ShadowPage, invalid: ShadowPage[], vcpu: number): number {
    if (parent.level === 1) return 0;
    let n = 0;
    for (;;) {
      const pages = unsyncWalkUnchecked(this, parent);
      if (pages.length === 0) break;
      for (const p of pages) {
        this.prepareZapUnchecked(p.sp, invalid, vcpu);
        clearParentsUnchecked(p.path);
        n++;
      }
    }
    return n;
  }

  /** `kvm_mmu_commit_zap_page`: one remote flush, then free. */
  commitZapUnchecked(invalid: ShadowPage[], vcpu: number): void {
    if (invalid.length === 0) return;
    this.tlbFlushUnchecked(vcpu, `zap ${invalid.length} shadow page(s)`);
    for (const sp of invalid) this.freePage(sp);
    invalid.length = 0;
  }

  private freePage(sp: ShadowPage): void {
    if (sp.parentPtes.length !== 0 || sp.rootCount !== 0) {
      throw new InvariantViolation('free-linked-sp', `${sp} freed while still linked or loaded`, String(sp.rootCount));
    }
    const key = bucketOf(sp.gfn);
    const b = this.hash.get(key)!;
    b.splice(b.indexOf(sp), 1);
    if (b.length === 0) this.hash.delete(key);
    this.pages.delete(sp.pfn);
    this.activePages.delete(sp);
    this.vm.host.freeTable(sp.pfn);
  }

  zapPage(sp: ShadowPage, vcpu = -1): void {
    this.checkPageVcpu(sp, vcpu);
    const invalid: ShadowPage[] = [];
    this.prepareZapUnchecked(sp, invalid, vcpu);
    this.commitZapUnchecked(invalid, vcpu);
  }

  /** `mmu_free_root_page`: drop a vCPU's reference; a zapped root goes with its last one. */
  putRootUnchecked(sp: ShadowPage, invalid: ShadowPage[], vcpu: number): void {
    sp.rootCount--;
    if (sp.rootCount < 0) throw new InvariantViolation('root-count', `${sp} root count below zero`, String(sp.rootCount));
    if (sp.rootCount === 0 && sp.role.invalid) this.prepareZapUnchecked(sp, invalid, vcpu);
  }

  /** `make_mmu_pages_available`: below 5 free pages, zap the oldest non-root pages to get 25. */
  makeMmuPagesAvailableUnchecked(vcpu: number): void {
    const avail = this.maxMmuPages - this.nUsedMmuPages;
    if (avail >= MIN_FREE_MMU_PAGES) return;
    this.zapOldestUnchecked(REFILL_PAGES - avail, vcpu);
  }

  /**
   * `kvm_mmu_zap_oldest_mmu_pages` (mmu.c:2748-2781). KVM restarts its list walk when a prepare
   * zapped children ("unstable"); a Set's iteration stays valid when the pages it visits delete
   * others, and every page before the current one is a skipped root, so one pass visits what KVM's
   * restarts visit.
   */
  private zapOldestUnchecked(nrToZap: number, vcpu: number): number {
    const invalid: ShadowPage[] = [];
    let total = 0;
    for (const sp of this.activePages) {
      if (sp.rootCount > 0) continue;
      total += this.prepareZapUnchecked(sp, invalid, vcpu);
      if (total >= nrToZap) break;
    }
    this.commitZapUnchecked(invalid, vcpu);
    this.vm.stats.inc('mmu_recycled', total);
    return total;
  }

  /** `kvm_mmu_zap_all_fast`: flip the generation, make vCPUs drop obsolete roots, zap old pages oldest first. */
  zapAllFast(vcpu = -1): number {
    checkVcpuArg('vcpu', vcpu);
    this.mmuValidGen ^= 1;
    this.freeObsoleteRootsRequest++;
    const invalid: ShadowPage[] = [];
    let n = 0;
    // kvm_zap_obsolete_pages (mmu.c:6561-6605) restarts after a prepare that zapped children; as in
    // zapOldest, one pass over the Set visits the same pages. Its WARN_ON_ONCE(sp->role.invalid)
    // skip (mmu.c:6585-6586) has no twin: prepareZap takes every page off the list, a root in use
    // too (list_del, mmu.c:2690), and nothing puts one back.
    for (const sp of this.activePages) {
      if (!this.isObsoleteUnchecked(sp)) break; // FIFO: nothing obsolete after the first new page
      n++;
      this.prepareZapUnchecked(sp, invalid, vcpu);
    }
    this.commitZapUnchecked(invalid, vcpu);
    this.vm.events.recordUnchecked({ kind: 'zap', vcpu, outcome: `fast zap-all: generation ${this.mmuValidGen}, ${n} obsolete pages` });
    return n;
  }

  /** `kvm_mmu_zap_all` (its callers need no count). */
  zapAll(vcpu = -1): void {
    checkVcpuArg('vcpu', vcpu);
    const invalid: ShadowPage[] = [];
    for (;;) {
      const sp = [...this.activePages].find((p) => !p.role.invalid);
      if (sp === undefined) break;
      this.prepareZapUnchecked(sp, invalid, vcpu);
    }
    this.commitZapUnchecked(invalid, vcpu);
  }

  /** `kvm_zap_gfn_range` for the shadow MMU: drop every leaf mapping a gfn in [start, end). */
  private zapGfnRangeUnchecked(start: number, end: number, vcpu: number): number {
    let n = 0;
    const hits: SptePtr[] = [];
    for (const [gfn, level, p] of this.rmap.entries()) {
      const span = 2 ** (9 * (level - 1));
      if (gfn < end && gfn + span > start) hits.push(p);
      void level;
    }
    for (const p of hits) {
      this.setSpteUnchecked(p.sp, p.idx, SHADOW_NONPRESENT_VALUE, vcpu);
      n++;
    }
    if (n > 0) this.tlbFlushUnchecked(vcpu, 'zap gfn range');
    return n;
  }

  /**
   * `kvm_rmap_age_gfn_range` (`kvm_age_gfn` / `kvm_test_age_gfn` for rmaps): every leaf mapping a
   * gfn in [start, end) that is accessed is aged — A cleared with A/D, otherwise marked for access
   * tracking — without a TLB flush. `testOnly` stops at the first young leaf and changes nothing.
   * Returns the number of young leaves (KVM returns whether there was one).
   */
  ageRange(start: number, end: number, testOnly = false, vcpu = -1): number {
    checkGfnRange(start, end);
    checkBool('testOnly', testOnly);
    checkVcpuArg('vcpu', vcpu);
    let young = 0;
    for (const [gfn, level, p] of [...this.rmap.entries()]) {
      if (gfn >= end || gfn + 2 ** (9 * (level - 1)) <= start) continue;
      const spte = this.readSpteUnchecked(p.sp, p.idx);
      if (!isAccessed(this.config, spte)) continue;
      if (testOnly) return 1;
      this.setSpteUnchecked(p.sp, p.idx, markSpteForAccessTrack(this.config, spte), vcpu);
      young++;
    }
    return young;
  }

  /**
   * Dirty logging without PML (`kvm_mmu_slot_remove_write_access` / `kvm_mmu_write_protect_pt_masked`):
   * clear W, keep MMU-writable, in every leaf mapping a gfn in [start, end). Write faults then go to
   * `mmu_set_spte`, which logs the gfn; huge pages are not rebuilt while the slot logs.
   */
  wrprotRange(start: number, end: number, vcpu = -1): void {
    checkGfnRange(start, end);
    checkVcpuArg('vcpu', vcpu);
    for (const [gfn, level, p] of [...this.rmap.entries()]) {
      const span = 2 ** (9 * (level - 1));
      if (gfn >= end || gfn + span <= start) continue;
      const spte = this.readSpteUnchecked(p.sp, p.idx);
      if (!isWritable(spte)) continue;
      this.setSpteUnchecked(p.sp, p.idx, spte & ~PT_WRITABLE_MASK, vcpu);
    }
    // No flush: MMU-writable stays (spte.h:507); the dirty-log callers flush (x86.c:13297, kvm_main.c:2282).
  }

  /**
   * `kvm_rmap_zap_collapsible_sptes` (mmu.c:7121-7130), the rmap half of `kvm_mmu_recover_huge_pages`
   * when dirty logging stops: over the slot's 4K and 2M rmaps, every leaf of a *direct* page whose
   * level is below what its gfn may now be mapped with (`kvm_mmu_max_mapping_level`) is zapped
   * (`kvm_mmu_zap_collapsible_spte`, mmu.c:7084-7118), so the next fault maps it huge. Leaves of
   * indirect pages stay: the guest maps those gfns with 4K pages. One flush for the slot if any
   * went (`kvm_flush_remote_tlbs_memslot`). Returns the leaves zapped.
   */
  zapCollapsibleSptes(slot: Memslot, vcpu = -1): number {
    checkVmSlot('slot', slot, (g) => this.vm.slotOfGfn(g));
    checkVcpuArg('vcpu', vcpu);
    const start = slot.baseGfn;
    const end = start + slot.npages;
    const hits: SptePtr[] = [];
    for (const [gfn, level, p] of this.rmap.entries()) {
      // walk_slot_rmaps(…, PG_LEVEL_4K, KVM_MAX_HUGEPAGE_LEVEL - 1, …): levels 1 and 2.
      if (level > 2 || gfn >= end || gfn < start - (start % 2 ** (9 * (level - 1)))) continue;
      // The level limit of the leaf's own slot: the test above is what keeps the walk to this slot.
      if (p.sp.role.direct && p.sp.level < maxMappingLevel(this.vm.slotOfGfn(gfn)!, p.sp.gfn, 5, this.config.maxHugePageLevel)) hits.push(p);
    }
    for (const p of hits) this.setSpteUnchecked(p.sp, p.idx, SHADOW_NONPRESENT_VALUE, vcpu);
    if (hits.length > 0) this.tlbFlushUnchecked(vcpu, `zap collapsible SPTEs in ${slot.name}`, start);
    return hits.length;
  }

  /** `kvm_mmu_zap_memslot` (no fast-zap quirk): unmap the range and zap the pages with gPTEs inside. */
  zapSlot(slot: Memslot, vcpu = -1): number {
    checkVmSlot('slot', slot, (g) => this.vm.slotOfGfn(g));
    checkVcpuArg('vcpu', vcpu);
    const a = slot.baseGfn;
    const b = slot.baseGfn + slot.npages;
    let n = this.zapGfnRangeUnchecked(a, b, vcpu);
    const invalid: ShadowPage[] = [];
    for (const sp of [...this.activePages]) {
      if (sp.role.invalid || !sp.hasGptes || sp.gfn < a || sp.gfn >= b) continue;
      this.prepareZapUnchecked(sp, invalid, vcpu);
      n++;
    }
    this.commitZapUnchecked(invalid, vcpu);
    return n;
  }

  /** `kvm_mmu_unprotect_gfn_and_retry`'s zap: every page with gPTEs at gfn. */
  unprotectGfn(gfn: number, vcpu: number): boolean {
    checkGfn('gfn', gfn);
    checkVcpuArg('vcpu', vcpu);
    const invalid: ShadowPage[] = [];
    let any = false;
    for (const sp of this.validSpsWithGptesUnchecked(gfn)) {
      this.prepareZapUnchecked(sp, invalid, vcpu);
      any = true;
    }
    this.commitZapUnchecked(invalid, vcpu);
    return any;
  }

  /** Non-obsolete pages for (gfn, role) — for tests and invariants. */
  find(gfn: number, pred: (sp: ShadowPage) => boolean = () => true): ShadowPage[] {
    checkGfn('gfn', gfn);
    if (typeof pred !== 'function') refuse('pred', 'function-type', 'must be a function', pred);
    const b = this.hash.get(bucketOf(gfn)) ?? [];
    return b.filter((sp) => sp.gfn === gfn && !this.isObsoleteUnchecked(sp) && pred(sp));
  }

  // ---- the public edge ----
  // Each entry below checks its arguments (check-shadow-args.ts) and calls its `…Unchecked` twin,
  // which the engine's own loops call directly: their pages, indices and SPTEs are the MMU's own.

  private own(name: string, sp: unknown): ShadowPage {
    return checkOwnPage(name, sp, this.pages);
  }

  private checkPageVcpu(sp: unknown, vcpu: unknown): ShadowPage {
    const p = this.own('sp', sp);
    checkVcpuArg('vcpu', vcpu);
    return p;
  }

  readSpte(sp: ShadowPage, idx: number): bigint {
    return this.readSpteUnchecked(this.own('sp', sp), checkSpteIndex('idx', idx));
  }

  isNonpresentValue(sp: ShadowPage, idx: number): boolean {
    return this.isNonpresentValueUnchecked(this.own('sp', sp), checkSpteIndex('idx', idx));
  }

  /** Only a special root's frame (PAE root, pml4_root, pml5_root): a shadow page's entries change through setSpte. */
  writeSpecialRoot(pfn: number, idx: number, v: bigint): void {
    // isTableFrame refuses a pfn that is no frame number (below 2^40) itself.
    if (!this.vm.host.isTableFrame(pfn) || this.pages.has(pfn)) refuse('pfn', 'special-root', 'must be a host table frame that is no shadow page (a PAE, PML4 or PML5 root)', pfn);
    this.writeSpecialRootUnchecked(pfn, checkSpteIndex('idx', idx), checkSpteValue('v', v));
  }

  childOf(spte: bigint): ShadowPage {
    checkSpteValue('spte', spte);
    const c = this.pages.get(spteToPfn(spte));
    if (!isShadowPresent(spte) || c === undefined) refuse('spte', 'child-sp', 'must be a present SPTE that links a shadow page of this MMU', spte);
    return c;
  }

  pageAt(pfn: number): ShadowPage | undefined {
    return this.pageAtUnchecked(checkInt('pfn', pfn, { max: 2 ** 40 - 1 }));
  }

  isObsolete(sp: ShadowPage): boolean {
    return this.isObsoleteUnchecked(checkShadowPage('sp', sp));
  }

  isWriteTracked(gfn: number): boolean {
    return this.isWriteTrackedUnchecked(checkGfn('gfn', gfn));
  }

  writeTrackCount(gfn: number): number {
    return this.writeTrackCountUnchecked(checkGfn('gfn', gfn));
  }

  validSpsWithGptes(gfn: number): ShadowPage[] {
    return this.validSpsWithGptesUnchecked(checkGfn('gfn', gfn));
  }

  /**
   * The checked SPTE change: besides the types, a present table link must name a live page one
   * level down (otherwise the parent-list update fails after the write), and a leaf can only be
   * at levels 1-3 (KVM_MAX_HUGEPAGE_LEVEL).
   */
  setSpte(sp: ShadowPage, idx: number, next: bigint, vcpu: number): bigint {
    const p = this.own('sp', sp);
    checkSpteIndex('idx', idx);
    checkSpteValue('next', next);
    checkVcpuArg('vcpu', vcpu);
    if (isShadowPresent(next)) {
      if (!isLastSpte(next, p.level)) {
        const c = this.pages.get(spteToPfn(next));
        if (c === undefined || c.level !== p.level - 1) refuse('next', 'child-sp', `must link a shadow page of level ${p.level - 1} of this MMU`, next);
      } else if (p.level > 3) refuse('next', 'leaf-level', `is a leaf at level ${p.level}; leaves exist at levels 1-3 only`, next, PageSizeError);
    }
    return this.setSpteUnchecked(p, idx, next, vcpu);
  }

  lpageDisallowed(gfn: number, level: number): boolean {
    return this.lpageDisallowedUnchecked(checkGfn('gfn', gfn), checkPageLevel('level', level, 1, 3));
  }

  markDirtyIfWritable(gfn: number, spte: bigint): void {
    this.markDirtyIfWritableUnchecked(checkGfn('gfn', gfn), checkSpteValue('spte', spte));
  }

  tlbFlush(vcpu: number, why: string, gfn?: number, level?: number): void {
    checkVcpuArg('vcpu', vcpu);
    checkReason('why', why);
    if (gfn !== undefined) checkGfn('gfn', gfn);
    if (level !== undefined) checkPageLevel('level', level);
    this.tlbFlushUnchecked(vcpu, why, gfn, level);
  }

  private checkCtx(ctx: unknown): ShadowContext {
    return checkContext('ctx', ctx, this.vm.guestMem);
  }

  getShadowPage(ctx: ShadowContext, gfn: number, role: PageRole): ShadowPage {
    const c = this.checkCtx(ctx);
    checkGfn('gfn', gfn);
    checkRole('role', role, this.vm.config.kvm);
    return this.getShadowPageUnchecked(c, gfn, role);
  }

  private checkChildArgs(parent: unknown, idx: unknown, direct: unknown, access: unknown, own: boolean): ShadowPage {
    const p = own ? this.own('parent', parent) : checkShadowPage('parent', parent);
    if (p.level < 2) refuse('parent', 'child-level', 'must be above level 1 (a level-1 page has no child pages)', p.level, PageSizeError);
    checkSpteIndex('idx', idx);
    checkBool('direct', direct);
    checkAccess('access', access, this.config.acc.ALL);
    return p;
  }

  childRole(parent: ShadowPage, idx: number, direct: boolean, access: number): PageRole {
    return this.childRoleUnchecked(this.checkChildArgs(parent, idx, direct, access, false), idx, direct, access);
  }

  getChildSp(ctx: ShadowContext, parent: ShadowPage, idx: number, gfn: number, direct: boolean, access: number): ShadowPage | null {
    const c = this.checkCtx(ctx);
    const p = this.checkChildArgs(parent, idx, direct, access, true);
    checkGfn('gfn', gfn);
    return this.getChildSpUnchecked(c, p, idx, gfn, direct, access);
  }

  linkShadowPage(parent: ShadowPage, idx: number, child: ShadowPage, vcpu: number): void {
    const p = this.own('parent', parent);
    checkSpteIndex('idx', idx);
    const c = this.own('child', child);
    if (c.level !== p.level - 1) refuse('child', 'child-level', `must be a page of level ${p.level - 1} (one below its parent)`, c.level, PageSizeError);
    checkVcpuArg('vcpu', vcpu);
    this.linkShadowPageUnchecked(p, idx, c, vcpu);
  }

  accountNxHugePage(sp: ShadowPage, nxHugePagePossible: boolean): void {
    this.accountNxHugePageUnchecked(this.own('sp', sp), checkBool('nxHugePagePossible', nxHugePagePossible));
  }

  writeProtectGfn(gfn: number, vcpu: number): boolean {
    return this.writeProtectGfnUnchecked(checkGfn('gfn', gfn), checkVcpuArg('vcpu', vcpu));
  }

  prepareZap(sp: ShadowPage, invalid: ShadowPage[], vcpu: number): number {
    const p = this.own('sp', sp);
    checkPageList('invalid', invalid, this.pages);
    checkVcpuArg('vcpu', vcpu);
    return this.prepareZapUnchecked(p, invalid, vcpu);
  }

  zapPte(sp: ShadowPage, i: number, invalid: ShadowPage[] | null, vcpu: number): number {
    const p = this.own('sp', sp);
    checkSpteIndex('i', i);
    if (invalid !== null) checkPageList('invalid', invalid, this.pages);
    checkVcpuArg('vcpu', vcpu);
    return this.zapPteUnchecked(p, i, invalid, vcpu);
  }

  /** Only pages prepared for freeing (invalid, unlinked, no root reference): freePage refuses others after the flush. */
  commitZap(invalid: ShadowPage[], vcpu: number): void {
    const l = checkPageList('invalid', invalid, this.pages);
    l.forEach((sp, i) => {
      if (!sp.role.invalid || sp.parentPtes.length !== 0 || sp.rootCount !== 0) refuse(`invalid[${i}]`, 'zap-not-prepared', 'must be a page prepareZap put on the list (invalid, unlinked, no root reference)', sp);
    });
    this.commitZapUnchecked(l, checkVcpuArg('vcpu', vcpu));
  }

  /** A root reference to drop: the page must hold one (the count went below zero before the check). */
  putRoot(sp: ShadowPage, invalid: ShadowPage[], vcpu: number): void {
    const p = this.own('sp', sp);
    if (p.rootCount < 1) refuse('sp', 'root-count', 'holds no root reference to drop', p);
    checkPageList('invalid', invalid, this.pages);
    this.putRootUnchecked(p, invalid, checkVcpuArg('vcpu', vcpu));
  }

  makeMmuPagesAvailable(vcpu: number): void {
    this.makeMmuPagesAvailableUnchecked(checkVcpuArg('vcpu', vcpu));
  }

  zapOldest(nrToZap: number, vcpu: number): number {
    checkInt('nrToZap', nrToZap, { max: 2 ** 32 - 1 });
    return this.zapOldestUnchecked(nrToZap, checkVcpuArg('vcpu', vcpu));
  }

  zapGfnRange(start: number, end: number, vcpu = -1): number {
    checkGfnRange(start, end);
    return this.zapGfnRangeUnchecked(start, end, checkVcpuArg('vcpu', vcpu));
  }

  /** Leaves counted by level over every allocated page (for the pages_* cross-check). */
  leafCounts(): number[] {
    const counts = [0, 0, 0, 0];
    for (const sp of this.pages.values()) {
      for (let i = 0; i < 512; i++) {
        const s = this.readSpteUnchecked(sp, i);
        if (isShadowPresent(s) && isLastSpte(s, sp.level) && sp.level <= 3) counts[sp.level]!++;
      }
    }
    return counts;
  }
}
