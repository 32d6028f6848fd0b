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
 *
 * So most references are not made at all: the segment caches (makeTracedWalk2D, tiers A and B)
 * hand a walk the frozen references, trace steps and state of an earlier walk that read the same
 * entries, after reading each entry again and comparing it. What such a hit skips is not only the
 * objects and bigints but the checks and bookkeeping of each reference: the same walk with no
 * objects or bigints made at all still took 0.71-0.85× the time, and the raw walk's loop with
 * this walk's wrapper (Walk2D.walk, the record) 0.44-0.58×. On bench/walk2d.bench.ts's walks a walk
 * allocates 1.66 KB instead of 3.96 KB, and executes 8,800 instructions instead of 13,400
 * (callgrind, whole process, 40k walks of those tables at 64 Ki pages; a raw walk: 2,050).
 */
import { FRAME_WORDS } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import { entryTables, type EntryTables } from '../walker/entry-tables';
import { SLOW, allowed } from '../walker/walk-fast';
import { faultMask, INT_FRAME_END, NARROW } from './walk-2d-fast';
import type { WalkInputs } from '../walker/walk';
import type { WalkScratch } from '../walker/walk-scratch';
import type { WalkStep } from '../walker/walk-result';
import { U64View } from '../u64-view';
import type { Gpa, Ngpa } from '../address/address';
import type { MemRef2D } from './walk-2d-result';

/**
 * The prefix caches (makeTracedWalk2D: tiers A and B). A: slots picked by GVA bits 35:30 (one per
 * GiB of L2's address space, 64 GiB side by side). B: slots picked by GVA bits 32:21 (one per L2
 * page table, as the gva record walk's level-2 step cache: 4096 hold the page tables of a guest of
 * 8 GiB; bench/walk2d.bench.ts maps 4 GiB, 2048 page tables).
 */
const A_SLOTS = 64;
const B_SLOTS = 4096;
/**
 * Each tier's probe (the gva record walk's, walker/walk-record-fast.ts: L2_PROBE): after PROBE
 * lookups in filled slots that hit less than half the time, the tier is off for the next OFF walks
 * (no lookup, no fill), then it probes again. A lookup in an empty slot is not counted: it fills
 * the slot (counted, a cold cache's first walks would turn it off before it holds anything). A miss that fills a slot freezes the segment's objects and stores
 * young objects into the long-lived cache (a write barrier each, and the objects kept to the next
 * collection): worth it only where most lookups hit.
 */
const PROBE = 256;
/** Per slot, the in-walk sharing state (lastAt, atGpa) of nested levels 1..5. */
const AT = 11;
const OFF = 65536;

/** Where a successful traced walk leaves the record's references and L2's trace steps (new arrays each walk). */
export interface TracedParts {
  refs: MemRef2D[];
  trace: WalkStep[];
}

/**
 * References read on success (≥ 0), or SLOW. On success: the references and L2's trace in `out`,
 * L2's levels in `s` as `walkTables` writes them, the
 * L1 frame in `s.gfn`, the L2 frame in `s.guestGfn`; the final nested walk's outcome in `ns` (gfn,
 * maxLevel, level, pkey, pteAccess) as the 1D fast walk leaves it: `ns` is the ngpa walker's own
 * (NgpaWalker.fastWalkScratch), written only on success, and NgpaWalker.noteFastWalk does the rest.
 * On SLOW nothing in memory or in `ns` is written (the trace and `s` hold garbage the full walk
 * overwrites).
 */
export type TracedWalk2D = (s: WalkScratch, ns: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number, out: TracedParts) => number;

/** Walk2D's traced walk, and where it leaves the references and trace. */
export interface TracedFast {
  walk: TracedWalk2D;
  parts: TracedParts;
}

/**
 * The traced walk for the inputs makeFastWalk2D takes; undefined where it gives none for the
 * formats or a root at or above 8 TiB. The nested walk here is a loop, so it does not need
 * nestedUnrollable: a hand-made nested format keeps the traced walk.
 */
