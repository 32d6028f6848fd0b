/**
 * The 2D record walk's fast path: the walk of the raw 2D fast walk (src/nested/walk-2d-fast.ts: L2's
 * tables, every table frame and the final frame through a read-only walk of the nested tables) that
 * also keeps what a
 * record needs, in the one pass: each memory reference in walk order (`Trace2D`) and L2's
 * per-level trace in the guest scratch, as `walkTables` leaves it. It gives up (SLOW, -1) before
 * any side effect exactly where the raw fast walk does — a fault in either dimension, an A/D bit to set
 * (so also any write_log_dirty), 4-byte entries, PAE PDPTE registers, a table in no slot — and the
 * caller then runs the full walk with its translate hook, from the same state.
 *
 * Why: the record walk ran `walkTables` six times through the translate hook (the L2 walk and one
 * nested walk per table and for the final frame) and copied each nested walk's entries out of the
 * nested walker afterwards; on a warm guest that was a third of a record walk.
 */
import { GuestMemory } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import { allowed } from './walk-fast';
import { eptAcc, eptAcc73, x86Acc, x86Acc73, type WalkInputs } from './walk';
import type { WalkScratch } from './walk-scratch';

const TWO20 = 0x100000;
const SLOW = -1;

/** References a 2D walk makes at most: 5 L2 levels, each after a nested walk of up to 6 entries, and the final one. */
export const MAX_REFS_2D = 5 * 7 + 6;

/** Trace2D.meta of a reference: an L2 entry (bit 7), its L2 level (bits 5:3) and entry level (bits 2:0). */
export function refMeta(guest: boolean, guestLevel: number, level: number): number {
  return (guest ? 0x80 : 0) | (guestLevel << 3) | level;
}

/**
 * The memory references of one 2D walk in order, as parallel arrays (no object per reference):
 * reference i read the entry at L1 GPA `gpa[i]` of level `meta[i] & 7`, an L2 entry when bit 7
 * of `meta[i]` is set (its nGPA in `ngpa[i]`) or an entry of the nested walk that translated
 * nGPA `ngpa[i]` for L2 level `(meta[i] >>> 3) & 7` (0: the final translation); `lo`/`hi` its
 * value, and `newLo`/`newHi` the value after an A/D update when `updated[i]` is 1 — read only
 * when `anyUpdated` (the fast walk updates nothing and leaves `updated` as it was).
 */
export class Trace2D {
  count = 0;
  anyUpdated = false;
  readonly meta = new Uint8Array(MAX_REFS_2D);
  readonly gpa = new Float64Array(MAX_REFS_2D);
  readonly ngpa = new Float64Array(MAX_REFS_2D);
  readonly lo = new Uint32Array(MAX_REFS_2D);
  readonly hi = new Uint32Array(MAX_REFS_2D);
  readonly updated = new Uint8Array(MAX_REFS_2D);
  readonly newLo = new Uint32Array(MAX_REFS_2D);
  readonly newHi = new Uint32Array(MAX_REFS_2D);
}

/**
 * the raw 2D fast walk with the trace (see above). On success: the references in `t` (count = the return
 * value), L2's levels in `s` as `walkTables` writes them (lo, hi, tableGfn, guestTableGfn, index,
 * acc; traced, no A/D update), the L1 frame in `s.gfn` and the L2 frame in `s.guestGfn`. SLOW
 * otherwise, with nothing in memory written (`t` and `s` then hold garbage the full walk
 * overwrites). Precondition, as for the raw fast walk: the walk's formats are 8-byte ones with the root in
 * memory, or it returns SLOW.
 */
