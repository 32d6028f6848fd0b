/**
 * The raw walk's fast path: the same walk as `walkTables` (`paging_tmpl.h:
 * FNAME(walk_addr_generic)`, `mmu.h: permission_fault`) for the common case only — 8-byte entries,
 * a 4- or 5-level root in memory (no PAE PDPTE registers), no second stage — that reads the
 * entries and writes nothing per level. Whenever the walk would do more than read (a fault, an A/D
 * update, a table never written) it gives up before any side effect (returns SLOW) and the caller
 * runs `walkTables`, which then does the whole walk with its per-level trace. A successful fast
 * walk leaves the trace unwritten (`WalkScratch.traced` false) with the walk's inputs kept;
 * `ensureTrace` re-runs the full walk to fill it. Because the fast walk changed nothing, that
 * re-walk reads the same entries and returns the same result, as long as memory did not change in
 * between (callers ask right away).
 *
 * Why a second copy: a random walk is memory-bound at its last level, and the CPU overlaps the
 * cache misses of consecutive walks only as far as its out-of-order window reaches, so every
 * instruction per walk costs. The per-level trace stores and the general cases of `walkTables`
 * were most of the raw walk's instructions. `makeFastWalk` therefore builds, once per walker, a
 * closure with the walker's constants (root, reserved masks by level, permissions, PKRU) in it:
 *  - x86 64-bit formats (4- and 5-level paging, NPT): levels unrolled, each level's reserved
 *    masks a constant, no format branch;
 *  - EPT: one loop over the levels whose per-entry decisions are table lookups (entry-tables.ts).
 * `npm run bench` prints what it buys (`gva_walk.fast_over_full`: this walk over `walkTables` on
 * the same walks); the 2D walk has its own (nested/walk-2d-fast.ts).
 */
// `f * FRAME_WORDS` is GuestMemory.wordBaseUnchecked(f), written out: V8 left some of those
// static calls un-inlined in these long functions.
import { FRAME_WORDS } from '../memory/guest-memory';
import type { PageFormat } from '../format/page-format';
import { PFERR } from '../format/acc';
import { ACCESS_AC, ACCESS_IMPLICIT } from './access';
import { entryTables } from './entry-tables';
import { walkTables, type WalkInputs } from './walk';
import { x86WalkConstants } from './x86-walk-constants';
import type { WalkScratch } from './walk-scratch';

const TWO20 = 0x100000;

// Module-local copies of the constants the walks read: an imported or exported `const` compiles
// (CommonJS) to a property load on a module object at every use, which V8 did not fold.
const FW = FRAME_WORDS;
const WRITE = PFERR.WRITE;
const USER = PFERR.USER;
const FETCH = PFERR.FETCH;
const RSVD = PFERR.RSVD;
const AC = ACCESS_AC;
const IMPLICIT = ACCESS_IMPLICIT;

/** A fast walk's answer when the walk needs more than reads: the caller runs the full walk. */
const SLOW = -1;
export { SLOW };

/**
 * A walker's read-only walk: 0 with the outcome in its scratch (gfn, level, maxLevel, pkey,
 * pteAccess) and the trace marked unwritten, or SLOW with nothing written. The scratch is the
 * walker's own, fixed when the walk is made (makeFastWalk): as an argument it cost the call a push
 * and the walk a map check of the object before its stores: 411.0 against 401.0 machine
 * instructions per walk (callgrind, main thread, node --no-concurrent-recompilation, a loop of
 * walkRaw calls as bench/walk.bench.ts's raw body over 4-level random walks, after a warm-up).
 */
export type FastWalk = (vhi: number, vlo: number, access: number) => number;

/** For inputs no fast walk covers (4-byte entries, PAE, a second stage): always the full walk. */
export const noFastWalk: FastWalk = () => SLOW;

/**
 * GvaWalker's walk with paging off (CR0.PG = 0): the GFN is the address's, and the walk never gives
 * up. As the walker's fast walk it spares walkRaw a test of its inputs before every walk.
 */
