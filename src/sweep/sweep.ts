/**
 * Sweeps: configurations × workloads × parameters × seeds on worker threads (all cores by
 * default). Jobs are handed out one at a time as workers free up, and each row is stored at its
 * job's index, so the table is the same at every worker count. Everything is validated before
 * the first job starts and before any worker exists: the spec, and each job's parameters through
 * its generator's checks (checkJobParams: microseconds, no trace generated). Each job generates
 * and validates its own trace where it runs, so the coordinator has no serial trace check (it had
 * one of ~0.9 s per 8 traces of 2*10^5 ops, every trace then generated a second time by its job).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as aq from 'arquero';
import { arquero } from '../events/arquero';
import { checkJobParams, expandJobs, type Job, type SweepSpec } from './sweep-jobs';
import { runJob, type SweepRow } from './sweep-row';
import { SweepError } from './sweep-error';
import { WORKLOADS } from './workload-registry';
import { checkObject, checkSignal, refuse, throwIfAborted } from '../validate/checks';
import { parseShard, shardJobs, type Shard } from './sweep-shard';
import { threadCpu } from './thread-cpu';
import { addJob, cpuMs, emptyThread, fromRefusal, type SweepProfile, type SweepThreadProfile, type WorkerReply } from './sweep-profile';

export interface SweepOptions extends SweepSpec {
  /** Worker threads; 1 runs in-process. Default: every core. */
  workers?: number;
  onProgress?: (done: number, total: number) => void;
  /** Stop the sweep: no further job starts; the promise rejects with OperationAbortedError. */
  signal?: AbortSignal;
  /** Run only shard K of N (`'2/3'` or `{ index: 2, count: 3 }`); merge the parts with `mergeSweeps(parts, { spec })`. */
  shard?: string | Shard;
}

