/**
 * Builds guest page tables in guest memory, in any guest format (32-bit, PAE, 4/5-level, EPT):
 * map/unmap ranges with named flags and page sizes, and raw get/set of any entry at any level —
 * reserved bits included, because conformance cases must write exactly the bits they want.
 *
 * Table pages come from a pool of guest frames (a bump allocator). Every operation validates
 * first (alignment, sizes, conflicts with existing huge pages or tables, pool capacity) and only
 * then writes, so a failed call leaves memory untouched.
 */
import { type Gpa, type Gva, gpa as mkGpa } from '../address/address';
import { isCanonicalUnchecked } from '../address/canonical';
import { GpaOutsideMemoryError, MisalignedError, NonCanonicalAddressError, PageTableBuildError, hex } from '../errors';
import { GuestMemory } from '../memory/guest-memory';
import { tableWordForWriteUnchecked, tableWordUnchecked } from '../memory/table-entry';
import { leafFlagBits, type EntryFlags } from './entry-flags';
import { GEOMETRY, PAGE_SIZES, leafLevelOf, levelSpan, type PageSize, type TableGeometry, type TableMode } from './table-mode';
import { checkBigint, checkEnum, checkInt, checkLimit, checkObject, optObject, ownEntry, refuse } from '../validate/checks';

/**
 * Most pages one map/unmap call covers. The builder validates the whole range before it writes,
 * so a call is O(count): 2^26 pages (256 GiB of 4K pages) bounds one call to seconds.
 */
export const MAX_BUILDER_PAGES_PER_CALL = 2 ** 26;

const TWO32 = 0x1_0000_0000;
const TWO20 = 0x100000;

export interface BuilderOptions {
  mode: TableMode;
  /** Guest frames for tables: a RAM range inside the memory's slots. */
  pool: { base: Gpa | bigint; size: bigint | number };
  /** Raw flag bits of non-leaf entries the builder creates. Default P|RW|US (x86), RWX (EPT). */
  tableFlags?: number;
  /**
   * Put the root table (the CR3 / EPTP page) at this 4 KiB aligned GPA in writable memory, outside
   * the pool, instead of taking it from the pool (to reproduce a test's exact layout).
   */
  root?: Gpa | bigint;
}

export interface MapOptions {
  size?: PageSize;
  /** Consecutive pages to map (address and target both advance). Default 1. */
  count?: number;
  flags?: EntryFlags;
}

export interface EntryRef {
  /** GPA of the entry. */
  gpa: Gpa;
  value: bigint;
  level: number;
}

export class PageTableBuilder {
  readonly mem: GuestMemory;
  readonly geometry: TableGeometry;
  /** Root table GPA: the CR3 / EPTP address (PAE: the 32-byte PDPT). */
  readonly root: Gpa;
  private readonly poolBase: number; // first pool gfn
  private readonly poolFrames: number;
  private poolNext = 0;
  private readonly tableFlags: number;
  private readonly rootGfn: number;

