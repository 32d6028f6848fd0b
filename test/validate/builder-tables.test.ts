/** Bad input to the table-geometry helpers and PageTableBuilder.entryAddress (src/builder): typed, named refusals. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GEOMETRY, GuestMemory, PageTableBuilder, gpa, leafFlagBits, leafLevelOf, levelSpan, type PageSize, type TableGeometry } from '../../src';
import { FC, Tally, badEnum, badInt, badBigint, junk, memFingerprint, refused } from './support';

const t = new Tally('builder-tables');
const SIZES = ['4K', '2M', '4M', '1G'];
/** Not one of GEOMETRY's values: junk, a look-alike copy, a geometry with an extra level. */
const badGeometry = fc.oneof(junk, fc.constant({ ...GEOMETRY.paging4 }), fc.constant({ ...GEOMETRY.ept4, levels: 9 }));

describe('leafLevelOf / levelSpan / leafFlagBits refuse bad geometries, sizes, levels and flags', () => {
  it('leafLevelOf: size "toString" (was: Object.prototype.toString returned as the level), bad geometries', () => {
    fc.assert(fc.property(badEnum(SIZES), (v) => refused(t, () => leafLevelOf(GEOMETRY.paging4, v as PageSize), { param: 'size', value: v })), FC);
    fc.assert(fc.property(badGeometry, (v) => refused(t, () => leafLevelOf(v as TableGeometry, '4K'), { param: 'g' })), FC);
    // A size the mode lacks stays the architectural refusal (SDM: 32-bit paging has 4M, not 2M).
    expect(() => leafLevelOf(GEOMETRY.paging32, '2M')).toThrow(/no 2M pages/);
    expect(leafLevelOf(GEOMETRY.paging4, '1G')).toBe(3);
  });

  it('levelSpan: levels outside 1..levels (was: 2^-6 for level 0, NaN for "1"), bad geometries', () => {
    for (const g of Object.values(GEOMETRY)) {
      fc.assert(fc.property(fc.oneof(badInt(1, g.levels), fc.constant(0), fc.constant(g.levels + 1)), (v) => refused(t, () => levelSpan(g, v as number), { param: 'level', value: v })), FC);
    }
    fc.assert(fc.property(badGeometry, (v) => refused(t, () => levelSpan(v as TableGeometry, 1), { param: 'g' })), FC);
    // SDM Vol. 3A table 4-9: a PDE maps 4 MiB in 32-bit paging; table 4-15: a PDPTE maps 1 GiB.
    expect(levelSpan(GEOMETRY.paging32, 2)).toBe(4 << 20);
    expect(levelSpan(GEOMETRY.paging4, 3)).toBe(1 << 30);
  });

  it('leafFlagBits: bad levels, flags that are not an object (was: TypeError from Object.keys(null)), bad geometries', () => {
    fc.assert(fc.property(fc.oneof(badInt(1, 4), fc.constant(0), fc.constant(5)), (v) => refused(t, () => leafFlagBits(GEOMETRY.paging4, v as number, {}), { param: 'level', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), (v) => refused(t, () => leafFlagBits(GEOMETRY.ept4, 1, v as object), { param: 'flags', value: v })), FC);
    fc.assert(fc.property(badGeometry, (v) => refused(t, () => leafFlagBits(v as TableGeometry, 1, {}), { param: 'g' })), FC);
    fc.assert(fc.property(fc.constantFrom('yes', 1, 0, 1n, null), (v) => refused(t, () => leafFlagBits(GEOMETRY.paging4, 1, { writable: v as unknown as boolean }), { param: 'flags.writable', value: v })), FC);
  });
});

describe('PageTableBuilder.entryAddress refuses bad VAs and levels, writes nothing', () => {
  it('bad VAs and levels', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 0x400_0000n, name: 'low' });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    b.map(0x40_0000n, 0x200_0000n);
    const state = () => `${memFingerprint(mem)}|${b.tablesAllocated}`;
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => b.entryAddress(v as bigint, 1), { param: 'va', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 4), fc.constant(5)), (v) => refused(t, () => b.entryAddress(0x40_0000n, v as number), { param: 'level', value: v, state })), FC);
    // SDM Vol. 3A §4.5.4: the PTE index is va bits 20:12, 0 for 0x400000: the entry opens its table.
    expect(BigInt(b.entryAddress(0x40_0000n, 1)) % 4096n).toBe(0n);
  });
});
