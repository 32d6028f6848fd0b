/**
 * Unsync bookkeeping (reference §8.7): `mmu_try_to_unsync_pages`, `kvm_unsync_page`,
 * `mark_unsync` (the unsync-children bitmaps that lead from a root to every unsync page), and the
 * walk that collects unsync pages below a parent (`mmu_unsync_walk`) with the bottom-up clearing
 * that follows each sync (`mmu_pages_clear_parents`).
 */
import { isLargePte, isShadowPresent } from '../spte/spte';
import type { ShadowMmuOps } from './shadow-mmu-ops';
import type { ShadowPage, SptePtr } from './shadow-page';
import { checkArray, checkBool, checkGfn, checkMmuOps, checkObject, checkPageOf, checkShadowPage, checkSpteIndex, checkVcpuArg, refuse } from './check-shadow-args';

/** `PVEC_SIZE`: pages collected per round of a sync or zap walk. */
const PVEC_SIZE = 16;

/**
 * `mmu_try_to_unsync_pages`: true when the SPTE must stay read-only (KVM's non-zero return): the
 * gfn is write-tracked (an upper-level page shadows it), or a level-1 page there cannot be let go
 * unsync now (while synchronizing, or for a prefetch). Otherwise every such page goes unsync.
 */
export function mmuTryToUnsyncPagesUnchecked(mmu: ShadowMmuOps, gfn: number, synchronizing: boolean, prefetch: boolean, vcpu: number): boolean {
  if (mmu.isWriteTrackedUnchecked(gfn)) return true;
  for (const sp of mmu.validSpsWithGptesUnchecked(gfn)) {
    // The `unsync: false` what-if: refuse as KVM does for a page that cannot go unsync (-EPERM).
    if (synchronizing || !mmu.vm.unsyncAllowed) return true;
    if (sp.unsync) continue;
    if (prefetch) return true;
    kvmUnsyncPageUnchecked(mmu, sp, vcpu);
  }
  return false;
}

/** `kvm_unsync_page`: only level-1 pages reach here (upper levels are write-tracked). */
export function kvmUnsyncPageUnchecked(mmu: ShadowMmuOps, sp: ShadowPage, vcpu: number): void {
  sp.unsync = true;
  mmu.vm.stats.inc('mmu_unsync');
  for (const p of sp.parentPtes) markUnsyncUnchecked(mmu, p.sp, p.idx);
  mmu.vm.events.recordUnchecked({ kind: 'unsync', vcpu, gpa: BigInt(sp.gfn) << 12n, level: sp.level, outcome: `quadrant ${sp.role.quadrant}` });
}

/** `mark_unsync(sptep)`: set the bit; the first bit of a page propagates to its own parents. */
export function markUnsyncUnchecked(mmu: ShadowMmuOps, sp: ShadowPage, idx: number): void {
  if (sp.unsyncChildBitmap[idx]) return;
  sp.unsyncChildBitmap[idx] = 1;
  if (sp.unsyncChildren++ > 0) return;
  for (const p of sp.parentPtes) markUnsyncUnchecked(mmu, p.sp, p.idx);
}

/** `kvm_unlink_unsync_page`. */
export function unlinkUnsyncUnchecked(mmu: ShadowMmuOps, sp: ShadowPage): void {
  sp.unsync = false;
  mmu.vm.stats.inc('mmu_unsync', -1);
}

export function clearUnsyncChildBitUnchecked(sp: ShadowPage, idx: number): void {
  if (!sp.unsyncChildBitmap[idx]) return;
  sp.unsyncChildBitmap[idx] = 0;
  sp.unsyncChildren--;
}

export interface UnsyncLeaf {
  sp: ShadowPage;
  /** The links from the walked parent down to `sp`, top first. */
  path: SptePtr[];
}

/** `mmu_unsync_walk`: up to PVEC_SIZE unsync pages below `parent`, clearing stale bitmap bits. */
export function unsyncWalkUnchecked(mmu: ShadowMmuOps, parent: ShadowPage): UnsyncLeaf[] {
  const out: UnsyncLeaf[] = [];
  if (parent.unsyncChildren === 0) return out;
  walk(mmu, parent, [], out, new Set());
  return out;
}

