import { NonCanonicalAddressError, hex } from '../errors';
import type { Gva } from './address';

/** Linear-address width of a paging level: 57 bits for 5-level paging, 48 for 4-level. */
export type VaBits = 48 | 57;

/** SDM 3.3.7.1: bits 63:N-1 must all equal bit N-1. */
export function isCanonical(v: bigint, bits: VaBits): boolean {
  // Constants per width, not BigInt(bits - 1) per call: every access checks its address.
  const top = v >> (bits === 48 ? 47n : 56n);
  return top === 0n || top === (bits === 48 ? 0x1ffffn : 0xffn);
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
