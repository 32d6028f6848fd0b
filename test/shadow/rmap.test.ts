import { describe, expect, it } from 'vitest';
import { Rmap } from '../../src/shadow/rmap';
import { ShadowPage, type SptePtr } from '../../src/shadow/shadow-page';
import { PageRole } from '../../src/role/page-role';

/**
 * The reverse map against KVM's rmap (Linux v6.16.1): `gfn_to_rmap` (mmu.c:1171-1177) indexes
 * by `gfn_to_index` (mmu.h:268-272: the gfn shifted by KVM_HPAGE_GFN_SHIFT(level)), `rmap_add`
 * returns the chain length that feeds max_mmu_rmap_size (mmu.c:1691-1692), and `pte_list_remove`
 * (mmu.c:1083-1115) removes the very SPTE pointer given and reports a missing one
 * (KVM_BUG_ON_DATA_CORRUPTION, mmu.c:1091, 1095).
 *
 * Equivalent mutant left alive: `if (l.length === 0) this.heads.delete(k)` → never delete. An
 * emptied chain left in the map holds no pointer, so get, entries and add's count see the same.
 */
// Rmap compares pages by identity only; two distinct pages (other frames) stand for two shadow pages.
const spA = new ShadowPage(PageRole.pack({ level: 1 }), 0, 0xa, 0);
const spB = new ShadowPage(PageRole.pack({ level: 1 }), 0, 0xb, 0);
const ptr = (sp: ShadowPage, idx: number): SptePtr => ({ sp, idx });

describe('Rmap', () => {
  it('a 2M leaf is found from any gfn of its 512-page range, and only there (gfn_to_index)', () => {
    const r = new Rmap();
    expect(r.add(0x2ab, 2, ptr(spA, 5))).toBe(1);
    for (const g of [0x200, 0x2ab, 0x3ff]) expect(r.get(g, 2)).toEqual([ptr(spA, 5)]);
    expect(r.get(0x1ff, 2)).toEqual([]);
    expect(r.get(0x400, 2)).toEqual([]);
    // The level is part of the index (slot->arch.rmap[level - PG_LEVEL_4K]).
    expect(r.get(0x2ab, 1)).toEqual([]);
    expect(r.get(0x200, 1)).toEqual([]);
    expect([...r.entries()]).toEqual([[0x200, 2, ptr(spA, 5)]]);
    expect(r.remove(0x3ff, 2, ptr(spA, 5))).toBe(true);
    expect(r.get(0x200, 2)).toEqual([]);
  });

  it('a 1G leaf covers 2^18 gfns', () => {
    const r = new Rmap();
    r.add(0x40123, 3, ptr(spB, 1));
    expect(r.get(0x40000, 3)).toEqual([ptr(spB, 1)]);
    expect(r.get(0x7ffff, 3)).toEqual([ptr(spB, 1)]);
    expect(r.get(0x80000, 3)).toEqual([]);
    expect([...r.entries()]).toEqual([[0x40000, 3, ptr(spB, 1)]]);
  });

  it('add returns the chain length (rmap_count for max_mmu_rmap_size)', () => {
    const r = new Rmap();
    expect(r.add(7, 1, ptr(spA, 0))).toBe(1);
    expect(r.add(7, 1, ptr(spA, 1))).toBe(2);
    expect(r.add(8, 1, ptr(spA, 2))).toBe(1);
    expect(r.add(7, 1, ptr(spB, 0))).toBe(3);
  });

  it('remove takes out exactly the given SPTE: same page other index, same index other page stay', () => {
    const r = new Rmap();
    r.add(7, 1, ptr(spA, 1));
    r.add(7, 1, ptr(spA, 2));
    r.add(7, 1, ptr(spB, 2));
    expect(r.remove(7, 1, ptr(spA, 2))).toBe(true);
    expect(r.get(7, 1)).toEqual([ptr(spA, 1), ptr(spB, 2)]);
    expect(r.remove(7, 1, ptr(spB, 2))).toBe(true);
    expect(r.get(7, 1)).toEqual([ptr(spA, 1)]);
    expect(r.remove(7, 1, ptr(spA, 1))).toBe(true);
    expect(r.get(7, 1)).toEqual([]);
    expect([...r.entries()]).toEqual([]);
    // A chain emptied and refilled starts again at 1.
    expect(r.add(7, 1, ptr(spB, 3))).toBe(1);
  });

  it('removing an SPTE that is not in the rmap reports false and changes nothing', () => {
    const r = new Rmap();
    expect(r.remove(7, 1, ptr(spA, 1))).toBe(false);
    r.add(7, 1, ptr(spA, 1));
    expect(r.remove(7, 1, ptr(spA, 2))).toBe(false);
    expect(r.remove(7, 1, ptr(spB, 1))).toBe(false);
    expect(r.remove(8, 1, ptr(spA, 1))).toBe(false);
    expect(r.remove(7, 2, ptr(spA, 1))).toBe(false);
    expect(r.get(7, 1)).toEqual([ptr(spA, 1)]);
  });

  it('get returns a copy: changing the rmap while iterating it does not skip entries', () => {
    const r = new Rmap();
    r.add(7, 1, ptr(spA, 1));
    r.add(7, 1, ptr(spA, 2));
    const seen: number[] = [];
    for (const p of r.get(7, 1)) {
      seen.push(p.idx);
      r.remove(7, 1, p);
    }
    expect(seen).toEqual([1, 2]);
  });
});

describe('Rmap argument names', () => {
  it('a pointer that is no object is refused as `p`, the parameter it was passed as', () => {
    const r = new Rmap();
    expect(() => r.add(0, 1, null as unknown as SptePtr)).toThrow(/^p must be an object/);
    expect(() => r.remove(0, 1, 7 as unknown as SptePtr)).toThrow(/^p must be an object/);
  });
});