// Under vitest the engine is TypeScript: the worker gets this shim, which compiles .ts files with
// the project's TypeScript on require. Compiled (dist/), the worker loads sweep-worker.js itself.
const TS_SHIM = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ts = require(workerData.typescript);
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), {
  fileName: file, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
}).outputText, file);
require(workerData.entry);
`;

function spawn(): Worker {
  if (__filename.endsWith('.js')) return new Worker(path.join(__dirname, 'sweep-worker.js'));
  const typescript = createRequire(__filename).resolve('typescript');
  return new Worker(TS_SHIM, { eval: true, workerData: { typescript, entry: path.join(__dirname, 'sweep-worker.ts') } });
}

function toTable(rows: SweepRow[]): aq.ColumnTable {
  const cols: Record<string, (string | number)[]> = {};
  for (const k of Object.keys(rows[0]!)) cols[k] = rows.map((r) => r[k]!);
  return arquero().table(cols);
}

interface PoolWorker {
  w: Worker;
  spawnedAt: number;
  profile: SweepThreadProfile;
  readyAt?: number;
}

async function runOnWorkers(jobs: Job[], pool: PoolWorker[], progress: (done: number) => void, signal: AbortSignal | undefined): Promise<SweepRow[]> {
  const rows: SweepRow[] = new Array(jobs.length);
  // A shard's jobs keep their global indices; a row goes to its job's place in this list.
  const slot = new Map(jobs.map((j, i) => [j.index, i]));
  // Longest first (by the workload's op estimate), so that no long job starts last and leaves the
  // other workers idle at the end; rows still go to their job's place.
  const order = jobs.map((j) => ({ j, ops: WORKLOADS[j.generator]!.ops(j.params) })).sort((a, b) => b.ops - a.ops || a.j.index - b.j.index).map((x) => x.j);
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      pool.map(
        (p) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              try {
                throwIfAborted(signal, 'the sweep', done);
              } catch (err) {
                return reject(err);
              }
              if (next >= jobs.length) return resolve();
              p.w.postMessage({ job: order[next++] });
            };
            p.w.on('message', (m: WorkerReply) => {
              if ('ready' in m) {
                // The worker's own clock: this message may wait in the port while the coordinator is busy.
                p.readyAt = m.at;
                p.profile.startupMs = p.readyAt - p.spawnedAt;
                p.profile.startupCpuMs = m.cpu ? m.cpu.cpuNs / 1e6 : NaN;
                return;
              }
              // A refused job (its trace) is the error the in-process sweep raises; anything else names the job.
              if (m.refusal !== undefined) return reject(fromRefusal(m.refusal));
              if (m.error !== undefined) return reject(new SweepError('sweep-job-failed', `job ${m.index} failed: ${m.error}`, String(m.index)));
              addJob(p.profile, m.wallNs, m.before, m.cpu);
              rows[slot.get(m.index)!] = m.row!;
              progress(++done);
              feed();
            });
            p.w.on('error', reject);
            feed();
          }),
      ),
    );
  } finally {
    const end = now();
    for (const p of pool) p.profile.idleMs = p.readyAt === undefined ? 0 : end - p.readyAt - p.profile.busyMs;
    await Promise.all(pool.map((p) => p.w.terminate()));
  }
  return rows;
}

/**
 * Runs the sweep. Its options are checked before the promise exists, so bad options throw at the
 * call (a typed error naming the option) instead of arriving as a rejected promise after work
 * started; `await sweep(bad)` sees the same error either way.
 */
export function sweep(opts: SweepOptions): Promise<aq.ColumnTable> {
  return profiledSweep(opts).then((r) => r.table);
}

/** `sweep`, with where its time went (per-thread start-up, job CPU, idle): what `npm run bench -- workload` prints. */
export function profiledSweep(opts: SweepOptions): Promise<{ table: aq.ColumnTable; profile: SweepProfile }> {
  checkObject('options', opts);
  const workers = opts.workers ?? availableParallelism();
  if (!Number.isSafeInteger(workers) || workers < 1) throw new SweepError('sweep-workers', 'workers is a positive integer', String(opts.workers));
  const signal = checkSignal('options.signal', opts.signal);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') refuse('options.onProgress', 'sweep-on-progress', 'is a function (done, total) or undefined', opts.onProgress);
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const all = expandJobs(opts);
  const jobs = shard === undefined ? all : shardJobs(all, shard);
  if (jobs.length === 0) throw new SweepError('sweep-shard-empty', `shard ${shard!.index}/${shard!.count} has no jobs: the sweep has only ${all.length}`, `${shard!.index}/${shard!.count}`);
  return runSweep(opts, workers, signal, all, jobs);
}

/** Milliseconds on a clock every thread shares (each thread's performance.now() has its own origin). */
const now = () => performance.timeOrigin + performance.now();

const processCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function runSweep(opts: SweepOptions, workers: number, signal: AbortSignal | undefined, all: Job[], jobs: Job[]): Promise<{ table: aq.ColumnTable; profile: SweepProfile }> {
  const t0 = performance.now();
  const cpu0 = processCpuMs();
  const main0 = threadCpu();
  const progress = (d: number) => opts.onProgress?.(d, jobs.length);
  // Every job's parameters, before any worker starts: a refused sweep starts no thread.
  checkJobParams(all);
  const checkMs = performance.now() - t0;
  const checkCpuMs = cpuMs(main0, threadCpu());
  const pool: PoolWorker[] =
    workers === 1 ? [] : Array.from({ length: Math.min(workers, jobs.length) }, (_, i) => ({ w: spawn(), spawnedAt: now(), profile: emptyThread(`worker ${i}`) }));
  let rows: SweepRow[];
  let threads: SweepThreadProfile[];
  if (workers === 1) {
    const main = emptyThread('main');
    rows = [];
    for (const j of jobs) {
      throwIfAborted(signal, 'the sweep', rows.length);
      const before = threadCpu();
      const s = process.hrtime.bigint();
      rows.push(runJob(j));
      addJob(main, Number(process.hrtime.bigint() - s), before, threadCpu());
      progress(rows.length);
    }
    threads = [main];
  } else {
    rows = await runOnWorkers(jobs, pool, progress, signal);
    threads = pool.map((p) => p.profile);
  }
  const table = toTable(rows);
  const mainCpuMs = cpuMs(main0, threadCpu());
  // In-process, the thread's clock counts its life before the sweep: count the sweep's part only.
  if (workers === 1) threads[0]!.totalCpuMs = mainCpuMs;
  const profile: SweepProfile = { workers, jobs: jobs.length, wallMs: performance.now() - t0, checkMs, checkCpuMs, mainCpuMs, processCpuMs: processCpuMs() - cpu0, threads };
  return { table, profile };
}
