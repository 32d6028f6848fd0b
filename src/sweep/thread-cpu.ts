/**
 * The calling thread's own CPU time, for a sweep's profile: Node 20 has no per-thread CPU clock
 * (`process.cpuUsage()` sums every thread of the process, V8's compiler and GC helpers included),
 * so this reads Linux's `/proc/thread-self/schedstat` ("on-CPU ns, run-queue wait ns, slices";
 * Documentation/scheduler/sched-stats.rst). Elsewhere it answers undefined and the profile says so.
 */
import { readFileSync } from 'node:fs';

export interface ThreadCpu {
  /** Nanoseconds this thread ran on a CPU. */
  cpuNs: number;
  /** Nanoseconds it was runnable but waited for a CPU (other threads held them). */
  waitNs: number;
}

export function threadCpu(): ThreadCpu | undefined {
  try {
    const f = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    const cpuNs = Number(f[0]);
    const waitNs = Number(f[1]);
    return Number.isFinite(cpuNs) && Number.isFinite(waitNs) ? { cpuNs, waitNs } : undefined;
  } catch {
    return undefined;
  }
}
