import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Walk sweeps are CPU-bound; two workers match the machines' two cores.
    maxWorkers: 2,
    testTimeout: 120_000,
  },
});
