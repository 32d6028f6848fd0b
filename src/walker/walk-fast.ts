/**
 * The raw walk's fast path: the same walk as `walkTables` (`paging_tmpl.h:
 * FNAME(walk_addr_generic)`, `mmu.h: permission_fault`) for the common case only — 8-byte entries,
 * the root in memory (no PAE PDPTE registers), no second stage — that reads the entries and
 * writes nothing per level. Whenever the walk would do more than read (a fault, an A/D update, a
 * table never written) it gives up before any side effect and runs `walkTables`, which then does
 * the whole walk with its per-level trace. A successful fast walk leaves the trace unwritten
 * (`WalkScratch.traced` false) with the walk's inputs kept; `ensureTrace` re-runs the full walk to
 * fill it. Because the fast walk changed nothing, that re-walk reads the same entries and returns
 * the same result, as long as memory did not change in between (callers ask right away).
 *
 * Why a second copy: the per-level trace stores and the general cases (32-bit entries, PDPTE
 * registers, the translate hook) were most of the raw walk's instructions, and a random walk is
 * memory-bound, so fewer instructions per walk let the CPU overlap the cache misses of
 * consecutive walks. `npm run bench` prints what it buys (`gva_walk.fast_over_full`: this walk
 * over `walkTables` on the same walks) and the 2D walk reuses it (`walk2dRaw`).
 */
import { GuestMemory } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import { ACCESS_AC, ACCESS_IMPLICIT } from './access';
import { eptAcc, eptAcc73, walkTables, x86Acc, x86Acc73, type WalkInputs } from './walk';
import { type WalkScratch, WalkStop } from './walk-scratch';

const TWO20 = 0x100000;

/** fastWalk's answer when the walk needs more than reads: the caller runs the full walk. */
const SLOW = -1;

/**
 * `walkTables` for callers that read only the outcome (gfn, level, pteAccess, pkey, error code)
 * and call `ensureTrace` before reading the per-level arrays. Precondition: `w.translate` and
 * `w.translateAdWrite` are absent.
 */
export function walkTablesRaw(w: WalkInputs, s: WalkScratch, vhi: number, vlo: number, access: number): number {
  if (fastWalk(w, s, vhi, vlo, access, undefined, s, 0, 0) === SLOW) return walkTables(w, s, vhi, vlo, access);
  markUntraced(s, vhi, vlo, access);
  return WalkStop.Ok;
}

/**
 * The 2D walk's fast path (nested_mmu over guest_mmu, `paging_tmpl.h: FNAME(walk_addr_generic)`
 * with `kvm_translate_gpa` = the nested walk): L2's tables `w` walked as `walkTablesRaw` does,
 * every table frame and the final frame translated by a read-only walk of the nested tables `n`
 * (access `tablePfec` for tables, `finalPfec` for the final frame, as `translate_nested_gpa`
 * passes them). Returns the memory references of the whole walk (n·(m+1) + m at full depth) with
 * the L1 frame in `s.gfn` and the L2 frame in `s.guestGfn`, or -1 when any part of the walk would
 * do more than read (a fault, an A/D update in either dimension, which is also when the dirty log
 * would be written): the caller then runs the full walk, which starts from the same state because
 * nothing was written. `ns` is scratch for the nested walks.
 */
export function walk2dRaw(w: WalkInputs, s: WalkScratch, n: WalkInputs, ns: WalkScratch, vhi: number, vlo: number, access: number, tablePfec: number, finalPfec: number): number {
  const refs = fastWalk(w, s, vhi, vlo, access, n, ns, tablePfec, finalPfec);
  if (refs !== SLOW) markUntraced(s, vhi, vlo, access);
  return refs;
}

function markUntraced(s: WalkScratch, vhi: number, vlo: number, access: number): void {
  if (s.adDirty) {
    s.updated.fill(0);
    s.adDirty = false;
  }
  s.usedPdptr = false;
  s.noSlot = false;
  s.traced = false;
  s.tvhi = vhi;
  s.tvlo = vlo;
  s.tacc = access;
}

/**
 * The read-only walk: on success the outcome in `s` (gfn, level, maxLevel, pkey, pteAccess) and
 * the number of entries read (with `n`, the nested walks' too); SLOW otherwise, with nothing
 * written. With `n`, each table frame goes through a nested walk first (into `ns`).
 */
