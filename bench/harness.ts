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

/**
 * `BENCH_CLOCK=cpu npm run bench`: time the walk and TLB figures on the process's CPU clock (the
 * C walker then on its thread's CPU clock) instead of the wall clock. On a machine shared with
 * other work the wall clock also counts the time other processes held the core; CPU time does not.
 */
export const CPU_CLOCK = process.env.BENCH_CLOCK === 'cpu';

/** Nanoseconds on the bench clock (wall, or this process's user + system CPU time). */
export function clockNs(): number {
  if (!CPU_CLOCK) return Number(process.hrtime.bigint());
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Run `body(n)` for `rounds` rounds of n operations; returns median ns per operation. */
export function nsPerOp(n: number, rounds: number, body: (n: number) => void): number {
  body(Math.min(n, 100_000)); // warm-up: let the JIT settle
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = clockNs();
    body(n);
    per.push((clockNs() - t0) / n);
  }
  return median(per);
}

/** Medians of a paired measurement: `a` and `b` per operation, and of b/a round by round. */
export interface Paired {
  a: number;
  b: number;
  ratio: number;
}

/**
 * Time `a(na)` and `b(nb)` in alternate rounds (which one goes first alternates too), with a full
 * collection (`gc()`, under --expose-gc) before each timed body, so that neither pays for the
 * other's garbage, and one untimed round of each first (as long as a timed one: the warm-up of
 * the later body is not shorter). The ratio b/a is taken per round — both bodies ran within a
 * fraction of a second of each other, under the same load from the rest of the machine — and
 * its median reported. A body that walks tables should walk enough of them per round that the
 * tables' cache lines, which the collection and the other body's allocations evict, are refilled
 * in a small part of the round.
 */
export function pairedNsPerOp(na: number, a: (n: number) => void, nb: number, b: (n: number) => void, rounds: number): Paired {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  a(na);
  b(nb);
  const ta: number[] = [];
  const tb: number[] = [];
  const rs: number[] = [];
  const time = (body: (n: number) => void, n: number): number => {
    gc();
    const t0 = clockNs();
    body(n);
    return (clockNs() - t0) / n;
  };
  for (let r = 0; r < rounds; r++) {
    let x: number;
    let y: number;
    if (r % 2 === 0) {
      x = time(a, na);
      y = time(b, nb);
    } else {
      y = time(b, nb);
      x = time(a, na);
    }
    ta.push(x);
    tb.push(y);
    rs.push(y / x);
  }
  return { a: median(ta), b: median(tb), ratio: median(rs) };
}

export function report(results: BenchResult[]): void {
  const w = Math.max(...results.map((r) => r.name.length));
  console.log(`${'benchmark'.padEnd(w)}  ${'value'.padStart(12)}  unit  (clock: ${CPU_CLOCK ? 'CPU time, BENCH_CLOCK=cpu' : 'wall'})`);
  for (const r of results) {
    console.log(`${r.name.padEnd(w)}  ${r.value.toFixed(r.value < 100 ? 2 : 0).padStart(12)}  ${r.unit}${r.note ? `  (${r.note})` : ''}`);
  }
  for (const r of results) console.log(JSON.stringify({ name: r.name, value: Number(r.value.toFixed(3)), unit: r.unit }));
}
