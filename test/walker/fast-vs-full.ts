/**
 * The check both fast-walk property tests make (walk-fast-property, walk-fast-hot): a fast walk
 * (walk-fast.ts) against `walkTables` on the same inputs. The fast walk writes nothing; it gives up
 * (SLOW) exactly when the full walk faults or writes (A/D); otherwise it leaves the same outcome,
 * and `ensureTrace` the same per-level trace.
 */
import { expect } from 'vitest';
import type { GuestMemory } from '../../src';
import { walkTables, type WalkInputs } from '../../src/walker/walk';
import { WalkScratch } from '../../src/walker/walk-scratch';
import { makeFastWalk, ensureTrace, SLOW } from '../../src/walker/walk-fast';

export interface FastCase {
  mem: GuestMemory;
  inputs: WalkInputs;
  vhi: number;
  vlo: number;
  access: number;
}

/**
 * Which way the fast walk went. `opts.walker`: the name the fast walk must have (the inputs are
 * meant for it); `opts.twice`: walk twice and compare the second (state kept between walks, e.g.
 * the hot walk's permission row of the last access).
 */
export function checkFastAgainstFull(c: FastCase, opts: { walker?: string; twice?: boolean } = {}): 'fast' | 'slow' {
  const { mem, inputs, vhi, vlo, access } = c;
  const s1 = new WalkScratch();
  const fast = makeFastWalk(inputs, s1);
  if (opts.walker !== undefined) expect(fast.name).toBe(opts.walker);
  const before = mem.words.slice();
  if (opts.twice === true) fast(vhi, vlo, access);
  const got = fast(vhi, vlo, access);
  expect(Buffer.compare(Buffer.from(mem.words.buffer, 0, before.byteLength), Buffer.from(before.buffer))).toBe(0);
  const s2 = new WalkScratch();
  const stop = walkTables(inputs, s2, vhi, vlo, access);
  const wrote = mem.words.length !== before.length || Buffer.compare(Buffer.from(mem.words.buffer, 0, before.byteLength), Buffer.from(before.buffer)) !== 0;
  expect({ slow: got === SLOW, stop, wrote }).toEqual({ slow: stop !== 0 || wrote, stop, wrote });
  if (got === SLOW) return 'slow';
  expect(got).toBe(0);
  const pick = (s: WalkScratch) => ({ gfn: s.gfn, level: s.level, maxLevel: s.maxLevel, pkey: s.pkey, pteAccess: s.pteAccess });
  expect(pick(s1)).toEqual(pick(s2));
  expect(s1.traced).toBe(false);
  ensureTrace(inputs, s1);
  for (let l = s2.level; l <= s2.maxLevel; l++) {
    expect([s1.lo[l], s1.hi[l], s1.tableGfn[l], s1.index[l], s1.acc[l]]).toEqual([s2.lo[l], s2.hi[l], s2.tableGfn[l], s2.index[l], s2.acc[l]]);
  }
  return 'fast';
}
