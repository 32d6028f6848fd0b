/**
 * Running a trace: `createRun(config, trace)` validates both (typed errors, nothing built), then
 * `step(n)` runs the next n ops, so a long trace can run in chunks (and a notebook can show
 * progress). The counters after the last op do not depend on how the trace was chunked.
 */
import type { ConfigName, ConfigSpec, ResolvedConfig } from './run-config';
import { configLabel, resolveConfig } from './run-config';
import { ConfigurationError } from './config-error';
import { validateTrace } from './validate-trace';
import type { Trace } from './trace';
import { TraceMachine } from './trace-machine';
import { refsModel } from './memory-refs';
import { buildResult, type SeriesPoint, type TraceResult, type RunTally } from './trace-result';
import { InvalidArgumentError } from '../errors';
import { checkSignal, optObject, refuse, throwIfAborted } from '../validate/checks';
import { describeValue } from '../validate/describe-value';

export interface RunOptions {
  /** Sample the cumulative-fault series every K ops (default: about 100 samples per trace). */
  sampleEvery?: number;
  /** Stop a long run: checked every 1024 ops; an aborted run throws OperationAbortedError (ops run so far stay run). */
  signal?: AbortSignal;
  /** Called at every sample with (ops done, ops in the trace). */
  onProgress?: (done: number, total: number) => void;
}

export class TraceRun {
  readonly config: ResolvedConfig;
  readonly label: string;
  readonly trace: Trace;
  readonly machine: TraceMachine;
  private next = 0;
  private readonly every: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onProgress: ((done: number, total: number) => void) | undefined;
  private readonly tally: RunTally = { accesses: 0, ok: 0, guestPf: 0, emulated: 0, l1Exit: 0, memoryFault: 0, l1Intercepts: 0, refsSum: 0, refsCount: 0 };
  private readonly series: SeriesPoint[] = [];

  constructor(spec: ConfigName | ConfigSpec, trace: unknown, opts: RunOptions = {}) {
    optObject('options', opts);
    const signal = checkSignal('options.signal', opts.signal);
    if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') refuse('options.onProgress', 'function-type', 'must be a function', opts.onProgress);
    const config = resolveConfig(spec);
    const t = validateTrace(trace);
    if (!config.td && t.ops.some((o) => o.t === 'convert')) {
      throw new ConfigurationError('convert-needs-td', `trace "${t.name}" converts pages between private and shared: only a TD can run it`, configLabel(spec));
    }
    const every = opts.sampleEvery ?? Math.max(1, Math.ceil(t.ops.length / 100));
    if (!Number.isSafeInteger(every) || every < 1) throw new InvalidArgumentError('sample-every', 'options.sampleEvery is a positive integer', describeValue(opts.sampleEvery));
    this.config = config;
    this.label = configLabel(spec);
    this.trace = t;
    this.every = every;
    this.signal = signal;
    this.onProgress = opts.onProgress;
    // config is resolveConfig's and t passed validateTrace above: the machine does not check them again.
    this.machine = TraceMachine.createUnchecked(config, t);
  }

  get done(): boolean {
    return this.next >= this.trace.ops.length;
  }

  get position(): number {
    return this.next;
  }

  /** Run up to n more ops; returns true when the trace is finished. */
  step(n = Infinity): boolean {
    if (typeof n !== 'number' || !(n >= 0) || (n !== Infinity && !Number.isInteger(n))) throw new InvalidArgumentError('step-count', 'step(n) needs an integer n >= 0 (or Infinity)', describeValue(n));
    const end = Math.min(this.trace.ops.length, this.next + n);
    const m = this.machine;
    const t = this.tally;
    const measure = this.config.level !== 'nested-ept';
    while (this.next < end) {
      if ((this.next & 1023) === 0) throwIfAborted(this.signal, `the run of trace "${this.trace.name}"`, this.next);
      const op = this.trace.ops[this.next]!;
      switch (op.t) {
        case 'r': case 'w': case 'x': {
          t.accesses++;
          const r = m.accessUnchecked(op.t, op.va, op.u ?? false);
          if (r.status === 'ok') {
            t.ok++;
            if (measure) {
              t.refsSum += refsModel(m, r);
              t.refsCount++;
            }
          } else if (r.status === 'guest-pf') {
            t.guestPf++;
            // L2 shadowed by L1: L1 intercepts L2's #PF (its shadow tables lack the entry).
            if (this.config.level === 'nested-shadow') t.l1Intercepts++;
          } else if (r.status === 'emulated') t.emulated++;
          else if (r.status === 'memory-fault') t.memoryFault++;
          else t.l1Exit++;
          break;
        }
        case 'map': m.mapUnchecked(op.va, op.pa, op.n ?? 1, op.w ?? false, op.u ?? false, op.s ?? false); break;
        case 'unmap': m.unmapUnchecked(op.va, op.n ?? 1); break;
        case 'wp': m.wpUnchecked(op.va, op.n ?? 1); break;
        case 'cr3': m.cr3(op.as); if (this.config.level === 'nested-shadow') t.l1Intercepts++; break;
        case 'invlpg': m.invlpg(op.va); if (this.config.level === 'nested-shadow') t.l1Intercepts++; break;
        case 'flush': m.flush(); if (this.config.level === 'nested-shadow') t.l1Intercepts++; break;
        case 'convert': m.convert(op.gpa, op.n ?? 1, op.to); break; // TDs only: others are rejected above
        case 'nxrecover': m.nxRecover(op.ratio); break;
      }
      this.next++;
      if (this.next % this.every === 0 || this.next === this.trace.ops.length) this.sample();
    }
    return this.done;
  }

  private sample(): void {
    const s = this.machine.vcpu.stats;
    this.series.push({ op: this.next, accesses: this.tally.accesses, kvmFaults: s.get('pf_taken'), guestFaults: this.tally.guestPf, exits: s.get('exits') });
    this.onProgress?.(this.next, this.trace.ops.length);
  }

  /** The result so far (complete once `done`). */
  result(): TraceResult {
    return buildResult(this.label, this.config, this.trace, this.machine, this.tally, this.series);
  }
}

export function createRun(config: ConfigName | ConfigSpec, trace: unknown, opts?: RunOptions): TraceRun {
  return new TraceRun(config, trace, opts);
}

export function runTrace(config: ConfigName | ConfigSpec, trace: unknown, opts?: RunOptions): TraceResult {
  const run = createRun(config, trace, opts);
  run.step();
  return run.result();
}
