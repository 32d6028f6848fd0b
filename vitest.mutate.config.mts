import { defineConfig, configDefaults } from 'vitest/config';

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
