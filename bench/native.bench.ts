/**
 * The native reference walker (bench/c/walk.c), compiled with the system's C compiler when there
 * is one, run before, between and after the TypeScript walk benchmarks so both sides see the same
 * machine; the median of the three C runs is compared with the TypeScript figures of the same
 * `npm run bench`, and the ratios issue 13 sets targets for are printed. The raw walks' TypeScript/C
 * ratios are paired round by round (nativePairing): on a machine shared with other work the load
 * changes within seconds, and three C runs minutes apart from the TypeScript rounds gave ratios
 * from 1.4 to 5 for the same code.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CPU_CLOCK, clockNs, median, type BenchResult } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'bench', 'c', 'walk.c');
const BIN = path.join(ROOT, 'dist-bench', 'walk-c');

/** Compile once per run; undefined (with a notice) when there is no C compiler. */
export function buildNativeWalker(): string | undefined {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (!cc) continue;
    const r = spawnSync(cc, ['-O2', '-o', BIN, SRC], { encoding: 'utf8' });
    if (r.status === 0) return BIN;
    if (r.error === undefined) {
      console.error(`native walker: ${cc} failed:\n${r.stderr}`);
      return undefined;
    }
  }
  console.error('native walker: no C compiler (set CC); skipping the native comparison');
  return undefined;
}

/** One run of the C walker: its figures by name. */
export function runNativeWalker(bin: string): Map<string, number> {
  const r = spawnSync(bin, CPU_CLOCK ? ['cpu'] : [], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`native walker failed: ${r.stderr}`);
  const m = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const o = JSON.parse(line) as { name: string; value: number };
    m.set(o.name, o.value);
  }
  return m;
}

/**
 * The C figure `walk-c round <kind>` prints: one round of N walks after the warm pass. 'gva-lanes':
 * the gva walks 8 at a time level by level (walk.c: walk4_lanes), the algorithm of walkRawBatch's
 * loop (walk-batch-lanes.ts), so that the batch is also compared with C doing what it does.
 */
export type NativeKind = 'gva' | 'gva-lanes' | '2d';

const C_NAMES: Record<NativeKind, string> = {
  gva: 'c.gva_walk.4level.random4k',
  'gva-lanes': 'c.gva_walk.4level.random4k.lanes',
  '2d': 'c.walk2d.4x4.random4k',
};

/** A TypeScript round body (n walks, as the raw benches time) paired with C rounds of the same walks. */
/** `label`: a second body of the same kind (its figure is named `<walk>.<label>.paired_ts_over_c`). */
export type NativePairing = (kind: NativeKind, body: (n: number) => void, n: number, label?: string) => BenchResult[];

const PAIRED_ROUNDS = 9;

/**
 * Pair each timed TypeScript round (`body(n)`, n walks) with one C round of the same walks in a
 * process started right before or after it (which goes first alternates), and take the median of
 * the per-round ratios TypeScript/C: each ratio then compares walks timed within about a second of
 * each other, under the same load from the rest of the machine (harness.ts: pairedNsPerOp does
 * the same for the record/raw ratios). Both sides time a round right after an untimed pass of the
 * same walks: the C process builds its tables and makes that pass before its timed round, and
 * without the same pass the TypeScript round, coming after the C process had filled the caches
 * with its own tables, was the only cold one (87 against 70 ns/walk in the unpaired rounds).
 */
