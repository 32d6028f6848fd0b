/**
 * The validation layer at the public edge. Every public entry point checks its arguments with
 * these before it touches state, so a bad value is refused with an error of the library's own
 * hierarchy whose message names the argument, the value and the rule — never a TypeError from
 * deep inside (`Cannot mix BigInt and other types`) nor a silent truncation.
 *
 * Enumerations are matched with `Set`/`Map` membership, never a plain-object lookup: `obj[v]`
 * finds `toString` and `__proto__` on every object, which is how 'toString' used to pass as a
 * table mode or host page size.
 */
import { InvalidArgumentError, LimitExceededError, OperationAbortedError, hex, type MmulabError } from '../errors';
import { describeValue } from './describe-value';

type ErrorClass = new (rule: string, message: string, value?: string) => MmulabError;

/** Throw `cls` (default InvalidArgumentError) for argument `name`: "<name> <rule text>". */
export function refuse(name: string, rule: string, text: string, value: unknown, cls: ErrorClass = InvalidArgumentError): never {
  throw new cls(rule, `${name} ${text}`, describeValue(value));
}

export const U64_MAX = (1n << 64n) - 1n;

export interface BigintRule {
  /** Inclusive; default 0. */
  min?: bigint;
  /** Inclusive; default 2^64 - 1. */
  max?: bigint;
  /** The value must be a multiple of this (a power of two). */
  align?: bigint;
  /** Also accept a safe non-negative integer number (converted). Default false. */
  number?: boolean;
  /** Error class for an out-of-range or misaligned value (a wrong type is always InvalidArgumentError). */
  cls?: ErrorClass;
}

/** A bigint in [min, max] (default a u64), aligned when asked. Returns it. */
export function checkBigint(name: string, v: unknown, r: BigintRule = {}): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (r.number === true && typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else refuse(name, 'bigint-type', r.number === true ? 'must be a bigint or a safe integer' : 'must be a bigint', v);
  const min = r.min ?? 0n;
  const max = r.max ?? U64_MAX;
  if (b < min || b > max) refuse(name, 'bigint-range', `must be in [${hex(min)}, ${hex(max)}]`, v, r.cls);
  if (r.align !== undefined && b % r.align !== 0n) refuse(name, 'alignment', `must be a multiple of ${hex(r.align)}`, v, r.cls);
  return b;
}

export interface IntRule {
  min?: number;
  max?: number;
  cls?: ErrorClass;
}

/** A safe integer number in [min, max] (default [0, 2^53)). */
export function checkInt(name: string, v: unknown, r: IntRule = {}): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) refuse(name, 'integer-type', 'must be a safe integer number', v);
  const min = r.min ?? 0;
  const max = r.max ?? Number.MAX_SAFE_INTEGER;
  if (v < min || v > max) refuse(name, 'integer-range', `must be in [${min}, ${max}]`, v, r.cls);
  return v;
}

/** A finite number in [min, max]. */
export function checkNumber(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) refuse(name, 'number-type', 'must be a finite number', v);
  if (v < min || v > max) refuse(name, 'number-range', `must be in [${min}, ${max}]`, v);
  return v;
}

export function checkBool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') refuse(name, 'boolean-type', 'must be true or false', v);
  return v;
}

/** An optional boolean: undefined gives `dflt`. */
export function optBool(name: string, v: unknown, dflt: boolean): boolean {
  return v === undefined ? dflt : checkBool(name, v);
}

export function checkString(name: string, v: unknown): string {
  if (typeof v !== 'string') refuse(name, 'string-type', 'must be a string', v);
  return v;
}

/** One of `allowed` (own membership test, no prototype lookup). */
export function checkEnum<T extends string | number>(name: string, v: unknown, allowed: readonly T[], rule = 'enum'): T {
  if ((typeof v !== 'string' && typeof v !== 'number') || !allowed.includes(v as T)) {
    refuse(name, rule, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, v);
  }
  return v as T;
}

/** The value a Map holds for key `v` (a string key of the Map's own entries only). */
export function lookup<V>(name: string, v: unknown, map: ReadonlyMap<string, V>): V {
  const r = typeof v === 'string' ? map.get(v) : undefined;
  if (r === undefined) refuse(name, 'enum', `must be one of ${[...map.keys()].map((k) => JSON.stringify(k)).join(', ')}`, v);
  return r;
}

