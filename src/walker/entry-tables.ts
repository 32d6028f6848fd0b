/**
 * A 64-bit page format's per-entry decisions as small lookup tables, so that one read-only walk
 * loop serves every 8-byte format — x86 4/5-level, NPT, EPT with or without A/D, execute-only,
 * MBEC, both KVM versions — without a branch on the format (walk-fast.ts, walk-2d-fast.ts). A
 * loop with format branches in it was what the fast walks spent most of their instructions on,
 * and one such loop serving two formats in the same 2D walk made both slower; with the tables
 * the instructions are the same whatever the format, only the table contents differ.
 *
 * Each table reproduces one expression of `walkTables` (walk.ts) for every input it can see:
 *  - `stop[(lo & 63) | ((lo >>> 4) & 64)]`: the entry is not present (`lo & 1`, or EPT `lo & 7`,
 *    `lo & 0x407` under 7.3 MBEC) or has a bad EPT memory type / XWR combination
 *    (`__is_bad_mt_xwr`, which 7.3 indexes with XU folded into X). Index bit 6 is entry bit 10.
 *  - `acc[(accLo & 7) | ((accLo >>> 7) & 8) | ((nxOr >>> 27) & 16)]`: the version's ACC of the
 *    entries' AND (`accLo`) and of the OR of their upper halves (`nxOr`, whose bit 31 is some NX):
 *    x86Acc/x86Acc73/eptAcc/eptAcc73 read only entry bits 0-2, 10 and 63.
 */
import type { PageFormat } from '../format/page-format';
import { eptAcc, eptAcc73, x86Acc, x86Acc73 } from './walk';

export interface EntryTables {
  readonly stop: Uint8Array;
  readonly acc: Uint8Array;
  /** `1 << accessedBit` and `1 << dirtyBit`, or 0 when the format has no A/D (nothing to set). */
  readonly aMask: number;
  readonly dMask: number;
  /** 15 for x86 (the leaf's protection key, bits 62:59), 0 for EPT. */
  readonly pkeyMask: number;
}

/** Undefined for formats the tables do not describe: 4-byte entries, and 2- or 3-level roots (PAE's PDPTE registers). */
export function entryTables(fmt: PageFormat): EntryTables | undefined {
  const ept = fmt.ptType === 'ept';
  if (fmt.entryBytes !== 8 || fmt.rootLevel < 4) return undefined;
  const v73 = fmt.kvm === '7.3';
  const hot = fmt.hot;
  const present = ept ? (fmt.mbec ? 0x407 : 7) : 1;
  const stop = new Uint8Array(128);
  for (let i = 0; i < 128; i++) {
    const lo = (i & 63) | ((i & 64) << 4);
    let s = (lo & present) === 0 ? 1 : 0;
    if (ept) {
      const b = (lo & 63) | (v73 && (lo & 0x400) !== 0 ? 4 : 0);
      s |= (b < 32 ? hot.badMtXwrLo >>> b : hot.badMtXwrHi >>> (b - 32)) & 1;
    }
    stop[i] = s;
  }
  const acc = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    const accLo = (i & 7) | ((i & 8) << 7);
    const accHiInv = (i & 16) !== 0 ? 0x7fffffff : -1;
    acc[i] = v73 ? (ept ? eptAcc73(accLo) : x86Acc73(accLo, accHiInv)) : ept ? eptAcc(accLo) : x86Acc(accLo, accHiInv);
  }
  return {
    stop,
    acc,
    aMask: fmt.hasAd ? 1 << fmt.accessedBit : 0,
    dMask: fmt.hasAd ? 1 << fmt.dirtyBit : 0,
    pkeyMask: ept ? 0 : 15,
  };
}
