/**
 * A fuzz run: seeded random operations on one configuration, each cross-checked against the
 * reference model. A disagreement is recorded and the run goes on; an exception from the engine
 * (its own invariant checks included) is recorded and the run continues on a fresh machine, so
 * one bug does not hide the next. Progress is reported through a callback and the run stops early
 * when `shouldStop` says so (Ctrl-C in the CLI).
 */
import { fuzzConfig, type FuzzConfigName } from './fuzz-config';
import { FuzzMachine, type OutcomeCounts } from './fuzz-machine';
import { Rng, opText, randomOp } from './fuzz-ops';
import { checkInt, checkLimit, checkObject, refuse } from '../validate/checks';

/**
 * Most operations one run may be asked for. `runFuzz` is synchronous: a count of 10^12 would hold
 * the thread for days. Long runs go through the CLI (`npm run fuzz`), one run per configuration,
 * which reports progress and stops on Ctrl-C.
 */
export const MAX_FUZZ_OPS = 100_000_000;

export interface FuzzViolation {
  config: FuzzConfigName;
  seed: number;
  /** Index of the operation in the run (0-based) and of the machine it ran on. */
  op: number;
  machine: number;
  text: string;
  detail: string;
}

export interface FuzzSummary {
  config: FuzzConfigName;
  seed: number;
  ops: number;
  violations: number;
  /** The first violations (at most `keep`). */
  first: FuzzViolation[];
  outcomes: OutcomeCounts;
  /** Operations by type. */
  opCounts: Record<string, number>;
}

export interface FuzzOptions {
  config: FuzzConfigName;
  seed: number;
  ops: number;
  /** Violations kept in the summary (all are counted). Default 20. */
  keep?: number;
  /** Called every `progressEvery` ops (default 1000). */
  onProgress?: (s: FuzzSummary) => void;
  progressEvery?: number;
  shouldStop?: () => boolean;
}

function optFunction(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function') refuse(name, 'function-type', 'must be a function', v);
}

/** Every option checked before the run builds its first machine. */
function checkFuzzOptions(o: FuzzOptions): void {
  checkObject('options', o);
  fuzzConfig(o.config);
  checkInt('options.seed', o.seed);
  checkInt('options.ops', o.ops);
  checkLimit('options.ops', o.ops, MAX_FUZZ_OPS, 'operations');
  if (o.keep !== undefined) checkInt('options.keep', o.keep);
  if (o.progressEvery !== undefined) checkInt('options.progressEvery', o.progressEvery, { min: 1 });
  optFunction('options.onProgress', o.onProgress);
  optFunction('options.shouldStop', o.shouldStop);
}

/** Seed of the machine a run starts after its `k`-th failure. */
function machineSeed(seed: number, k: number): number {
  return (seed + Math.imul(k, 0x9e37_79b9)) >>> 0;
}

/** A run that can be advanced in steps (the CLI yields to the event loop between them, for Ctrl-C). */
export class FuzzRun {
  readonly summary: FuzzSummary;
  private readonly o: FuzzOptions;
  private k = 0;
  private m: FuzzMachine;
  private rng: Rng;

  constructor(o: FuzzOptions) {
    checkFuzzOptions(o);
    this.o = o;
    this.summary = { config: o.config, seed: o.seed, ops: 0, violations: 0, first: [], outcomes: {}, opCounts: {} };
    this.m = new FuzzMachine(fuzzConfig(o.config), machineSeed(o.seed, 0));
    this.rng = new Rng(machineSeed(o.seed, 0));
  }

  get done(): boolean {
    return this.summary.ops >= this.o.ops;
  }

  private record(text: string, detail: string): void {
    const sum = this.summary;
    sum.violations++;
    if (sum.first.length < (this.o.keep ?? 20)) sum.first.push({ config: this.o.config, seed: this.o.seed, op: sum.ops, machine: this.k, text, detail });
  }

  /** Run up to `n` more operations (never past `ops`). */
  step(n: number): void {
    checkInt('n', n);
    checkLimit('n', n, MAX_FUZZ_OPS, 'operations');
    const sum = this.summary;
    const every = this.o.progressEvery ?? 1000;
    for (let i = 0; i < n && sum.ops < this.o.ops; i++) {
      const op = randomOp(this.rng, this.m.view(), (s) => this.m.pointer(s));
      sum.opCounts[op.t] = (sum.opCounts[op.t] ?? 0) + 1;
      try {
        const bad = this.m.apply(op);
        if (bad !== undefined) this.record(opText(op), bad);
      } catch (e) {
        const err = e as Error;
        this.record(opText(op), `${err.name}: ${err.message}`);
        mergeInto(sum.outcomes, this.m.outcomes);
        this.k++;
        this.m = new FuzzMachine(fuzzConfig(this.o.config), machineSeed(this.o.seed, this.k));
        this.rng = new Rng(machineSeed(this.o.seed, this.k));
      }
      sum.ops++;
      if (sum.ops % every === 0) this.o.onProgress?.(this.snapshot());
    }
  }

  /** The summary with the current machine's outcomes counted. */
  snapshot(): FuzzSummary {
    const outcomes = { ...this.summary.outcomes };
    mergeInto(outcomes, this.m.outcomes);
    return { ...this.summary, outcomes };
  }
}

function mergeInto(to: OutcomeCounts, from: OutcomeCounts): void {
  for (const [key, n] of Object.entries(from)) to[key] = (to[key] ?? 0) + n;
}

/** A whole run, synchronously (tests). */
export function runFuzz(o: FuzzOptions): FuzzSummary {
  const run = new FuzzRun(o);
  while (!run.done && !(o.shouldStop?.() ?? false)) run.step(100);
  return run.snapshot();
}