export function makePagingOffWalk(s: WalkScratch): FastWalk {
  return function pagingOffWalk(vhi, vlo) {
    s.gfn = ((vhi >>> 0) * 0x1_0000_0000 + (vlo >>> 0) - (vlo & 0xfff)) / 4096;
    return 0;
  };
}

/**
 * The fast walk for these inputs (their format, root, PKRU) into scratch `s`, built once by the
 * walker that owns both. Precondition for the walker: the inputs do not change afterwards (they
 * are readonly).
 */
export function makeFastWalk(w: WalkInputs, s: WalkScratch): FastWalk {
  if (w.translate !== undefined || w.translateAdWrite !== undefined) return noFastWalk;
  const fmt = w.format;
  if (fmt.ptType === 64 && x86Unrollable(fmt)) {
    const general = x86FastWalk(w, s);
    // hotWalkTakes: the same test walk-batch-hot.ts's loop is made by.
    return hotWalkTakes(w) ? x86HotWalk4(w, s, general) : general;
  }
  return entryTables(fmt) === undefined ? noFastWalk : tableFastWalk(w, s);
}

/**
 * Whether the unrolled x86 walk decides exactly as `walkTables`: 8-byte entries, 4 or 5 levels, A/D
 * in bits 5 and 6, a PS bit at level 4 or 5 reserved whichever mask applies (so those levels need
 * not look at it), and level 1's two masks equal (PS is PAT there: `rsvd_bits_mask[1][0] = [0][0]`). Every format
 * KVM builds meets it (rsvd-bits-mask.ts); a hand-made PageFormat may not, and takes the table walk.
 */
export function x86Unrollable(fmt: PageFormat): boolean {
  if (fmt.entryBytes !== 8 || (fmt.rootLevel !== 4 && fmt.rootLevel !== 5)) return false;
  if (!fmt.hasAd || fmt.accessedBit !== 5 || fmt.dirtyBit !== 6) return false;
  const { rsvdLo, rsvdHi } = fmt.hot;
  for (let l = 4; l <= fmt.rootLevel; l++) {
    if (rsvdLo[l - 1] !== rsvdLo[4 + l] || rsvdHi[l - 1] !== rsvdHi[4 + l] || (rsvdLo[l - 1]! & 0x80) === 0) return false;
  }
  return rsvdLo[0] === rsvdLo[5] && rsvdHi[0] === rsvdHi[5];
}

/**
 * `permission_fault` on the leaf's accumulated ACC (walk.ts): whether the access may proceed.
 * `pkruMask` is 0 when no protection key can fault (no CR4.PKE, or PKRU 0).
 */
export function allowed(perms: Uint16Array, pkruMask: number, pkru: number, access: number, pteAccess: number, pkey: number): boolean {
  const pfec = access & (WRITE | USER | FETCH);
  const notSmap = (access & AC) !== 0 && (access & IMPLICIT) === 0;
  if (((perms[(pfec | (notSmap ? RSVD : 0)) >>> 1]! >>> pteAccess) & 1) !== 0) return false;
  if (pkruMask === 0) return true;
  const off = (pfec & ~1) | ((pteAccess & 4) !== 0 ? RSVD : 0);
  return (((pkru >>> (pkey * 2)) & 3) & (pkruMask >>> off)) === 0;
}

