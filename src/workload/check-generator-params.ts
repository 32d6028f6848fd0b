/**
 * The generators' parameter checks: counts are safe integers in range, fractions in [0, 1], a
 * seed a safe integer, and the trace a generator would build is at most MAX_TRACE_OPS ops (it is
 * built whole, so 10^9 accesses would exhaust memory before anything could refuse them).
 */
import { LimitExceededError } from '../errors';
import { checkBool, checkEnum, checkInt, checkNumber, checkObject, refuse } from '../validate/checks';
import { MAX_PAGES_PER_TRACE_OP, MAX_TRACE_OPS } from './trace';

export function checkParams<T extends object>(p: unknown): T {
  return checkObject<T>('p', p);
}

/** A count (pages, accesses, rounds, …): an integer in [min, MAX_TRACE_OPS]. */
export function count(name: string, v: unknown, min = 0): number {
  return checkInt(`p.${name}`, v, { min, max: MAX_TRACE_OPS });
}

/** A page count: an integer in [min, MAX_PAGES_PER_TRACE_OP] (the set-up maps them in one op). */
export function pageCount(name: string, v: unknown, min = 1): number {
  return checkInt(`p.${name}`, v, { min, max: MAX_PAGES_PER_TRACE_OP });
}

export function optCount(name: string, v: unknown, dflt: number): number {
  return v === undefined ? dflt : count(name, v);
}

/** A fraction in [0, max]. */
export function fraction(name: string, v: unknown, dflt: number, max = 1): number {
  return v === undefined ? dflt : checkNumber(`p.${name}`, v, 0, max);
}

export function seedOf(v: unknown, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  return checkInt('p.seed', v, { min: Number.MIN_SAFE_INTEGER });
}

export function optFlag(name: string, v: unknown, dflt: boolean): boolean {
  return v === undefined ? dflt : checkBool(`p.${name}`, v);
}

export function optChoice<T extends string>(name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  return v === undefined ? dflt : checkEnum(`p.${name}`, v, allowed);
}

/** The ops the generator would build, checked before it builds any. */
export function checkOpCount(ops: number, p: object): void {
  if (ops > MAX_TRACE_OPS) {
    refuse('p', 'trace-ops-limit', `would generate ${ops} ops, above the limit of ${MAX_TRACE_OPS} per trace`, p, LimitExceededError);
  }
}
