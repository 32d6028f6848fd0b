/**
 * The TDP MMU (`tdp_mmu.c`): direct, non-nested GPA → HPA tables in EPT or NPT format, shared by
 * every vCPU whose root role matches. Every SPTE change goes through `setSpte` — KVM's
 * `tdp_mmu_set_spte` + `handle_changed_spte` — which keeps the page statistics, emits the event
 * and, in checking mode, asserts the invariants of reference Appendix A.
 */
import { fillEntries64Unchecked, readEntry64Unchecked, tableWordUnchecked, writeEntry64Unchecked } from '../memory/table-entry';
import { MmulabError } from '../errors';
import type { PageRole } from '../role/page-role';
import type { Counters, VmStatName, VcpuStatName } from '../events/stats';
import type { EventLog } from '../events/event-log';
import type { SpteConfig } from '../spte/spte-config';
import { PT_PAGE_SIZE_MASK, PT_WRITABLE_MASK, SHADOW_NONPRESENT_VALUE, SPTE_MMU_PRESENT_MASK } from '../spte/spte-config';

import { makeHugeSpte, makeSmallSpte } from '../spte/huge-page-spte';
import type { ExternalPageTableHooks } from './external-hooks';
import type { PossibleNxHugePages } from './possible-nx-huge-pages';
import { KVM_DIRECT_ROOTS, KVM_VALID_ROOTS, rootMatch, type RootTypes } from './root-types';
import {
  isAccessAllowed, isAccessTrack, isAccessed, isFrozen, isHostWritable, isLargePte, isLastSpte, isMmioSpte,
  isMmuWritable, isRsvdSpte, isShadowPresent, isWritable, kvmMmuPageAdNeedWriteProtect, leafSpteChangeNeedsTlbFlush, makeMmioSpte, makeNonleafSpte, makeSpte,
  markSpteForAccessTrack, restoreAccTrackSpte, spteAdEnabled, spteToPfn,
} from '../spte/spte';
import type { HostMemory } from '../vm/host-memory';
import { maxMappingLevel, memslotPfn, memslotPrivatePfn, type Memslot } from '../vm/memslot';
import type { PageFault } from './page-fault';
import { RET_PF, type RetPf } from './ret-pf';
// The MMU's loops index with levels and gfns of their own tables: the unchecked twins.
import { TdpPage, pagesPerEntryUnchecked as pagesPerEntry, spteIndexUnchecked as spteIndex } from './tdp-page';
import {
  GFN_LIMIT, checkCounters, checkFunction, checkGfn, checkGfnRange, checkHugeLevel, checkPageFault, checkRootRole, checkRootTypes, checkSpteIndex,
  checkSpteValue, checkString, checkTdpVmContext, checkVcpuIndex, refuse,
} from './check-tdp-args';
import { checkBool, checkInt, checkArray } from '../validate/checks';

/** The SPTE bits leafLevelUnchecked tests, as numbers: both lie in an entry's low 32 bits. */
const SPTE_PRESENT_LO = Number(SPTE_MMU_PRESENT_MASK);
const PAGE_SIZE_LO = Number(PT_PAGE_SIZE_MASK);

/** A broken invariant: a bug in the model (or KVM), never bad user input. */
export class InvariantViolation extends MmulabError {}

/** What the TDP MMU needs from its VM. */
export interface TdpVmContext {
  readonly config: SpteConfig;
  readonly host: HostMemory;
  readonly stats: Counters<VmStatName>;
  readonly events: EventLog;
  readonly checking: boolean;
  readonly mmioGeneration: number;
  slotOfGfn(gfn: number): Memslot | undefined;
  /** Shadow MMU write tracking (a gfn that holds a shadowed guest page table). */
  isGfnWriteTracked(gfn: number): boolean;
  /** `mmu_try_to_unsync_pages` (true: keep the SPTE read-only); absent = write tracking only. */
  mmuTryToUnsyncPages?(gfn: number, synchronizing: boolean, prefetch: boolean): boolean;
  markDirty(slot: Memslot, gfn: number): void;
  /** TDX: the S-EPT hooks mirror-root changes are reflected through (absent: no mirrored TDP). */
  readonly external?: ExternalPageTableHooks | undefined;
  /** TDX: `kvm_gfn_direct_bits` (the shared bit as a gfn); 0 or absent otherwise. */
  readonly gfnDirectBits?: number;
  /** Private memory: `kvm_mem_is_private` and the KVM_LPAGE_MIXED_FLAG level, unchecked (the MMU passes gfns it computed); absent: no private memory. */
  readonly memAttributes?: { isPrivateUnchecked(gfn: number): boolean; uniformLevelUnchecked(gfn: number): number } | undefined;
  /** `kvm->arch.possible_nx_huge_pages`, shared with the shadow MMU. */
  readonly possibleNxHugePages: Pick<PossibleNxHugePages<TdpPage>, 'track' | 'unaccount'>;
  /** KVM_REQ_TLB_FLUSH to every vCPU (their TLB models); absent: no TLB model to flush. */
  flushRemoteTlbs?(): void;
}

const LEVEL_STAT: Record<number, VmStatName> = { 1: 'pages_4k', 2: 'pages_2m', 3: 'pages_1g' };

export class TdpMmu {
  private readonly vm: TdpVmContext;
  /** `kvm->arch.tdp_mmu_roots`, newest first. */
  readonly roots: TdpPage[] = [];
  private readonly pages = new Map<number, TdpPage>();
  constructor(vm: TdpVmContext) {
    checkTdpVmContext('vm', vm);
    this.vm = vm;
  }

  // ---- the public edge: checked entries; the MMU's own loops and the vCPU fault path call the
  // …Unchecked twins with pages, faults and indices they already own ----

  /** A table of this MMU (a page from another MMU, a freed one or a copy would corrupt its frames). */
  private page(name: string, v: unknown): TdpPage {
    if (!(v instanceof TdpPage) || this.pages.get(v.pfn) !== v) refuse(name, 'tdp-page', 'must be a live page of this TDP MMU', v);
    return v;
  }

  private root(name: string, v: unknown): TdpPage {
    const r = this.page(name, v);
    if (r.parent !== null) refuse(name, 'tdp-root', 'must be a root of this TDP MMU', r.pfn);
    return r;
  }

  /**
   * One of this VM's memslots (a copy would let the MMU's bookkeeping diverge from the VM's): its
   * base gfn, checked here first, finds it (a gfn lookup would refuse a bad one as a gfn).
   */
  private isOwnSlot(v: unknown): v is Memslot {
    const b = (v as Partial<Memslot> | null | undefined)?.baseGfn;
    return Number.isSafeInteger(b) && (b as number) >= 0 && (b as number) < GFN_LIMIT && this.vm.slotOfGfn(b as number) === v;
  }

  private slot(name: string, v: unknown): Memslot {
    if (!this.isOwnSlot(v)) refuse(name, 'memslot', 'must be a memslot of this VM', v);
    return v;
  }

