/**
 * U64Memo (src/u64-memo.ts) gives the bigint a fresh conversion gives, whatever it remembered:
 * seeded keys drawn from a small pool (repeats hit) and a wide one (slots are overwritten), with the
 * zero keys every slot starts with, halves at the 2^53 boundary and all-ones.
 */
import { describe, expect, it } from 'vitest';
import { U64Memo } from '../src/u64-memo';
import { joinU64 } from '../src/bits';
import { xorshift } from '../src/workload/generators';

describe('U64Memo', () => {
  it('pair(lo, hi) = joinU64(lo, hi) and num(n) = BigInt(n), on hits, misses and overwritten slots', () => {
    const m = new U64Memo();
    const r = xorshift(0x64);
    const pool = Array.from({ length: 64 }, () => [r(), r() % 4 === 0 ? r() : r() & 0xfffff] as const);
    const edges = [[0, 0], [0xffff_ffff, 0xffff_ffff], [0, 0x1f_ffff], [0xffff_ffff, 0x1f_ffff], [0, 0x20_0000], [1, 0x8000_0000]] as const;
    for (let i = 0; i < 200_000; i++) {
      const [lo, hi] = i % 3 === 0 ? pool[r() % pool.length]! : i % 101 === 0 ? edges[r() % edges.length]! : [r(), r()];
      expect(m.pair(lo, hi)).toBe(joinU64(lo, hi));
      const n = (r() % 0x20_0000) * 0x1_0000_0000 + r(); // [0, 2^53)
      const k = i % 3 === 0 ? (r() % 64) * 4096 : i % 97 === 0 ? 0 : n;
      expect(m.num(k)).toBe(BigInt(k));
    }
  });
});