  constructor(mem: GuestMemory, opts: BuilderOptions) {
    if (!(mem instanceof GuestMemory)) refuse('mem', 'guest-memory-type', 'must be a GuestMemory', mem);
    checkObject('options', opts);
    const g = ownEntry('options.mode', opts.mode, GEOMETRY);
    checkObject('options.pool', opts.pool);
    const base = checkBigint('options.pool.base', opts.pool.base, { number: true, cls: MisalignedError });
    const size = checkBigint('options.pool.size', opts.pool.size, { number: true, min: 1n, cls: MisalignedError });
    const tableFlags = opts.tableFlags === undefined ? 0x7 : checkInt('options.tableFlags', opts.tableFlags, { max: 0xfff });
    const rootAt = opts.root === undefined ? undefined : checkBigint('options.root', opts.root, { number: true });
    if ((base & 0xfffn) !== 0n || size <= 0n || (size & 0xfffn) !== 0n) {
      throw new MisalignedError('pool-alignment', 'the table pool must be a non-empty, 4 KiB aligned range', `${hex(base)}+${hex(size)}`);
    }
    const first = Number(base >> 12n);
    const frames = Number(size >> 12n);
    for (let f = first; f < first + frames; ) {
      const s = mem.slotOf(f);
      if (s === undefined || s.readonly) {
        throw new GpaOutsideMemoryError('pool-in-ram', 'the table pool must lie in writable memory slots', hex(BigInt(f) << 12n));
      }
      f = s.baseGfn + s.frames;
    }
    if (g.mode === 'paging32' && base + size > 1n << 32n) {
      throw new GpaOutsideMemoryError('pool-below-4g', '32-bit paging tables must be below 4 GiB', hex(base + size - 1n));
    }
    // Checked before the root frame is taken (and zeroed): a refused builder changes no memory.
    if (g.mode === 'pae' && rootAt === undefined && base >> 32n !== 0n) {
      throw new GpaOutsideMemoryError('pdpt-below-4g', 'the PAE PDPT must be below 4 GiB (CR3 is 32 bits)', hex(base));
    }
    this.mem = mem;
    this.geometry = g;
    this.poolBase = first;
    this.poolFrames = frames;
    this.tableFlags = tableFlags;
    this.rootGfn = rootAt === undefined ? this.allocTable() : this.claimFrame(rootAt, 'the root table');
    this.root = mkGpa(BigInt(this.rootGfn) << 12n);
  }

  /** Table frames used so far (root included). */
  get tablesAllocated(): number {
    return this.poolNext;
  }

  get tablesAvailable(): number {
    return this.poolFrames - this.poolNext;
  }

  private allocTable(): number {
    if (this.poolNext >= this.poolFrames) {
      throw new PageTableBuildError('pool-exhausted', 'the table pool is exhausted', String(this.poolFrames));
    }
    const gfn = this.poolBase + this.poolNext++;
    const f = this.mem.frameOfUnchecked(gfn);
    if (f >= 0) this.mem.words.fill(0, GuestMemory.wordBaseUnchecked(f), GuestMemory.wordBaseUnchecked(f) + 1024);
    return gfn;
  }

  /** Validate a user-chosen table frame (aligned, writable memory, outside the pool) and zero it. */
  private claimFrame(at: bigint, what: string): number {
    if (at < 0n || (at & 0xfffn) !== 0n) throw new MisalignedError('table-alignment', `${what} must be at a 4 KiB aligned GPA`, hex(at));
    const gfn = Number(at >> 12n);
    const slot = this.mem.slotOf(gfn);
    if (slot === undefined || slot.readonly) throw new GpaOutsideMemoryError('table-in-ram', `${what} must lie in a writable memory slot`, hex(at));
    if (gfn >= this.poolBase && gfn < this.poolBase + this.poolFrames) {
      throw new PageTableBuildError('table-in-pool', `${what} must lie outside the table pool (the pool hands its frames out itself)`, hex(at));
    }
    if (this.geometry.mode === 'paging32' || this.geometry.mode === 'pae') {
      if (at >> 32n !== 0n) throw new GpaOutsideMemoryError('table-below-4g', `${what} must be below 4 GiB in ${this.geometry.mode}`, hex(at));
    }
    const f = this.mem.frameOfUnchecked(gfn);
    if (f >= 0) this.mem.words.fill(0, GuestMemory.wordBaseUnchecked(f), GuestMemory.wordBaseUnchecked(f) + 1024);
    return gfn;
  }

  // ---- address handling on (hi, lo) halves ----

  private split(v: Gva | bigint, what: string): [number, number] {
    const g = this.geometry;
    const a = checkBigint(what, v);
    if (g.vaBits === 32) {
      if (a < 0n || a >> 32n !== 0n) throw new NonCanonicalAddressError('address-32-bit', `${what} must be below 4 GiB in ${g.mode}`, hex(a));
    } else if (g.ept) {
      if (a < 0n || a >> BigInt(g.vaBits) !== 0n) {
        throw new GpaOutsideMemoryError('ept-input-width', `${what} must be below 2^${g.vaBits} for ${g.mode}`, hex(a));
      }
    } else {
      if (!isCanonicalUnchecked(a, g.vaBits as 48 | 57)) {
        throw new NonCanonicalAddressError(`canonical-${g.vaBits}`, `${what} is not canonical for ${g.vaBits}-bit linear addresses`, hex(a));
      }
    }
    return [Number(a >> 32n) >>> 0, Number(a & 0xffffffffn) >>> 0];
  }

