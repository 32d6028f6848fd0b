/**
 * Roots (reference §2.8, §8.3, §8.8): `kvm_mmu_load` (shadow roots for every guest mode — one
 * root page for 4/5-level guests, a PAE root of four level-2 pages for PAE and 32-bit guests,
 * whose quadrants split the 32-bit page directory, and four direct pages with paging off), the
 * three-entry previous-roots cache of `kvm_mmu_new_pgd` / `fast_pgd_switch`, freeing roots, and
 * the root syncs that CR3 loads and guest TLB flushes trigger.
 */
import { rsvdBits } from '../bits';
import type { ShadowMmu } from './shadow-mmu';
import type { ShadowPage } from './shadow-page';
import { INVALID_ROOT, NUM_PREV_ROOTS, type RootRef, type ShadowContext } from './shadow-context';
import { mmuSyncChildrenUnchecked } from './sync';
import { ShadowMmu as ShadowMmuClass } from './shadow-mmu';
import { checkArray, checkBool, checkContext, checkInt, checkObject, checkSpteValue, refuse } from './check-shadow-args';

const PT_BASE_ADDR_MASK = rsvdBits(12, 51);

export interface RootsToFree {
  current?: boolean;
  /** Which previous roots (indices 0..2). */
  prev?: readonly number[];
}

function putRootRef(mmu: ShadowMmu, ctx: ShadowContext, r: RootRef, invalid: ShadowPage[]): void {
  if (r.hpa < 0) return;
  if (r.sp !== null) {
    mmu.putRootUnchecked(r.sp, invalid, ctx.vcpu);
    return;
  }
  // A PAE root: drop each of its four pages.
  for (let i = 0; i < 4; i++) {
    const sp = ctx.paeRootSps[i];
    if (sp === null || sp === undefined) continue;
    mmu.putRootUnchecked(sp, invalid, ctx.vcpu);
    ctx.paeRootSps[i] = null;
    mmu.writeSpecialRootUnchecked(ctx.paeRootPfn, i, 0n);
    ctx.paeHalves[i * 2] = 0;
    ctx.paeHalves[i * 2 + 1] = 0;
  }
}

/** `kvm_mmu_free_roots`. */
export function freeRootsUnchecked(mmu: ShadowMmu, ctx: ShadowContext, which: RootsToFree): void {
  const invalid: ShadowPage[] = [];
  for (const i of which.prev ?? []) {
    putRootRef(mmu, ctx, ctx.prevRoots[i]!, invalid);
    ctx.prevRoots[i] = INVALID_ROOT;
  }
  if (which.current && ctx.root.hpa >= 0) {
    putRootRef(mmu, ctx, ctx.root, invalid);
    mmu.vm.events.recordUnchecked({ kind: 'root_free', vcpu: ctx.vcpu, level: ctx.rootRole.level, outcome: `${ctx.kind} pgd 0x${ctx.root.pgd.toString(16)}` });
    ctx.root = INVALID_ROOT;
  }
  mmu.commitZapUnchecked(invalid, ctx.vcpu);
}

export function freeAllRootsUnchecked(mmu: ShadowMmu, ctx: ShadowContext): void {
  freeRootsUnchecked(mmu, ctx, { current: true, prev: [0, 1, 2] });
}

/** `mmu_alloc_root`: a root page with root_count held by this vCPU. */
function allocRoot(mmu: ShadowMmu, ctx: ShadowContext, gfn: number, quadrant: number, level: number): ShadowPage {
  const sp = mmu.getShadowPageUnchecked(ctx, gfn, ctx.rootRole.with({ level, quadrant }));
  sp.rootCount++;
  return sp;
}