  private fault(name: string, v: unknown): PageFault {
    return checkPageFault(name, v, (s) => this.isOwnSlot(s));
  }

  readSpte(sp: TdpPage, idx: number): bigint {
    return this.readSpteUnchecked(this.page('sp', sp), checkSpteIndex('idx', idx));
  }

  childOf(spte: bigint): TdpPage {
    return this.childOfUnchecked(checkSpteValue('spte', spte));
  }

  putRoot(root: TdpPage, vcpu = -1): void {
    this.putRootUnchecked(this.root('root', root), checkVcpuIndex('vcpu', vcpu));
  }

  /** The SPTE change function: `old` must be the entry's current value (KVM passes iter->old_spte). */
  setSpte(sp: TdpPage, idx: number, old: bigint, next: bigint, vcpu: number): number {
    this.page('sp', sp);
    checkSpteIndex('idx', idx);
    if (checkSpteValue('old', old) !== this.readSpteUnchecked(sp, idx)) refuse('old', 'stale-old-spte', 'must be the current value of the SPTE', old);
    return this.setSpteUnchecked(sp, idx, old, checkSpteValue('next', next), checkVcpuIndex('vcpu', vcpu));
  }

  gfnBitsOf(root: TdpPage): number {
    return this.gfnBitsOfUnchecked(this.root('root', root));
  }

  tlbFlush(vcpu: number, why: string, gfn?: number, level?: number): void {
    checkVcpuIndex('vcpu', vcpu);
    checkString('why', why);
    if (gfn !== undefined) checkGfn('gfn', gfn);
    if (level !== undefined) checkInt('level', level, { min: 1, max: 5 });
    this.tlbFlushUnchecked(vcpu, why, gfn, level);
  }

  maxMappingLevel(slot: Memslot, gfn: number, maxLevel: number): number {
    // The gfn must lie in the slot: memslot.ts maxMappingLevel checks that (checkSlotGfn).
    return this.maxMappingLevelUnchecked(this.slot('slot', slot), gfn, checkHugeLevel('maxLevel', maxLevel));
  }

  hugepageAdjust(fault: PageFault): void {
    this.hugepageAdjustUnchecked(this.fault('fault', fault));
  }

  map(fault: PageFault, root: TdpPage, vcpu: number, vcpuStats: Counters<VcpuStatName>): RetPf {
    this.faultArgs(fault, root, vcpu, vcpuStats);
    return this.mapUnchecked(fault, root, vcpu, vcpuStats);
  }

  fastPageFault(fault: PageFault, root: TdpPage, vcpu: number, vcpuStats: Counters<VcpuStatName>): RetPf {
    this.faultArgs(fault, root, vcpu, vcpuStats);
    return this.fastPageFaultUnchecked(fault, root, vcpu, vcpuStats);
  }

  private faultArgs(fault: unknown, root: unknown, vcpu: unknown, vcpuStats: unknown): void {
    this.fault('fault', fault);
    this.root('root', root);
    checkVcpuIndex('vcpu', vcpu);
    checkCounters('vcpuStats', vcpuStats);
  }

  lastSpte(root: TdpPage, gfn: number): [TdpPage, number, number, bigint] {
    return this.lastSpteUnchecked(this.root('root', root), checkGfn('gfn', gfn));
  }

  /** Range operations: [start, end) natural gfns, the vCPU (-1: the VM). */
  private rangeArgs(start: unknown, end: unknown, vcpu: unknown): void {
    checkGfnRange(start, end);
    checkVcpuIndex('vcpu', vcpu);
  }

  get pageCount(): number {
    return this.pages.size;
  }

  // ---- raw SPTE access: halves in the host frame ----

  private readSpteUnchecked(sp: TdpPage, idx: number): bigint {
    return readEntry64Unchecked(this.vm.host.frames, sp.pfn, idx);
  }

  private writeRaw(sp: TdpPage, idx: number, v: bigint): void {
    writeEntry64Unchecked(this.vm.host.frames, sp.pfn, idx, v);
  }

  private allocPage(role: PageRole, gfn: number, parent: TdpPage | null, parentIndex: number): TdpPage {
    const pfn = this.vm.host.allocTable();
    const sp = new TdpPage(role, gfn, pfn, parent, parentIndex);
    // Every entry of a new table starts as SHADOW_NONPRESENT_VALUE (bit 63: suppress #VE for EPT).
    fillEntries64Unchecked(this.vm.host.frames, pfn, SHADOW_NONPRESENT_VALUE);
    this.pages.set(pfn, sp);
    // Not accounted yet: tdp_account_mmu_page runs once the table is linked (linkSp); roots are
    // never accounted (tdp_mmu.c:293-294).
    return sp;
  }

  /**
   * `tdp_mmu_link_sp` (tdp_mmu.c:1213-1230): point the entry at a new child table; the table is
   * accounted only once the entry is set. Returns 0, or the external hook's error (mirror roots):
   * then nothing changed and the caller frees the child (`freeUnlinked`).
   */
  private linkSp(sp: TdpPage, idx: number, old: bigint, child: TdpPage, vcpu: number): number {
    const r = this.setSpteUnchecked(sp, idx, old, makeNonleafSpte(this.vm.config, child.pfn, sp.role.adDisabled), vcpu);
    if (r === 0) this.vm.stats.inc('tdp_mmu_pages');
    return r;
  }

  /** `tdp_mmu_free_sp` (tdp_mmu.c:56-61) of a table that was never linked: nothing to unaccount or untrack. */
  private freeUnlinked(sp: TdpPage): void {
    this.pages.delete(sp.pfn);
    this.vm.host.freeTable(sp.pfn);
  }

  private freePage(sp: TdpPage): void {
    // tdp_mmu_unlink_sp: a freed table can no longer be recovered as an NX huge page.
    if (sp.nxHugePageDisallowed) this.vm.possibleNxHugePages.unaccount(sp);
    this.pages.delete(sp.pfn);
    this.vm.host.freeTable(sp.pfn);
    // tdp_mmu_unlink_sp → tdp_unaccount_mmu_page (tdp_mmu.c:349-351): linked tables only.
    if (sp.parent !== null) this.vm.stats.inc('tdp_mmu_pages', -1);
  }

  private childOfUnchecked(spte: bigint): TdpPage {
    const c = this.pages.get(spteToPfn(spte));
    if (c === undefined) throw new InvariantViolation('child-sp', 'a non-leaf SPTE points at no TDP page', '0x' + spte.toString(16));
    return c;
  }

  // ---- roots (§9.1) ----

