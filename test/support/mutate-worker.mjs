// Worker entry for `npm run mutate` (loaded by Node itself, not by vite: plain JS). vitest.mutate.config.mts
// keeps one vitest worker thread alive across Stryker's mutant runs; every run sends the thread a new
// "start" (the run's config: test name filter, bail), and each "start" makes vitest's worker add a new
// RPC listener to parentPort. Keep only the newest one, so thousands of runs do not pile up listeners.
import { parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const on = parentPort.on.bind(parentPort);
let messageListeners = 0;
let rpcListener;
parentPort.on = (event, listener) => {
  if (event === 'message' && ++messageListeners > 1) {
    // The first listener is vitest's own message loop (init); later ones are one RPC per "start".
    if (rpcListener !== undefined) parentPort.off('message', rpcListener);
    rpcListener = listener;
  }
  return on(event, listener);
};

await import(pathToFileURL(process.env.MMULAB_VITEST_THREADS_ENTRY).href);