export function walk2dTraced(w: WalkInputs, s: WalkScratch, n: WalkInputs, ns: WalkScratch, vhi: number, vlo: number, access: number, tablePfec: number, finalPfec: number, t: Trace2D): number {
  const fmt = w.format;
  const ept = fmt.ptType === 'ept';
  const root = fmt.rootLevel;
  if (fmt.entryBytes !== 8 || (root === 3 && !ept)) return SLOW;
  const hot = fmt.hot;
  const mem = w.mem;
  const v73 = fmt.kvm === '7.3';
  const present = ept ? (fmt.mbec ? 0x407 : 7) : 1;
  let ng = w.rootGfn; // the table's nGPA frame
  let level = root;
  let accLo = -1;
  let accHiInv = -1;
  let lo = 0;
  let hi = 0;
  let c = 0;
  for (;;) {
    // The table's nGPA frame through the nested tables (translate_nested_gpa), traced first.
    c = nestedTraced(n, ns, ng, tablePfec, t, c, level);
    if (c < 0) return SLOW;
    const g = ns.gfn;
    const f = mem.frameOfUnchecked(g);
    if (f < 0) return SLOW; // a zero or missing table: the full walk decides
    const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
    const wi = GuestMemory.wordBaseUnchecked(f) + idx * 2;
    const words = mem.words;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    if ((lo & present) === 0) return SLOW;
    const ri = ((lo >>> 7) & 1) * 5 + level - 1;
    let rsvd = (lo & hot.rsvdLo[ri]!) | (hi & hot.rsvdHi[ri]!);
    if (ept) {
      const b = (lo & 63) | (v73 && (lo & 0x400) !== 0 ? 4 : 0);
      rsvd |= (b < 32 ? hot.badMtXwrLo >>> b : hot.badMtXwrHi >>> (b - 32)) & 1;
    }
    if (rsvd !== 0) return SLOW;
    accLo &= lo;
    accHiInv &= ~hi;
    s.lo[level] = lo;
    s.hi[level] = hi;
    s.tableGfn[level] = g;
    s.guestTableGfn[level] = ng;
    s.index[level] = idx;
    s.acc[level] = v73 ? (ept ? eptAcc73(accLo) : x86Acc73(accLo, accHiInv)) : ept ? eptAcc(accLo) : x86Acc(accLo, accHiInv);
    t.meta[c] = 0x80 | (level << 3) | level; // refMeta(true, level, level)
    t.gpa[c] = g * 4096 + idx * 8;
    t.ngpa[c] = ng * 4096 + idx * 8;
    t.lo[c] = lo;
    t.hi[c] = hi;
    c++;
    if (level === 1 || (lo & 0x80) !== 0) break;
    ng = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    level--;
  }
  const pteAccess = s.acc[level]!;
  const pfec = access & (PFERR.WRITE | PFERR.USER | PFERR.FETCH);
  const pkey = ept ? 0 : (hi >>> 27) & 15;
  if (!allowed(hot.permissions, fmt.pkruMask, w.pkru, access, pteAccess, pkey)) return SLOW;
  let pteAcc = pteAccess;
  if (fmt.hasAd) {
    let adOk = (accLo >>> fmt.accessedBit) & 1;
    if ((pfec & PFERR.WRITE) !== 0) adOk &= (lo >>> fmt.dirtyBit) & 1;
    else if (((lo >>> fmt.dirtyBit) & 1) === 0) pteAcc &= ~2; // protect_clean_gpte
    if (adOk === 0) return SLOW;
  }
  const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
  let gfn = frame;
  if (level !== 1) {
    const span = level === 2 ? 512 : 262144;
    gfn = frame - (frame % span) + ((vlo >>> 12) % span);
  }
  // The final frame through the nested tables, after the guest checks and before any A/D update.
  c = nestedTraced(n, ns, gfn, finalPfec, t, c, 0);
  if (c < 0) return SLOW;
  t.count = c;
  t.anyUpdated = false;
  s.guestGfn = gfn;
  s.gfn = ns.gfn;
  s.maxLevel = root;
  s.level = level;
  s.pkey = pkey;
  s.pteAccess = pteAcc;
  // What walkTables leaves besides the levels: no PDPTE register, no missing table, no A/D update.
  s.usedPdptr = false;
  s.noSlot = false;
  s.traced = true;
  if (s.adDirty) {
    s.updated.fill(0);
    s.adDirty = false;
  }
  return c;
}

