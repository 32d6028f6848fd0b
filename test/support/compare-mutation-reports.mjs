#!/usr/bin/env node
// Compares two Stryker JSON reports (reports/mutation/mutation.json) mutant by mutant:
//   node test/support/compare-mutation-reports.mjs A.json B.json
// A mutant is keyed by file, mutator, location and replacement (not by id, so reports of the same
// sources instrumented in another order still match). Prints every mutant whose status differs or
// that only one report has, then per-report totals; exits 1 if any mutant differs. Used to check
// that the reused worker (the default) gives the statuses of a fresh thread per mutant
// (MUTATE_REUSE_WORKER=0); README, "Mutation testing".
import { readFileSync } from 'node:fs';

const [pathA, pathB] = process.argv.slice(2);
if (pathA === undefined || pathB === undefined) {
  process.stderr.write('usage: compare-mutation-reports.mjs A.json B.json\n');
  process.exit(2);
}

function mutants(path) {
  const report = JSON.parse(readFileSync(path, 'utf8'));
  const byKey = new Map();
  for (const [file, { mutants: list }] of Object.entries(report.files)) {
    for (const m of list) {
      const { start, end } = m.location;
      const key = `${file}:${start.line}:${start.column}-${end.line}:${end.column} ${m.mutatorName} → ${JSON.stringify(m.replacement ?? '')}`;
      if (byKey.has(key)) throw new Error(`${path}: two mutants with key ${key}`);
      byKey.set(key, m);
    }
  }
  return byKey;
}

function totals(byKey) {
  const t = {};
  for (const m of byKey.values()) t[m.status] = (t[m.status] ?? 0) + 1;
  return Object.entries(t).sort(([a], [b]) => (a < b ? -1 : 1)).map(([s, n]) => `${s} ${n}`).join(', ');
}

const a = mutants(pathA);
const b = mutants(pathB);
let differ = 0;
for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
  const ma = a.get(key);
  const mb = b.get(key);
  if (ma?.status === mb?.status) continue;
  differ++;
  const show = (m) => (m === undefined ? '(absent)' : `${m.status} (id ${m.id}, ${m.testsCompleted ?? '?'} tests)`);
  process.stdout.write(`${key}\n  A: ${show(ma)}\n  B: ${show(mb)}\n`);
}
process.stdout.write(`A ${pathA}: ${a.size} mutants: ${totals(a)}\nB ${pathB}: ${b.size} mutants: ${totals(b)}\n`);
process.stdout.write(differ === 0 ? 'same status for every mutant\n' : `${differ} mutant(s) differ\n`);
process.exit(differ === 0 ? 0 : 1);
