/**
 * A set-associative array with LRU replacement: `entries / ways` sets, the set chosen by the
 * low bits of the key's index (`index mod sets`), each set scanned linearly (ways are few). LRU
 * uses a per-array use counter, so a sequence of lookups and fills gives the same victims on every
 * run (no clocks).
 */
import { MAX_TLB_ARRAY_ENTRIES, type TlbArray } from './tlb-config';
import { checkInt, checkObject, refuse } from '../validate/checks';

export interface Tagged {
  /** The set index source: a page number (or prefix) in the array's own granularity. */
  index: number;
  /** Last use, for LRU. */
  used: number;
}

/** A set index: a page number (or a tagged one, NTLB: gfn * 4 + size), a non-negative safe integer. */
function checkIndex(v: unknown, name = 'index'): void {
  checkInt(name, v);
}

function checkFn(name: string, v: unknown): void {
  if (typeof v !== 'function') refuse(name, 'function-type', 'must be a function', v);
}

export class SetAssoc<E extends Tagged> {
  readonly sets: number;
  readonly ways: number;
  /** Slot `set * ways + way`; protected for a subclass's own scan of a set (the TLB's). */
  protected readonly slots: (E | undefined)[];
  /** sets − 1 when the set count is a power of two, else −1. */
  private readonly setMask: number;
  protected clock = 0;

  constructor(geom: TlbArray) {
    checkObject('geom', geom);
    checkInt('geom.entries', geom.entries, { max: MAX_TLB_ARRAY_ENTRIES });
    checkInt('geom.ways', geom.ways, { min: 1 });
    if (geom.entries % geom.ways !== 0) refuse('geom.entries', 'tlb-array-ways', 'must be a multiple of geom.ways (sets = entries / ways)', geom.entries);
    this.ways = geom.ways;
    this.sets = geom.entries === 0 ? 0 : geom.entries / geom.ways;
    this.setMask = this.sets > 0 && (this.sets & (this.sets - 1)) === 0 ? this.sets - 1 : -1;
    this.slots = new Array<E | undefined>(geom.entries);
  }

  get capacity(): number {
    return this.slots.length;
  }

  /** The first slot of `index`'s set (the array must have sets). */
  protected base(index: number): number {
    // `index % sets` on an index above 2^31 (a VPN) is a double modulo, a C call in V8 and the
    // largest part of a TLB hit; a power-of-two set count takes the low bits (ToInt32 is exact
    // modulo 2^32), any other count the floor division (`baseDivided`: a call, so that this stays
    // small enough for V8 to inline into the TLB hit).
    const m = this.setMask;
    return m >= 0 ? (index & m) * this.ways : this.baseDivided(index);
  }

  /** `base` for a set count that is no power of two: the floor division, corrected for its last-bit rounding. */
  private baseDivided(index: number): number {
    const s = this.sets;
    let r = index - Math.floor(index / s) * s;
    if (r < 0) r += s;
    else if (r >= s) r -= s;
    return r * this.ways;
  }

  /** The entry of `index` that `match` accepts (marked most recently used), or undefined. */
  find(index: number, match: (e: E) => boolean): E | undefined {
    checkIndex(index);
    checkFn('match', match);
    return this.findUnchecked(index, match);
  }

  /** `find` for the TLB's lookups, whose indices are page numbers they computed. */
  findUnchecked(index: number, match: (e: E) => boolean): E | undefined {
    if (this.sets === 0) return undefined;
    const b = this.base(index);
    for (let w = 0; w < this.ways; w++) {
      const e = this.slots[b + w];
      if (e !== undefined && e.index === index && match(e)) {
        e.used = ++this.clock;
        return e;
      }
    }
    return undefined;
  }

  /**
   * `find` with a match that takes two arguments instead of closing over them: a TLB hit calls
   * this for every page size, and a fresh closure per call was an allocation per lookup.
   */
  findWith<A, B>(index: number, match: (e: E, a: A, b: B) => boolean, a: A, b: B): E | undefined {
    checkIndex(index);
    checkFn('match', match);
    return this.findWithUnchecked(index, match, a, b);
  }

  findWithUnchecked<A, B>(index: number, match: (e: E, a: A, b: B) => boolean, a: A, b: B): E | undefined {
    if (this.sets === 0) return undefined;
    const base = this.base(index);
    for (let w = 0; w < this.ways; w++) {
      const e = this.slots[base + w];
      if (e !== undefined && e.index === index && match(e, a, b)) {
        e.used = ++this.clock;
        return e;
      }
    }
    return undefined;
  }

  /**
   * Insert `e`: it replaces an entry `same` accepts (one translation per tag), else an empty way,
   * else the least recently used. Returns the evicted entry, if any.
   */
  insert(e: E, same: (old: E) => boolean): E | undefined {
    checkObject('e', e);
    checkIndex(e.index, 'e.index');
    checkFn('same', same);
    return this.insertUnchecked(e, same);
  }

  /** `insert` for the TLB's fills, whose entries it built. */
  insertUnchecked(e: E, same: (old: E) => boolean): E | undefined {
    if (this.sets === 0) return undefined;
    const b = this.base(e.index);
    e.used = ++this.clock;
    let victim = -1;
    for (let w = 0; w < this.ways; w++) {
      const o = this.slots[b + w];
      if (o !== undefined && o.index === e.index && same(o)) {
        this.slots[b + w] = e;
        return undefined;
      }
    }
    for (let w = 0; w < this.ways; w++) {
      const o = this.slots[b + w];
      if (o === undefined) {
        this.slots[b + w] = e;
        return undefined;
      }
      if (victim < 0 || o.used < this.slots[b + victim]!.used) victim = w;
    }
    const old = this.slots[b + victim];
    this.slots[b + victim] = e;
    return old;
  }

  /** Remove every entry `pred` accepts; returns how many. */
  invalidate(pred: (e: E) => boolean): number {
    checkFn('pred', pred);
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e !== undefined && pred(e)) {
        this.slots[i] = undefined;
        n++;
      }
    }
    return n;
  }

  /** The valid entries (for inspection and tests), in slot order. */
  entries(): E[] {
    return this.slots.filter((e): e is E => e !== undefined);
  }
}
