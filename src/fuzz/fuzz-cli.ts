/**
 * `npm run fuzz -- --ops N --config C --seed S`: N random operations on configuration C (or on
 * each of them, C = all), from seed S. Prints progress to stderr, then per configuration the
 * operations run and the violations (the first ones in full); exits 1 if any. Ctrl-C stops the
 * run and prints the summary of what ran.
 */
import { FUZZ_CONFIGS, type FuzzConfigName } from './fuzz-config';
import { FuzzRun, type FuzzSummary } from './fuzz-run';
import { InvalidArgumentError } from '../errors';

interface CliArgs {
  ops: number;
  configs: FuzzConfigName[];
  seed: number;
  progressEvery: number;
}

export function parseFuzzArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { ops: 10_000, configs: [...FUZZ_CONFIGS], seed: 1, progressEvery: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const num = (name: string): number => {
      const n = Number(v);
      if (v === undefined || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`fuzz-${name}`, `--${name} takes a non-negative integer`, String(v));
      i++;
      return n;
    };
    if (a === '--ops') out.ops = num('ops');
    else if (a === '--seed') out.seed = num('seed');
    else if (a === '--progress-every') out.progressEvery = Math.max(1, num('progress-every'));
    else if (a === '--config') {
      i++;
      if (v === 'all') out.configs = [...FUZZ_CONFIGS];
      else {
        const names = (v ?? '').split(',');
        for (const n of names) if (!(FUZZ_CONFIGS as readonly string[]).includes(n)) throw new InvalidArgumentError('fuzz-config', `--config is all or a comma-separated list of ${FUZZ_CONFIGS.join(', ')}`, String(v));
        out.configs = names as FuzzConfigName[];
      }
    } else throw new InvalidArgumentError('fuzz-argument', 'arguments are --ops N, --config C, --seed S, --progress-every N', a);
  }
  return out;
}

const KVM_OUTCOMES = ['stale-translation', 'mmio-spte-resynced', 'mmio-stale-spte-read-walk'] as const;

export function summaryLines(sums: readonly FuzzSummary[]): string[] {
  const lines = sums.map((s) => `${s.config.padEnd(14)} seed ${s.seed}  ops ${s.ops}  violations ${s.violations}`);
  const total = sums.reduce((n, s) => n + s.ops, 0);
  const bad = sums.reduce((n, s) => n + s.violations, 0);
  lines.push(`total          ops ${total}  violations ${bad}`);
  // Outcomes the reference accepted only as KVM's own (fuzz-machine.ts: access), per configuration.
  for (const s of sums) {
    const kept = KVM_OUTCOMES.filter((k) => (s.outcomes[k] ?? 0) > 0).map((k) => `${k} ${s.outcomes[k]}`);
    if (kept.length > 0) lines.push(`  ${s.config} accepted as KVM's: ${kept.join(', ')}`);
  }
  for (const s of sums) for (const v of s.first) lines.push(`  ${v.config} seed ${v.seed} op ${v.op} (machine ${v.machine}): ${v.text}\n    ${v.detail}`);
  return lines;
}

async function main(): Promise<void> {
  const args = parseFuzzArgs(process.argv.slice(2));
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
  });
  const shown = new Map<string, number>();
  const runs = args.configs.map((config) => new FuzzRun({
    config, seed: args.seed, ops: args.ops, progressEvery: args.progressEvery,
    onProgress: (s) => {
      process.stderr.write(`[${s.config}] ${s.ops}/${args.ops} ops, ${s.violations} violations\n`);
      // Violations as they come (the kept ones), so a long run shows them before it ends.
      for (const v of s.first.slice(shown.get(s.config) ?? 0)) process.stderr.write(`  op ${v.op} (machine ${v.machine}): ${v.text}\n    ${v.detail}\n`);
      shown.set(s.config, s.first.length);
    },
  }));
  // Round-robin in small steps: every configuration advances, and Ctrl-C is seen between steps.
  while (!stop && runs.some((r) => !r.done)) {
    for (const r of runs) if (!r.done && !stop) r.step(200);
    await new Promise((res) => setImmediate(res));
  }
  if (stop) process.stdout.write('interrupted\n');
  const sums = runs.map((r) => r.snapshot());
  process.stdout.write(summaryLines(sums).join('\n') + '\n');
  process.exitCode = sums.some((s) => s.violations > 0) ? 1 : stop ? 130 : 0;
}

if (require.main === module) void main();
