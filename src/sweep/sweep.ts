/**
 * Sweeps: configurations × workloads × parameters × seeds on worker threads (all cores by
 * default). Jobs are handed out one at a time as workers free up, and each row is stored at its
 * job's index, so the table is the same at every worker count. Everything is validated before
 * the first job starts; the workers are started first, so that loading the engine in each
 * thread overlaps the coordinator's trace check (the serial part of a sweep).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as aq from 'arquero';
import { checkTraces, expandJobs, type Job, type SweepSpec } from './sweep-jobs';
import { runJob, type SweepRow } from './sweep-row';
import { SweepError } from './sweep-error';
import { WORKLOADS } from './workload-registry';
import { checkObject, checkSignal, refuse, throwIfAborted } from '../validate/checks';
import { parseShard, shardJobs, type Shard } from './sweep-shard';

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
  return aq.table(cols);
}

async function runOnWorkers(jobs: Job[], workers: Worker[], progress: (done: number) => void, signal: AbortSignal | undefined): Promise<SweepRow[]> {
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
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              try {
                throwIfAborted(signal, 'the sweep', done);
              } catch (err) {
                return reject(err);
              }
              if (next >= jobs.length) return resolve();
              w.postMessage({ job: order[next++] });
            };
            w.on('message', (m: { index: number; row?: SweepRow; error?: string }) => {
              if (m.error !== undefined) return reject(new SweepError('sweep-job-failed', `job ${m.index} failed: ${m.error}`, String(m.index)));
              rows[slot.get(m.index)!] = m.row!;
              progress(++done);
              feed();
            });
            w.on('error', reject);
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return rows;
}

/**
 * Runs the sweep. Its options are checked before the promise exists, so bad options throw at the
 * call (a typed error naming the option) instead of arriving as a rejected promise after work
 * started; `await sweep(bad)` sees the same error either way.
 */
export function sweep(opts: SweepOptions): Promise<aq.ColumnTable> {
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

async function runSweep(opts: SweepOptions, workers: number, signal: AbortSignal | undefined, all: Job[], jobs: Job[]): Promise<aq.ColumnTable> {
  const progress = (d: number) => opts.onProgress?.(d, jobs.length);
  // Workers load the engine while the traces are checked; a refused sweep stops them unused.
  const pool = workers === 1 ? [] : Array.from({ length: Math.min(workers, jobs.length) }, spawn);
  try {
    checkTraces(all);
  } catch (err) {
    await Promise.all(pool.map((w) => w.terminate()));
    throw err;
  }
  let rows: SweepRow[];
  if (workers === 1) {
    rows = [];
    for (const j of jobs) {
      throwIfAborted(signal, 'the sweep', rows.length);
      rows.push(runJob(j));
      progress(rows.length);
    }
  } else rows = await runOnWorkers(jobs, pool, progress, signal);
  return toTable(rows);
}