function walk(mmu: ShadowMmuOps, sp: ShadowPage, path: SptePtr[], out: UnsyncLeaf[], seen: Set<ShadowPage>): number {
  let nr = 0;
  for (let i = 0; i < 512; i++) {
    if (!sp.unsyncChildBitmap[i]) continue;
    const spte = mmu.readSpteUnchecked(sp, i);
    if (!isShadowPresent(spte) || isLargePte(spte)) {
      clearUnsyncChildBitUnchecked(sp, i);
      continue;
    }
    const child = mmu.childOfUnchecked(spte);
    const here = [...path, { sp, idx: i }];
    if (child.unsyncChildren > 0) {
      const r = walk(mmu, child, here, out, seen);
      if (r === 0) clearUnsyncChildBitUnchecked(sp, i);
      else nr += r;
    } else if (child.unsync) {
      nr++;
      if (!seen.has(child)) {
        seen.add(child);
        out.push({ sp: child, path: here });
      }
    } else {
      clearUnsyncChildBitUnchecked(sp, i);
    }
    if (out.length >= PVEC_SIZE) return nr;
  }
  return nr;
}

/** `mmu_pages_clear_parents`: clear the link bit bottom-up while a parent has no unsync child left. */
export function clearParentsUnchecked(path: SptePtr[]): void {
  for (let j = path.length - 1; j >= 0; j--) {
    const { sp, idx } = path[j]!;
    clearUnsyncChildBitUnchecked(sp, idx);
    if (sp.unsyncChildren > 0) break;
  }
}

// ---- the public edge: checked entries (the MMU's own paths call the …Unchecked functions above) ----

export function mmuTryToUnsyncPages(mmu: ShadowMmuOps, gfn: number, synchronizing: boolean, prefetch: boolean, vcpu: number): boolean {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  checkGfn('gfn', gfn);
  checkBool('synchronizing', synchronizing);
  checkBool('prefetch', prefetch);
  return mmuTryToUnsyncPagesUnchecked(m, gfn, synchronizing, prefetch, checkVcpuArg('vcpu', vcpu));
}

/** Only a synced indirect level-1 page goes unsync (mmu.c kvm_unsync_page: WARN_ON(sp->role.level != PG_LEVEL_4K)). */
export function kvmUnsyncPage(mmu: ShadowMmuOps, sp: ShadowPage, vcpu: number): void {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  const p = checkPageOf('sp', sp, m);
  if (p.level !== 1 || !p.hasGptes || p.unsync) refuse('sp', 'unsync-page', 'must be a synced indirect level-1 page (only those go unsync)', p);
  kvmUnsyncPageUnchecked(m, p, checkVcpuArg('vcpu', vcpu));
}

export function markUnsync(mmu: ShadowMmuOps, sp: ShadowPage, idx: number): void {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  markUnsyncUnchecked(m, checkPageOf('sp', sp, m), checkSpteIndex('idx', idx));
}

/** `kvm_unlink_unsync_page`: the page must be unsync (mmu_unsync would go below zero). */
export function unlinkUnsync(mmu: ShadowMmuOps, sp: ShadowPage): void {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  const p = checkPageOf('sp', sp, m);
  if (!p.unsync) refuse('sp', 'not-unsync', 'is not unsync', p);
  unlinkUnsyncUnchecked(m, p);
}

export function clearUnsyncChildBit(sp: ShadowPage, idx: number): void {
  clearUnsyncChildBitUnchecked(checkShadowPage('sp', sp), checkSpteIndex('idx', idx));
}

export function unsyncWalk(mmu: ShadowMmuOps, parent: ShadowPage): UnsyncLeaf[] {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  return unsyncWalkUnchecked(m, checkPageOf('parent', parent, m));
}

/** A path of SPTE pointers (page, index), top first, as unsyncWalk returns it. */
export function clearParents(path: SptePtr[]): void {
  checkArray('path', path).forEach((p, i) => {
    const o = checkObject<SptePtr>(`path[${i}]`, p);
    checkShadowPage(`path[${i}].sp`, o.sp);
    checkSpteIndex(`path[${i}].idx`, o.idx);
  });
  clearParentsUnchecked(path);
}
