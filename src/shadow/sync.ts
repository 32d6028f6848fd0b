/**
 * Sync (reference §8.8, §8.9): re-read the guest entries of unsync pages and update or drop the
 * SPTEs built from them — `kvm_sync_page` / `FNAME(sync_spte)`, `mmu_sync_children` for
 * everything below a root, and `kvm_mmu_invalidate_addr` (INVLPG: one entry per root).
 */
import { ACC_WRITE } from '../format/acc';
import { SHADOW_NONPRESENT_VALUE } from '../spte/spte-config';
import {
  isHostWritable, isLastSpte, isMmioSpte, isShadowPresent, isWritable, kvmMmuPageAdNeedWriteProtect, leafSpteChangeNeedsTlbFlush,
  makeMmioSpte, makeSpte, mmioSpteGfn, spteToPfn,
} from '../spte/spte';
import { PageRole } from '../role/page-role';
import { gpteAccessUnchecked, gpteToGfnUnchecked, prefetchInvalidGpteUnchecked, protectCleanGpteUnchecked, readGpteUnchecked } from './gpte';
import type { ShadowMmuOps } from './shadow-mmu-ops';
import type { ShadowPage } from './shadow-page';
import type { ShadowContext } from './shadow-context';
import { clearParentsUnchecked, mmuTryToUnsyncPagesUnchecked, unlinkUnsyncUnchecked, unsyncWalkUnchecked } from './unsync';
import { checkContext, checkMmuOps, checkPageOf, checkPagesOf, checkRootHpa, checkSpteIndex, checkSpteValue, refuse } from './check-shadow-args';

/** `sync_role_ign`: level, access, quadrant and passthrough may differ from root_role (per role layout). */
const SYNC_ROLE_IGN = {
  '6.16': PageRole.pack({ level: 0xf, access: 7, quadrant: 3, passthrough: true }, '6.16').word,
  '7.3': PageRole.pack({ level: 0xf, access: 0xf, quadrant: 3, passthrough: true }, '7.3').word,
} as const;

/**
 * `mmu_spte_update`'s answer (mmu.c:493-514) for a present new SPTE: a non-present old one needs no
 * flush; otherwise `leaf_spte_change_needs_tlb_flush` (only losing MMU-writable flushes, v6.13+).
 */
export function spteChangeNeedsFlushUnchecked(mmu: ShadowMmuOps, old: bigint, next: bigint): boolean {
  return isShadowPresent(old) && leafSpteChangeNeedsTlbFlush(mmu.config, old, next);
}

/** `FNAME(sync_spte)`: <0 the page must be zapped, 1 a flush is needed, 0 nothing changed that matters. */
export function syncSpteUnchecked(mmu: ShadowMmuOps, ctx: ShadowContext, sp: ShadowPage, i: number): number {
  const fmt = ctx.gptFormat!;
  const g = readGpteUnchecked(ctx.guestMem, fmt, sp.gfn, (sp.role.quadrant * 512 + i) * fmt.entryBytes);
  mmu.vm.stats.inc('mmu_sync_gpte_reads');
  if (g === undefined) return -1;
  const vcpu = ctx.vcpu;
  if (prefetchInvalidGpteUnchecked(fmt, g)) {
    mmu.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, vcpu);
    return 1;
  }
  const gfn = gpteToGfnUnchecked(g);
  const acc = protectCleanGpteUnchecked(fmt, sp.role.access & gpteAccessUnchecked(fmt, g), g);
  const old = mmu.readSpteUnchecked(sp, i);
  if (isMmioSpte(mmu.config, old)) {
    // sync_mmio_spte: a moved target drops it, otherwise it is rebuilt with the new access.
    if (gfn !== mmioSpteGfn(old, mmu.config.hostMaxPhyAddr)) mmu.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, vcpu);
    else mmu.setSpteUnchecked(sp, i, makeMmioSpte(mmu.config, gfn, acc, mmu.vm.mmioGeneration), vcpu);
    return 0;
  }
  if ((BigInt(acc) | mmu.config.presentMask) === SHADOW_NONPRESENT_VALUE || gfn !== sp.gfnOfUnchecked(i)) {
    mmu.setSpteUnchecked(sp, i, SHADOW_NONPRESENT_VALUE, vcpu);
    return 1;
  }
  if (acc === sp.accessOfUnchecked(i)) return 0;
  const hostWritable = isHostWritable(mmu.config, old);
  const wantW = (acc & ACC_WRITE) !== 0 && hostWritable;
  const must = wantW && (!isLastSpte(old, sp.level) || !isWritable(old)) && mmuTryToUnsyncPagesUnchecked(mmu, gfn, true, true, vcpu);
  const { spte } = makeSpte(mmu.config, {
    level: sp.level, adDisabled: sp.role.adDisabled, adNeedWriteProtect: kvmMmuPageAdNeedWriteProtect(mmu.config, sp.role.guestMode), pteAccess: acc, pfn: spteToPfn(old),
    isMmioPfn: false, prefetch: true, synchronizing: true, hostWritable, mustWriteProtect: must,
  });
  sp.setTranslationUnchecked(i, gfn, acc);
  mmu.setSpteUnchecked(sp, i, spte, vcpu);
  mmu.markDirtyIfWritableUnchecked(gfn, spte);
  return spteChangeNeedsFlushUnchecked(mmu, old, spte) ? 1 : 0;
}

