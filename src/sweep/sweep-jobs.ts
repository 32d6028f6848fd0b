/** A sweep's job list: configurations × workloads × parameter grid × seeds, in a fixed order. */
import type { ConfigName, ConfigSpec } from '../workload/run-config';
import { configLabel, resolveConfig } from '../workload/run-config';
import { validateTrace } from '../workload/validate-trace';
import { SweepError } from './sweep-error';
import { show, traceRefusal } from './trace-refusal';
import { WORKLOADS } from './workload-registry';
import { LimitExceededError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { checkArray, checkInt, checkLimit, checkObject, ownEntry } from '../validate/checks';

/** Most jobs one sweep expands (configurations × grid points × seeds); the list is built eagerly. */
export const MAX_SWEEP_JOBS = 100_000;
// MAX_TRACE_OPS (most ops one generated trace may have) lives with the generators that enforce it.
export { MAX_TRACE_OPS } from '../workload/trace';
import { MAX_TRACE_OPS } from '../workload/trace';


export interface WorkloadGrid {
  generator: string;
  /** Each parameter's values; the grid is their cartesian product. */
  params: Record<string, (number | boolean)[]>;
}

export interface SweepSpec {
  configs: (ConfigName | ConfigSpec)[];
  workloads: WorkloadGrid[];
  seeds: number[];
}

export interface Job {
  index: number;
  config: ConfigName | ConfigSpec;
  label: string;
  generator: string;
  params: Record<string, number | boolean>;
  seed: number;
}

function grid(w: WorkloadGrid): Record<string, number | boolean>[] {
  let out: Record<string, number | boolean>[] = [{}];
  for (const k of Object.keys(w.params).sort()) out = out.flatMap((p) => w.params[k]!.map((v) => ({ ...p, [k]: v })));
  return out;
}

/** Validate everything and expand the grid; also generates each trace once so a bad one fails here. */
export function sweepJobs(s: SweepSpec): Job[] {
  const jobs = expandJobs(s);
  checkTraces(jobs);
  return jobs;
}

/**
 * Validate the spec's shape and limits and expand the grid, without generating any trace: what a
 * merge of finished shards needs to know the job order.
 */
export function expandJobs(s: SweepSpec): Job[] {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new SweepError('sweep-spec', 'spec must be an object { configs, workloads, seeds }', describeValue(s));
  if (!Array.isArray(s.configs) || s.configs.length === 0) throw new SweepError('sweep-no-configs', 'spec.configs: a sweep needs at least one configuration', show(s.configs));
  if (!Array.isArray(s.workloads) || s.workloads.length === 0) throw new SweepError('sweep-no-workloads', 'spec.workloads: a sweep needs at least one workload', show(s.workloads));
  if (!Array.isArray(s.seeds) || s.seeds.length === 0 || !s.seeds.every((x) => Number.isSafeInteger(x))) throw new SweepError('sweep-seeds', 'spec.seeds are a non-empty list of integers', show(s.seeds));
  const resolved = s.configs.map((c) => resolveConfig(c)); // ConfigurationError for an impossible one
  let total = 0;
  for (const w of s.workloads) {
    if (typeof w !== 'object' || w === null) throw new SweepError('sweep-workload', 'spec.workloads[i] must be an object { generator, params }', describeValue(w));
    if (typeof w.generator !== 'string' || !Object.prototype.hasOwnProperty.call(WORKLOADS, w.generator)) {
      throw new SweepError('sweep-unknown-workload', `workload.generator is unknown; known: ${Object.keys(WORKLOADS).join(', ')}`, describeValue(w.generator));
    }
    const entry = WORKLOADS[w.generator]!;
    if (w.params !== undefined && (typeof w.params !== 'object' || w.params === null || Array.isArray(w.params))) {
      throw new SweepError('sweep-params', `workload ${w.generator}: params must be an object of value lists`, describeValue(w.params));
    }
    // A TD-only workload (it converts memory) paired with a configuration that is not a TD would
    // fail only when its job runs: refuse the sweep before any job starts.
    const nonTd = resolved.findIndex((c) => !c.td);
    if (entry.tdOnly === true && nonTd >= 0) {
      throw new SweepError('sweep-td-only-workload', `workload ${w.generator} converts memory between private and shared: only TD configurations can run it, not ${configLabel(s.configs[nonTd]!)}`, configLabel(s.configs[nonTd]!));
    }
    for (const [k, vs] of Object.entries(w.params ?? {})) {
      if (!entry.params.includes(k)) throw new SweepError('sweep-unknown-param', `workload ${w.generator} has no parameter ${k} (it has ${entry.params.join(', ')})`, k);
      if (!Array.isArray(vs) || vs.length === 0 || !vs.every((v) => typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) {
        throw new SweepError('sweep-param-values', `parameter ${w.generator}.${k} needs a non-empty list of finite numbers or booleans`, show(vs));
      }
    }
    let points = 1;
    for (const vs of Object.values(w.params ?? {})) points *= vs.length;
    total += points;
    const jobs = total * s.configs.length * s.seeds.length;
    if (jobs > MAX_SWEEP_JOBS) throw new LimitExceededError('sweep-jobs-limit', `spec expands to ${jobs}+ jobs, above the limit of ${MAX_SWEEP_JOBS} per sweep`, String(jobs));
    for (const p of grid(w)) {
      const ops = entry.ops(p);
      if (ops > MAX_TRACE_OPS) throw new LimitExceededError('sweep-trace-ops-limit', `workload ${w.generator} with ${show(p)} would generate about ${ops} ops, above the limit of ${MAX_TRACE_OPS} per trace`, show(p));
    }
  }
  const jobs: Job[] = [];
  for (const config of s.configs) {
    for (const w of s.workloads) {
      for (const params of grid(w)) {
        for (const seed of s.seeds) {
          jobs.push({ index: jobs.length, config, label: configLabel(config), generator: w.generator, params, seed });
        }
      }
    }
  }
  return jobs;
}

/** The jobs argument checked, and each distinct trace's first job (jobs differing only in configuration share one trace). */
function distinctTraces(jobs: readonly Job[]): Job[] {
  checkArray('jobs', jobs);
  checkLimit('jobs.length', jobs.length, MAX_SWEEP_JOBS, 'jobs');
  jobs.forEach((j, i) => checkJob(`jobs[${i}]`, j));
  const seen = new Set<string>();
  return jobs.filter((j) => {
    const key = `${j.generator}|${JSON.stringify(j.params)}|${j.seed}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Generate each distinct trace once up front: a malformed parameter (pages: 0, …) fails here. */
export function checkTraces(jobs: readonly Job[]): void {
  for (const j of distinctTraces(jobs)) {
    try {
      validateTrace(WORKLOADS[j.generator]!.make(j.params, j.seed));
    } catch (err) {
      throw traceRefusal(j, err);
    }
  }
}

/**
 * What a sweep checks before any job starts: each distinct trace's parameters through its
 * generator's own checks (generator-params.ts), which refuse what `checkTraces` refuses (the same
 * SweepError) without generating the trace. Generating is the expensive part (0.1 s per 10^5 ops,
 * on the coordinator, before any worker could start), and each job generates its trace anyway:
 * runJob validates it there, in parallel, with the same error.
 */
export function checkJobParams(jobs: readonly Job[]): void {
  for (const j of distinctTraces(jobs)) {
    try {
      WORKLOADS[j.generator]!.check(j.params, j.seed);
    } catch (err) {
      throw traceRefusal(j, err);
    }
  }
}

/** A job as expandJobs makes it: a known generator, a params object, an integer seed (runJob and checkTraces take jobs from callers too). */
export function checkJob(name: string, j: unknown): Job {
  const o = checkObject<Job>(name, j);
  ownEntry(`${name}.generator`, o.generator, WORKLOADS);
  checkObject(`${name}.params`, o.params);
  checkInt(`${name}.seed`, o.seed, { min: Number.MIN_SAFE_INTEGER });
  return o;
}
