// Worker entry for `npm run mutate` (loaded by Node itself, not by vite: plain JS). vitest.mutate.config.mts
// keeps one vitest worker thread alive across Stryker's mutant runs; every run sends the thread a new
// "start" (the run's config: test name filter, bail) and a "run".
import { parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

/**
 * Make every run begin with the Stryker state a fresh thread has. Stryker's setup file
 * (@stryker-mutator/vitest-runner stryker-setup.js) switches the mutant on in a beforeAll hook, i.e.
 * after the test file has been collected, and never switches it off. In a fresh thread the global
 * namespace is empty, so `describe` bodies and other collection-time code of a run's first test file
 * run unmutated; in a reused thread they ran under the PREVIOUS mutant. Where that previous mutant
 * made collection throw (src/spte/tdp-level.ts mutant 0 empties kvmMmuGetTdpLevel, and
 * test/spte/spte-mutants computes a config in a describe body), the file failed before its beforeAll,
 * so the old mutant stayed on for every later run: 0 tests ran, and Stryker counted each later
 * mutant "Survived" (12 of 16). The instrumented modules keep a reference to the namespace object,
 * so reset its per-run fields in place rather than replacing it.
 */
function resetStrykerNamespace(message) {
  const name = message.context?.providedContext?.globalNamespace ?? '__stryker__';
  const ns = globalThis[name];
  if (ns !== undefined) {
    ns.activeMutant = undefined;
    ns.hitCount = undefined;
  }
}

const on = parentPort.on.bind(parentPort);
let messageListeners = 0;
let rpcListener;
parentPort.on = (event, listener) => {
  if (event === 'message' && ++messageListeners === 1) {
    // The first listener is vitest's own message loop (init): reset before it handles a "run".
    const loop = listener;
    listener = (message) => {
      if (message?.__vitest_worker_request__ === true && message.type === 'run') resetStrykerNamespace(message);
      return loop(message);
    };
  } else if (event === 'message') {
    // Later ones are one RPC per "start": keep only the newest one, so thousands of runs do not
    // pile up listeners.
    if (rpcListener !== undefined) parentPort.off('message', rpcListener);
    rpcListener = listener;
  }
  return on(event, listener);
};

await import(pathToFileURL(process.env.MMULAB_VITEST_THREADS_ENTRY).href);