function x86FastWalk(w: WalkInputs, s: WalkScratch): FastWalk {
  const mem = w.mem;
  // Levels 4 and 5's masks include PS (x86Unrollable).
  const { root, rootGfn, v73, perms, pkru, pkruMask, m5l, m5h, m4l, m4h, m3l, m3h, p3l, p3h, m2l, m2h, p2l, p2h, m1l, m1h } = x86WalkConstants(w);
  return function x86Walk(vhi, vlo, access) {
    const words = mem.words; // the fast walk writes nothing, so no frame is allocated meanwhile
    // The affine run (GuestMemory.affineLo), read once per walk: each level's table GFN is tested
    // against locals, and inside the run its frame is an add, with no load on the dependent chain.
    const aLo = mem.affineLo;
    const aEnd = mem.affineEnd;
    const aD = mem.affineDelta;
    let g = rootGfn;
    let f = 0;
    let wi = 0;
    let lo = 0;
    let hi = 0;
    let accLo = -1;
    let accHiInv = -1;
    let level = 1;
    if (root === 5) {
      f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
      if (f < 0) return SLOW;
      wi = f * FW + ((vhi >>> 16) & 511) * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      if ((lo & 1) === 0 || ((lo & m5l) | (hi & m5h)) !== 0) return SLOW;
      accLo = lo;
      accHiInv = ~hi;
      g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    }
    f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
    if (f < 0) return SLOW;
    wi = f * FW + ((vhi >>> 7) & 511) * 2;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    if ((lo & 1) === 0 || ((lo & m4l) | (hi & m4h)) !== 0) return SLOW;
    accLo &= lo;
    accHiInv &= ~hi;
    g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
    if (f < 0) return SLOW;
    wi = f * FW + (((vlo >>> 30) | (vhi << 2)) & 511) * 2;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    leaf: {
      if ((lo & 0x80) !== 0) {
        if ((lo & 1) === 0 || ((lo & p3l) | (hi & p3h)) !== 0) return SLOW;
        accLo &= lo;
        accHiInv &= ~hi;
        level = 3;
        break leaf;
      }
      if ((lo & 1) === 0 || ((lo & m3l) | (hi & m3h)) !== 0) return SLOW;
      accLo &= lo;
      accHiInv &= ~hi;
      g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
      f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
      if (f < 0) return SLOW;
      wi = f * FW + ((vlo >>> 21) & 511) * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      if ((lo & 0x80) !== 0) {
        if ((lo & 1) === 0 || ((lo & p2l) | (hi & p2h)) !== 0) return SLOW;
        accLo &= lo;
        accHiInv &= ~hi;
        level = 2;
        break leaf;
      }
      if ((lo & 1) === 0 || ((lo & m2l) | (hi & m2h)) !== 0) return SLOW;
      accLo &= lo;
      accHiInv &= ~hi;
      g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
      f = g >= aLo && g < aEnd ? g + aD : mem.frameOfUnchecked(g);
      if (f < 0) return SLOW;
      wi = f * FW + ((vlo >>> 12) & 511) * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      if ((lo & 1) === 0 || ((lo & m1l) | (hi & m1h)) !== 0) return SLOW;
      accLo &= lo;
      accHiInv &= ~hi;
    }
    // gpte_access: 7.3 adds ACC_READ (1) and moves EXEC to 8 (walk.ts: x86Acc, x86Acc73).
    const pteAccess = v73 ? ((accHiInv >>> 31) << 3) | (accLo & 6) | 1 : (accLo & 6) | (accHiInv >>> 31);
    const pkey = (hi >>> 27) & 15;
    if (!allowed(perms, pkruMask, pkru, access, pteAccess, pkey)) return SLOW;
    // A clear A anywhere, or D on the leaf of a write: the full walk sets them. A read of a clean
    // leaf maps it read-only (protect_clean_gpte).
    if ((accLo & 0x20) === 0) return SLOW;
    let pteAcc = pteAccess;
    if ((lo & 0x40) === 0) {
      if ((access & WRITE) !== 0) return SLOW;
      pteAcc &= ~2;
    }
    // The leaf frame plus the address bits below a large page (walk.ts), by masks: `%` on a
    // double is a call to fmod, and `&` keeps an integral double's low bits (ToInt32 is
    // modular). This and the trace-state stores are written out: V8 did not inline helper calls
    // here, whose arguments then became heap numbers.
    const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    if (level === 1) s.gfn = frame;
    else {
      const mask = level === 2 ? 511 : 262143;
      s.gfn = frame - (frame & mask) + ((vlo >>> 12) & mask);
    }
    s.maxLevel = root;
    s.level = level;
    s.pkey = pkey;
    s.pteAccess = pteAcc;
    if (s.traced === true) clearFullWalkFlags(s);
    s.tvhi = vhi;
    s.tvlo = vlo;
    s.tacc = access;
    return 0;
  };
}

