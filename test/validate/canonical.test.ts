/**
 * Bad input to the canonical-address helpers (src/address/canonical.ts): an address that is no
 * bigint (a number was compared with the bigint bounds and passed as canonical), a width other
 * than 48 or 57, a value beyond u64 for canonicalize. Typed refusals naming the argument.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCanonical, assertCanonical, canonicalize, type Gva } from '../../src';
import { FC, Tally, badBigint, badEnum, junk, refused } from './support';

const t = new Tally('canonical');
const notBigint = fc.oneof(junk, fc.constantFrom(0x1000, 0, -1, 2 ** 47, '0x1000'));
const badBits = badEnum([48, 57]);

describe('isCanonical / assertCanonical / canonicalize', () => {
  it('the address is a bigint', () => {
    fc.assert(fc.property(notBigint, (v) => {
      refused(t, () => isCanonical(v as bigint, 48), { param: 'v', value: v });
      refused(t, () => assertCanonical(v as Gva, 57), { param: 'GVA', value: v });
      refused(t, () => canonicalize(v as bigint, 48), { param: 'v', value: v });
    }), FC);
    fc.assert(fc.property(badBigint().filter((v) => typeof v === 'bigint'), (v) => refused(t, () => canonicalize(v as bigint, 57), { param: 'v', value: v })), FC);
  });

  it('the width is 48 or 57 (SDM Vol. 3A 3.3.7.1: 4- and 5-level paging)', () => {
    fc.assert(fc.property(badBits, (v) => {
      refused(t, () => isCanonical(0n, v as 48), { param: 'bits', value: v });
      refused(t, () => assertCanonical(0n as Gva, v as 48), { param: 'bits', value: v });
      refused(t, () => canonicalize(0n, v as 48), { param: 'bits', value: v });
    }), FC);
    // SDM 3.3.7.1: bits 63:47 equal bit 47.
    expect(isCanonical(0xffff_8000_0000_0000n, 48)).toBe(true);
    expect(isCanonical(0x0000_8000_0000_0000n, 48)).toBe(false);
    expect(canonicalize(0x8000_0000_0000n, 48)).toBe(0xffff_8000_0000_0000n);
  });
});
