/** `npm run bench`: every benchmark, a table, then one JSON line per figure. */
import { report, type BenchResult } from './harness';
import { kernelBench } from './kernel.bench';
import { walkBench } from './walk.bench';
import { mapBench } from './map.bench';
import { tdpBench, tlbHitBench } from './tdp.bench';
import { walk2dBench } from './walk2d.bench';
import { shadowBench } from './shadow.bench';
import { workloadBench } from './workload.bench';
import { tdxBench } from './tdx.bench';
import { buildNativeWalker, runNativeWalker, nativeComparison, nativePairing } from './native.bench';

const results: BenchResult[] = [];
// `npm run bench -- <group>` runs one group; `walks` runs the gva and 2D walks with the C walker
// (every item-3 walk ratio) without the TDP fault benchmarks; `tlb` only the warm TLB-hit access.
const only = process.argv[2];
const walks = only === 'walks';
// Memory first, on a clean heap.
if (!only || only === 'map') results.push(...mapBench());
// The walks, with the native C walker run before, between and after them (same machine state).
const native = !only || walks || only === 'walk' || only === 'walk2d' ? buildNativeWalker() : undefined;
const cRuns: Map<string, number>[] = [];
if (native) cRuns.push(runNativeWalker(native));
const pairNative = native ? nativePairing(native) : undefined;
if (!only || walks || only === 'walk') results.push(...walkBench(pairNative));
if (native) cRuns.push(runNativeWalker(native));
if (!only || only === 'tdp') results.push(...tdpBench());
if (only === 'tlb') results.push(...tlbHitBench());
if (!only || walks || only === 'walk2d') results.push(...walk2dBench(pairNative));
if (native) {
  cRuns.push(runNativeWalker(native));
  results.push(...nativeComparison(cRuns, results));
}
if (!only || only === 'shadow') results.push(...shadowBench());
if (!only || only === 'tdx') results.push(...tdxBench());
// Async groups: workloads (sweeps on worker threads), then the kernel last: it spawns kernel
// processes and re-executes the notebooks.
async function asyncGroups(): Promise<void> {
  if (!only || only === 'workload') results.push(...(await workloadBench()));
  if (!only || only === 'kernel') {
    try {
      results.push(...(await kernelBench()));
    } catch (e: unknown) {
      console.error('kernel benchmarks failed:', e);
      process.exitCode = 1;
    }
  }
}
asyncGroups().then(
  () => report(results),
  (e: unknown) => {
    if (results.length) report(results);
    console.error('benchmarks failed:', e);
    process.exitCode = 1;
  },
);