export function nativePairing(bin: string): NativePairing {
  return (kind, body, n, label) => {
    const cName = C_NAMES[kind];
    const tsName = (kind === '2d' ? 'walk2d.4x4.random4k' : 'gva_walk.4level.random4k') + (label === undefined ? '' : `.${label}`);
    const figure = kind === 'gva-lanes' ? 'paired_ts_over_c_lanes' : 'paired_ts_over_c';
    const cRound = (): number => {
      const r = spawnSync(bin, [...(CPU_CLOCK ? ['cpu'] : []), 'round', kind], { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`native walker round ${kind} failed (${r.status ?? r.signal}): ${r.stderr}`);
      const o = JSON.parse(r.stdout.trim()) as { name: string; value: number };
      if (o.name !== cName) throw new Error(`native walker round ${kind}: expected ${cName}, got ${o.name}`);
      return o.value;
    };
    const tsRound = (): number => {
      body(n); // the warm pass the C process makes before its timed round (see above)
      const t0 = clockNs();
      body(n);
      return (clockNs() - t0) / n;
    };
    body(Math.min(n, 100_000)); // as nsPerOp: the JIT settles before the first timed round
    const ts: number[] = [];
    const c: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < PAIRED_ROUNDS; r++) {
      let t: number;
      let x: number;
      if (r % 2 === 0) {
        t = tsRound();
        x = cRound();
      } else {
        x = cRound();
        t = tsRound();
      }
      ts.push(t);
      c.push(x);
      ratios.push(t / x);
    }
    const note = `median of ${PAIRED_ROUNDS} rounds' TypeScript/C (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}), each a TypeScript round of ${n} raw walks next to a C process timing one round of the same walks (TypeScript ${median(ts).toFixed(1)}, C ${median(c).toFixed(1)} ns/walk in those rounds)`;
    return [{ name: `${tsName}.${figure}`, value: median(ratios), unit: 'x', note }];
  };
}

/** Medians of the C runs, then TypeScript/C and record/raw ratios against issue 13's targets. */
export function nativeComparison(cRuns: Map<string, number>[], ts: BenchResult[]): BenchResult[] {
  const out: BenchResult[] = [];
  const c = (name: string) => median(cRuns.map((r) => r.get(name)!));
  const t = (name: string) => ts.find((r) => r.name === name)?.value;
  for (const name of cRuns[0]!.keys()) out.push({ name, value: c(name), unit: 'ns/walk', note: `native C (-O2), median of ${cRuns.length} runs interleaved with the TypeScript walks` });
  const ratio = (name: string, a: number | undefined, b: number, target: string) => {
    if (a !== undefined) out.push({ name, value: a / b, unit: 'x', note: target });
  };
  // The raw walks' ratios from the paired rounds (nativePairing) when the group ran them.
  const paired = (name: string, pairedName: string, unpaired: number | undefined, cName: string, target: string) => {
    const p = t(pairedName);
    if (p !== undefined) out.push({ name, value: p, unit: 'x', note: `${target}; median of paired rounds (${pairedName})` });
    else ratio(name, unpaired, c(cName), target);
  };
  paired('ratio.gva_walk.ts_over_c', 'gva_walk.4level.random4k.paired_ts_over_c', t('gva_walk.4level.random4k.raw'), 'c.gva_walk.4level.random4k', 'raw 4-level walk, TypeScript / C; target ≤ 1.5');
  paired('ratio.gva_walk.batch.ts_over_c', 'gva_walk.4level.random4k.batch.paired_ts_over_c', t('gva_walk.4level.random4k.batch'), 'c.gva_walk.4level.random4k', 'walkRawBatch 4-level walks (one call per 4096 walks, outputs read back), TypeScript / C; the walkRaw line above is one call per walk');
  const lanes = t('gva_walk.4level.random4k.batch.paired_ts_over_c_lanes');
  if (lanes !== undefined) out.push({ name: 'ratio.gva_walk.batch.ts_over_c_lanes', value: lanes, unit: 'x', note: 'walkRawBatch against C walking the same walks 8 at a time level by level (walk.c: walk4_lanes), the same algorithm; median of paired rounds' });
  paired('ratio.walk2d.ts_over_c', 'walk2d.4x4.random4k.paired_ts_over_c', t('walk2d.4x4.random4k.raw'), 'c.walk2d.4x4.random4k', 'raw 2D walk, TypeScript / C; target ≤ 2');
  // walk.bench.ts and walk2d.bench.ts time the record walk in rounds alternating with rounds of the
  // raw walk and give the median of their per-round ratios.
  const recOverRaw = t('gva_walk.4level.random4k.record_over_raw');
  if (recOverRaw !== undefined) out.push({ name: 'ratio.gva_walk.record_over_raw', value: recOverRaw, unit: 'x', note: 'walk() record / walkRaw, median of per-round ratios; target ≤ 3' });
  const recOverRaw2 = t('walk2d.4x4.random4k.record_over_raw');
  if (recOverRaw2 !== undefined) out.push({ name: 'ratio.walk2d.record_over_raw', value: recOverRaw2, unit: 'x', note: 'Walk2D walk() record / walkRaw, median of per-round ratios; target ≤ 3' });
  return out;
}
