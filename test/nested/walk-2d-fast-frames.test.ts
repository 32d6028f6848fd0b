/**
 * Where the fast 2D walks (src/nested/walk-2d-fast.ts, walk-2d-fast-traced.ts) find a table's
 * frame: GuestMemory's two affine runs (frame = GFN + delta for GFNs in [lo, end)), then
 * frameOfUnchecked, whose frames start at 0 and which answers -1 for a GFN with no frame. Each
 * table a 2D walk reads (every EPT12/NPT12 level, every L2 level) is put, one at a time, at the
 * edges where a wrong comparison reads another frame:
 *  - in frame 0 (the first frame GuestMemory allocates; "no frame" is f < 0, not f ≤ 0);
 *  - at the first GFN after the first affine run (its end is exclusive: GFN end + delta is
 *    another GFN's frame, here a frame of zeros);
 *  - at the first GFN after the second affine run (the same).
 * The tables are written by hand with A and D set everywhere (SDM Vol. 3C §29.3.5, Vol. 3A §4.8;
 * APM Vol. 2 §15.25.10 for NPT), so the first walk writes nothing and both fast walks answer it.
 * What they must answer, from the paging rules and not from the fast walks: the data page's L1
 * frame, and n·(m+1) + m references for an n-level L2 on an m-level EPT12/NPT12 (every L2 table
 * and the final frame translated by a full nested walk, SDM Vol. 3C §29.3.2); the full walk
 * (walkTables with the nested walk as translate, the fast paths removed) gives the same, and so
 * does the record walk's record.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, gpa, gva, encodeAccess, type Access } from '../../src';
import { answers, DATA_G, GVA, hand2DPair, LT0, NT0 } from './hand-2d';

const JUNK = 0x9000; // a frame of zeros allocated between runs
const LONG = 0xa000; // a 12-frame run, longer than any other, so the next run is the second

const touch = (mem: GuestMemory, from: number, count: number): void => {
  for (let g = from; g < from + count; g++) mem.write64(gpa(BigInt(g * 4096)), 0n);
};

/** Where the table at GFN t is put: pre-allocations before the tables are written. */
const PLACES: [string, (t: number) => (mem: GuestMemory) => void, (mem: GuestMemory, t: number) => void][] = [
  ['in frame 0', (t) => (mem) => touch(mem, t, 1), (mem, t) => expect(mem.frameOf(t)).toBe(0)],
  [
    'at the first GFN after the first affine run',
    (t) => (mem) => {
      touch(mem, t - 4, 4);
      touch(mem, JUNK, 1);
    },
    (mem, t) => {
      expect([mem.affineEnd, mem.affineEnd - mem.affineLo]).toEqual([t, 4]);
      expect(mem.frameOf(t)).not.toBe(t + mem.affineDelta);
    },
  ],
  [
    'at the first GFN after the second affine run',
    (t) => (mem) => {
      touch(mem, LONG, 12);
      touch(mem, t - 4, 4);
      touch(mem, JUNK, 1);
    },
    (mem, t) => {
      expect([mem.affineLo, mem.affine2End, mem.affine2End - mem.affine2Lo]).toEqual([LONG, t, 4]);
      expect(mem.frameOf(t)).not.toBe(t + mem.affine2Delta);
    },
  ],
];

const ACCESS: Access = { kind: 'write', user: true };
const acc = encodeAccess(ACCESS);
const vhi = Number(GVA >> 32n);
const vlo = Number(GVA & 0xffff_ffffn);

describe('fast 2D walks: each table in frame 0 and just after either affine run', () => {
  for (const tdp of ['ept', 'npt'] as const) {
    for (const nLevels of [4, 5] as const) {
      for (const l2Levels of [4, 5] as const) {
        const tables: [string, number][] = [];
        for (let l: number = nLevels; l >= 1; l--) tables.push([`${tdp.toUpperCase()}12 level ${l}`, NT0 + l]);
        for (let l: number = l2Levels; l >= 1; l--) tables.push([`L2 level ${l}`, LT0 + l]);
        it(`${l2Levels}-level L2 on a ${nLevels}-level ${tdp.toUpperCase()}12`, () => {
          const refs = l2Levels * (nLevels + 1) + nLevels;
          for (const [what, t] of tables) {
            for (const [where, pre, check] of PLACES) {
              const ctx = `${what} ${where}`;
              const { a, b } = hand2DPair(tdp, nLevels, l2Levels, { pre: pre(t) });
              check(a.mem, t);
              const answer = answers(a.internals);
              expect(a.w2.walkRaw(vhi, vlo, acc), ctx).toBe(0);
              expect([answer.fast, a.w2.lastGfn, a.w2.lastRefCount], ctx).toEqual([refs, DATA_G, refs]);
              expect(b.w2.walkRaw(vhi, vlo, acc), ctx).toBe(0);
              expect([b.w2.lastGfn, b.w2.lastRefCount], ctx).toEqual([DATA_G, refs]);
              const got = a.w2.walk(gva(GVA), ACCESS);
              expect(answer.traced, ctx).toBe(refs);
              expect(got.status === 'ok' && [got.gfn, got.refCount], ctx).toEqual([DATA_G, refs]);
              expect(got, ctx).toEqual(b.w2.walk(gva(GVA), ACCESS));
            }
          }
        });
      }
    }
  }
});
