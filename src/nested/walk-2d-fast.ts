/**
 * The 2D walk's fast path (nested_mmu over guest_mmu, `paging_tmpl.h: FNAME(walk_addr_generic)`
 * with `kvm_translate_gpa` = the nested walk): L2's tables walked as walker/walk-fast.ts walks
 * them, every table frame and the final frame translated by a read-only walk of the nested tables
 * (access `tablePfec` for tables, the caller's `finalPfec` for the final frame, as
 * `translate_nested_gpa` passes them). It returns the memory references of the whole walk
 * (n·(m+1) + m at full depth) with the L1 frame in `s.gfn` and the L2 frame in `s.guestGfn`, or
 * SLOW when any part of the walk would do more than read (a fault, an A/D update in either
 * dimension, which is also when the dirty log would be written): the caller then runs the full
 * walk, which starts from the same state because nothing was written.
 *
 * Why its own closure, not the 1D fast walk called per frame: one function, one loop. The nested
 * walk is written inline (one copy, run before each guest level and once more for the final
 * frame), so no call site is shared between the guest's and the nested format, and both use the
 * same table-driven per-entry decisions (walker/entry-tables.ts) with each format's tables as
 * constants of this closure. The earlier fast path called itself recursively for each nested walk,
 * which V8 cannot inline.
 */
// `f * FRAME_WORDS` is GuestMemory.wordBaseUnchecked(f), written out: V8 left some of those
// static calls un-inlined in these long functions.
import { FRAME_WORDS } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import { entryTables } from '../walker/entry-tables';
import { allowed, clearFullWalkFlags, SLOW } from '../walker/walk-fast';
import type { WalkInputs } from '../walker/walk';
import type { WalkScratch } from '../walker/walk-scratch';
import type { PageFormat } from '../format/page-format';

/**
 * Frame numbers in this walk are int32: an entry's frame is `(hi << 20) | (lo >>> 12)`, exact when
 * its address bits 51:43 (hi bits 19:11) are clear, i.e. below 8 TiB. Those bits are added to every
 * entry's reserved-bit test (`NARROW`), so an entry whose address is at or above 8 TiB makes the walk
 * answer SLOW and the full walk takes it. Why: with frames as doubles (`(hi & 0xfffff) * 2^20 + …`)
 * every step of the dependent chain from one entry to the next load — the frame, the affine test,
 * the word index — was floating-point arithmetic and a checked conversion back to an index; as
 * int32 it is a shift, an or and integer adds. Side by side in one process (bench/walk2d.bench.ts's
 * tables, CPU time, medians of interleaved rounds) the raw 2D walk took 0.9× the time.
 */
export const NARROW = 0xff800;
export const INT_FRAME_END = 0x80000000;

/** References read on success (≥ 0; state in `s` as the 1D fast walk leaves it), or SLOW. */
export type FastWalk2D = (s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number;

/**
 * Bit i set when `permissions` row `row` faults for the ACC value `acc[i]` (entryTables' index of
 * the accumulated entry bits): the nested permission test as one shift of a constant, instead of a
 * table load and a shift per nested walk.
 */
export function faultMask(row: number, acc: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < 32; i++) m |= ((row >>> acc[i]!) & 1) << i;
  return m;
}

/**
 * Whether the nested walk written out level by level decides exactly as `walkTables`' loop: 4 or 5
 * levels, a PS bit at level 4 or 5 reserved by both of that level's masks (so those levels test
 * their non-large mask only: PS set is reserved either way), and level 1's two masks equal (PS is
 * PAT, or ignored in EPT: `rsvd_bits_mask[1][0] = [0][0]`). Every format KVM builds meets it
 * (format/rsvd-bits-mask.ts); a hand-made PageFormat may not, and takes the full walk.
 */