/** The hot walk's tests for `w` (x86HotWalk4's comment), as numbers its closure keeps. */
export interface HotWalkTests {
  /** The root's GFN as an int32 (hotRootAndKeys: below 2^32). */
  readonly rootG: number;
  /** 4 or 5: the levels of the walk (x86HotWalk4 takes 4 only; walk-batch-hot.ts both). */
  readonly rootLevel: 4 | 5;
  /** Level 5's masks, as the other levels' below (with 4-level paging, not used). */
  readonly l5: number; readonly h5: number;
  /** Per level, the low-half mask `(lo & l) !== 1` tests (P, reserved bits, PS at levels 3 and 2) and the high-half mask (reserved bits, a table GFN at or above 2^32). */
  readonly l4: number; readonly h4: number; readonly l3: number; readonly h3: number;
  readonly l2: number; readonly h2: number; readonly l1: number; readonly h1: number;
  /** gpte_access (walk.ts x86Acc, x86Acc73) as one expression: EXEC shifted to bit 0 or 3, ACC_READ or 0. */
  readonly execShift: number;
  readonly readBit: number;
}

/** x86HotWalk4's and walk-batch-hot.ts's tests for `w`; levels 4 and 1 need no PS bit (x86Unrollable). */
export function hotWalkTests(w: WalkInputs): HotWalkTests {
  const { rootGfn, v73, m5l, m5h, m4l, m4h, m3l, m3h, m2l, m2h, m1l, m1h } = x86WalkConstants(w);
  return {
    rootG: rootGfn | 0,
    rootLevel: w.format.rootLevel === 5 ? 5 : 4,
    l5: m5l | 1, h5: m5h | 0xff000,
    l4: m4l | 1, h4: m4h | 0xff000,
    l3: m3l | 0x81, h3: m3h | 0xff000,
    l2: m2l | 0x81, h2: m2h | 0xff000,
    l1: m1l | 1, h1: m1h,
    execShift: v73 ? 3 : 0,
    readBit: v73 ? 1 : 0,
  };
}

/**
 * Whether makeFastWalk gives these inputs x86HotWalk4 (no second stage, an unrolled x86 format,
 * the 4-level inputs walk-batch-hot.ts's loop takes (hotBatchTakes).
 */
export function hotWalkTakes(w: WalkInputs): boolean {
  return hotBatchTakes(w) && w.format.rootLevel === 4;
}

/**
 * Whether walk-batch-hot.ts's loop takes these inputs: those of hotWalkTakes, with 4- or 5-level
 * paging (the loop has a level-5 step; x86HotWalk4 has not).
 */
export function hotBatchTakes(w: WalkInputs): boolean {
  // x86Unrollable's formats are 4- and 5-level; the level test says what the loop relies on.
  return w.translate === undefined && w.translateAdWrite === undefined && w.format.ptType === 64 && x86Unrollable(w.format) &&
    (w.format.rootLevel === 4 || w.format.rootLevel === 5) && hotRootAndKeys(w);
}

/**
 * The hot walks' precondition beside the format: a root GFN below 2^32 (its int32 form is exact),
 * and no protection key that can fault (pkruMask 0), so that their tails have no PKRU test.
 */
function hotRootAndKeys(w: WalkInputs): boolean {
  return w.rootGfn < TWO32 && (w.pkru === 0 || w.format.pkruMask === 0);
}

const TWO32 = 0x1_0000_0000;
const INT_MIN = -0x8000_0000;
// permissionRow moves ACCESS_AC (bit 17) and ACCESS_IMPLICIT (bit 16) onto PFERR.RSVD (bit 3) by
// shifts of 14 and 13.
if (AC >>> 14 !== RSVD || IMPLICIT >>> 13 !== RSVD) throw new Error('walk-fast.ts: ACCESS_AC / ACCESS_IMPLICIT moved');

