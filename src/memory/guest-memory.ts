/**
 * Guest-physical memory: sparse 4 KiB frames, allocated on first write, inside declared slots.
 *
 * Layout (chosen for the walkers' hot loop, bench/walk.bench.ts against bench/c/walk.c): every
 * frame lives in ONE flat Uint32Array (`words`, frame f at word f * 1024). A random walk is bound
 * by the load of each table entry, and before that load the walker must turn the table's GFN into
 * a frame, so what matters is how few dependent loads that takes. Three structures answer it:
 *
 *  - the affine run: GFNs [affLo, affEnd) whose frames are GFN + affDelta, the longest run of
 *    frames allocated one after another for consecutive GFNs. Frames are allocated in first-write
 *    order and a table pool (PageTableBuilder's bump allocator, a guest's own) writes its tables in
 *    GFN order, so one run usually covers a whole pool: the frame is an add, no load at all. The
 *    walks whose levels are a serial chain of loads (walk-fast.ts's x86 walk,
 *    nested/walk-2d-fast.ts) read the run once per walk (`affineLo`, `affineEnd`, `affineDelta`)
 *    and test each table GFN against it before `frameOfUnchecked`; side by side in one process
 *    (the tables of bench/walk.bench.ts and walk2d.bench.ts, CPU time, medians of 21 rounds) the
 *    raw 4-level walk took 0.78-0.89× and the raw 2D walk 0.89× the time with the windows as the
 *    first test. frameOfUnchecked itself does not test it: in walk-batch.ts, whose interleaved
 *    loads do not wait on the lookup, the extra test cost 3-9 %. The run is kept as frames are
 *    allocated and rebuilt from the frame → GFN table when removeSlot or moveSlot change
 *    mappings: six numbers, no memory per page. A second run (the longest other one) serves the
 *    2D walk, which reads two pools (L1's EPT12/NPT12 and L2's tables): with L2's tables found
 *    by an add instead of a window load, the raw 2D walk of bench/walk2d.bench.ts took 0.95× the
 *    time (one process, interleaved rounds).
 *  - two flat windows: `flatA[gfn - loA]` is the frame (or -1) for GFNs in [loA, endA), the
 *    same for B. One load, no chain: the hot path is `in A ? flatA[i] : in B ? flatB[i] :
 *    frameOfSlow(gfn)`. A minimal 4-level walk over 1 Mi random pages took 47-75 ns with the
 *    radix lookup below as its only index and 33-41 ns with one flat array (C: 22.5 ns), on a
 *    loaded machine; with the windows, GvaWalker.walkRaw took 0.85-0.93× the radix's time, and
 *    0.66× with the tables above 2^28 (the Map): old and new side by side in one process, same
 *    tables and addresses. Two windows because page tables usually sit in one or two pools: a
 *    nested guest's EPT12 tables and L2's tables (bench/walk2d.bench.ts: GPA 0 and 4 GiB), or a
 *    guest's table pool and the frames it wrote elsewhere.
 *  - the complete index, which holds EVERY written frame, the windows' too: a radix index for GFNs
 *    below 2^28 (`dir[gfn >>> 12]` is the base of a 4096-entry chunk of `index`, or -1;
 *    `index[base + (gfn & 4095)]` is the frame, or -1: two dependent loads), and a Map for GFNs at
 *    or above 2^28 (GPAs from 1 TiB up), so that `dir` stays at most 256 KiB however sparse the
 *    slots are. Host memory keeps its page tables from 2^(MAXPHYADDR − 13) up, in the Map for a
 *    MAXPHYADDR of 41 or more; the windows are why those walks do not pay for a Map lookup.
 *
 * The windows' rule (why: their memory must follow the written frames, never the GPA span): a
 * window is 1024-aligned, starts with 1024 entries and only grows, by doubling. A newly mapped GFN
 * outside both windows goes (1) into the window whose growth to cover it costs the fewest
 * entries, if that growth is one doubling, else (2) into a new window of its own while B is
 * unused, else (3) into that cheapest window anyway; each step only while the two windows together
 * stay within max(2^16, 64 × frames written) entries: 256 KiB, or beyond that 256 bytes of index
 * per 4 KiB frame (1/16 of the frames' own bytes). A GFN no window can take in is answered by the
 * complete index (the old two-load path), so correctness never depends on the rule. Page tables
 * come from pools (bump allocators), so in practice the windows cover them densely: for 16 Mi
 * mapped pages (32,834 table frames in one pool) the windows are 256 KiB (0.016 B/page); one frame
 * written at a high GPA costs a 4 KiB window; the worst case is 0.5 B per mapped 4 KiB page (256 B
 * per table frame of 512 entries). The windows are mirrors of the complete index: every mutation
 * goes through `setFrame`, which writes every window holding the GFN, and a growth refills a
 * window from the frame → GFN table, each entry checked against the complete index; so
 * removeSlot/moveSlot need nothing of their own.
 *
 * Memory is proportional to the frames that were written (4 KiB each, plus up to 25 % slack from
 * growing `words`, plus 16 KiB of radix per 16 MiB of GPA that holds a written frame, plus the
 * windows bounded above), never to the size of the slots: a guest whose page tables map 16 Mi pages
 * costs about 10 bytes per mapped page (bench/map.bench.ts). `words` grows by copying, so a caller
 * must not keep it across a write that may allocate (`frameForWrite`); every caller reads it right
 * after.
 *
 * Two APIs:
 *  - the host-side API (bigint GPAs): read/write 8/16/32/64-bit values and bytes, as userspace
 *    would through the memslot's HVA. Host writes to read-only slots are allowed (that is how ROM
 *    contents are loaded); only guest writes honour `readonly`.
 *  - the hot-path API (plain numbers): `frameOf(gfn)`, `slabOf(frame)`/`words`, `wordBase(frame)`,
 *    checked; the engine's walkers call their `…Unchecked` twins with numbers they computed.
 */
