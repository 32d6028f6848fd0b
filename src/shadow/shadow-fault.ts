/**
 * The shadow page fault (reference §8.4, §8.5, §8.13, §8.14): `FNAME(page_fault)` walks the
 * shadowed guest tables (the guest's CR3 tables, or L1's EPT12 for guest_mmu), then
 * `FNAME(fetch)` builds shadow pages down the path — indirect pages for guest tables with the
 * accumulated access as role, direct pages when the guest page is larger than what may be
 * mapped — and `mmu_set_spte` installs the leaf (unsyncing or write-protecting page tables);
 * `FNAME(pte_prefetch)` fills neighbouring entries. Paging off uses `direct_page_fault`.
 */
import { ACC_USER, ACC_WRITE, PFERR } from '../format/acc';
import { SHADOW_NONPRESENT_VALUE } from '../spte/spte-config';
import { isLargePte, isLastSpte, isShadowPresent, isWritable, kvmMmuPageAdNeedWriteProtect, makeMmioSpte, makeSpte, spteToPfn } from '../spte/spte';
import { newPageFault, type PageFault } from '../tdp/page-fault';
import { RET_PF, type RetPf } from '../tdp/ret-pf';
import { memslotPfn, maxMappingLevel, type Memslot } from '../vm/memslot';
import { walkTables } from '../walker/walk';
import { WalkStop } from '../walker/walk-scratch';
import { gpteAccessUnchecked, gpteToGfnUnchecked, prefetchInvalidGpteUnchecked, protectCleanGpteUnchecked, readGpteUnchecked } from './gpte';
import type { ShadowMmu } from './shadow-mmu';
import type { ShadowPage } from './shadow-page';
import type { ShadowContext } from './shadow-context';
import { spteChangeNeedsFlushUnchecked, mmuSyncChildrenUnchecked } from './sync';
import { mmuTryToUnsyncPagesUnchecked } from './unsync';
import { ShadowMmu as ShadowMmuClass } from './shadow-mmu';
import { PageSizeError } from '../errors';
import { ACCESS_AC, ACCESS_IMPLICIT } from '../walker/access';
import { GFN_MAX, checkAccess, checkBigint, checkBool, checkContext, checkFaultCode, checkGfn, checkInt, checkObject, checkPageLevel, checkPageOf, checkSpteIndex, checkSpteValue, checkVmSlot, refuse } from './check-shadow-args';

export interface ShadowFaultResult {
  ret: RetPf;
  /** The walk of the shadowed tables failed: KVM injects it (a #PF into the guest, or an exit to L1). */
  walkFault?: { errorCode: number; stop: number };
  emulation?: string;
  mmio: boolean;
  /** `fault->write_fault_to_shadow_pgtable`. */
  writeToShadowPgtable?: boolean;
}

/** `PTE_PREFETCH_NUM`. */
const PTE_PREFETCH_NUM = 8;

function indexAt(addr: bigint, level: number): number {
  return Number((addr >> BigInt(12 + 9 * (level - 1))) & 511n);
}

function span(level: number): number {
  return 2 ** (9 * (level - 1));
}

/** `kvm_mmu_max_mapping_level` + `kvm_mmu_hugepage_adjust`. */
export function hugepageAdjustUnchecked(mmu: ShadowMmu, fault: PageFault): void {
  const c = mmu.config;
  fault.hugePageDisallowed = fault.exec && c.nxHugePages;
  if (fault.maxLevel === 1 || fault.slot === undefined || fault.slot.dirtyLogging) return;
  const level = maxMappingLevel(fault.slot, fault.gfn, fault.maxLevel, c.maxHugePageLevel);
  fault.reqLevel = level;
  if (level === 1 || fault.hugePageDisallowed) return;
  fault.goalLevel = level;
  fault.pfn -= fault.pfn % span(level);
}

/** `disallowed_hugepage_adjust`: never replace a table of executable small pages by a huge leaf. */
function disallowedHugepageAdjust(mmu: ShadowMmu, fault: PageFault, spte: bigint, level: number): void {
  if (level !== fault.goalLevel || level === 1 || !isShadowPresent(spte) || isLargePte(spte)) return;
  if (!mmu.childOfUnchecked(spte).nxHugePageDisallowed) return;
  const s = span(level - 1);
  fault.pfn += (fault.gfn % span(level)) - ((fault.gfn % span(level)) % s);
  fault.goalLevel--;
}

