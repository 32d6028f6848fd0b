/** A malformed trace is a typed error naming the op and the rule, before anything runs. */
import { InvalidArgumentError, LimitExceededError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { MAX_PAGES_PER_TRACE_OP, TRACE_VA_LIMIT, type Trace } from './trace';

export class TraceError extends InvalidArgumentError {}

/** JSON of an op when it has one (a bigint or a cycle has none), else a short description. */
function show(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? describeValue(value);
  } catch {
    return describeValue(value);
  }
}

function fail(i: number, rule: string, msg: string, value: unknown): never {
  throw new TraceError(rule, `trace op ${i}: ${msg}`, show(value));
}

/** The pages an op covers stay inside the VA space and below the per-op limit. */
function pages(i: number, op: { va?: unknown; n?: unknown }): void {
  const n = (op.n ?? 1) as number;
  if (n > MAX_PAGES_PER_TRACE_OP) throw new LimitExceededError('trace-count-limit', `trace op ${i}: n is above the limit of ${MAX_PAGES_PER_TRACE_OP} pages per op`, show(op));
  if (typeof op.va === 'number' && op.va + n * 4096 > TRACE_VA_LIMIT) fail(i, 'trace-va-range', `the ${n} pages from va end beyond 0x${TRACE_VA_LIMIT.toString(16)}`, op);
}

function flags(i: number, op: object, names: readonly string[]): void {
  for (const k of names) {
    const v = (op as Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== 'boolean') fail(i, 'trace-flag', `${k} must be true or false`, op);
  }
}

function addr(i: number, what: string, v: unknown, limit: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= limit) fail(i, `trace-${what}`, `${what} must be an integer in [0, 0x${limit.toString(16)})`, v);
}

export function validateTrace(t: unknown): Trace {
  const tr = t as Partial<Trace> | null;
  if (typeof tr !== 'object' || tr === null) throw new TraceError('trace-object', 'a trace is an object', String(t));
  if (typeof tr.name !== 'string') throw new TraceError('trace-name', 'trace.name must be a string', describeValue(tr.name));
  if (!Number.isSafeInteger(tr.spaces) || tr.spaces! < 1 || tr.spaces! > 64) throw new TraceError('trace-spaces', 'trace.spaces must be 1..64', describeValue(tr.spaces));
  if (!Number.isSafeInteger(tr.memory) || tr.memory! <= 0 || tr.memory! % 0x20_0000 !== 0) throw new TraceError('trace-memory', 'trace.memory must be a positive multiple of 2 MiB', describeValue(tr.memory));
  if (!Array.isArray(tr.ops)) throw new TraceError('trace-ops', 'trace.ops must be an array', describeValue(tr.ops));
  const mem = tr.memory!;
  tr.ops.forEach((op, i) => {
    if (typeof op !== 'object' || op === null) fail(i, 'trace-op', 'an op is an object', op);
    const n = (op as { n?: unknown }).n;
    if (n !== undefined && (!Number.isSafeInteger(n) || (n as number) < 1)) fail(i, 'trace-count', 'n must be a positive integer', op);
    switch (op.t) {
      case 'r': case 'w': case 'x':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
        flags(i, op, ['u']);
        break;
      case 'map':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
        addr(i, 'pa', op.pa, mem);
        pages(i, op);
        flags(i, op, ['w', 'u', 's']);
        if (op.va % 4096 || op.pa % 4096) fail(i, 'trace-alignment', 'map addresses must be 4 KiB aligned', op);
        if (op.pa + (op.n ?? 1) * 4096 > mem) fail(i, 'trace-pa-range', 'the mapped range ends beyond the trace memory', op);
        break;
      case 'unmap': case 'wp':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
        pages(i, op);
        if (op.va % 4096) fail(i, 'trace-alignment', 'addresses must be 4 KiB aligned', op);
        break;
      case 'cr3':
        if (!Number.isSafeInteger(op.as) || op.as < 0 || op.as >= tr.spaces!) fail(i, 'trace-space', `address space must be 0..${tr.spaces! - 1}`, op);
        break;
      case 'invlpg':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
        break;
      case 'flush':
        break;
      case 'nxrecover':
        // nx_huge_pages_recovery_ratio is a uint module parameter; 0 recovers nothing.
        if (op.ratio !== undefined && (!Number.isInteger(op.ratio) || op.ratio < 0 || op.ratio > 0xffff_ffff)) fail(i, 'trace-nx-ratio', 'ratio must be an integer in [0, 2^32)', op);
        break;
      case 'convert':
        addr(i, 'gpa', op.gpa, mem);
        if ((op.n ?? 1) > MAX_PAGES_PER_TRACE_OP) pages(i, op);
        if (op.gpa + (op.n ?? 1) * 4096 > mem) fail(i, 'trace-gpa-range', 'the converted range ends beyond the trace memory', op);
        if (op.to !== 'private' && op.to !== 'shared') fail(i, 'trace-convert', "to must be 'private' or 'shared'", op);
        break;
      default:
        fail(i, 'trace-op-kind', 'unknown op kind', op);
    }
  });
  return tr as Trace;
}