import { type Gpa, gfnToGpa, type Gfn } from '../address/address';
import { GpaOutsideMemoryError, InvalidArgumentError, LimitExceededError, MisalignedError, hex } from '../errors';
import { checkBigint, checkInt, checkObject, checkString, optBool, optObject, refuse, checkLimit } from '../validate/checks';
import { describeValue } from '../validate/describe-value';
import type { MemSlot, MemSlotSpec } from './mem-slot';

export const FRAME_WORDS = 1024; // 32-bit words per 4 KiB frame
const CHUNK_SHIFT = 12; // 4096 GFNs per index chunk (16 KiB of index per 16 MiB of GPA)
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;
/** GFNs below this are in the radix index; the rest in a Map. 2^28 GFNs: GPAs below 1 TiB. */
const DIRECT_GFNS = 2 ** 28;
/** Entries of a new flat window (4 KiB), and its alignment; it grows by doubling. */
const FLAT_MIN = 1024;
/** The two windows together may always have this many entries (256 KiB) … */
const FLAT_FLOOR = 1 << 16;
/** … and beyond that this many entries per written frame (256 B of index per 4 KiB frame). */
const FLAT_PER_FRAME = 64;

/** A flat window: `flat[i]` is the frame (or -1) of GFN lo + i, for i in [0, flat.length). */
interface FlatWindow {
  lo: number;
  flat: Int32Array<ArrayBuffer>;
}
/** Most frames one memory holds: `words` is one typed array, at most 4 GiB (Node's limit). */
export const MAX_FRAMES = 1 << 20;
const INT32_MIN = -0x8000_0000;
/** Most bytes one readBytes/writeBytes call moves (the buffer is built eagerly). */
export const MAX_BYTES_PER_CALL = 1 << 26;
/** GFNs of the hot-path API: 52-bit GPAs have 40-bit GFNs. */
const GFN_LIMIT = 2 ** 40;

/** A GFN of the hot-path API: an integer number in [0, 2^40). */
function checkGfnNum(name: string, g: unknown): asserts g is number {
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 0 || g >= GFN_LIMIT) refuse(name, 'gfn', 'must be a GFN, an integer number in [0, 2^40)', g);
}

/** Outcome of an access by GPA: the frame exists (or would read as zero), or no slot covers it. */
export type GpaKind = 'ram' | 'rom' | 'noslot';

export interface GuestMemoryOptions {
  /** Guest MAXPHYADDR (CPUID 0x80000008 EAX[7:0]), 32..52. GPAs at or above 2^maxPhyAddr do not exist. */
  maxPhyAddr?: number;
}

export interface MemoryStats {
  slots: number;
  framesAllocated: number;
  /** Bytes held by frame storage (`words`, including the slack of its last growth). */
  slabBytes: number;
  /** Bytes of the GFN → frame index (radix directory and chunks, flat windows, frame → GFN table, Map entries). */
  indexBytes: number;
}

/** V8 Map cost per small-integer entry, measured: ~29 bytes (see bench/map.bench.ts). */
const MAP_ENTRY_BYTES = 29;

