/**
 * A group of raw walks interleaved level by level (GvaWalker.walkRawBatch). A random walk waits on
 * its last level's load; one walk after another, the CPU overlaps those misses only as far as its
 * out-of-order window reaches past the rest of each walk's instructions. Here the loads of up to
 * GROUP walks at one level are issued one after the other with nothing between them but their own
 * address arithmetic, so their misses overlap whatever the per-walk instruction count.
 *
 * It decides each walk exactly as walk-fast.ts's x86 walk (the formats `x86Unrollable` accepts):
 * the same present and reserved-bit tests per level, the same leaf rule (PS at levels 3 and 2,
 * always at level 1; levels 4 and 5 have PS in their reserved masks), the same permission, PKRU and
 * A/D tests, and it reads only. It stops at the first walk of the group that the fast walk would
 * hand to the full walk (SLOW): that walk's result and everything after it are not taken from
 * here. Walks that only read change nothing, so walking them together gives what walking them one
 * after another gives; the caller runs the stopped walk through the full walk (which may write A/D
 * bits) before resuming after it.
 */
import { FRAME_WORDS } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import type { WalkInputs } from './walk';
import { allowed, x86Unrollable } from './walk-fast';

const TWO20 = 0x100000;
const FW = FRAME_WORDS;
const WRITE = PFERR.WRITE;

/** Walks interleaved at a time: enough misses in flight for a core's fill buffers (about 16). */
export const GROUP = 16;

/**
 * Walks `[start, end)` of `his`/`los` for one encoded access, writing each completed walk's GFN to
 * `outGfn`, and returns the index of the first walk that needs the full walk, or `end` if none
 * did. Only `outGfn[start, returned)` is meaningful; later entries may have been written too.
 */
export type BatchWalk = (his: Uint32Array, los: Uint32Array, start: number, end: number, access: number, outGfn: Float64Array) => number;

/** The batch walk for these inputs, or undefined when walk-fast.ts has no unrolled x86 walk for them. */
export function makeBatchWalk(w: WalkInputs): BatchWalk | undefined {
  if (w.translate !== undefined || w.translateAdWrite !== undefined) return undefined;
  const fmt = w.format;
  if (fmt.ptType !== 64 || !x86Unrollable(fmt)) return undefined;
  const mem = w.mem;
  const root = fmt.rootLevel;
  const rootGfn = w.rootGfn;
  const v73 = fmt.kvm === '7.3';
  const perms = fmt.hot.permissions;
  const pkru = w.pkru;
  const pkruMask = pkru === 0 ? 0 : fmt.pkruMask;
  const { rsvdLo, rsvdHi } = fmt.hot;
  // Per-walk state of one group, reused by every call (the walker is single-threaded).
  const frame = new Int32Array(GROUP); // the frame of the table to read at the next level
  const leaf = new Int32Array(GROUP); // 0 while walking, else the leaf's level
  const accLo = new Int32Array(GROUP);
  const accHiInv = new Int32Array(GROUP);
  const eLo = new Int32Array(GROUP);
  const eHi = new Int32Array(GROUP);
  return function x86Batch(his, los, start, end, access, outGfn) {
    const words = mem.words; // nothing is written while this runs, so no frame is allocated
    const rootFrame = mem.frameOfUnchecked(rootGfn);
    if (rootFrame < 0) return start;
    for (let b = start; b < end; b += GROUP) {
      let n = end - b < GROUP ? end - b : GROUP; // walks of this group still valid (a SLOW one cuts it)
      for (let j = 0; j < n; j++) {
        frame[j] = rootFrame;
        leaf[j] = 0;
        accLo[j] = -1;
        accHiInv[j] = -1;
      }
      for (let level = root; level >= 1; level--) {
        for (let j = 0; j < n; j++) {
          if (leaf[j] !== 0) continue;
          const vhi = his[b + j]!;
          const vlo = los[b + j]!;
          const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
          const wi = frame[j]! * FW + idx * 2;
          const lo = words[wi]!;
          const hi = words[wi + 1]!;
          // rsvd_bits_mask[large][level - 1] (walk-fast.ts: the same masks, unrolled there).
          const ri = ((lo >>> 7) & 1) * 5 + level - 1;
          if ((lo & 1) === 0 || ((lo & rsvdLo[ri]!) | (hi & rsvdHi[ri]!)) !== 0) {
            n = j;
            break;
          }
          accLo[j] &= lo;
          accHiInv[j] &= ~hi;
          if (level === 1 || (lo & 0x80) !== 0) {
            leaf[j] = level;
            eLo[j] = lo;
            eHi[j] = hi;
          } else {
            const f = mem.frameOfUnchecked((hi & 0xfffff) * TWO20 + (lo >>> 12));
            if (f < 0) {
              n = j;
              break;
            }
            frame[j] = f;
          }
        }
      }
      for (let j = 0; j < n; j++) {
        const aLo = accLo[j]!;
        const lo = eLo[j]!;
        const hi = eHi[j]!;
        // As walk-fast.ts's x86 walk from here on.
        const pteAccess = v73 ? ((accHiInv[j]! >>> 31) << 3) | (aLo & 6) | 1 : (aLo & 6) | (accHiInv[j]! >>> 31);
        if (!allowed(perms, pkruMask, pkru, access, pteAccess, (hi >>> 27) & 15) || (aLo & 0x20) === 0 || ((lo & 0x40) === 0 && (access & WRITE) !== 0)) {
          n = j;
          break;
        }
        const g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
        const level = leaf[j]!;
        if (level === 1) outGfn[b + j] = g;
        else {
          const mask = level === 2 ? 511 : 262143;
          outGfn[b + j] = g - (g & mask) + ((los[b + j]! >>> 12) & mask);
        }
      }
      if (n < GROUP && b + n < end) return b + n;
    }
    return end;
  };
}