  /** `kvm_tdp_mmu_alloc_root`: reuse a valid root with the same role.word, else allocate (refcount 2). */
  getRoot(role: PageRole, vcpu: number): TdpPage {
    checkRootRole('role', role);
    checkVcpuIndex('vcpu', vcpu);
    for (const r of this.roots) {
      if (!r.role.invalid && r.role.word === role.word) {
        r.refcount++;
        return r;
      }
    }
    const r = this.allocPage(role, 0, null, 0);
    r.refcount = 2; // one for the vCPU, one held by the TDP MMU until invalidated
    this.roots.unshift(r);
    this.vm.events.recordUnchecked({ kind: 'root_alloc', vcpu, level: role.level, outcome: `role 0x${role.word.toString(16)}` });
    return r;
  }

  /** `kvm_tdp_mmu_put_root`: the last reference (only possible once invalid) frees the tree. */
  private putRootUnchecked(root: TdpPage, vcpu = -1): void {
    root.refcount--;
    if (root.refcount > 0) return;
    if (!root.role.invalid) throw new InvariantViolation('root-refcount', 'a valid root lost its last reference', String(root.pfn));
    // KVM frees the tree without zapping (tdp_mmu.c:79-95): every path that invalidates a root has
    // zapped it already, so this exclusive zap finds nothing present and changes nothing.
    this.zapTree(root, -1, false);
    this.roots.splice(this.roots.indexOf(root), 1);
    this.freePage(root);
    this.vm.events.recordUnchecked({ kind: 'root_free', vcpu, level: root.level });
  }

  /**
   * `kvm_tdp_mmu_invalidate_roots` + `kvm_tdp_mmu_zap_invalidated_roots` (fast zap-all, §8.12).
   * `shared`: the zap runs under the MMU lock for read, as `kvm_mmu_zap_all_fast` does (mmu.c:6682);
   * false for `kvm_mmu_uninit_tdp_mmu`'s exclusive zap (tdp_mmu.c:1040-1048).
   * No remote TLB flush: neither function flushes ("A TLB flush is not necessary as KVM performs a
   * local TLB flush when allocating a new root", tdp_mmu.c:1056-1064); each vCPU drops the invalid
   * root and flushes the new root's context when it loads it (`kvm_mmu_load`, mmu.c:5919).
   */
  invalidateAllRoots(types: RootTypes = KVM_VALID_ROOTS, shared = true): number {
    checkRootTypes('types', types);
    checkBool('shared', shared);
    let n = 0;
    for (const r of [...this.roots]) {
      if (r.role.invalid || !rootMatch(r, types)) continue;
      r.role = r.role.withUnchecked({ invalid: true });
      this.zapTree(r, -1, shared);
      n++;
      this.putRootUnchecked(r); // drop the TDP MMU's own reference
    }
    return n;
  }

  // ---- the one SPTE-change function (§9.3 handle_changed_spte) ----

  /**
   * Returns 0, or — only when a mirror SPTE would become present — the external hook's error
   * (`tdp_mmu_set_spte_atomic`, tdp_mmu.c:716-729): then the SPTE keeps its old value and nothing
   * else happens (no handle_changed_spte).
   */
  private setSpteUnchecked(sp: TdpPage, idx: number, old: bigint, next: bigint, vcpu: number, shared = false): number {
    const level = sp.level;
    const c = this.vm.config;
    if (old === next) return 0;
    const wasPresent = isShadowPresent(old);
    const isPresent = isShadowPresent(next);
    const wasLeaf = wasPresent && isLastSpte(old, level);
    const isLeaf = isPresent && isLastSpte(next, level);
    const gfn = sp.gfn + idx * pagesPerEntry(level);
    if (wasLeaf && isLeaf && spteToPfn(old) !== spteToPfn(next)) {
      // KVM BUGs here: a present leaf must be zapped (and flushed) before it maps another frame.
      throw new InvariantViolation('leaf-pfn-change', `present leaf at GFN 0x${gfn.toString(16)} level ${level} would change PFN without a zap`, '0x' + next.toString(16));
    }
    if (!wasPresent && !isPresent && !(isMmioSpte(c, old) || isMmioSpte(c, next) || isFrozen(c, old) || isFrozen(c, next))) {
      throw new InvariantViolation('nonpresent-change', 'a non-present SPTE changed to another non-present value that is not MMIO or frozen', '0x' + next.toString(16));
    }
    if (this.vm.checking) this.checkSpte(next, level, gfn);
    const ext = sp.role.isMirror ? this.vm.external : undefined;
    if (ext !== undefined) {
      const r = this.reflectToExternal(ext, sp, idx, old, next, gfn, vcpu);
      if (r !== 0) return r;
    }
    this.writeRaw(sp, idx, next);
    this.vm.stats.inc('spte_changes');
    if (wasLeaf !== isLeaf && level <= 3) this.vm.stats.inc(LEVEL_STAT[level]!, isLeaf ? 1 : -1);
    this.vm.events.recordUnchecked({ kind: 'spte_change', vcpu, gpa: BigInt(gfn) << 12n, level, oldSpte: old, newSpte: next });
    if (ext !== undefined && wasLeaf && !isPresent) ext.removeExternalSpte(gfn, level, spteToPfn(old), vcpu);
    if (wasPresent && !wasLeaf && (isLeaf || !isPresent)) {
      const child = this.childOfUnchecked(old);
      this.handleRemovedPt(child, vcpu, shared);
      if (ext !== undefined) ext.freeExternalSpt(child.gfn, child.level, vcpu);
    }
    return 0;
  }

  /**
   * `set_external_spte_present` (§11.4): a mirror SPTE going present is first FROZEN, so no other
   * walker can use it while the external table is updated, then the hook runs; on failure the old
   * value comes back (tdp_mmu.c:548-549) and the hook's error is returned. Mirror SPTEs are never
   * changed in place (KVM_BUG_ON in v6.16).
   */
  private reflectToExternal(ext: ExternalPageTableHooks, sp: TdpPage, idx: number, old: bigint, next: bigint, gfn: number, vcpu: number): number {
    const wasPresent = isShadowPresent(old);
    const isPresent = isShadowPresent(next);
    if (wasPresent && isPresent) {
      throw new InvariantViolation('mirror-in-place', `mirror SPTE for GFN 0x${gfn.toString(16)} level ${sp.level} would change in place (KVM_BUG_ON)`, '0x' + next.toString(16));
    }
    if (wasPresent || !isPresent) return 0;
    if (isFrozen(this.vm.config, old)) throw new InvariantViolation('mirror-frozen', 'a frozen mirror SPTE was written by someone else than its freezer', '0x' + old.toString(16));
    this.writeRaw(sp, idx, this.vm.config.layout.frozenSpte);
    let r: number;
    try {
      r = isLastSpte(next, sp.level) ? ext.setExternalSpte(gfn, sp.level, spteToPfn(next), vcpu) : ext.linkExternalSpt(gfn, sp.level, vcpu);
    } catch (e) {
      this.writeRaw(sp, idx, old);
      throw e;
    }
    // The caller writes `next` (and does the bookkeeping) only on success.
    if (r !== 0) this.writeRaw(sp, idx, old);
    return r;
  }

