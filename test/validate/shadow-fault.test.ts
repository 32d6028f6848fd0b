/**
 * Bad input to the shadow page fault (src/shadow/shadow-fault.ts: FNAME(page_fault),
 * direct_page_fault, mmu_set_spte, kvm_mmu_hugepage_adjust, the shadow walk's reference count):
 * MMUs and contexts that are none, a paging-off context given to the shadowing fault (its walk
 * inputs are absent: a TypeError) and a paging-on one to the direct fault, addresses that are no
 * u64, error codes above 32 bits, access flags other than AC/implicit, leaves of level-4 pages,
 * ACC above ACC_ALL, slots that are copies, fault records with bad fields. Nothing changes.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { CR0, directPageFault, hugepageAdjust, mmuSetSpte, shadowPageFault, shadowWalkRefs, newPageFault, type ShadowMmu, type ShadowPage, type PageFault } from '../../src';
import { FC, Tally, badBigint, badBool, badInt, junk, refused } from './support';
import { GFN_MAX, badGfn, badIdx, badMmu, badPage, warm } from './shadow-support';

const t = new Tally('shadow-fault');

function fault(): PageFault {
  const f = newPageFault(0x7000_0000n, 0n);
  f.gfn = 0x800;
  f.pfn = 0x800;
  f.maxLevel = 1;
  return f;
}

describe('shadow fault', () => {
  it('the MMU and the context of every entry', () => {
    const { m, ctx, state } = warm();
    fc.assert(fc.property(badMmu, (v) => {
      refused(t, () => shadowPageFault(v as ShadowMmu, ctx, 0x7000_0000n, 0, 0), { param: 'mmu', state });
      refused(t, () => directPageFault(v as ShadowMmu, ctx, 0x1000n, 0), { param: 'mmu', state });
      refused(t, () => shadowWalkRefs(v as ShadowMmu, ctx, 0x1000n), { param: 'mmu', state });
      refused(t, () => hugepageAdjust(v as ShadowMmu, fault()), { param: 'mmu', state });
      refused(t, () => mmuSetSpte(v as ShadowMmu, ctx, undefined, m.allPages[0]!, 0, 7, 0x800, 0x800, null), { param: 'mmu', state });
    }), { ...FC, numRuns: 10 });
    for (const v of [null, 5, {}, 'ctx']) {
      refused(t, () => shadowPageFault(m, v as never, 0x7000_0000n, 0, 0), { param: 'ctx', state });
      refused(t, () => shadowWalkRefs(m, v as never, 0x1000n), { param: 'ctx', state });
    }
    // directPageFault is nonpaging_page_fault: a context that shadows guest tables is refused.
    refused(t, () => directPageFault(m, ctx, 0x1000n, 0), { param: 'ctx', state });
  });

  it('shadowPageFault / shadowWalkRefs / directPageFault: addresses, error codes, flags', () => {
    const { f, m, ctx, state } = warm();
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => shadowPageFault(m, ctx, v as bigint, 0, 0), { param: 'addr', value: v, state });
      refused(t, () => shadowWalkRefs(m, ctx, v as bigint), { param: 'addr', value: v, state });
    }), FC);
    // The #PF error code is 32 bits (SDM Vol. 3A 4.7).
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constant(2 ** 32)), (v) => refused(t, () => shadowPageFault(m, ctx, 0x7000_0000n, v as number, 0), { param: 'errorCode', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constantFrom(1, 2, 4)), (v) => refused(t, () => shadowPageFault(m, ctx, 0x7000_0000n, 0, v as number), { param: 'accessFlags', value: v, state })), FC);
    // Paging off: a direct context (four direct roots under the PAE root), which shadowPageFault cannot walk.
    const v2 = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    v2.read(0x1000n);
    const off = v2.shadow!.ctx;
    refused(t, () => shadowPageFault(m, off, 0x1000n, 0, 0), { param: 'ctx', state });
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constant(1n << 52n)), (v) => refused(t, () => directPageFault(m, off, v as bigint, 0), { param: 'addr', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constant(2 ** 32)), (v) => refused(t, () => directPageFault(m, off, 0x1000n, v as number), { param: 'errorCode', value: v, state })), FC);
  });

  it('mmuSetSpte: slot, page (a leaf level), index, ACC, gfn, frame, fault', () => {
    const { f, m, ctx, pt, state, stranger } = warm();
    const root = m.allPages.find((p) => p.level === 4)!;
    const call = (o: Partial<{ slot: unknown; sp: unknown; idx: unknown; acc: unknown; gfn: unknown; pfn: unknown; fault: unknown }>) =>
      mmuSetSpte(m, ctx, (('slot' in o) ? o.slot : f.ram) as never, (o.sp ?? pt) as ShadowPage, (o.idx ?? 5) as number, (o.acc ?? 7) as number, (o.gfn ?? 0x800) as number, (o.pfn ?? 0x800) as number, (('fault' in o) ? o.fault : null) as never);
    fc.assert(fc.property(fc.oneof(junk.filter((v) => v !== undefined), fc.constant({ ...f.ram })), (v) => refused(t, () => call({ slot: v }), { param: 'slot', state })), FC);
    fc.assert(fc.property(badPage(stranger), (v) => refused(t, () => call({ sp: v }), { param: 'sp', state })), FC);
    // Leaves exist at levels 1-3 (KVM_MAX_HUGEPAGE_LEVEL).
    refused(t, () => call({ sp: root }), { param: 'sp', value: 4, state });
    fc.assert(fc.property(badIdx, (v) => refused(t, () => call({ idx: v }), { param: 'idx', value: v, state })), FC);
    // ACC_ALL is 7 in KVM 6.16 (mmu.h).
    fc.assert(fc.property(fc.oneof(badInt(0, 7), fc.constant(8)), (v) => refused(t, () => call({ acc: v }), { param: 'pteAccess', value: v, state })), FC);
    fc.assert(fc.property(badGfn, (v) => {
      refused(t, () => call({ gfn: v }), { param: 'gfn', value: v, state });
      refused(t, () => call({ pfn: v }), { param: 'pfn', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(junk.filter((v) => v !== null && v !== undefined), fc.constant({ ...fault(), gfn: -1 })), (v) => refused(t, () => call({ fault: v }), { param: 'fault', state })), FC);
  });

  it('hugepageAdjust: a fault record with a gfn, a frame, a level 1..3 and boolean flags', () => {
    const { m, state } = warm();
    for (const v of [null, undefined, 5, 'fault']) refused(t, () => hugepageAdjust(m, v as never), { param: 'fault', value: v, state });
    fc.assert(fc.property(fc.oneof(badInt(0, GFN_MAX), fc.constant(2 ** 40)), (v) => {
      refused(t, () => hugepageAdjust(m, { ...fault(), gfn: v as number }), { param: 'fault.gfn', value: v, state });
      refused(t, () => hugepageAdjust(m, { ...fault(), pfn: v as number }), { param: 'fault.pfn', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 3), fc.constantFrom(0, 4)), (v) => refused(t, () => hugepageAdjust(m, { ...fault(), maxLevel: v as number }), { param: 'fault.maxLevel', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => hugepageAdjust(m, { ...fault(), exec: v as boolean }), { param: 'fault.exec', value: v, state })), FC);
  });
});
