/**
 * Bad input to the unsync bookkeeping (src/shadow/unsync.ts: mmu_try_to_unsync_pages,
 * kvm_unsync_page, mark_unsync, kvm_unlink_unsync_page, mmu_unsync_walk, mmu_pages_clear_parents):
 * MMUs that are none, foreign pages, indices outside 0..511, gfns and vCPUs out of range, a page
 * that cannot go unsync (an upper level, or already unsync) or cannot be unlinked (not unsync; the
 * mmu_unsync gauge went below zero). Refusals name parameter and value; nothing changes.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { mmuTryToUnsyncPages, kvmUnsyncPage, markUnsync, unlinkUnsync, clearUnsyncChildBit, unsyncWalk, clearParents, type ShadowMmu, type ShadowPage, type SptePtr } from '../../src';
import { FC, Tally, badBool, junk, refused } from './support';
import { badGfn, badIdx, badMmu, badPage, badVcpu, warm } from './shadow-support';

const t = new Tally('shadow-unsync');

describe('unsync', () => {
  it('the MMU and the pages', () => {
    const { m, pt, pd, state, stranger } = warm();
    fc.assert(fc.property(badMmu, (v) => {
      refused(t, () => mmuTryToUnsyncPages(v as ShadowMmu, 0x100, false, false, -1), { param: 'mmu', state });
      refused(t, () => kvmUnsyncPage(v as ShadowMmu, pt, -1), { param: 'mmu', state });
      refused(t, () => markUnsync(v as ShadowMmu, pd, 0), { param: 'mmu', state });
      refused(t, () => unlinkUnsync(v as ShadowMmu, pt), { param: 'mmu', state });
      refused(t, () => unsyncWalk(v as ShadowMmu, pd), { param: 'mmu', state });
    }), { ...FC, numRuns: 10 });
    fc.assert(fc.property(badPage(stranger), (v) => {
      refused(t, () => kvmUnsyncPage(m, v as ShadowPage, -1), { param: 'sp', state });
      refused(t, () => markUnsync(m, v as ShadowPage, 0), { param: 'sp', state });
      refused(t, () => unlinkUnsync(m, v as ShadowPage), { param: 'sp', state });
      refused(t, () => unsyncWalk(m, v as ShadowPage), { param: 'parent', state });
    }), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => clearUnsyncChildBit(v as ShadowPage, 0), { param: 'sp', state })), FC);
    fc.assert(fc.property(badIdx, (v) => {
      refused(t, () => markUnsync(m, pd, v as number), { param: 'idx', value: v, state });
      refused(t, () => clearUnsyncChildBit(pd, v as number), { param: 'idx', value: v, state });
    }), FC);
  });

  it('kvmUnsyncPage: only a synced indirect level-1 page; unlinkUnsync: only an unsync page', () => {
    const { m, pt, pd, state } = warm();
    // mmu.c kvm_unsync_page: WARN_ON(sp->role.level != PG_LEVEL_4K); upper levels are write-tracked instead.
    refused(t, () => kvmUnsyncPage(m, pd, -1), { param: 'sp', state });
    // kvm_unlink_unsync_page: WARN_ON_ONCE(!sp->unsync); mmu_unsync would go below zero.
    refused(t, () => unlinkUnsync(m, pt), { param: 'sp', state });
  });

  it('mmuTryToUnsyncPages: gfn, booleans, vCPU; clearParents: a path of (page, index)', () => {
    const { m, pd, state } = warm();
    fc.assert(fc.property(badGfn, (v) => refused(t, () => mmuTryToUnsyncPages(m, v as number, false, false, -1), { param: 'gfn', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => mmuTryToUnsyncPages(m, 0x100, v as boolean, false, -1), { param: 'synchronizing', value: v, state });
      refused(t, () => mmuTryToUnsyncPages(m, 0x100, false, v as boolean, -1), { param: 'prefetch', value: v, state });
    }), FC);
    fc.assert(fc.property(badVcpu, (v) => {
      refused(t, () => mmuTryToUnsyncPages(m, 0x100, false, false, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => kvmUnsyncPage(m, m.allPages.find((p) => p.level === 1)!, v as number), { param: 'vcpu', value: v, state });
    }), FC);
    for (const v of [null, 5, 'path', {}]) refused(t, () => clearParents(v as never), { param: 'path', value: v, state });
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => clearParents([v as SptePtr]), { param: 'path[0]', state });
      refused(t, () => clearParents([{ sp: v as ShadowPage, idx: 0 }]), { param: 'path[0].sp', state });
    }), { ...FC, numRuns: 12 });
    fc.assert(fc.property(badIdx, (v) => refused(t, () => clearParents([{ sp: pd, idx: v as number }]), { param: 'path[0].idx', value: v, state })), FC);
  });
});