  private index(vhi: number, vlo: number, level: number): number {
    const g = this.geometry;
    if (g.indexBits === 10) return level === 1 ? (vlo >>> 12) & 1023 : vlo >>> 22;
    if (g.mode === 'pae' && level === 3) return (vlo >>> 30) & 3;
    switch (level) {
      case 1: return (vlo >>> 12) & 511;
      case 2: return (vlo >>> 21) & 511;
      case 3: return ((vlo >>> 30) | (vhi << 2)) & 511;
      case 4: return (vhi >>> 7) & 511;
      default: return (vhi >>> 16) & 511;
    }
  }

  // ---- raw entry access by table gfn + index ----

  private readEntry(tableGfn: number, idx: number): [number, number] {
    const narrow = this.geometry.entryBytes === 4;
    const b = tableWordUnchecked(this.mem, tableGfn, narrow ? idx : idx * 2);
    if (b < 0) return [0, 0];
    const s = this.mem.words;
    return narrow ? [s[b]!, 0] : [s[b]!, s[b + 1]!];
  }

  private writeEntry(tableGfn: number, idx: number, lo: number, hi: number): void {
    const narrow = this.geometry.entryBytes === 4;
    const b = tableWordForWriteUnchecked(this.mem, tableGfn, narrow ? idx : idx * 2);
    const s = this.mem.words;
    s[b] = lo >>> 0;
    if (!narrow) s[b + 1] = hi >>> 0;
  }

  private present(lo: number): boolean {
    return this.geometry.ept ? (lo & 7) !== 0 : (lo & 1) !== 0;
  }

  /** A present entry at `level` maps a page rather than a table. */
  private isHugeLeaf(level: number, lo: number): boolean {
    const g = this.geometry;
    if (level === 1) return true;
    if (g.mode === 'pae' && level === 3) return false;
    if (g.mode === 'paging32') return level === 2 && (lo & 0x80) !== 0;
    return (lo & 0x80) !== 0;
  }

  private nextTable(lo: number, hi: number): number {
    return this.geometry.entryBytes === 4 ? lo >>> 12 : (hi & 0xfffff) * TWO20 + (lo >>> 12);
  }

  /**
   * The table a present non-leaf entry at `level` (in table `from`) points to, when the builder
   * is about to build or clear below it. Refused: a table that is the root or any table above it
   * on this path (a self-referencing or cyclic chain, which raw `setEntry` can write: building
   * below it would overwrite the upper table itself — the hardware walk, bounded by the level
   * count, follows such "recursive" entries fine, so only the builder refuses them), and a table
   * outside every memory slot (writing there would create memory no slot declares).
   */
  private nextTableOnPath(lo: number, hi: number, level: number, from: number, vhi: number, vlo: number): number {
    const nt = this.nextTable(lo, hi);
    const va = hex((BigInt(vhi) << 32n) | BigInt(vlo));
    let t = this.rootGfn;
    for (let l = this.geometry.levels; ; l--) {
      if (t === nt) {
        throw new PageTableBuildError('table-cycle', `the level-${level} entry on the path of va points back to the level-${l} table at ${hex(BigInt(t) << 12n)} on the same path: building below it would overwrite that table`, va);
      }
      if (t === from || l <= level) break;
      const [elo, ehi] = this.readEntry(t, this.index(vhi, vlo, l));
      t = this.nextTable(elo, ehi);
    }
    if (this.mem.slotOf(nt) === undefined) {
      throw new GpaOutsideMemoryError('table-outside-memory', `the level-${level} entry on the path of va points to ${hex(BigInt(nt) << 12n)}, which no memory slot covers`, va);
    }
    return nt;
  }

