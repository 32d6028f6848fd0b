/**
 * Bad input to sync (src/shadow/sync.ts: FNAME(sync_spte), kvm_sync_page, mmu_sync_children,
 * the shadow walk and __kvm_mmu_invalidate_addr): MMUs and contexts that are none, pages of no
 * MMU, direct pages (no gPTEs to re-read), indices outside 0..511, root frames and addresses that
 * are no numbers, invalid lists of foreign pages. Refusals name parameter and value; nothing changes.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { CR0, spteChangeNeedsFlush, syncSpte, syncPage, mmuSyncChildren, shadowPath, invalidateAddrInRoot, type ShadowMmu, type ShadowPage } from '../../src';
import { FC, Tally, badBigint, badInt, refused } from './support';
import { GFN_MAX, badIdx, badMmu, badPage, warm } from './shadow-support';
import { shadowFixture } from '../shadow/fixtures';

const t = new Tally('shadow-sync');

describe('sync', () => {
  it('the MMU, the context and the page', () => {
    const { m, ctx, pt, state, stranger } = warm();
    fc.assert(fc.property(badMmu, (v) => {
      refused(t, () => spteChangeNeedsFlush(v as ShadowMmu, 0n, 0n), { param: 'mmu', state });
      refused(t, () => syncSpte(v as ShadowMmu, ctx, pt, 0), { param: 'mmu', state });
      refused(t, () => syncPage(v as ShadowMmu, ctx, pt, []), { param: 'mmu', state });
      refused(t, () => mmuSyncChildren(v as ShadowMmu, ctx, pt), { param: 'mmu', state });
      refused(t, () => shadowPath(v as ShadowMmu, ctx, ctx.root.hpa, 0n), { param: 'mmu', state });
      refused(t, () => invalidateAddrInRoot(v as ShadowMmu, ctx, ctx.root.hpa, 0n), { param: 'mmu', state });
    }), { ...FC, numRuns: 10 });
    for (const v of [null, 5, {}, 'ctx']) {
      refused(t, () => syncSpte(m, v as never, pt, 0), { param: 'ctx', state });
      refused(t, () => shadowPath(m, v as never, ctx.root.hpa, 0n), { param: 'ctx', state });
    }
    fc.assert(fc.property(badPage(stranger), (v) => {
      refused(t, () => syncSpte(m, ctx, v as ShadowPage, 0), { param: 'sp', state });
      refused(t, () => syncPage(m, ctx, v as ShadowPage, []), { param: 'sp', state });
      refused(t, () => mmuSyncChildren(m, ctx, v as ShadowPage), { param: 'parent', state });
    }), FC);
    fc.assert(fc.property(badIdx, (v) => refused(t, () => syncSpte(m, ctx, pt, v as number), { param: 'i', value: v, state })), FC);
    for (const v of [null, 5, [stranger], [pt, pt]]) refused(t, () => syncPage(m, ctx, pt, v as never), { param: 'invalid', state });
  });

  it('syncSpte: a direct page has no gPTEs; a paging-off context reads none', () => {
    // Paging off: the roots are direct pages (nonpaging_page_fault, mmu.c) and there is no gPTE format.
    const g = shadowFixture('paging4', { kvm: '6.16' });
    const v = g.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    v.read(0x1000n);
    g.v.read(0x1000n); // the paging-on vCPU's root: an indirect page
    const m = g.vm.shadow;
    const direct = m.allPages.find((p) => p.role.direct)!;
    const off = v.shadow!.ctx;
    const state = () => JSON.stringify(m.allPages.map((p) => [p.gfn, p.role.word, p.unsync]));
    refused(t, () => syncSpte(m, off, direct, 0), { param: 'sp', state });
    // An indirect page of the paging-on vCPU synced with the paging-off context: no gPTE format.
    const indirect = m.allPages.find((p) => !p.role.direct)!;
    refused(t, () => syncSpte(m, off, indirect, 0), { param: 'ctx', state });
  });

  it('spteChangeNeedsFlush / shadowPath / invalidateAddrInRoot: u64 SPTEs and addresses, root frames', () => {
    const { m, ctx, state } = warm();
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => spteChangeNeedsFlush(m, v as bigint, 0n), { param: 'old', value: v, state });
      refused(t, () => spteChangeNeedsFlush(m, 0n, v as bigint), { param: 'next', value: v, state });
      refused(t, () => shadowPath(m, ctx, ctx.root.hpa, v as bigint), { param: 'addr', value: v, state });
      refused(t, () => invalidateAddrInRoot(m, ctx, ctx.root.hpa, v as bigint), { param: 'addr', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(-1, GFN_MAX), fc.constant(-2)), (v) => {
      refused(t, () => shadowPath(m, ctx, v as number, 0n), { param: 'rootHpa', value: v, state });
      refused(t, () => invalidateAddrInRoot(m, ctx, v as number, 0n), { param: 'rootHpa', value: v, state });
    }), FC);
  });
});