/** `kvm_mmu_load` when the root is invalid: allocate, sync, and let the hardware load it. */
export function mmuLoadUnchecked(mmu: ShadowMmu, ctx: ShadowContext, pgd: bigint): void {
  if (ctx.root.hpa >= 0) return;
  mmu.makeMmuPagesAvailableUnchecked(ctx.vcpu);
  const rootGfn = Number((pgd & PT_BASE_ADDR_MASK) >> 12n);
  const special = ctx.usesSpecialRoots;
  if (!ctx.usesPaeRoot && !special) {
    const sp = allocRoot(mmu, ctx, ctx.direct ? 0 : rootGfn, 0, ctx.rootRole.level);
    ctx.root = { hpa: sp.pfn, sp, pgd: ctx.direct ? 0n : pgd };
  } else {
    if (ctx.paeRootPfn < 0) ctx.paeRootPfn = mmu.vm.host.allocTable();
    // Under a 4/5-level host the PAE root is a real PDPT in a long-mode walk, so its entries (and
    // the special roots above it) carry P|W|U|A, as pm_mask in mmu_alloc_shadow_roots.
    const pmMask = special ? 0x27n : 1n;
    if (special) {
      if (ctx.pml4RootPfn < 0) ctx.pml4RootPfn = mmu.vm.host.allocTable();
      mmu.writeSpecialRootUnchecked(ctx.pml4RootPfn, 0, (BigInt(ctx.paeRootPfn) << 12n) | pmMask);
      if (ctx.rootRole.level === 5) {
        if (ctx.pml5RootPfn < 0) ctx.pml5RootPfn = mmu.vm.host.allocTable();
        mmu.writeSpecialRootUnchecked(ctx.pml5RootPfn, 0, (BigInt(ctx.pml4RootPfn) << 12n) | pmMask);
      }
    }
    const cpuLevel = ctx.cpuRole.base.level;
    for (let i = 0; i < 4; i++) {
      let gfn: number;
      if (ctx.direct) gfn = i << 18; // paging off: four direct 1 GiB quarters
      else if (cpuLevel === 3) {
        const pdpte = ctx.pdptrs![i]!;
        if ((pdpte & 1n) === 0n) continue; // INVALID_PAE_ROOT
        gfn = Number((pdpte & PT_BASE_ADDR_MASK) >> 12n);
      } else gfn = rootGfn;
      // A 32-bit guest's page directory is shadowed by four PAE directories, one per quadrant.
      const sp = allocRoot(mmu, ctx, gfn, cpuLevel === 2 ? i : 0, 2);
      ctx.paeRootSps[i] = sp;
      const entry = (BigInt(sp.pfn) << 12n) | pmMask; // root | pm_mask
      mmu.writeSpecialRootUnchecked(ctx.paeRootPfn, i, entry);
      ctx.paeHalves[i * 2] = Number(entry & 0xffffffffn);
      ctx.paeHalves[i * 2 + 1] = Number(entry >> 32n);
    }
    const top = !special ? ctx.paeRootPfn : ctx.rootRole.level === 5 ? ctx.pml5RootPfn : ctx.pml4RootPfn;
    ctx.root = { hpa: top, sp: null, pgd: ctx.direct ? 0n : pgd };
  }
  mmu.vm.events.recordUnchecked({ kind: 'root_alloc', vcpu: ctx.vcpu, level: ctx.rootRole.level, outcome: `${ctx.kind} pgd 0x${pgd.toString(16)}${ctx.usesPaeRoot ? ' (PAE root)' : special ? ' (special roots over the PAE root)' : ''}` });
  syncRootsUnchecked(mmu, ctx);
  ctx.tlbFlushCurrent = true; // kvm_mmu_load: kvm_x86_call(flush_tlb_current) (mmu.c:5919)
}

function isUnsyncRoot(sp: ShadowPage): boolean {
  return sp.unsync || sp.unsyncChildren > 0;
}

/** `kvm_mmu_sync_roots`. */
export function syncRootsUnchecked(mmu: ShadowMmu, ctx: ShadowContext): void {
  ctx.syncRequested = false;
  if (ctx.direct || ctx.root.hpa < 0) return;
  if (ctx.root.sp !== null) {
    if (isUnsyncRoot(ctx.root.sp)) mmuSyncChildrenUnchecked(mmu, ctx, ctx.root.sp);
    return;
  }
  for (const sp of ctx.paeRootSps) if (sp !== null) mmuSyncChildrenUnchecked(mmu, ctx, sp);
}

