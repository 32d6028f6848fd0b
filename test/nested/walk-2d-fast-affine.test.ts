/**
 * The fast 2D walk (src/nested/walk-2d-fast.ts) finds table frames through GuestMemory's two
 * affine runs (frame = GFN + delta) before the complete index. A 2D walk reads two table pools,
 * L1's EPT12 and L2's own tables; written one after the other, each is a run with its own delta,
 * and which one is the first run depends only on their sizes. Each test would fail if a lookup in
 * either run used the other run's delta or bounds (a wrong entry read: a wrong frame, or SLOW
 * where the full walk succeeds).
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, PageTableBuilder, NgpaWalker, Walk2D, makeEptp, gpa, encodeAccess, CR0, CR4, EFER, DEFAULT_EPT_CAPS, DEFAULT_FEATURES } from '../../src';
import type { WalkScratch } from '../../src/walker/walk-scratch';
import { LM } from './support';

type Fast = (s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number;

const EPT_POOL = 0x10_0000n;
const L2_POOL = 0x4000_0000n;
const DATA_N = 0x8000_0000n;
const DATA_G = 0x2000_0000n;
const GVA = 0x7f00_0000_0000n;

/** EPT12 and L2 tables in two pools; `eptPages`/`l2Pages` pages mapped in each (more pages, more tables). */
function setup(eptPages: number, l2Pages: number) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 4n << 30n });
  mem.write64(gpa(0x3000n), 0n); // one frame before the pools: the runs' deltas are not 0
  const ept = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(EPT_POOL), size: 4n << 20n } });
  ept.map(L2_POOL, L2_POOL, { count: 1024 });
  ept.map(DATA_N, DATA_G, { count: eptPages });
  const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(L2_POOL), size: 4n << 20n } });
  l2.map(GVA, DATA_N, { count: l2Pages, flags: { writable: true, user: true } });
  const nested = NgpaWalker.ept(mem, { eptp: makeEptp({ root: ept.root, adEnabled: true }), caps: DEFAULT_EPT_CAPS });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: CR4.PAE, efer: LM | EFER.NXE };
  return { mem, w2: new Walk2D(nested, { regs, features: DEFAULT_FEATURES }) };
}

const inRun = (lo: number, end: number, pool: bigint): boolean => Number(pool >> 12n) >= lo && Number(pool >> 12n) < end;

describe('fast 2D walk: both table pools as affine runs', () => {
  for (const [what, eptPages, l2Pages, eptFirst] of [
    ['EPT12 pool the first run, L2 pool the second', 8 * 512, 16, true],
    ['L2 pool the first run, EPT12 pool the second', 16, 8 * 512, false],
  ] as const) {
    it(what, () => {
      const { mem, w2 } = setup(eptPages, l2Pages);
      expect(inRun(mem.affineLo, mem.affineEnd, eptFirst ? EPT_POOL : L2_POOL)).toBe(true);
      expect(inRun(mem.affine2Lo, mem.affine2End, eptFirst ? L2_POOL : EPT_POOL)).toBe(true);
      expect(mem.affineDelta).not.toBe(mem.affine2Delta);
      const fast = (w2 as unknown as { fast: Fast | undefined }).fast!;
      const internals = w2 as unknown as { fast: Fast | undefined };
      let answer = 0;
      internals.fast = (...args) => (answer = fast(...args));
      const acc = encodeAccess({ kind: 'write', user: true });
      const pages = Math.min(eptPages, l2Pages);
      for (let i = 0; i < pages; i++) {
        const va = GVA + BigInt(i) * 4096n;
        const vhi = Number(va >> 32n);
        const vlo = Number(va & 0xffff_ffffn);
        expect(w2.walkRaw(vhi, vlo, acc)).toBe(0); // sets A/D in both dimensions
        expect(w2.walkRaw(vhi, vlo, acc)).toBe(0);
        expect([answer, w2.lastGfn]).toEqual([24, Number(DATA_G >> 12n) + i]);
      }
    });
  }
});
