/** Bad input to the address helpers (src/address): typed, named refusals; they hold no state. */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { gva, gpa, ngpa, hpa, gfn, pfn, gpaToGfn, gfnToGpa, hpaToPfn, pfnToHpa, pageOffset, ngpaAsGpaIdentity, type Gpa, type Gfn } from '../../src';
import { FC, Tally, badBigint, badInt, junk, refused } from './support';

const t = new Tally('address');

describe('address helpers refuse what is not an address', () => {
  const helpers = [['GVA', gva], ['GPA', gpa], ['nGPA', ngpa], ['HPA', hpa]] as const;
  it.each(helpers)('%s: Symbol, fraction, string, undefined, NaN, >= 2^64, negative', (name, f) => {
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => f(v as bigint), { param: name, value: v })), FC);
    for (const v of [Symbol('s'), 1.5, '0x1000', undefined, NaN, 1n << 64n, -1n, -1, null]) refused(t, () => f(v as bigint), { param: name, value: v });
  });

  it.each([['GFN', gfn], ['PFN', pfn]] as const)('%s: not an integer in [0, 2^40)', (name, f) => {
    fc.assert(fc.property(fc.oneof(badInt(0, 2 ** 40 - 1).filter((v) => typeof v !== 'bigint'), fc.bigInt({ min: 1n << 40n, max: 1n << 80n }), junk), (v) => refused(t, () => f(v as number), { param: name, value: v })), FC);
  });

  it('conversions check their argument too', () => {
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => {
      refused(t, () => gpaToGfn(v as Gpa), { param: 'GPA', value: v });
      refused(t, () => pageOffset(v as Gpa), { param: 'address', value: v });
      refused(t, () => ngpaAsGpaIdentity(v as never), { param: 'nGPA', value: v });
      refused(t, () => hpaToPfn(v as never), { param: 'HPA', value: v });
    }), FC);
    // A frame number may be a bigint below 2^40 too.
    fc.assert(fc.property(badInt(0, 2 ** 40 - 1).filter((v) => typeof v !== 'bigint'), (v) => {
      refused(t, () => gfnToGpa(v as Gfn), { param: 'GFN', value: v });
      refused(t, () => pfnToHpa(v as never), { param: 'PFN', value: v });
    }), FC);
  });
});
