/**
 * A u64 as a bigint and as two 32-bit halves. `split` goes through one 8-byte buffer seen as a
 * BigUint64Array and a Uint32Array: the optimizing compiler turns both element accesses into
 * inline code, where `Number(v)` and `v >> 32n` call the runtime (on Node 20 about 5 ns against
 * 20-30 ns). `make` does not use the buffer: two 32-bit stores read back as one 64-bit load cannot
 * be forwarded from the store buffer, so the load waits for the stores to reach the cache (a perf
 * profile of the record walk put more than half of buildRecord's samples on those loads). It is
 * `BigInt.asUintN(64, (BigInt(hi) << 32n) | BigInt(lo))` instead, which the optimizing compiler
 * (V8's 64-bit BigInt lowering, on since Node 20) turns into integer operations and one BigInt
 * allocation: about 2 ns above a heap number's allocation against 6 for the buffer.
 */

/** Index of the low 32-bit half in the Uint32Array (the platform's byte order). */
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

export class U64View {
  private readonly halves = new Uint32Array(2);
  private readonly whole = new BigUint64Array(this.halves.buffer);

  /** The bigint of 32-bit unsigned halves (lo, hi); the caller passes integers in [0, 2^32). */
  make(lo: number, hi: number): bigint {
    // asUintN(64, …) is what lets the compiler keep the shift and OR as 64-bit integer operations.
    return BigInt.asUintN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  /** The bigint of a whole number `n` in [0, 2^53) (a frame times 4096 plus an offset, …). */
  makeNum(n: number): bigint {
    // `make`'s body, not a call to it: small enough for V8 to inline into a TLB hit, which makes two.
    // `>>> 0` types each half as a 32-bit integer (BigInt() of a number the compiler sees as a
    // double calls the runtime): for n in [0, 2^53), n / 2^32 is exact (a power of two) and below
    // 2^21, so truncating it is the upper half, and n >>> 0 is n mod 2^32, the lower.
    return BigInt.asUintN(64, (BigInt((n / 0x1_0000_0000) >>> 0) << 32n) | BigInt(n >>> 0));
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
