/**
 * Bad input to ShadowPage (src/shadow/shadow-page.ts) and Rmap (src/shadow/rmap.ts): a page's
 * role, gfn, host frame and generation; entry indices outside the 512 SPTEs of a page (mmu.h
 * SPTE_ENT_PER_PAGE); gfns outside a 52-bit GPA; rmap levels without leaves (levels 1-3,
 * KVM_MAX_HUGEPAGE_LEVEL); SPTE pointers that are no (page, index). Refusals are the library's
 * errors naming parameter and value; the page's recorded translations and the rmap are unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageRole, Rmap, ShadowPage, type SptePtr } from '../../src';
import { FC, Tally, badInt, junk, refused } from './support';

const t = new Tally('shadow-page');
const GFN_MAX = 2 ** 40 - 1; // MAXPHYADDR <= 52 (SDM Vol. 3A 4.1.4)
const ROLE = PageRole.pack({ level: 1, access: 7 }, '6.16');

function page() {
  const sp = new ShadowPage(ROLE, 0x100, 0x2000, 0);
  sp.setTranslation(3, 0x555, 5);
  const state = () => JSON.stringify([Array.from(sp.translationGfn!), Array.from(sp.translationAccess!), sp.role.word, sp.gfn, sp.pfn]);
  return { sp, state };
}

const badIdx = fc.oneof(badInt(0, 511), fc.constantFrom(512, -1));
const badGfn = fc.oneof(badInt(0, GFN_MAX), fc.constant(2 ** 40));

describe('ShadowPage', () => {
  it('constructor: a PageRole, gfn and frame below 2^40, generation 0 or 1', () => {
    fc.assert(fc.property(junk, (v) => refused(t, () => new ShadowPage(v as PageRole, 0, 0, 0), { param: 'role' })), FC);
    fc.assert(fc.property(badGfn, (v) => {
      refused(t, () => new ShadowPage(ROLE, v as number, 0, 0), { param: 'gfn', value: v });
      refused(t, () => new ShadowPage(ROLE, 0, v as number, 0), { param: 'pfn', value: v });
    }), FC);
    // kvm->arch.mmu_valid_gen is an unsigned long KVM flips between 0 and 1 (mmu.c kvm_mmu_zap_all_fast).
    fc.assert(fc.property(badInt(0, 1), (v) => refused(t, () => new ShadowPage(ROLE, 0, 0, v as number), { param: 'gen', value: v })), FC);
  });

  it('gfnOf / accessOf / setTranslation: an index 0..511, a gfn, an ACC of at most 4 bits', () => {
    const { sp, state } = page();
    fc.assert(fc.property(badIdx, (v) => {
      refused(t, () => sp.gfnOf(v as number), { param: 'i', value: v, state });
      refused(t, () => sp.accessOf(v as number), { param: 'i', value: v, state });
      refused(t, () => sp.setTranslation(v as number, 0x10, 7), { param: 'i', value: v, state });
    }), FC);
    fc.assert(fc.property(badGfn, (v) => refused(t, () => sp.setTranslation(0, v as number, 7), { param: 'gfn', value: v, state })), FC);
    // ACC_ALL is 0xf in 7.3 (kvm-7x.md §1.4), 7 in 6.16: four bits at most.
    fc.assert(fc.property(fc.oneof(badInt(0, 0xf), fc.constant(0x10)), (v) => refused(t, () => sp.setTranslation(0, 0x10, v as number), { param: 'access', value: v, state })), FC);
    expect([sp.gfnOf(3), sp.accessOf(3)]).toEqual([0x555, 5]);
  });
});

describe('Rmap', () => {
  it('add / remove / get: a gfn, a leaf level 1..3, a pointer (page, index)', () => {
    const r = new Rmap();
    const { sp } = page();
    const p: SptePtr = { sp, idx: 3 };
    r.add(0x555, 1, p);
    const state = () => JSON.stringify([...r.entries()].map(([g, l, q]) => [g, l, q.sp.pfn, q.idx]));
    fc.assert(fc.property(badGfn, (v) => {
      refused(t, () => r.add(v as number, 1, p), { param: 'gfn', value: v, state });
      refused(t, () => r.remove(v as number, 1, p), { param: 'gfn', value: v, state });
      refused(t, () => r.get(v as number, 1), { param: 'gfn', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 3), fc.constantFrom(0, 4, 5)), (v) => {
      refused(t, () => r.add(0x555, v as number, p), { param: 'level', value: v, state });
      refused(t, () => r.remove(0x555, v as number, p), { param: 'level', value: v, state });
      refused(t, () => r.get(0x555, v as number), { param: 'level', value: v, state });
    }), FC);
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => r.add(0x555, 1, v as SptePtr), { param: 'p', state });
      refused(t, () => r.remove(0x555, 1, v as SptePtr), { param: 'p', state });
      refused(t, () => r.add(0x555, 1, { sp: v as ShadowPage, idx: 0 }), { param: 'p.sp', state });
    }), FC);
    fc.assert(fc.property(badIdx, (v) => refused(t, () => r.add(0x555, 1, { sp, idx: v as number }), { param: 'p.idx', value: v, state })), FC);
    expect(r.get(0x555, 1)).toEqual([p]);
  });
});