/** `kvm_mmu_faultin_pfn` for the model: slot → pfn, or a reason to emulate. */
function faultinPfn(mmu: ShadowMmu, fault: PageFault): string | undefined {
  const slot = mmu.vm.slotOfGfn(fault.gfn);
  if (slot === undefined) {
    // kvm_handle_noslot_fault: without MMIO caching, emulate before touching the tables.
    if (!mmu.config.mmioEnabled) return 'MMIO (MMIO caching disabled)';
    // mmu.c:3458's gfn > kvm_mmu_max_gfn() cannot hold here: without TDP that limit is 52 bits
    // (mmu.h:74), and the guest walk already refused a gfn beyond the guest MAXPHYADDR.
    return undefined; // no slot: an MMIO SPTE (KVM_PFN_NOSLOT)
  }
  if (slot.readonly && fault.write) return 'write to a read-only memslot';
  fault.slot = slot;
  fault.pfn = memslotPfn(slot, fault.gfn);
  fault.mapWritable = !slot.readonly;
  return undefined;
}

/** `is_page_fault_stale`: the root became obsolete (or a PAE root awaits freeing). */
function isPageFaultStale(mmu: ShadowMmu, ctx: ShadowContext): boolean {
  if (ctx.root.sp !== null) return mmu.isObsoleteUnchecked(ctx.root.sp);
  return ctx.obsoleteSeen !== mmu.freeObsoleteRootsRequest;
}

/** The shadow page and level where a walk for `addr` starts (the PAE root is not a page). */
function shadowWalkStart(ctx: ShadowContext, addr: bigint): ShadowPage | null {
  if (ctx.root.sp !== null) return ctx.root.sp;
  return ctx.paeRootSps[Number((addr >> 30n) & 3n)] ?? null;
}

/** `mmu_set_spte` (§8.5). `fault` null = prefetch. */
export function mmuSetSpteUnchecked(
  mmu: ShadowMmu, ctx: ShadowContext, slot: Memslot | undefined, sp: ShadowPage, idx: number, pteAccess: number,
  gfn: number, pfn: number, fault: PageFault | null,
): RetPf {
  const level = sp.level;
  const c = mmu.config;
  const hostWritable = fault === null ? true : fault.mapWritable;
  const prefetch = fault === null ? true : fault.prefetch;
  let old = mmu.readSpteUnchecked(sp, idx);
  if (slot === undefined) {
    if (isShadowPresent(old)) mmu.zapPteUnchecked(sp, idx, null, ctx.vcpu);
    mmu.setSpteUnchecked(sp, idx, makeMmioSpte(c, gfn, pteAccess, mmu.vm.mmioGeneration), ctx.vcpu);
    ctx.stats.inc('pf_mmio_spte_created');
    return RET_PF.EMULATE;
  }
  let flush = false;
  // mmu.c:3021-3023 (a prefetch over a present leaf of the same pfn is spurious) has no case here:
  // both prefetchers visit non-present entries only.
  if (isShadowPresent(old)) {
    if (level > 1 && !isLargePte(old)) {
      // A table replaced by a huge leaf: unlink the child page.
      mmu.setSpteUnchecked(sp, idx, SHADOW_NONPRESENT_VALUE, ctx.vcpu);
      flush = true;
      old = SHADOW_NONPRESENT_VALUE;
    } else if (spteToPfn(old) !== pfn) {
      mmu.setSpteUnchecked(sp, idx, SHADOW_NONPRESENT_VALUE, ctx.vcpu);
      flush = true;
      old = SHADOW_NONPRESENT_VALUE;
    }
  }
  const wantW = (pteAccess & ACC_WRITE) !== 0 && hostWritable;
  const oldLeaf = isShadowPresent(old) && isLastSpte(old, level);
  const must = wantW && (!oldLeaf || !isWritable(old)) && mmuTryToUnsyncPagesUnchecked(mmu, gfn, false, prefetch, ctx.vcpu);
  const { spte, wrprot } = makeSpte(c, {
    level, adDisabled: sp.role.adDisabled, adNeedWriteProtect: kvmMmuPageAdNeedWriteProtect(c, sp.role.guestMode), pteAccess, pfn, isMmioPfn: false,
    prefetch, synchronizing: false, hostWritable, mustWriteProtect: must,
  });
  let ret: RetPf;
  if (spte === old) ret = RET_PF.SPURIOUS;
  else {
    ret = RET_PF.FIXED;
    flush = spteChangeNeedsFlushUnchecked(mmu, old, spte) || flush;
  }
  sp.setTranslationUnchecked(idx, gfn, pteAccess);
  mmu.setSpteUnchecked(sp, idx, spte, ctx.vcpu);
  if (wrprot && fault !== null && fault.write) ret = RET_PF.WRITE_PROTECTED;
  if (flush) mmu.tlbFlushUnchecked(ctx.vcpu, 'mmu_set_spte', gfn, level);
  mmu.markDirtyIfWritableUnchecked(gfn, spte);
  return ret;
}

