/**
 * The 4-level hot walk (src/walker/walk-fast.ts: x86HotWalk4, which makeFastWalk returns for
 * 4-level paging with no protection key that can fault) decides exactly as the full walk
 * `walkTables`, on random tables placed where its int32 affine-run test must decide right:
 *  - every table in one affine run, after a few other frames (frame = GFN + delta, delta ≠ 0);
 *  - tables in shuffled frames (runs of some tables: the others go to the general walk);
 *  - one table (any level) just outside the run of the other three: at its first GFN − 1 or its end;
 *  - a table whose GFN is a run GFN plus 2^32 (its bits 31:0 are in the run: the high half's
 *    bits 19:12 must send it elsewhere);
 *  - tables at and above GFN 2^32, and a run reaching across 2^32 (the int32 span is then empty);
 * with random entries (P, R/W, U/S, A, D, PS at levels 3 and 2, NX, protection keys, reserved bits
 * at and above MAXPHYADDR from 32 to 52), both KVM versions and every access kind. For every case:
 * the walk writes nothing; it returns SLOW exactly when walkTables faults or writes A/D; otherwise
 * gfn, level, maxLevel, pkey and pteAccess equal walkTables', and so does the trace ensureTrace fills.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { paging4Format, encodeAccess } from '../../src';
import { walkTables } from '../../src/walker/walk';
import { WalkScratch } from '../../src/walker/walk-scratch';
import { makeFastWalk, SLOW } from '../../src/walker/walk-fast';
import { checkFastAgainstFull } from './fast-vs-full';
import { ACCESSES, PLACEMENTS, TWO32, hotCase } from './hot-cases';

describe('x86HotWalk4 agrees with walkTables', () => {
  for (const placement of PLACEMENTS) {
    it(`tables ${placement}: SLOW exactly when walkTables faults or writes; otherwise the same outcome`, () => {
      const seen = { fast: 0, slow: 0 };
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 0x7fff_ffff }), (seed) => {
          seen[checkFastAgainstFull(hotCase(placement, seed), { walker: 'x86HotWalk', twice: true })]++;
        }),
        { numRuns: 1500, seed: 0x407 + placement.length },
      );
      expect(seen.fast).toBeGreaterThan(100);
      expect(seen.slow).toBeGreaterThan(100);
    });
  }

  it('one walker, accesses changing between walks: each walk checks its own access', () => {
    for (let seed = 1; seed < 400; seed++) {
      const c = hotCase('run', seed);
      const s1 = new WalkScratch();
      const fast = makeFastWalk(c.inputs, s1);
      for (const a of ACCESSES) {
        const access = encodeAccess(a);
        const got = fast(c.vhi, c.vlo, access);
        const s2 = new WalkScratch();
        const before = c.mem.words.slice();
        const stop = walkTables(c.inputs, s2, c.vhi, c.vlo, access);
        const wrote = Buffer.compare(Buffer.from(c.mem.words.buffer, 0, before.byteLength), Buffer.from(before.buffer)) !== 0;
        expect(got === SLOW).toBe(stop !== 0 || wrote);
        if (got !== SLOW) expect([s1.gfn, s1.pteAccess]).toEqual([s2.gfn, s2.pteAccess]);
        c.mem.words.set(before); // undo walkTables' A/D writes for the next access
      }
    }
  });

  it('is not taken where a protection key can fault, for 5-level paging, or with the root at GFN 2^32 or above', () => {
    const c = hotCase('run', 7);
    const fmt = paging4Format({ maxPhyAddr: 46, nx: true, gbpages: true, pse: true, amd: false, cr0Wp: true, cr4Smep: true, cr4Smap: true, cr4Pke: true });
    expect(makeFastWalk({ ...c.inputs, format: fmt, pkru: 4 }, new WalkScratch()).name).not.toBe('x86HotWalk');
    expect(makeFastWalk({ ...c.inputs, format: fmt, pkru: 0 }, new WalkScratch()).name).toBe('x86HotWalk');
    expect(makeFastWalk({ ...c.inputs, format: fmt, rootGfn: TWO32 }, new WalkScratch()).name).not.toBe('x86HotWalk');
  });
});