/** `kvm_sync_page`: check the role, sync every entry; zap the page if that fails. */
export function syncPageUnchecked(mmu: ShadowMmuOps, ctx: ShadowContext, sp: ShadowPage, invalid: ShadowPage[]): number {
  let r = 0;
  if (sp.role.direct || ctx.gptFormat === undefined || ((sp.role.word ^ ctx.rootRole.word) & ~SYNC_ROLE_IGN[sp.role.kvm]) !== 0) {
    r = -1;
  } else {
    mmu.vm.stats.inc('mmu_sync_pages');
    // __kvm_sync_page (mmu.c:2047-2051) stops only for ret < -1, which sync_spte never returns: an
    // unreadable gPTE's -1 is OR-ed in (r stays -1, so the page is zapped) and the loop goes on.
    for (let i = 0; i < 512; i++) {
      if (mmu.isNonpresentValueUnchecked(sp, i)) continue;
      r |= syncSpteUnchecked(mmu, ctx, sp, i);
    }
  }
  mmu.vm.events.recordUnchecked({ kind: 'sync', vcpu: ctx.vcpu, gpa: BigInt(sp.gfn) << 12n, level: sp.level, outcome: r < 0 ? 'sync failed: zap' : r > 0 ? 'synced, flush' : 'synced' });
  if (r < 0) mmu.prepareZapUnchecked(sp, invalid, ctx.vcpu);
  return r;
}

/** `mmu_sync_children`: write-protect, mark synced and sync every unsync page below `parent`. */
export function mmuSyncChildrenUnchecked(mmu: ShadowMmuOps, ctx: ShadowContext, parent: ShadowPage): void {
  const invalid: ShadowPage[] = [];
  let flush = false;
  for (;;) {
    const pages = unsyncWalkUnchecked(mmu, parent);
    if (pages.length === 0) break;
    let prot = false;
    for (const p of pages) prot = mmu.writeProtectGfnUnchecked(p.sp.gfn, ctx.vcpu) || prot;
    if (prot) {
      if (invalid.length > 0) mmu.commitZapUnchecked(invalid, ctx.vcpu);
      else mmu.tlbFlushUnchecked(ctx.vcpu, 'write-protect pages to sync');
      flush = false;
    }
    // mmu.c:2193-2197: every page the walk returns is unsync and valid (a failed sync zaps only
    // its own level-1 page, which has no child pages), so both calls are unconditional.
    for (const p of pages) {
      unlinkUnsyncUnchecked(mmu, p.sp);
      flush = syncPageUnchecked(mmu, ctx, p.sp, invalid) > 0 || flush;
      clearParentsUnchecked(p.path);
    }
  }
  if (invalid.length > 0) mmu.commitZapUnchecked(invalid, ctx.vcpu);
  else if (flush) mmu.tlbFlushUnchecked(ctx.vcpu, 'sync');
}

/** The shadow page and index on the path of `addr` at each level below a root, top first. */
export function shadowPathUnchecked(mmu: ShadowMmuOps, ctx: ShadowContext, rootHpa: number, addr: bigint): { sp: ShadowPage; idx: number }[] {
  const out: { sp: ShadowPage; idx: number }[] = [];
  let sp: ShadowPage | null | undefined;
  if ((rootHpa === ctx.paeRootPfn && ctx.usesPaeRoot) || (rootHpa >= 0 && (rootHpa === ctx.pml4RootPfn || rootHpa === ctx.pml5RootPfn))) {
    // A PAE root, or special roots over one: the PDPT-level entry is not a shadow page, and
    // shadow_walk_init_using_root starts at pae_root[(addr >> 30) & 3] for both.
    sp = ctx.paeRootSps[Number((addr >> 30n) & 3n)];
  }
  else sp = mmu.pageAtUnchecked(rootHpa);
  while (sp !== null && sp !== undefined) {
    const idx = Number((addr >> BigInt(12 + 9 * (sp.level - 1))) & 511n);
    out.push({ sp, idx });
    const spte = mmu.readSpteUnchecked(sp, idx);
    if (!isShadowPresent(spte) || isLastSpte(spte, sp.level)) break;
    sp = mmu.childOfUnchecked(spte);
  }
  return out;
}

