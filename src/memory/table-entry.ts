/**
 * Entries of page tables held in a GuestMemory (guest tables, and the host frames of SPTE, S-EPT
 * and builder tables): the one place that turns (table frame, index) into words of `words`.
 * Engine-internal and unchecked: callers pass a GFN and an index they computed. The 64-bit
 * forms are for callers that hold entries as bigint; hot paths take the word index and read the
 * two halves as plain numbers.
 */
import { FRAME_WORDS, type GuestMemory } from './guest-memory';

/** Index in `mem.words` of 32-bit word `w` (0..1023) of the frame at `gfn`, or -1 when no frame backs it (reads as 0). */
export function tableWordUnchecked(mem: GuestMemory, gfn: number, w: number): number {
  const f = mem.frameOfUnchecked(gfn);
  return f < 0 ? -1 : f * FRAME_WORDS + w;
}

/**
 * The same for a write: the frame is made on first use. `mem.words` may be replaced by that, so
 * read it after this call.
 */
export function tableWordForWriteUnchecked(mem: GuestMemory, gfn: number, w: number): number {
  return mem.frameForWriteUnchecked(gfn) * FRAME_WORDS + w;
}

/** The 64-bit entry `idx` (0..511) of the table at `gfn`; 0n when no frame backs it. */
export function readEntry64Unchecked(mem: GuestMemory, gfn: number, idx: number): bigint {
  const b = tableWordUnchecked(mem, gfn, idx * 2);
  if (b < 0) return 0n;
  const s = mem.words;
  return (BigInt(s[b + 1]!) << 32n) | BigInt(s[b]!);
}

/** Write the 64-bit entry `idx` (0..511) of the table at `gfn`. */
export function writeEntry64Unchecked(mem: GuestMemory, gfn: number, idx: number, v: bigint): void {
  const b = tableWordForWriteUnchecked(mem, gfn, idx * 2);
  const s = mem.words;
  s[b] = Number(v & 0xffffffffn);
  s[b + 1] = Number(v >> 32n);
}

/** Set all 512 64-bit entries of the table at `gfn` to `v` (a new SPTE table: SHADOW_NONPRESENT_VALUE). */
export function fillEntries64Unchecked(mem: GuestMemory, gfn: number, v: bigint): void {
  const b = tableWordForWriteUnchecked(mem, gfn, 0);
  const s = mem.words;
  const lo = Number(v & 0xffffffffn);
  const hi = Number(v >> 32n);
  for (let i = 0; i < 1024; i += 2) {
    s[b + i] = lo;
    s[b + i + 1] = hi;
  }
}