export function nestedUnrollable(fmt: PageFormat): boolean {
  if (fmt.rootLevel !== 4 && fmt.rootLevel !== 5) return false;
  const { rsvdLo, rsvdHi } = fmt.hot;
  for (let l = 4; l <= fmt.rootLevel; l++) if ((rsvdLo[l - 1]! & rsvdLo[4 + l]! & 0x80) === 0) return false;
  return rsvdLo[0] === rsvdLo[5] && rsvdHi[0] === rsvdHi[5];
}

/**
 * The fast 2D walk of L2's tables `w` (their `translate` hook is what this replaces) through the
 * nested tables `n`, or undefined when either format has no table description (4-byte entries,
 * PAE), the nested walk could fault on a protection key (it never does: NgpaWalker's PKRU is 0),
 * or a root is at or above 8 TiB (NARROW: every walk would answer SLOW).
 */
export function makeFastWalk2D(w: WalkInputs, n: WalkInputs, tablePfec: number): FastWalk2D | undefined {
  const gt = entryTables(w.format);
  const nt = entryTables(n.format);
  if (gt === undefined || nt === undefined || w.pdptrs !== undefined || n.pdptrs !== undefined) return undefined;
  if (n.translate !== undefined || (n.pkru !== 0 && n.format.pkruMask !== 0)) return undefined;
  if (w.rootGfn >= INT_FRAME_END || n.rootGfn >= INT_FRAME_END || !nestedUnrollable(n.format)) return undefined;
  const mem = w.mem;
  // L2's format.
  const root = w.format.rootLevel;
  const rootGfn = w.rootGfn;
  const { stop: gStop, acc: gAccTab, aMask: gA, dMask: gD, pkeyMask } = gt;
  const { rsvdLo: gRsvdLo, permissions: gPerms } = w.format.hot;
  const gRsvdHi = w.format.hot.rsvdHi.map((m) => m | NARROW);
  const pkru = w.pkru;
  const pkruMask = pkru === 0 ? 0 : w.format.pkruMask;
  // The nested format. Its accesses carry no EFLAGS.AC flag, so permissions[pfec >> 1] is the row.
  const nRoot = n.format.rootLevel;
  const nRootGfn = n.rootGfn;
  const { stop: nStop, acc: nAccTab, aMask: nA, dMask: nD } = nt;
  const { rsvdLo: nRsvdLo, rsvdHi: nRsvdHi, permissions: nPerms } = n.format.hot;
  // rsvd_bits_mask[large][level - 1] as constants (NARROW in the high halves). At levels 4 and 5
  // both masks reserve PS (nestedUnrollable), so the non-large one decides.
  const n5l = nRsvdLo[4]!, n5h = nRsvdHi[4]! | NARROW, n4l = nRsvdLo[3]!, n4h = nRsvdHi[3]! | NARROW;
  const n3l = nRsvdLo[2]!, n3h = nRsvdHi[2]! | NARROW, n3pl = nRsvdLo[7]!, n3ph = nRsvdHi[7]! | NARROW;
  const n2l = nRsvdLo[1]!, n2h = nRsvdHi[1]! | NARROW, n2pl = nRsvdLo[6]!, n2ph = nRsvdHi[6]! | NARROW;
  const n1l = nRsvdLo[0]!, n1h = nRsvdHi[0]! | NARROW;
  const rowOf = (pfec: number): number => (pfec & (PFERR.WRITE | PFERR.USER | PFERR.FETCH)) >>> 1;
  // Per nested walk: the permission test (faultMask) and the A/D test, A on every entry and D on the
  // leaf for a write, as one compare: (AND of A) | (leaf's D when writing) must be all of them.
  const faults = Int32Array.from(nPerms, (row) => faultMask(row, nAccTab));
  const tableFault = faults[rowOf(tablePfec)]!;
  const tableD = (tablePfec & PFERR.WRITE) !== 0 ? nD : 0;
  return function walk2d(s, vhi, vlo, access, finalPfec) {
    const words = mem.words; // nothing is written, so no frame is allocated meanwhile
    // The affine run (GuestMemory.affineLo), read once per walk and tested inline (walk-fast.ts).
    const aLo = mem.affineLo;
    const aEnd = mem.affineEnd;
    const aD = mem.affineDelta;
    // And the second run: the two table pools a 2D walk reads (EPT12/NPT12, L2's) are often both runs.
    const bLo = mem.affine2Lo;
    const bEnd = mem.affine2End;
    const bD = mem.affine2Delta;
    let g = rootGfn; // the nGPA frame to translate next: a table of L2's, then the final frame
    let level = root;
    let accLo = -1;
    let nxOr = 0;
    let lo = 0;
    let hi = 0;
    let refs = 0;
    let fault = tableFault;
    let needD = tableD;
    let pteAcc = 0;
    let pkey = 0;
    let leafLevel = 0;
    for (;;) {
      // translate_nested_gpa(g): the nested walk of nGPA g * 4096, read-only, one level after
      // the other (nestedUnrollable). g < 2^31 (NARROW): the level-5 index is 0 and the level-4
      // index g's bits 30:27. Why written out: as a loop over the level, each entry's reserved
      // masks were two loads at an index computed from the level and PS; here they are constants.
      // Side by side in one process (as NARROW says) the raw 2D walk took 0.84× the time.
      let nl = 1; // the nested leaf's level
      let ng = nRootGfn;
      let nAcc = -1;
      let nNx = 0;
      let f = 0;
      let wi = 0;
      let nlo = 0;
      let nhi = 0;
      nested: {
        if (nRoot === 5) {
          f = ng >= aLo && ng < aEnd ? ng + aD : ng >= bLo && ng < bEnd ? ng + bD : mem.frameOfUnchecked(ng);
          if (f < 0) return SLOW;
          wi = f * FRAME_WORDS;
          nlo = words[wi]!;
          nhi = words[wi + 1]!;
          refs++;
          if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n5l) | (nhi & n5h)) !== 0) return SLOW;
          nAcc = nlo;
          nNx = nhi;
          ng = (nhi << 20) | (nlo >>> 12);
        }
        f = ng >= aLo && ng < aEnd ? ng + aD : ng >= bLo && ng < bEnd ? ng + bD : mem.frameOfUnchecked(ng);
        if (f < 0) return SLOW;
        wi = f * FRAME_WORDS + (g >>> 27) * 2;
        nlo = words[wi]!;
        nhi = words[wi + 1]!;
        refs++;
        if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n4l) | (nhi & n4h)) !== 0) return SLOW;
        nAcc &= nlo;
        nNx |= nhi;
        ng = (nhi << 20) | (nlo >>> 12);
        f = ng >= aLo && ng < aEnd ? ng + aD : ng >= bLo && ng < bEnd ? ng + bD : mem.frameOfUnchecked(ng);
        if (f < 0) return SLOW;
        wi = f * FRAME_WORDS + ((g >>> 18) & 511) * 2;
        nlo = words[wi]!;
        nhi = words[wi + 1]!;
        refs++;
        if ((nlo & 0x80) !== 0) {
          if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n3pl) | (nhi & n3ph)) !== 0) return SLOW;
          nAcc &= nlo;
          nNx |= nhi;
          nl = 3;
          break nested;
        }
        if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n3l) | (nhi & n3h)) !== 0) return SLOW;
        nAcc &= nlo;
        nNx |= nhi;
        ng = (nhi << 20) | (nlo >>> 12);
        f = ng >= aLo && ng < aEnd ? ng + aD : ng >= bLo && ng < bEnd ? ng + bD : mem.frameOfUnchecked(ng);
        if (f < 0) return SLOW;
        wi = f * FRAME_WORDS + ((g >>> 9) & 511) * 2;
        nlo = words[wi]!;
        nhi = words[wi + 1]!;
        refs++;
        if ((nlo & 0x80) !== 0) {
          if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n2pl) | (nhi & n2ph)) !== 0) return SLOW;
          nAcc &= nlo;
          nNx |= nhi;
          nl = 2;
          break nested;
        }
        if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n2l) | (nhi & n2h)) !== 0) return SLOW;
        nAcc &= nlo;
        nNx |= nhi;
        ng = (nhi << 20) | (nlo >>> 12);
        f = ng >= aLo && ng < aEnd ? ng + aD : ng >= bLo && ng < bEnd ? ng + bD : mem.frameOfUnchecked(ng);
        if (f < 0) return SLOW;
        wi = f * FRAME_WORDS + (g & 511) * 2;
        nlo = words[wi]!;
        nhi = words[wi + 1]!;
        refs++;
        if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & n1l) | (nhi & n1h)) !== 0) return SLOW;
        nAcc &= nlo;
        nNx |= nhi;
      }
      if (((fault >>> ((nAcc & 7) | ((nAcc >>> 7) & 8) | ((nNx >>> 27) & 16))) & 1) !== 0) return SLOW;
      if (((nAcc & nA) | (nlo & needD)) !== (nA | needD)) return SLOW;
      // The leaf frame plus the nGPA's bits below a large page, as in walk-fast.ts.
      let frame = (nhi << 20) | (nlo >>> 12);
      if (nl !== 1) {
        const mask = nl === 2 ? 511 : 262143;
        frame = (frame & ~mask) | (g & mask);
      }
      if (level === 0) {
        // The final frame's translation: done.
        s.guestGfn = g;
        s.gfn = frame;
        break;
      }
      // L2's entry in the table just translated.
      f = frame >= aLo && frame < aEnd ? frame + aD : frame >= bLo && frame < bEnd ? frame + bD : mem.frameOfUnchecked(frame);
      if (f < 0) return SLOW;
      const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
      wi = f * FRAME_WORDS + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      refs++;
      const ri = ((lo >>> 7) & 1) * 5 + level - 1;
      if ((gStop[(lo & 63) | ((lo >>> 4) & 64)]! | (lo & gRsvdLo[ri]!) | (hi & gRsvdHi[ri]!)) !== 0) return SLOW;
      accLo &= lo;
      nxOr |= hi;
      if (level !== 1 && (lo & 0x80) === 0) {
        g = (hi << 20) | (lo >>> 12);
        level--;
        continue;
      }
      // L2's leaf: permission_fault and the A/D bits, then the final frame through the nested
      // tables (FNAME(walk_addr_generic) translates the leaf's gfn last, before any A/D update).
      const pteAccess = gAccTab[(accLo & 7) | ((accLo >>> 7) & 8) | ((nxOr >>> 27) & 16)]!;
      pkey = (hi >>> 27) & pkeyMask;
      if (!allowed(gPerms, pkruMask, pkru, access, pteAccess, pkey)) return SLOW;
      if ((accLo & gA) !== gA) return SLOW;
      pteAcc = pteAccess;
      if ((lo & gD) !== gD) {
        if ((access & PFERR.WRITE) !== 0) return SLOW;
        pteAcc &= ~2; // protect_clean_gpte
      }
      leafLevel = level;
      g = (hi << 20) | (lo >>> 12);
      if (level !== 1) {
        const mask = level === 2 ? 511 : 262143;
        g = (g & ~mask) | ((vlo >>> 12) & mask);
      }
      level = 0;
      fault = faults[rowOf(finalPfec)]!;
      needD = (finalPfec & PFERR.WRITE) !== 0 ? nD : 0;
    }
    s.maxLevel = root;
    s.level = leafLevel;
    s.pkey = pkey;
    s.pteAccess = pteAcc;
    if (s.traced) clearFullWalkFlags(s); // the trace is not this walk's (walk-fast.ts)
    s.tvhi = vhi;
    s.tvlo = vlo;
    s.tacc = access;
    return refs;
  };
}
