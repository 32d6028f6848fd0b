/**
 * A u64 as a bigint and as two 32-bit halves, converted through one 8-byte buffer seen as a
 * Uint32Array and a BigUint64Array. The optimizing compiler turns both element accesses into
 * inline code, where `BigInt(n)`, `Number(v)`, `v >> 32n` and `BigInt(hi) << 32n | BigInt(lo)`
 * call the runtime (on Node 20 about 5 ns per conversion against 20-30 ns). Records make their
 * bigints and the walk API splits its address this way.
 */

/** Index of the low 32-bit half in the Uint32Array (the platform's byte order). */
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

export class U64View {
  private readonly halves = new Uint32Array(2);
  private readonly whole = new BigUint64Array(this.halves.buffer);

  /** The bigint of 32-bit unsigned halves (lo, hi); the caller passes integers in [0, 2^32). */
  make(lo: number, hi: number): bigint {
    const h = this.halves;
    h[LO] = lo;
    h[HI] = hi;
    return this.whole[0]!;
  }

  /** The bigint of a whole number `n` in [0, 2^53) (a frame times 4096 plus an offset, …). */
  makeNum(n: number): bigint {
    // `make`'s body, not a call to it: small enough for V8 to inline into a TLB hit, which makes two.
    const h = this.halves;
    const lo = n >>> 0;
    h[LO] = lo;
    h[HI] = (n - lo) / 0x1_0000_0000;
    return this.whole[0]!;
  }

  /**
   * Split `v`, a bigint in [0, 2^64), into `lo` and `hi`. False (halves unspecified) when `v` is
   * outside that range, which the buffer would silently wrap.
   */
  split(v: bigint): boolean {
    if (BigInt.asUintN(64, v) !== v) return false;
    this.whole[0] = v;
    return true;
  }

  /** `split` of a `v` the caller knows is in [0, 2^64) (checked at the API edge): no range check. */
  splitUnchecked(v: bigint): void {
    this.whole[0] = v;
  }

  /** Bits 31:0 of the last `split`. */
  get lo(): number {
    return this.halves[LO]!;
  }

  /** Bits 63:32 of the last `split`. */
  get hi(): number {
    return this.halves[HI]!;
  }
}
