/** Bad input to the error helpers (src/errors.ts): hex of a fraction, NaN or another type is a typed refusal, not a RangeError from BigInt. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hex } from '../../src';
import { FC, Tally, junk, refused } from './support';

const t = new Tally('errors');

describe('hex', () => {
  it('takes a bigint or a safe integer number', () => {
    const bad = fc.oneof(junk.filter((v) => typeof v !== 'bigint'), fc.double({ noInteger: true }), fc.constantFrom(2 ** 60, -(2 ** 60)));
    fc.assert(fc.property(bad, (v) => refused(t, () => hex(v as number), { param: 'v', value: v })), FC);
    expect(hex(-16)).toBe('-0x10');
    expect(hex(1n << 64n)).toBe('0x10000000000000000');
  });
});
