/**
 * U64View (src/u64-view.ts) converts between a u64 bigint and its 32-bit halves (or a whole
 * number below 2^53) exactly, and
 * refuses to split a bigint outside [0, 2^64) (which its buffer would wrap).
 */
import { describe, expect, it } from 'vitest';
import { U64View } from '../src/u64-view';
import { joinU64 } from '../src/bits';
import { xorshift } from '../src/workload/generators';

describe('U64View', () => {
  it('make(lo, hi) = joinU64(lo, hi), and split gives the halves back', () => {
    const v = new U64View();
    const r = xorshift(0x65);
    const edges = [[0, 0], [0xffff_ffff, 0xffff_ffff], [0, 0x1f_ffff], [0xffff_ffff, 0x1f_ffff], [0, 0x20_0000], [1, 0x8000_0000], [0x8000_0000, 1]] as const;
    for (let i = 0; i < 20_000; i++) {
      const [lo, hi] = i < edges.length ? edges[i]! : [r(), i % 2 ? r() : r() & 0xfffff];
      const b = v.make(lo, hi);
      expect(b).toBe(joinU64(lo, hi));
      expect(v.split(b)).toBe(true);
      expect([v.lo, v.hi]).toEqual([lo, hi]);
    }
  });

  it('makeNum(n) = BigInt(n) for whole numbers in [0, 2^53), bit 31 and bit 52 included', () => {
    const v = new U64View();
    const r = xorshift(0x53);
    const edges = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000, 0x1_8000_0000, 2 ** 52, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 20_000; i++) {
      const n = i < edges.length ? edges[i]! : (r() & 0x1f_ffff) * 0x1_0000_0000 + r();
      expect(v.makeNum(n)).toBe(BigInt(n));
    }
  });

  it('split refuses a bigint below 0 or at/above 2^64', () => {
    const v = new U64View();
    for (const b of [-1n, -(1n << 63n), 1n << 64n, (1n << 64n) + 5n, -(1n << 64n)]) expect(v.split(b)).toBe(false);
    expect(v.split((1n << 64n) - 1n)).toBe(true);
    expect([v.lo, v.hi]).toEqual([0xffff_ffff, 0xffff_ffff]);
  });
});