export function makeTracedWalk2D(w: WalkInputs, n: WalkInputs, tablePfec: number): TracedFast | undefined {
  const gt = entryTables(w.format);
  const nt = entryTables(n.format);
  if (gt === undefined || nt === undefined || w.pdptrs !== undefined || n.pdptrs !== undefined) return undefined;
  if (n.translate !== undefined || (n.pkru !== 0 && n.format.pkruMask !== 0)) return undefined;
  if (w.rootGfn >= INT_FRAME_END || n.rootGfn >= INT_FRAME_END) return undefined;
  // The closure and its segment caches (about 1.2 MB, mostly tier B) are made by the first walk:
  // a Walk2D used only through walkRaw, or never walked, does not pay for them. That walk puts
  // the closure in `walk` in place of this forwarding one (unless something else was put there
  // meanwhile: the tests' wrappers, which then keep calling it): Walk2D.walk calls `walk` as it
  // finds it, and a forwarding call inlined into it took budget from its inlining (V8 stops at
  // 920 bytes of inlined bytecode per function) that the record's constructor needs.
  let walk: TracedWalk2D | undefined;
  const forward: TracedWalk2D = (s, ns, vhi, vlo, access, finalPfec, parts) => {
    if (walk === undefined) {
      walk = buildTracedWalk2D(w, n, tablePfec, gt, nt);
      if (fast.walk === forward) fast.walk = walk;
    }
    return walk(s, ns, vhi, vlo, access, finalPfec, parts);
  };
  const fast: TracedFast = { walk: forward, parts: { refs: [], trace: [] } };
  return fast;
}

