/**
 * bench/record-floor.ts claims to make what walk() returns for a read-only walk, minus the
 * lookups: these tests hold it to the record's shape (the same own keys in the same order, the
 * same type per field, the same trace length) and to the outcome fields it takes from the raw
 * walk, against GvaWalker.walk on the same addresses — 4 KiB, 2 MiB and 1 GiB leaves, 4- and
 * 5-level paging, under the bench's registers (bench/walk.bench.ts: benchWalker). The floor is a
 * cost only where it allocates what the record allocates.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, PageTableBuilder, type GvaWalker, encodeAccess, gpa } from '../../src';
import type { Gva } from '../../src/address/address';
import type { WalkOk } from '../../src/walker/walk-result';
import { makeRecordFloor } from '../../bench/record-floor';
import { benchWalker } from '../../bench/walk.bench';

function guest(levels: 4 | 5): { w: GvaWalker; vas: bigint[] } {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 4n << 30n });
  const b = new PageTableBuilder(mem, { mode: levels === 5 ? 'paging5' : 'paging4', pool: { base: gpa(0xc000_0000n), size: 16n << 20n } });
  const base = levels === 5 ? 0x00ff_8000_0000_0000n : 0x7f00_0000_0000n;
  b.map(base, gpa(0x1000_0000n), { size: '4K', count: 8, flags: { writable: true, user: true } });
  b.map(base + (1n << 30n), gpa(0x2000_0000n), { size: '2M', count: 2, flags: { writable: true, user: true } });
  b.map(base + (4n << 30n), gpa(0x4000_0000n), { size: '1G', count: 1, flags: { writable: true, user: true } });
  const w = benchWalker(mem, b.root, levels);
  return { w, vas: [base + 0x3123n, base + (1n << 30n) + 0x20_1234n, base + (4n << 30n) + 0x1234_5678n] };
}

const typeOf = (v: unknown): string => (Array.isArray(v) ? 'array' : typeof v);

describe('bench/record-floor: the objects of the record walk, after a raw walk', () => {
  for (const levels of [4, 5] as const) {
    it(`${levels}-level: the same keys, field types and trace length as walk(), and its outcome`, () => {
      const { w, vas } = guest(levels);
      const floor = makeRecordFloor(w);
      const a = { kind: 'write' as const, user: true };
      const enc = encodeAccess(a);
      const levelsSeen: number[] = [];
      for (const va of vas) {
        // Twice: the first walk sets A/D bits (walk() takes the full walk for it), the second only reads.
        w.walk(va, a);
        const want = w.walk(va, a) as WalkOk;
        expect(want.status).toBe('ok');
        const got = floor(Number(va >> 32n), Number(va & 0xffff_ffffn), enc, va as Gva, a)!;
        expect(Object.keys(got)).toEqual(Object.keys(want));
        expect(Object.values(got).map(typeOf)).toEqual(Object.values(want).map(typeOf));
        expect(got.trace.length).toBe(want.trace.length);
        expect(Object.keys(got.trace.at(-1)!)).toEqual(Object.keys(want.trace.at(-1)!));
        expect(Object.values(got.trace.at(-1)!).map(typeOf)).toEqual(Object.values(want.trace.at(-1)!).map(typeOf));
        const { gpa: g, gfn, level, pageSize, pteAccess, pkey, address, access } = want;
        expect({ gpa: got.gpa, gfn: got.gfn, level: got.level, pageSize: got.pageSize, pteAccess: got.pteAccess, pkey: got.pkey, address: got.address, access: got.access })
          .toEqual({ gpa: g, gfn, level, pageSize, pteAccess, pkey, address, access });
        levelsSeen.push(got.level);
      }
      expect(levelsSeen).toEqual([1, 2, 3]);
    });
  }
});
