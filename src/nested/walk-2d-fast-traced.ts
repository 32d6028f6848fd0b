/**
 * The 2D record walk's read-only path: the walk of walk-2d-fast.ts (the same loop, the same
 * table-driven entry decisions, the same SLOW cases) that also builds the record's references
 * (MemRef2D, in walk order) and L2's trace steps as it reads the entries, and leaves L2's per-level
 * trace in the guest scratch as `walkTables` does (lo, hi, tableGfn, guestTableGfn, index, acc;
 * traced, no A/D update). It gives up (SLOW) before any side effect exactly where the raw fast walk
 * does — a fault in either dimension, an A/D bit to set (so also any write_log_dirty) — and the
 * caller then runs the full walk with its translate hook, from the same state; the objects it made
 * are then garbage.
 *
 * Why a copy of walk-2d-fast's closure rather than a flag in it: a branch per entry on "record or
 * not" would slow the raw walk, and V8 compiles one closure's code once, whatever its captured
 * constants. The generic traced walk this replaces (walker/walk-2d-traced.ts's walk2dTraced: a call
 * per nested walk, `%` on doubles, i.e. fmod, and format branches per entry) cost 1.2-1.5× the raw
 * walk.
 *
 * Why the objects are made inside the walk and not from a trace afterwards: the walk is a chain
 * of dependent loads (each entry's address comes from the previous entry), mostly cache misses on
 * a large guest, and the references are allocation work that depends on nothing but the entry just
 * read. In one loop the CPU builds reference i while the load of reference i + 1 is in flight;
 * one after the other, the two costs added up (each about 40 % of a record walk).
 *
 * Frames are int32 and entries addressing 8 TiB or more give up, as in walk-2d-fast.ts (NARROW):
 * the same SLOW cases as the raw walk, so walk() and walkRaw() take the full walk for the same
 * walks. The nested permission and A/D tests are walk-2d-fast.ts's (faultMask, one compare), and
 * both affine runs are tested. The nested walk stays a loop here: written out level by level (as
 * walk-2d-fast.ts, with the references made after each nested walk) it took the same time as the
 * loop in one process (1.00×, 21 rounds of bench/walk2d.bench.ts's tables). What this walk
 * spends beyond the raw one is elsewhere: with its reference and trace objects left out it took
 * 0.76× the time, with its bigints left out 0.89× (same measure).
 */
import { FRAME_WORDS } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import { entryTables } from '../walker/entry-tables';
import { SLOW, allowed } from '../walker/walk-fast';
import { faultMask, INT_FRAME_END, NARROW } from './walk-2d-fast';
import type { WalkInputs } from '../walker/walk';
import type { WalkScratch } from '../walker/walk-scratch';
import type { WalkStep } from '../walker/walk-result';
import { U64View } from '../u64-view';
import type { Gpa, Ngpa } from '../address/address';
import type { MemRef2D } from './walk-2d-result';

/** Where a successful traced walk leaves the record's references and L2's trace steps (new arrays each walk). */
export interface TracedParts {
  refs: MemRef2D[];
  trace: WalkStep[];
}

/**
 * References read on success (≥ 0), or SLOW. On success: the references and L2's trace in `out`,
 * L2's levels in `s` as `walkTables` writes them, the
 * L1 frame in `s.gfn`, the L2 frame in `s.guestGfn`; the final nested walk's outcome in `ns` (gfn,
 * maxLevel, level, pkey, pteAccess) as the 1D fast walk leaves it, for NgpaWalker.noteFastWalk.
 * On SLOW nothing in memory is written (the trace and the scratches hold garbage the full walk
 * overwrites).
 */
export type TracedWalk2D = (s: WalkScratch, ns: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number, out: TracedParts) => number;

/**
 * The traced walk for the inputs makeFastWalk2D takes; undefined where it gives none for the
 * formats or a root at or above 8 TiB. The nested walk here is a loop, so it does not need
 * nestedUnrollable: a hand-made nested format keeps the traced walk.
 */
