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
import { x86WalkConstants } from './x86-walk-constants';
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
  // The reserved masks as constants, as walk-fast.ts's x86 walk has them.
  const { root, rootGfn, v73, perms, pkru, pkruMask, m5l, m5h, m4l, m4h, m3l, m3h, p3l, p3h, m2l, m2h, p2l, p2h, m1l, m1h } = x86WalkConstants(w);
  // Per-walk state of one group, reused by every call (the walker is single-threaded).
  /** The frame of the table the walk reads at the next level. */
  const frame = new Int32Array(GROUP);
  /**
   * The entries' rights ANDed so far, packed: R/W (bit 1), U/S (bit 2) and A (bit 5) as in the
   * entries, and bit 0 set while no entry had XD (bit 63) — walk-fast.ts's accLo and accHiInv,
   * of which its walk reads only these bits.
   */
  const acc = new Int32Array(GROUP);
  /** 1 once the walk reached its leaf (and its GFN is written). */
  const done = new Uint8Array(GROUP);

  /** The leaf's tests (walk-fast.ts's x86 walk from the permission check on) and its GFN; whether it passed. */
  function leaf(outGfn: Float64Array, i: number, vlo: number, lo: number, hi: number, a: number, level: number, access: number): boolean {
    const pteAccess = v73 ? ((a & 1) << 3) | (a & 6) | 1 : a & 7;
    if (!allowed(perms, pkruMask, pkru, access, pteAccess, (hi >>> 27) & 15)) return false;
    // A clear anywhere, or D clear on the leaf of a write: the full walk sets them.
    if ((a & 0x20) === 0 || ((lo & 0x40) === 0 && (access & WRITE) !== 0)) return false;
    const g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    if (level === 1) outGfn[i] = g;
    else {
      const mask = level === 2 ? 511 : 262143;
      outGfn[i] = g - (g & mask) + ((vlo >>> 12) & mask);
    }
    return true;
  }

  return function x86Batch(his, los, start, end, access, outGfn) {
    const words = mem.words; // nothing is written while this runs, so no frame is allocated
    const rootFrame = mem.frameOfUnchecked(rootGfn);
    if (rootFrame < 0) return start;
    for (let b = start; b < end; b += GROUP) {
      // Walks of this group still valid: a walk that needs the full walk cuts the group there.
      let n = end - b < GROUP ? end - b : GROUP;
      if (root === 5) {
        for (let j = 0; j < n; j++) {
          const wi = rootFrame * FW + ((his[b + j]! >>> 16) & 511) * 2;
          const lo = words[wi]!;
          const hi = words[wi + 1]!;
          const f = mem.frameOfUnchecked((hi & 0xfffff) * TWO20 + (lo >>> 12));
          if ((lo & 1) === 0 || ((lo & m5l) | (hi & m5h)) !== 0 || f < 0) {
            n = j;
            break;
          }
          acc[j] = (lo & 0x26) | (~hi >>> 31);
          frame[j] = f;
        }
      }
      for (let j = 0; j < n; j++) {
        const wi = (root === 5 ? frame[j]! : rootFrame) * FW + ((his[b + j]! >>> 7) & 511) * 2;
        const lo = words[wi]!;
        const hi = words[wi + 1]!;
        const f = mem.frameOfUnchecked((hi & 0xfffff) * TWO20 + (lo >>> 12));
        if ((lo & 1) === 0 || ((lo & m4l) | (hi & m4h)) !== 0 || f < 0) {
          n = j;
          break;
        }
        const a = (lo & 0x26) | (~hi >>> 31);
        acc[j] = root === 5 ? acc[j]! & a : a;
        frame[j] = f;
        done[j] = 0;
      }
      for (let j = 0; j < n; j++) {
        const vlo = los[b + j]!;
        const wi = frame[j]! * FW + (((vlo >>> 30) | (his[b + j]! << 2)) & 511) * 2;
        const lo = words[wi]!;
        const hi = words[wi + 1]!;
        const a = acc[j]! & ((lo & 0x26) | (~hi >>> 31));
        if ((lo & 0x80) !== 0) {
          if ((lo & 1) === 0 || ((lo & p3l) | (hi & p3h)) !== 0 || !leaf(outGfn, b + j, vlo, lo, hi, a, 3, access)) {
            n = j;
            break;
          }
          done[j] = 1;
          continue;
        }
        const f = mem.frameOfUnchecked((hi & 0xfffff) * TWO20 + (lo >>> 12));
        if ((lo & 1) === 0 || ((lo & m3l) | (hi & m3h)) !== 0 || f < 0) {
          n = j;
          break;
        }
        acc[j] = a;
        frame[j] = f;
      }
      for (let j = 0; j < n; j++) {
        if (done[j] !== 0) continue;
        const vlo = los[b + j]!;
        const wi = frame[j]! * FW + ((vlo >>> 21) & 511) * 2;
        const lo = words[wi]!;
        const hi = words[wi + 1]!;
        const a = acc[j]! & ((lo & 0x26) | (~hi >>> 31));
        if ((lo & 0x80) !== 0) {
          if ((lo & 1) === 0 || ((lo & p2l) | (hi & p2h)) !== 0 || !leaf(outGfn, b + j, vlo, lo, hi, a, 2, access)) {
            n = j;
            break;
          }
          done[j] = 1;
          continue;
        }
        const f = mem.frameOfUnchecked((hi & 0xfffff) * TWO20 + (lo >>> 12));
        if ((lo & 1) === 0 || ((lo & m2l) | (hi & m2h)) !== 0 || f < 0) {
          n = j;
          break;
        }
        acc[j] = a;
        frame[j] = f;
      }
      for (let j = 0; j < n; j++) {
        if (done[j] !== 0) continue;
        const vlo = los[b + j]!;
        const wi = frame[j]! * FW + ((vlo >>> 12) & 511) * 2;
        const lo = words[wi]!;
        const hi = words[wi + 1]!;
        const a = acc[j]! & ((lo & 0x26) | (~hi >>> 31));
        // leaf() written out for the common 4 KiB leaf (V8 inlines only some of leaf's call sites).
        const pteAccess = v73 ? ((a & 1) << 3) | (a & 6) | 1 : a & 7;
        if (
          (lo & 1) === 0 || ((lo & m1l) | (hi & m1h)) !== 0 || !allowed(perms, pkruMask, pkru, access, pteAccess, (hi >>> 27) & 15) ||
          (a & 0x20) === 0 || ((lo & 0x40) === 0 && (access & WRITE) !== 0)
        ) {
          n = j;
          break;
        }
        outGfn[b + j] = (hi & 0xfffff) * TWO20 + (lo >>> 12);
      }
      if (b + n < end && n < GROUP) return b + n;
    }
    return end;
  };
}
