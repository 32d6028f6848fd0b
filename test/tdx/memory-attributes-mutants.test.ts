/**
 * MemoryAttributes (src/tdx/memory-attributes.ts) at the edges of its per-2M-block store: ranges
 * that start or end inside a block, gfns at the 32-gfn word edges of a mixed block's bitmap, a
 * mixed block that becomes uniform (by a whole-block or a partial set) and mixed again, and the
 * per-1G sums. What is expected follows from KVM's definitions only:
 *   - a gfn's attribute is what the last KVM_SET_MEMORY_ATTRIBUTES covering it stored
 *     (kvm_main.c:2581-2586 `xa_store` per gfn of [start, end)), shared until set
 *     (include/linux/kvm_host.h:2533);
 *   - a level allows a huge mapping only when every gfn of its aligned block has the attribute of
 *     the faulting gfn (`hugepage_has_attrs`, mmu.c:7763-7777; KVM_LPAGE_MIXED_FLAG, mmu.c:722);
 *   - `set` returns how many gfns changed attribute (KVM returns nothing; the model's count, used
 *     for the mem_attr event: the gfns whose stored value differs after the call).
 */
import { describe, expect, it } from 'vitest';
import { MemoryAttributes } from '../../src';

const GFNS_2M = 512;
const GFNS_1G = 512 * 512;

function privateGfns(a: MemoryAttributes, from: number, to: number): number[] {
  const out: number[] = [];
  for (let g = from; g < to; g++) if (a.isPrivate(g)) out.push(g);
  return out;
}

