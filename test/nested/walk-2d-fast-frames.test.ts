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
import {
  GuestMemory, NgpaWalker, Walk2D, makeEptp, gpa, gva, encodeAccess, CR0, CR4, EFER, DEFAULT_EPT_CAPS, DEFAULT_FEATURES, type Access,
} from '../../src';
import type { WalkScratch } from '../../src/walker/walk-scratch';
import { l1RegsFor, LM } from './support';

const NT0 = 0x100; // the nested table of level l at GPA frame NT0 + l
const LT0 = 0x200; // L2's table of level l at nGPA frame LT0 + l (identity-mapped)
const DATA_N = 0x3a0; // L2's data page (nGPA frame)
const DATA_G = 0x5a0; // its L1 frame
const JUNK = 0x9000; // a frame of zeros allocated between runs
const LONG = 0xa000; // a 12-frame run, longer than any other, so the next run is the second
const GVA = 0x7f12_3456_7000n; // indices 254, 72, 418, 359 at levels 4..1 (and 0 at level 5)

type Fast = (s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number;
type Internals = { fast: Fast | undefined; tracedFast: { walk: (...args: unknown[]) => number } | undefined };

/** Index of nGPA/GVA bits at a level (9 bits from bit 12 + 9·(level − 1)). */
const index = (addr: bigint, level: number): number => Number((addr >> BigInt(12 + 9 * (level - 1))) & 511n);

/**
 * L2 (`l2Levels`) on an EPT12 or NPT12 (`nLevels`): one nested table per level (every nGPA the walk
 * translates shares the upper indices), L2's tables identity-mapped, GVA → DATA_N → DATA_G.
 * `pre` allocates frames first, fixing where the tables land.
 */
function build(tdp: 'ept' | 'npt', nLevels: 4 | 5, l2Levels: 4 | 5, pre: (mem: GuestMemory) => void) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 256n << 20n });
  pre(mem);
  const ept = tdp === 'ept';
  // EPT: R W X, A (bit 8), D (bit 9), WB memory type on leaves (bits 5:3 = 6); NPT: P RW US A D.
  const nEntry = (frame: number, leaf: boolean): bigint => BigInt(frame * 4096) | (ept ? 0x307n | (leaf ? 0x30n : 0n) : 0x67n);
  const mapNested = (ngfn: number, target: number): void => {
    for (let l: number = nLevels; l >= 1; l--) {
      mem.write64(gpa(BigInt((NT0 + l) * 4096 + index(BigInt(ngfn) << 12n, l) * 8)), nEntry(l === 1 ? target : NT0 + l - 1, l === 1));
    }
  };
  for (let l: number = l2Levels; l >= 1; l--) mapNested(LT0 + l, LT0 + l);
  mapNested(DATA_N, DATA_G);
  for (let l: number = l2Levels; l >= 1; l--) {
    mem.write64(gpa(BigInt((LT0 + l) * 4096 + index(GVA, l) * 8)), BigInt((l === 1 ? DATA_N : LT0 + l - 1) * 4096) | 0x67n);
  }
  const nested = ept
    ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: BigInt((NT0 + nLevels) * 4096), level: nLevels, adEnabled: true }), caps: DEFAULT_EPT_CAPS })
    : NgpaWalker.npt(mem, { ncr3: BigInt((NT0 + nLevels) * 4096), l1: l1RegsFor(nLevels), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' } });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: BigInt((LT0 + l2Levels) * 4096), cr4: CR4.PAE | (l2Levels === 5 ? CR4.LA57 : 0n), efer: LM | EFER.NXE };
  const w2 = new Walk2D(nested, { regs, features: { ...DEFAULT_FEATURES, maxPhyAddr: 46 } });
  return { mem, w2, internals: w2 as unknown as Internals };
}

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
              const a = build(tdp, nLevels, l2Levels, pre(t));
              const b = build(tdp, nLevels, l2Levels, pre(t));
              check(a.mem, t);
              b.internals.fast = undefined;
              b.internals.tracedFast = undefined;
              const fast = a.internals.fast!;
              let answer = 0;
              a.internals.fast = (...args) => (answer = fast(...args));
              expect(a.w2.walkRaw(vhi, vlo, acc), ctx).toBe(0);
              expect([answer, a.w2.lastGfn, a.w2.lastRefCount], ctx).toEqual([refs, DATA_G, refs]);
              expect(b.w2.walkRaw(vhi, vlo, acc), ctx).toBe(0);
              expect([b.w2.lastGfn, b.w2.lastRefCount], ctx).toEqual([DATA_G, refs]);
              const traced = a.internals.tracedFast!;
              const walk = traced.walk;
              let tracedAnswer = 0;
              traced.walk = (...args) => (tracedAnswer = walk(...args));
              const got = a.w2.walk(gva(GVA), ACCESS);
              expect(tracedAnswer, ctx).toBe(refs);
              expect(got.status === 'ok' && [got.gfn, got.refCount], ctx).toEqual([DATA_G, refs]);
              expect(got, ctx).toEqual(b.w2.walk(gva(GVA), ACCESS));
            }
          }
        });
      }
    }
  }
});