/**
 * permission_fault's row of permissions[] for an encoded access with no protection key to test
 * (allowed() with pkruMask 0): bit i set when ACC value i faults. The index is PFERR W/U/F, with
 * RSVD standing for "SMAP overridden" (AC set, IMPLICIT clear), made by bit moves. The hot walk
 * (x86HotWalk4) and walk-batch-hot.ts's loop read it once per access.
 */
export function permissionRow(perms: Uint16Array, access: number): number {
  return perms[((access & (WRITE | USER | FETCH)) | ((access >>> 14) & ~(access >>> 13) & RSVD)) >>> 1]!;
}

/**
 * The 4-level walk of a 4 KiB page whose tables all lie in the memory's affine run
 * (GuestMemory.affineLo32), written for the fewest machine instructions per walk: the raw walk's
 * time is mostly its instructions, not its cache misses (measured on the bench guest: 27 ns per
 * walk with 16 Ki pages, whose tables stay in the L2 cache, 40 ns with 1 Mi pages; the C walker
 * 20 ns with 1 Mi pages), and x86FastWalk compiled to about 290 instructions on this path (V8
 * --print-opt-code), this function to about 255. Each level is two loads and two tests:
 *  - the entry: `(lo & M) !== 1` catches a clear P bit, a reserved bit in the low half and, at
 *    levels 3 and 2, PS; `(hi & H) !== 0` a reserved bit in the high half and, above level 1, a
 *    table GFN at or above 2^32 (bits 19:12 of the high half: GFN bits 39:32);
 *  - the table's frame: `g`, the GFN's bits 31:0 from the entry's halves, is in the affine run
 *    when `((g - affineLo32) ^ 2^31) < affineSpan32`; the frame is then `g + affineDelta32`
 *    (modulo 2^32) and the word index a shift and an OR.
 * A present entry with PS at level 3 or 2 goes on to the large page's tail. Anything else either test does not
 * pass — a fault, a table outside the run or above GFN 2^32 — goes to `general` (x86FastWalk, the
 * same walk for every case), which walks again from the root: it reads the same entries (nothing
 * was written) and returns SLOW or its own result.
 * After the leaf: the permission check (`allowed` with no protection key, which the walker's
 * inputs rule out: hotRootAndKeys), then SLOW where the full walk would set A or D, as
 * x86FastWalk. The run is read per walk: it changes when frames are allocated.
 */