  /**
   * Descend from the root to the table holding `level` entries for (vhi, vlo). With `create`,
   * missing tables are allocated; otherwise returns -1 when a table is missing. Throws when the
   * path runs through a huge page.
   */
  private tableFor(vhi: number, vlo: number, level: number, create: boolean): number {
    let t = this.rootGfn;
    for (let l = this.geometry.levels; l > level; l--) {
      const idx = this.index(vhi, vlo, l);
      const [lo, hi] = this.readEntry(t, idx);
      if (!this.present(lo)) {
        if (!create) return -1;
        const nt = this.allocTable();
        const flags = this.geometry.mode === 'pae' && l === 3 ? 0x1 : this.tableFlags;
        this.writeEntry(t, idx, (((nt % TWO20) << 12) | flags) >>> 0, Math.floor(nt / TWO20));
        t = nt;
        continue;
      }
      if (this.isHugeLeaf(l, lo)) {
        throw new PageTableBuildError(
          'path-through-huge-page',
          `the level-${l} entry on this path maps a huge page; unmap it before building below it`,
          hex((BigInt(vhi) << 32n) | BigInt(vlo)),
        );
      }
      t = this.nextTableOnPath(lo, hi, l, t, vhi, vlo);
    }
    return t;
  }

  // ---- map / unmap ----

  /** Map `count` pages of `size` from `va` to `pa` with `flags`. */
  map(va: Gva | bigint, pa: Gpa | bigint, opts: MapOptions = {}): void {
    const g = this.geometry;
    const { size, level, count } = this.sizeAndCount(opts);
    const span = levelSpan(g, level);
    const spanB = BigInt(span);
    const vaB = checkBigint('va', va);
    const paB = checkBigint('pa', pa);
    const flags = optObject<EntryFlags>('options.flags', opts.flags);
    if (BigInt.asUintN(64, vaB) % spanB !== 0n) throw new MisalignedError(`align-${size}`, `the address must be ${size} aligned`, hex(vaB));
    if (paB % spanB !== 0n) throw new MisalignedError(`align-${size}`, `the target GPA must be ${size} aligned`, hex(paB));
    const total = spanB * BigInt(count);
    const paEnd = paB + total;
    let paLimit = 1n << BigInt(this.mem.maxPhyAddr);
    if (g.mode === 'paging32') paLimit = level === 1 ? 1n << 32n : paLimit < 1n << 40n ? paLimit : 1n << 40n;
    if (paB < 0n || paEnd > paLimit) {
      throw new GpaOutsideMemoryError('target-beyond-maxphyaddr', `the target range ends beyond what ${g.mode} can address (${hex(paLimit)})`, hex(paEnd - 1n));
    }
    // The whole range must be valid: both ends valid, and (for 4/5-level) in the same canonical
    // half, so that the range cannot run across the non-canonical hole or wrap past 2^64.
    const [vhi0, vlo0] = this.split(vaB, 'va');
    const startU = BigInt.asUintN(64, vaB);
    const endU = startU + total - 1n;
    if (endU >> 64n !== 0n) throw new NonCanonicalAddressError('range-wraps', 'the range wraps past the top of the address space', hex(startU));
    this.split(endU, 'the end of the range (va + count pages)');
    if (!g.ept && g.vaBits !== 32 && startU >> 63n !== endU >> 63n) {
      throw new NonCanonicalAddressError(`canonical-${g.vaBits}`, 'the range crosses the non-canonical hole', hex(startU));
    }
    const [flo, fhi] = leafFlagBits(g, level, flags);

    // Phase 1: validate every page and count the tables that must be created.
    const missing = new Set<string>();
    let vhi = vhi0;
    let vlo = vlo0;
    let lastKey = -1;
    for (let i = 0; i < count; i++) {
      const key = this.regionKey(vhi, vlo, level + 1);
      if (key !== lastKey || level > 1) {
        this.checkPath(vhi, vlo, level, missing);
        lastKey = key;
      }
      [vhi, vlo] = this.advance(vhi, vlo, span);
    }
    if (missing.size > this.tablesAvailable) {
      throw new PageTableBuildError('pool-exhausted', `mapping needs ${missing.size} new tables but the pool has ${this.tablesAvailable} left`, String(missing.size));
    }

    // Phase 2: write.
    vhi = vhi0;
    vlo = vlo0;
    const paFrames = Number(paB >> 12n);
    const framesPer = span / 4096;
    let table = -1;
    lastKey = -1;
    for (let i = 0; i < count; i++) {
      const key = this.regionKey(vhi, vlo, level + 1);
      if (key !== lastKey) {
        table = this.tableFor(vhi, vlo, level, true);
        lastKey = key;
      }
      const frame = paFrames + i * framesPer;
      const [alo, ahi] = this.addressBits(frame, level);
      this.writeEntry(table, this.index(vhi, vlo, level), (alo | flo) >>> 0, (ahi | fhi) >>> 0);
      [vhi, vlo] = this.advance(vhi, vlo, span);
    }
  }

