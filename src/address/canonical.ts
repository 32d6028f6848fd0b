import { NonCanonicalAddressError, hex } from '../errors';
import type { Gva } from './address';

/** Linear-address width of a paging level: 57 bits for 5-level paging, 48 for 4-level. */
export type VaBits = 48 | 57;

/** SDM 3.3.7.1: bits 63:N-1 must all equal bit N-1. */
export function isCanonical(v: bigint, bits: VaBits): boolean {
  // Bits 63:N-1 all 0 or all 1 of a u64, as comparisons with constants: every access checks its
  // address, and comparisons make no BigInt (a shift did).
  return bits === 48
    ? (v >= 0n && v < 0x0000_8000_0000_0000n) || (v >= 0xffff_8000_0000_0000n && v <= 0xffff_ffff_ffff_ffffn)
    : (v >= 0n && v < 0x0100_0000_0000_0000n) || (v >= 0xff00_0000_0000_0000n && v <= 0xffff_ffff_ffff_ffffn);
}

export function assertCanonical(v: Gva, bits: VaBits): void {
  if (!isCanonical(v, bits)) {
    throw new NonCanonicalAddressError(
      `canonical-${bits}`,
      `GVA is not canonical for ${bits}-bit linear addresses: bits 63:${bits - 1} must all equal bit ${bits - 1}`,
      hex(v),
    );
  }
}

/** Sign-extend the low `bits` bits of v to a 64-bit canonical address. */
export function canonicalize(v: bigint, bits: VaBits): bigint {
  return BigInt.asUintN(64, BigInt.asIntN(bits, v));
}
