/**
 * Unsync bookkeeping (src/shadow/unsync.ts: `mmu_try_to_unsync_pages`, `kvm_unsync_page`,
 * `mark_unsync`, `mmu_unsync_walk` with its 16-page batches, `mmu_pages_clear_parents`) and the
 * role check of `kvm_sync_page`, by their observable results.
 */
import { describe, expect, it } from 'vitest';
import { CR0, clearParents, syncPage, unsyncWalk, type ShadowPage } from '../../src';
import { shadowFixture, tableOf, unsyncPts as sharedUnsyncPts } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const W = 2n;
const TWO_M = 0x20_0000n;

type F = ReturnType<typeof shadowFixture>;

function ptPage(f: F, va: bigint): ShadowPage {
  return f.vm.shadow.find(Number(BigInt(f.pt.getEntry(va, 1).gpa) >> 12n), (sp) => sp.level === 1)[0]!;
}
function idx(va: bigint, level: number): number {
  return Number((va >> BigInt(12 + 9 * (level - 1))) & 511n);
}
function unsyncPts(n: number): F {
  return sharedUnsyncPts(n, VA, GPA);
}
function flushes(f: F, outcome: string): number {
  return f.vm.events.all.filter((e) => e.kind === 'tlb_flush' && e.outcome === outcome).length;
}

describe('mmu_try_to_unsync_pages', () => {
  it('a write fault unsyncs the level-1 page (mmu_unsync, event) and maps the gfn writable', () => {
    const f = unsyncPts(1);
    const sp = ptPage(f, VA);
    expect(sp.unsync).toBe(true); // mmu.c:2883-2896 kvm_unsync_page
    expect(f.vm.stats.get('mmu_unsync')).toBe(1);
    expect(f.vm.events.all.filter((e) => e.kind === 'unsync').map((e) => [e.gpa, e.outcome])).toEqual([[BigInt(sp.gfn) << 12n, 'quadrant 0']]);
  });

  it('prefetch or synchronizing never unsyncs; a write-tracked gfn always stays read-only', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    f.v.read(VA);
    const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
    const pdGfn = Number(BigInt(f.pt.getEntry(VA, 2).gpa) >> 12n);
    expect(f.vm.mmuTryToUnsyncPages(ptGfn, true, false)).toBe(true); // mmu.c:2918-2919
    expect(f.vm.mmuTryToUnsyncPages(ptGfn, false, true)).toBe(true); // mmu.c:2924-2925
    expect(ptPage(f, VA).unsync).toBe(false);
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
    expect(f.vm.mmuTryToUnsyncPages(pdGfn, false, false)).toBe(true); // mmu.c:2908-2909 write-tracked
    expect(f.vm.mmuTryToUnsyncPages(Number(GPA >> 12n), true, false)).toBe(false); // no shadow page there
    expect(f.vm.mmuTryToUnsyncPages(ptGfn, false, false)).toBe(false);
    expect(ptPage(f, VA).unsync).toBe(true);
    // Already unsync: skipped, not counted twice (mmu.c:2921-2922); synchronizing still refuses.
    expect(f.vm.mmuTryToUnsyncPages(ptGfn, false, false)).toBe(false);
    expect(f.vm.stats.get('mmu_unsync')).toBe(1);
    expect(f.vm.mmuTryToUnsyncPages(ptGfn, true, false)).toBe(true);
  });

  it('a sync never unsyncs another page: a PTE made writable onto a shadowed page table stays read-only', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const VB = VA + 0x4000_0000n; // another page table, shadowed
    f.pt.map(VB, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const bGfn = BigInt(f.pt.getEntry(VB, 1).gpa) >> 12n;
    f.pt.map(VA, bGfn << 12n, { count: 2, flags: { accessed: true, dirty: true } }); // VA → B's table, read-only
    expect(f.v.read(VB).status).toBe('ok');
    expect(f.v.read(VA).status).toBe('ok');
    const a = ptPage(f, VA);
    const b = ptPage(f, VB);
    expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok');
    expect(a.unsync).toBe(true);
    f.pt.setEntry(VA, 1, f.pt.getEntry(VA, 1).value | W); // in the unsync page: make it writable
    f.v.flushGuestTlb();
    // FNAME(sync_spte) → make_spte(synchronizing=true) → mmu_try_to_unsync_pages returns -EPERM
    // for a gfn with shadow pages (mmu.c:2918-2919): write-protected (spte.c:238-239), B stays synced.
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(0n);
    expect(b.unsync).toBe(false);
    expect(a.unsync).toBe(false);
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
    expect(f.vm.events.all.filter((e) => e.kind === 'unsync').length).toBe(1);
  });
});