function x86HotWalk4(w: WalkInputs, s: WalkScratch, general: FastWalk): FastWalk {
  const mem = w.mem;
  const { perms, p3l, p3h, p2l, p2h } = x86WalkConstants(w);
  const { rootG, l4, h4, l3, h3, l2, h2, l1, h1, execShift, readBit } = hotWalkTests(w);
  // `access`: the last access seen (a caller walks many addresses with one access), `row`: its row
  // of permissions[], which ACC values fault (bit i for ACC i). Fields of an object rather than two
  // `let`s, whose every read V8 compiled with a check for the uninitialized (TDZ) value, or an
  // Int32Array, whose reads load its length and data pointer and check the index (together with
  // makePagingOffWalk: 401.0 -> 388.0 machine instructions per raw walk, counted as FastWalk's).
  const last = { access: -1, row: 0 };
  return function x86HotWalk(vhi, vlo, access) {
    const words = mem.words; // the walk writes nothing, so no frame is allocated meanwhile
    const aLo = mem.affineLo32;
    const span = mem.affineSpan32;
    const aD = mem.affineDelta32;
    if ((((rootG - aLo) | 0) ^ INT_MIN) >= span) return general(vhi, vlo, access);
    let wi = ((rootG + aD) << 10) | ((vhi >>> 6) & 0x3fe);
    let lo = words[wi]!;
    let hi = words[wi | 1]!;
    if ((lo & l4) !== 1 || (hi & h4) !== 0) return general(vhi, vlo, access);
    let accLo = lo;
    let nx = hi;
    let g = (lo >>> 12) | (hi << 20);
    if ((((g - aLo) | 0) ^ INT_MIN) >= span) return general(vhi, vlo, access);
    wi = ((g + aD) << 10) | (((vlo >>> 29) | (vhi << 3)) & 0x3fe);
    lo = words[wi]!;
    hi = words[wi | 1]!;
    // A present entry with PS at level 3 or 2 leaves the block: the large page's own tail below
    // (not a call, whose nine arguments cost more than the rest of a 2 MiB walk, nor a new walk).
    let level = 3;
    large: {
      if ((lo & l3) !== 1 || (hi & h3) !== 0) {
        if ((lo & 0x81) === 0x81) break large;
        return general(vhi, vlo, access);
      }
      accLo &= lo;
      nx |= hi;
      g = (lo >>> 12) | (hi << 20);
      if ((((g - aLo) | 0) ^ INT_MIN) >= span) return general(vhi, vlo, access);
      wi = ((g + aD) << 10) | ((vlo >>> 20) & 0x3fe);
      lo = words[wi]!;
      hi = words[wi | 1]!;
      if ((lo & l2) !== 1 || (hi & h2) !== 0) {
        level = 2;
        if ((lo & 0x81) === 0x81) break large;
        return general(vhi, vlo, access);
      }
      accLo &= lo;
      nx |= hi;
      g = (lo >>> 12) | (hi << 20);
      if ((((g - aLo) | 0) ^ INT_MIN) >= span) return general(vhi, vlo, access);
      wi = ((g + aD) << 10) | ((vlo >>> 11) & 0x3fe);
      lo = words[wi]!;
      hi = words[wi | 1]!;
      if ((lo & l1) !== 1 || (hi & h1) !== 0) return SLOW;
      accLo &= lo;
      nx |= hi;
      // permission_fault (allowed() with pkruMask 0): the row of permissions[] for this access.
      let pteAccess = (accLo & 6) | ((~nx >>> 31) << execShift) | readBit;
      if (access !== last.access) {
        last.row = permissionRow(perms, access);
        last.access = access;
      }
      if (((last.row >>> pteAccess) & 1) !== 0) return SLOW;
      if ((accLo & 0x20) === 0) return SLOW;
      if ((lo & 0x40) === 0) {
        if ((access & WRITE) !== 0) return SLOW;
        pteAccess &= ~2;
      }
      s.gfn = (hi & 0xfffff) * TWO20 + (lo >>> 12);
      s.maxLevel = 4;
      s.level = 1;
      s.pkey = (hi >>> 27) & 15;
      s.pteAccess = pteAccess;
      s.tvhi = vhi;
      s.tvlo = vlo;
      s.tacc = access;
      if (s.traced === true) clearFullWalkFlags(s);
      return 0;
    }
    // A 2 MiB or 1 GiB leaf (x86FastWalk's walk for it): the large-page reserved bits, then the
    // tail above with the address bits under the page added to the frame. The tail is written out
    // twice on purpose: an out-of-line leaf function (nine arguments) made 2 MiB walks take 1.44x
    // x86FastWalk's time.
    if ((level === 3 ? (lo & p3l) | (hi & p3h) : (lo & p2l) | (hi & p2h)) !== 0) return SLOW;
    accLo &= lo;
    nx |= hi;
    let pteAccess = (accLo & 6) | ((~nx >>> 31) << execShift) | readBit;
    if (access !== last.access) {
      last.row = permissionRow(perms, access);
      last.access = access;
    }
    if (((last.row >>> pteAccess) & 1) !== 0) return SLOW;
    if ((accLo & 0x20) === 0) return SLOW;
    if ((lo & 0x40) === 0) {
      if ((access & WRITE) !== 0) return SLOW;
      pteAccess &= ~2;
    }
    const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    const mask = level === 2 ? 511 : 262143;
    s.gfn = frame - (frame & mask) + ((vlo >>> 12) & mask);
    s.maxLevel = 4;
    s.level = level;
    s.pkey = (hi >>> 27) & 15;
    s.pteAccess = pteAccess;
    s.tvhi = vhi;
    s.tvlo = vlo;
    s.tacc = access;
    if (s.traced === true) clearFullWalkFlags(s);
    return 0;
  };
}

