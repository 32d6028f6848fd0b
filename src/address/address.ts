/**
 * Address spaces as distinct branded types. KVM's plain u64 typedefs let a GVA be passed where a
 * GPA was meant (`cr2_or_gpa`); here each space is its own type and converts only through the
 * named helpers below. Addresses are `bigint` at the API (a user types 0xffff_8880_0000_0000n);
 * frame numbers are plain numbers (at most 40 bits for a 52-bit physical address, exact in a
 * double) so that hot loops never touch `bigint`.
 */
import { InvalidArgumentError, hex } from '../errors';
import { describeValue } from '../validate/describe-value';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Guest virtual (linear) address of the running guest, L1 or L2. */
export type Gva = Brand<bigint, 'Gva'>;
/** Guest-physical address of L1 (or of a non-nested guest). */
export type Gpa = Brand<bigint, 'Gpa'>;
/** Guest-physical address of L2, translated to a GPA by L1's EPT12/NPT12. */
export type Ngpa = Brand<bigint, 'Ngpa'>;
/** Host-physical address. */
export type Hpa = Brand<bigint, 'Hpa'>;
/** Guest frame number (GPA >> 12). */
export type Gfn = Brand<number, 'Gfn'>;
/** Host frame number (HPA >> 12). */
export type Pfn = Brand<number, 'Pfn'>;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
const MAX_U64 = (1n << 64n) - 1n;
/** Frame numbers of 52-bit physical addresses have 40 bits. */
const MAX_FRAME = 2 ** 40 - 1;

/**
 * The one entry check of every address helper: any JavaScript value may arrive from a notebook,
 * so the type is checked before any bigint arithmetic (a Symbol, string or fraction would
 * otherwise escape as a TypeError or be compared by coercion, `"0x1000" < 0n` being false).
 */
function toU64(kind: string, v: unknown): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError('address-value', `${kind} must be a non-negative safe integer or a bigint`, describeValue(v));
    }
    return BigInt(v);
  }
  if (typeof v !== 'bigint') {
    throw new InvalidArgumentError('address-value', `${kind} must be a bigint (or a non-negative safe integer), not a ${typeof v}`, describeValue(v));
  }
  if (v < 0n || v > MAX_U64) {
    throw new InvalidArgumentError('address-value', `${kind} must fit in 64 bits`, hex(v));
  }
  return v;
}

function toFrame(kind: string, v: unknown): number {
  const n = typeof v === 'bigint' ? (v >= 0n && v <= BigInt(MAX_FRAME) ? Number(v) : -1) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_FRAME) {
    throw new InvalidArgumentError('frame-number', `${kind} must be an integer in [0, 2^40)`, describeValue(v));
  }
  return n;
}

export const gva = (v: bigint | number): Gva => toU64('GVA', v) as Gva;
export const gpa = (v: bigint | number): Gpa => toU64('GPA', v) as Gpa;
export const ngpa = (v: bigint | number): Ngpa => toU64('nGPA', v) as Ngpa;
export const hpa = (v: bigint | number): Hpa => toU64('HPA', v) as Hpa;
export const gfn = (v: number | bigint): Gfn => toFrame('GFN', v) as Gfn;
export const pfn = (v: number | bigint): Pfn => toFrame('PFN', v) as Pfn;

/** The GFN of a GPA (`gpa_to_gfn`). The GPA must be below 2^52. */
export function gpaToGfn(a: Gpa): Gfn {
  return gfn(toU64('GPA', a) >> 12n);
}
export function gfnToGpa(f: Gfn): Gpa {
  return (BigInt(toFrame('GFN', f)) << 12n) as Gpa;
}
export function hpaToPfn(a: Hpa): Pfn {
  return pfn(toU64('HPA', a) >> 12n);
}
export function pfnToHpa(f: Pfn): Hpa {
  return (BigInt(toFrame('PFN', f)) << 12n) as Hpa;
}
/**
 * An nGPA is what L2 calls guest-physical. It becomes a GPA only through ngpa walk; this helper
 * exists for the one legitimate identity use: L1 running with its own nested tables disabled.
 */
export function ngpaAsGpaIdentity(a: Ngpa): Gpa {
  return toU64('nGPA', a) as Gpa;
}
export function pageOffset(a: Gva | Gpa | Ngpa | Hpa): number {
  return Number(toU64('address', a) & 0xfffn);
}