  /** `kvm_gfn_root_bits`: direct roots index a gfn with the shared bit, mirror roots at the natural gfn. */
  private gfnBitsOfUnchecked(root: TdpPage): number {
    return root.role.isMirror ? 0 : (this.vm.gfnDirectBits ?? 0);
  }

  /** Roots matching a filter (`for_each_tdp_mmu_root` with types). */
  rootsOf(types: RootTypes): TdpPage[] {
    checkRootTypes('types', types);
    return this.roots.filter((r) => rootMatch(r, types));
  }

  /**
   * `handle_removed_pt` (tdp_mmu.c:402-498): the entries of an unlinked table become FROZEN_SPTE,
   * recursively, then the page is freed. Under the exclusive lock only MMU-present entries change
   * (:446-447: MMIO SPTEs are guarded by the generation, not by reachability); under the shared lock
   * every entry is exchanged (:418-426), and handle_changed_spte sees each one (:478-479).
   */
  private handleRemovedPt(child: TdpPage, vcpu: number, shared: boolean): void {
    const frozen = this.vm.config.layout.frozenSpte;
    if (shared && child.role.isMirror) throw new InvariantViolation('mirror-shared-zap', 'a mirror table was removed under the shared MMU lock (KVM_BUG_ON, tdp_mmu.c:482)', String(child.pfn));
    for (let i = 0; i < 512; i++) {
      const old = this.readSpteUnchecked(child, i);
      if (shared || isShadowPresent(old)) this.setSpteUnchecked(child, i, old, frozen, vcpu, shared);
    }
    this.freePage(child);
  }

  /** Appendix A items 1, 2, 5, checked on every SPTE the MMU writes. */
  private checkSpte(spte: bigint, level: number, gfn: number): void {
    const c = this.vm.config;
    if (!isShadowPresent(spte)) return;
    if (isRsvdSpte(c, spte, level)) {
      throw new InvariantViolation('spte-reserved-bits', `SPTE for GFN 0x${gfn.toString(16)} level ${level} sets bits shadow_zero_check reserves`, '0x' + spte.toString(16));
    }
    const w = isWritable(spte);
    const mw = isMmuWritable(c, spte);
    const hw = isHostWritable(c, spte);
    if (isLastSpte(spte, level) && ((w && !mw) || (mw && !hw))) {
      throw new InvariantViolation('spte-writable-states', 'Writable ⇒ MMU-writable ⇒ Host-writable is broken', '0x' + spte.toString(16));
    }
  }

  /** `kvm_flush_remote_tlbs` / `_gfn` / `_memslot`: counted and logged (the dirty-log ioctls flush through it too). */
  private tlbFlushUnchecked(vcpu: number, why: string, gfn?: number, level?: number): void {
    this.vm.stats.inc('remote_tlb_flush');
    this.vm.flushRemoteTlbs?.();
    this.vm.events.recordUnchecked({ kind: 'tlb_flush', vcpu, gpa: gfn === undefined ? null : BigInt(gfn) << 12n, level: level ?? null, outcome: why });
  }

  // ---- huge pages (§9.5) ----

  /** `kvm_mmu_max_mapping_level`: the largest level slot alignment, lpage_info and the host allow. */
  private maxMappingLevelUnchecked(slot: Memslot, gfn: number, maxLevel: number): number {
    return maxMappingLevel(slot, gfn, maxLevel, this.vm.config.maxHugePageLevel);
  }

  private hugepageAdjustUnchecked(fault: PageFault): void {
    fault.hugePageDisallowed = fault.exec && this.vm.config.nxHugePages;
    if (fault.maxLevel === 1) return;
    if (fault.slot === undefined) return; // no slot: MMIO
    if (fault.slot.dirtyLogging) return;
    fault.reqLevel = this.maxMappingLevelUnchecked(fault.slot, fault.gfn, fault.maxLevel);
    if (fault.reqLevel === 1 || fault.hugePageDisallowed) return;
    fault.goalLevel = fault.reqLevel;
    const span = pagesPerEntry(fault.goalLevel);
    fault.pfn -= fault.pfn % span;
  }

  /** `disallowed_hugepage_adjust`: never replace a table holding executable small pages by a huge leaf. */
  private disallowedHugepageAdjust(fault: PageFault, spte: bigint, level: number): void {
    if (level !== fault.goalLevel || level === 1 || !isShadowPresent(spte) || isLargePte(spte)) return;
    const child = this.childOfUnchecked(spte);
    if (!child.nxHugePageDisallowed) return;
    const span = pagesPerEntry(level - 1);
    fault.pfn += (fault.gfn % pagesPerEntry(level)) - (fault.gfn % pagesPerEntry(level)) % span;
    fault.goalLevel--;
  }

  // ---- the fault path (§9.4) ----

  /** `kvm_tdp_mmu_map`. */
  mapUnchecked(fault: PageFault, root: TdpPage, vcpu: number, vcpuStats: Counters<VcpuStatName>): RetPf {
    // Huge pages are never created on mirror roots (v6.16: private_max_mapping_level is 4K).
    if (root.role.isMirror) fault.maxLevel = 1;
    this.hugepageAdjustUnchecked(fault);
    const bits = this.gfnBitsOfUnchecked(root);
    let sp = root;
    for (let level = root.level; ; level--) {
      const idx = spteIndex(fault.gfn + bits, level);
      const old = this.readSpteUnchecked(sp, idx);
      if (this.vm.config.nxHugePages) this.disallowedHugepageAdjust(fault, old, level);
      if (isFrozen(this.vm.config, old)) return RET_PF.RETRY;
      if (level === fault.goalLevel) return this.mapTargetLevel(fault, sp, idx, old, vcpu, vcpuStats, bits);
      if (isShadowPresent(old) && !isLargePte(old)) {
        sp = this.childOfUnchecked(old);
        continue;
      }
      const child = this.allocPage(sp.role.withUnchecked({ level: level - 1 }), sp.gfn + idx * pagesPerEntry(level), sp, idx);
      child.nxHugePageDisallowed = fault.hugePageDisallowed;
      if (isShadowPresent(old)) this.splitHugePage(sp, idx, old, child, vcpu);
      else if (this.linkSp(sp, idx, old, child, vcpu) !== 0) {
        // tdp_mmu.c:1297-1299: the link failed (the S-EPT hook refused): free the new table, the
        // guest retries. Tables linked at higher levels stay.
        this.freeUnlinked(child);
        return RET_PF.RETRY;
      }
      if (fault.hugePageDisallowed && fault.reqLevel >= level && child.nxHugePageDisallowed) this.vm.possibleNxHugePages.track(child);
      sp = child;
    }
  }