function fastWalk(w: WalkInputs, s: WalkScratch, vhi: number, vlo: number, access: number, n: WalkInputs | undefined, ns: WalkScratch, tablePfec: number, finalPfec: number): number {
  const fmt = w.format;
  const ept = fmt.ptType === 'ept';
  const root = fmt.rootLevel;
  if (fmt.entryBytes !== 8 || (root === 3 && !ept)) return SLOW;
  const hot = fmt.hot;
  const rsvdLo = hot.rsvdLo;
  const rsvdHi = hot.rsvdHi;
  const mem = w.mem;
  const v73 = fmt.kvm === '7.3';
  // 7.3 EPT with MBEC: bit 10 (XU) alone makes an entry present (kvm-7x.md §1.1 "Presence").
  const present = ept ? (fmt.mbec ? 0x407 : 7) : 1;
  let g = w.rootGfn;
  let level = root;
  let accLo = -1;
  let accHiInv = -1;
  let lo = 0;
  let hi = 0;
  let refs = 0;
  for (;;) {
    if (n !== undefined) {
      // The table's nGPA frame through the nested tables (translate_nested_gpa).
      const r = fastWalk(n, ns, Math.floor(g / TWO20), (g % TWO20) * 4096, tablePfec, undefined, ns, 0, 0);
      if (r === SLOW) return SLOW;
      refs += r;
      g = ns.gfn;
    }
    const f = mem.frameOfUnchecked(g);
    if (f < 0) return SLOW; // a zero or missing table: the full walk decides
    const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
    const wi = GuestMemory.wordBaseUnchecked(f) + idx * 2;
    const words = mem.words;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    refs++;
    if ((lo & present) === 0) return SLOW;
    const ri = ((lo >>> 7) & 1) * 5 + level - 1;
    let rsvd = (lo & rsvdLo[ri]!) | (hi & rsvdHi[ri]!);
    if (ept) {
      const b = (lo & 63) | (v73 && (lo & 0x400) !== 0 ? 4 : 0);
      rsvd |= (b < 32 ? hot.badMtXwrLo >>> b : hot.badMtXwrHi >>> (b - 32)) & 1;
    }
    if (rsvd !== 0) return SLOW;
    accLo &= lo;
    accHiInv &= ~hi;
    if (level === 1 || (lo & 0x80) !== 0) break;
    g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    level--;
  }
  const pteAccess = v73 ? (ept ? eptAcc73(accLo) : x86Acc73(accLo, accHiInv)) : ept ? eptAcc(accLo) : x86Acc(accLo, accHiInv);
  const pfec = access & (PFERR.WRITE | PFERR.USER | PFERR.FETCH);
  const notSmap = (access & ACCESS_AC) !== 0 && (access & ACCESS_IMPLICIT) === 0;
  if (((hot.permissions[(pfec | (notSmap ? PFERR.RSVD : 0)) >>> 1]! >>> pteAccess) & 1) !== 0) return SLOW;
  const pkey = ept ? 0 : (hi >>> 27) & 15;
  const pkruMask = fmt.pkruMask;
  if (pkruMask !== 0) {
    const off = (pfec & ~1) | ((pteAccess & 4) !== 0 ? PFERR.RSVD : 0);
    if ((((w.pkru >>> (pkey * 2)) & 3) & (pkruMask >>> off)) !== 0) return SLOW;
  }
  let pteAcc = pteAccess;
  if (fmt.hasAd) {
    // A clear A anywhere, or D on the leaf of a write: the full walk sets them.
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
  if (n !== undefined) {
    // The final frame through the nested tables, after the guest checks and before any A/D
    // update (FNAME(walk_addr_generic) translates the leaf's gfn last).
    const r = fastWalk(n, ns, Math.floor(gfn / TWO20), (gfn % TWO20) * 4096, finalPfec, undefined, ns, 0, 0);
    if (r === SLOW) return SLOW;
    refs += r;
    s.guestGfn = gfn;
    gfn = ns.gfn;
  }
  s.gfn = gfn;
  s.maxLevel = root;
  s.level = level;
  s.pkey = pkey;
  s.pteAccess = pteAcc;
  return refs;
}

/** Fill the per-level trace of the last walk if the fast path left it unwritten (see above). */
export function ensureTrace(w: WalkInputs, s: WalkScratch): void {
  if (!s.traced) walkTables(w, s, s.tvhi, s.tvlo, s.tacc);
}
