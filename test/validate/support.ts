/**
 * Shared machinery of the bad-input property tests (issue 12 item 5a): arbitraries of bad values
 * of every kind, one assertion `refused` that checks (a) the error is the library's own class,
 * (b) its message names the parameter and the value, (c) the object's state fingerprint is
 * unchanged, and a tally of inputs tried and error classes seen per module.
 */
import fc from 'fast-check';
import { afterAll, expect } from 'vitest';
import { MmulabError, GuestMemory, describeValue, type Vm } from '../../src';

/** Seeded and modest: CI time stays bounded, a failure replays with the same seed. */
export const FC = { seed: 0x12_12, numRuns: 25 } as const;

/** Values no parameter of the API accepts whatever its type. */
export const junk = fc.oneof(
  fc.constant(undefined), fc.constant(null), fc.constant(NaN), fc.constant(Infinity), fc.constant(-Infinity),
  fc.constant('toString'), fc.constant('__proto__'), fc.constant('constructor'), fc.constant(Symbol('bad')),
  fc.string({ maxLength: 8 }), fc.constant([]), fc.constant({}), fc.constant(() => 1), fc.double({ noInteger: true }),
);
const nonJunkUndefined = junk.filter((v) => v !== undefined);

/** Not a u64 bigint: numbers (fractions, NaN, negative, huge), negative or >= 2^64 bigints, strings, junk. */
export function badBigint(opts: { numbersOk?: boolean; max?: bigint } = {}) {
  const max = opts.max ?? (1n << 64n) - 1n;
  const arbs = [
    fc.bigInt({ min: -(1n << 70n), max: -1n }),
    fc.bigInt({ min: max + 1n, max: max + (1n << 70n) }),
    fc.constant('0x1000'), fc.constant('4096'),
    fc.double({ noInteger: true }), fc.constant(-1), fc.constant(2 ** 60), nonJunkUndefined,
  ];
  if (opts.numbersOk !== true) arbs.push(fc.integer({ min: 0, max: 0xfff_ffff }));
  return fc.oneof(...arbs);
}

/** Not a safe integer in [min, max]. */
export function badInt(min: number, max: number) {
  return fc.oneof(
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }), fc.double({ min: max + 1, noNaN: true, max: 1e300 }).filter((v) => v > max),
    fc.double({ noInteger: true, noNaN: true }).filter((v) => Number.isFinite(v)), fc.constant(NaN), fc.constant(-1), fc.constant(2 ** 40),
    fc.bigInt({ min: BigInt(min), max: BigInt(min) + 10n }), fc.constant(String(min)), nonJunkUndefined,
  ).filter((v) => !(typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max));
}

/** Not a boolean (and not undefined). */
export const badBool = fc.oneof(fc.constant('yes'), fc.constant('true'), fc.constant(1), fc.constant(0), fc.constant(1n), nonJunkUndefined);

/** Not one of `allowed`: prototype keys first of all, near misses, other types. */
export function badEnum(allowed: readonly (string | number)[]) {
  return fc.oneof(
    fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf'),
    fc.string({ maxLength: 6 }).filter((s) => !allowed.includes(s)),
    fc.constantFrom(...allowed.map((a) => (typeof a === 'string' ? a.toUpperCase() + ' ' : a + 0.5))),
    nonJunkUndefined,
  ).filter((v) => !allowed.includes(v as string));
}

/** How a message shows a value: the library's describeValue, or hex / String for the older messages. */
function mentions(msg: string, v: unknown): boolean {
  const forms = [describeValue(v)];
  if (typeof v === 'bigint') forms.push(v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);
  if (typeof v === 'number') forms.push(String(v), Number.isInteger(v) && v >= 0 ? `0x${v.toString(16)}` : String(v));
  if (typeof v === 'string') forms.push(v.slice(0, 20), JSON.stringify(v).slice(0, 20));
  if (typeof v === 'object' && v !== null) forms.push('object', 'array', '{', '[');
  if (typeof v === 'function') forms.push('function', '=>');
  return forms.some((f) => msg.includes(f));
}

