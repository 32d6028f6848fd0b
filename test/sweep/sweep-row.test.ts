/**
 * A sweep row is the trace run's counters and derived figures. runJob runs with the event log
 * off (a row shows no events): the row must be what a run with the log on gives, in every
 * configuration, since the log is only a record ("counters keep counting", event-log.ts).
 */
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/sweep/sweep-row';
import { WORKLOADS } from '../../src/sweep/workload-registry';
import { runTrace } from '../../src/workload/trace-run';
import { VCPU_STAT_NAMES, VM_STAT_NAMES } from '../../src/events/stats';
import type { ConfigName } from '../../src/workload/run-config';
import type { Job } from '../../src/sweep/sweep-jobs';

const CASES: [ConfigName, string, Job['params']][] = [
  ['tdp-ept', 'fork-storm', { pages: 16, forks: 2, writesPerFork: 5 }],
  ['tdp-npt', 'pt-churn', { windows: 3, pagesPerWindow: 4, rounds: 6 }],
  ['shadow', 'fork-storm', { pages: 16, forks: 2, writesPerFork: 5 }],
  ['shadow', 'address-spaces', { spaces: 3, pagesPerSpace: 8, slices: 6, accessesPerSlice: 10 }],
  ['nested-ept', 'invlpg', { pages: 8, rounds: 12 }],
  ['nested-shadow', 'uniform', { pages: 16, accesses: 60 }],
  ['td', 'td-mix', { pages: 16, accesses: 60, conversions: 2 }],
];

describe('runJob', () => {
  it('its row (event log off) equals the counters and figures of the same run with the log on, in every configuration', () => {
    for (const [config, generator, params] of CASES) {
      const row = runJob({ index: 0, config, label: config, generator, params, seed: 3 });
      const r = runTrace(config, WORKLOADS[generator]!.make(params, 3));
      // The run with the log on recorded events: the comparison is between a log and none.
      expect(r.events.numRows(), config).toBeGreaterThan(0);
      for (const n of [...VM_STAT_NAMES, ...VCPU_STAT_NAMES]) expect(row[n], `${config} ${n}`).toBe(r.counters[n]);
      expect(row.exits, config).toBeGreaterThan(0);
      expect([row.accesses, row.cycles, row.exits_per_1000], config).toEqual([r.derived.accesses, r.derived.cycles, r.derived.exitsPer1000]);
    }
  });
});
