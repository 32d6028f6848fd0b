/**
 * The bigints a walk record is made of (entry values, entry GPAs), remembered by the plain numbers
 * they come from. Making a bigint from a number is a V8 runtime call, several times dearer than
 * reading one back: a record walk made one per field per entry, and a 2D walk reads 24 entries.
 * Walks repeat their upper levels (one PML4E, a few PDPTEs, the same nested entries for the same
 * table frames), so most of a record's bigints were made by an earlier record. Bigints are
 * immutable values (`===` compares them by value), so a shared one is indistinguishable from a
 * fresh one: records stay exactly what they were.
 *
 * Direct-mapped, SIZE slots per kind; a slot starts as the pair (0, 0) / the number 0 with the
 * value 0n, which is that key's true value, so no slot needs a valid flag.
 *
 * A miss makes its bigint through a U64View (inline, where `BigInt(n)` calls the runtime).
 */
import { U64View } from './u64-view';

const BITS = 11;
const SIZE = 1 << BITS;

/** Slot of a 32-bit key pair: a multiplicative hash's top bits (every key bit reaches them). */
function slotOf(lo: number, hi: number): number {
  return Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> (32 - BITS);
}

export class U64Memo {
  private readonly view = new U64View();
  private readonly pairLo = new Uint32Array(SIZE);
  private readonly pairHi = new Uint32Array(SIZE);
  private readonly pairVal: bigint[] = new Array<bigint>(SIZE).fill(0n);
  private readonly numKey = new Float64Array(SIZE);
  private readonly numVal: bigint[] = new Array<bigint>(SIZE).fill(0n);

  /**
   * `joinU64(lo, hi)` without its argument checks: the caller passes 32-bit halves read from a
   * Uint32Array (unsigned integers below 2^32).
   */
  pair(lo: number, hi: number): bigint {
    const i = slotOf(lo, hi);
    if (this.pairLo[i] === lo && this.pairHi[i] === hi) return this.pairVal[i]!;
    const v = this.view.make(lo, hi);
    this.pairLo[i] = lo;
    this.pairHi[i] = hi;
    this.pairVal[i] = v;
    return v;
  }

  /** `BigInt(n)` for a whole number in [0, 2^53) (an entry's GPA: a frame times 4096 plus an offset). */
  num(n: number): bigint {
    const i = slotOf(n | 0, (n / 0x1_0000_0000) | 0);
    if (this.numKey[i] === n) return this.numVal[i]!;
    const v = this.view.makeNum(n);
    this.numKey[i] = n;
    this.numVal[i] = v;
    return v;
  }
}