/**
 * `FNAME(page_fault)`: `addr` is the GVA (root_mmu) or nGPA (guest_mmu), `errorCode` the #PF error
 * code or the EPT-violation-derived one; `accessFlags` carries EFLAGS.AC / implicit supervisor
 * accesses (which KVM reads from the vCPU's current state).
 */
export function shadowPageFaultUnchecked(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint, errorCode: number, accessFlags: number): ShadowFaultResult {
  const fault = newPageFault(addr, BigInt(errorCode));
  const s = ctx.walkScratch;
  const access = (errorCode & (PFERR.WRITE | PFERR.USER | PFERR.FETCH)) | accessFlags;
  const stop = walkTables(ctx.walkInputs!, s, Number(addr >> 32n), Number(addr & 0xffffffffn), access);
  if (stop !== WalkStop.Ok) return { ret: RET_PF.RETRY, walkFault: { errorCode: s.errorCode, stop }, mmio: false };
  fault.gfn = s.gfn;
  fault.maxLevel = Math.min(s.level, 3);
  // page_fault_handle_page_track: a write to a write-tracked gfn cannot be fixed by mapping.
  if (fault.present && fault.write && !fault.rsvd && mmu.isWriteTrackedUnchecked(fault.gfn)) {
    clearFloodOnPath(mmu, ctx, addr);
    return { ret: RET_PF.WRITE_PROTECTED, mmio: false, emulation: 'write to a write-tracked gfn (shadowed upper-level page table)' };
  }
  const why = faultinPfn(mmu, fault);
  if (why !== undefined) return { ret: RET_PF.EMULATE, mmio: false, emulation: why };
  let pteAccess = s.pteAccess;
  // CR0.WP=0: a supervisor write to a read-only page is allowed; map it writable but not user
  // (and not executable under SMEP), reference §4.7.
  if (fault.write && (pteAccess & ACC_WRITE) === 0 && !ctx.cpuRole.isCr0Wp && !fault.user && fault.slot !== undefined) {
    // ACC_WRITE (2) and ACC_USER (4) are the same in 6.16 and 7.3; EXEC is the version's. How 7.3
    // strips exec here is UNVERIFIED (kvm-7x.md §3.1): modelled as v6.16 with 7.3's EXEC bit.
    pteAccess |= ACC_WRITE;
    pteAccess &= ~ACC_USER;
    if (ctx.cpuRole.isCr4Smep) pteAccess &= ~mmu.config.acc.EXEC;
  }
  if (isPageFaultStale(mmu, ctx)) return { ret: RET_PF.RETRY, mmio: false };
  mmu.makeMmuPagesAvailableUnchecked(ctx.vcpu);
  return fetch(mmu, ctx, fault, pteAccess);
}

/**
 * Entries the CPU reads walking the shadow tables for `addr` on a TLB miss: one per level from the
 * root down to the leaf (or the first non-present entry). PAE roots' PDPTEs are registers, not
 * memory references. Measured on the live shadow tables, so huge shadow leaves count fewer.
 */