export class GuestMemory {
  readonly maxPhyAddr: number;
  /** 2^(maxPhyAddr − 12): the first GFN that does not exist. */
  private readonly gfnLimit: number;
  private readonly slotList: MemSlot[] = []; // sorted by baseGfn, non-overlapping
  private nextSlotId = 0;
  /** GFN → frame for GFNs at or above DIRECT_GFNS. */
  private readonly farMap = new Map<number, number>();
  private nFrames = 0;
  private lastSlot: MemSlot | undefined;
  /**
   * kindOfGfnUnchecked's last run: every GFN in [kindLo, kindEnd) is of kind kindLast (a slot, or
   * a gap between slots, which slotOfUnchecked's lastSlot does not remember). Emptied by every
   * slot change.
   */
  private kindLo = 0;
  private kindEnd = 0;
  private kindLast: GpaKind = 'noslot';
  private frameWords = new Uint32Array(0);
  /** GFN of each frame, -1 once its slot was removed (for removeSlot / moveSlot). */
  private gfnOfFrame = new Float64Array(0);
  /** Radix directory: chunk base in `index` per 4096 GFNs, or -1. */
  private dir = new Int32Array(0);
  /** GFNs the directory covers (dir.length * 4096). */
  private dirGfns = 0;
  private index = new Int32Array(0);
  private indexUsed = 0;
  /** The flat windows (a mirror of the radix / far map), for the cold paths; empty: length 0. */
  private readonly windows: FlatWindow[] = [
    { lo: 0, flat: new Int32Array(0) },
    { lo: 0, flat: new Int32Array(0) },
  ];
  // The windows again as plain fields, which is what the hot path reads (set by `growWindows`).
  // Bounds as [lo, end) rather than lo and length: the hot test `gfn >= lo && gfn < end` compares
  // the GFN itself, which the walkers compute as a 32-bit integer, where `gfn - lo` (a difference
  // V8 cannot bound) made it compare in floating point.
  private flatA = new Int32Array(0);
  private loA = 0;
  private endA = 0;
  private flatB = new Int32Array(0);
  private loB = 0;
  private endB = 0;
  /**
   * The affine run: every GFN in [affLo, affEnd) has frame GFN + affDelta (empty: affLo = affEnd).
   * The longest run of consecutive frames with consecutive GFNs seen, which is what a table pool
   * written in GFN order leaves. The serial walkers test it before frameOfUnchecked (affineLo).
   */
  private affLo = 0;
  private affEnd = 0;
  private affDelta = 0;
  /** The affine run for int32 tests (affineLo32); kept by syncAffine32 whenever the run changes. */
  private aff32Lo = 0;
  private aff32Delta = 0;
  private aff32Span = INT32_MIN;
  /**
   * The second affine run: the longest run other than the first (empty: aff2Lo = aff2End). Its
   * GFNs are not the first run's (a live GFN has one frame). A 2D walk reads two table pools, L1's
   * EPT12/NPT12 and L2's own tables, and nested/walk-2d-fast.ts tests both runs.
   */
  private aff2Lo = 0;
  private aff2End = 0;
  private aff2Delta = 0;
  /** The run that ends at the last frame (nFrames − 1), which the next allocation may continue. */
  private runLo = 0;
  private runEnd = 0;
  private runDelta = 0;

