/**
 * The native reference walker (bench/c/walk.c), compiled with the system's C compiler when there
 * is one, run before, between and after the TypeScript walk benchmarks so both sides see the same
 * machine; the median of the three C runs is compared with the TypeScript figures of the same
 * `npm run bench`, and the ratios issue 13 sets targets for are printed.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CPU_CLOCK, median, type BenchResult } from './harness';

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

/** Medians of the C runs, then TypeScript/C and record/raw ratios against issue 13's targets. */
export function nativeComparison(cRuns: Map<string, number>[], ts: BenchResult[]): BenchResult[] {
  const out: BenchResult[] = [];
  const c = (name: string) => median(cRuns.map((r) => r.get(name)!));
  const t = (name: string) => ts.find((r) => r.name === name)?.value;
  for (const name of cRuns[0]!.keys()) out.push({ name, value: c(name), unit: 'ns/walk', note: `native C (-O2), median of ${cRuns.length} runs interleaved with the TypeScript walks` });
  const ratio = (name: string, a: number | undefined, b: number, target: string) => {
    if (a !== undefined) out.push({ name, value: a / b, unit: 'x', note: target });
  };
  ratio('ratio.gva_walk.ts_over_c', t('gva_walk.4level.random4k.raw'), c('c.gva_walk.4level.random4k'), 'raw 4-level walk, TypeScript / C; target ≤ 1.5');
  ratio('ratio.gva_walk.batch.ts_over_c', t('gva_walk.4level.random4k.batch'), c('c.gva_walk.4level.random4k'), 'walkRawBatch 4-level walks, TypeScript / C (the raw walk\'s ratio is the line above)');
  ratio('ratio.walk2d.ts_over_c', t('walk2d.4x4.random4k.raw'), c('c.walk2d.4x4.random4k'), 'raw 2D walk, TypeScript / C; target ≤ 2');
  // walk.bench.ts and walk2d.bench.ts time the record walk in rounds alternating with rounds of the
  // raw walk and give the median of their per-round ratios.
  const recOverRaw = t('gva_walk.4level.random4k.record_over_raw');
  if (recOverRaw !== undefined) out.push({ name: 'ratio.gva_walk.record_over_raw', value: recOverRaw, unit: 'x', note: 'walk() record / walkRaw, median of per-round ratios; target ≤ 3' });
  const recOverRaw2 = t('walk2d.4x4.random4k.record_over_raw');
  if (recOverRaw2 !== undefined) out.push({ name: 'ratio.walk2d.record_over_raw', value: recOverRaw2, unit: 'x', note: 'Walk2D walk() record / walkRaw, median of per-round ratios; target ≤ 3' });
  return out;
}
