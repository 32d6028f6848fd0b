/**
 * Tiny benchmark harness: seeded inputs, warm-up, several timed rounds, median reported. Results
 * are printed as a table, then one JSON object per line: {"name", "value", "unit"}.
 */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** xorshift32: deterministic inputs for every run (the same generator the workloads use). */
export { xorshift as rng } from '../src/workload/generators';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Run `body(n)` for `rounds` rounds of n operations; returns median ns per operation. */
export function nsPerOp(n: number, rounds: number, body: (n: number) => void): number {
  body(Math.min(n, 100_000)); // warm-up: let the JIT settle
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    body(n);
    const t1 = process.hrtime.bigint();
    per.push(Number(t1 - t0) / n);
  }
  return median(per);
}

export function report(results: BenchResult[]): void {
  const w = Math.max(...results.map((r) => r.name.length));
  console.log(`${'benchmark'.padEnd(w)}  ${'value'.padStart(12)}  unit`);
  for (const r of results) {
    console.log(`${r.name.padEnd(w)}  ${r.value.toFixed(r.value < 100 ? 2 : 0).padStart(12)}  ${r.unit}${r.note ? `  (${r.note})` : ''}`);
  }
  for (const r of results) console.log(JSON.stringify({ name: r.name, value: Number(r.value.toFixed(3)), unit: r.unit }));
}