  /** The options every map/unmap takes: a page size of this format and a bounded page count. */
  private sizeAndCount(opts: { size?: PageSize; count?: number } | undefined): { size: PageSize; level: number; count: number } {
    const o = optObject<MapOptions>('options', opts);
    const size = o.size === undefined ? '4K' : checkEnum('options.size', o.size, PAGE_SIZES);
    const level = leafLevelOf(this.geometry, size);
    const count = o.count === undefined ? 1 : checkInt('options.count', o.count, { min: 1, cls: PageTableBuildError });
    checkLimit('options.count', count, MAX_BUILDER_PAGES_PER_CALL, 'pages');
    return { size, level, count };
  }

  /** Key of the table region holding level-`level-1` entries: address bits above its coverage. */
  private regionKey(vhi: number, vlo: number, level: number): number {
    const shift = 12 + this.geometry.indexBits * (level - 1);
    if (shift >= 32) return vhi / 2 ** (shift - 32);
    return vhi * 2 ** (32 - shift) + Math.floor(vlo / 2 ** shift);
  }

  private advance(vhi: number, vlo: number, span: number): [number, number] {
    const t = vlo + span;
    const carry = Math.floor(t / TWO32);
    return [(vhi + carry) >>> 0, t - carry * TWO32];
  }

  private checkPath(vhi: number, vlo: number, level: number, missing: Set<string>): void {
    let t = this.rootGfn;
    for (let l = this.geometry.levels; l > level; l--) {
      const [lo, hi] = this.readEntry(t, this.index(vhi, vlo, l));
      if (!this.present(lo)) {
        for (let m = l - 1; m >= level; m--) missing.add(`${m}:${this.regionKey(vhi, vlo, m + 1)}`);
        return;
      }
      if (this.isHugeLeaf(l, lo)) {
        throw new PageTableBuildError(
          'path-through-huge-page',
          `the level-${l} entry on this path maps a huge page; unmap it first`,
          hex((BigInt(vhi) << 32n) | BigInt(vlo)),
        );
      }
      t = this.nextTableOnPath(lo, hi, l, t, vhi, vlo);
    }
    if (level > 1) {
      const [lo] = this.readEntry(t, this.index(vhi, vlo, level));
      if (this.present(lo) && !this.isHugeLeaf(level, lo)) {
        throw new PageTableBuildError(
          'huge-over-table',
          `a level-${level} table already exists here; unmap the smaller pages before mapping a huge page`,
          hex((BigInt(vhi) << 32n) | BigInt(vlo)),
        );
      }
    }
  }

  /** Address bits of a leaf at `level` pointing at `frame`, as halves. */
  private addressBits(frame: number, level: number): [number, number] {
    if (this.geometry.mode === 'paging32' && level === 2) {
      // PSE-36/40: PA[31:22] in bits 31:22, PA[39:32] in bits 20:13.
      const high = Math.floor(frame / TWO20); // PA bits 39:32
      return [(((frame % TWO20) << 12) | (high << 13)) >>> 0, 0];
    }
    return [((frame % TWO20) << 12) >>> 0, Math.floor(frame / TWO20)];
  }

