/**
 * The numbers the unrolled x86 walks (walk-fast.ts's raw walk, walk-batch.ts's interleaved walk,
 * walk-record-fast.ts's record walk) take from their inputs once, when the walker builds them:
 * each walk destructures them into `const`s of its closure, so that every level's reserved masks
 * are constants of the code V8 compiles for that walker, not loads from the format's arrays.
 */
import type { WalkInputs } from './walk';

/** The x86 walks' per-walker constants (see above); `m`/`p`: rsvd_bits_mask[0 or 1][level − 1] halves. */
export interface X86WalkConstants {
  readonly root: number;
  readonly rootGfn: number;
  /** 7.3's ACC encoding (ACC_READ, EXEC in bit 3: walk.ts x86Acc73). */
  readonly v73: boolean;
  readonly perms: Uint16Array;
  readonly pkru: number;
  /** 0 when no protection key can fault (PKRU 0), else the format's pkru_mask. */
  readonly pkruMask: number;
  readonly m5l: number; readonly m5h: number; readonly m4l: number; readonly m4h: number;
  readonly m3l: number; readonly m3h: number; readonly p3l: number; readonly p3h: number;
  readonly m2l: number; readonly m2h: number; readonly p2l: number; readonly p2h: number;
  readonly m1l: number; readonly m1h: number;
}

/**
 * The constants of `w` for an x86 walk. Levels 4 and 5's masks include PS and level 1's two masks
 * are equal for the formats these walks take (walk-fast.ts: x86Unrollable), so a walk needs no
 * large-page mask above level 3 or at level 1.
 */
export function x86WalkConstants(w: WalkInputs): X86WalkConstants {
  const fmt = w.format;
  const { rsvdLo, rsvdHi, permissions } = fmt.hot;
  return {
    root: fmt.rootLevel,
    rootGfn: w.rootGfn,
    v73: fmt.kvm === '7.3',
    perms: permissions,
    pkru: w.pkru,
    pkruMask: w.pkru === 0 ? 0 : fmt.pkruMask,
    // rsvd_bits_mask[large][level - 1] is rsvdLo/rsvdHi[large * 5 + level - 1] (page-format.ts).
    m5l: rsvdLo[4]!, m5h: rsvdHi[4]!, m4l: rsvdLo[3]!, m4h: rsvdHi[3]!,
    m3l: rsvdLo[2]!, m3h: rsvdHi[2]!, p3l: rsvdLo[7]!, p3h: rsvdHi[7]!,
    m2l: rsvdLo[1]!, m2h: rsvdHi[1]!, p2l: rsvdLo[6]!, p2h: rsvdHi[6]!,
    m1l: rsvdLo[0]!, m1h: rsvdHi[0]!,
  };
}