export function shadowWalkRefsUnchecked(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint): number {
  let sp = shadowWalkStart(ctx, addr);
  let refs = 0;
  while (sp !== null) {
    refs++;
    const spte = mmu.readSpteUnchecked(sp, indexAt(addr, sp.level));
    if (!isShadowPresent(spte) || isLastSpte(spte, sp.level)) break;
    sp = mmu.childOfUnchecked(spte);
  }
  return refs;
}

function clearFloodOnPath(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint): void {
  let sp = shadowWalkStart(ctx, addr);
  while (sp !== null) {
    sp.writeFloodingCount = 0;
    const spte = mmu.readSpteUnchecked(sp, indexAt(addr, sp.level));
    if (!isShadowPresent(spte) || isLastSpte(spte, sp.level)) break;
    sp = mmu.childOfUnchecked(spte);
  }
}

/** `FNAME(fetch)`. */
function fetch(mmu: ShadowMmu, ctx: ShadowContext, fault: PageFault, pteAccess: number): ShadowFaultResult {
  const s = ctx.walkScratch;
  const addr = fault.addr;
  const vcpu = ctx.vcpu;
  const gwLevel = s.level;
  // FNAME(gpte_changed) (paging_tmpl.h:548-569, 626-627, 685-686) catches another vCPU changing a
  // gPTE between the walk and mmu_lock; one thread runs here, so the gPTEs are those just walked.
  let sp = shadowWalkStart(ctx, addr);
  if (sp === null) return { ret: RET_PF.RETRY, mmio: false };
  let writeToShadowPgtable = false;
  // Phase 1: indirect pages for the guest tables below the root.
  for (;;) {
    sp.writeFloodingCount = 0;
    if (sp.level === gwLevel) break;
    const idx = indexAt(addr, sp.level);
    const L = sp.level - 1;
    const tableGfn = s.tableGfn[L]!;
    // A passthrough root above the guest's top level (a 4-level NPT12 on a 5-level host) links
    // the guest root table with full access.
    const ptAccess = L === s.maxLevel ? mmu.config.acc.ALL : s.acc[L + 1]!;
    const child = mmu.getChildSpUnchecked(ctx, sp, idx, tableGfn, false, ptAccess);
    // A page found in the hash may have unsync children the guest has since made present.
    if (child !== null && child.unsyncChildren > 0) mmuSyncChildrenUnchecked(mmu, ctx, child);
    if (child !== null) mmu.linkShadowPageUnchecked(sp, idx, child, vcpu);
    if (fault.write && tableGfn === fault.gfn) writeToShadowPgtable = true;
    sp = mmu.childOfUnchecked(mmu.readSpteUnchecked(sp, idx));
  }
  hugepageAdjustUnchecked(mmu, fault);
  // Phase 2: direct pages when the guest page is larger than the goal level.
  let baseGfn: number;
  for (;;) {
    const idx = indexAt(addr, sp.level);
    if (mmu.config.nxHugePages) disallowedHugepageAdjust(mmu, fault, mmu.readSpteUnchecked(sp, idx), sp.level);
    baseGfn = fault.gfn - (fault.gfn % span(sp.level));
    if (sp.level === fault.goalLevel) break;
    validateDirectSpte(mmu, sp, idx, pteAccess, vcpu);
    const child = mmu.getChildSpUnchecked(ctx, sp, idx, baseGfn, true, pteAccess);
    if (child !== null) {
      mmu.linkShadowPageUnchecked(sp, idx, child, vcpu);
      if (fault.hugePageDisallowed) mmu.accountNxHugePageUnchecked(child, fault.reqLevel >= sp.level);
    }
    sp = mmu.childOfUnchecked(mmu.readSpteUnchecked(sp, idx));
  }
  const idx = indexAt(addr, sp.level);
  const ret = mmuSetSpteUnchecked(mmu, ctx, fault.slot, sp, idx, pteAccess, baseGfn, fault.pfn, fault);
  if (ret !== RET_PF.SPURIOUS) ptePrefetch(mmu, ctx, sp, idx);
  const out: ShadowFaultResult = { ret, mmio: ret === RET_PF.EMULATE, writeToShadowPgtable };
  if (ret === RET_PF.EMULATE) out.emulation = 'MMIO (new MMIO SPTE)';
  if (ret === RET_PF.WRITE_PROTECTED) out.emulation = 'write to a write-protected gfn (shadowed page table)';
  return out;
}