  private mapTargetLevel(fault: PageFault, sp: TdpPage, idx: number, old: bigint, vcpu: number, vcpuStats: Counters<VcpuStatName>, bits = 0): RetPf {
    const c = this.vm.config;
    const level = sp.level;
    if (isShadowPresent(old) && isLastSpte(old, level) && (fault.prefetch || isAccessAllowed(c, fault, old))) return RET_PF.SPURIOUS;
    // The gfn memslots and write tracking know: without the shared bit the root indexes with.
    const gfn = sp.gfn + idx * pagesPerEntry(level) - bits;
    let next: bigint;
    let wrprot = false;
    const mmio = fault.slot === undefined;
    if (fault.slot !== undefined) {
      const r = makeSpte(c, {
        level,
        adDisabled: sp.role.adDisabled,
        adNeedWriteProtect: kvmMmuPageAdNeedWriteProtect(c, sp.role.guestMode),
        pteAccess: c.acc.ALL,
        pfn: fault.pfn,
        isMmioPfn: false,
        prefetch: fault.prefetch,
        synchronizing: false,
        hostWritable: fault.mapWritable,
        // make_spte asks mmu_try_to_unsync_pages only when the SPTE would become writable.
        mustWriteProtect: this.vm.mmuTryToUnsyncPages === undefined
          ? this.vm.isGfnWriteTracked(gfn)
          : fault.mapWritable && (!(isShadowPresent(old) && isLastSpte(old, level)) || !isWritable(old)) && this.vm.mmuTryToUnsyncPages(gfn, false, fault.prefetch),
      });
      next = r.spte;
      wrprot = r.wrprot;
    } else {
      next = makeMmioSpte(c, gfn, c.acc.ALL, this.vm.mmioGeneration);
    }
    if (next === old) return RET_PF.SPURIOUS;
    // A present leaf is never given another frame here: an MMU notifier zaps it first, and the
    // SPTE-change function refuses it as KVM BUG()s (handle_changed_spte, tdp_mmu.c:594-605).
    // tdp_mmu.c:1172-1173: the S-EPT hook refused the leaf (mirror roots): the guest retries.
    // tdp_mmu_set_spte_atomic (tdp_mmu.c:1172): a table replaced here is removed under the shared lock.
    if (this.setSpteUnchecked(sp, idx, old, next, vcpu, true) !== 0) return RET_PF.RETRY;
    // tdp_mmu.c:1174-1177 (tdp_mmu_map_handle_target_level): flush when a table was replaced by a
    // huge leaf, or when a leaf lost MMU-writable (KVM WARNs: the fault path never does that).
    if (isShadowPresent(old) && (!isLastSpte(old, level) || leafSpteChangeNeedsTlbFlush(c, old, next))) {
      this.tlbFlushUnchecked(vcpu, isLastSpte(old, level) ? 'leaf lost MMU-writable' : 'table replaced by huge page', gfn, level);
    }
    if (!mmio && isWritable(next) && fault.slot!.dirtyLogging) this.vm.markDirty(fault.slot!, gfn);
    if (wrprot && fault.write) return RET_PF.WRITE_PROTECTED;
    if (mmio) {
      vcpuStats.inc('pf_mmio_spte_created');
      return RET_PF.EMULATE;
    }
    return RET_PF.FIXED;
  }

  /**
   * `tdp_mmu_split_huge_page` (tdp_mmu.c:1490-1523): fill a child table with `make_small_spte`s,
   * then link it. The child is not reachable yet, so KVM writes its entries directly (:1501-1502):
   * they are no SPTE changes (no event, no handle_changed_spte); the 512 new leaves are counted
   * after the link (:1519), which itself uncounts the huge leaf.
   */
  private splitHugePage(sp: TdpPage, idx: number, huge: bigint, child: TdpPage, vcpu: number): void {
    const level = child.level;
    for (let i = 0; i < 512; i++) {
      const small = makeSmallSpte(this.vm.config, huge, child.role, i);
      if (this.vm.checking) this.checkSpte(small, level, child.gfn + i * pagesPerEntry(level));
      this.writeRaw(child, i, small);
    }
    // Never a mirror entry (no huge pages on mirror roots, tdp_mmu.c:1286-1287): the link cannot be refused.
    this.linkSp(sp, idx, huge, child, vcpu);
    this.vm.stats.inc(LEVEL_STAT[level]!, 512);
    this.vm.stats.inc('huge_page_splits');
  }

  // ---- NX huge page recovery and huge page recovery (mmu.c, tdp_mmu.c) ----

  /**
   * `kvm_tdp_mmu_zap_sp` (for `mmu.c: kvm_recover_nx_huge_pages`): zap the SPTE that links a
   * (non-root) table; the table is freed and leaves the possible-NX-huge-pages list. True: the
   * caller owes a remote TLB flush.
   */
  zapSp(sp: TdpPage, vcpu: number): boolean {
    this.page('sp', sp);
    checkVcpuIndex('vcpu', vcpu);
    if (sp.parent === null) return false; // WARN_ON_ONCE: roots have no parent entry
    const old = this.readSpteUnchecked(sp.parent, sp.parentIndex);
    if (!isShadowPresent(old)) return false;
    this.setSpteUnchecked(sp.parent, sp.parentIndex, old, SHADOW_NONPRESENT_VALUE, vcpu);
    return true;
  }

  /**
   * `kvm_tdp_mmu_recover_huge_pages` → `recover_huge_pages_range` (v6.16): after dirty logging
   * stops, every table at 2M/1G level inside the slot whose gfn may be mapped huge
   * (`kvm_mmu_max_mapping_level`) is replaced in place by a huge leaf built from its first
   * present leaf (`tdp_mmu_make_huge_spte` → `make_huge_spte`); tables without a present leaf stay.
   * One flush for the slot if anything changed. Returns the huge leaves installed.
   */
  recoverHugePages(slot: Memslot, vcpu = -1): number {
    this.slot('slot', slot);
    checkVcpuIndex('vcpu', vcpu);
    if (slot.dirtyLogging) throw new InvariantViolation('recover-huge-logging', 'huge pages are recovered only once dirty logging is off (WARN_ON_ONCE in recover_huge_pages_range)', slot.name);
    const start = slot.baseGfn;
    const end = start + slot.npages;
    let n = 0;
    for (const root of this.validRoots()) {
      const b = this.gfnBitsOfUnchecked(root);
      this.forEachInRoot(root, start, end, (sp, idx, level, spte, gfn) => {
        // for_each_tdp_pte_min_level(…, PG_LEVEL_2M, …): tables at 2M and 1G level only.
        if (level < 2 || level > 3 || isLastSpte(spte, level)) return;
        const g = gfn - b;
        if (g < start || g >= end) return; // the entry's range starts outside the slot
        if (this.maxMappingLevelUnchecked(slot, g, 3) < level) return;
        // KVM_LPAGE_MIXED_FLAG is part of lpage_info's disallow_lpage (mmu.c:7697), which
        // kvm_mmu_max_mapping_level checks (mmu.c:3271): no shared huge page over private gfns.
        if ((this.vm.memAttributes?.uniformLevelUnchecked(g) ?? level) < level) return;
        const leaf = this.firstPresentLeaf(this.childOfUnchecked(spte));
        if (leaf === undefined) return; // -ENOENT
        this.setSpteUnchecked(sp, idx, spte, makeHugeSpte(this.vm.config, leaf, level), vcpu, true); // atomic (tdp_mmu.c:1826)
        n++;
      });
    }
    if (n > 0) {
      this.tlbFlushUnchecked(vcpu, 'recover huge pages', start);
      this.vm.events.recordUnchecked({ kind: 'zap', vcpu, gpa: BigInt(start) << 12n, outcome: `recover huge pages in ${slot.name}: ${n} tables replaced` });
    }
    return n;
  }

