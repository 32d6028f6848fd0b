import { NonCanonicalAddressError, hex } from '../errors';
import { checkBigint, refuse } from '../validate/checks';
import type { Gva } from './address';

/** Linear-address width of a paging level: 57 bits for 5-level paging, 48 for 4-level. */
export type VaBits = 48 | 57;

function refuseBits(bits: unknown): never {
  return refuse('bits', 'va-bits', 'must be 48 (4-level paging) or 57 (5-level paging)', bits);
}

/**
 * SDM 3.3.7.1: bits 63:N-1 must all equal bit N-1. `v` must be a bigint (a number was compared
 * with the bigint bounds and passed) and `bits` 48 or 57; other values are refused, not answered
 * false: "not canonical" would misname a caller's type error.
 */
export function isCanonical(v: bigint, bits: VaBits): boolean {
  if (typeof v !== 'bigint') refuse('v', 'bigint-type', 'must be a bigint', v);
  if (bits !== 48 && bits !== 57) refuseBits(bits);
  return isCanonicalUnchecked(v, bits);
}

/** @internal `isCanonical` for callers that already checked `v` (a bigint) and `bits` (the walkers, the builder, INVPCID). */
export function isCanonicalUnchecked(v: bigint, bits: VaBits): boolean {
  // Bits 63:N-1 all 0 or all 1 of a u64, as comparisons with constants: every access checks its
  // address, and comparisons make no BigInt (a shift did).
  return bits === 48
    ? (v >= 0n && v < 0x0000_8000_0000_0000n) || (v >= 0xffff_8000_0000_0000n && v <= 0xffff_ffff_ffff_ffffn)
    : (v >= 0n && v < 0x0100_0000_0000_0000n) || (v >= 0xff00_0000_0000_0000n && v <= 0xffff_ffff_ffff_ffffn);
}

/** Refuse a non-canonical GVA (NonCanonicalAddressError); a value that is no bigint is an InvalidArgumentError. */
export function assertCanonical(v: Gva, bits: VaBits): void {
  // typeof and two compares: this runs on every walk().
  if (typeof v !== 'bigint') refuse('GVA', 'bigint-type', 'must be a bigint', v);
  if (bits !== 48 && bits !== 57) refuseBits(bits);
  if (!isCanonicalUnchecked(v, bits)) {
    throw new NonCanonicalAddressError(
      `canonical-${bits}`,
      `GVA is not canonical for ${bits}-bit linear addresses: bits 63:${bits - 1} must all equal bit ${bits - 1}`,
      hex(v),
    );
  }
}

/** Sign-extend the low `bits` bits of a u64 to a 64-bit canonical address. */
export function canonicalize(v: bigint, bits: VaBits): bigint {
  checkBigint('v', v);
  if (bits !== 48 && bits !== 57) refuseBits(bits);
  return BigInt.asUintN(64, BigInt.asIntN(bits, v));
}