describe('mark_unsync and the unsync walk', () => {
  it('the unsync-children bits lead from the root to each unsync page, counted once per parent', () => {
    const f = unsyncPts(2); // two PTs under one PD
    const pd = tableOf(f, VA, 2);
    const pdpt = tableOf(f, VA, 3);
    const pml4 = tableOf(f, VA, 4);
    // mmu.c:1855-1875 mark_unsync: a bit per unsync child; the first one propagates upwards.
    expect([pd.unsyncChildren, pdpt.unsyncChildren, pml4.unsyncChildren]).toEqual([2, 1, 1]);
    expect([pd.unsyncChildBitmap[idx(VA, 2)], pd.unsyncChildBitmap[idx(VA + TWO_M, 2)]]).toEqual([1, 1]);
    expect(pdpt.unsyncChildBitmap[idx(VA, 3)]).toBe(1);
    expect(pml4.unsyncChildBitmap[idx(VA, 4)]).toBe(1);
    f.v.flushGuestTlb();
    expect([pd.unsyncChildren, pdpt.unsyncChildren, pml4.unsyncChildren]).toEqual([0, 0, 0]);
  });

  it('mmu_pages_clear_parents clears upwards only while a parent has no unsync child left', () => {
    const f = unsyncPts(2);
    const pd = tableOf(f, VA, 2);
    const pdpt = tableOf(f, VA, 3);
    const pages = unsyncWalk(f.vm.shadow, tableOf(f, VA, 4));
    expect(pages.length).toBe(2);
    clearParents(pages[0]!.path);
    // mmu.c:2155-2170: the PD still has an unsync child, so the PDPT keeps its bit.
    expect(pd.unsyncChildren).toBe(1);
    expect(pdpt.unsyncChildBitmap[idx(VA, 3)]).toBe(1);
    clearParents(pages[1]!.path);
    expect(pd.unsyncChildren).toBe(0);
    expect(pdpt.unsyncChildren).toBe(0);
    expect(tableOf(f, VA, 4).unsyncChildren).toBe(0);
  });

  it('the walk collects 16 pages per round (KVM_PAGE_ARRAY_NR): 20 unsync pages take two rounds', () => {
    const f = unsyncPts(20);
    expect(f.vm.stats.get('mmu_unsync')).toBe(20);
    expect(unsyncWalk(f.vm.shadow, tableOf(f, VA, 4)).length).toBe(16); // mmu.c:1877
    f.v.flushGuestTlb();
    // mmu.c:2183-2191: each round write-protects its pages' gfns and flushes once.
    expect(flushes(f, 'write-protect pages to sync')).toBe(2);
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
    expect(f.vm.stats.get('mmu_sync_pages')).toBe(20);
  });
});

describe('stale unsync bits', () => {
  it('a bit whose link was zapped is cleared by the next walk (mmu.c:1919-1921)', () => {
    const f = unsyncPts(2);
    const pd = tableOf(f, VA, 2);
    // The guest clears the PDE of the first PT: the PD is write-tracked, so the store is emulated and
    // kvm_mmu_track_write zaps the SPTE; the unsync bit of that entry stays until a walk sees it.
    const pde = f.pt.getEntry(VA, 2);
    expect(f.v.store(f.dm(BigInt(pde.gpa)), 0n, 8).status).toBe('emulated');
    expect(pd.unsyncChildBitmap[idx(VA, 2)]).toBe(1);
    expect(pd.unsyncChildren).toBe(2);
    const pages = unsyncWalk(f.vm.shadow, tableOf(f, VA, 4));
    expect(pages.map((p) => p.sp)).toEqual([ptPage(f, VA + TWO_M)]);
    expect(pd.unsyncChildBitmap[idx(VA, 2)]).toBe(0); // __mmu_unsync_walk: !present → clear_unsync_child_bit
    expect(pd.unsyncChildren).toBe(1);
    f.v.flushGuestTlb();
    expect([pd.unsyncChildren, tableOf(f, VA, 3).unsyncChildren, tableOf(f, VA, 4).unsyncChildren]).toEqual([0, 0, 0]);
  });
});

describe('kvm_sync_page role check', () => {
  it('a page whose role differs from root_role beyond level/access/quadrant/passthrough is zapped', () => {
    const f = unsyncPts(1);
    const sp = ptPage(f, VA);
    f.v.setRegisters({ cr0: CR0.PE | CR0.PG }); // CR0.WP off: a new root role (cr0_wp)
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    const invalid: ShadowPage[] = [];
    // mmu.c:2022-2024 kvm_sync_page_check fails → -1 (mmu.c:2043-2044) → prepare_zap (mmu.c:2071-2072).
    expect(syncPage(f.vm.shadow, f.v.shadow!.ctx, sp, invalid)).toBe(-1);
    expect(sp.role.invalid).toBe(true);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 1);
    expect(invalid).toContain(sp);
    expect(f.vm.events.all.filter((e) => e.kind === 'sync').map((e) => e.outcome)).toEqual(['sync failed: zap']);
    f.vm.shadow.commitZap(invalid, 0);
  });

  it('a direct page is never synced: zapped', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    expect(v.read(GPA).status).toBe('ok');
    const direct = f.vm.shadow.allPages.find((p) => p.role.direct)!;
    const invalid: ShadowPage[] = [];
    expect(syncPage(f.vm.shadow, f.v.shadow!.ctx, direct, invalid)).toBe(-1); // mmu.c:2022 sp->role.direct
    expect(direct.role.invalid).toBe(true);
  });

  it('a page with the root role but another level, access and quadrant syncs', () => {
    const f = unsyncPts(1);
    const sp = ptPage(f, VA);
    const invalid: ShadowPage[] = [];
    expect(syncPage(f.vm.shadow, f.v.shadow!.ctx, sp, invalid)).toBe(0);
    expect(sp.role.invalid).toBe(false);
    expect(invalid).toEqual([]);
  });
});
