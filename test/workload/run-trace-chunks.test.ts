/** Property tests: chunking and repetition do not change a trace's counters. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createRun, runTrace } from '../../src/workload/trace-run';
import { uniformRandom, ptChurn, forkStorm, addressSpaces, invlpgPattern } from '../../src/workload/generators';
import type { ConfigName } from '../../src/workload/run-config';
import type { Trace } from '../../src/workload/trace';

const CONFIGS: ConfigName[] = ['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow'];
const traces = (seed: number): Trace[] => [
  uniformRandom({ pages: 32, accesses: 60, seed }),
  ptChurn({ windows: 3, pagesPerWindow: 4, rounds: 4, seed }),
  forkStorm({ pages: 8, forks: 2, writesPerFork: 4, seed }),
  addressSpaces({ spaces: 2, pagesPerSpace: 8, slices: 4, accessesPerSlice: 6, seed }),
  invlpgPattern({ pages: 8, rounds: 10, seed }),
];

describe('trace runs are resumable and deterministic', () => {
  it('counters, outcomes and series are the same in one piece or in chunks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CONFIGS),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
        (config, which, seed, chunks) => {
          const t = traces(seed)[which]!;
          const whole = runTrace(config, t, { sampleEvery: 7 });
          const run = createRun(config, t, { sampleEvery: 7 });
          let k = 0;
          while (!run.step(chunks[k++ % chunks.length]!));
          const parts = run.result();
          expect(parts.counters).toEqual(whole.counters);
          expect(parts.derived).toEqual(whole.derived);
          expect(parts.series).toEqual(whole.series);
          expect(parts.events.numRows()).toBe(whole.events.numRows());
        },
      ),
      { seed: 0x5eed, numRuns: 40 },
    );
  });

  it('repeated runs give identical results', () => {
    for (const c of CONFIGS) {
      for (const t of traces(11)) {
        const a = runTrace(c, t);
        const b = runTrace(c, t);
        expect(b.counters).toEqual(a.counters);
        expect(b.series).toEqual(a.series);
        expect(b.events.objects()).toEqual(a.events.objects());
      }
    }
  });

  it('a result taken mid-run keeps the events so far: its table (built on first read) has none recorded after it', () => {
    const run = createRun('shadow', uniformRandom({ pages: 32, accesses: 200, seed: 2 }));
    run.step(3);
    const mid = run.result();
    const logged = run.machine.vm.events.all.slice();
    run.step();
    expect(run.machine.vm.events.length).toBeGreaterThan(logged.length);
    expect(mid.events.numRows()).toBe(logged.length);
    expect(mid.events.array('seq')).toEqual(logged.map((e) => e.seq));
    // Read twice, the same table.
    expect(mid.events).toBe(mid.events);
  });

  it('step(0) runs nothing and a finished run stays finished', () => {
    const run = createRun('shadow', uniformRandom({ pages: 8, accesses: 5, seed: 1 }));
    expect(run.step(0)).toBe(false);
    expect(run.position).toBe(0);
    expect(run.step()).toBe(true);
    const before = run.result().counters;
    expect(run.step(10)).toBe(true);
    expect(run.result().counters).toEqual(before);
  });
});
