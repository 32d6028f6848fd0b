/**
 * The 2D record walk's traced walk is made by the first walk() (src/nested/walk-2d-fast-traced.ts:
 * makeTracedWalk2D's forwarding closure), which then puts it in Walk2D's slot in place of the
 * forwarding one, unless something else was put there first (a wrapper, as the tests' `answers`),
 * which stays and keeps reaching the traced walk. Either way every record equals the full hooked
 * walk's (copy B: the same L1 with the fast paths removed), and so does the ngpa walker's last
 * walk, which the traced walk now writes into the ngpa walker's own scratch (fastWalkScratch).
 */
import { describe, expect, it } from 'vitest';
import { gva, ngpa, type Access, type Walk2D } from '../../src';
import { answers, GVA, hand2DPair } from './hand-2d';

/** The ngpa walker's last walk: the final translation's record (of the data page's nGPA, as the 2D walk names it) and state. */
const lastNested = (w: Walk2D, dataN: number) => {
  const n = w.nested;
  // The numbers first: lastRecord re-walks the tables for its trace (the fast walks leave it unwritten).
  const state = { gfn: n.lastGfn, pfec: n.lastPfec, reads: n.lastReads, stop: n.lastStopReason, errorCode: n.lastErrorCode, logged: n.lastDirtyLogged };
  return { ...state, record: n.lastRecord(ngpa(BigInt(dataN) * 4096n), 'final') };
};

const ACCESSES: Access[] = [{ kind: 'write', user: true }, { kind: 'read', user: true }, { kind: 'fetch' }, { kind: 'read' }];

describe('2D record walk: the traced walk made by the first walk', () => {
  for (const tdp of ['ept', 'npt'] as const) {
    it(`${tdp}: the first walk replaces the forwarding closure; later walks call the traced walk directly`, () => {
      const { a, b } = hand2DPair(tdp, 4, 4);
      const slot = a.internals.tracedFast!;
      const forward = slot.walk;
      // walkRaw does not make it.
      a.w2.walkRaw(Number(GVA >> 32n), Number(GVA & 0xffff_ffffn), 6);
      expect(slot.walk).toBe(forward);
      const got = [];
      for (const acc of ACCESSES) {
        got.push(a.w2.walk(gva(GVA + 0x18n), acc));
        expect(got.at(-1)).toEqual(b.w2.walk(gva(GVA + 0x18n), acc));
        expect(lastNested(a.w2, a.dataN)).toEqual(lastNested(b.w2, b.dataN));
      }
      const built = slot.walk;
      expect(built).not.toBe(forward);
      a.w2.walk(gva(GVA), ACCESSES[0]!);
      expect(slot.walk).toBe(built);
      // The traced walk answered (not the full walk): the refs above L2's level 1 are shared.
      expect(got[1]!.status).toBe('ok');
      expect(got[1]!.refs[0]).toBe(got[0]!.refs[0]);
    });

    it(`${tdp}: a wrapper put in the slot before the first walk stays there and reaches the traced walk`, () => {
      const { a, b } = hand2DPair(tdp, 4, 4);
      const slot = a.internals.tracedFast!;
      const seen = answers(a.internals);
      const wrapper = slot.walk;
      for (let k = 0; k < 3; k++) {
        for (const acc of ACCESSES) {
          seen.traced = Number.NaN;
          const got = a.w2.walk(gva(GVA + 0x7f8n), acc);
          expect(got).toEqual(b.w2.walk(gva(GVA + 0x7f8n), acc));
          expect(lastNested(a.w2, a.dataN)).toEqual(lastNested(b.w2, b.dataN));
          expect(seen.traced).toBe(got.status === 'ok' ? got.refCount : -1);
          expect(slot.walk).toBe(wrapper);
        }
      }
    });
  }
});