/** `validate_direct_spte`: a direct child built for other access rights is unlinked. */
function validateDirectSpte(mmu: ShadowMmu, sp: ShadowPage, idx: number, access: number, vcpu: number): void {
  const spte = mmu.readSpteUnchecked(sp, idx);
  if (!isShadowPresent(spte) || isLargePte(spte)) return;
  const child = mmu.childOfUnchecked(spte);
  if (child.role.access === access) return;
  mmu.setSpteUnchecked(sp, idx, SHADOW_NONPRESENT_VALUE, vcpu);
  mmu.tlbFlushUnchecked(vcpu, 'direct child with other access', sp.gfnOfUnchecked(idx), sp.level);
}

/**
 * `kvm_mmu_prefetch_sptes` (mmu.c:3072-3107): map `count` consecutive gfns from `gfn` into the
 * entries from `idx` with `access`, or give up (false) before mapping any.
 */
function prefetchSptes(mmu: ShadowMmu, ctx: ShadowContext, sp: ShadowPage, idx: number, gfn: number, count: number, access: number): boolean {
  // gfn_to_memslot_dirty_bitmap (mmu.c:838-850): no slot, or a writable prefetch into a dirty-logged slot.
  const slot = mmu.vm.slotOfGfn(gfn);
  if (slot === undefined || (slot.dirtyLogging && (access & ACC_WRITE) !== 0)) return false;
  // kvm_prefetch_pages (kvm_main.c:3066-3080): gfn_to_hva_many asks for a writable hva, which a
  // read-only slot lacks (kvm_main.c:2714-2715); a run past the slot's end prefetches nothing.
  if (slot.readonly || slot.baseGfn + slot.npages - gfn < count) return false;
  for (let i = 0; i < count; i++) mmuSetSpteUnchecked(mmu, ctx, slot, sp, idx + i, access, gfn + i, memslotPfn(slot, gfn + i), null);
  return true;
}

/**
 * `__direct_pte_prefetch` (mmu.c:3119-3143): in the aligned window of `PTE_PREFETCH_NUM` entries of a
 * direct page, every run of non-present entries (the faulting one and present ones end a run) is
 * prefetched at the page's own gfns and access; the first run that fails ends the prefetch.
 */
function directPtePrefetchWindow(mmu: ShadowMmu, ctx: ShadowContext, sp: ShadowPage, idx: number): void {
  const first = idx - (idx % PTE_PREFETCH_NUM);
  let start = -1;
  for (let i = first; i < first + PTE_PREFETCH_NUM; i++) {
    if (isShadowPresent(mmu.readSpteUnchecked(sp, i)) || i === idx) {
      if (start < 0) continue;
      if (!prefetchSptes(mmu, ctx, sp, start, sp.gfnOfUnchecked(start), i - start, sp.role.access)) return;
      start = -1;
    } else if (start < 0) start = i;
  }
  if (start >= 0) prefetchSptes(mmu, ctx, sp, start, sp.gfnOfUnchecked(start), first + PTE_PREFETCH_NUM - start, sp.role.access);
}

/** `direct_pte_prefetch` (mmu.c:3145-3170), after `direct_map`: not without A/D bits, 4K pages only. */
function directPtePrefetch(mmu: ShadowMmu, ctx: ShadowContext, sp: ShadowPage, idx: number): void {
  if (sp.role.adDisabled || sp.level > 1) return;
  directPtePrefetchWindow(mmu, ctx, sp, idx);
}

/** `FNAME(prefetch_gpte)` (paging_tmpl.h:531-546): false ends the prefetch. */
function prefetchGpte(mmu: ShadowMmu, ctx: ShadowContext, sp: ShadowPage, i: number): boolean {
  const fmt = ctx.gptFormat!;
  // The table was read by this fault's walk (an indirect page has a guest format): it is readable.
  const g = readGpteUnchecked(ctx.guestMem, fmt, sp.gfn, (sp.role.quadrant * 512 + i) * fmt.entryBytes)!;
  if (prefetchInvalidGpteUnchecked(fmt, g)) {
    // prefetch_invalid_gpte drops the entry (paging_tmpl.h:169-170): an MMIO SPTE there goes too.
    if (!mmu.isNonpresentValueUnchecked(sp, i)) mmu.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, ctx.vcpu);
    return false;
  }
  const gfn = gpteToGfnUnchecked(g);
  const acc = protectCleanGpteUnchecked(fmt, sp.role.access & gpteAccessUnchecked(fmt, g), g);
  return prefetchSptes(mmu, ctx, sp, i, gfn, 1, acc);
}

