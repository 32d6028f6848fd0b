import { describe, expect, it } from 'vitest';
import { sequentialScan, uniformRandom, strided, hotCold, ptChurn, forkStorm, addressSpaces, invlpgPattern, tdMix, WORKLOAD_VA } from '../../src/workload/generators';
import { validateTrace, TraceError } from '../../src/workload/validate-trace';

const all = () => [
  sequentialScan({ pages: 64 }),
  uniformRandom({ pages: 64, accesses: 500, seed: 1 }),
  strided({ pages: 64, stride: 9, accesses: 200 }),
  hotCold({ pages: 128, accesses: 500, seed: 2 }),
  ptChurn({ windows: 4, pagesPerWindow: 8, rounds: 10, seed: 3 }),
  forkStorm({ pages: 32, forks: 3, writesPerFork: 8, seed: 4 }),
  addressSpaces({ spaces: 3, pagesPerSpace: 16, slices: 9, accessesPerSlice: 20, seed: 5 }),
  invlpgPattern({ pages: 32, rounds: 40, seed: 6 }),
  tdMix({ pages: 64, accesses: 300, sharedFraction: 0.25, conversions: 3, seed: 7 }),
];

describe('workload generators', () => {
  it('every generator produces a valid trace, and the same trace for the same seed', () => {
    const a = all();
    const b = all();
    for (let i = 0; i < a.length; i++) {
      expect(() => validateTrace(a[i])).not.toThrow();
      expect(JSON.stringify(a[i])).toBe(JSON.stringify(b[i]));
      // JSON round trip: traces are plain data.
      expect(validateTrace(JSON.parse(JSON.stringify(a[i])))).toEqual(a[i]);
    }
  });

  it('different seeds give different traces', () => {
    expect(JSON.stringify(uniformRandom({ pages: 64, accesses: 100, seed: 1 }).ops)).not.toBe(JSON.stringify(uniformRandom({ pages: 64, accesses: 100, seed: 2 }).ops));
  });

  it('hot/cold concentrates accesses on the hot set', () => {
    const t = hotCold({ pages: 1000, accesses: 20_000, hotFraction: 0.1, hotProbability: 0.9, seed: 9 });
    const accesses = t.ops.filter((o) => o.t === 'r' || o.t === 'w') as { va: number }[];
    const hot = accesses.filter((o) => (o.va - WORKLOAD_VA) / 4096 < 100).length / accesses.length;
    expect(hot).toBeGreaterThan(0.88);
    expect(hot).toBeLessThan(0.93);
  });

  it('address spaces switch round-robin', () => {
    const t = addressSpaces({ spaces: 3, pagesPerSpace: 4, slices: 6, accessesPerSlice: 1, seed: 1 });
    const switches = t.ops.filter((o) => o.t === 'cr3').map((o) => (o as { as: number }).as);
    expect(switches).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });
});

describe('validateTrace', () => {
  const ok = sequentialScan({ pages: 4 });
  const bad: [string, unknown, RegExp][] = [
    ['not an object', 42, /trace-object/],
    ['no name', { ...ok, name: undefined }, /trace-name/],
    ['memory not 2M-aligned', { ...ok, memory: 4096 }, /trace-memory/],
    ['unknown op', { ...ok, ops: [{ t: 'jump', va: 0 }] }, /op 0: unknown op kind.*trace-op-kind/],
    ['non-integer VA', { ...ok, ops: [{ t: 'r', va: 1.5 }] }, /trace-va/],
    ['VA beyond 2^47', { ...ok, ops: [{ t: 'r', va: 2 ** 47 }] }, /trace-va/],
    ['misaligned map', { ...ok, ops: [{ t: 'map', va: 4097, pa: 0 }] }, /trace-alignment/],
    ['map beyond memory', { ...ok, ops: [{ t: 'map', va: 0, pa: ok.memory - 4096, n: 2 }] }, /trace-pa-range/],
    ['unknown address space', { ...ok, ops: [{ t: 'cr3', as: 1 }] }, /trace-space/],
    ['bad conversion', { ...ok, ops: [{ t: 'convert', gpa: 0, to: 'both' }] }, /trace-convert/],
    ['bad count', { ...ok, ops: [{ t: 'unmap', va: 0, n: 0 }] }, /trace-count/],
  ];
  for (const [what, t, re] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => validateTrace(t)).toThrow(TraceError);
      expect(() => validateTrace(t)).toThrow(re);
    });
  }
});
