#!/usr/bin/env node
/**
 * A directory's mutation score when its README rows were measured at older commits and only the
 * lines changed since were re-measured at HEAD.
 *
 *   node test/support/mutation-bound.mjs [--write summary.json] report.json [report.json …]
 *   node test/support/mutation-bound.mjs test/support/mutation-changed-lines.json
 *
 * --write keeps, per file, the changed-line mutants' statuses and the sha256 of the source they
 * were measured on (the committed summary; Stryker's reports are megabytes each): given as input,
 * it stands for the reports it came from.
 *
 * Inputs: `test/support/mutation-measured-at.json` (file → the commit its row was measured at),
 * `test/support/mutation-row-sums.json` (directory → K killed+timeout and V valid, the sums of its
 * README rows), and Stryker reports (`reports/mutation/mutation.json`) of runs over the changed
 * lines. Per file, the lines changed since its row's commit come from `git diff -U0`, and
 * D = the row commit's own mutants (Stryker's instrumenter) on lines changed or removed since:
 * their results in the row are void. The unchanged part keeps at least (K − D) of (V − D) killed
 * (worst case: every void mutant was valid and killed), so the directory scores at least
 * Σ(K − D + K') / Σ(V − D + V'), with K' of V' the reports' mutants on changed lines (static and
 * ignored ones left out, as in the rows). A report counts for a file only when the source it
 * mutated is HEAD's file byte for byte; a file whose changed lines no report covers at HEAD's
 * source is listed as stale and its directory gets no figure. A mutant on a changed line that a
 * report of the file leaves out (a `--mutate file:a-b` range holds only mutants that end inside
 * it, so a block spanning past the range is not run) counts as valid and survived: worst case.
 */
import { Instrumenter } from '../../node_modules/@stryker-mutator/instrumenter/dist/src/instrumenter.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createHash } from 'node:crypto';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, trace() {}, isDebugEnabled: () => false, isTraceEnabled: () => false };
const instrumenter = new Instrumenter(quiet);
const git = (...a) => execFileSync('git', a, { encoding: 'utf8' });
const rows = JSON.parse(fs.readFileSync('test/support/mutation-measured-at.json', 'utf8'));
const sums = JSON.parse(fs.readFileSync('test/support/mutation-row-sums.json', 'utf8'));
const argv = process.argv.slice(2);
const writeAt = argv.indexOf('--write');
const writePath = writeAt >= 0 ? argv[writeAt + 1] : undefined;
const inputs = argv.filter((_, i) => writeAt < 0 || (i !== writeAt && i !== writeAt + 1));
const sha = (t) => createHash('sha256').update(t).digest('hex');
const reports = inputs.map((p) => ({ path: p, json: JSON.parse(fs.readFileSync(p, 'utf8')) }));
const summary = {};
const instrument = async (file, content) =>
  (await instrumenter.instrument([{ name: file, mutate: true, content }], { plugins: null, excludedMutations: [], ignorers: [], noHeader: true })).mutants;
