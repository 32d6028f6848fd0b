/**
 * pagesPerEntryUnchecked answers from a table for the TDP levels (no pow call in the walks' index
 * computation); it must give 512^(level-1) exactly as the formula does, and spteIndexUnchecked the
 * index `SPTE_INDEX` gives (tdp_iter.h: (gfn >> ((level - 1) * 9)) & 511), for every level and GFN.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pagesPerEntryUnchecked, spteIndexUnchecked } from '../../src';

describe('pagesPerEntryUnchecked / spteIndexUnchecked', () => {
  it('512^(level-1) at levels 0..5, and the formula elsewhere', () => {
    expect([1, 2, 3, 4, 5].map(pagesPerEntryUnchecked)).toEqual([1, 512, 262144, 134217728, 68719476736]);
    for (const level of [-3, -1, 0, 1, 2, 3, 4, 5, 6, 7, 1.5, -0.5]) expect(pagesPerEntryUnchecked(level), String(level)).toBe(2 ** (9 * (level - 1)));
  });

  it('the index of a GFN below 2^40 at each level is its 9-bit field', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), fc.integer({ min: 1, max: 5 }), (gfn, level) => {
        expect(spteIndexUnchecked(gfn, level)).toBe(Number((BigInt(gfn) >> BigInt(9 * (level - 1))) & 511n));
      }),
    );
  });
});
