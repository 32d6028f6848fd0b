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

const TWO20 = 0x100000;

/** References read on success (≥ 0; state in `s` as the 1D fast walk leaves it), or SLOW. */
export type FastWalk2D = (s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number;

/**
 * The fast 2D walk of L2's tables `w` (their `translate` hook is what this replaces) through the
 * nested tables `n`, or undefined when either format has no table description (4-byte entries,
 * PAE) or the nested walk could fault on a protection key (it never does: NgpaWalker's PKRU is 0).
 */
export function makeFastWalk2D(w: WalkInputs, n: WalkInputs, tablePfec: number): FastWalk2D | undefined {
  const gt = entryTables(w.format);
  const nt = entryTables(n.format);
  if (gt === undefined || nt === undefined || w.pdptrs !== undefined || n.pdptrs !== undefined) return undefined;
  if (n.translate !== undefined || (n.pkru !== 0 && n.format.pkruMask !== 0)) return undefined;
  const mem = w.mem;
  // L2's format.
  const root = w.format.rootLevel;
  const rootGfn = w.rootGfn;
  const { stop: gStop, acc: gAccTab, aMask: gA, dMask: gD, pkeyMask } = gt;
  const { rsvdLo: gRsvdLo, rsvdHi: gRsvdHi, permissions: gPerms } = w.format.hot;
  const pkru = w.pkru;
  const pkruMask = pkru === 0 ? 0 : w.format.pkruMask;
  // The nested format. Its accesses carry no EFLAGS.AC flag, so permissions[pfec >> 1] is the row.
  const nRoot = n.format.rootLevel;
  const nRootGfn = n.rootGfn;
  const { stop: nStop, acc: nAccTab, aMask: nA, dMask: nD } = nt;
  const { rsvdLo: nRsvdLo, rsvdHi: nRsvdHi, permissions: nPerms } = n.format.hot;
  const tableRow = nPerms[(tablePfec & (PFERR.WRITE | PFERR.USER | PFERR.FETCH)) >>> 1]!;
  const tableWrite = (tablePfec & PFERR.WRITE) !== 0;
  return function walk2d(s, vhi, vlo, access, finalPfec) {
    const words = mem.words; // nothing is written, so no frame is allocated meanwhile
    // The affine run (GuestMemory.affineLo), read once per walk and tested inline (walk-fast.ts).
    const aLo = mem.affineLo;
    const aEnd = mem.affineEnd;
    const aD = mem.affineDelta;
    let g = rootGfn; // the nGPA frame to translate next: a table of L2's, then the final frame
    let level = root;
    let accLo = -1;
    let nxOr = 0;
    let lo = 0;
    let hi = 0;
    let refs = 0;
    let row = tableRow;
    let write = tableWrite;
    let pteAcc = 0;
    let pkey = 0;
    let leafLevel = 0;
    for (;;) {
      // translate_nested_gpa(g): the nested walk of nGPA g * 4096, read-only. Its indices are
      // bit fields of g: the low 32 bits by ToUint32 (modular, exact), the rest by a division by
      // 2^32 (exact); `%` on a double would be a call to fmod.
      const gl = g >>> 0;
      const gh = Math.floor(g / 4294967296);
      let ng = nRootGfn;
      let nl = nRoot;
      let nAcc = -1;
      let nNx = 0;
      let nlo = 0;
      let nhi = 0;
      for (;;) {
        const f = ng >= aLo && ng < aEnd ? ng + aD : mem.frameOfUnchecked(ng);
        if (f < 0) return SLOW;
        const idx = nl <= 3 ? (gl >>> (9 * nl - 9)) & 511 : nl === 4 ? ((gl >>> 27) | (gh << 5)) & 511 : (gh >>> 4) & 511;
        const wi = f * FRAME_WORDS + idx * 2;
        nlo = words[wi]!;
        nhi = words[wi + 1]!;
        refs++;
        const ri = ((nlo >>> 7) & 1) * 5 + nl - 1;
        if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & nRsvdLo[ri]!) | (nhi & nRsvdHi[ri]!)) !== 0) return SLOW;
        nAcc &= nlo;
        nNx |= nhi;
        if (nl === 1 || (nlo & 0x80) !== 0) break;
        ng = (nhi & 0xfffff) * TWO20 + (nlo >>> 12);
        nl--;
      }
      if (((row >>> nAccTab[(nAcc & 7) | ((nAcc >>> 7) & 8) | ((nNx >>> 27) & 16)]!) & 1) !== 0) return SLOW;
      if ((nAcc & nA) !== nA || (write && (nlo & nD) !== nD)) return SLOW;
      // The leaf frame plus the nGPA's bits below a large page, as in walk-fast.ts.
      let frame = (nhi & 0xfffff) * TWO20 + (nlo >>> 12);
      if (nl !== 1) {
        const mask = nl === 2 ? 511 : 262143;
        frame = frame - (frame & mask) + (gl & mask);
      }
      if (level === 0) {
        // The final frame's translation: done.
        s.guestGfn = g;
        s.gfn = frame;
        break;
      }
      // L2's entry in the table just translated.
      const f = frame >= aLo && frame < aEnd ? frame + aD : mem.frameOfUnchecked(frame);
      if (f < 0) return SLOW;
      const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
      const wi = f * FRAME_WORDS + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      refs++;
      const ri = ((lo >>> 7) & 1) * 5 + level - 1;
      if ((gStop[(lo & 63) | ((lo >>> 4) & 64)]! | (lo & gRsvdLo[ri]!) | (hi & gRsvdHi[ri]!)) !== 0) return SLOW;
      accLo &= lo;
      nxOr |= hi;
      if (level !== 1 && (lo & 0x80) === 0) {
        g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
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
      g = (hi & 0xfffff) * TWO20 + (lo >>> 12);
      if (level !== 1) {
        const mask = level === 2 ? 511 : 262143;
        g = g - (g & mask) + ((vlo >>> 12) & mask);
      }
      level = 0;
      row = nPerms[(finalPfec & (PFERR.WRITE | PFERR.USER | PFERR.FETCH)) >>> 1]!;
      write = (finalPfec & PFERR.WRITE) !== 0;
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