/** makeTracedWalk2D's walk, for inputs it accepted (`gt`, `nt`: their formats' entry tables). */
function buildTracedWalk2D(w: WalkInputs, n: WalkInputs, tablePfec: number, gt: EntryTables, nt: EntryTables): TracedWalk2D {
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
  /**
   * Across walks, whole runs of references (segments): what the walk did up to a cut, for the next
   * walks that read the same entries. Cut A is reached after the nested walk of L2's level-2 table
   * (before L2's level-2 entry is read), cut B after the nested walk of L2's level-1 table. Tier A
   * keeps everything before cut A — the nested walks of L2's tables at levels root..2 and L2's
   * entries at levels root..3 — by the GVA bits those entries index (bits 47:30, 56:30 with
   * 5-level paging); tier B keeps what lies between the cuts — L2's level-2 entry and the nested
   * walk of the page table it names — by GVA bits 47:21 and the tier-A fill it continued (`aGen`:
   * the positions, the ACC through the entries above and the in-walk sharing follow from it).
   * On bench/walk2d.bench.ts's walks that is 19 of the 24 references and 3 of the 4 trace steps.
   *
   * A segment is used only when every entry it read holds the value it held then: the walk reads
   * each again, at the same table frame and index (the frames follow from the entries before it,
   * which are compared first), and compares both halves. The walk's decisions on those entries
   * (reserved bits, the nested rights and A/D, leaf or not) depend on nothing else — the tables'
   * access is a constant of the walker, L2's on the entries above — so they are those the walk
   * that filled the segment made, and so are its references, trace steps and scratch levels, and
   * the state it went on from (the frame of the next table, the ACC and NX accumulated, the last
   * nested reference per level for in-walk sharing). Those objects are frozen when kept: records
   * share them, as the gva record walk's records share its step cache's steps.
   *
   * Per slot: the key (GVA bits, and for B aGen; the count, 0 for empty), per reference the table
   * frame and index of its entry, both halves and the MemRef2D, per L2 level of the segment the
   * trace step and the six scratch numbers, and the end state.
   */
  const aMax = (root - 1) * nRoot + root - 2; // references before cut A at most: root - 1 nested walks, root - 2 entries
  const bMax = nRoot + 1;
  const aLv = root - 2; // L2 levels whose entries tier A keeps (root..3)
  const caKeyHi = new Uint32Array(A_SLOTS);
  const caKeyLo = new Uint32Array(A_SLOTS);
  const caN = new Int32Array(A_SLOTS);
  const caGen = new Float64Array(A_SLOTS);
  const caG = new Int32Array(A_SLOTS * aMax);
  const caI = new Int32Array(A_SLOTS * aMax);
  const caLo = new Int32Array(A_SLOTS * aMax);
  const caHi = new Int32Array(A_SLOTS * aMax);
  const caRef = new Array<MemRef2D | undefined>(A_SLOTS * aMax).fill(undefined);
  const caStep = new Array<WalkStep | undefined>(A_SLOTS * aLv).fill(undefined);
  // Int32 where every number is an int32 (frames are, NARROW; halves and ACCs as their bits).
  const caLvl = new Int32Array(A_SLOTS * aLv * 6); // per level: lo, hi, tableGfn, guestTableGfn, index, acc
  const caEnd = new Int32Array(A_SLOTS * 4); // g, frame, accLo, nxOr
  const caAt = new Float64Array(A_SLOTS * AT); // lastAt[1..nRoot] at 1..5, atGpa[1..nRoot] at 6..10
  const cbKeyHi = new Uint32Array(B_SLOTS);
  const cbKeyLo = new Uint32Array(B_SLOTS);
  const cbN = new Int32Array(B_SLOTS);
  const cbGen = new Float64Array(B_SLOTS);
  const cbG = new Int32Array(B_SLOTS * bMax);
  const cbI = new Int32Array(B_SLOTS * bMax);
  const cbLo = new Int32Array(B_SLOTS * bMax);
  const cbHi = new Int32Array(B_SLOTS * bMax);
  const cbRef = new Array<MemRef2D | undefined>(B_SLOTS * bMax).fill(undefined);
  const cbStep = new Array<WalkStep | undefined>(B_SLOTS).fill(undefined);
  const cbLvl = new Int32Array(B_SLOTS * 6);
  const cbEnd = new Int32Array(B_SLOTS * 4);
  const cbAt = new Float64Array(B_SLOTS * AT);
  // The entries a walk that fills a segment reads, by reference position (table frame, index, halves).
  const tG = new Int32Array(maxRefs);
  const tI = new Int32Array(maxRefs);
  const tLo = new Int32Array(maxRefs);
  const tHi = new Int32Array(maxRefs);
  let gen = 0; // tier-A fills so far: each fill's aGenOf
  let aLooks = 0;
  let aHits = 0;
  let aOff = 0;
  let bLooks = 0;
  let bHits = 0;
  let bOff = 0;
  let bMisses = 0;
  /**
   * Whether the entries of a segment (from `base`, `n` of them) still hold what they held. The
   * frames through the affine runs first, as the walk finds them (frameOfUnchecked's flat arrays
   * are one more cache miss per table).
   */
  const same = (gs: Int32Array, is: Int32Array, los: Int32Array, his: Int32Array, base: number, n: number): boolean => {
    const words = mem.words;
    const aLo = mem.affineLo;
    const aEnd = mem.affineEnd;
    const aD = mem.affineDelta;
    const bLo = mem.affine2Lo;
    const bEnd = mem.affine2End;
    const bD = mem.affine2Delta;
    for (let k = base; k < base + n; k++) {
      const t = gs[k]!;
      const f = t >= aLo && t < aEnd ? t + aD : t >= bLo && t < bEnd ? t + bD : mem.frameOfUnchecked(t);
      if (f < 0) return false;
      const wi = f * FRAME_WORDS + is[k]! * 2;
      if ((words[wi]! | 0) !== los[k] || (words[wi + 1]! | 0) !== his[k]) return false;
    }
    return true;
  };
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
    // The segments (above): a hit resumes the walk at a cut (`resumed`: the table at `level` is
    // translated, its frame `resume`); a miss fills the slot when the walk reaches the cut.
    let resumed = false;
    let resume = 0;
    let fillA = -1;
    let fillB = -1;
    let aGen = 0; // the tier-A fill the walk continues, for tier B
    let aAt = 0; // references before cut A
    const khi = vhi >>> 0;
    if (aOff > 0) aOff--;
    else {
      const sa = ((vlo >>> 30) | (vhi << 2)) & (A_SLOTS - 1);
      const na = caN[sa]!;
      const hitA = na > 0 && caKeyHi[sa] === khi && caKeyLo[sa] === vlo >>> 30 && same(caG, caI, caLo, caHi, sa * aMax, na);
      if (hitA) aHits++;
      if (na > 0 && ++aLooks === PROBE) {
        if (aHits < PROBE / 2) aOff = OFF;
        aLooks = 0;
        aHits = 0;
      }
      if (!hitA) fillA = sa;
      else {
        const base = sa * aMax;
        for (let k = 0; k < na; k++) out[k] = caRef[base + k]!;
        for (let l = root; l > 2; l--) {
          const j = sa * aLv + root - l;
          trace[root - l] = caStep[j]!;
          const q = j * 6;
          sLo[l] = caLvl[q]!;
          sHi[l] = caLvl[q + 1]!;
          s.tableGfn[l] = caLvl[q + 2]!;
          s.guestTableGfn[l] = caLvl[q + 3]!;
          s.index[l] = caLvl[q + 4]!;
          sAcc[l] = caLvl[q + 5]!;
        }
        const e = sa * 4;
        g = caEnd[e]! | 0;
        resume = caEnd[e + 1]! | 0;
        accLo = caEnd[e + 2]! | 0;
        nxOr = caEnd[e + 3]! | 0;
        const t = sa * AT;
        for (let i = 1; i <= nRoot; i++) {
          lastAt[i] = caAt[t + i]!;
          atGpa[i] = caAt[t + 5 + i]!;
        }
        refs = na;
        aAt = na;
        level = 2;
        resumed = true;
        aGen = caGen[sa]!;
      }
      if (bOff > 0) bOff--;
      else {
        const sb = ((vlo >>> 21) | (vhi << 11)) & (B_SLOTS - 1);
        const nb = cbN[sb]!;
        const sameKey = cbKeyHi[sb] === khi && cbKeyLo[sb] === vlo >>> 21;
        // Looked up only after a tier-A hit (a miss there makes a new aGen, which no slot has).
        const hitB = hitA && nb > 0 && sameKey && cbGen[sb] === aGen && same(cbG, cbI, cbLo, cbHi, sb * bMax, nb);
        if (hitA && nb > 0) {
          if (hitB) bHits++;
          if (++bLooks === PROBE) {
            if (bHits < PROBE / 2) bOff = OFF;
            bLooks = 0;
            bHits = 0;
          }
        }
        if (hitB) {
          const base = sb * bMax;
          for (let k = 0; k < nb; k++) out[refs + k] = cbRef[base + k]!;
          trace[root - 2] = cbStep[sb]!;
          const q = sb * 6;
          sLo[2] = cbLvl[q]!;
          sHi[2] = cbLvl[q + 1]!;
          s.tableGfn[2] = cbLvl[q + 2]!;
          s.guestTableGfn[2] = cbLvl[q + 3]!;
          s.index[2] = cbLvl[q + 4]!;
          sAcc[2] = cbLvl[q + 5]!;
          const e = sb * 4;
          g = cbEnd[e]! | 0;
          resume = cbEnd[e + 1]! | 0;
          accLo = cbEnd[e + 2]! | 0;
          nxOr = cbEnd[e + 3]! | 0;
          const t = sb * AT;
          for (let i = 1; i <= nRoot; i++) {
            lastAt[i] = cbAt[t + i]!;
            atGpa[i] = cbAt[t + 5 + i]!;
          }
          refs += nb;
          level = 1;
        } else if (nb === 0 || sameKey || (++bMisses & 15) === 0) {
          // A slot of another page table is replaced at every 16th such miss only (the probe's reason).
          fillB = sb;
        }
      }
    }
    const recording = fillA >= 0 || fillB >= 0;
    for (;;) {
      // translate_nested_gpa(g), read-only, as walk-2d-fast.ts: g < 2^31 (NARROW), so the level-4
      // index is g's bits 30:27 and the level-5 index 0.
      const ngpaNum = g * 4096;
      let frame = resume;
      if (resumed) resumed = false;
      else {
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
          if (recording) {
            tG[refs] = ng;
            tI[refs] = idx;
            tLo[refs] = nlo;
            tHi[refs] = nhi;
          }
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
        frame = (nhi << 20) | (nlo >>> 12);
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
        if (level === 2 && fillA >= 0) {
          // Cut A: the slot gets everything so far.
          const base = fillA * aMax;
          for (let k = 0; k < refs; k++) {
            caG[base + k] = tG[k]!;
            caI[base + k] = tI[k]!;
            caLo[base + k] = tLo[k]!;
            caHi[base + k] = tHi[k]!;
            caRef[base + k] = Object.freeze(out[k]!);
          }
          for (let l = root; l > 2; l--) {
            const j = fillA * aLv + root - l;
            caStep[j] = Object.freeze(trace[root - l]!);
            const q = j * 6;
            caLvl[q] = sLo[l]!;
            caLvl[q + 1] = sHi[l]!;
            caLvl[q + 2] = s.tableGfn[l]!;
            caLvl[q + 3] = s.guestTableGfn[l]!;
            caLvl[q + 4] = s.index[l]!;
            caLvl[q + 5] = sAcc[l]!;
          }
          const e = fillA * 4;
          caEnd[e] = g;
          caEnd[e + 1] = frame;
          caEnd[e + 2] = accLo;
          caEnd[e + 3] = nxOr;
          const t = fillA * AT;
          for (let i = 1; i <= nRoot; i++) {
            caAt[t + i] = lastAt[i]!;
            caAt[t + 5 + i] = atGpa[i]!;
          }
          caN[fillA] = refs;
          caKeyHi[fillA] = khi;
          caKeyLo[fillA] = vlo >>> 30;
          caGen[fillA] = ++gen;
          aGen = gen;
          aAt = refs;
        } else if (level === 1 && fillB >= 0 && aGen !== 0) {
          // Cut B: the slot gets what lies after cut A (this walk passed it: aGen is its fill or hit).
          const base = fillB * bMax;
          const cnt = refs - aAt;
          for (let k = 0; k < cnt; k++) {
            cbG[base + k] = tG[aAt + k]!;
            cbI[base + k] = tI[aAt + k]!;
            cbLo[base + k] = tLo[aAt + k]!;
            cbHi[base + k] = tHi[aAt + k]!;
            cbRef[base + k] = Object.freeze(out[aAt + k]!);
          }
          cbStep[fillB] = Object.freeze(trace[root - 2]!);
          const q = fillB * 6;
          cbLvl[q] = sLo[2]!;
          cbLvl[q + 1] = sHi[2]!;
          cbLvl[q + 2] = s.tableGfn[2]!;
          cbLvl[q + 3] = s.guestTableGfn[2]!;
          cbLvl[q + 4] = s.index[2]!;
          cbLvl[q + 5] = sAcc[2]!;
          const e = fillB * 4;
          cbEnd[e] = g;
          cbEnd[e + 1] = frame;
          cbEnd[e + 2] = accLo;
          cbEnd[e + 3] = nxOr;
          const t = fillB * AT;
          for (let i = 1; i <= nRoot; i++) {
            cbAt[t + i] = lastAt[i]!;
            cbAt[t + 5 + i] = atGpa[i]!;
          }
          cbN[fillB] = cnt;
          cbKeyHi[fillB] = khi;
          cbKeyLo[fillB] = vlo >>> 21;
          cbGen[fillB] = aGen;
        }
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
      if (recording) {
        tG[refs] = frame;
        tI[refs] = idx;
        tLo[refs] = lo;
        tHi[refs] = hi;
      }
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
