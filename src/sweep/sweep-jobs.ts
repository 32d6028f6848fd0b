/** A sweep's job list: configurations × workloads × parameter grid × seeds, in a fixed order. */
import type { ConfigName, ConfigSpec } from '../workload/run-config';
import { configLabel, resolveConfig } from '../workload/run-config';
import { validateTrace } from '../workload/validate-trace';
import { SweepError } from './sweep-error';
import { WORKLOADS } from './workload-registry';

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
  if (!Array.isArray(s.configs) || s.configs.length === 0) throw new SweepError('sweep-no-configs', 'a sweep needs at least one configuration', JSON.stringify(s.configs));
  if (!Array.isArray(s.workloads) || s.workloads.length === 0) throw new SweepError('sweep-no-workloads', 'a sweep needs at least one workload', JSON.stringify(s.workloads));
  if (!Array.isArray(s.seeds) || s.seeds.length === 0 || !s.seeds.every((x) => Number.isSafeInteger(x))) throw new SweepError('sweep-seeds', 'seeds are a non-empty list of integers', JSON.stringify(s.seeds));
  for (const c of s.configs) resolveConfig(c); // ConfigurationError for an impossible one
  for (const w of s.workloads) {
    const entry = WORKLOADS[w.generator];
    if (entry === undefined) throw new SweepError('sweep-unknown-workload', `unknown workload; known: ${Object.keys(WORKLOADS).join(', ')}`, String(w.generator));
    for (const [k, vs] of Object.entries(w.params ?? {})) {
      if (!entry.params.includes(k)) throw new SweepError('sweep-unknown-param', `workload ${w.generator} has no parameter ${k} (it has ${entry.params.join(', ')})`, k);
      if (!Array.isArray(vs) || vs.length === 0 || !vs.every((v) => typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) {
        throw new SweepError('sweep-param-values', `parameter ${w.generator}.${k} needs a non-empty list of finite numbers or booleans`, JSON.stringify(vs));
      }
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
  // Generate each distinct trace once up front: a malformed parameter (pages: 0, …) fails here.
  const seen = new Set<string>();
  for (const j of jobs) {
    const key = `${j.generator}|${JSON.stringify(j.params)}|${j.seed}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      validateTrace(WORKLOADS[j.generator]!.make(j.params, j.seed));
    } catch (err) {
      throw new SweepError('sweep-param-invalid', `workload ${j.generator} with ${JSON.stringify(j.params)} does not give a valid trace: ${(err as Error).message}`, JSON.stringify(j.params));
    }
  }
  return jobs;
}
