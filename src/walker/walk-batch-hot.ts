/**
 * walkRawBatch's loop for the inputs the hot walk takes (walk-fast.ts: x86HotWalk4 — the root below
 * GFN 2^32, no protection key that can fault), with 4-level paging and with 5-level paging (a
 * level-5 step first, which x86HotWalk4 has not: walk-fast.ts's hotBatchTakes): x86HotWalk4's
 * tests written out in one loop over the batch, 8 walks at a time level by level, and one walk
 * after another for a group one of whose walks it cannot finish and for the last walks (both
 * loops made from one template in walk-batch-lanes.ts), for 4 KiB leaves whose tables all lie in the memory's affine run
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
import { makeLanesLoop, makeOneWalkLoop } from './walk-batch-lanes';

const WRITE = PFERR.WRITE;

/** The loop for `w`, or undefined when it does not take `w` (walk-fast.ts: hotBatchTakes). */
export function makeHotBatchWalk(w: WalkInputs): BatchWalk | undefined {
  if (!hotBatchTakes(w)) return undefined;
  const mem = w.mem;
  const { perms } = x86WalkConstants(w);
  const tests = hotWalkTests(w);
  // Both loops take everything they do not compute per walk as arguments, worked out by
  // x86HotBatch below: an operation before the loop, run once before V8 had a feedback vector for
  // the function (a batch's first call walks thousands of addresses in the interpreter), had no
  // feedback when TurboFan compiled it, and the compiled function deoptimized at its next call; in
  // the bench's process the batch then took 1.05-1.14x walkRaw's time instead of 0.83-0.86x.
  // The walks LANES at a time (walk-batch-lanes.ts), and the loop of one walk at a time (the same
  // template with one lane) for a group with a walk it cannot finish and for the batch's last walks.
  const rootG = tests.rootG;
  const loop = makeLanesLoop(tests, makeOneWalkLoop(tests));
  return function x86HotBatch(his, los, start, end, access, outGfn) {
    // Read once: the loop writes nothing, so no frame is allocated and the run does not move.
    const aLo = mem.affineLo32;
    const span = mem.affineSpan32;
    const aD = mem.affineDelta32;
    if ((((rootG - aLo) | 0) ^ -0x8000_0000) >= span) return start;
    return loop(mem.words, aLo, span, aD, (rootG + aD) << 10, permissionRow(perms, access), access & WRITE, his, los, start, end, outGfn);
  };
}