  /** `tdp_root_for_each_leaf_pte` under a table, first hit. */
  private firstPresentLeaf(sp: TdpPage): bigint | undefined {
    for (let i = 0; i < 512; i++) {
      const spte = this.readSpteUnchecked(sp, i);
      if (!isShadowPresent(spte)) continue;
      if (isLastSpte(spte, sp.level)) return spte;
      const leaf = this.firstPresentLeaf(this.childOfUnchecked(spte));
      if (leaf !== undefined) return leaf;
    }
    return undefined;
  }

  /**
   * `lastSpteUnchecked(root, gfn)[2]`, the level of the last SPTE on the path, read from the
   * entries' 32-bit halves: a sweep's reference model (workload/memory-refs.ts) asks it five times
   * per access, and the bigint form made ~8 bigints and a tuple per level, about half of what a
   * TDP job allocated (3 KB an access, hence scavenges, and GC helper threads competing with the
   * other worker for the cores). Same path, same stop (not present, or last SPTE), same error.
   */
  leafLevelUnchecked(root: TdpPage, gfn: number): number {
    const frames = this.vm.host.frames;
    let pfn = root.pfn;
    for (let level = root.level; level > 1; level--) {
      const idx = spteIndex(gfn, level);
      const b = tableWordUnchecked(frames, pfn, idx * 2);
      if (b < 0) return level; // no frame: the entry reads as 0, not present
      const lo = frames.words[b]!;
      // Both bits are in the low half: SPTE_MMU_PRESENT_MASK is bit 11, PT_PAGE_SIZE_MASK bit 7.
      if ((lo & SPTE_PRESENT_LO) === 0 || (lo & PAGE_SIZE_LO) !== 0) return level;
      // spteToPfn on the halves: bits 51:12 (a frame below 2^40).
      const child = (lo >>> 12) + (frames.words[b + 1]! & 0xfffff) * 0x100000;
      // childOfUnchecked's invariant: a non-leaf SPTE points at a TDP page (whose table is that frame).
      if (!this.pages.has(child)) throw new InvariantViolation('child-sp', 'a non-leaf SPTE points at no TDP page', '0x' + readEntry64Unchecked(frames, pfn, idx).toString(16));
      pfn = child;
    }
    return 1; // isLastSpte: an entry at the 4 KiB level is the last, present or not
  }

  /** The last SPTE on the path to `gfn`: [page, index, level, spte]. */
  lastSpteUnchecked(root: TdpPage, gfn: number): [TdpPage, number, number, bigint] {
    let sp = root;
    for (let level = root.level; ; level--) {
      const idx = spteIndex(gfn, level);
      const spte = this.readSpteUnchecked(sp, idx);
      if (!isShadowPresent(spte) || isLastSpte(spte, level)) return [sp, idx, level, spte];
      sp = this.childOfUnchecked(spte);
    }
  }

  /** `fast_page_fault` (§9.9): fix write-protection or access tracking without the slow path. */
  fastPageFaultUnchecked(fault: PageFault, root: TdpPage, vcpu: number, vcpuStats: Counters<VcpuStatName>): RetPf {
    const c = this.vm.config;
    // The fast path takes the direct root only (tdp_mmu_get_root(…, KVM_DIRECT_ROOTS)).
    if (root.role.isMirror) throw new InvariantViolation('mirror-fast-pf', 'fast_page_fault was given a mirror root', String(root.pfn));
    const canBeFast = !fault.rsvd && ((!fault.present && !c.adEnabled) || (fault.present && fault.write));
    if (!canBeFast) return RET_PF.INVALID;
    let ret: RetPf = RET_PF.INVALID;
    const [sp, idx, level, spte] = this.lastSpteUnchecked(root, fault.gfn + this.gfnBitsOfUnchecked(root));
    if (isShadowPresent(spte) && isLastSpte(spte, level)) {
      if (isAccessAllowed(c, fault, spte)) ret = RET_PF.SPURIOUS;
      else {
        let next = spte;
        if (!spteAdEnabled(c, spte) && isAccessTrack(c, spte)) next = restoreAccTrackSpte(c, next) | c.accessedMask;
        let ok = true;
        if (fault.write && isMmuWritable(c, spte)) {
          next |= PT_WRITABLE_MASK;
          const slot = this.vm.slotOfGfn(fault.gfn);
          if (level > 1 && slot?.dirtyLogging) ok = false; // must be split by the slow path
        }
        if (ok && next !== spte && isAccessAllowed(c, fault, next)) {
          this.setSpteUnchecked(sp, idx, spte, next, vcpu);
          if (!isWritable(spte) && isWritable(next)) {
            const slot = this.vm.slotOfGfn(fault.gfn);
            if (slot?.dirtyLogging) this.vm.markDirty(slot, fault.gfn);
          }
          ret = RET_PF.FIXED;
        }
      }
    }
    if (ret !== RET_PF.INVALID) {
      vcpuStats.inc('pf_fast');
      this.vm.events.recordUnchecked({ kind: 'fast_page_fault', vcpu, gpa: fault.addr, level, code: fault.errorCode, outcome: ret === RET_PF.FIXED ? 'RET_PF_FIXED' : 'RET_PF_SPURIOUS' });
    }
    return ret;
  }

  // ---- range operations (§9.6–9.8) ----

  /** Visit present SPTEs mapping [start, end) under `sp`, leaves and tables, pre-order. */
  private forEachInRange(sp: TdpPage, start: number, end: number, fn: (sp: TdpPage, idx: number, level: number, spte: bigint, gfn: number) => void): void {
    const level = sp.level;
    const span = pagesPerEntry(level);
    const first = Math.max(0, Math.floor((start - sp.gfn) / span));
    const last = Math.min(511, Math.floor((end - 1 - sp.gfn) / span));
    for (let i = first; i <= last; i++) {
      const spte = this.readSpteUnchecked(sp, i);
      if (!isShadowPresent(spte)) continue;
      const gfn = sp.gfn + i * span;
      fn(sp, i, level, spte, gfn);
      const now = this.readSpteUnchecked(sp, i);
      if (isShadowPresent(now) && !isLastSpte(now, level)) this.forEachInRange(this.childOfUnchecked(now), start, end, fn);
    }
  }

