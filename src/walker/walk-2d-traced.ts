/**
 * The trace of a 2D record walk: each memory reference in walk order as parallel arrays, which
 * the full walk (Walk2D.traceFromSegments) and the read-only traced walk
 * (nested/walk-2d-fast-traced.ts) fill and Walk2D's record builder reads.
 */

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
