/**
 * The record walk's fast path: `walkTables` followed by `buildRecord` (walk-record.ts) in one pass,
 * for the common case only — 4- or 5-level paging (8-byte entries, the root in memory), no second
 * stage, and a walk that succeeds without setting an A or D bit. Such a walk only reads, so this
 * walk gives up (undefined) at the first sign of anything else, before any side effect, and the
 * caller runs the full walk and builds the record from its trace: a fault, an A/D update, a table
 * never written, PAE, 32-bit paging.
 *
 * Why a separate pass: a random walk waits on a cache miss at every level. The full walk stores
 * each level into the scratch and buildRecord then makes the record's objects and bigints from
 * it, after the last miss. Here each level's step (its object and two bigints) is made right
 * after the entry is read, while the next level's read is still in flight, and the scratch
 * stores are skipped; `npm run bench` (gva_walk.*.record against .raw) shows what it buys. The
 * steps of levels 2 to 5 come from the walker's step cache (upperStep, L2_SLOTS) when the entry and
 * the ACC through it are those the cached step was made for (records then share that frozen step);
 * level 1 always makes its own. Making the
 * steps after the whole walk instead, so that the upper levels' steps would overlap the level-1
 * miss, measured 1.13-1.20x the record time of this order.
 *
 * As walk-fast.ts's x86 walk, it is built once per walker (`makeRecordFastWalk`) as a closure
 * with the walker's constants, its levels unrolled: the misses of consecutive random walks
 * overlap only as far as the CPU's out-of-order window reaches, so every instruction per walk
 * costs.
 * test/walker/walk-record-fast.test.ts checks it against walkTables + buildRecord on random
 * tables.
 */
import type { Gfn, Gpa, Gva } from '../address/address';
import { FRAME_WORDS } from '../memory/guest-memory';
import type { Access } from './access';
import type { WalkInputs } from './walk';
import { x86WalkConstants } from './x86-walk-constants';
import type { WalkScratch } from './walk-scratch';
import { allowed, clearFullWalkFlags, x86Unrollable } from './walk-fast';
import type { WalkOk, WalkStep } from './walk-result';

const TWO20 = 0x100000;
// Module-local copies (an imported `const` is a property load on the module object at each use).
const FW = FRAME_WORDS;
const WRITE = 2; // PFERR.WRITE
/** Step cache slots: 64 per level from 3 to 5, picked by the low 6 bits of the entry's index. */
const UPPER_SLOTS = 3 * 64;
/**
 * Level-2 step cache slots (after the upper levels' in the same arrays), picked by the entry's GPA
 * bits 14:3. A random walk over a guest's memory goes through one of its level-2 entries, one per
 * 2 MiB mapped: 4096 slots can hold those of a guest of 8 GiB (bench/walk.bench.ts maps 4 GiB,
 * 2048 entries). Over more than the cache holds, most walks miss, and a miss that replaced the
 * slot's step would pay a frozen step (Object.freeze) and a store of a young object into the
 * long-lived cache (a write barrier) per walk (b017def: 1.6-1.7x the record time with 75 % of
 * walks missing); a miss on another entry's step therefore makes an unshared step and replaces
 * the slot's at every 64th such miss only (b017def: 0.99-1.05x there).
 */
const L2_SLOTS = 4096;
/**
 * The level-2 cache's probe: after L2_PROBE lookups that hit less than half the time, the next
 * L2_OFF walks that reach a level-2 entry skip it, then it probes again. A lookup that misses costs
 * more than it saves (the slot's key is a cache miss of its own, and whether it hits is
 * unpredictable): with 16 Ki level-2 entries walked at random (75 % misses), the cache without the
 * probe took 1.15-1.30x the record time of no level-2 cache, with it 1.00-1.10x (an A/A run of the
 * same code: 0.94x); on the bench's walks (all hits) 0.84-0.93x. In one process, both orders.
 */
const L2_PROBE = 256;
const L2_OFF = 65536;
const L2_BASE = UPPER_SLOTS;
const STEP_SLOTS = UPPER_SLOTS + L2_SLOTS;

/**
 * A walker's record walk (see above): the record `buildRecord` would make of a successful
 * `walkTables(w, s, vhi, vlo, access)`, or undefined when the walk needs more than reads; nothing
 * is written then. `address` and `accessObj` are the walk's arguments as the record shows them
 * (`vhi`/`vlo` and `access` their halves, unsigned or as int32 — read only through shifts and masks —
 * and encoding). On success the scratch holds the outcome
 * as after `walkTablesRaw` (gfn, level, pteAccess, pkey; the per-level trace unwritten, for
 * `ensureTrace`).
 */