/** `__kvm_mmu_invalidate_addr` for one root: sync the entry of `addr` in unsync pages on the path. */
export function invalidateAddrInRootUnchecked(mmu: ShadowMmuOps, ctx: ShadowContext, rootHpa: number, addr: bigint): void {
  if (rootHpa < 0) return;
  for (const { sp, idx } of shadowPathUnchecked(mmu, ctx, rootHpa, addr)) {
    if (sp.unsync) {
      const r = mmu.readSpteUnchecked(sp, idx) === SHADOW_NONPRESENT_VALUE ? 0 : syncSpteUnchecked(mmu, ctx, sp, idx);
      if (r < 0) mmu.zapPteUnchecked(sp, idx, null, ctx.vcpu);
      if (r !== 0) mmu.tlbFlushUnchecked(ctx.vcpu, 'invlpg sync', sp.gfnOfUnchecked(idx), sp.level);
    }
    if (sp.unsyncChildren === 0) break;
  }
}

// ---- the public edge: checked entries (the MMU's own paths call the …Unchecked functions above) ----

function checkMmuCtx(mmu: unknown, ctx: unknown): [ShadowMmuOps, ShadowContext] {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  return [m, checkContext('ctx', ctx, m.vm.guestMem)];
}

/** A page whose gPTEs a sync re-reads: indirect, of a context that walks guest tables. */
function checkSyncable(m: ShadowMmuOps, c: ShadowContext, sp: unknown): ShadowPage {
  const p = checkPageOf('sp', sp, m);
  if (!p.hasGptes) refuse('sp', 'sync-direct', 'is a direct page: it has no gPTEs to sync', p);
  if (c.gptFormat === undefined) refuse('ctx', 'sync-paging-off', 'walks no guest tables (paging off): nothing to sync from', c.kind);
  return p;
}

export function spteChangeNeedsFlush(mmu: ShadowMmuOps, old: bigint, next: bigint): boolean {
  const m = checkMmuOps<ShadowMmuOps>('mmu', mmu);
  return spteChangeNeedsFlushUnchecked(m, checkSpteValue('old', old), checkSpteValue('next', next));
}

export function syncSpte(mmu: ShadowMmuOps, ctx: ShadowContext, sp: ShadowPage, i: number): number {
  const [m, c] = checkMmuCtx(mmu, ctx);
  const p = checkSyncable(m, c, sp);
  return syncSpteUnchecked(m, c, p, checkSpteIndex('i', i));
}

export function syncPage(mmu: ShadowMmuOps, ctx: ShadowContext, sp: ShadowPage, invalid: ShadowPage[]): number {
  const [m, c] = checkMmuCtx(mmu, ctx);
  const p = checkPageOf('sp', sp, m);
  return syncPageUnchecked(m, c, p, checkPagesOf('invalid', invalid, m));
}

export function mmuSyncChildren(mmu: ShadowMmuOps, ctx: ShadowContext, parent: ShadowPage): void {
  const [m, c] = checkMmuCtx(mmu, ctx);
  mmuSyncChildrenUnchecked(m, c, checkPageOf('parent', parent, m));
}

export function shadowPath(mmu: ShadowMmuOps, ctx: ShadowContext, rootHpa: number, addr: bigint): { sp: ShadowPage; idx: number }[] {
  const [m, c] = checkMmuCtx(mmu, ctx);
  return shadowPathUnchecked(m, c, checkRootHpa('rootHpa', rootHpa), checkSpteValue('addr', addr));
}

export function invalidateAddrInRoot(mmu: ShadowMmuOps, ctx: ShadowContext, rootHpa: number, addr: bigint): void {
  const [m, c] = checkMmuCtx(mmu, ctx);
  invalidateAddrInRootUnchecked(m, c, checkRootHpa('rootHpa', rootHpa), checkSpteValue('addr', addr));
}
