/** Bad input to PageTableBuilder (src/builder): typed, named refusals; guest memory and pool unchanged. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestMemory, PageTableBuilder, gpa, MAX_BUILDER_PAGES_PER_CALL, PageTableBuildError, GpaOutsideMemoryError, type TableMode } from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, memFingerprint, refused, refusedRule } from './support';

const t = new Tally('builder');
const MODES: TableMode[] = ['paging32', 'pae', 'paging4', 'paging5', 'ept4', 'ept5'];

function setup(mode: TableMode = 'paging4') {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x400_0000n, name: 'low' });
  mem.addSlot({ base: gpa(0x1_0000_0000n), size: 0x10_0000n, name: 'high' });
  const b = new PageTableBuilder(mem, { mode, pool: { base: 0x10_0000n, size: 0x10_0000n } });
  b.map(0x40_0000n, 0x200_0000n, { count: 4 });
  return { mem, b, state: () => `${memFingerprint(mem)}|${b.tablesAllocated}` };
}

describe('PageTableBuilder refuses bad input and writes nothing', () => {
  it('constructor: mode "toString"/"__proto__", bad pools, flags and roots', () => {
    const { mem } = setup();
    const state = () => memFingerprint(mem);
    const pool = { base: 0x30_0000n, size: 0x1_0000n };
    fc.assert(fc.property(badEnum(MODES), (v) => refused(t, () => new PageTableBuilder(mem, { mode: v as TableMode, pool }), { param: 'options.mode', value: v, state })), FC);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => new PageTableBuilder(mem, { mode: 'paging4', pool: { base: v as bigint, size: 0x1000n } }), { param: 'options.pool.base', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badBigint({ numbersOk: true }), fc.constant(0n)), (v) => refused(t, () => new PageTableBuilder(mem, { mode: 'paging4', pool: { base: 0x30_0000n, size: v as bigint } }), { param: 'options.pool.size', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 0xfff), (v) => refused(t, () => new PageTableBuilder(mem, { mode: 'paging4', pool, tableFlags: v as number }), { param: 'options.tableFlags', value: v, state })), FC);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => new PageTableBuilder(mem, { mode: 'paging4', pool, root: v as bigint }), { param: 'options.root', value: v, state })), FC);
    for (const v of [null, 3, 'x', Symbol('m'), {}]) refused(t, () => new PageTableBuilder(v as never, { mode: 'paging4', pool }), { param: 'mem', value: v, state });
    for (const v of [null, undefined, 5, 'o']) refused(t, () => new PageTableBuilder(mem, v as never), { param: 'options', value: v, state });
  });

  it('a PAE PDPT placed above 4 GiB is refused before the root frame is zeroed', () => {
    const { mem } = setup();
    mem.write64(gpa(0x1_0000_0000n), 0xdeadn); // what the pool's first frame holds
    const state = () => memFingerprint(mem);
    refused(t, () => new PageTableBuilder(mem, { mode: 'pae', pool: { base: 0x1_0000_0000n, size: 0x1_0000n } }), { param: 'PDPT', state });
    expect(mem.read64(gpa(0x1_0000_0000n))).toBe(0xdeadn);
  });

  it('map: negative or non-bigint VA/PA, bad sizes, counts and flags', () => {
    const { b, state } = setup();
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => b.map(v as bigint, 0x300_0000n), { param: 'va', value: v, state })), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => b.map(0x80_0000n, v as bigint), { param: 'pa', value: v, state })), FC);
    fc.assert(fc.property(badEnum(['4K', '2M', '1G', '4M']), (v) => refused(t, () => b.map(0x80_0000n, 0x300_0000n, { size: v as '4K' }), { param: 'options.size', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, MAX_BUILDER_PAGES_PER_CALL), fc.constant(1e9), fc.constant(2 ** 40)), (v) => refused(t, () => b.map(0x80_0000n, 0x300_0000n, { count: v as number }), { param: 'options.count', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => b.map(0x80_0000n, 0x300_0000n, { flags: { writable: v as boolean } }), { param: 'flags.writable', value: v, state })), FC);
    refused(t, () => b.map(-0x1000n, 0x300_0000n), { param: 'va', value: -0x1000n, state });
  });

  it('unmap: count -1, NaN, 10^9, 2^40; bad VAs', () => {
    const { b, state } = setup();
    for (const v of [-1, NaN, 0, 1.5, 1e9, 2 ** 40, '3', 3n]) refused(t, () => b.unmap(0x40_0000n, { count: v as number }), { param: 'options.count', value: v, state });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => b.unmap(v as bigint), { param: 'va', value: v, state })), FC);
    // A range that would run past the canonical half.
    refused(t, () => b.unmap(0x7fff_ffff_f000n, { count: 2 }), { param: 'range', state });
  });

  it('setEntry(2^64 + 3), bad levels, getEntry/placeTable/path with bad arguments', () => {
    const { b, state } = setup();
    refused(t, () => b.setEntry(0x40_0000n, 1, 2n ** 64n + 3n), { param: 'value', value: 2n ** 64n + 3n, state });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => b.setEntry(0x40_0000n, 1, v as bigint), { param: 'value', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 4), fc.constant(5)), (v) => {
      refused(t, () => b.setEntry(0x40_0000n, v as number, 0n), { param: 'level', value: v, state });
      refused(t, () => b.getEntry(0x40_0000n, v as number), { param: 'level', value: v, state });
    }), FC);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => b.path(v as bigint), { param: 'va', value: v, state });
      refused(t, () => b.placeTable(1, 0x4000_0000n, v as bigint), { param: 'at', value: v, state });
    }), FC);
  });
});

describe('table chains the builder must not build on (issue 12 item 4)', () => {
  it.each(['paging4', 'pae', 'ept4', 'paging32'] as const)('%s: a self-referencing upper entry is refused when building below it', (mode) => {
    const { b, state } = setup(mode);
    const top = b.geometry.levels;
    // Point the top-level entry of a fresh region back at the root table itself (a "recursive"
    // entry the hardware walk follows; building below it would overwrite the root).
    const va = mode === 'paging32' || mode === 'pae' ? 0xc000_0000n : 0x80_0000_0000n;
    b.setEntry(va, top, (b.root as bigint) | (mode === 'ept4' ? 7n : mode === 'pae' ? 1n : 7n));
    for (const call of [() => b.map(va, 0x300_0000n), () => b.setEntry(va, 1, 0x1n), () => b.unmap(va), ...(top >= 3 ? [() => b.placeTable(top - 2, va, 0x3f0_0000n)] : [])]) {
      refusedRule(t, call, PageTableBuildError, 'table-cycle', state);
    }
    // Reading the path still works: it is bounded by the level count.
    expect(b.path(va).length).toBeGreaterThan(0);
  });

  it('an upper entry pointing outside every slot is refused before anything is written', () => {
    const { b, state } = setup('paging4');
    b.setEntry(0x80_0000_0000n, 4, 0x8000_0000n | 7n); // 2 GiB: no slot
    refusedRule(t, () => b.map(0x80_0000_0000n, 0x300_0000n), GpaOutsideMemoryError, 'table-outside-memory', state);
  });
});