export type RecordFastWalk = (s: WalkScratch, vhi: number, vlo: number, access: number, address: Gva, accessObj: Access) => WalkOk | undefined;

/** For inputs the record walk does not cover: always the full walk and buildRecord. */
export const noRecordFastWalk: RecordFastWalk = () => undefined;

/** The bigint of 32-bit unsigned halves (U64View.make's body: inlined where it is called). */
function u64(lo: number, hi: number): bigint {
  return BigInt.asUintN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

/**
 * The record walk for these inputs, built once by the walker that owns them (the inputs do not
 * change afterwards), on its first record walk: the vCPU makes a walker at every paging register
 * write, and most never make a record. 4- and 5-level x86 formats KVM builds (walk-fast.ts:
 * x86Unrollable); for anything else every walk takes the full walk. The step cache's arrays are
 * `const`s of the closure, made with it: made on the closure's first call instead (`let`s tested
 * per walk), a record walk with a 4288-slot cache took 1.1x the time, side by side in one process.
 */
export function makeRecordFastWalk(w: WalkInputs): RecordFastWalk {
  const fmt = w.format;
  if (fmt.ptType !== 64 || w.translate !== undefined || w.translateAdWrite !== undefined || !x86Unrollable(fmt)) return noRecordFastWalk;
  const mem = w.mem;
  const { root, rootGfn, v73, perms, pkru, pkruMask, m5l, m5h, m4l, m4h, m3l, m3h, p3l, p3h, m2l, m2h, p2l, p2h, m1l, m1h } = x86WalkConstants(w);
  // The root table's GPA as halves (bits 31:12, 51:32): each entry's GPA is made from integers.
  const rootTlo = ((rootGfn % TWO20) * 4096) >>> 0;
  const rootThi = ((rootGfn - (rootGfn % TWO20)) / TWO20) >>> 0; // exact: a frame is below 2^40
  // The step cache (upperStep, and level 2 below): frozen steps of level-2..5 entries, each with
  // the numbers it was made from in `key` (entry GPA bits 31:0; bits 51:32 plus the ACC through
  // the entry times 2^20; the entry's halves); `misses2` counts level-2 misses (L2_SLOTS), and
  // `l2Looks`, `l2Hits`, `l2Off` are the probe's (L2_PROBE).
  const steps = new Array<WalkStep | undefined>(STEP_SLOTS).fill(undefined);
  const key = new Uint32Array(STEP_SLOTS * 4);
  let misses2 = 0;
  let l2Looks = 0;
  let l2Hits = 0;
  let l2Off = 0;
  return function x86RecordWalk(s, vhi, vlo, access, address, accessObj) {
    const words = mem.words; // nothing here allocates a frame
    const aLo = mem.affineLo;
    const aEnd = mem.affineEnd;
    const aD = mem.affineDelta;
    let g = rootGfn;
    let f = 0;
    let idx = 0;
    let wi = 0;
    let lo = 0;
    let hi = 0;
    let tlo = rootTlo;
    let thi = rootThi;
    let accLo = -1;
    let accHiInv = -1; // NX inverted so it ANDs like the other rights (walk_nx_mask)
    let acc = 0;
    let level = 1;
    let s5: WalkStep | undefined;
    let s3: WalkStep;
    let s2: WalkStep | undefined;
    if (root === 5) {
      f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
      if (f < 0) return undefined; // a table never written (reads as zero) or outside every slot
      idx = (vhi >>> 16) & 511;
      wi = f * FW + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      if ((lo & 1) === 0 || ((lo & m5l) | (hi & m5h)) !== 0) return undefined;
      accLo = lo;
      accHiInv = ~hi;
      acc = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
      s5 = upperStep(steps, key, 128 | (idx & 63), 5, (tlo | (idx * 8)) >>> 0, thi, lo, hi, acc, false);
      tlo = (lo & 0xffff_f000) >>> 0;
      thi = hi & 0xfffff;
      g = thi * TWO20 + (tlo >>> 12);
    }
    f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
    if (f < 0) return undefined;
    idx = (vhi >>> 7) & 511;
    wi = f * FW + idx * 2;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    if ((lo & 1) === 0 || ((lo & m4l) | (hi & m4h)) !== 0) return undefined;
    accLo &= lo;
    accHiInv &= ~hi;
    acc = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
    const s4 = upperStep(steps, key, 64 | (idx & 63), 4, (tlo | (idx * 8)) >>> 0, thi, lo, hi, acc, false);
    tlo = (lo & 0xffff_f000) >>> 0;
    thi = hi & 0xfffff;
    g = thi * TWO20 + (tlo >>> 12);
    f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
    if (f < 0) return undefined;
    idx = ((vlo >>> 30) | (vhi << 2)) & 511;
    wi = f * FW + idx * 2;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    leaf: {
      // FNAME(is_last_gpte): PS at level 3 or 2 (reserved at 4 and 5, so rejected above), or level 1.
      if ((lo & 0x80) !== 0) {
        if ((lo & 1) === 0 || ((lo & p3l) | (hi & p3h)) !== 0) return undefined;
        accLo &= lo;
        accHiInv &= ~hi;
        acc = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
        s3 = upperStep(steps, key, idx & 63, 3, (tlo | (idx * 8)) >>> 0, thi, lo, hi, acc, true);
        level = 3;
        break leaf;
      }
      if ((lo & 1) === 0 || ((lo & m3l) | (hi & m3h)) !== 0) return undefined;
      accLo &= lo;
      accHiInv &= ~hi;
      acc = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
      s3 = upperStep(steps, key, idx & 63, 3, (tlo | (idx * 8)) >>> 0, thi, lo, hi, acc, false);
      tlo = (lo & 0xffff_f000) >>> 0;
      thi = hi & 0xfffff;
      g = thi * TWO20 + (tlo >>> 12);
      f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
      if (f < 0) return undefined;
      idx = (vlo >>> 21) & 511;
      wi = f * FW + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      const large = (lo & 0x80) !== 0;
      if ((lo & 1) === 0 || (large ? (lo & p2l) | (hi & p2h) : (lo & m2l) | (hi & m2h)) !== 0) return undefined;
      accLo &= lo;
      accHiInv &= ~hi;
      acc = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
      // Level 2 from the step cache too (L2_SLOTS), in a slot picked by the entry's GPA bits 14:3;
      // a miss replaces the slot's step when the slot is empty or its step is of the same entry,
      // and otherwise at every 64th miss only. While the cache is off (l2Off walks, after a probe of
      // L2_PROBE lookups that hit less than half the time) or when the slot is kept, the step is
      // made as buildRecord writes it for an entry read from memory on a successful walk (the same
      // keys in the same order).
      const e2 = (tlo | (idx * 8)) >>> 0;
      if (l2Off > 0) l2Off--;
      else {
        const slot2 = L2_BASE + ((e2 >>> 3) & (L2_SLOTS - 1));
        const old2 = steps[slot2];
        const k2 = slot2 * 4;
        if (old2 !== undefined && key[k2] === e2 && key[k2 + 1] === thi + acc * TWO20 && key[k2 + 2] === lo && key[k2 + 3] === hi) {
          s2 = old2;
          l2Hits++;
        } else if (old2 === undefined || key[k2] === e2 || (++misses2 & 63) === 0) s2 = keepStep(steps, key, slot2, 2, e2, thi, lo, hi, acc, large);
        if (++l2Looks === L2_PROBE) {
          if (l2Hits < L2_PROBE / 2) l2Off = L2_OFF;
          l2Looks = 0;
          l2Hits = 0;
        }
      }
      if (s2 === undefined) s2 = { level: 2, source: 'memory', entryGpa: u64(e2, thi) as Gpa, value: u64(lo, hi), present: true, leaf: large, access: acc };
      if (large) {
        level = 2;
        break leaf;
      }
      tlo = (lo & 0xffff_f000) >>> 0;
      thi = hi & 0xfffff;
      g = thi * TWO20 + (tlo >>> 12);
      f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
      if (f < 0) return undefined;
      idx = (vlo >>> 12) & 511;
      wi = f * FW + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      if ((lo & 1) === 0 || ((lo & m1l) | (hi & m1h)) !== 0) return undefined;
      accLo &= lo;
      accHiInv &= ~hi;
      acc = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
    }
    // permission_fault on the accumulated rights, then the protection key (walkTables' order).
    const pteAccess = acc;
    const pkey = (hi >>> 27) & 15;
    if (!allowed(perms, pkruMask, pkru, access, pteAccess, pkey)) return undefined;
    // A clear A anywhere, or D on the leaf of a write: the full walk sets them. A read of a clean
    // leaf maps it read-only (protect_clean_gpte).
    if ((accLo & 0x20) === 0) return undefined;
    let pteAcc = pteAccess;
    if ((lo & 0x40) === 0) {
      if ((access & WRITE) !== 0) return undefined;
      pteAcc &= ~2;
    }
    // The trace, and the guest frame: the leaf's frame plus the address bits below the page size
    // (by masks, as walk-fast.ts: `%` on a double is a call to fmod).
    const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    let gfn = frame;
    let trace: WalkStep[];
    if (level === 1) {
      const s1: WalkStep = { level: 1, source: 'memory', entryGpa: u64((tlo | (idx * 8)) >>> 0, thi) as Gpa, value: u64(lo, hi), present: true, leaf: true, access: acc };
      trace = s5 === undefined ? [s4, s3, s2!, s1] : [s5, s4, s3, s2!, s1];
    } else {
      const mask = level === 2 ? 511 : 262143;
      gfn = frame - (frame & mask) + ((vlo >>> 12) & mask);
      if (level === 2) trace = s5 === undefined ? [s4, s3, s2!] : [s5, s4, s3, s2!];
      else trace = s5 === undefined ? [s4, s3] : [s5, s4, s3];
    }
    // The scratch as a successful walkTablesRaw leaves it (walk-fast.ts: clearFullWalkFlags): lastGfn and
    // the staged-walk getters read the outcome, and recordLast's ensureTrace re-walks for the trace.
    if (s.traced === true) clearFullWalkFlags(s);
    s.tvhi = vhi;
    s.tvlo = vlo;
    s.tacc = access;
    s.gfn = gfn;
    s.maxLevel = root;
    s.level = level;
    s.pkey = pkey;
    s.pteAccess = pteAcc;
    return {
      status: 'ok',
      stage: 'gva_walk',
      address,
      access: accessObj,
      trace,
      gpa: u64((((gfn & 0xfffff) << 12) | (vlo & 0xfff)) >>> 0, (gfn / TWO20) >>> 0) as Gpa,
      gfn: gfn as Gfn, // a frame from an entry: below 2^40
      level,
      pageSize: level === 1 ? 4096 : level === 2 ? 0x20_0000 : 0x4000_0000,
      pteAccess: pteAcc,
      pkey,
      gpaKind: mem.kindOfGfnUnchecked(gfn),
      adUpdates: 0,
    };
  };
}

/**
 * The step of a level-3..5 entry (GPA halves elo/thi, value halves lo/hi, ACC acc through it) read
 * on a successful walk. An entry at level 3 or above maps 1 GiB or more: consecutive walks mostly
 * go through the same few, and their step is the one made last time, kept in the walker's step
 * cache at `slot`. Every field of a step follows from its level (the slot's), entry and ACC: the
 * cached one when those are the same, else a new one (keepStep). `thi` is below 2^20 (bits 51:32
 * of a table's GPA) and the ACC below 2^4, so one key word holds both.
 */
function upperStep(steps: (WalkStep | undefined)[], key: Uint32Array, slot: number, level: number, elo: number, thi: number, lo: number, hi: number, acc: number, leaf: boolean): WalkStep {
  const old = steps[slot];
  const k = slot * 4;
  return old !== undefined && key[k] === elo && key[k + 1] === thi + acc * TWO20 && key[k + 2] === lo && key[k + 3] === hi
    ? old
    : keepStep(steps, key, slot, level, elo, thi, lo, hi, acc, leaf);
}

/**
 * A new step for a level-2..5 entry, kept in the step cache at `slot` with the numbers it follows
 * from, for the next walks through the same entry. Kept steps are frozen: records share them (a
 * step is a value, as its bigints are), and one record's caller cannot change another's. Not
 * level 1, and level 2 not on every miss (L2_SLOTS): an entry that changes from walk to walk
 * would pay the freeze and a store into the long-lived cache (a write barrier: the step is young,
 * the cache old) on every walk for nothing.
 */
function keepStep(steps: (WalkStep | undefined)[], key: Uint32Array, slot: number, level: number, elo: number, thi: number, lo: number, hi: number, acc: number, leaf: boolean): WalkStep {
  const step: WalkStep = Object.freeze({
    level,
    source: 'memory' as const,
    entryGpa: u64(elo, thi) as Gpa,
    value: u64(lo, hi),
    present: true,
    leaf,
    access: acc,
  });
  steps[slot] = step;
  const k = slot * 4;
  key[k] = elo;
  key[k + 1] = thi + acc * TWO20;
  key[k + 2] = lo;
  key[k + 3] = hi;
  return step;
}