  constructor(opts: GuestMemoryOptions = {}) {
    const m = optObject<GuestMemoryOptions>('options', opts).maxPhyAddr ?? 52;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 32 || m > 52) {
      throw new InvalidArgumentError('maxphyaddr-range', 'options.maxPhyAddr (MAXPHYADDR) must be an integer from 32 to 52', describeValue(m));
    }
    this.maxPhyAddr = m;
    this.gfnLimit = 2 ** (m - 12);
  }

  get slots(): readonly MemSlot[] {
    return this.slotList;
  }

  /** Declare a GPA range. Validated fully before anything changes. */
  addSlot(spec: MemSlotSpec): MemSlot {
    checkObject('spec', spec);
    const base = checkBigint('spec.base', spec.base, { max: (1n << BigInt(this.maxPhyAddr)) - 1n, cls: GpaOutsideMemoryError });
    const size = checkBigint('spec.size', spec.size, { number: true, min: 1n, cls: MisalignedError });
    const readonly = optBool('spec.readonly', spec.readonly, false);
    const name = spec.name === undefined ? undefined : checkString('spec.name', spec.name);
    if ((base & 0xfffn) !== 0n) throw new MisalignedError('slot-alignment', 'slot base must be 4 KiB aligned', hex(base));
    if (size <= 0n || (size & 0xfffn) !== 0n) {
      throw new MisalignedError('slot-size', 'slot size must be a positive multiple of 4 KiB', hex(size));
    }
    const end = base + size;
    if (end > 1n << BigInt(this.maxPhyAddr)) {
      throw new GpaOutsideMemoryError(
        'slot-beyond-maxphyaddr',
        `slot [${hex(base)}, ${hex(end)}) extends beyond MAXPHYADDR ${this.maxPhyAddr}`,
        hex(end - 1n),
      );
    }
    const baseGfn = Number(base >> 12n);
    const frames = Number(size >> 12n);
    for (const s of this.slotList) {
      if (baseGfn < s.baseGfn + s.frames && s.baseGfn < baseGfn + frames) {
        throw new InvalidArgumentError(
          'slot-overlap',
          `slot [${hex(base)}, ${hex(end)}) overlaps slot "${s.name}" [${hex(s.base)}, ${hex((s.base as bigint) + s.size)})`,
          hex(base),
        );
      }
    }
    const id = this.nextSlotId++;
    const slot: MemSlot = Object.freeze({
      id,
      name: name ?? `slot${id}`,
      baseGfn,
      frames,
      readonly,
      base: base as Gpa,
      size,
    });
    this.slotList.push(slot);
    this.slotList.sort((a, b) => a.baseGfn - b.baseGfn);
    this.kindEnd = 0;
    return slot;
  }

  /** Remove a slot; its frames are dropped (their memory is released with the slab only when reused). */
  removeSlot(slot: MemSlot): void {
    const i = this.slotIndex(slot);
    this.slotList.splice(i, 1);
    this.lastSlot = undefined;
    this.kindEnd = 0;
    for (const [g, f] of this.framesIn(slot)) {
      this.setFrame(g, -1);
      this.gfnOfFrame[f] = -1;
    }
    this.rebuildRuns();
  }

  /** [gfn, frame] of every frame written inside a slot. */
  private framesIn(slot: MemSlot): [number, number][] {
    const out: [number, number][] = [];
    const gs = this.gfnOfFrame;
    for (let f = 0; f < this.nFrames; f++) {
      const g = gs[f]!;
      if (g >= slot.baseGfn && g < slot.baseGfn + slot.frames) out.push([g, f]);
    }
    return out;
  }

  /**
   * Move a slot to `newBase` keeping its contents: the frames follow the slot, as the memory
   * behind a KVM memslot's userspace address does on KVM_MR_MOVE. Only the moved slot may overlap
   * the new range. Validated before anything changes. Returns the slot as it now is.
   */
  moveSlot(slot: MemSlot, newBase: Gpa): MemSlot {
    const i = this.slotIndex(slot);
    const base = checkBigint('newBase', newBase, { max: (1n << BigInt(this.maxPhyAddr)) - 1n, cls: GpaOutsideMemoryError });
    if ((base & 0xfffn) !== 0n || base < 0n) throw new MisalignedError('slot-alignment', 'slot base must be 4 KiB aligned', hex(base));
    const end = base + slot.size;
    if (end > 1n << BigInt(this.maxPhyAddr)) {
      throw new GpaOutsideMemoryError('slot-beyond-maxphyaddr', `slot [${hex(base)}, ${hex(end)}) extends beyond MAXPHYADDR ${this.maxPhyAddr}`, hex(end - 1n));
    }
    const baseGfn = Number(base >> 12n);
    for (const s of this.slotList) {
      if (s !== slot && baseGfn < s.baseGfn + s.frames && s.baseGfn < baseGfn + slot.frames) {
        throw new InvalidArgumentError('slot-overlap', `slot [${hex(base)}, ${hex(end)}) overlaps slot "${s.name}"`, hex(base));
      }
    }
    const moved = this.framesIn(slot);
    for (const [g] of moved) this.setFrame(g, -1);
    for (const [g, f] of moved) {
      const ng = g - slot.baseGfn + baseGfn;
      this.gfnOfFrame[f] = ng;
      this.setFrame(ng, f);
    }
    const next: MemSlot = Object.freeze({ ...slot, baseGfn, base: newBase });
    this.slotList[i] = next;
    this.slotList.sort((a, b) => a.baseGfn - b.baseGfn);
    this.lastSlot = undefined;
    this.kindEnd = 0;
    this.rebuildRuns();
    return next;
  }

  /** Index of one of this memory's slots: the object itself (a copy is not the slot). */
  private slotIndex(slot: MemSlot): number {
    const i = this.slotList.indexOf(slot);
    if (i < 0) refuse('slot', 'slot-unknown', 'is not a slot of this memory (pass the object addSlot returned)', slot);
    return i;
  }

  /** The slot holding a GFN, or undefined. */
  slotOf(gfnNum: number): MemSlot | undefined {
    return this.slotOfUnchecked(checkInt('gfnNum', gfnNum, { max: 2 ** 40 - 1 }));
  }

  /** `slotOf` for the walkers' table reads, whose frame numbers are their own. */
  slotOfUnchecked(gfnNum: number): MemSlot | undefined {
    const l = this.lastSlot;
    if (l !== undefined && gfnNum >= l.baseGfn && gfnNum < l.baseGfn + l.frames) return l;
    const list = this.slotList;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = list[mid]!;
      if (gfnNum < s.baseGfn) hi = mid - 1;
      else if (gfnNum >= s.baseGfn + s.frames) lo = mid + 1;
      else {
        this.lastSlot = s;
        return s;
      }
    }
    return undefined;
  }

  kindOf(a: Gpa): GpaKind {
    if (checkBigint('gpa', a) >> BigInt(this.maxPhyAddr) !== 0n) return 'noslot';
    const s = this.slotOfUnchecked(Number((a as bigint) >> 12n));
    return s === undefined ? 'noslot' : s.readonly ? 'rom' : 'ram';
  }

  // ---- hot path (plain numbers) ----

  /** @internal `kindOf` for the GPA's frame `gfnNum` (≥ 0, an integer): no bigint made (walk records ask per walk). */
  kindOfGfnUnchecked(gfnNum: number): GpaKind {
    // A record walk asks once per walk, mostly about the run it asked about last (a GFN outside
    // every slot included: slotOfUnchecked would search the slots for it every time).
    return gfnNum >= this.kindLo && gfnNum < this.kindEnd ? this.kindLast : this.kindRunOf(gfnNum);
  }

  /** kindOfGfnUnchecked's answer, and the run of GFNs around `gfnNum` that shares it kept as the last run. */
  private kindRunOf(gfnNum: number): GpaKind {
    const limit = this.gfnLimit;
    let lo = limit;
    let end = Number.MAX_SAFE_INTEGER;
    let kind: GpaKind = 'noslot';
    if (gfnNum < limit) {
      // The slot holding the GFN, or the gap between the slots on either side: the first slot that
      // starts above it (the list is sorted and the slots do not overlap) and the one before.
      const list = this.slotList;
      let i = 0;
      let j = list.length;
      while (i < j) {
        const mid = (i + j) >> 1;
        if (list[mid]!.baseGfn <= gfnNum) i = mid + 1;
        else j = mid;
      }
      const prev = i > 0 ? list[i - 1]! : undefined;
      lo = prev === undefined ? 0 : prev.baseGfn + prev.frames;
      end = i < list.length ? list[i]!.baseGfn : limit;
      if (prev !== undefined && gfnNum < lo) {
        lo = prev.baseGfn;
        end = prev.baseGfn + prev.frames;
        kind = prev.readonly ? 'rom' : 'ram';
      }
    }
    this.kindLo = lo;
    this.kindEnd = end;
    this.kindLast = kind;
    return kind;
  }

  /** Frame index of a GFN, or -1 when nothing was ever written there (reads as zero, or no slot). */
  frameOf(gfnNum: number): number {
    checkGfnNum('gfn', gfnNum);
    return this.frameOfUnchecked(gfnNum);
  }

  /** @internal frameOf without the argument check, for the engine's walkers (a GFN they computed, ≥ 0). */
  frameOfUnchecked(gfnNum: number): number {
    if (gfnNum >= this.loA && gfnNum < this.endA) return this.flatA[gfnNum - this.loA]!;
    if (gfnNum >= this.loB && gfnNum < this.endB) return this.flatB[gfnNum - this.loB]!;
    return this.frameOfSlow(gfnNum);
  }

  /**
   * @internal The affine run [affineLo, affineEnd) → GFN + affineDelta, for the walkers, which read
   * it once per walk (nothing they do allocates) and test each table's GFN against locals.
   */
  get affineLo(): number {
    return this.affLo;
  }
  /** @internal See affineLo. */
  get affineEnd(): number {
    return this.affEnd;
  }
  /** @internal See affineLo. */
  get affineDelta(): number {
    return this.affDelta;
  }
  /**
   * @internal The affine run for a walk that holds GFN bits 31:0 in an int32 `g` (walk-fast.ts:
   * x86HotWalk4): a GFN below 2^32 is in the run exactly when `((g - affineLo32) ^ 2^31) <
   * affineSpan32` (the unsigned compare of g − affLo, modulo 2^32, with the run's length, as a
   * signed compare of both sides XOR 2^31), and its frame is then `(g + affineDelta32) | 0`
   * (modulo 2^32: the frame is below 2^20). A run reaching above GFN 2^32 has span INT32_MIN
   * (empty) here, which keeps the modular test exact for the GFNs below 2^32 it does take.
   */
  get affineLo32(): number {
    return this.aff32Lo;
  }
  /** @internal See affineLo32. */
  get affineSpan32(): number {
    return this.aff32Span;
  }
  /** @internal See affineLo32. */
  get affineDelta32(): number {
    return this.aff32Delta;
  }

  /** Derive the int32 forms of the affine run (affineLo32) after any change of affLo, affEnd or affDelta. */
  private syncAffine32(): void {
    this.aff32Lo = this.affLo | 0;
    this.aff32Delta = this.affDelta | 0;
    this.aff32Span = this.affEnd <= 0x1_0000_0000 ? ((this.affEnd - this.affLo) ^ INT32_MIN) : INT32_MIN;
  }

  /** @internal The second affine run [affine2Lo, affine2End) → GFN + affine2Delta (aff2Lo). */
  get affine2Lo(): number {
    return this.aff2Lo;
  }
  /** @internal See affine2Lo. */
  get affine2End(): number {
    return this.aff2End;
  }
  /** @internal See affine2Lo. */
  get affine2Delta(): number {
    return this.aff2Delta;
  }

  /** frameOf outside the flat windows (the complete index), apart so that the path above stays small enough to inline. */
  private frameOfSlow(gfnNum: number): number {
    if (gfnNum < this.dirGfns) {
      const c = this.dir[gfnNum >>> CHUNK_SHIFT]!;
      return c < 0 ? -1 : this.index[c + (gfnNum & CHUNK_MASK)]!;
    }
    return gfnNum < DIRECT_GFNS ? -1 : (this.farMap.get(gfnNum) ?? -1);
  }

  /**
   * The array holding a frame's words (all frames share `words`); the frame's words start at
   * `wordBase(frame)`. Kept for callers written against per-slab storage.
   */
  slabOf(frame: number): Uint32Array {
    if (typeof frame !== 'number' || frame >>> 0 !== frame || frame >= this.nFrames) {
      refuse('frame', 'frame-index', `must be a frame index of this memory, an integer in [0, ${this.nFrames})`, frame, GpaOutsideMemoryError);
    }
    return this.frameWords;
  }

  /**
   * Every frame's words, frame f from `wordBase(f)`. Replaced when a write allocates a frame
   * (`frameForWrite`), so read it after the lookup, never keep it across a write.
   */
  get words(): Uint32Array {
    return this.frameWords;
  }

  static wordBase(frame: number): number {
    if (typeof frame !== 'number' || frame >>> 0 !== frame) refuse('frame', 'frame-index', 'must be a frame index, an integer in [0, 2^32)', frame);
    return GuestMemory.wordBaseUnchecked(frame);
  }

  /** @internal wordBase without the argument check. */
  static wordBaseUnchecked(frame: number): number {
    return frame * FRAME_WORDS;
  }

  /** Frame index for writing to a GFN inside a slot, allocating a zeroed frame on first use. */
  frameForWrite(gfnNum: number): number {
    checkGfnNum('gfn', gfnNum);
    return this.frameForWriteUnchecked(gfnNum);
  }

  /** @internal frameForWrite without the argument check. */
  frameForWriteUnchecked(gfnNum: number): number {
    const old = this.frameOfUnchecked(gfnNum);
    if (old >= 0) return old;
    const f = this.nFrames;
    if (f === MAX_FRAMES) {
      throw new LimitExceededError('frames-limit', `a guest memory holds at most ${MAX_FRAMES} written 4 KiB frames (4 GiB)`, hex(gfnNum * 4096));
    }
    if (f * FRAME_WORDS === this.frameWords.length) this.growFrames();
    // Counted before setFrame: the windows' budget includes this frame. setFrame throws nothing.
    this.gfnOfFrame[f] = gfnNum;
    this.nFrames = f + 1;
    this.setFrame(gfnNum, f); // may grow the index and a window
    this.extendRun(gfnNum, f);
    return f;
  }

  /**
   * Frame f (the last frame) now holds GFN g: continue the last run or start one, and keep the
   * longest as the affine run and the longest other one as the second. A non-empty run ends at
   * frame f − 1 (it is restarted at every frame and emptied at a dropped one), so GFN runEnd is the
   * one that continues it. Only that last run grows.
   */
  private extendRun(g: number, f: number): void {
    if (this.runEnd > this.runLo && g === this.runEnd) this.runEnd = g + 1;
    else {
      this.runLo = g;
      this.runEnd = g + 1;
      this.runDelta = f - g;
    }
    const len = this.runEnd - this.runLo;
    // A run starting at an affine run's first GFN is that run: the GFN has one frame while it is live.
    if (this.runLo === this.affLo && this.affEnd > this.affLo) this.affEnd = this.runEnd;
    else if (this.runLo === this.aff2Lo && this.aff2End > this.aff2Lo) {
      this.aff2End = this.runEnd;
      if (len > this.affEnd - this.affLo) this.swapRuns();
    } else if (len > this.affEnd - this.affLo) {
      this.aff2Lo = this.affLo;
      this.aff2End = this.affEnd;
      this.aff2Delta = this.affDelta;
      this.affLo = this.runLo;
      this.affEnd = this.runEnd;
      this.affDelta = this.runDelta;
    } else if (len > this.aff2End - this.aff2Lo) {
      this.aff2Lo = this.runLo;
      this.aff2End = this.runEnd;
      this.aff2Delta = this.runDelta;
    }
    this.syncAffine32();
  }

  private swapRuns(): void {
    const lo = this.affLo;
    const end = this.affEnd;
    const d = this.affDelta;
    this.affLo = this.aff2Lo;
    this.affEnd = this.aff2End;
    this.affDelta = this.aff2Delta;
    this.aff2Lo = lo;
    this.aff2End = end;
    this.aff2Delta = d;
    this.syncAffine32();
  }

  /**
   * After frames changed GFN or were dropped (removeSlot, moveSlot): the runs again from the
   * frame → GFN table, which holds exactly the live mappings (-1 for a dropped frame).
   */
  private rebuildRuns(): void {
    this.affLo = this.affEnd = this.affDelta = 0;
    this.aff2Lo = this.aff2End = this.aff2Delta = 0;
    this.runLo = this.runEnd = this.runDelta = 0;
    this.syncAffine32();
    const gs = this.gfnOfFrame;
    for (let f = 0; f < this.nFrames; f++) {
      const g = gs[f]!;
      if (g < 0) {
        this.runLo = this.runEnd = this.runDelta = 0;
        continue;
      }
      this.extendRun(g, f);
    }
  }

  /** Grow `words` (×2 up to 1 MiB, then ×1.25 to bound the slack) and the frame → GFN table. */
  private growFrames(): void {
    const cap = this.frameWords.length / FRAME_WORDS;
    const next = Math.min(MAX_FRAMES, cap < 16 ? 16 : cap < 256 ? cap * 2 : Math.ceil(cap * 1.25));
    const w = new Uint32Array(next * FRAME_WORDS);
    w.set(this.frameWords);
    this.frameWords = w;
    const g = new Float64Array(next).fill(-1);
    g.set(this.gfnOfFrame);
    this.gfnOfFrame = g;
  }

  /** Point a GFN at a frame (or at none: -1): in the complete index, then in the windows holding it. */
  private setFrame(gfnNum: number, f: number): void {
    this.setFrameComplete(gfnNum, f);
    if (this.setInWindows(gfnNum, f) || f < 0) return;
    if (this.growWindows(gfnNum)) this.setInWindows(gfnNum, f); // else over budget: the complete index answers
  }

  /** Write a GFN's frame into every window holding it; whether one did. */
  private setInWindows(gfnNum: number, f: number): boolean {
    let held = false;
    for (const w of this.windows) {
      const i = gfnNum - w.lo;
      if (i >= 0 && i < w.flat.length) {
        w.flat[i] = f;
        held = true;
      }
    }
    return held;
  }

  /**
   * Make a window cover `gfnNum` by the rule in the header, within the budget; whether one does.
   * A window is refilled from the frame → GFN table, each entry checked against the complete index
   * (moveSlot gets here with some frames' old GFNs still in the table, already cleared from the index).
   */
  private growWindows(gfnNum: number): boolean {
    const ws = this.windows;
    const free = Math.max(FLAT_FLOOR, FLAT_PER_FRAME * this.nFrames) - ws[0]!.flat.length - ws[1]!.flat.length;
    let pick = -1;
    let pickLo = 0;
    let pickLen = 0;
    let pickCost = Infinity;
    // (1) one doubling; (3) the cheapest growth: the same computation, ranked by cost.
    for (let k = 0; k < ws.length; k++) {
      const w = ws[k]!;
      const len0 = w.flat.length;
      if (len0 === 0) continue;
      const down = gfnNum < w.lo;
      const hi = down ? w.lo + len0 : gfnNum + 1;
      let len = len0 * 2;
      while (len < hi - (down ? gfnNum : w.lo)) len *= 2;
      const cost = len - len0;
      if (cost <= free && cost < pickCost) {
        pick = k;
        // Growing down leaves the slack below (the next write there is likely lower still).
        pickLo = down ? Math.max(0, hi - len) : w.lo;
        pickLen = len;
        pickCost = cost;
      }
    }
    const empty = ws.findIndex((w) => w.flat.length === 0);
    if ((pick < 0 || pickLen > 2 * ws[pick]!.flat.length) && empty >= 0 && FLAT_MIN <= free) {
      // (2) a window of its own.
      pick = empty;
      pickLo = gfnNum - (gfnNum % FLAT_MIN);
      pickLen = FLAT_MIN;
    }
    if (pick < 0) return false;
    const flat = new Int32Array(pickLen).fill(-1);
    const gs = this.gfnOfFrame;
    for (let f = 0; f < this.nFrames; f++) {
      const g = gs[f]!;
      if (g >= pickLo && g < pickLo + pickLen && this.frameOfSlow(g) === f) flat[g - pickLo] = f;
    }
    ws[pick] = { lo: pickLo, flat };
    this.flatA = ws[0]!.flat;
    this.loA = ws[0]!.lo;
    this.endA = ws[0]!.lo + ws[0]!.flat.length;
    this.flatB = ws[1]!.flat;
    this.loB = ws[1]!.lo;
    this.endB = ws[1]!.lo + ws[1]!.flat.length;
    return true;
  }

  /** Point a GFN at a frame (or at none: -1), in the radix index or the far map. */
  private setFrameComplete(gfnNum: number, f: number): void {
    if (gfnNum >= DIRECT_GFNS) {
      if (f < 0) this.farMap.delete(gfnNum);
      else this.farMap.set(gfnNum, f);
      return;
    }
    const d = gfnNum >>> CHUNK_SHIFT;
    if (d >= this.dir.length) {
      if (f < 0) return;
      let n = Math.max(16, this.dir.length);
      while (n <= d) n *= 2;
      const nd = new Int32Array(n).fill(-1);
      nd.set(this.dir);
      this.dir = nd;
      this.dirGfns = n * CHUNK;
    }
    let c = this.dir[d]!;
    if (c < 0) {
      if (f < 0) return;
      if (this.indexUsed === this.index.length) {
        const ni = new Int32Array(Math.max(CHUNK, this.index.length * 2)).fill(-1);
        ni.set(this.index);
        this.index = ni;
      }
      c = this.indexUsed;
      this.indexUsed += CHUNK;
      this.dir[d] = c;
    }
    this.index[c + (gfnNum & CHUNK_MASK)] = f;
  }

  // ---- host-side API (bigint) ----

  private check(a: Gpa, bytes: number): number {
    const v = checkBigint('gpa', a);
    if ((v & BigInt(bytes - 1)) !== 0n) {
      throw new MisalignedError(`access-alignment-${bytes}`, `a ${bytes}-byte access must be ${bytes}-byte aligned`, hex(v));
    }
    const g = v >> 12n;
    if (v >> BigInt(this.maxPhyAddr) !== 0n || this.slotOfUnchecked(Number(g)) === undefined) {
      throw new GpaOutsideMemoryError('gpa-no-slot', 'no memory slot covers this GPA', hex(v));
    }
    return Number(g);
  }

  read32(a: Gpa): number {
    const g = this.check(a, 4);
    const f = this.frameOfUnchecked(g);
    if (f < 0) return 0;
    return this.frameWords[GuestMemory.wordBaseUnchecked(f) + Number(((a as bigint) & 0xfffn) >> 2n)]!;
  }

  write32(a: Gpa, value: number): void {
    const g = this.check(a, 4);
    checkInt('value', value, { max: 0xffff_ffff });
    const f = this.frameForWriteUnchecked(g);
    this.frameWords[GuestMemory.wordBaseUnchecked(f) + Number(((a as bigint) & 0xfffn) >> 2n)] = value >>> 0;
  }

  read64(a: Gpa): bigint {
    const g = this.check(a, 8);
    const f = this.frameOfUnchecked(g);
    if (f < 0) return 0n;
    const s = this.frameWords;
    const w = GuestMemory.wordBaseUnchecked(f) + Number(((a as bigint) & 0xfffn) >> 2n);
    return (BigInt(s[w + 1]!) << 32n) | BigInt(s[w]!);
  }

  write64(a: Gpa, value: bigint): void {
    const g = this.check(a, 8);
    const v = checkBigint('value', value);
    const f = this.frameForWriteUnchecked(g);
    const s = this.frameWords;
    const w = GuestMemory.wordBaseUnchecked(f) + Number(((a as bigint) & 0xfffn) >> 2n);
    s[w] = Number(v & 0xffffffffn);
    s[w + 1] = Number(v >> 32n);
  }

  read8(a: Gpa): number {
    const g = this.check(a, 1);
    const f = this.frameOfUnchecked(g);
    if (f < 0) return 0;
    const off = Number((a as bigint) & 0xfffn);
    const word = this.frameWords[GuestMemory.wordBaseUnchecked(f) + (off >> 2)]!;
    return (word >>> ((off & 3) * 8)) & 0xff;
  }

  write8(a: Gpa, value: number): void {
    const g = this.check(a, 1);
    checkInt('value', value, { max: 0xff });
    const f = this.frameForWriteUnchecked(g);
    const off = Number((a as bigint) & 0xfffn);
    const s = this.frameWords;
    const i = GuestMemory.wordBaseUnchecked(f) + (off >> 2);
    const sh = (off & 3) * 8;
    s[i] = ((s[i]! & ~(0xff << sh)) | ((value & 0xff) << sh)) >>> 0;
  }

  /** Read `length` bytes starting at a GPA (may cross frames; every byte must be in a slot). */
  readBytes(a: Gpa, length: number): Uint8Array {
    checkLimit('length', checkInt('length', length), MAX_BYTES_PER_CALL, 'bytes');
    this.check(a, 1);
    if (length > 0) this.check((checkBigint('gpa', a) + BigInt(length - 1)) as Gpa, 1);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.read8(((a as bigint) + BigInt(i)) as Gpa);
    return out;
  }

  writeBytes(a: Gpa, data: ArrayLike<number>): void {
    // Validate the whole range first so a failing write changes nothing.
    if (typeof data !== 'object' || data === null || typeof data.length !== 'number') refuse('data', 'bytes-type', 'must be an array-like of bytes', data);
    checkLimit('data.length', checkInt('data.length', data.length), MAX_BYTES_PER_CALL, 'bytes');
    for (let i = 0; i < data.length; i += 1) {
      this.check((checkBigint('gpa', a) + BigInt(i)) as Gpa, 1);
      checkInt(`data[${i}]`, data[i], { max: 0xff });
    }
    for (let i = 0; i < data.length; i++) this.write8(((a as bigint) + BigInt(i)) as Gpa, data[i]!);
  }

  /** Whether a frame was ever written (i.e. costs memory). */
  isAllocated(g: Gfn): boolean {
    return this.frameOf(checkInt('gfn', g)) >= 0;
  }

  stats(): MemoryStats {
    return {
      slots: this.slotList.length,
      framesAllocated: this.nFrames,
      slabBytes: this.frameWords.byteLength,
      indexBytes: this.dir.byteLength + this.index.byteLength + this.flatA.byteLength + this.flatB.byteLength + this.gfnOfFrame.byteLength + this.farMap.size * MAP_ENTRY_BYTES,
    };
  }

  /** GPA of a frame number (for display). */
  static gpaOf(gfnNum: number): Gpa {
    checkInt('gfnNum', gfnNum, { max: 2 ** 40 - 1 });
    return gfnToGpa(gfnNum as Gfn);
  }
}
