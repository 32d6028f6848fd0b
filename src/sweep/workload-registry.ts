/**
 * The generators a sweep can name, with the parameters each accepts, so a sweep's grid is
 * checked (unknown workload, unknown or malformed parameter) before any job starts.
 */
import { sequentialScan, uniformRandom, strided, hotCold, ptChurn, forkStorm, addressSpaces, invlpgPattern, tdMix } from '../workload/generators';
import type { Trace } from '../workload/trace';

type Param = number | boolean;
interface Entry {
  params: readonly string[];
  make: (p: Record<string, Param>, seed: number) => Trace;
}

// The generators' own parameter types are stricter than Record<string, Param>; the sweep checks
// names and value types against `params`, and the trace validator checks the result.
/* eslint-disable @typescript-eslint/no-explicit-any */
const e = (params: readonly string[], f: (p: any) => Trace): Entry => ({ params, make: (p, seed) => f({ ...p, seed }) });

export const WORKLOADS: Record<string, Entry> = {
  sequential: e(['pages', 'passes', 'write'], sequentialScan),
  uniform: e(['pages', 'accesses', 'writeFraction'], uniformRandom),
  strided: e(['pages', 'stride', 'accesses'], strided),
  'hot-cold': e(['pages', 'accesses', 'hotFraction', 'hotProbability'], hotCold),
  'pt-churn': e(['windows', 'pagesPerWindow', 'rounds'], ptChurn),
  'fork-storm': e(['pages', 'forks', 'writesPerFork'], forkStorm),
  'address-spaces': e(['spaces', 'pagesPerSpace', 'slices', 'accessesPerSlice'], addressSpaces),
  invlpg: e(['pages', 'rounds'], invlpgPattern),
  'td-mix': e(['pages', 'accesses', 'sharedFraction', 'conversions'], tdMix),
};
