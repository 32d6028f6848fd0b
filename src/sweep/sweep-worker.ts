/**
 * Worker thread entry: says when the engine is loaded, then runs the jobs it is sent and posts one
 * row per job, with the thread's CPU time around each (the sweep's profile; never in the table).
 */
import { parentPort } from 'node:worker_threads';
import { runJob, type SweepRow } from './sweep-row';
import type { Job } from './sweep-jobs';
import { threadCpu } from './thread-cpu';
import { toRefusal, type SweepRefusal, type WorkerReply } from './sweep-profile';
import { SweepError } from './sweep-error';

// Everything this thread did so far was loading the engine (module compile and evaluation).
parentPort?.postMessage({ ready: true, at: performance.timeOrigin + performance.now(), cpu: threadCpu() } satisfies WorkerReply);

parentPort?.on('message', (msg: { job: Job } | { stop: true }) => {
  if ('stop' in msg) {
    parentPort!.close();
    return;
  }
  const before = threadCpu();
  const t0 = process.hrtime.bigint();
  let out: { row: SweepRow } | { error: string } | { refusal: SweepRefusal };
  try {
    out = { row: runJob(msg.job) };
  } catch (err) {
    out = err instanceof SweepError ? { refusal: toRefusal(err) } : { error: (err as Error).message };
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  parentPort!.postMessage({ index: msg.job.index, ...out, wallNs, before, cpu: threadCpu() } satisfies WorkerReply);
});