/**
 * The read-only nested walk of nGPA frame `ngfn` (fastWalk's 1D walk), its entries appended to `t`
 * from index `c` for L2 level `guestLevel`: the next index, or SLOW; the L1 frame in `ns.gfn`.
 */
function nestedTraced(w: WalkInputs, ns: WalkScratch, ngfn: number, access: number, t: Trace2D, c: number, guestLevel: number): number {
  const fmt = w.format;
  const ept = fmt.ptType === 'ept';
  const root = fmt.rootLevel;
  if (fmt.entryBytes !== 8 || (root === 3 && !ept)) return SLOW;
  const hot = fmt.hot;
  const mem = w.mem;
  const v73 = fmt.kvm === '7.3';
  const present = ept ? (fmt.mbec ? 0x407 : 7) : 1;
  const vhi = Math.floor(ngfn / TWO20);
  const vlo = (ngfn % TWO20) * 4096;
  const ngpa = ngfn * 4096;
  let g = w.rootGfn;
  let level = root;
  let accLo = -1;
  let accHiInv = -1;
  let lo = 0;
  let hi = 0;
  for (;;) {
    const f = mem.frameOfUnchecked(g);
    if (f < 0) return SLOW;
    const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
    const wi = GuestMemory.wordBaseUnchecked(f) + idx * 2;
    const words = mem.words;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    if ((lo & present) === 0) return SLOW;
    const ri = ((lo >>> 7) & 1) * 5 + level - 1;
    let rsvd = (lo & hot.rsvdLo[ri]!) | (hi & hot.rsvdHi[ri]!);
    if (ept) {
      const b = (lo & 63) | (v73 && (lo & 0x400) !== 0 ? 4 : 0);
      rsvd |= (b < 32 ? hot.badMtXwrLo >>> b : hot.badMtXwrHi >>> (b - 32)) & 1;
    }
    if (rsvd !== 0) return SLOW;
    accLo &= lo;
    accHiInv &= ~hi;
    t.meta[c] = (guestLevel << 3) | level; // refMeta(false, guestLevel, level)
    t.gpa[c] = g * 4096 + idx * 8;
    t.ngpa[c] = ngpa;
    t.lo[c] = lo;
    t.hi[c] = hi;
    c++;
    if (level === 1 || (lo & 0x80) !== 0) break;
    g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    level--;
  }
  const pteAccess = v73 ? (ept ? eptAcc73(accLo) : x86Acc73(accLo, accHiInv)) : ept ? eptAcc(accLo) : x86Acc(accLo, accHiInv);
  const pfec = access & (PFERR.WRITE | PFERR.USER | PFERR.FETCH);
  const pkey = ept ? 0 : (hi >>> 27) & 15;
  if (!allowed(hot.permissions, fmt.pkruMask, w.pkru, access, pteAccess, pkey)) return SLOW;
  let pteAcc = pteAccess;
  if (fmt.hasAd) {
    let adOk = (accLo >>> fmt.accessedBit) & 1;
    if ((pfec & PFERR.WRITE) !== 0) adOk &= (lo >>> fmt.dirtyBit) & 1;
    else if (((lo >>> fmt.dirtyBit) & 1) === 0) pteAcc &= ~2; // protect_clean_gpte
    if (adOk === 0) return SLOW;
  }
  const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
  let gfn = frame;
  if (level !== 1) {
    const span = level === 2 ? 512 : 262144;
    gfn = frame - (frame % span) + ((vlo >>> 12) % span);
  }
  // The outcome as fastWalk leaves it (the ngpa walker adopts the final one: noteFastWalk).
  ns.gfn = gfn;
  ns.maxLevel = root;
  ns.level = level;
  ns.pkey = pkey;
  ns.pteAccess = pteAcc;
  return c;
}
