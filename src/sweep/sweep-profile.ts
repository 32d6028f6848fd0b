/**
 * Where a sweep's time went, per thread: start-up (loading the engine), jobs (wall, CPU, and
 * run-queue wait: runnable but no free core), and idle (loaded, no job). Wall-time scaling on a
 * shared machine depends on what else runs; these show the mechanism. Never part of the table.
 */
import type { SweepRow } from './sweep-row';
import type { ThreadCpu } from './thread-cpu';
import { SweepError } from './sweep-error';

/**
 * A job's SweepError as plain data: a worker's error crosses to the coordinator by structured
 * clone, which keeps neither the class nor the rule, so a job's refusal (a trace its parameters
 * do not give, runJob) would arrive as a different error than the in-process sweep raises.
 */
export interface SweepRefusal {
  rule: string;
  /** The message without the `(value …; rule: …)` suffix the error's constructor adds. */
  text: string;
  value: string | undefined;
}

export function toRefusal(e: SweepError): SweepRefusal {
  const suffix = e.value === undefined ? '' : ` (value ${e.value}; rule: ${e.rule})`;
  return { rule: e.rule, text: e.message.slice(0, e.message.length - suffix.length), value: e.value };
}

/** The same SweepError again: class, rule, value and message. */
export function fromRefusal(r: SweepRefusal): SweepError {
  return new SweepError(r.rule, r.text, r.value);
}

/** What a worker thread posts: once when loaded, then once per job. */
export type WorkerReply =
  | { ready: true; at: number; cpu: ThreadCpu | undefined }
  | { index: number; row?: SweepRow; error?: string; refusal?: SweepRefusal; wallNs: number; before: ThreadCpu | undefined; cpu: ThreadCpu | undefined };

export interface SweepThreadProfile {
  /** `main` for an in-process sweep (workers: 1), else `worker 0`, `worker 1`, … */
  thread: string;
  /** Wall ms from spawning the worker to its engine being loaded (0 in-process). */
  startupMs: number;
  /** The thread's CPU ms to load the engine (0 in-process; NaN where the OS gives no thread clock). */
  startupCpuMs: number;
  jobs: number;
  /** Wall ms inside jobs. */
  busyMs: number;
  /** The thread's CPU ms inside jobs. */
  jobCpuMs: number;
  /** Ms inside jobs the thread was runnable but waited for a core. */
  jobWaitMs: number;
  /** Wall ms after loading with no job running (waiting for work, or for the sweep's end). */
  idleMs: number;
  /** The thread's CPU ms from its start to its last job. */
  totalCpuMs: number;
}

export interface SweepProfile {
  workers: number;
  jobs: number;
  /** Wall ms of the whole call. */
  wallMs: number;
  /** Wall ms of the coordinator's check of every job's parameters (checkJobParams), serial, before any worker starts. */
  checkMs: number;
  /** The coordinator thread's CPU ms for that check. */
  checkCpuMs: number;
  /** The coordinator thread's CPU ms during the sweep. */
  mainCpuMs: number;
  /** Every thread's CPU ms: coordinator, workers, and V8's compiler and GC helper threads. */
  processCpuMs: number;
  threads: SweepThreadProfile[];
}

const ms = (ns: number) => ns / 1e6;
/** CPU ms between two readings; NaN without a thread clock. */
export const cpuMs = (a: ThreadCpu | undefined, b: ThreadCpu | undefined): number => (a && b ? ms(b.cpuNs - a.cpuNs) : NaN);
export const waitMs = (a: ThreadCpu | undefined, b: ThreadCpu | undefined): number => (a && b ? ms(b.waitNs - a.waitNs) : NaN);

/** A thread's record, filled in as its replies arrive. */
export function emptyThread(thread: string): SweepThreadProfile {
  return { thread, startupMs: 0, startupCpuMs: 0, jobs: 0, busyMs: 0, jobCpuMs: 0, jobWaitMs: 0, idleMs: 0, totalCpuMs: 0 };
}

/** Add one finished job to its thread's record. */
export function addJob(t: SweepThreadProfile, wallNs: number, before: ThreadCpu | undefined, after: ThreadCpu | undefined): void {
  t.jobs++;
  t.busyMs += ms(wallNs);
  t.jobCpuMs += cpuMs(before, after);
  t.jobWaitMs += waitMs(before, after);
  if (after) t.totalCpuMs = ms(after.cpuNs);
}