  /** Clear `count` leaf entries of `size` from `va`. Returns how many were present. */
  unmap(va: Gva | bigint, opts: { size?: PageSize; count?: number } = {}): number {
    const g = this.geometry;
    const { size, level, count } = this.sizeAndCount(opts);
    const span = levelSpan(g, level);
    let [vhi, vlo] = this.split(va, 'va');
    if (checkBigint('va', va) % BigInt(span) !== 0n) throw new MisalignedError(`align-${size}`, `va must be ${size} aligned`, hex(BigInt(va)));
    const endU = BigInt(va) + BigInt(span) * BigInt(count) - 1n;
    if (endU >> 64n !== 0n) throw new NonCanonicalAddressError('range-wraps', 'the range wraps past the top of the address space', hex(BigInt(va)));
    this.split(endU, 'the end of the range (va + count pages)');
    if (!g.ept && g.vaBits !== 32 && BigInt(va) >> 63n !== endU >> 63n) {
      throw new NonCanonicalAddressError(`canonical-${g.vaBits}`, 'the range crosses the non-canonical hole', hex(BigInt(va)));
    }
    let cleared = 0;
    for (let i = 0; i < count; i++) {
      const t = this.tableFor(vhi, vlo, level, false);
      if (t >= 0) {
        const idx = this.index(vhi, vlo, level);
        const [lo] = this.readEntry(t, idx);
        if (this.present(lo)) {
          if (!this.isHugeLeaf(level, lo)) {
            throw new PageTableBuildError('unmap-table', `the level-${level} entry points to a table, not a ${size} page`, hex(BigInt(va)));
          }
          cleared++;
        }
      }
      [vhi, vlo] = this.advance(vhi, vlo, span);
    }
    [vhi, vlo] = this.split(va, 'va');
    for (let i = 0; i < count; i++) {
      const t = this.tableFor(vhi, vlo, level, false);
      if (t >= 0) this.writeEntry(t, this.index(vhi, vlo, level), 0, 0);
      [vhi, vlo] = this.advance(vhi, vlo, span);
    }
    return cleared;
  }

  // ---- raw entries ----

  private checkLevel(level: number): void {
    const g = this.geometry;
    if (typeof level !== 'number' || !Number.isInteger(level) || level < 1 || level > g.levels) {
      refuse('level', 'level-range', `must be a level of ${g.mode}, which has levels 1..${g.levels}`, level, PageTableBuildError);
    }
  }

  /** The entry at `level` on the path of `va`. Throws when no table exists at that level. */
  getEntry(va: Gva | bigint, level: number): EntryRef {
    this.checkLevel(level);
    const [vhi, vlo] = this.split(va, 'va');
    const t = this.tableFor(vhi, vlo, level, false);
    if (t < 0) {
      throw new PageTableBuildError('no-table-at-level', `no level-${level} table exists on this path (an upper entry is not present)`, hex(BigInt(va)));
    }
    const idx = this.index(vhi, vlo, level);
    const [lo, hi] = this.readEntry(t, idx);
    return {
      gpa: mkGpa(BigInt(t) * 4096n + BigInt(idx * this.geometry.entryBytes)),
      value: (BigInt(hi) << 32n) | BigInt(lo),
      level,
    };
  }

  /**
   * Write exactly `value` into the entry at `level` on the path of `va`, creating missing tables
   * above it. PAE: a PDPTE written here is seen by a walker only after it reloads the PDPTEs.
   */
  setEntry(va: Gva | bigint, level: number, value: bigint): EntryRef {
    this.checkLevel(level);
    const v = checkBigint('value', value);
    if (this.geometry.entryBytes === 4 && v >> 32n !== 0n) {
      throw new PageTableBuildError('entry-width', '32-bit paging entries are 4 bytes', hex(v));
    }
    const [vhi, vlo] = this.split(va, 'va');
    // Validate (path and pool) before writing.
    const missing = new Set<string>();
    let t = this.rootGfn;
    let l = this.geometry.levels;
    for (; l > level; l--) {
      const [lo, hi] = this.readEntry(t, this.index(vhi, vlo, l));
      if (!this.present(lo)) {
        for (let m = l - 1; m >= level; m--) missing.add(`${m}`);
        break;
      }
      if (this.isHugeLeaf(l, lo)) {
        throw new PageTableBuildError('path-through-huge-page', `the level-${l} entry on this path maps a huge page`, hex(BigInt(va)));
      }
      t = this.nextTableOnPath(lo, hi, l, t, vhi, vlo);
    }
    if (missing.size > this.tablesAvailable) throw new PageTableBuildError('pool-exhausted', 'the table pool is exhausted', String(missing.size));
    t = this.tableFor(vhi, vlo, level, true);
    const idx = this.index(vhi, vlo, level);
    this.writeEntry(t, idx, Number(v & 0xffffffffn), Number(v >> 32n));
    return { gpa: mkGpa(BigInt(t) * 4096n + BigInt(idx * this.geometry.entryBytes)), value: v, level };
  }

