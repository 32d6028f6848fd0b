// Stryker test-runner plugin "vitest-guarded" (stryker.config.mjs): @stryker-mutator/vitest-runner with
// checks, so that a run that tested nothing can never be scored "Survived".
//
// 1. A test file that fails outside its tests (an error while collecting it, e.g. a describe body
//    that calls a mutated function, or in a hook) yields no failed test; the vitest runner then
//    reports the mutant Survived (with 0 tests if that was the only file). If the mutant was on when
//    it failed, the suite failed under the mutant (it passed unmutated in the dry run): report it
//    Killed, naming the file and its error; if not, fail the run as in 2 (stale state in the worker).
// 2. Any other Survived with 0 tests completed means the covering tests did not run (a broken runner,
//    a test-name filter matching nothing): log an error with the mutant's id and covering tests and
//    fail the run, so that Stryker restarts the runner process and retries the mutant (see refuse).
// 3. With the reused worker (the default; MUTATE_REUSE_WORKER=0 turns it off, vitest.mutate.config.mts)
//    engine modules stay loaded from run to run, so module-level state outlives a mutant's run. The
//    engine's only such state is the memo caches of `memoize` (src/format/page-format.ts); they
//    cannot hold a mutated value as long as no module their builders import is mutated. Refuse the
//    reused worker (in the dry run, so Stryker stops) when one is.
import { declareFactoryPlugin, PluginKind, commonTokens, tokens } from '@stryker-mutator/api/plugin';
import { MutantRunStatus } from '@stryker-mutator/api/test-runner';
import { strykerPlugins as vitestPlugins } from '@stryker-mutator/vitest-runner';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const vitestFactory = vitestPlugins.find((p) => p.kind === PluginKind.TestRunner && p.name === 'vitest').factory;

/** Files of the last vitest run that failed with errors of their own (not of a test). */
function filesFailedOutsideTests(ctx) {
  return ctx.state.getFiles().filter((f) => f.result?.state === 'fail' && (f.result.errors?.length ?? 0) > 0);
}

/** Every src module that calls `memoize(`, and every module those import (relative imports), relative to `root`. */
function memoClosure(root) {
  const all = [];
  const walk = (dir) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ts')) all.push(join(dir, e.name));
    }
  };
  walk('src');
  const queue = all.filter((f) => /\bmemoize\(/.test(readFileSync(join(root, f), 'utf8')));
  const seen = new Set();
  while (queue.length > 0) {
    const f = queue.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of readFileSync(join(root, f), 'utf8').matchAll(/(?:from|import)\s+'(\.[^']+)'/g)) {
      const base = join(dirname(f), m[1]);
      const file = [`${base}.ts`, join(base, 'index.ts'), base].find((c) => existsSync(join(root, c)));
      if (file !== undefined) queue.push(file);
    }
  }
  return seen;
}

class GuardedVitestRunner {
  constructor(inner, log) {
    this.inner = inner;
    this.log = log;
  }
  /**
   * Stryker answers a runner error by restarting the runner process (a fresh vitest worker) and
   * retrying the mutant twice; if every attempt fails, the mutant is scored "RuntimeError" (the
   * "# errors" column, left out of the score). Log it so the restart is visible.
   */
  refuse(message) {
    this.log.error(message);
    throw new Error(message);
  }
  capabilities() {
    return this.inner.capabilities();
  }
  init() {
    return this.inner.init();
  }
  dryRun(options) {
    if (process.env.MUTATE_REUSE_WORKER !== '0') {
      const root = process.cwd();
      const memo = memoClosure(root);
      const bad = (options.files ?? []).map((f) => relative(root, f)).filter((f) => memo.has(f));
      if (bad.length > 0) {
        throw new Error(
          `the reused worker is unsound for ${bad.join(', ')}: memoize caches (src/format/page-format.ts) ` +
            'built from these modules outlive a mutant run in a reused worker; run with MUTATE_REUSE_WORKER=0',
        );
      }
    }
    return this.inner.dryRun(options);
  }
  dispose() {
    return this.inner.dispose();
  }
  async mutantRun(options) {
    const result = await this.inner.mutantRun(options);
    if (result.status !== MutantRunStatus.Survived) return result;
    const files = this.inner.ctx.state.getFiles();
    const failed = filesFailedOutsideTests(this.inner.ctx);
    if (failed.length > 0) {
      // Stryker's afterAll records the hit count in a file's meta once its beforeAll switched the
      // mutant on: a failure counts only if the mutant was on by then (a later file of the run, or a
      // hook of this one). A file failing before any activation (with the mutant off it passed in
      // the dry run) means stale state: abort.
      if (!files.some((f) => f.meta?.hitCount !== undefined)) {
        this.refuse(
          `mutant ${options.activeMutant.id}: ${failed[0].name} failed before the mutant was switched on ` +
            `(${failed[0].result.errors[0]?.message ?? 'unknown error'}); refusing to score it (test/support/stryker-vitest-guard.mjs)`,
        );
      }
      const f = failed[0];
      return {
        status: MutantRunStatus.Killed,
        // Stryker's test ids are `file#name`: name the covering tests of the failed files.
        killedBy: (options.testFilter ?? []).filter((id) => failed.some((x) => id.startsWith(`${x.filepath}#`))),
        failureMessage: `test file failed outside a test (${f.name}): ${f.result.errors[0]?.message ?? 'unknown error'}`,
        nrOfTests: result.nrOfTests,
      };
    }
    if (result.nrOfTests > 0) return result;
    const covering = options.testFilter === undefined ? 'all tests' : `${options.testFilter.length} covering test(s): ${options.testFilter.slice(0, 3).join('; ')}`;
    this.refuse(
      `mutant ${options.activeMutant.id} (${options.activeMutant.fileName}:${options.activeMutant.location.start.line + 1}) ` +
        `completed 0 tests of ${covering}; refusing to count it Survived (test/support/stryker-vitest-guard.mjs)`,
    );
  }
}

function createGuardedVitestRunner(injector, log) {
  return new GuardedVitestRunner(injector.injectFunction(vitestFactory), log);
}
createGuardedVitestRunner.inject = tokens(commonTokens.injector, commonTokens.logger);

export const strykerPlugins = [declareFactoryPlugin(PluginKind.TestRunner, 'vitest-guarded', createGuardedVitestRunner)];