  /**
   * Valid roots of the given kinds. Dirty logging, write protection, splitting and aging default
   * to direct roots: mirror SPTEs cannot be modified in place, guest_memfd slots cannot log dirty
   * pages, and host MMU notifiers age with the SHARED filter (§11.5).
   */
  private validRoots(types: RootTypes = KVM_DIRECT_ROOTS): TdpPage[] {
    return this.roots.filter((r) => !r.role.invalid && rootMatch(r, types));
  }

  /** Walk [start, end) (natural gfns) under a root, applying the root's gfn bits. */
  private forEachInRoot(root: TdpPage, start: number, end: number, fn: (sp: TdpPage, idx: number, level: number, spte: bigint, gfn: number) => void): void {
    const b = this.gfnBitsOfUnchecked(root);
    this.forEachInRange(root, start + b, end + b, fn);
  }

  /** `kvm_tdp_mmu_zap_leafs`: zap present leaves in [start, end) in all valid roots. Returns leaves zapped. */
  zapLeafs(start: number, end: number, vcpu = -1, why = 'zap range', types: RootTypes = KVM_VALID_ROOTS): number {
    this.rangeArgs(start, end, vcpu);
    checkString('why', why);
    checkRootTypes('types', types);
    let n = 0;
    for (const root of this.roots.filter((r) => rootMatch(r, types))) {
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (!isLastSpte(spte, level)) return;
        this.setSpteUnchecked(sp, idx, spte, SHADOW_NONPRESENT_VALUE, vcpu);
        n++;
      });
    }
    if (n > 0) {
      this.tlbFlushUnchecked(vcpu, why);
      this.vm.events.recordUnchecked({ kind: 'zap', vcpu, gpa: BigInt(start) << 12n, outcome: `${why}: ${n} leaves` });
    }
    return n;
  }

  /**
   * `kvm_tdp_mmu_zap_all` (tdp_mmu.c:1013-1031): zap everything under each root of `types`
   * (invalid ones too when asked); the roots themselves stay. Returns the roots zapped.
   */
  zapRoots(types: RootTypes): number {
    checkRootTypes('types', types);
    const roots = this.roots.filter((r) => rootMatch(r, types));
    for (const r of roots) this.zapTree(r, -1, false); // tdp_mmu_zap_root(kvm, root, false) (tdp_mmu.c:1030)
    return roots.length;
  }

  /**
   * `tdp_mmu_zap_root` (tdp_mmu.c:881-926): zap everything under a root (it stays allocated while
   * referenced) in passes of growing level — 4K, 2M, 1G, then the root's level (:918-923) — each
   * setting the MMU-present SPTEs of that level (tables or leaves) to SHADOW_NONPRESENT_VALUE
   * (`__tdp_mmu_zap_root`, :858-879); non-present SPTEs, MMIO ones included, are skipped (:868-869).
   */
  private zapTree(root: TdpPage, vcpu: number, shared: boolean): void {
    for (const zapLevel of [1, 2, 3, root.level]) this.zapLevel(root, zapLevel, vcpu, shared);
  }

  /** One `__tdp_mmu_zap_root` pass: present SPTEs at `zapLevel` (or below, under a lower root) go. */
  private zapLevel(sp: TdpPage, zapLevel: number, vcpu: number, shared: boolean): void {
    for (let i = 0; i < 512; i++) {
      const spte = this.readSpteUnchecked(sp, i);
      if (!isShadowPresent(spte)) continue;
      if (sp.level > zapLevel) {
        // :871-872 skips the entry; the iterator steps down into a table.
        if (!isLastSpte(spte, sp.level)) this.zapLevel(this.childOfUnchecked(spte), zapLevel, vcpu, shared);
        continue;
      }
      this.setSpteUnchecked(sp, i, spte, SHADOW_NONPRESENT_VALUE, vcpu, shared);
    }
  }

  /**
   * `kvm_tdp_mmu_wrprot_slot`: clear W on leaves (keep MMU-writable, so the fast path restores it).
   * No flush here: MMU-writable stays set (`leaf_spte_change_needs_tlb_flush`, spte.h:507); the
   * dirty-log callers flush (`kvm_mmu_slot_apply_flags`, `kvm_get_dirty_log_protect`).
   */
  wrprotRange(start: number, end: number, vcpu = -1): number {
    this.rangeArgs(start, end, vcpu);
    let n = 0;
    for (const root of this.validRoots()) {
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (!isLastSpte(spte, level) || !isWritable(spte)) return;
        this.setSpteUnchecked(sp, idx, spte, spte & ~PT_WRITABLE_MASK, vcpu);
        n++;
      });
    }
    return n;
  }

  /**
   * `tdp_mmu_need_write_protect` (tdp_mmu.c:1632-1640): the tree logs by write protection, not D —
   * A/D off, or guest_mode pages under PML (`kvm_mmu_page_ad_need_write_protect`).
   */
  private needWriteProtect(root: TdpPage): boolean {
    return kvmMmuPageAdNeedWriteProtect(this.vm.config, root.role.guestMode) || !this.vm.config.adEnabled;
  }

  /**
   * `kvm_tdp_mmu_clear_dirty_slot` → `clear_dirty_gfn_range` (tdp_mmu.c:1642-1686), for enabling
   * dirty logging with PML: every present leaf, huge ones included, loses D (or W where the tree
   * needs write protection).
   */
  clearDirtySlot(start: number, end: number, vcpu = -1): number {
    this.rangeArgs(start, end, vcpu);
    let n = 0;
    for (const root of this.validRoots()) {
      const dbit = this.needWriteProtect(root) ? PT_WRITABLE_MASK : this.vm.config.dirtyMask;
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (!isLastSpte(spte, level) || (spte & dbit) === 0n) return;
        this.setSpteUnchecked(sp, idx, spte, spte & ~dbit, vcpu);
        n++;
      });
    }
    // Clearing D never flushes here (spte.h:497-500); the dirty-log callers flush.
    return n;
  }

  /**
   * `kvm_tdp_mmu_clear_dirty_pt_masked` → `clear_dirty_pt_masked` (tdp_mmu.c:1688-1742) for the
   * pages [start, end) of a dirty-log word: only 4K leaves (`iter.level > PG_LEVEL_4K` are skipped,
   * :1707-1709) lose D — or W with `wrprot` (no PML: `kvm_mmu_write_protect_pt_masked`) or where
   * the tree needs write protection.
   */
  clearDirtyPtMasked(start: number, end: number, wrprot: boolean, vcpu = -1): number {
    this.rangeArgs(start, end, vcpu);
    checkBool('wrprot', wrprot);
    let n = 0;
    for (const root of this.validRoots()) {
      const dbit = wrprot || this.needWriteProtect(root) ? PT_WRITABLE_MASK : this.vm.config.dirtyMask;
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (level !== 1 || !isLastSpte(spte, level) || (spte & dbit) === 0n) return;
        this.setSpteUnchecked(sp, idx, spte, spte & ~dbit, vcpu);
        n++;
      });
    }
    return n;
  }

  /** Write-protect only the huge leaves in a range (PML logs 4K pages only). */
  wrprotHugeRange(start: number, end: number, vcpu = -1): number {
    this.rangeArgs(start, end, vcpu);
    let n = 0;
    for (const root of this.validRoots()) {
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (level === 1 || !isLastSpte(spte, level) || !isWritable(spte)) return;
        this.setSpteUnchecked(sp, idx, spte, spte & ~PT_WRITABLE_MASK, vcpu);
        n++;
      });
    }
    return n;
  }

  /** Eager split of huge leaves in [start, end) down to 4K (`kvm_mmu_slot_try_split_huge_pages`). */
  splitRange(start: number, end: number, vcpu = -1): number {
    this.rangeArgs(start, end, vcpu);
    let n = 0;
    for (const root of this.validRoots()) {
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (level === 1 || !isLastSpte(spte, level)) return;
        const child = this.allocPage(sp.role.withUnchecked({ level: level - 1 }), sp.gfn + idx * pagesPerEntry(level), sp, idx);
        this.splitHugePage(sp, idx, spte, child, vcpu);
        n++;
      });
    }
    return n;
  }

  /** `kvm_tdp_mmu_age_gfn_range`: clear A (or access-track); returns how many were young. */
  ageRange(start: number, end: number, vcpu = -1, types: RootTypes = KVM_DIRECT_ROOTS): number {
    this.rangeArgs(start, end, vcpu);
    checkRootTypes('types', types);
    const c = this.vm.config;
    let young = 0;
    for (const root of this.validRoots(types)) {
      this.forEachInRoot(root, start, end, (sp, idx, level, spte) => {
        if (!isLastSpte(spte, level) || !isAccessed(c, spte)) return;
        young++;
        this.setSpteUnchecked(sp, idx, spte, markSpteForAccessTrack(c, spte), vcpu);
      });
    }
    return young;
  }

  testAge(gfn: number): boolean {
    checkGfn('gfn', gfn);
    const c = this.vm.config;
    return this.validRoots().some((r) => {
      const [, , level, spte] = this.lastSpteUnchecked(r, gfn + this.gfnBitsOfUnchecked(r));
      return isShadowPresent(spte) && isLastSpte(spte, level) && isAccessed(c, spte);
    });
  }

  /** Every present entry of a root, tables and leaves, pre-order: (level, gfn as indexed, spte). */
  forEachEntry(root: TdpPage, fn: (level: number, gfn: number, spte: bigint) => void): void {
    this.root('root', root);
    checkFunction('fn', fn);
    this.forEachInRange(root, 0, 2 ** 40, (_sp, _i, level, spte, gfn) => fn(level, gfn, spte));
  }

  /** Every present leaf of a root: [gfn, level, spte]. For notebooks and invariant checks. */
  leaves(root: TdpPage): [number, number, bigint][] {
    this.root('root', root);
    const out: [number, number, bigint][] = [];
    this.forEachInRange(root, 0, 2 ** 40, (_sp, _i, level, spte, gfn) => {
      if (isLastSpte(spte, level)) out.push([gfn, level, spte]);
    });
    return out;
  }

  /**
   * `kvm_tdp_mmu_write_protect_gfn` → `write_protect_gfn` (tdp_mmu.c:1857-1885): clear W and
   * MMU-writable on leaves at `minLevel` or above mapping gfn (a shadowed EPT12 table; with
   * PG_LEVEL_2M, the huge page of a dirty-log word's first or last page).
   */
  writeProtectGfn(gfn: number, vcpu = -1, minLevel = 1): boolean {
    checkGfn('gfn', gfn);
    checkVcpuIndex('vcpu', vcpu);
    checkHugeLevel('minLevel', minLevel);
    let changed = false;
    const mask = PT_WRITABLE_MASK | this.vm.config.mmuWritableMask;
    for (const root of this.validRoots()) {
      this.forEachInRoot(root, gfn, gfn + 1, (sp, idx, level, spte) => {
        if (level < minLevel || !isLastSpte(spte, level) || (spte & mask) === 0n) return;
        this.setSpteUnchecked(sp, idx, spte, spte & ~mask, vcpu);
        changed = true;
      });
    }
    return changed;
  }

  /**
   * Appendix A over the whole MMU: 1, 2 (every leaf), 5 (child role = root role but level), counts.
   * `extraLeaves[level]`: leaves other MMUs (the shadow MMU) hold, which share the pages_* counters.
   */
  checkInvariants(extraLeaves: readonly number[] = [0, 0, 0, 0]): void {
    const x = checkArray('extraLeaves', extraLeaves);
    if (x.length > 4) refuse('extraLeaves', 'extra-leaves', 'must hold at most 4 counts (indices 1..3: 4K, 2M, 1G)', extraLeaves);
    x.forEach((n, i) => checkInt(`extraLeaves[${i}]`, n)); // holes (no count) are skipped
    const counts = [0, extraLeaves[1] ?? 0, extraLeaves[2] ?? 0, extraLeaves[3] ?? 0];
    for (const root of this.roots) {
      this.forEachInRange(root, 0, 2 ** 40, (sp, _i, level, spte, gfn) => {
        if (sp.role.withUnchecked({ level: root.level }).word !== root.role.word) {
          throw new InvariantViolation('child-role', `TDP page at level ${sp.level} has role 0x${sp.role.word.toString(16)}, root 0x${root.role.word.toString(16)}`, String(sp.pfn));
        }
        this.checkSpte(spte, level, gfn);
        if (isLastSpte(spte, level)) {
          counts[level]!++;
          const slot = this.vm.slotOfGfn(gfn);
          // A TDP-mapped GFN reaches the frame the slot says (gfn is aligned to the level here):
          // private gfns (mirror roots; private attribute with guest_memfd) the guest_memfd page.
          const priv = slot !== undefined && slot.guestMemfd && (root.role.isMirror || this.vm.memAttributes?.isPrivateUnchecked(gfn) === true);
          const want = slot === undefined ? 0 : priv ? memslotPrivatePfn(slot, gfn) : memslotPfn(slot, gfn);
          if (slot !== undefined && spteToPfn(spte) !== want) {
            throw new InvariantViolation('leaf-pfn', `leaf for GFN 0x${gfn.toString(16)} maps PFN 0x${spteToPfn(spte).toString(16)}, the slot says 0x${want.toString(16)}`, '0x' + spte.toString(16));
          }
        }
      });
    }
    for (const l of [1, 2, 3]) {
      if (counts[l] !== this.vm.stats.get(LEVEL_STAT[l]!)) {
        throw new InvariantViolation('page-stats', `${LEVEL_STAT[l]} = ${this.vm.stats.get(LEVEL_STAT[l]!)} but ${counts[l]} leaves exist`, String(counts[l]));
      }
    }
  }
}
