#!/usr/bin/env node
/**
 * How many of a file's mutants sit on lines changed since the commit its README mutation row was
 * measured at: those mutants are unmeasured, so the row's score says nothing about them. Mutants
 * come from Stryker's own instrumenter (the one `npm run mutate` uses), lines from `git diff -U0`.
 *
 *   node test/support/mutants-since.mjs [--ranges] [test/support/mutation-measured-at.json]
 *
 * --ranges prints, per directory, the `--mutate` patterns (`file:start-end`) of the changed lines
 * that hold mutants, to re-measure just those.
 *
 * It also prints, per file, how many of the row commit's own mutants sat on lines changed or removed
 * since ("old on changed lines", D). A row's counts (K killed+timeout of V valid) include those D,
 * whose results are void; the unchanged part then kills at least (K − D) / (V − D) (worst case:
 * every void mutant was valid and killed), so with the changed lines re-measured at HEAD
 * (K' of V') a directory scores at least Σ(K − D + K') / Σ(V − D + V').
 *
 * The JSON maps each source file to the commit of its row. Prints a line per file and a total per
 * directory (all mutants, static ones included, as the instrumenter makes them).
 */
// The package exports only createInstrumenter (which needs Stryker's injector); the class itself takes a logger.
import { Instrumenter } from '../../node_modules/@stryker-mutator/instrumenter/dist/src/instrumenter.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, trace() {}, isDebugEnabled: () => false, isTraceEnabled: () => false };
const instrumenter = new Instrumenter(quiet);
const args = process.argv.slice(2);
const ranges = args.includes('--ranges');
// --exact: one `file:line:col-line:col` pattern per changed-line mutant (columns 0-based, as Stryker takes them), so
// a block mutant that starts on a changed line and ends past it is run too.
const exact = args.includes('--exact');
const only = args.find((a) => a.startsWith('--only='))?.slice(7);
const rows = JSON.parse(fs.readFileSync(args.find((a) => !a.startsWith('--')) ?? 'test/support/mutation-measured-at.json', 'utf8'));
const patterns = new Map();
const git = (...a) => execFileSync('git', a, { encoding: 'utf8' });
const totals = new Map();
for (const [file, commit] of Object.entries(rows)) {
  if (only !== undefined && !only.split(',').includes(file)) continue;
  const r = await instrumenter.instrument([{ name: file, mutate: true, content: fs.readFileSync(file, 'utf8') }], { plugins: null, excludedMutations: [], ignorers: [], noHeader: true });
  const existed = git('ls-tree', commit, '--', file).trim() !== '';
  const changed = new Set();
  for (const m of git('diff', '-U0', commit, 'HEAD', '--', file).matchAll(/^@@ -\S+ \+(\d+)(?:,(\d+))? @@/gm)) {
    const s = Number(m[1]);
    for (let i = s; i < s + (m[2] === undefined ? 1 : Number(m[2])); i++) changed.add(i);
  }
  const removed = new Set();
  for (const m of git('diff', '-U0', commit, 'HEAD', '--', file).matchAll(/^@@ -(\d+)(?:,(\d+))? \+/gm)) {
    const s = Number(m[1]);
    for (let i = s; i < s + (m[2] === undefined ? 1 : Number(m[2])); i++) removed.add(i);
  }
  let oldVoid = 0;
  if (existed) {
    const old = await instrumenter.instrument([{ name: file, mutate: true, content: git('show', `${commit}:${file}`) }], { plugins: null, excludedMutations: [], ignorers: [], noHeader: true });
    oldVoid = old.mutants.filter((m) => removed.has(m.location.start.line + 1)).length;
  }
  const hit = existed ? r.mutants.filter((m) => changed.has(m.location.start.line + 1)) : r.mutants;
  const since = hit.length;
  const dir = file.split('/').slice(0, 2).join('/');
  // Instrumenter lines are 0-based here; --mutate ranges are 1-based and inclusive.
  const lines = [...new Set(hit.map((m) => m.location.start.line + 1))].sort((a, b) => a - b);
  const pats = patterns.get(dir) ?? [];
  if (exact) for (const m of hit) pats.push(`${file}:${m.location.start.line + 1}:${m.location.start.column}-${m.location.end.line + 1}:${m.location.end.column}`);
  else for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] <= lines[j] + 3) j++;
    pats.push(`${file}:${lines[i]}-${lines[j]}`);
    i = j + 1;
  }
  patterns.set(dir, pats);
  const t = totals.get(dir) ?? [0, 0, 0];
  totals.set(dir, [t[0] + r.mutants.length, t[1] + since, t[2] + oldVoid]);
  console.log(`${file} (${commit}): ${r.mutants.length} mutants, ${since} on lines changed since; ${oldVoid} of the row commit's mutants on lines changed or removed since`);
}
for (const [dir, [all, since, oldVoid]] of totals) console.log(`${dir}: ${all} mutants, ${since} on lines changed since their rows' commits; ${oldVoid} old on changed lines`);
if (ranges || exact) for (const [dir, p] of patterns) console.log(`${dir} --mutate '${p.join(',')}'`);