export function makeTracedWalk2D(w: WalkInputs, n: WalkInputs, tablePfec: number): TracedWalk2D | undefined {
  const gt = entryTables(w.format);
  const nt = entryTables(n.format);
  if (gt === undefined || nt === undefined || w.pdptrs !== undefined || n.pdptrs !== undefined) return undefined;
  if (n.translate !== undefined || (n.pkru !== 0 && n.format.pkruMask !== 0)) return undefined;
  if (w.rootGfn >= INT_FRAME_END || n.rootGfn >= INT_FRAME_END) return undefined;
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
  const { stop: nStop, acc: nAccTab, aMask: nA, dMask: nD, pkeyMask: nPkeyMask } = nt;
  const { rsvdLo: nRsvdLo, permissions: nPerms } = n.format.hot;
  const nRsvdHi = n.format.hot.rsvdHi.map((m) => m | NARROW);
  const rowOf = (pfec: number): number => (pfec & (PFERR.WRITE | PFERR.USER | PFERR.FETCH)) >>> 1;
  // The nested permission test as one shift of a per-row mask, and the A/D test as one compare
  // (walk-2d-fast.ts: faultMask): A on every entry, D on the leaf for a write.
  const faults = Int32Array.from(nPerms, (row) => faultMask(row, nAccTab));
  const tableFault = faults[rowOf(tablePfec)]!;
  const tableD = (tablePfec & PFERR.WRITE) !== 0 ? nD : 0;
  // References at full depth (no large page): the arrays' size, trimmed when a large page ends a walk early.
  const maxRefs = root * (nRoot + 1) + nRoot;
  const u64 = new U64View();
  // In-walk sharing: the nested walks of one 2D walk read the same upper entries (one EPT12/NPT12
  // PML4E for every nGPA below 512 GiB, …). The last nested reference at each nested level (its
  // index in the walk's references, -1 for none yet) with its entry's GPA: a reference to the same
  // entry takes that reference's bigints — the same value too, since this walk writes nothing (a
  // bigint is a value: a shared one cannot be told from one made anew).
  const lastAt = new Int8Array(8);
  const atGpa = new Float64Array(8);
  /**
   * Across walks: the bigints last made at reference position i for the references near the
   * roots of both dimensions — the nested walks that translate L2's tables above level 2 and L2's
   * entries above level 3, whose inputs depend only on CR3 and the address's top bits (every walk
   * under one L2 PML4E reads the same nested walks of L2's top two tables) — the entry's GPA at
   * keepBig[3i], its value at 3i + 1, its nGPA at 3i + 2, with the numbers they were made from in
   * keepGpa/keepLo/keepHi/keepNg. Only those positions: a position that changes every walk would
   * store a young bigint into these long-lived arrays every walk, which costs about what the
   * bigint would.
   */
  const keepGpa = new Float64Array(maxRefs).fill(-1);
  const keepLo = new Uint32Array(maxRefs);
  const keepHi = new Uint32Array(maxRefs);
  const keepNg = new Float64Array(maxRefs).fill(-1);
  const keepBig = new Array<bigint>(3 * maxRefs).fill(0n);
  return function walk2dTraced(s, ns, vhi, vlo, access, finalPfec, parts) {
    const words = mem.words; // nothing is written, so no frame is allocated meanwhile
    // The affine run (GuestMemory.affineLo), read once per walk and tested inline, as walk-2d-fast.ts.
    const aLo = mem.affineLo;
    const aEnd = mem.affineEnd;
    const aD = mem.affineDelta;
    const bLo = mem.affine2Lo;
    const bEnd = mem.affine2End;
    const bD = mem.affine2Delta;
    const sLo = s.lo;
    const sHi = s.hi;
    const sAcc = s.acc;
    const out = new Array<MemRef2D>(maxRefs);
    const trace = new Array<WalkStep>(root);
    // Stores, not fill(): TypedArray.prototype.fill is a builtin call with argument conversion, 3 % of the walk.
    for (let i = 1; i <= nRoot; i++) lastAt[i] = -1;
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
      // translate_nested_gpa(g), read-only, as walk-2d-fast.ts: g < 2^31 (NARROW), so the level-4
      // index is g's bits 30:27 and the level-5 index 0.
      const ngpaNum = g * 4096;
      // Kept across walks (keepBig): the nested walks of L2's tables above level 2.
      const keepNested = level >= 3;
      let ngBig: bigint;
      if (!keepNested) ngBig = u64.makeNum(ngpaNum);
      else if (keepNg[refs] === ngpaNum) ngBig = keepBig[3 * refs + 2]!;
      else {
        ngBig = u64.makeNum(ngpaNum);
        keepNg[refs] = ngpaNum;
        keepBig[3 * refs + 2] = ngBig;
      }
      let ng = nRootGfn;
      let nl = nRoot;
      let nAcc = -1;
      let nNx = 0;
      let nlo = 0;
      let nhi = 0;
      for (;;) {
        const f = ng >= aLo && ng < aEnd ? ng + aD : ng >= bLo && ng < bEnd ? ng + bD : mem.frameOfUnchecked(ng);
        if (f < 0) return SLOW;
        const idx = nl <= 3 ? (g >>> (9 * nl - 9)) & 511 : nl === 4 ? g >>> 27 : 0;
        const wi = f * FRAME_WORDS + idx * 2;
        nlo = words[wi]!;
        nhi = words[wi + 1]!;
        const ri = ((nlo >>> 7) & 1) * 5 + nl - 1;
        if ((nStop[(nlo & 63) | ((nlo >>> 4) & 64)]! | (nlo & nRsvdLo[ri]!) | (nhi & nRsvdHi[ri]!)) !== 0) return SLOW;
        const gpaNum = ng * 4096 + idx * 8;
        let gpaBig: bigint;
        let value: bigint;
        const j = lastAt[nl]!;
        if (j >= 0 && atGpa[nl] === gpaNum) {
          const prev = out[j]!;
          gpaBig = prev.gpa;
          value = prev.value;
        } else if (!keepNested) {
          gpaBig = u64.makeNum(gpaNum);
          value = u64.make(nlo, nhi);
        } else {
          if (keepGpa[refs] === gpaNum) gpaBig = keepBig[3 * refs]!;
          else {
            gpaBig = u64.makeNum(gpaNum);
            keepGpa[refs] = gpaNum;
            keepBig[3 * refs] = gpaBig;
          }
          if (keepLo[refs] === nlo && keepHi[refs] === nhi) value = keepBig[3 * refs + 1]!;
          else {
            value = u64.make(nlo, nhi);
            keepLo[refs] = nlo;
            keepHi[refs] = nhi;
            keepBig[3 * refs + 1] = value;
          }
        }
        lastAt[nl] = refs;
        atGpa[nl] = gpaNum;
        out[refs] = { seq: refs + 1, kind: 'nested', guestLevel: level, level: nl, gpa: gpaBig as Gpa, ngpa: ngBig as Ngpa, value };
        refs++;
        nAcc &= nlo;
        nNx |= nhi;
        if (nl === 1 || (nlo & 0x80) !== 0) break;
        ng = (nhi << 20) | (nlo >>> 12);
        nl--;
      }
      if (((fault >>> ((nAcc & 7) | ((nAcc >>> 7) & 8) | ((nNx >>> 27) & 16))) & 1) !== 0) return SLOW;
      if (((nAcc & nA) | (nlo & needD)) !== (nA | needD)) return SLOW;
      let frame = (nhi << 20) | (nlo >>> 12);
      if (nl !== 1) {
        const mask = nl === 2 ? 511 : 262143;
        frame = (frame & ~mask) | (g & mask);
      }
      if (level === 0) {
        // The final frame's translation: its outcome as the 1D fast walk leaves it (protect_clean_gpte
        // on a clean nested leaf; a read, since a write to a clean one gave up above).
        ns.gfn = frame;
        ns.maxLevel = nRoot;
        const nPteAccess = nAccTab[(nAcc & 7) | ((nAcc >>> 7) & 8) | ((nNx >>> 27) & 16)]!;
        ns.level = nl;
        ns.pkey = (nhi >>> 27) & nPkeyMask;
        ns.pteAccess = (nlo & nD) !== nD ? nPteAccess & ~2 : nPteAccess;
        s.guestGfn = g;
        s.gfn = frame;
        break;
      }
      // L2's entry in the table just translated.
      const f = frame >= aLo && frame < aEnd ? frame + aD : frame >= bLo && frame < bEnd ? frame + bD : mem.frameOfUnchecked(frame);
      if (f < 0) return SLOW;
      const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
      const wi = f * FRAME_WORDS + idx * 2;
      lo = words[wi]!;
      hi = words[wi + 1]!;
      const ri = ((lo >>> 7) & 1) * 5 + level - 1;
      if ((gStop[(lo & 63) | ((lo >>> 4) & 64)]! | (lo & gRsvdLo[ri]!) | (hi & gRsvdHi[ri]!)) !== 0) return SLOW;
      accLo &= lo;
      nxOr |= hi;
      const acc = gAccTab[(accLo & 7) | ((accLo >>> 7) & 8) | ((nxOr >>> 27) & 16)]!;
      sLo[level] = lo;
      sHi[level] = hi;
      s.tableGfn[level] = frame;
      s.guestTableGfn[level] = g;
      s.index[level] = idx;
      sAcc[level] = acc;
      const leaf = level === 1 || (lo & 0x80) !== 0;
      {
        const gpaNum = frame * 4096 + idx * 8;
        const gNgpaNum = ngpaNum + idx * 8;
        let gpaBig: bigint;
        let ngpaBig: bigint;
        let value: bigint;
        if (level < 4) {
          gpaBig = u64.makeNum(gpaNum);
          ngpaBig = u64.makeNum(gNgpaNum);
          value = u64.make(lo, hi);
        } else {
          // Kept across walks (keepBig): L2's entries above level 3.
          if (keepGpa[refs] === gpaNum) gpaBig = keepBig[3 * refs]!;
          else {
            gpaBig = u64.makeNum(gpaNum);
            keepGpa[refs] = gpaNum;
            keepBig[3 * refs] = gpaBig;
          }
          if (keepLo[refs] === lo && keepHi[refs] === hi) value = keepBig[3 * refs + 1]!;
          else {
            value = u64.make(lo, hi);
            keepLo[refs] = lo;
            keepHi[refs] = hi;
            keepBig[3 * refs + 1] = value;
          }
          if (keepNg[refs] === gNgpaNum) ngpaBig = keepBig[3 * refs + 2]!;
          else {
            ngpaBig = u64.makeNum(gNgpaNum);
            keepNg[refs] = gNgpaNum;
            keepBig[3 * refs + 2] = ngpaBig;
          }
        }
        out[refs] = { seq: refs + 1, kind: 'guest', guestLevel: level, level, gpa: gpaBig as Gpa, ngpa: ngpaBig as Ngpa, value };
        trace[root - level] = { level, source: 'memory', entryGpa: gpaBig as Gpa, value, present: true, leaf, access: acc };
      }
      refs++;
      if (!leaf) {
        g = (hi << 20) | (lo >>> 12);
        level--;
        continue;
      }
      // L2's leaf: permission_fault and the A/D bits, then the final frame through the nested
      // tables (FNAME(walk_addr_generic) translates the leaf's gfn last, before any A/D update).
      const pteAccess = acc;
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
    // Trimmed to what was read (a large page ends the walk early).
    if (refs < maxRefs) out.length = refs;
    if (leafLevel !== 1) trace.length = root - leafLevel + 1;
    parts.refs = out;
    parts.trace = trace;
    s.maxLevel = root;
    s.level = leafLevel;
    s.pkey = pkey;
    s.pteAccess = pteAcc;
    // What walkTables leaves besides the levels: no PDPTE register, no missing table, no A/D update.
    s.usedPdptr = false;
    s.noSlot = false;
    s.traced = true;
    if (s.adDirty) {
      s.updated.fill(0);
      s.adDirty = false;
    }
    return refs;
  };
}