/** Inputs tried and error classes seen, printed when the file ends. */
export class Tally {
  inputs = 0;
  readonly classes = new Map<string, number>();
  constructor(readonly module: string) {
    afterAll(() => {
      const cls = [...this.classes].sort(([a], [b]) => a.localeCompare(b)).map(([c, n]) => `${c}×${n}`).join(', ');
      process.stdout.write(`[bad-input] ${this.module}: ${this.inputs} inputs refused; classes: ${cls}\n`);
    });
  }
}

export interface Refusal {
  /** The parameter the message must name (e.g. 'spec.base'). */
  param: string;
  /** The bad value the message must show (omit when the value is a whole structure). */
  value?: unknown;
  /** A state fingerprint taken before and after: must be equal. */
  state?: () => string;
}

/** What the call threw (undefined when it returned). */
function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The call must throw the library's own error naming the parameter and value, with state unchanged. */
export function refused(t: Tally, call: () => unknown, r: Refusal): void {
  const before = r.state?.();
  const err = thrown(call);
  t.inputs++;
  expect(err, `expected a refusal of ${r.param} = ${describeValue(r.value)}`).toBeInstanceOf(MmulabError);
  const e = err as MmulabError;
  t.classes.set(e.name, (t.classes.get(e.name) ?? 0) + 1);
  expect(e.message, 'the message names the parameter').toContain(r.param);
  if ('value' in r) expect(mentions(e.message, r.value), `the message "${e.message}" shows the value ${describeValue(r.value)}`).toBe(true);
  if (r.state !== undefined) expect(r.state(), 'state unchanged').toBe(before);
}

/** The call throws `cls` with `rule` and leaves the state as it was (architectural refusals). */
export function refusedRule(t: Tally, call: () => unknown, cls: abstract new (...a: never[]) => MmulabError, rule: string, state?: () => string): MmulabError {
  const before = state?.();
  const err = thrown(call);
  t.inputs++;
  expect(err).toBeInstanceOf(cls);
  const e = err as MmulabError;
  t.classes.set(e.name, (t.classes.get(e.name) ?? 0) + 1);
  expect(e.rule).toBe(rule);
  if (state !== undefined) expect(state(), 'state unchanged').toBe(before);
  return e;
}

/** The call throws some error of the library's hierarchy and leaves the state as it was (for inputs whose refused parameter varies). */
export function refusedAny(t: Tally, call: () => unknown, label: string, state?: () => string): MmulabError {
  const before = state?.();
  const err = thrown(call);
  t.inputs++;
  expect(err, label).toBeInstanceOf(MmulabError);
  const e = err as MmulabError;
  t.classes.set(e.name, (t.classes.get(e.name) ?? 0) + 1);
  if (state !== undefined) expect(state(), 'state unchanged').toBe(before);
  return e;
}

/** FNV-1a over 32-bit words. */
function fnv(h: number, w: number): number {
  for (let k = 0; k < 4; k++) h = Math.imul(h ^ ((w >>> (8 * k)) & 0xff), 0x01000193) >>> 0;
  return h;
}

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array || v instanceof Int32Array ? Array.from(v).join('') : v);

/** Slots, statistics and every allocated word of a memory. */
export function memFingerprint(m: GuestMemory): string {
  const st = m.stats();
  let h = 0x811c9dc5;
  for (let f = 0; f < st.framesAllocated; f++) {
    const s = m.slabOf(f);
    const b = GuestMemory.wordBase(f);
    for (let i = 0; i < 1024; i++) h = fnv(h, s[b + i]!);
  }
  return JSON.stringify({ slots: m.slots, st, h }, big);
}

/** Guest memory, host frames (every SPTE table), memslots, counters, events, vCPU registers and roles. */
export function vmFingerprint(vm: Vm): string {
  return JSON.stringify({
    guest: memFingerprint(vm.guestMem),
    host: memFingerprint(vm.host.frames),
    tables: vm.host.tableFrames,
    memslots: vm.memslots,
    stats: vm.stats.snapshot(),
    events: vm.events.length,
    gen: vm.mmioGeneration,
    vcpus: vm.vcpus.map((v) => ({ regs: v.regs, role: v.role.toString(), root: v.rootRole.word, mmu: v.mmu.name, stats: v.stats.snapshot(), loaded: v.loadedRootPfn })),
  }, big);
}
