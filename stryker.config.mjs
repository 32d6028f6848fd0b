/**
 * Mutation testing (`npm run mutate`, not in CI: a full run takes hours). Narrow it:
 *   MUTATE_TESTS='test/shadow/sync.test.ts,test/shadow/shadow-mmu.test.ts' npm run mutate -- --mutate 'src/shadow/sync.ts'
 * MUTATE_TESTS picks the test files (vitest.mutate.config.mts), --mutate the source files. --mutate is a
 * comma-separated list (so no `{a,b}` globs); `file.ts:10-40` restricts a file to lines. With
 * `--disableBail` every covering test runs, so a report's killedBy tells which test files kill what
 * (one run gives the kill rate with and without a set of new test files).
 * Cost: one vitest worker thread serves every mutant run (vitest.mutate.config.mts); with
 * MUTATE_REUSE_WORKER=0 every mutant starts a thread that imports the engine again (about 25-30
 * mutants a minute on two shared cores; 5-23x slower in the mutant phase). Both give the same status
 * for every mutant checked (test/support/compare-mutation-reports.mjs, README "Mutation testing").
 * The report lands in reports/mutation/ (HTML and JSON).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  // The vitest runner with checks that no mutant is scored from a run that tested nothing
  // (test/support/stryker-vitest-guard.mjs).
  testRunner: 'vitest-guarded',
  plugins: ['@stryker-mutator/vitest-runner', './test/support/stryker-vitest-guard.mjs'],
  vitest: { configFile: 'vitest.mutate.config.mts', related: false },
  mutate: ['src/shadow/**/*.ts', 'src/tdp/**/*.ts', 'src/spte/**/*.ts', 'src/nested/**/*.ts', 'src/tdx/**/*.ts'],
  // Run only the tests that cover a mutant.
  coverageAnalysis: 'perTest',
  // Module-level constants would need every test per mutant; they are covered by the unit tests.
  ignoreStatic: true,
  // Two cores shared with other work.
  concurrency: 1,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
