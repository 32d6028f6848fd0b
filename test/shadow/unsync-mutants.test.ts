/**
 * src/shadow/unsync.ts paths that mutation testing (`npm run mutate`) found unchecked: the upper
 * levels of `__mmu_unsync_walk` clearing the bit of a child whose own walk found nothing, a
 * successful `kvm_unlink_unsync_page` through the public edge, and the rule ids and texts of the
 * checked entries. Expected values come from mmu.c of Linux v6.16.1 (cited per assertion); the
 * rule ids and texts are this library's (src/errors.ts: an error names argument, value and rule).
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError, kvmUnsyncPage, markUnsync, mmuTryToUnsyncPages, unlinkUnsync, unsyncWalk,
  type ShadowMmu,
} from '../../src';
import { tableOf, unsyncPts } from './fixtures';
import { refuses } from './refusal';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;


describe('__mmu_unsync_walk above a stale bit (mmu.c:1926-1933)', () => {
  it('a child whose walk finds no unsync leaf loses its bit at every level up to the walked root', () => {
    const f = unsyncPts(1, VA, GPA);
    const [pml4, pdpt, pd] = [tableOf(f, VA, 4), tableOf(f, VA, 3), tableOf(f, VA, 2)];
    // The guest clears the PDE of the unsync PT: the PD is write-tracked, the store is emulated and
    // kvm_mmu_track_write zaps that SPTE (mmu.c:6128), but no one clears the PD's unsync bit.
    expect(f.v.store(f.dm(BigInt(f.pt.getEntry(VA, 2).gpa)), 0n, 8).status).toBe('emulated');
    expect([pml4.unsyncChildren, pdpt.unsyncChildren, pd.unsyncChildren]).toEqual([1, 1, 1]);
    expect(unsyncWalk(f.vm.shadow, pml4)).toEqual([]);
    // PD: !is_shadow_present_pte → clear_unsync_child_bit (mmu.c:1919-1921), its walk returns 0;
    // PDPT and PML4 then clear the bit of the child whose walk returned 0 (mmu.c:1930-1933).
    expect([pml4.unsyncChildren, pdpt.unsyncChildren, pd.unsyncChildren]).toEqual([0, 0, 0]);
    const idx = (level: number) => Number((VA >> BigInt(12 + 9 * (level - 1))) & 511n);
    expect([pml4.unsyncChildBitmap[idx(4)], pdpt.unsyncChildBitmap[idx(3)]]).toEqual([0, 0]);
  });
});

describe('kvm_unlink_unsync_page through the public edge (mmu.c:1962-1968)', () => {
  it('an unsync page is marked synced and mmu_unsync drops by one', () => {
    const f = unsyncPts(2, VA, GPA);
    const pt = tableOf(f, VA, 1);
    expect(pt.unsync).toBe(true);
    expect(f.vm.stats.get('mmu_unsync')).toBe(2); // kvm_unsync_page: ++mmu_unsync per page (mmu.c:2886)
    f.vm.checking = false; // the page is synced by hand, not write-protected: Appendix A 3 does not hold
    unlinkUnsync(f.vm.shadow, pt);
    expect(pt.unsync).toBe(false); // mmu.c:1966
    expect(f.vm.stats.get('mmu_unsync')).toBe(1); // mmu.c:1967
  });
});

describe('the checked entries: rule ids and messages that start with the parameter (src/errors.ts)', () => {
  it('a foreign MMU, a page that cannot go unsync, a page that is not unsync', () => {
    const f = unsyncPts(1, VA, GPA);
    const [pd, pt] = [tableOf(f, VA, 2), tableOf(f, VA, 1)];
    const no = {} as ShadowMmu;
    const mmuText = 'mmu must be a ShadowMmu';
    refuses(() => mmuTryToUnsyncPages(no, 0x100, false, false, -1), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => kvmUnsyncPage(no, pt, -1), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => markUnsync(no, pd, 0), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => unlinkUnsync(no, pt), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => unsyncWalk(no, pd), InvalidArgumentError, 'shadow-mmu', mmuText);
    // kvm_unsync_page is for level-1 pages only (WARN_ON_ONCE, mmu.c:2951: upper levels are write-tracked, mmu.c:2909-2910).
    refuses(() => kvmUnsyncPage(f.vm.shadow, pd, -1), InvalidArgumentError, 'unsync-page', 'sp must be a synced indirect level-1 page (only those go unsync)');
    // kvm_unlink_unsync_page: WARN_ON_ONCE(!sp->unsync) (mmu.c:1964).
    refuses(() => unlinkUnsync(f.vm.shadow, pd), InvalidArgumentError, 'not-unsync', 'sp is not unsync');
  });
});
