import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { defineConfig, configDefaults } from 'vitest/config';
import { ThreadsPoolWorker } from 'vitest/node';

/**
 * The vitest configuration `npm run mutate` (stryker.config.mjs) runs. MUTATE_TESTS, a comma-separated
 * list of globs, narrows the test files to those relevant to the mutated files, so that a run
 * takes minutes: e.g. MUTATE_TESTS='test/shadow/shadow-mmu.test.ts,test/shadow/sync.test.ts'.
 * The default is every engine test of the mutated directories (hours on two cores).
 */
const include = (process.env.MUTATE_TESTS ?? 'test/{shadow,tdp,spte,nested,tdx,vm,conformance}/**/*.test.ts')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');

/**
 * One worker thread for all mutant runs. Stryker's vitest runner calls `vitest.start()` once per
 * mutant, and vitest 4.1 stops its worker thread at the end of every run (Pool.schedule keeps a
 * runner only for a task already queued), so each mutant started a thread and imported the engine
 * again (~360 modules through vite's module runner): most of a mutant's cost. Here a stopped
 * thread is parked instead and the next run's worker takes it: its module cache (vitest's worker
 * keeps evaluated modules in a module-level map; each run invalidates only its test files and
 * setup files) still holds the engine. The "stop" message is answered here, not sent, because the
 * worker's stop handler removes its message listener; each run still sends "start" with that run's
 * config (Stryker's per-mutant test name filter), see test/support/mutate-worker.mjs.
 * NOT sound, so it is opt-in (MUTATE_REUSE_WORKER=1): Stryker switches mutants at run time through
 * a global, but the engine memoizes derived data in module-level caches (page formats, SPTE
 * configurations), so a value computed under one mutant outlives its run. Measured: on
 * src/spte/tdp-level.ts with test/spte/spte-mutants the reused worker gave 4 killed / 12 survived
 * against 15 / 1 with a fresh thread per mutant (same sources, same tests); a cached mutated value
 * could as well fail a later mutant's tests and count it killed. Use the reused worker only to
 * find candidate survivors quickly; quote scores from the default (a fresh thread per mutant).
 */
if (process.env.MUTATE_REUSE_WORKER === '1') {
  type Internals = { _thread?: Worker; entrypoint: string; env: Record<string, string | undefined>; added?: [string, (...a: unknown[]) => void][] };
  const proto = ThreadsPoolWorker.prototype as unknown as Record<string, (...a: any[]) => any>;
  const parked: Worker[] = [];
  const wrapper = fileURLToPath(new URL('./test/support/mutate-worker.mjs', import.meta.url));
  const { start, stop, send, on } = proto;
  proto.start = async function (this: Internals) {
    if (this.entrypoint !== wrapper) {
      this.env = { ...this.env, MMULAB_VITEST_THREADS_ENTRY: this.entrypoint };
      this.entrypoint = wrapper;
    }
    while (this._thread === undefined && parked.length > 0) {
      const thread = parked.pop()!;
      if (thread.threadId === -1) continue; // exited while parked
      this._thread = thread;
      this._thread.ref();
    }
    return start.call(this);
  };
  proto.on = function (this: Internals, event: string, cb: (...a: unknown[]) => void) {
    (this.added ??= []).push([event, cb]);
    return on.call(this, event, cb);
  };
  proto.send = function (this: Internals, message: { __vitest_worker_request__?: boolean; type?: string }) {
    if (message?.__vitest_worker_request__ === true && message.type === 'stop') {
      const thread = this._thread!;
      setImmediate(() => thread.emit('message', { type: 'stopped', __vitest_worker_response__: true }));
      return;
    }
    return send.call(this, message);
  };
  proto.stop = async function (this: Internals & { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }) {
    const thread = this._thread;
    if (thread === undefined) return stop.call(this);
    for (const [event, cb] of this.added ?? []) thread.off(event, cb);
    this.added = [];
    thread.stdout.unpipe(this.stdout as never);
    thread.stderr.unpipe(this.stderr as never);
    (this.stdout as any).setMaxListeners((this.stdout as any).getMaxListeners() - 1);
    (this.stderr as any).setMaxListeners((this.stderr as any).getMaxListeners() - 1);
    this._thread = undefined;
    thread.unref();
    parked.push(thread);
  };
}

export default defineConfig({
  test: {
    include,
    exclude: [...configDefaults.exclude, 'test/kernel/**'],
    testTimeout: 120_000,
    // Every mutant run starts a new worker that imports the engine once per test file; without
    // isolation the files of one run share one import (the engine keeps no mutable global state,
    // and Stryker switches mutants at run time through a global, so reused modules stay correct).
    isolate: false,
  },
});
