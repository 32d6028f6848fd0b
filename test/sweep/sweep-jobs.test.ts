/**
 * A sweep's up-front check (checkJobParams: the generators' parameter checks, no trace generated)
 * against the full one (checkTraces: every trace generated and validated): the same refusals,
 * error for error, and a job that runs its own check (runJob) refuses with that error too.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkJobParams, checkTraces, expandJobs, type Job } from '../../src/sweep/sweep-jobs';
import { runJob } from '../../src/sweep/sweep-row';
import { WORKLOADS } from '../../src/sweep/workload-registry';
import { SweepError } from '../../src/sweep/sweep-error';
import { MAX_PAGES_PER_TRACE_OP } from '../../src/workload/trace';

/** What a call threw (or undefined): class, rule and message, to compare two calls' refusals. */
function thrown(f: () => unknown): { cls: string; rule: unknown; message: string } | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return { cls: (e as Error).constructor.name, rule: (e as { rule?: unknown }).rule, message: (e as Error).message };
  }
}

const job = (generator: string, params: Job['params'], seed = 1): Job => ({ index: 0, config: 'tdp-ept', label: 'tdp-ept', generator, params, seed });

// Small values around each parameter's edges (0, 1, fractions, negatives, non-integers), so every
// generated trace is small; the limits (pages above 2^24, …) are the cases below.
const count = fc.oneof(fc.integer({ min: -2, max: 40 }), fc.constant(1.5), fc.constant(NaN));
const frac = fc.oneof(fc.constant(0), fc.constant(1), fc.constant(0.5), fc.constant(-0.1), fc.constant(1.1), fc.double({ min: 0, max: 1, noNaN: true }));
const flag = fc.oneof(fc.boolean(), fc.constant(2));
const PARAM: Record<string, fc.Arbitrary<number | boolean>> = { writeFraction: frac, hotFraction: frac, hotProbability: frac, sharedFraction: frac, write: flag };

describe('checkJobParams', () => {
  it('refuses exactly what checkTraces refuses, with the same SweepError, for every generator (property)', () => {
    for (const [generator, entry] of Object.entries(WORKLOADS)) {
      const params = fc.record(Object.fromEntries(entry.params.map((k) => [k, PARAM[k] ?? count])), { requiredKeys: [] });
      fc.assert(
        fc.property(params, fc.integer({ min: -3, max: 3 }), (p, seed) => {
          const jobs = [job(generator, p as Job['params'], seed)];
          const full = thrown(() => checkTraces(jobs));
          expect(thrown(() => checkJobParams(jobs)), `${generator} ${JSON.stringify(p)}`).toEqual(full);
          if (full !== undefined) expect(full.cls).toBe('SweepError');
        }),
        { seed: 0x13, numRuns: 150 },
      );
    }
  });

  it('the limits: pages per op, pages times windows or spaces, address spaces, ops per trace', () => {
    const cases: Job[] = [
      job('uniform', { pages: MAX_PAGES_PER_TRACE_OP + 1, accesses: 1 }),
      job('fork-storm', { pages: MAX_PAGES_PER_TRACE_OP / 2 + 1, forks: 1, writesPerFork: 1 }),
      job('pt-churn', { windows: 2 ** 12, pagesPerWindow: 2 ** 12 + 1, rounds: 1 }),
      job('address-spaces', { spaces: 4097, pagesPerSpace: 1, slices: 1, accessesPerSlice: 1 }),
      job('td-mix', { pages: 4, accesses: 1, sharedFraction: 1 }),
      job('sequential', { pages: 2 ** 20, passes: 17 }),
    ];
    for (const j of cases) {
      const full = thrown(() => checkTraces([j]));
      expect(full, j.generator).toMatchObject({ cls: 'SweepError', rule: 'sweep-param-invalid' });
      expect(thrown(() => checkJobParams([j])), j.generator).toEqual(full);
    }
  });

  it('checks the jobs argument as checkTraces does, and passes a good sweep', () => {
    const good = expandJobs({ configs: ['tdp-ept', 'shadow'], workloads: [{ generator: 'uniform', params: { pages: [8, 16], accesses: [10] } }], seeds: [1, 2] });
    expect(() => checkJobParams(good)).not.toThrow();
    expect(thrown(() => checkJobParams([good[0]!, null as unknown as Job]))).toEqual(thrown(() => checkTraces([good[0]!, null as unknown as Job])));
    expect(thrown(() => checkJobParams('jobs' as unknown as Job[]))).toEqual(thrown(() => checkTraces('jobs' as unknown as Job[])));
  });
});

describe('runJob checks its own trace', () => {
  it('a job whose parameters give no trace is the SweepError of the up-front check (was: the generator\'s own error class)', () => {
    const bad = job('uniform', { pages: 0, accesses: 5 });
    const e = thrown(() => runJob(bad));
    expect(e).toEqual(thrown(() => checkTraces([bad])));
    expect(e).toMatchObject({ cls: 'SweepError', rule: 'sweep-param-invalid' });
    expect(() => runJob(bad)).toThrow(SweepError);
  });
});