const lineSet = (diff, side) => {
  const set = new Set();
  const re = side === 'new' ? /^@@ -\S+ \+(\d+)(?:,(\d+))? @@/gm : /^@@ -(\d+)(?:,(\d+))? \+/gm;
  for (const m of diff.matchAll(re)) {
    const s = Number(m[1]);
    for (let i = s; i < s + (m[2] === undefined ? 1 : Number(m[2])); i++) set.add(i);
  }
  return set;
};
const VALID = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);
const KILLED = new Set(['Killed', 'Timeout']);
const dirs = new Map();
const stale = [];
// A row commit this clone does not hold (a branch commit measured before its rebase, never on
// main): its source is needed for D, so the file's directory gets no figure rather than a guess.
const hasCommit = (c) => {
  try {
    execFileSync('git', ['cat-file', '-e', `${c}^{commit}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
for (const [file, commit] of Object.entries(rows)) {
  const dir = file.split('/').slice(0, 2).join('/');
  const d = dirs.get(dir) ?? { D: 0, k: 0, v: 0, since: 0, covered: 0, files: [], missing: [] };
  dirs.set(dir, d);
  if (!hasCommit(commit)) {
    d.missing.push(`${file} (${commit})`);
    // --write keeps what the inputs hold for the file (the last input that has it), unchecked.
    for (const r of reports) if (r.json.files[file]?.sha256 !== undefined) summary[file] = r.json.files[file];
    continue;
  }
  const head = fs.readFileSync(file, 'utf8');
  const existed = git('ls-tree', commit, '--', file).trim() !== '';
  const diff = git('diff', '-U0', commit, 'HEAD', '--', file);
  const changed = lineSet(diff, 'new');
  const removed = lineSet(diff, 'old');
  const D = existed ? (await instrument(file, git('show', `${commit}:${file}`))).filter((m) => removed.has(m.location.start.line + 1)).length : 0;
  const now = (await instrument(file, head)).filter((m) => !existed || changed.has(m.location.start.line + 1));
  // The same mutant may sit in several reports (overlapping ranges, re-runs): the last report wins.
  const status = new Map();
  for (const r of reports) {
    const f = r.json.files[file];
    if (!f || (f.sha256 !== undefined ? f.sha256 !== sha(head) : f.source !== head)) continue;
    for (const m of f.mutants) {
      const line = m.location.start.line;
      if (existed && !changed.has(line)) continue;
      // The end belongs to the key: nested `a || b || c` mutants share start, mutator and replacement.
      status.set(m.key ?? `${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column}:${m.mutatorName}:${m.replacement}`, m.status);
    }
  }
  if (status.size > 0) summary[file] = { sha256: sha(head), mutants: [...status].map(([key, st]) => ({ key, status: st, location: { start: { line: Number(key.split(':')[0]) } } })) };
  let k = 0, v = 0;
  for (const s of status.values()) {
    if (VALID.has(s)) v++;
    if (KILLED.has(s)) k++;
  }
  // Changed-line mutants no report ran: worst case, valid and survived.
  const unrun = status.size > 0 ? Math.max(0, now.length - status.size) : 0;
  v += unrun;
  d.D += D;
  d.k += k;
  d.v += v;
  d.since += now.length;
  d.covered += status.size > 0 ? now.length : 0;
  if (now.length > 0 && status.size === 0) stale.push(`${file}: ${now.length} mutants on changed lines, none in a report of HEAD's source`);
  if (now.length > 0 || D > 0) d.files.push(`${file}: D ${D}, changed-line mutants ${now.length}, run ${status.size} (${unrun} not run, counted survived): K' ${k} of V' ${v}`);
}
for (const [dir, d] of dirs) {
  const s = sums[dir];
  if (!s) continue;
  console.log(`${dir}: rows K ${s.killed} of V ${s.valid}; D ${d.D}; changed lines K' ${d.k} of V' ${d.v} (${d.covered} of ${d.since} mutants measured)`);
  for (const f of d.files) console.log(`  ${f}`);
  if (d.missing.length > 0) console.log(`  no figure: the row commits of ${d.missing.length} files are not in this clone's history: ${d.missing.join(', ')}`);
  else if (d.covered < d.since) console.log(`  no figure: ${d.since - d.covered} changed-line mutants unmeasured at HEAD's source`);
  else {
    const K = s.killed - d.D + d.k, V = s.valid - d.D + d.v;
    console.log(`  lower bound ${K} / ${V} = ${((100 * K) / V).toFixed(1)} %`);
  }
}
if (stale.length) console.log(`stale or unmeasured:\n  ${stale.join('\n  ')}`);
if (writePath !== undefined) fs.writeFileSync(writePath, JSON.stringify({ files: summary }).replace(/\},\{"key"/g, '},\n{"key"') + '\n');
