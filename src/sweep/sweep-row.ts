/** One sweep job run to a flat row: keys, derived figures, then every counter as a column. */
import { createRun, type TraceRun } from '../workload/trace-run';
import { ConfigurationError } from '../workload/config-error';
import { FAULT_KINDS } from '../workload/trace-result';
import { VCPU_STAT_NAMES, VM_STAT_NAMES } from '../events/stats';
import { WORKLOADS } from './workload-registry';
import { checkJob, type Job } from './sweep-jobs';
import { traceRefusal } from './trace-refusal';

export type SweepRow = Record<string, string | number>;

export const SWEEP_KEY_COLUMNS = ['config', 'workload', 'params', 'seed'] as const;

/**
 * Runs one job: generates its trace and checks it (the generator's parameter checks, then
 * validateTrace in createRun) before anything runs; a bad one is the SweepError checkTraces gives.
 */
export function runJob(j: Job): SweepRow {
  checkJob('job', j);
  let run: TraceRun;
  try {
    run = createRun(j.config, WORKLOADS[j.generator]!.make(j.params, j.seed));
  } catch (err) {
    // A configuration a caller's job gets wrong (or a TD-only trace on a non-TD) keeps its own error.
    throw err instanceof ConfigurationError ? err : traceRefusal(j, err);
  }
  // The row holds counters, never events: with the log off (counters keep counting, event-log.ts)
  // a job does not keep a row object per event, up to a million, that no row shows.
  run.machine.vm.events.enabled = false;
  run.step();
  const r = run.result();
  const d = r.derived;
  const row: SweepRow = {
    config: j.label,
    workload: j.generator,
    params: JSON.stringify(j.params),
    seed: j.seed,
    accesses: d.accesses,
    exits_per_1000: d.exitsPer1000,
    // NaN, not null: Arrow keeps a plain float column and the round trip is exact.
    refs_per_access: d.refsPerAccess ?? NaN,
    refs_literature: d.refsLiterature,
    cycles: d.cycles,
    cycles_per_access: d.cyclesPerAccess,
    tlb_hit_rate: d.tlbHitRate ?? NaN,
  };
  for (const k of FAULT_KINDS) row[`faults_${k.replace(/-/g, '_')}`] = d.faultsByKind[k];
  for (const n of [...VM_STAT_NAMES, ...VCPU_STAT_NAMES]) row[n] = r.counters[n]!;
  return row;
}
