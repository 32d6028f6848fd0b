/**
 * The record walk's fast path: `walkTables` followed by `buildRecord` (walk-record.ts) in one pass,
 * for the common case only — 4- or 5-level paging (8-byte entries, the root in memory), no second
 * stage, and a walk that succeeds without setting an A or D bit. Such a walk only reads, so this
 * walk gives up (undefined) at the first sign of anything else, before any side effect, and the
 * caller runs the full walk and builds the record from its trace: a fault, an A/D update, a table
 * never written, PAE, 32-bit paging.
 *
 * Why a separate pass: a random walk waits on a cache miss at every level. The full walk stores
 * each level into the scratch and buildRecord then makes the record's objects and bigints from
 * it, after the last miss. Here each level's step (its object and two bigints) is made right
 * after the entry is read, while the next level's read is still in flight, and the scratch
 * stores are skipped; `npm run bench` (gva_walk.*.record against .raw) shows what it buys. The
 * steps of levels 3 to 5 come from the scratch's step cache when the entry and the ACC through
 * it are those the cached step was made for (records then share that frozen step). Making the
 * steps after the whole walk instead, so that the upper levels' steps would overlap the level-1
 * miss, measured 1.13-1.20x the record time of this order.
 * test/walker/walk-record-fast.test.ts checks it against walkTables + buildRecord on random
 * tables.
 */
import type { Gfn, Gpa, Gva } from '../address/address';
import { GuestMemory } from '../memory/guest-memory';
import { PFERR } from '../format/acc';
import type { Access } from './access';
import { x86Acc, x86Acc73, type WalkInputs } from './walk';
import type { WalkScratch } from './walk-scratch';
import { allowed, clearFullWalkFlags } from './walk-fast';
import type { WalkOk, WalkStep } from './walk-result';

const TWO20 = 0x100000;
/** Step cache slots: 64 per level from 3 to 5, picked by the low 6 bits of the entry's index. */
const STEP_SLOTS = 3 * 64;

/**
 * The record `buildRecord` would make of a successful `walkTables(w, s, vhi, vlo, access)`, or
 * undefined when the walk needs more than reads (see above); nothing is written then. `address`
 * and `accessObj` are the walk's arguments as the record shows them (`vhi`/`vlo` and `access`
 * their halves and encoding). On success the scratch holds the outcome as after `walkTablesRaw`
 * (gfn, level, pteAccess, pkey; the per-level trace unwritten, for `ensureTrace`).
 */
