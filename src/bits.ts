/**
 * 64-bit values in the hot path are kept as two unsigned 32-bit halves (lo, hi): JavaScript
 * numbers are exact only to 53 bits and `bigint` arithmetic is far too slow for a walk loop.
 * `bigint` is used at the API edge only; these helpers convert between the two.
 */

import { checkInt, refuse } from './validate/checks';

const M32 = 0xffffffffn;

/** KVM's `rsvd_bits(s, e)`: the mask of bits s..e inclusive (mmu.h). Empty when e < s. */
export function rsvdBits(s: number, e: number): bigint {
  checkInt('s', s, { max: 63 });
  checkInt('e', e, { max: 63 });
  if (e < s) return 0n;
  return ((1n << BigInt(e - s + 1)) - 1n) << BigInt(s);
}

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

export function lo32(v: bigint): number {
  return Number(v & M32) >>> 0;
}

export function hi32(v: bigint): number {
  return Number((v >> 32n) & M32) >>> 0;
}

export function joinU64(lo: number, hi: number): bigint {
  // Each half is a 32-bit integer, signed or not (`>>> 0` reads either); a fraction or a wider number would be cut silently.
  if (typeof lo !== 'number' || (lo >>> 0 !== lo && (lo | 0) !== lo)) refuse('lo', 'u32-half', 'must be a 32-bit integer, in [-2^31, 2^32)', lo);
  if (typeof hi !== 'number' || (hi >>> 0 !== hi && (hi | 0) !== hi)) refuse('hi', 'u32-half', 'must be a 32-bit integer, in [-2^31, 2^32)', hi);
  const h = hi >>> 0;
  // Below 2^53 the value is exact as a double: one BigInt made instead of four (records build one
  // per entry read; most entries have bits 63:53 clear).
  if (h < 0x20_0000) return BigInt(h * 0x1_0000_0000 + (lo >>> 0));
  return (BigInt(h) << 32n) | BigInt(lo >>> 0);
}

/** Truncate to an unsigned 64-bit value (the API accepts negative numbers as two's complement). */
export function u64(v: bigint | number): bigint {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  return BigInt.asUintN(64, b);
}

export function isBitSet(v: bigint, n: number): boolean {
  return ((v >> BigInt(n)) & 1n) === 1n;
}