/** The loop for any format entryTables describes (EPT in practice: x86 takes the unrolled walk). */
function tableFastWalk(w: WalkInputs, s: WalkScratch): FastWalk {
  const mem = w.mem;
  const fmt = w.format;
  const t = entryTables(fmt)!;
  const { stop, acc, aMask, dMask, pkeyMask } = t;
  const root = fmt.rootLevel;
  const rootGfn = w.rootGfn;
  const { rsvdLo, rsvdHi, permissions: perms } = fmt.hot;
  const pkru = w.pkru;
  const pkruMask = pkru === 0 ? 0 : fmt.pkruMask;
  return function tableWalk(vhi, vlo, access) {
    const words = mem.words; // the fast walk writes nothing, so no frame is allocated meanwhile
    let g = rootGfn;
    let level = root;
    let accLo = -1;
    let nxOr = 0;
    let lo = 0;
    let hi = 0;
    for (;;) {
      const f = mem.frameOfUnchecked(g);
      if (f < 0) return SLOW; // a zero or missing table: the full walk decides
      const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
      const wi = f * FW + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      const ri = ((lo >>> 7) & 1) * 5 + level - 1;
      if ((stop[(lo & 63) | ((lo >>> 4) & 64)]! | (lo & rsvdLo[ri]!) | (hi & rsvdHi[ri]!)) !== 0) return SLOW;
      accLo &= lo;
      nxOr |= hi;
      if (level === 1 || (lo & 0x80) !== 0) break;
      g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
      level--;
    }
    const pteAccess = acc[(accLo & 7) | ((accLo >>> 7) & 8) | ((nxOr >>> 27) & 16)]!;
    const pkey = (hi >>> 27) & pkeyMask;
    if (!allowed(perms, pkruMask, pkru, access, pteAccess, pkey)) return SLOW;
    if ((accLo & aMask) !== aMask) return SLOW;
    let pteAcc = pteAccess;
    if ((lo & dMask) !== dMask) {
      if ((access & WRITE) !== 0) return SLOW;
      pteAcc &= ~2;
    }
    // The leaf frame plus the address bits below a large page (walk.ts), by masks: `%` on a
    // double is a call to fmod, and `&` keeps an integral double's low bits (ToInt32 is
    // modular). This and the trace-state stores are written out: V8 did not inline helper calls
    // here, whose arguments then became heap numbers.
    const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    if (level === 1) s.gfn = frame;
    else {
      const mask = level === 2 ? 511 : 262143;
      s.gfn = frame - (frame & mask) + ((vlo >>> 12) & mask);
    }
    s.maxLevel = root;
    s.level = level;
    s.pkey = pkey;
    s.pteAccess = pteAcc;
    if (s.traced === true) clearFullWalkFlags(s);
    s.tvhi = vhi;
    s.tvlo = vlo;
    s.tacc = access;
    return 0;
  };
}

/**
 * After a successful fast walk the trace arrays are not this walk's (`traced` false), and
 * `ensureTrace` needs the inputs (`tvhi`, `tvlo`, `tacc`, which the fast walks store). The flags
 * `walkTables` may have set are cleared only after a full walk (`traced` true), since nothing
 * else sets them.
 */
export function clearFullWalkFlags(s: WalkScratch): void {
  if (s.adDirty) {
    s.updated.fill(0);
    s.adDirty = false;
  }
  s.usedPdptr = false;
  s.noSlot = false;
  s.traced = false;
}

/** Fill the per-level trace of the last walk if the fast path left it unwritten (see above). */
export function ensureTrace(w: WalkInputs, s: WalkScratch): void {
  if (!s.traced) walkTables(w, s, s.tvhi, s.tvlo, s.tacc);
}
