/**
 * walk-batch-lanes.ts: walk-batch-hot.ts's loop LANES walks at a time. Expected values come from
 * walkRaw and walkTables (on a twin guest, or walk by walk), never from the loop:
 *  - a batch of 'ram' walks with one walk that walkRaw answers with a fault, a write (A or D) or a
 *    2 MiB leaf, at every position of the first groups and of the last walks: the loop stops
 *    exactly there, with walkRaw's GFNs before it — a lane that tested another lane's entry would
 *    let that walk through, or stop early;
 *  - a batch of read-only 4 KiB walks goes through in groups, the one-walk loop called only for the
 *    walks after the last full group.
 * walk-batch-hot's random-tables test also runs each of its walks in every lane of a group.
 */
import { describe, expect, it } from 'vitest';
import { encodeAccess, type Access } from '../../src';
import { LANES, makeLanesLoop, lanesLoopSource, type HotBatchLoop } from '../../src/walker/walk-batch-lanes';
import { makeHotBatchWalk } from '../../src/walker/walk-batch-hot';
import { hotWalkTests, permissionRow } from '../../src/walker/walk-fast';
import { x86WalkConstants } from '../../src/walker/x86-walk-constants';
import type { WalkInputs } from '../../src/walker/walk';
import { WalkStop } from '../../src/walker/walk-scratch';
import { memFingerprint } from '../validate/support';
import { guest, addresses, regionBase, type Region } from './hot-batch-guest';

const inputsOf = (w: unknown): WalkInputs => (w as { inputs: WalkInputs }).inputs;

/** Walks that walkRaw answers with more than a read of a 4 KiB leaf, and the access that makes them so. */
const STOPPERS: [Region, Access][] = [
  ['not-accessed', { kind: 'read', user: true }],
  ['clean', { kind: 'write', user: true }],
  ['supervisor', { kind: 'read', user: true }],
  ['nx', { kind: 'fetch', user: true }],
  ['hole', { kind: 'read', user: true }],
  ['large', { kind: 'read', user: true }],
  ['large-over-tables', { kind: 'write', user: true }],
  ['reserved', { kind: 'read', user: true }],
];
/** With 5-level paging: level-5 entries not present, with a reserved bit, with U/S clear, with A clear, with XD set, with PS set; a level-4 table outside the affine run. */
const STOPPERS5: [Region, Access][] = [
  ['l5-hole', { kind: 'read', user: true }],
  ['l5-reserved', { kind: 'read', user: true }],
  ['l5-supervisor', { kind: 'read', user: true }],
  ['l5-not-accessed', { kind: 'read', user: true }],
  ['l5-nx', { kind: 'fetch', user: true }],
  ['l5-ps', { kind: 'read', user: true }],
  // walkRaw reads this one's page; the loop stops there because a table is outside the affine run.
  ['l5-outside', { kind: 'read', user: true }],
];

describe('walk-batch-lanes: LANES walks at a time, the same answers as one at a time', () => {
  it('the generated loops have one copy of the per-walk code per lane, and a level-5 step with 5-level paging only', () => {
    expect(LANES).toBeGreaterThan(1);
    for (const root of [4, 5] as const) {
      const src = lanesLoopSource(root);
      for (let x = 0; x < LANES; x++) expect(src).toContain(`outGfn[i + ${x}] = (hi${x} & 0xfffff)`);
      expect(src).not.toContain(`outGfn[i + ${LANES}]`);
      expect(src.includes('& l5)')).toBe(root === 5);
      // The one-walk loop is the same template with one lane, which stops where its walk fails.
      const one = lanesLoopSource(root, 1);
      expect(one).toContain('outGfn[i + 0] = (hi0 & 0xfffff)');
      expect(one).not.toContain('hi1');
      expect(one).not.toContain('seq(');
    }
  });

  for (const [v73, levels] of [[false, 4], [true, 4], [false, 5], [true, 5]] as const) {
    it(`${v73 ? '7.3' : '6.16'}, ${levels}-level: one walk that needs more than reads, at every position — the loop stops there`, () => {
      const n = 3 * LANES + 3; // three groups and three walks after them
      for (const [si, [region, access]] of (levels === 5 ? [...STOPPERS, ...STOPPERS5] : STOPPERS).entries()) {
        const acc = encodeAccess(access);
        for (let p = 0; p < n; p++) {
          const { his, los } = addresses(1000 + si * 97 + p, n, ['ram'], levels);
          const bad = regionBase(region, levels) + BigInt((p * 37) % 512) * 4096n + 0x123n;
          his[p] = Number(bad >> 32n);
          los[p] = Number(bad & 0xffff_ffffn);
          // Expected: walkRaw on a twin guest, walk by walk, up to the first that faults, writes or
          // maps 2 MiB.
          const twin = guest(v73, levels);
          const gfns: number[] = [];
          let expected = n;
          for (let i = 0; i < n; i++) {
            const before = memFingerprint(twin.mem);
            const stop = twin.w.walkRaw(his[i]!, los[i]!, acc);
            if (stop !== WalkStop.Ok || memFingerprint(twin.mem) !== before || (region.startsWith('large') || region === 'l5-outside') && i === p) {
              expected = i;
              break;
            }
            gfns.push(twin.w.lastGfn);
          }
          expect(expected, `${region} at ${p}: walkRaw does more than read there`).toBe(p);
          const { mem, w } = guest(v73, levels);
          const before = memFingerprint(mem);
          const batch = makeHotBatchWalk(inputsOf(w))!;
          const out = new Float64Array(n).fill(-2);
          expect(batch(his, los, 0, n, acc, out), `${region} at ${p}`).toBe(p);
          expect(Array.from(out.subarray(0, p))).toEqual(gfns);
          expect(memFingerprint(mem)).toBe(before);
          // From just after it, the rest goes through (all 'ram').
          expect(batch(his, los, p + 1, n, acc, out)).toBe(n);
        }
      }
    });
  }

  it.each([4, 5] as const)('%i-level: read-only 4 KiB walks go through in groups, the one-walk loop sees only the walks after the last group', (levels) => {
    const { mem, w } = guest(true, levels);
    const n = 5 * LANES + 5;
    const { his, los } = addresses(77, n, ['ram'], levels);
    const inputs = inputsOf(w);
    const t = hotWalkTests(inputs);
    const calls: [number, number][] = [];
    const seq: HotBatchLoop = (_w, _a, _s, _d, _r, _row, _wr, _h, _l, start, end) => {
      calls.push([start, end]);
      return start; // stops at once: only the calls matter here
    };
    const loop = makeLanesLoop(t, seq);
    const m = mem as unknown as { affineLo32: number; affineSpan32: number; affineDelta32: number };
    for (const access of [{ kind: 'read', user: true }, { kind: 'write', user: true }, { kind: 'fetch', user: true }] as Access[]) {
      calls.length = 0;
      const acc = encodeAccess(access);
      const out = new Float64Array(n).fill(-2);
      const k = loop(mem.words, m.affineLo32, m.affineSpan32, m.affineDelta32, (t.rootG + m.affineDelta32) << 10,
        permissionRow(x86WalkConstants(inputs).perms, acc), acc & 2, his, los, 0, n, out);
      const full = n - (n % LANES);
      expect(calls).toEqual([[full, n]]);
      expect(k).toBe(full);
      for (let i = 0; i < n; i++) {
        // ram's page j maps GPA 0x2_0000_0000 + j * 4096: GFN 0x20_0000 + j.
        expect(out[i]).toBe(i < full ? 0x20_0000 + ((los[i]! >>> 12) & 511) : -2);
      }
    }
  });
});
