import { defineConfig, configDefaults } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Walk sweeps are CPU-bound; two workers match the machines' two cores.
    maxWorkers: 2,
    testTimeout: 120_000,
    // The kernel's tests drive Jupyter, a browser and subprocesses: one file at a time, longer
    // timeouts, and a global setup that builds the kernel and installs Debian's Jupyter and
    // Chromium when they are missing (it runs only when kernel tests are selected).
    projects: [
      {
        extends: true,
        test: {
          name: 'engine',
          exclude: [...configDefaults.exclude, 'test/kernel/**'],
        },
      },
      {
        // Not extending the root: its `include` would be merged into this one.
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          globalSetup: ['test/kernel/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
