/**
 * Bad input to the set-associative TLB arrays (src/tlb/set-assoc.ts): set indices that are not
 * non-negative safe integers, entries that are not objects, callbacks that are not functions.
 * Each refusal is typed, names the parameter and value, and leaves the array's entries unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { SetAssoc } from '../../src';
import { FC, Tally, badInt, junk, refused } from './support';

const t = new Tally('set-assoc');

describe('SetAssoc: find / findWith / insert / invalidate', () => {
  it('indices, entries and callbacks', () => {
    const a = new SetAssoc<{ index: number; used: number; v: number }>({ entries: 8, ways: 2 });
    a.insert({ index: 3, used: 0, v: 1 }, () => false);
    const state = () => JSON.stringify(a.entries());
    fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => {
      refused(t, () => a.find(v as number, () => true), { param: 'index', value: v, state });
      refused(t, () => a.findWith(v as number, () => true, 0, 0), { param: 'index', value: v, state });
      refused(t, () => a.insert({ index: v as number, used: 0, v: 2 }, () => false), { param: 'e.index', value: v, state });
    }), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => {
      refused(t, () => a.find(3, v as never), { param: 'match', state });
      refused(t, () => a.findWith(3, v as never, 0, 0), { param: 'match', state });
      refused(t, () => a.insert({ index: 3, used: 0, v: 2 }, v as never), { param: 'same', state });
      refused(t, () => a.invalidate(v as never), { param: 'pred', state });
      refused(t, () => a.insert(v as never, () => false), { param: 'e', state });
    }), FC);
  });
});