/**
 * `FNAME(pte_prefetch)` (paging_tmpl.h:571-607): 4K pages only; a direct page (a guest huge page
 * mapped small) prefetches as `__direct_pte_prefetch`; otherwise the other non-present entries of
 * the aligned group of 8 follow their gPTEs until one cannot be prefetched (`break`).
 */
function ptePrefetch(mmu: ShadowMmu, ctx: ShadowContext, sp: ShadowPage, idx: number): void {
  if (sp.level > 1) return;
  if (sp.role.direct) {
    directPtePrefetchWindow(mmu, ctx, sp, idx);
    return;
  }
  const start = idx - (idx % PTE_PREFETCH_NUM);
  for (let i = start; i < start + PTE_PREFETCH_NUM; i++) {
    if (i === idx || isShadowPresent(mmu.readSpteUnchecked(sp, i))) continue;
    if (!prefetchGpte(mmu, ctx, sp, i)) break;
  }
}

/** `direct_page_fault` via `nonpaging_page_fault` (CR0.PG=0 without TDP): GVA = GPA, ≤ 2M. */
export function directPageFaultUnchecked(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint, errorCode: number): ShadowFaultResult {
  const fault = newPageFault(addr, BigInt(errorCode));
  fault.maxLevel = 2;
  if (fault.present && fault.write && !fault.rsvd && mmu.isWriteTrackedUnchecked(fault.gfn)) {
    return { ret: RET_PF.WRITE_PROTECTED, mmio: false, emulation: 'write to a write-tracked gfn (shadowed upper-level page table)' };
  }
  const why = faultinPfn(mmu, fault);
  if (why !== undefined) return { ret: RET_PF.EMULATE, mmio: false, emulation: why };
  if (isPageFaultStale(mmu, ctx)) return { ret: RET_PF.RETRY, mmio: false };
  mmu.makeMmuPagesAvailableUnchecked(ctx.vcpu);
  let sp = shadowWalkStart(ctx, addr);
  if (sp === null) return { ret: RET_PF.RETRY, mmio: false };
  hugepageAdjustUnchecked(mmu, fault);
  let baseGfn: number;
  for (;;) {
    const idx = indexAt(addr, sp.level);
    if (mmu.config.nxHugePages) disallowedHugepageAdjust(mmu, fault, mmu.readSpteUnchecked(sp, idx), sp.level);
    baseGfn = fault.gfn - (fault.gfn % span(sp.level));
    if (sp.level === fault.goalLevel) break;
    const child = mmu.getChildSpUnchecked(ctx, sp, idx, baseGfn, true, mmu.config.acc.ALL);
    if (child !== null) {
      mmu.linkShadowPageUnchecked(sp, idx, child, ctx.vcpu);
      if (fault.hugePageDisallowed) mmu.accountNxHugePageUnchecked(child, fault.reqLevel >= sp.level);
    }
    sp = mmu.childOfUnchecked(mmu.readSpteUnchecked(sp, idx));
  }
  const idx = indexAt(addr, sp.level);
  const ret = mmuSetSpteUnchecked(mmu, ctx, fault.slot, sp, idx, mmu.config.acc.ALL, baseGfn, fault.pfn, fault);
  if (ret !== RET_PF.SPURIOUS) directPtePrefetch(mmu, ctx, sp, idx); // mmu.c:3387-3391 (direct_map)
  const out: ShadowFaultResult = { ret, mmio: ret === RET_PF.EMULATE };
  if (ret === RET_PF.EMULATE) out.emulation = 'MMIO (new MMIO SPTE)';
  if (ret === RET_PF.WRITE_PROTECTED) out.emulation = 'write to a write-protected gfn (shadowed page table)';
  return out;
}

// ---- the public edge: checked entries (the vCPUs' fault paths call the …Unchecked functions above) ----

