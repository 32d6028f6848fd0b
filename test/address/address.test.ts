import { describe, expect, it } from 'vitest';
import { gva, gpa, gfn, gpaToGfn, gfnToGpa, hpa, hpaToPfn, pfnToHpa, pfn, isCanonical, assertCanonical, canonicalize, InvalidArgumentError, NonCanonicalAddressError } from '../../src';

describe('address spaces', () => {
  it('accepts full 64-bit values at the API', () => {
    expect(gva(0xffff_8880_0000_0000n)).toBe(0xffff_8880_0000_0000n);
    expect(gpa(0x1234)).toBe(0x1234n);
  });
  it('converts only through named helpers', () => {
    expect(gpaToGfn(gpa(0x12345678n))).toBe(0x12345);
    expect(gfnToGpa(gfn(0x12345))).toBe(0x12345000n);
    expect(hpaToPfn(hpa(0xf_ffff_f000n))).toBe(0xffffff);
    expect(pfnToHpa(pfn(1))).toBe(0x1000n);
  });
  it('rejects values that are not addresses', () => {
    expect(() => gva(-1)).toThrow(InvalidArgumentError);
    expect(() => gpa(1n << 64n)).toThrow(/fit in 64 bits.*0x10000000000000000/);
    expect(() => gpa(2 ** 60)).toThrow(/safe integer/);
    expect(() => gfn(2 ** 40)).toThrow(/frame/);
  });
});

describe('canonical addresses (SDM 3.3.7.1)', () => {
  it('48-bit', () => {
    expect(isCanonical(0x0000_7fff_ffff_ffffn, 48)).toBe(true);
    expect(isCanonical(0x0000_8000_0000_0000n, 48)).toBe(false);
    expect(isCanonical(0xffff_8000_0000_0000n, 48)).toBe(true);
    expect(isCanonical(0xfffe_8000_0000_0000n, 48)).toBe(false);
  });
  it('57-bit', () => {
    expect(isCanonical(0x00ff_ffff_ffff_ffffn, 57)).toBe(true);
    expect(isCanonical(0x0100_0000_0000_0000n, 57)).toBe(false);
    expect(isCanonical(0xff00_0000_0000_0000n, 57)).toBe(true);
    expect(isCanonical(0x0000_8000_0000_0000n, 57)).toBe(true);
  });
  it('names the value and the rule', () => {
    expect(() => assertCanonical(gva(0x0000_8000_0000_0000n), 48)).toThrow(NonCanonicalAddressError);
    expect(() => assertCanonical(gva(0x0000_8000_0000_0000n), 48)).toThrow(/0x800000000000.*canonical-48/);
  });
  it('canonicalize sign-extends', () => {
    expect(canonicalize(0x8000_0000_0000n, 48)).toBe(0xffff_8000_0000_0000n);
  });
});