/** `record[key]` only when `key` is the record's own property (never `toString`, `__proto__`). */
export function ownEntry<V>(name: string, v: unknown, record: Readonly<Record<string, V>>): V {
  if (typeof v !== 'string' || !Object.prototype.hasOwnProperty.call(record, v)) {
    refuse(name, 'enum', `must be one of ${Object.keys(record).map((k) => JSON.stringify(k)).join(', ')}`, v);
  }
  return record[v]!;
}

/** A non-null, non-array object (an options bag or spec). */
export function checkObject<T extends object>(name: string, v: unknown): T {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(name, 'object-type', 'must be an object', v);
  return v as T;
}

/** An optional options bag: undefined is `{}`. */
export function optObject<T extends object>(name: string, v: unknown): Partial<T> {
  return v === undefined ? {} : checkObject<T>(name, v);
}

export function checkArray(name: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) refuse(name, 'array-type', 'must be an array', v);
  return v;
}

/** A size argument checked against a documented limit (LimitExceededError above it). */
export function checkLimit(name: string, v: number, limit: number, what: string): void {
  if (v > limit) refuse(name, 'limit', `is above the limit of ${limit} ${what} per call`, v, LimitExceededError);
}

/** An optional AbortSignal. */
export function checkSignal(name: string, v: unknown): AbortSignal | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || typeof (v as AbortSignal).aborted !== 'boolean') refuse(name, 'abort-signal', 'must be an AbortSignal', v);
  return v as AbortSignal;
}

/** Stop long work whose signal was aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, done: number): void {
  if (signal?.aborted === true) throw new OperationAbortedError('aborted', `${what} was aborted after ${done} steps`, String(done));
}

/**
 * The walkers' number API: an address as (hi, lo) 32-bit halves — hi an unsigned 32-bit integer,
 * lo a 32-bit integer signed or not (the walkers read it with `>>> 0`) — and an access bitmask
 * within `accessMask`. The whole test is a few integer compares, so a raw walk stays raw; the
 * refusal (which argument, which value) is worked out only when it fails.
 */
export function checkRawWalk(hiName: string, hi: unknown, loName: string, lo: unknown, accessName: string, access: unknown, accessMask: number): void {
  if (
    typeof hi === 'number' && typeof lo === 'number' && typeof access === 'number' &&
    hi >>> 0 === hi && (lo >>> 0 === lo || (lo | 0) === lo) && access >>> 0 === access && (access & ~accessMask) === 0
  ) return;
  if (typeof hi !== 'number' || hi >>> 0 !== hi) refuse(hiName, 'raw-address-half', 'must be the high 32 bits of an address, an integer in [0, 2^32)', hi);
  if (typeof lo !== 'number' || (lo >>> 0 !== lo && (lo | 0) !== lo)) refuse(loName, 'raw-address-half', 'must be the low 32 bits of an address, an integer in [-2^31, 2^32)', lo);
  refuse(accessName, 'raw-access', `must be an access bitmask within 0x${accessMask.toString(16)}`, access);
}

/** The typed arrays a batch API takes (their element kinds are part of the contract). */
type TypedArrayClass = Uint8ArrayConstructor | Uint32ArrayConstructor | Float64ArrayConstructor;

/**
 * A typed array of exactly the class `cls` (a subclass or another element type would be read
 * differently) with at least `minLength` elements.
 */
export function checkTypedArray<C extends TypedArrayClass>(name: string, v: unknown, cls: C, minLength: number): InstanceType<C> {
  if (!(v instanceof cls) || Object.getPrototypeOf(v) !== cls.prototype) refuse(name, 'typed-array', `must be a ${cls.name}`, v);
  const a = v as InstanceType<C>;
  if (a.length < minLength) refuse(name, 'array-length', `must have at least ${minLength} elements (has ${a.length})`, v);
  return a;
}

/** An output array `out` must not share bytes with `other`: writing it would change what is read or written there. */
export function checkNoOverlap(outName: string, out: ArrayBufferView, otherName: string, other: ArrayBufferView): void {
  if (out.buffer === other.buffer && out.byteOffset < other.byteOffset + other.byteLength && other.byteOffset < out.byteOffset + out.byteLength) {
    refuse(outName, 'array-overlap', `must not share memory with ${otherName}`, out);
  }
}
