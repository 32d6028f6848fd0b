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
 * Sound since test/support/mutate-worker.mjs clears Stryker's active mutant before every run: before
 * that, collection-time code (describe bodies) of a run ran under the previous mutant, and once a
 * mutant made a test file fail to load, its beforeAll never switched the next mutant on, so later
 * runs completed 0 tests and Stryker counted them Survived (src/spte/tdp-level.ts with
 * test/spte/spte-mutants: 4 killed / 12 survived against 15 / 1 with a fresh thread per mutant).
 * What else a reused thread keeps: engine modules evaluated in the dry run with no mutant active
 * (as a fresh thread evaluates them while collecting, also with none), and the memo caches of
 * `memoize` (src/format/page-format.ts), whose builders import only src/format, src/role,
 * src/cpu/registers, src/errors, src/kvm-version and src/bits: unmutated by `npm run mutate`'s
 * directories, so a cached format is the same object a fresh thread builds. The guard plugin
 * (test/support/stryker-vitest-guard.mjs) refuses this mode when a mutated file is one of those
 * modules, and aborts any run in either mode that completes 0 tests for a mutant.
 * Checked mutant by mutant against a fresh thread per mutant (test/support/compare-mutation-reports.mjs)
 * on src/spte/tdp-level.ts, src/tdp/root-types.ts and src/shadow/unsync.ts (151 mutants, same status
 * each), so it is the default; MUTATE_REUSE_WORKER=0 starts a fresh thread per mutant.
 */
if (process.env.MUTATE_REUSE_WORKER !== '0') {
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
