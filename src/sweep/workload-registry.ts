/**
 * The generators a sweep can name, with the parameters each accepts, so a sweep's grid is
 * checked (unknown workload, unknown or malformed parameter) before any job starts.
 */
import { sequentialScan, uniformRandom, strided, hotCold, ptChurn, forkStorm, addressSpaces, invlpgPattern, tdMix } from '../workload/generators';
import { addressSpacesParams, forkStormParams, hotColdParams, invlpgParams, ptChurnParams, sequentialParams, stridedParams, tdMixParams, uniformParams } from '../workload/generator-params';
import type { Trace } from '../workload/trace';

type Param = number | boolean;
interface Entry {
  params: readonly string[];
  make: (p: Record<string, Param>, seed: number) => Trace;
  /** The checks `make` runs before building anything (a typed error for bad parameters), without building the trace. */
  check: (p: Record<string, Param>, seed: number) => void;
  /** An upper bound of the ops `make` generates, from the parameters alone (before generating). */
  ops: (p: Record<string, Param>) => number;
  /** The trace converts memory between private and shared: only a TD configuration can run it. */
  tdOnly?: boolean;
}

// The generators' own parameter types are stricter than Record<string, Param>; the sweep checks
// names and value types against `params`, and the trace validator checks the result.
/* eslint-disable @typescript-eslint/no-explicit-any */
const e = (params: readonly string[], f: (p: any) => Trace, check: (p: any) => unknown, ops: (n: (k: string, dflt?: number) => number) => number, tdOnly = false): Entry => ({
  params,
  make: (p, seed) => f({ ...p, seed }),
  check: (p, seed) => void check({ ...p, seed }),
  // A parameter as a count: missing → its default, non-numbers and negatives → 0 (the trace
  // validator refuses those traces), so the bound never overflows into NaN.
  ops: (p) => ops((k, dflt = 0) => {
    const v = Object.prototype.hasOwnProperty.call(p, k) ? p[k] : dflt;
    return typeof v === 'number' && v > 0 ? v : 0;
  }),
  tdOnly,
});

export const WORKLOADS: Readonly<Record<string, Entry>> = Object.freeze({
  sequential: e(['pages', 'passes', 'write'], sequentialScan, sequentialParams, (n) => 1 + n('pages') * n('passes', 2)),
  uniform: e(['pages', 'accesses', 'writeFraction'], uniformRandom, uniformParams, (n) => 1 + n('accesses')),
  strided: e(['pages', 'stride', 'accesses'], strided, stridedParams, (n) => 1 + n('accesses')),
  'hot-cold': e(['pages', 'accesses', 'hotFraction', 'hotProbability'], hotCold, hotColdParams, (n) => 1 + n('accesses')),
  'pt-churn': e(['windows', 'pagesPerWindow', 'rounds'], ptChurn, ptChurnParams, (n) => n('rounds') * (2 + 2 * n('pagesPerWindow'))),
  'fork-storm': e(['pages', 'forks', 'writesPerFork'], forkStorm, forkStormParams, (n) => 1 + n('pages') + n('forks') * (2 + 3 * n('writesPerFork'))),
  'address-spaces': e(['spaces', 'pagesPerSpace', 'slices', 'accessesPerSlice'], addressSpaces, addressSpacesParams, (n) => 2 * n('spaces') + n('slices') * (1 + n('accessesPerSlice'))),
  invlpg: e(['pages', 'rounds'], invlpgPattern, invlpgParams, (n) => 1 + 3 * n('rounds')),
  'td-mix': e(['pages', 'accesses', 'sharedFraction', 'conversions'], tdMix, tdMixParams, (n) => 2 + 4 * n('accesses'), true),
});
