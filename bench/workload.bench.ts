/**
 * Workload benchmarks: trace accesses per second for each configuration on a mixed trace, and
 * sweep throughput (jobs per second) at 1 and 2 workers, with the scaling between them and where
 * the 2-worker run spends its time.
 */
import type { BenchResult } from './harness';
import { median } from './harness';
import { runTrace, type ConfigName, type Trace, uniformRandom, forkStorm, addressSpaces } from '../src';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import type { SweepProfile } from '../src/sweep/sweep-profile';

const CONFIGS: ConfigName[] = ['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow', 'td'];

/** A mixed trace: random accesses, then a fork storm, then address-space switches, concatenated per phase. */
function mixed(): Trace[] {
  return [uniformRandom({ pages: 512, accesses: 20_000, seed: 1 }), forkStorm({ pages: 128, forks: 4, writesPerFork: 64, seed: 2 }), addressSpaces({ spaces: 4, pagesPerSpace: 128, slices: 40, accessesPerSlice: 200, seed: 3 })];
}

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function workloadBench(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const traces = mixed();
  for (const c of CONFIGS) {
    const secs: number[] = [];
    let accesses = 0;
    for (let round = 0; round < 3; round++) {
      accesses = 0;
      secs.push(time(() => { for (const t of traces) accesses += runTrace(c, t).derived.accesses; }));
    }
    out.push({ name: `workload mixed ${c}`, value: accesses / median(secs), unit: 'accesses/s', note: 'set-up and page-table stores included' });
  }
  out.push(...(await sweepBench()));
  return out;
}

/** One sweep in a fresh process (sweep-child.ts); its profile. */
function sweepInChild(workers: number): Promise<SweepProfile> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'sweep-child.js'), String(workers)], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`sweep child (${workers} workers) failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as SweepProfile);
    });
  });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const ms = (x: number) => `${x.toFixed(0)} ms`;

/**
 * Sweep scaling, 1 worker against 2, each run in a fresh process and interleaved (1, 2, 1, 2, …;
 * `BENCH_SWEEP_ROUNDS`, default 3), the ratio the median of each round's own ratio. Wall-time
 * scaling also counts whatever else the machine runs, so the profile of the median round is
 * printed beside it: each worker's start-up (loading the engine), its jobs' CPU and run-queue wait
 * (runnable, no free core), its idle time, and the CPU of V8's compiler and GC helper threads.
 */
async function sweepBench(): Promise<BenchResult[]> {
  const rounds = Number(process.env.BENCH_SWEEP_ROUNDS ?? 3);
  const runs: [SweepProfile, SweepProfile][] = [];
  for (let r = 0; r < rounds; r++) runs.push([await sweepInChild(1), await sweepInChild(2)]);
  const ratio = (x: [SweepProfile, SweepProfile]) => x[0].wallMs / x[1].wallMs;
  const [one, two] = [...runs].sort((a, b) => ratio(a) - ratio(b))[runs.length >> 1]!;
  const jobs = one.jobs;
  const out: BenchResult[] = [];
  for (const p of [one, two]) out.push({ name: `sweep ${jobs} jobs, ${p.workers} worker${p.workers > 1 ? 's' : ''}`, value: jobs / (p.wallMs / 1000), unit: 'jobs/s', note: `fresh process; ${ms(p.wallMs)} wall, ${ms(p.processCpuMs)} CPU of all threads` });
  out.push({ name: 'sweep scaling 2 workers / 1', value: median(runs.map(ratio)), unit: 'x', note: `target ≥ 1.8 (issue 13); median of ${rounds} interleaved rounds; worker start-up included` });
  // The mechanism, from the thread clocks of the median round.
  const jobCpu = (p: SweepProfile) => sum(p.threads.map((t) => t.jobCpuMs)) / p.jobs;
  out.push({ name: 'sweep job CPU, 1 worker', value: jobCpu(one), unit: 'ms/job', note: 'the thread CPU of one job: jobs of a second or more' });
  out.push({ name: 'sweep job CPU, 2 workers / 1', value: jobCpu(two) / jobCpu(one), unit: 'x', note: 'above 1: the same job costs more CPU when two run at once (caches, memory, cold JIT)' });
  const wait = sum(two.threads.map((t) => t.jobWaitMs)) / sum(two.threads.map((t) => t.busyMs));
  out.push({ name: 'sweep run-queue wait share, 2 workers', value: wait, unit: 'x', note: 'of job wall time, runnable with no free core (other processes, helper threads)' });
  const startup = two.threads.map((t) => t.startupMs);
  out.push({ name: 'sweep worker start-up, 2 workers', value: Math.max(...startup), unit: 'ms', note: `wall to load the engine (${ms(Math.max(...two.threads.map((t) => t.startupCpuMs)))} CPU); ${((100 * Math.max(...startup)) / two.wallMs).toFixed(1)} % of the sweep` });
  const idle = two.threads.map((t) => t.idleMs);
  out.push({ name: 'sweep worker idle, 2 workers', value: Math.max(...idle), unit: 'ms', note: `loaded, no job: ${idle.map(ms).join(', ')} (last job, dispatch)` });
  // Serial: the coordinator checks every job's parameters (no trace generated) before any worker
  // starts; each job generates and validates its own trace where it runs.
  out.push({ name: 'sweep serial share (parameter check / 1-worker sweep)', value: one.checkMs / one.wallMs, unit: 'x', note: `${ms(one.checkMs)} (${ms(one.checkCpuMs)} CPU); on 2 workers ${ms(two.checkMs)}, then start-up` });
  out.push({ name: 'sweep serial time before the first job, 2 workers', value: two.checkMs + Math.min(...startup), unit: 'ms', note: 'parameter check, then the first worker\'s start-up' });
  for (const p of [one, two]) {
    const helpers = p.processCpuMs - p.mainCpuMs - (p.workers > 1 ? sum(p.threads.map((t) => t.totalCpuMs)) : 0);
    out.push({ name: `sweep helper-thread CPU, ${p.workers} worker${p.workers > 1 ? 's' : ''}`, value: helpers / p.processCpuMs, unit: 'x', note: `${ms(helpers)} of all threads' CPU: V8 compiler and GC helpers, which one worker leaves to the idle core` });
  }
  // What the clocks predict on a quiet machine with 2 cores: a run takes at least its slowest
  // thread's path (check, start-up, then its jobs) and at least all threads' CPU (V8's helpers
  // included) spread over the 2 cores. The integrator compares this with a quiet wall-time run.
  const path1 = one.checkCpuMs + sum(one.threads.map((t) => t.jobCpuMs));
  const path2 = two.checkCpuMs + Math.max(...two.threads.map((t) => t.startupCpuMs + t.jobCpuMs));
  out.push({ name: 'sweep scaling on thread CPU time', value: path1 / path2, unit: 'x', note: 'check + job CPU on 1 / check + the slowest worker\'s start-up + job CPU on 2: a core per thread, no helpers' });
  const cores = 2;
  const model = Math.max(path1, one.processCpuMs / cores) / Math.max(path2, two.processCpuMs / cores);
  out.push({ name: 'sweep scaling, 2-core model from CPU times', value: model, unit: 'x', note: 'as above, each run also at least all threads\' CPU / 2 cores (helpers compete on 2 workers)' });
  return out;
}