function checkMmuCtx(mmu: unknown, ctx: unknown): [ShadowMmu, ShadowContext] {
  if (!(mmu instanceof ShadowMmuClass)) refuse('mmu', 'shadow-mmu', 'must be a ShadowMmu (a VM\'s vm.shadow)', mmu);
  return [mmu, checkContext('ctx', ctx, mmu.vm.guestMem)];
}

/** A fault record (newPageFault): a gfn, a frame, a maximum level 1..3 (KVM_MAX_HUGEPAGE_LEVEL), its flags. */
function checkFault(name: string, v: unknown): PageFault {
  const f = checkObject<PageFault>(name, v);
  checkGfn(`${name}.gfn`, f.gfn);
  checkInt(`${name}.pfn`, f.pfn, { max: GFN_MAX });
  checkPageLevel(`${name}.maxLevel`, f.maxLevel, 1, 3);
  for (const k of ['exec', 'write', 'prefetch', 'mapWritable'] as const) checkBool(`${name}.${k}`, f[k]);
  if (f.slot !== undefined) checkObject(`${name}.slot`, f.slot);
  return f;
}

export function hugepageAdjust(mmu: ShadowMmu, fault: PageFault): void {
  if (!(mmu instanceof ShadowMmuClass)) refuse('mmu', 'shadow-mmu', 'must be a ShadowMmu (a VM\'s vm.shadow)', mmu);
  hugepageAdjustUnchecked(mmu, checkFault('fault', fault));
}

/** `mmu_set_spte`: a leaf of a live page at levels 1-3, the slot the VM maps the gfn with (or none: MMIO). */
export function mmuSetSpte(
  mmu: ShadowMmu, ctx: ShadowContext, slot: Memslot | undefined, sp: ShadowPage, idx: number, pteAccess: number,
  gfn: number, pfn: number, fault: PageFault | null,
): RetPf {
  const [m, c] = checkMmuCtx(mmu, ctx);
  if (slot !== undefined) checkVmSlot('slot', slot, (g) => m.vm.slotOfGfn(g));
  const p = checkPageOf('sp', sp, m);
  if (p.level > 3) refuse('sp', 'leaf-level', `is a level-${p.level} page; leaves exist at levels 1-3 only`, p.level, PageSizeError);
  checkSpteIndex('idx', idx);
  checkAccess('pteAccess', pteAccess, m.config.acc.ALL);
  checkGfn('gfn', gfn);
  checkInt('pfn', pfn, { max: GFN_MAX });
  if (fault !== null) checkFault('fault', fault);
  return mmuSetSpteUnchecked(m, c, slot, p, idx, pteAccess, gfn, pfn, fault);
}

/** `FNAME(page_fault)`: a context that walks guest tables, a u64 address, a 32-bit error code, AC/implicit flags. */
export function shadowPageFault(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint, errorCode: number, accessFlags: number): ShadowFaultResult {
  const [m, c] = checkMmuCtx(mmu, ctx);
  if (c.walkInputs === undefined) refuse('ctx', 'paging-off', 'walks no guest tables (paging off: directPageFault handles it)', c.kind);
  checkSpteValue('addr', addr);
  checkFaultCode('errorCode', errorCode, 'accessFlags', accessFlags, ACCESS_AC | ACCESS_IMPLICIT);
  return shadowPageFaultUnchecked(m, c, addr, errorCode, accessFlags);
}

export function shadowWalkRefs(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint): number {
  const [m, c] = checkMmuCtx(mmu, ctx);
  return shadowWalkRefsUnchecked(m, c, checkSpteValue('addr', addr));
}

/** `nonpaging_page_fault`: only for a direct (paging off) context; GVA = GPA below 2^52. */
export function directPageFault(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint, errorCode: number): ShadowFaultResult {
  const [m, c] = checkMmuCtx(mmu, ctx);
  if (!c.direct) refuse('ctx', 'not-direct', 'shadows guest tables (paging on: shadowPageFault handles it)', c.kind);
  checkBigint('addr', addr, { max: (1n << 52n) - 1n });
  checkFaultCode('errorCode', errorCode);
  return directPageFaultUnchecked(m, c, addr, errorCode);
}