describe('memory attributes: ranges inside 2M blocks', () => {
  it('a range with a ragged head and tail sets exactly its gfns; only the whole 2M block inside it allows 2M', () => {
    const a = new MemoryAttributes();
    expect(a.set(0x1f0, 0x410, true)).toBe(0x220);
    expect(a.privateCount).toBe(0x220);
    expect([a.isPrivate(0x1ef), a.isPrivate(0x1f0), a.isPrivate(0x1ff), a.isPrivate(0x200), a.isPrivate(0x3ff), a.isPrivate(0x400), a.isPrivate(0x40f), a.isPrivate(0x410)])
      .toEqual([false, true, true, true, true, true, true, false]);
    expect(privateGfns(a, 0, 0x600).length).toBe(0x220);
    // [0, 0x200) and [0x400, 0x600) are mixed; [0x200, 0x400) is all private; the 1G block is mixed.
    expect([a.uniformLevel(0x0), a.uniformLevel(0x1f0), a.uniformLevel(0x300), a.uniformLevel(0x40f), a.uniformLevel(0x5ff), a.uniformLevel(0x600)]).toEqual([1, 1, 2, 1, 1, 2]);
    // The next 1G block has no private gfn: 1G there.
    expect(a.uniformLevel(GFNS_1G + 0x300)).toBe(3);
    // Nothing to change (kvm_main.c:2564): the same range, a part of it, a shared part outside it.
    expect(a.set(0x1f0, 0x410, true)).toBe(0);
    expect(a.set(0x1f8, 0x208, true)).toBe(0);
    expect(a.set(0x100, 0x110, false)).toBe(0);
    expect(a.privateCount).toBe(0x220);
  });

  it('gfns at the 32-gfn word edges of a mixed block', () => {
    const a = new MemoryAttributes();
    expect(a.set(0x41f, 0x421, true)).toBe(2);
    expect(a.set(0x45f, 0x460, true)).toBe(1);
    expect(a.set(0x5ff, 0x600, true)).toBe(1);
    expect(privateGfns(a, 0x200, 0x800)).toEqual([0x41f, 0x420, 0x45f, 0x5ff]);
    expect(a.set(0x400, 0x600, false)).toBe(4);
    expect(privateGfns(a, 0x200, 0x800)).toEqual([]);
    expect(a.privateCount).toBe(0);
  });

  it('a private block made mixed keeps its other gfns private; made whole again it allows 2M (then 1G)', () => {
    const a = new MemoryAttributes();
    expect(a.set(0, GFNS_1G, true)).toBe(GFNS_1G);
    expect(a.set(0x4a0, 0x4a1, false)).toBe(1);
    expect(privateGfns(a, 0x400, 0x600).length).toBe(GFNS_2M - 1);
    expect([a.isPrivate(0x49f), a.isPrivate(0x4a0), a.isPrivate(0x4a1), a.isPrivate(0x400), a.isPrivate(0x5ff)]).toEqual([true, false, true, true, true]);
    expect([a.uniformLevel(0x4a0), a.uniformLevel(0x400), a.uniformLevel(0x600), a.uniformLevel(0x3ff)]).toEqual([1, 1, 2, 2]);
    expect(a.privateCount).toBe(GFNS_1G - 1);
    expect(a.set(0x4a0, 0x4a1, true)).toBe(1);
    expect([a.uniformLevel(0x4a0), a.uniformLevel(0x600)]).toEqual([3, 3]);
    expect(a.privateCount).toBe(GFNS_1G);
  });

  it('a mixed block set whole forgets its old per-gfn state', () => {
    const a = new MemoryAttributes();
    // Mixed, then whole shared: a later single private gfn is the only one.
    a.set(0x400, 0x410, true);
    expect(a.set(0x400, 0x600, false)).toBe(0x10);
    expect(a.set(0x500, 0x501, true)).toBe(1);
    expect(privateGfns(a, 0x400, 0x600)).toEqual([0x500]);
    // Mixed, then whole private: a later single shared gfn is the only shared one.
    const b = new MemoryAttributes();
    b.set(0x400, 0x410, true);
    expect(b.set(0x400, 0x600, true)).toBe(GFNS_2M - 0x10);
    expect(b.uniformLevel(0x450)).toBe(2);
    expect(b.set(0x500, 0x501, false)).toBe(1);
    expect(privateGfns(b, 0x400, 0x600).length).toBe(GFNS_2M - 1);
    expect([b.isPrivate(0x405), b.isPrivate(0x450), b.isPrivate(0x500)]).toEqual([true, true, false]);
  });

  it('a block filled by partial sets is uniform; one gfn shared again leaves the rest private', () => {
    const a = new MemoryAttributes();
    expect(a.set(0x400, 0x500, true)).toBe(0x100);
    expect(a.uniformLevel(0x400)).toBe(1);
    expect(a.set(0x500, 0x600, true)).toBe(0x100);
    expect([a.uniformLevel(0x400), a.uniformLevel(0x5ff)]).toEqual([2, 2]); // the 1G block is mixed
    expect(a.set(0x410, 0x411, false)).toBe(1);
    expect(privateGfns(a, 0x400, 0x600).length).toBe(GFNS_2M - 1);
    expect([a.isPrivate(0x40f), a.isPrivate(0x410), a.isPrivate(0x411), a.isPrivate(0x5ff)]).toEqual([true, false, true, true]);
    expect(a.set(0x400, 0x600, false)).toBe(GFNS_2M - 1);
    expect([a.uniformLevel(0x400), a.privateCount]).toEqual([3, 0]);
  });

  it('1G sums are per 1G block: a private gfn in the second block leaves the first one uniform', () => {
    const a = new MemoryAttributes();
    expect(a.set(GFNS_1G + 5, GFNS_1G + 6, true)).toBe(1);
    expect([a.uniformLevel(0x10), a.uniformLevel(GFNS_1G - 1), a.uniformLevel(GFNS_1G + 0x300), a.uniformLevel(GFNS_1G + 4), a.uniformLevel(2 * GFNS_1G)]).toEqual([3, 3, 2, 1, 3]);
    expect([a.isPrivate(5), a.isPrivate(GFNS_1G + 5), a.isPrivate(2 * GFNS_1G + 5)]).toEqual([false, true, false]);
    // A range over two 1G blocks: each block's whole part counts in its own sum.
    expect(a.set(GFNS_1G - GFNS_2M, GFNS_1G + GFNS_2M, true)).toBe(2 * GFNS_2M - 1);
    expect([a.uniformLevel(GFNS_1G - 1), a.uniformLevel(GFNS_1G), a.uniformLevel(0), a.uniformLevel(GFNS_1G + GFNS_2M)]).toEqual([2, 2, 2, 2]);
    expect(a.privateCount).toBe(2 * GFNS_2M);
  });
});
