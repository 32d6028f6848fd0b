/** Worker thread entry: runs the jobs it is sent and posts one row per job, in order. */
import { parentPort } from 'node:worker_threads';
import { runJob } from './sweep-row';
import type { Job } from './sweep-jobs';

parentPort?.on('message', (msg: { job: Job } | { stop: true }) => {
  if ('stop' in msg) {
    parentPort!.close();
    return;
  }
  try {
    parentPort!.postMessage({ index: msg.job.index, row: runJob(msg.job) });
  } catch (err) {
    parentPort!.postMessage({ index: msg.job.index, error: (err as Error).message });
  }
});