/** `kvm_mmu_sync_prev_roots`: previous roots that need a sync are freed instead. */
export function syncPrevRootsUnchecked(mmu: ShadowMmu, ctx: ShadowContext): void {
  const prev: number[] = [];
  ctx.prevRoots.forEach((r, i) => {
    if (r.sp !== null && isUnsyncRoot(r.sp)) prev.push(i);
  });
  // Unconditional, as in KVM (mmu.c:4222): freeing no root does nothing.
  freeRootsUnchecked(mmu, ctx, { prev });
}

function isRootUsable(mmu: ShadowMmu, r: RootRef, pgd: bigint, ctx: ShadowContext): boolean {
  if (r.hpa < 0 || r.sp === null) return false;
  if (!ctx.rootRole.direct && pgd !== r.pgd) return false;
  void mmu;
  return r.sp.role.word === ctx.rootRole.word;
}

/** `fast_pgd_switch`: rotate the current root through the cache looking for (pgd, role). */
function fastPgdSwitch(mmu: ShadowMmu, ctx: ShadowContext, pgd: bigint): boolean {
  // Roots without a page (PAE roots) are freed, not cached.
  if (ctx.root.hpa >= 0 && ctx.root.sp === null) freeRootsUnchecked(mmu, ctx, { current: true });
  if (ctx.root.hpa >= 0) {
    if (isRootUsable(mmu, ctx.root, pgd, ctx)) return true;
    for (let i = 0; i < NUM_PREV_ROOTS; i++) {
      const t = ctx.root;
      ctx.root = ctx.prevRoots[i]!;
      ctx.prevRoots[i] = t;
      if (isRootUsable(mmu, ctx.root, pgd, ctx)) return true;
    }
    freeRootsUnchecked(mmu, ctx, { current: true });
    return false;
  }
  for (let i = 0; i < NUM_PREV_ROOTS; i++) {
    if (!isRootUsable(mmu, ctx.prevRoots[i]!, pgd, ctx)) continue;
    ctx.root = ctx.prevRoots[i]!;
    for (let j = i; j < NUM_PREV_ROOTS - 1; j++) ctx.prevRoots[j] = ctx.prevRoots[j + 1]!;
    ctx.prevRoots[NUM_PREV_ROOTS - 1] = INVALID_ROOT;
    return true;
  }
  return false;
}

/** `kvm_mmu_new_pgd`: a cached root is reused; otherwise the next load allocates. */
export function newPgdUnchecked(mmu: ShadowMmu, ctx: ShadowContext, pgd: bigint): boolean {
  const hit = fastPgdSwitch(mmu, ctx, pgd);
  ctx.stats.inc(hit ? 'root_cache_hit' : 'root_cache_miss');
  if (hit && !ctx.rootRole.direct && ctx.root.sp !== null) ctx.root.sp.writeFloodingCount = 0;
  mmu.vm.events.recordUnchecked({ kind: 'cr3_switch', vcpu: ctx.vcpu, gpa: pgd, outcome: `${ctx.kind}: root cache ${hit ? 'hit' : 'miss'}` });
  return hit;
}

/** KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: free roots whose page is obsolete, and every PAE root. */
export function freeObsoleteRootsUnchecked(mmu: ShadowMmu, ctx: ShadowContext): void {
  if (ctx.obsoleteSeen === mmu.freeObsoleteRootsRequest) return;
  ctx.obsoleteSeen = mmu.freeObsoleteRootsRequest;
  const obsolete = (r: RootRef) => r.hpa >= 0 && (r.sp === null || mmu.isObsoleteUnchecked(r.sp));
  const prev: number[] = [];
  ctx.prevRoots.forEach((r, i) => {
    if (obsolete(r)) prev.push(i);
  });
  freeRootsUnchecked(mmu, ctx, { current: obsolete(ctx.root), prev });
}

/** `kvm_get_pcid`. */
export function pcidOfUnchecked(pgd: bigint, pcide: boolean): number {
  return pcide ? Number(pgd & 0xfffn) : 0;
}

