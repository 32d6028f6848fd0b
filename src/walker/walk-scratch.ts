import { U64View } from '../u64-view';

/**
 * Per-walker scratch that the hot walk fills instead of allocating: the raw halves, addresses
 * and accumulated access of each level, indexed by level (1..5). A record is materialized from it
 * only when a caller asks for one.
 */
export class WalkScratch {
  readonly lo = new Uint32Array(6);
  readonly hi = new Uint32Array(6);
  readonly tableGfn = new Float64Array(6);
  /** With a second stage: the table frame before translation (an nGPA frame, or a GPA frame under TDP). */
  readonly guestTableGfn = new Float64Array(6);
  /** With a second stage: the final frame before translation. */
  guestGfn = 0;
  readonly index = new Uint16Array(6);
  /** ACC accumulated through this level (after ANDing this entry). */
  readonly acc = new Uint8Array(6);
  /** Value written back by the A/D update, when it changed (0/1 flag + halves). */
  readonly updated = new Uint8Array(6);
  readonly newLo = new Uint32Array(6);
  readonly newHi = new Uint32Array(6);
  /** Level where the walk started (after the PAE PDPTE register). */
  maxLevel = 0;
  /** Level where it stopped: the leaf, or the faulting level. */
  level = 0;
  /** PAE: the PDPTE register consumed (level 3 in lo/hi[3]). */
  usedPdptr = false;
  /** Outcome details. */
  errorCode = 0;
  reason = 0;
  gfn = 0;
  pteAccess = 0;
  pkey = 0;
  /** Some `updated` flag is set and must be cleared before the next walk. */
  adDirty = false;
  /** The table frame did not exist in any slot. */
  noSlot = false;
  /**
   * Whether lo/hi/tableGfn/index/acc hold the last walk's trace. The fast walks (walk-fast.ts,
   * nested/walk-2d-fast.ts) leave them unwritten on success and keep the walk's inputs (tvhi,
   * tvlo, tacc) so that `ensureTrace` can fill them.
   */
  traced = true;
  tvhi = 0;
  tvlo = 0;
  tacc = 0;
  /** Makes the bigints of this walker's records (buildRecord). */
  readonly view = new U64View();
}

/** Reasons a gva walk stops, for the record's words. */
export const WalkStop = Object.freeze({
  Ok: 0,
  NotPresent: 1,
  Reserved: 2,
  Permission: 3,
  TableNoSlot: 4,
  PdpteNotPresent: 5,
  /** The second stage (`kvm_translate_gpa`: ngpa walk, or the TDP hardware walk) faulted. */
  SecondStage: 6,
} as const);
