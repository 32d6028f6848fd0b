import { describe, expect, it } from 'vitest';
import { addJob, cpuMs, emptyThread, fromRefusal, toRefusal, waitMs } from '../../src/sweep/sweep-profile';
import { SweepError } from '../../src/sweep/sweep-error';
import { threadCpu } from '../../src/sweep/thread-cpu';

describe('sweep profile', () => {
  it('adds a job: wall, CPU and run-queue wait between two thread-clock readings, in ms', () => {
    const t = emptyThread('worker 0');
    addJob(t, 2_500_000, { cpuNs: 1_000_000, waitNs: 0 }, { cpuNs: 3_000_000, waitNs: 500_000 });
    addJob(t, 1_000_000, { cpuNs: 3_000_000, waitNs: 500_000 }, { cpuNs: 4_000_000, waitNs: 500_000 });
    expect(t).toEqual({ thread: 'worker 0', startupMs: 0, startupCpuMs: 0, jobs: 2, busyMs: 3.5, jobCpuMs: 3, jobWaitMs: 0.5, idleMs: 0, totalCpuMs: 4 });
  });

  it('without a thread clock the CPU figures are NaN, not zero', () => {
    expect(cpuMs(undefined, { cpuNs: 1, waitNs: 1 })).toBeNaN();
    expect(waitMs({ cpuNs: 1, waitNs: 1 }, undefined)).toBeNaN();
    const t = emptyThread('main');
    addJob(t, 1_000_000, undefined, undefined);
    expect(t.jobCpuMs).toBeNaN();
    expect(t.busyMs).toBe(1);
  });

  it.runIf(process.platform === 'linux')('reads this thread\'s clock from /proc/thread-self/schedstat; it never runs backwards', () => {
    const a = threadCpu()!;
    let x = 0;
    for (let i = 0; i < 1e6; i++) x += i % 7;
    const b = threadCpu()!;
    expect(x).toBeGreaterThan(0);
    expect(Number.isSafeInteger(a.cpuNs) && Number.isSafeInteger(a.waitNs)).toBe(true);
    expect(b.cpuNs).toBeGreaterThanOrEqual(a.cpuNs);
    expect(b.waitNs).toBeGreaterThanOrEqual(a.waitNs);
  });

  it('a job\'s SweepError crosses from a worker as data and is the same error again: class, rule, value, message', () => {
    for (const e of [new SweepError('sweep-param-invalid', 'workload uniform with {"pages":0} does not give a valid trace: p.pages (value 0; rule: range)', '{"pages":0}'), new SweepError('sweep-x', 'no value')]) {
      // Structured clone is what postMessage applies: it keeps plain data only.
      const back = fromRefusal(structuredClone(toRefusal(e)));
      expect(back).toBeInstanceOf(SweepError);
      expect([back.rule, back.value, back.message]).toEqual([e.rule, e.value, e.message]);
    }
  });
});
