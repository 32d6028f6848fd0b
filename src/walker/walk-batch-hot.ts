/**
 * walkRawBatch's loop for the inputs the hot walk takes (walk-fast.ts: x86HotWalk4 — the root below
 * GFN 2^32, no protection key that can fault), with 4-level paging and with 5-level paging (a
 * level-5 step first, which x86HotWalk4 has not: walk-fast.ts's hotBatchTakes): x86HotWalk4's
 * tests written out in one loop over the batch, 8 walks at a time level by level
 * (walk-batch-lanes.ts) and one walk after another for a group one of whose walks it cannot finish
 * and for the last walks, for 4 KiB leaves whose tables all lie in the memory's affine run
 * (GuestMemory.affineLo32). It stops at the first walk it cannot finish that way — a fault, an A
 * or D bit the full walk would set, a 2 MiB or 1 GiB leaf, a table outside the run or above GFN
 * 2^32 — and the caller walks that one as walkRaw does (GvaWalker.walkRawBatch).
 *
 * Why a loop of its own rather than the hot walk called per address: the same walks, with the
 * same tests, took 0.59-0.63x the time of walkRaw called in a loop when written out in the loop
 * (in one process, rounds alternated, 1 Mi random walks over the bench's guest), while cutting the
 * hot walk's machine instructions by a third (its constants' TDZ tests) changed nothing: the cost
 * is the call, whose stack frame and spills come between one walk's last miss and the next walk's
 * loads. walk-batch.ts's interleaved groups, which find frames through frameOfUnchecked, were no
 * faster than the calls.
 *
 * The tests per level are x86HotWalk4's (see there): `(lo & M) !== 1` for P, the low reserved
 * bits and (levels 3, 2) PS; `(hi & H) !== 0` for the high reserved bits and a table at or above
 * GFN 2^32; the affine-run test of the table's GFN. After the leaf, the access's row of
 * permissions[] (one per batch: the access is the batch's), then A on every level and, for a
 * write, D on the leaf. It reads only, so a walk it finishes is what walkRaw would answer.
 */
import type { WalkInputs } from './walk';
import type { BatchWalk } from './walk-batch';
import { x86WalkConstants } from './x86-walk-constants';
import { hotBatchTakes, hotWalkTests, permissionRow } from './walk-fast';
import { PFERR } from '../format/acc';
import { makeLanesLoop, type HotBatchLoop } from './walk-batch-lanes';

const WRITE = PFERR.WRITE;

/** The loop for `w`, or undefined when it does not take `w` (walk-fast.ts: hotBatchTakes). */
export function makeHotBatchWalk(w: WalkInputs): BatchWalk | undefined {
  if (!hotBatchTakes(w)) return undefined;
  const mem = w.mem;
  const { perms } = x86WalkConstants(w);
  const tests = hotWalkTests(w);
  const { rootG, rootLevel, l5, h5, l4, h4, l3, h3, l2, h2, l1, h1, execShift, readBit } = tests;
  const five = rootLevel === 5;
  // The loop takes everything it does not compute per walk as arguments, worked out by the small
  // function that calls it: an operation before the loop, run once before V8 had a feedback vector
  // for the function (a batch's first call walks thousands of addresses in the interpreter), had no
  // feedback when TurboFan compiled it, and the compiled function deoptimized at its next call; in
  // the bench's process the batch then took 1.05-1.14x walkRaw's time instead of 0.83-0.86x.
  const seq: HotBatchLoop = function x86HotBatchLoop(words, aLo, span, aD, rootBase, row, write, his, los, start, end, outGfn) {
    for (let i = start; i < end; i++) {
      const vhi = his[i]! | 0;
      const vlo = los[i]! | 0;
      let accLo = -1;
      let nx = 0;
      let wi = rootBase;
      let lo = 0;
      let hi = 0;
      let g = 0;
      if (five) {
        // Level 5 (VA bits 56:48, vhi's 24:16), then level 4 in the table it points to.
        wi = rootBase | ((vhi >>> 15) & 0x3fe);
        lo = words[wi]!;
        hi = words[wi | 1]!;
        if ((lo & l5) !== 1 || (hi & h5) !== 0) return i;
        accLo = lo;
        nx = hi;
        g = (lo >>> 12) | (hi << 20);
        if ((((g - aLo) | 0) ^ -0x8000_0000) >= span) return i;
        wi = (g + aD) << 10;
      }
      wi |= (vhi >>> 6) & 0x3fe;
      lo = words[wi]!;
      hi = words[wi | 1]!;
      if ((lo & l4) !== 1 || (hi & h4) !== 0) return i;
      accLo &= lo;
      nx |= hi;
      g = (lo >>> 12) | (hi << 20);
      if ((((g - aLo) | 0) ^ -0x8000_0000) >= span) return i;
      wi = ((g + aD) << 10) | (((vlo >>> 29) | (vhi << 3)) & 0x3fe);
      lo = words[wi]!;
      hi = words[wi | 1]!;
      if ((lo & l3) !== 1 || (hi & h3) !== 0) return i;
      accLo &= lo;
      nx |= hi;
      g = (lo >>> 12) | (hi << 20);
      if ((((g - aLo) | 0) ^ -0x8000_0000) >= span) return i;
      wi = ((g + aD) << 10) | ((vlo >>> 20) & 0x3fe);
      lo = words[wi]!;
      hi = words[wi | 1]!;
      if ((lo & l2) !== 1 || (hi & h2) !== 0) return i;
      accLo &= lo;
      nx |= hi;
      g = (lo >>> 12) | (hi << 20);
      if ((((g - aLo) | 0) ^ -0x8000_0000) >= span) return i;
      wi = ((g + aD) << 10) | ((vlo >>> 11) & 0x3fe);
      lo = words[wi]!;
      hi = words[wi | 1]!;
      if ((lo & l1) !== 1 || (hi & h1) !== 0) return i;
      accLo &= lo;
      nx |= hi;
      const pteAccess = (accLo & 6) | ((~nx >>> 31) << execShift) | readBit;
      if (((row >>> pteAccess) & 1) !== 0 || (accLo & 0x20) === 0 || ((lo & 0x40) === 0 && write !== 0)) return i;
      outGfn[i] = (hi & 0xfffff) * 0x100000 + (lo >>> 12);
    }
    return end;
  };
  // The walks LANES at a time (walk-batch-lanes.ts), the loop above for a group with a walk that
  // group cannot finish and for the batch's last walks.
  const loop = makeLanesLoop(tests, seq);
  return function x86HotBatch(his, los, start, end, access, outGfn) {
    // Read once: the loop writes nothing, so no frame is allocated and the run does not move.
    const aLo = mem.affineLo32;
    const span = mem.affineSpan32;
    const aD = mem.affineDelta32;
    if ((((rootG - aLo) | 0) ^ -0x8000_0000) >= span) return start;
    return loop(mem.words, aLo, span, aD, (rootG + aD) << 10, permissionRow(perms, access), access & WRITE, his, los, start, end, outGfn);
  };
}