  /**
   * Put the table that holds the level-`level` entries on the path of `va` at `at` (a 4 KiB
   * aligned page in writable memory outside the pool; zeroed): the level-`level + 1` entry is
   * pointed at it, and missing tables above come from the pool. The root is placed with the
   * `root` option instead. The entry must not be present yet. Validated before anything is
   * written; returns the entry that now points to the table.
   */
  placeTable(level: number, va: Gva | bigint, at: Gpa | bigint): EntryRef {
    this.checkLevel(level);
    if (level === this.geometry.levels) {
      throw new PageTableBuildError('place-root', 'the root table is placed with the constructor option `root`', String(level));
    }
    const [vhi, vlo] = this.split(va, 'va');
    // Validate: the path down to the parent table (no huge page on it; pool room for the missing
    // tables), and a non-present parent entry.
    let t = this.rootGfn;
    let missing = 0;
    for (let l = this.geometry.levels; l > level; l--) {
      const [lo, hi] = this.readEntry(t, this.index(vhi, vlo, l));
      if (l === level + 1 && this.present(lo)) {
        throw new PageTableBuildError('table-exists', `the level-${l} entry on this path is already present; a table can be placed only where none is`, hex(BigInt(va)));
      }
      if (l === level + 1) break;
      if (!this.present(lo)) {
        missing = l - 1 - level;
        break;
      }
      if (this.isHugeLeaf(l, lo)) throw new PageTableBuildError('path-through-huge-page', `the level-${l} entry on this path maps a huge page`, hex(BigInt(va)));
      t = this.nextTableOnPath(lo, hi, l, t, vhi, vlo);
    }
    if (missing > this.tablesAvailable) throw new PageTableBuildError('pool-exhausted', 'the table pool is exhausted', String(missing));
    const gfn = this.claimFrame(checkBigint('at', at), `at (a level-${level} table)`);
    const parent = this.tableFor(vhi, vlo, level + 1, true);
    const idx = this.index(vhi, vlo, level + 1);
    const flags = this.geometry.mode === 'pae' && level + 1 === 3 ? 0x1 : this.tableFlags;
    this.writeEntry(parent, idx, (((gfn % TWO20) << 12) | flags) >>> 0, Math.floor(gfn / TWO20));
    const [lo, hi] = this.readEntry(parent, idx);
    return { gpa: mkGpa(BigInt(parent) * 4096n + BigInt(idx * this.geometry.entryBytes)), value: (BigInt(hi) << 32n) | BigInt(lo), level: level + 1 };
  }

  /**
   * The GPA of the level-`level` entry on the path of `va` (where the CPU reads it). The table at
   * that level must exist (map, setEntry or placeTable made it).
   */
  entryAddress(va: Gva | bigint, level: number): Gpa {
    return this.getEntry(va, level).gpa;
  }

  /** The entries on the path of `va`, root first, as far as they go. */
  path(va: Gva | bigint): EntryRef[] {
    const [vhi, vlo] = this.split(va, 'va');
    const out: EntryRef[] = [];
    let t = this.rootGfn;
    for (let l = this.geometry.levels; l >= 1; l--) {
      const idx = this.index(vhi, vlo, l);
      const [lo, hi] = this.readEntry(t, idx);
      out.push({ gpa: mkGpa(BigInt(t) * 4096n + BigInt(idx * this.geometry.entryBytes)), value: (BigInt(hi) << 32n) | BigInt(lo), level: l });
      if (!this.present(lo) || (l > 1 && this.isHugeLeaf(l, lo))) break;
      t = this.nextTable(lo, hi);
    }
    return out;
  }
}
