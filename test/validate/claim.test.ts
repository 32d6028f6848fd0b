/**
 * Bad input to claims (src/claim/claim.ts): a blank or non-string text, a condition that is no
 * boolean, values that are no object of numbers, bigints, strings or booleans. Typed refusals
 * naming the argument (the text used to be printed with String(), which throws on a Symbol).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Claim, claim, claimValuesText } from '../../src';
import { FC, Tally, junk, refused } from './support';

const t = new Tally('claim');
const badText = fc.oneof(junk.filter((v) => typeof v !== 'string'), fc.constantFrom('', '  ', '\n'));
const badValues = junk.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v)));
const badValue = fc.constantFrom(null, undefined, {}, [], Symbol('v'), () => 1);

describe('claim, Claim, claimValuesText', () => {
  it('text: a non-blank string', () => {
    fc.assert(fc.property(badText, (v) => {
      refused(t, () => claim(v as string, true), { param: 'text', value: v });
      refused(t, () => new Claim(v as string, {}), { param: 'text', value: v });
    }), FC);
  });

  it('condition: a boolean', () => {
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom(0, 1, 'true', 1n)), (v) => refused(t, () => claim('x holds', v as boolean), { param: 'condition', value: v })), FC);
  });

  it('values: an object of numbers, bigints, strings, booleans', () => {
    fc.assert(fc.property(badValues, (v) => {
      refused(t, () => claim('x holds', true, v as never), { param: 'values', value: v });
      refused(t, () => new Claim('x holds', v as never), { param: 'values', value: v });
      refused(t, () => claimValuesText(v as never), { param: 'values', value: v });
    }), FC);
    fc.assert(fc.property(badValue, (v) => {
      refused(t, () => claim('x holds', true, { n: 1, x: v as never }), { param: 'values.x', value: v });
      refused(t, () => claimValuesText({ x: v as never }), { param: 'values.x', value: v });
    }), FC);
    expect(claimValuesText({ n: 1234, a: 0x10n })).toBe('n = 1,234, a = 0x10');
  });
});
