/** A malformed trace is a typed error naming the op and the rule, before anything runs. */
import { InvalidArgumentError } from '../errors';
import { TRACE_VA_LIMIT, type Trace } from './trace';

export class TraceError extends InvalidArgumentError {}

function fail(i: number, rule: string, msg: string, value: unknown): never {
  throw new TraceError(rule, `trace op ${i}: ${msg}`, typeof value === 'string' ? value : JSON.stringify(value));
}

function addr(i: number, what: string, v: unknown, limit: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= limit) fail(i, `trace-${what}`, `${what} must be an integer in [0, 0x${limit.toString(16)})`, v);
}

export function validateTrace(t: unknown): Trace {
  const tr = t as Partial<Trace> | null;
  if (typeof tr !== 'object' || tr === null) throw new TraceError('trace-object', 'a trace is an object', String(t));
  if (typeof tr.name !== 'string') throw new TraceError('trace-name', 'a trace needs a name', String(tr.name));
  if (!Number.isSafeInteger(tr.spaces) || tr.spaces! < 1 || tr.spaces! > 64) throw new TraceError('trace-spaces', 'spaces must be 1..64', String(tr.spaces));
  if (!Number.isSafeInteger(tr.memory) || tr.memory! <= 0 || tr.memory! % 0x20_0000 !== 0) throw new TraceError('trace-memory', 'memory must be a positive multiple of 2 MiB', String(tr.memory));
  if (!Array.isArray(tr.ops)) throw new TraceError('trace-ops', 'ops must be an array', String(tr.ops));
  const mem = tr.memory!;
  tr.ops.forEach((op, i) => {
    if (typeof op !== 'object' || op === null) fail(i, 'trace-op', 'an op is an object', op);
    const n = (op as { n?: unknown }).n;
    if (n !== undefined && (!Number.isSafeInteger(n) || (n as number) < 1)) fail(i, 'trace-count', 'n must be a positive integer', op);
    switch (op.t) {
      case 'r': case 'w': case 'x':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
        break;
      case 'map':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
        addr(i, 'pa', op.pa, mem);
        if (op.va % 4096 || op.pa % 4096) fail(i, 'trace-alignment', 'map addresses must be 4 KiB aligned', op);
        if (op.pa + (op.n ?? 1) * 4096 > mem) fail(i, 'trace-pa-range', 'the mapped range ends beyond the trace memory', op);
        break;
      case 'unmap': case 'wp':
        addr(i, 'va', op.va, TRACE_VA_LIMIT);
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
        if (op.to !== 'private' && op.to !== 'shared') fail(i, 'trace-convert', "to must be 'private' or 'shared'", op);
        break;
      default:
        fail(i, 'trace-op-kind', 'unknown op kind', op);
    }
  });
  return tr as Trace;
}