/** `kvm_invalidate_pcid` without TDP: sync the current root if it uses the PCID; free matching previous roots. */
export function invalidatePcidUnchecked(mmu: ShadowMmu, ctx: ShadowContext, pcid: number, activePgd: bigint, pcide: boolean): void {
  // KVM_REQ_MMU_SYNC + KVM_REQ_TLB_FLUSH_CURRENT (x86.c:1397-1400).
  if (pcidOfUnchecked(activePgd, pcide) === pcid) {
    ctx.syncRequested = true;
    ctx.tlbFlushCurrent = true;
  }
  if (!pcide) return;
  // Every previous root with the PCID, valid or not, as KVM lists them (x86.c:1410-1414): an
  // invalid one is left as it is by freeRoots.
  const prev: number[] = [];
  ctx.prevRoots.forEach((r, i) => {
    if (pcidOfUnchecked(r.pgd, pcide) === pcid) prev.push(i);
  });
  freeRootsUnchecked(mmu, ctx, { prev });
}

// ---- the public edge: checked entries (the vCPUs' paths call the …Unchecked functions above) ----

function checkMmuCtx(mmu: unknown, ctx: unknown): [ShadowMmu, ShadowContext] {
  if (!(mmu instanceof ShadowMmuClass)) refuse('mmu', 'shadow-mmu', 'must be a ShadowMmu (a VM\'s vm.shadow)', mmu);
  return [mmu, checkContext('ctx', ctx, mmu.vm.guestMem)];
}

/** `kvm_mmu_free_roots`: `which.prev` lists distinct previous-root indices 0..2 (KVM_MMU_NUM_PREV_ROOTS). */
export function freeRoots(mmu: ShadowMmu, ctx: ShadowContext, which: RootsToFree): void {
  checkMmuCtx(mmu, ctx);
  const w = checkObject<RootsToFree>('which', which);
  if (w.current !== undefined) checkBool('which.current', w.current);
  if (w.prev !== undefined) {
    const p = checkArray('which.prev', w.prev);
    p.forEach((i, k) => {
      checkInt(`which.prev[${k}]`, i, { max: NUM_PREV_ROOTS - 1 });
      if (p.indexOf(i) !== k) refuse(`which.prev[${k}]`, 'duplicate-root', 'is listed twice', i);
    });
  }
  freeRootsUnchecked(mmu, ctx, w);
}

export function freeAllRoots(mmu: ShadowMmu, ctx: ShadowContext): void {
  checkMmuCtx(mmu, ctx);
  freeAllRootsUnchecked(mmu, ctx);
}

/** `kvm_mmu_load`: `pgd` is the guest's CR3 (or EPTP/nCR3), a u64. */
export function mmuLoad(mmu: ShadowMmu, ctx: ShadowContext, pgd: bigint): void {
  checkMmuCtx(mmu, ctx);
  mmuLoadUnchecked(mmu, ctx, checkSpteValue('pgd', pgd));
}

export function syncRoots(mmu: ShadowMmu, ctx: ShadowContext): void {
  checkMmuCtx(mmu, ctx);
  syncRootsUnchecked(mmu, ctx);
}

export function syncPrevRoots(mmu: ShadowMmu, ctx: ShadowContext): void {
  checkMmuCtx(mmu, ctx);
  syncPrevRootsUnchecked(mmu, ctx);
}

export function newPgd(mmu: ShadowMmu, ctx: ShadowContext, pgd: bigint): boolean {
  checkMmuCtx(mmu, ctx);
  return newPgdUnchecked(mmu, ctx, checkSpteValue('pgd', pgd));
}

export function freeObsoleteRoots(mmu: ShadowMmu, ctx: ShadowContext): void {
  checkMmuCtx(mmu, ctx);
  freeObsoleteRootsUnchecked(mmu, ctx);
}

/** `kvm_get_pcid`: CR3 a u64, CR4.PCIDE a boolean. */
export function pcidOf(pgd: bigint, pcide: boolean): number {
  return pcidOfUnchecked(checkSpteValue('pgd', pgd), checkBool('pcide', pcide));
}

/** `kvm_invalidate_pcid`: a PCID is 12 bits (SDM Vol. 3A 4.10.1). */
export function invalidatePcid(mmu: ShadowMmu, ctx: ShadowContext, pcid: number, activePgd: bigint, pcide: boolean): void {
  checkMmuCtx(mmu, ctx);
  checkInt('pcid', pcid, { max: 0xfff });
  checkSpteValue('activePgd', activePgd);
  checkBool('pcide', pcide);
  invalidatePcidUnchecked(mmu, ctx, pcid, activePgd, pcide);
}
