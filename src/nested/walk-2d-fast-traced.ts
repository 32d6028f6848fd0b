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
 * So the references near the roots are kept across walks (makeTracedWalk2D: the segments and the
 * L2 entry cache): on bench/walk2d.bench.ts's tables 14 of a walk's 24 references and 2 of its 4
 * trace steps are the kept frozen objects, and a walk allocates 2.3 KB instead of 3.9 KB. Side by
 * side in one process (CPU time, medians of 25-31 interleaved rounds of 100k record walks) that
 * took 0.91-0.97× the time of the walk that made every reference anew: the references that remain
 * (L2's PDE and PTE, the nested walks of L2's page table and of the data page, whose nGPAs change
 * from walk to walk) and the record itself are most of what is left.
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

/** Reference cache slots per reference position (makeTracedWalk2D): 8 GiB of neighbouring L2 address space. */
const SLOTS = 8;
/** The cache's empty slots (never returned: an empty slot's key matches no entry, its GPA being -1). */
const NO_REF: MemRef2D = Object.freeze({ seq: 0, kind: 'nested', guestLevel: 0, level: 0, gpa: 0n as Gpa, ngpa: 0n as Ngpa, value: 0n });
const NO_STEP: WalkStep = Object.freeze({ level: 0, source: 'memory', entryGpa: 0n as Gpa, value: 0n, present: false, leaf: false, access: 0 });

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
  // The bigints of GPAs and nGPAs are made from integer halves: every frame here is below 2^31
  // (NARROW), so a frame's address plus an entry offset has the low half
  // ((frame << 12) | offset) >>> 0 and the high half frame >>> 20 (U64View.makeNum's halves of the
  // double, without its division and double-to-integer conversions).
  const u64 = new U64View();
  // In-walk sharing: the nested walks of one 2D walk read the same upper entries (one EPT12/NPT12
  // PML4E for every nGPA below 512 GiB, …). The last nested reference at each nested level (its
  // index in the walk's references, -1 for none yet) with its entry's GPA: a reference to the same
  // entry takes that reference's bigints — the same value too, since this walk writes nothing (a
  // bigint is a value: a shared one cannot be told from one made anew).
  const lastAt = new Int8Array(8);
  const atGpa = new Float64Array(8);
  /**
   * Across walks, the references near the roots of both dimensions: the nested walks that
   * translate L2's tables at level 2 and above (segments, below) and L2's entries at level 3 and
   * above (here: their MemRef2D and trace step, SLOTS per reference position). Their inputs depend
   * only on CR3 and the address's top bits: every walk in one GiB of L2's address space reads the
   * same nested walks of L2's top three tables and the same L2 entries above level 2, and gets the
   * objects the first such walk made. An L2 entry's reference and step are the cached ones when
   * everything they show is what those were made from (the key: the entry's level, whether it is
   * the leaf, the ACC through it, its GPA, nGPA and both halves of its value; the position is the
   * array index); records then share those objects, as the gva record walk's records share its
   * step cache's frozen steps (walker/walk-record-fast.ts: keepStep). Kept objects are frozen: one
   * record's caller cannot change another record's reference or step. Only those levels: an entry
   * that changes from walk to walk would store a young object into these long-lived arrays on
   * every walk (a write barrier, and the object kept alive to the next collection), which costs
   * about what making it does. The slot is picked by the index that chose the table (for a nested
   * walk: the L2 entry that pointed to the table; for an L2 entry: its own index), so the walks of
   * neighbouring GiBs keep their references side by side.
   */
  const cacheLen = maxRefs * SLOTS;
  const kShape = new Int32Array(cacheLen);
  const kGpa = new Float64Array(cacheLen).fill(-1);
  const kNg = new Float64Array(cacheLen).fill(-1);
  const kLo = new Uint32Array(cacheLen);
  const kHi = new Uint32Array(cacheLen);
  const cRef = new Array<MemRef2D>(cacheLen).fill(NO_REF);
  const cStep = new Array<WalkStep>(cacheLen).fill(NO_STEP);
  /**
   * The nested walks of L2's tables at level 2 and above as a whole (segments), per L2 level and
   * slot: the nGPA translated and the reference position where the walk started (the key: the
   * references' `seq` follows from it, and a large nested page above shifts it), its entries'
   * halves, GPAs and (frozen) references, and the frame it gave. A walk of that nGPA from that
   * position that reads the same entries again decides the same — the entry checks depend on
   * nothing but the entry, its level and the nested format, and the permission and A/D tests on
   * the entries and the tables' access, which is constant — so it only reads and compares the
   * entries (as many loads as the raw walk's) and takes the references: none of the entry checks,
   * GPA arithmetic or allocation of the walk below run for it.
   */
  const segLen = 6 * SLOTS;
  const segNg = new Float64Array(segLen).fill(-1);
  const segAt = new Int32Array(segLen);
  const segN = new Int32Array(segLen);
  const segFrame = new Int32Array(segLen);
  const segLo = new Uint32Array(segLen * 5);
  const segHi = new Uint32Array(segLen * 5);
  const segGpa = new Float64Array(segLen * 5);
  const segRef = new Array<MemRef2D>(segLen * 5).fill(NO_REF);
  // The entries of the nested walk running, for its segment.
  const tLo = new Uint32Array(5);
  const tHi = new Uint32Array(5);
  const tGpa = new Float64Array(5);
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
    let pIdx = 0; // the index of the L2 entry that pointed to the table translated next (0 for CR3's)
    walk: for (;;) {
      // translate_nested_gpa(g), read-only, as walk-2d-fast.ts: g < 2^31 (NARROW), so the level-4
      // index is g's bits 30:27 and the level-5 index 0.
      const ngpaNum = g * 4096;
      // This nested walk's segment slot: -1 below L2 level 2 and for the final translation (their
      // nGPAs change from walk to walk).
      const nSlot = level >= 2 ? pIdx & (SLOTS - 1) : -1;
      let frame = 0;
      nested: {
        const sk = level * SLOTS + nSlot;
        if (nSlot >= 0 && segNg[sk] === ngpaNum && segAt[sk] === refs) {
          // A segment hit (above): the same entries, read and compared in walk order.
          const cnt = segN[sk]!;
          const base = sk * 5;
          let hg = nRootGfn;
          let hl = nRoot;
          let j = 0;
          for (; j < cnt; j++) {
            const f = hg >= aLo && hg < aEnd ? hg + aD : hg >= bLo && hg < bEnd ? hg + bD : mem.frameOfUnchecked(hg);
            if (f < 0) break;
            const idx = hl <= 3 ? (g >>> (9 * hl - 9)) & 511 : hl === 4 ? g >>> 27 : 0;
            const wi = f * FRAME_WORDS + idx * 2;
            const elo = words[wi]!;
            const ehi = words[wi + 1]!;
            if (elo !== segLo[base + j] || ehi !== segHi[base + j]) break;
            hg = (ehi << 20) | (elo >>> 12);
            hl--;
          }
          if (j === cnt) {
            for (j = 0; j < cnt; j++) {
              out[refs] = segRef[base + j]!;
              lastAt[nRoot - j] = refs;
              atGpa[nRoot - j] = segGpa[base + j]!;
              refs++;
            }
            frame = segFrame[sk]!;
            break nested;
          }
        }
        const start = refs;
        const ngBig = u64.make((g << 12) >>> 0, g >>> 20); // the nGPA translated, every reference's
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
          } else {
            gpaBig = u64.make(((ng << 12) | (idx << 3)) >>> 0, ng >>> 20);
            value = u64.make(nlo, nhi);
          }
          const ref: MemRef2D = { seq: refs + 1, kind: 'nested', guestLevel: level, level: nl, gpa: gpaBig as Gpa, ngpa: ngBig as Ngpa, value };
          // Frozen where its segment keeps it (below).
          out[refs] = nSlot >= 0 ? Object.freeze(ref) : ref;
          lastAt[nl] = refs;
          atGpa[nl] = gpaNum;
          if (nSlot >= 0) {
            tLo[nRoot - nl] = nlo;
            tHi[nRoot - nl] = nhi;
            tGpa[nRoot - nl] = gpaNum;
          }
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
          break walk;
        }
        if (nSlot >= 0) {
          // The segment of this nested walk, for the next walks of the same nGPA from here.
          const base = sk * 5;
          for (let j = 0; j < refs - start; j++) {
            const r = out[start + j]!;
            segRef[base + j] = r;
            segLo[base + j] = tLo[j]!;
            segHi[base + j] = tHi[j]!;
            segGpa[base + j] = tGpa[j]!;
          }
          segNg[sk] = ngpaNum;
          segAt[sk] = start;
          segN[sk] = refs - start;
          segFrame[sk] = frame;
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
      {
        const gpaNum = frame * 4096 + idx * 8;
        const gNgpaNum = ngpaNum + idx * 8;
        // The reference cache (above): L2's entries at level 3 and above, slot by their index.
        const k = refs * SLOTS + (idx & (SLOTS - 1));
        const shape = (leaf ? 0x100 : 0) | (acc << 3) | level; // ACC < 32, level < 8
        if (level >= 3 && kGpa[k] === gpaNum && kNg[k] === gNgpaNum && kLo[k] === lo && kHi[k] === hi && kShape[k] === shape) {
          out[refs] = cRef[k]!;
          trace[root - level] = cStep[k]!;
        } else {
          const gpaBig = u64.make(((frame << 12) | (idx << 3)) >>> 0, frame >>> 20) as Gpa;
          const value = u64.make(lo, hi);
          const ref: MemRef2D = { seq: refs + 1, kind: 'guest', guestLevel: level, level, gpa: gpaBig, ngpa: u64.make(((g << 12) | (idx << 3)) >>> 0, g >>> 20) as Ngpa, value };
          const step: WalkStep = { level, source: 'memory', entryGpa: gpaBig, value, present: true, leaf, access: acc };
          if (level >= 3) {
            cRef[k] = Object.freeze(ref);
            cStep[k] = Object.freeze(step);
            kShape[k] = shape;
            kGpa[k] = gpaNum;
            kNg[k] = gNgpaNum;
            kLo[k] = lo;
            kHi[k] = hi;
          }
          out[refs] = ref;
          trace[root - level] = step;
        }
      }
      refs++;
      if (!leaf) {
        pIdx = idx;
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
