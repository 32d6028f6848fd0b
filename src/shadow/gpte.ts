/**
 * Guest PTEs as the shadow MMU re-reads them outside a walk (`paging_tmpl.h` helpers for the
 * three PTTYPEs, reference §5.2, §8.8): reading an entry, presence, ACC, the frame, reserved bits,
 * `prefetch_invalid_gpte` and `protect_clean_gpte`. Bigint: these run per synced entry, not in the
 * hardware-walk loop.
 */
import { ACC_WRITE } from '../format/acc';
import type { PageFormat } from '../format/page-format';
import { GuestMemory } from '../memory/guest-memory';
import { checkGfn, checkInt, checkObject, checkPageLevel, checkSpteValue, refuse } from './check-shadow-args';

/** A page-table format (from the format builders): its type and entry width at least. */
function checkFormat(v: unknown): PageFormat {
  const f = checkObject<PageFormat>('format', v);
  if ((f.entryBytes !== 4 && f.entryBytes !== 8) || !Array.isArray(f.rsvdBitsMask) || !Array.isArray(f.rsvdBitsMask[0]) || typeof f.badMtXwr !== 'bigint') refuse('format', 'page-format', 'must be a PageFormat (paging32Format, paeFormat, paging4Format, eptFormat, …)', v);
  return f;
}

/** A gPTE: a u64 (a 4-byte gPTE is its low half). */
function checkGpte(v: unknown): bigint {
  return checkSpteValue('g', v);
}

/** Read the gPTE of `format` at byte offset `off` of guest frame `gfn`; undefined if no memory. */
export function readGpte(mem: GuestMemory, format: PageFormat, gfn: number, off: number): bigint | undefined {
  if (!(mem instanceof GuestMemory)) refuse('mem', 'guest-memory', 'must be a GuestMemory', mem);
  const f = checkFormat(format);
  checkGfn('gfn', gfn);
  checkInt('off', off, { max: 4096 - f.entryBytes });
  if (off % f.entryBytes !== 0) refuse('off', 'alignment', `must be a multiple of the entry size ${f.entryBytes}`, off);
  return readGpteUnchecked(mem, format, gfn, off);
}

export function readGpteUnchecked(mem: GuestMemory, format: PageFormat, gfn: number, off: number): bigint | undefined {
  const f = mem.frameOfUnchecked(gfn);
  if (f < 0) return mem.slotOf(gfn) === undefined ? undefined : 0n;
  const slab = mem.words;
  const w = GuestMemory.wordBaseUnchecked(f) + (off >>> 2);
  if (format.entryBytes === 4) return BigInt(slab[w]!);
  return (BigInt(slab[w + 1]!) << 32n) | BigInt(slab[w]!);
}

/** `FNAME(is_present_gpte)`: EPT R|W|X, plus XU (bit 10) with MBEC (kvm-7x.md §1.1 "Presence"). */
export function isPresentGpte(format: PageFormat, g: bigint): boolean {
  checkFormat(format);
  checkGpte(g);
  return isPresentGpteUnchecked(format, g);
}

export function isPresentGpteUnchecked(format: PageFormat, g: bigint): boolean {
  if (format.ptType !== 'ept') return (g & 1n) !== 0n;
  return (g & (format.mbec ? 0x407n : 7n)) !== 0n;
}

/**
 * `FNAME(gpte_access)` in the format's ACC encoding. v6.16: EPT R→ACC_USER, W, X; x86 W, U, and
 * X = P xor NX. 7.3 (kvm-7x.md §1.4): EPT R→READ 1, W→2, XU (bit 10)→USER_EXEC 4, XS→EXEC 8;
 * x86 P→READ, W, U, !NX→EXEC — every bit set even when a check will not use it (as walk.ts).
 */
export function gpteAccess(format: PageFormat, g: bigint): number {
  checkFormat(format);
  checkGpte(g);
  return gpteAccessUnchecked(format, g);
}

export function gpteAccessUnchecked(format: PageFormat, g: bigint): number {
  const lo = Number(g & 0xfffn);
  if (format.kvm === '7.3') {
    if (format.ptType === 'ept') return (lo & 3) | (((lo >>> 10) & 1) << 2) | (((lo >>> 2) & 1) << 3);
    return (lo & 7) | (((g >> 63n) & 1n) === 0n ? 8 : 0);
  }
  if (format.ptType === 'ept') return (lo & 2) | ((lo >>> 2) & 1) | ((lo & 1) << 2);
  return ((lo & 7) ^ Number((g >> 63n) & 1n)) & 7;
}

/**
 * The 4K frame a level-1 gPTE points to (`gpte_to_gfn`): bits 51:12. PTTYPE 32 masks with the u32
 * cast of the same mask (paging_tmpl.h:65); a 4-byte gPTE has no bits above 31, so one mask serves.
 */
export function gpteToGfn(g: bigint): number {
  checkGpte(g);
  return gpteToGfnUnchecked(g);
}

export function gpteToGfnUnchecked(g: bigint): number {
  return Number((g & 0x000f_ffff_ffff_f000n) >> 12n);
}

/** `is_rsvd_bits_set(guest_rsvd_check, gpte, level)` plus EPT `bad_mt_xwr`. */
export function isRsvdGpte(format: PageFormat, g: bigint, level: number): boolean {
  checkFormat(format);
  checkGpte(g);
  checkPageLevel('level', level, 1, format.rsvdBitsMask[0]!.length);
  return isRsvdGpteUnchecked(format, g, level);
}

export function isRsvdGpteUnchecked(format: PageFormat, g: bigint, level: number): boolean {
  const large = Number((g >> 7n) & 1n);
  if ((g & format.rsvdBitsMask[large]![level - 1]!) !== 0n) return true;
  // FNAME(is_bad_mt_xwr) is false for PTTYPE != EPT; those formats have bad_mt_xwr 0.
  return ((format.badMtXwr >> (g & 63n)) & 1n) === 1n;
}

/** `FNAME(prefetch_invalid_gpte)` without the drop: not present, reserved bits, or A clear with A/D. */
export function prefetchInvalidGpte(format: PageFormat, g: bigint): boolean {
  checkFormat(format);
  checkGpte(g);
  return prefetchInvalidGpteUnchecked(format, g);
}

export function prefetchInvalidGpteUnchecked(format: PageFormat, g: bigint): boolean {
  if (isRsvdGpteUnchecked(format, g, 1)) return true;
  if (!isPresentGpteUnchecked(format, g)) return true;
  if (format.hasAd && ((g >> BigInt(format.accessedBit)) & 1n) === 0n) return true;
  return false;
}

/** `FNAME(protect_clean_gpte)`: a clean leaf stays read-only until a write fault sets D. */
export function protectCleanGpte(format: PageFormat, acc: number, g: bigint): number {
  checkFormat(format);
  // ACC is at most 4 bits (7.3's ACC_ALL 0xf).
  checkInt('acc', acc, { max: 0xf });
  checkGpte(g);
  return protectCleanGpteUnchecked(format, acc, g);
}

export function protectCleanGpteUnchecked(format: PageFormat, acc: number, g: bigint): number {
  if (!format.hasAd) return acc;
  return ((g >> BigInt(format.dirtyBit)) & 1n) === 0n ? acc & ~ACC_WRITE : acc;
}