export function walkRecordFast(w: WalkInputs, s: WalkScratch, vhi: number, vlo: number, access: number, address: Gva, accessObj: Access): WalkOk | undefined {
  const fmt = w.format;
  const root = fmt.rootLevel;
  if (fmt.ptType !== 64 || root < 4 || w.translate !== undefined) return undefined;
  const hot = fmt.hot;
  const rsvdLo = hot.rsvdLo;
  const rsvdHi = hot.rsvdHi;
  const mem = w.mem;
  const u64 = s.view;
  const v73 = fmt.kvm === '7.3';
  // The table's GPA as halves (bits 31:12 in tlo, 51:32 in thi), so that each entry's GPA is made
  // from integers; its frame number for the memory lookup.
  let g = w.rootGfn;
  let tlo = ((g % TWO20) * 4096) >>> 0;
  let thi = ((g - (g % TWO20)) / TWO20) >>> 0; // exact: a frame is below 2^40
  let level = root;
  let accLo = -1;
  let accHiInv = -1; // NX inverted so it ANDs like the other rights (walk_nx_mask)
  let lo = 0;
  let hi = 0;
  let acc = 0;
  const steps = s.steps ?? newStepCache(s);
  const stepKey = s.stepKey!;
  const trace = new Array<WalkStep>(root);
  let n = 0;
  for (;;) {
    const f = mem.frameOfUnchecked(g);
    if (f < 0) return undefined; // a table never written (reads as zero) or outside every slot
    const idx = level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
    const wi = GuestMemory.wordBaseUnchecked(f) + idx * 2;
    const words = mem.words;
    lo = words[wi]!;
    hi = words[wi + 1]!;
    if ((lo & 1) === 0) return undefined;
    const ri = ((lo >>> 7) & 1) * 5 + level - 1;
    if (((lo & rsvdLo[ri]!) | (hi & rsvdHi[ri]!)) !== 0) return undefined;
    accLo &= lo;
    accHiInv &= ~hi;
    acc = v73 ? x86Acc73(accLo, accHiInv) : x86Acc(accLo, accHiInv);
    // FNAME(is_last_gpte): level 1, or PS (reserved at levels 4 and 5, so rejected above).
    const last = level === 1 || (lo & 0x80) !== 0;
    const elo = (tlo | (idx * 8)) >>> 0;
    if (level >= 3) {
      // An entry at level 3 or above maps 1 GiB or more: consecutive walks mostly go through the
      // same few, and their step is the one made last time, from the scratch's step cache.
      // Every field of a step follows from its level (the slot's), entry and ACC: the cached one
      // when those are the same, else a new one (keepStep).
      const slot = ((level - 3) << 6) | (idx & 63);
      const k = slot * 5;
      const old = steps[slot];
      trace[n++] =
        old !== undefined && stepKey[k] === elo && stepKey[k + 1] === thi && stepKey[k + 2] === lo && stepKey[k + 3] === hi && stepKey[k + 4] === acc
          ? old
          : keepStep(s, slot, level, elo, thi, lo, hi, acc, last);
    } else {
      // The step as buildRecord writes it for an entry read from memory on a successful walk (the
      // same keys in the same order).
      trace[n++] = {
        level,
        source: 'memory',
        entryGpa: u64.make(elo, thi) as Gpa,
        value: u64.make(lo, hi),
        present: true,
        leaf: last,
        access: acc,
      };
    }
    if (last) break;
    tlo = (lo & 0xffff_f000) >>> 0;
    thi = hi & 0xfffff;
    g = thi * TWO20 + (tlo >>> 12);
    level--;
  }
  if (n !== root) trace.length = n; // a large page ends the walk early

  // permission_fault on the accumulated rights, then the protection key (walkTables' order).
  const pteAccess = acc;
  const pfec = access & (PFERR.WRITE | PFERR.USER | PFERR.FETCH);
  const pkey = (hi >>> 27) & 15;
  if (!allowed(hot.permissions, fmt.pkruMask, w.pkru, access, pteAccess, pkey)) return undefined;
  let pteAcc = pteAccess;
  if (fmt.hasAd) {
    // A clear A anywhere, or D on the leaf of a write: the full walk sets them.
    let adOk = (accLo >>> fmt.accessedBit) & 1;
    if ((pfec & PFERR.WRITE) !== 0) adOk &= (lo >>> fmt.dirtyBit) & 1;
    else if (((lo >>> fmt.dirtyBit) & 1) === 0) pteAcc &= ~2; // protect_clean_gpte
    if (adOk === 0) return undefined;
  }

  // The guest frame: the leaf's frame plus the address bits below the page size.
  const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
  let gfn = frame;
  if (level !== 1) {
    const span = level === 2 ? 512 : 262144;
    gfn = frame - (frame % span) + ((vlo >>> 12) % span);
  }
  // The scratch as a successful walkTablesRaw leaves it (walk-fast.ts: clearFullWalkFlags): lastGfn and
  // the staged-walk getters read the outcome, and recordLast's ensureTrace re-walks for the trace.
  clearFullWalkFlags(s);
  s.tvhi = vhi;
  s.tvlo = vlo;
  s.tacc = access;
  s.gfn = gfn;
  s.maxLevel = root;
  s.level = level;
  s.pkey = pkey;
  s.pteAccess = pteAcc;
  return {
    status: 'ok',
    stage: 'gva_walk',
    address,
    access: accessObj,
    trace,
    gpa: u64.make((((gfn & 0xfffff) << 12) | (vlo & 0xfff)) >>> 0, (gfn / TWO20) >>> 0) as Gpa,
    gfn: gfn as Gfn, // a frame from an entry: below 2^40
    level,
    pageSize: level === 1 ? 4096 : level === 2 ? 0x20_0000 : 4096 * 512 ** (level - 1),
    pteAccess: pteAcc,
    pkey,
    gpaKind: mem.kindOfGfnUnchecked(gfn),
    adUpdates: 0,
  };
}

/** The scratch's step cache (WalkScratch.steps), made on the first record walk that needs it. */
function newStepCache(s: WalkScratch): (WalkStep | undefined)[] {
  s.stepKey = new Uint32Array(STEP_SLOTS * 5);
  return (s.steps = new Array<WalkStep | undefined>(STEP_SLOTS).fill(undefined));
}

/**
 * A new step for a level-3..5 entry (GPA halves elo/thi, value halves lo/hi, ACC acc through it)
 * read on a successful walk, kept in the scratch's step cache at `slot` with the numbers it
 * follows from, for the next walks through the same entry. Kept steps are frozen: records share
 * them (a step is a value, as its bigints are), and one record's caller cannot change another's.
 * Only the upper levels: an entry that changes from walk to walk would pay a store into the
 * long-lived cache (a write barrier: the step is young, the cache old) on every walk for nothing.
 */
function keepStep(s: WalkScratch, slot: number, level: number, elo: number, thi: number, lo: number, hi: number, acc: number, leaf: boolean): WalkStep {
  const u64 = s.view;
  const step: WalkStep = Object.freeze({
    level,
    source: 'memory' as const,
    entryGpa: u64.make(elo, thi) as Gpa,
    value: u64.make(lo, hi),
    present: true,
    leaf,
    access: acc,
  });
  s.steps![slot] = step;
  const key = s.stepKey!;
  const k = slot * 5;
  key[k] = elo;
  key[k + 1] = thi;
  key[k + 2] = lo;
  key[k + 3] = hi;
  key[k + 4] = acc;
  return step;
}
