/**
 * Property: Walk2D's fast path (src/nested/walk-2d-fast.ts) decides exactly as the full 2D walk
 * (`walkTables` with the nested walk as `translate`) on random L2 tables and random EPT12/NPT12.
 * Each case is built twice from one seed into two memories: walker A as shipped (fast path
 * first, the full walk when it answers SLOW), walker B with the fast path removed. Then:
 *  - when the fast path answers SLOW, memory is still as before (SLOW comes before any write);
 *  - it answers SLOW exactly when B's walk faults or writes (A/D bits in either dimension) or
 *    reads an entry whose address is at or above 8 TiB (its frames are int32);
 *  - otherwise A's outcome (L1 frame, L2 frame, level, pkey, pteAccess, references) equals B's;
 *  - A and B leave the same memory behind.
 * Entries are mostly "good" (present, A/D set, every right) with a random minority of any bit
 * pattern (not present, reserved bits, PS at every level, NX, protection keys, EPT memory types
 * and XU, clean or not accessed), so that walks of 24 references reach the end often.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inspect } from 'node:util';
import {
  GuestMemory, NgpaWalker, Walk2D, encodeAccess, makeEptp, gpa, gva, ngpa, CR0, CR4, EFER, DEFAULT_FEATURES, DEFAULT_EPT_CAPS, type Access,
} from '../../src';
import { WalkScratch } from '../../src/walker/walk-scratch';
import { SLOW } from '../../src/walker/walk-fast';
import { xorshift } from '../../src/workload/generators';
import { l1RegsFor, LM } from './support';

const SLOT_FRAMES = 0x10000; // L1 RAM [0, 256 MiB)
const NT0 = 0x100; // nested tables: NT0 + level (GPA frames)
const DATA0 = 0x4000; // leaves around here
const ACCESSES: Access[] = [
  { kind: 'read' }, { kind: 'read', user: true }, { kind: 'write' }, { kind: 'write', user: true },
  { kind: 'fetch' }, { kind: 'fetch', user: true }, { kind: 'read', ac: true }, { kind: 'write', implicit: true },
];

interface Kind { tdp: 'ept' | 'npt'; seed: number }

/** An entry's address bits 51:43: an address at or above 8 TiB. */
const WIDE_BITS = 0x000f_f800_0000_0000n;

/** An entry to `frame`: 94 % a good one for its format, else random low bits and sometimes bad high bits. */
function entry(r: () => number, ept: boolean, level: number, frame: number, large: boolean, maxPhy: number): bigint {
  const chance = (n: number): boolean => r() % 100 < n;
  let lo: number;
  let hi = Math.floor(frame / 0x100000);
  if (chance(94)) {
    lo = ept ? 0x7 | 0x100 | 0x400 | (level === 1 || large ? 0x30 : 0) : 0x1 | 0x2 | 0x4 | 0x20;
    if (chance(85)) lo |= ept ? 0x200 : 0x40; // D: a clean leaf is read-only until a write sets D
    if (large) lo |= 0x80;
  } else {
    lo = r() & 0x7ff;
    if (!ept && level >= 4 && !chance(5)) lo &= ~0x80;
    if (chance(50)) hi |= 0x8000_0000;
    if (chance(50)) hi |= (r() % 16) << 27;
    if (chance(10)) hi |= 1 << ((maxPhy - 32 + (r() % 4)) & 31);
  }
  if ((lo & 0x80) !== 0 && level > 1) frame -= frame % (level === 2 ? 512 : 262144);
  return (BigInt(hi >>> 0) << 32n) | BigInt((lo | ((frame % 0x100000) << 12)) >>> 0);
}

function build(k: Kind) {
  const r = xorshift(k.seed);
  const bit = (p = 2): boolean => r() % p === 0;
  const kvm = bit() ? '7.3' as const : '6.16' as const;
  const nLevels = bit() ? 4 : 5;
  // MAXPHYADDR 52 (5-level nested tables only) lets L2 form nGPAs whose level-5 nested index is not 0.
  const MAXPHY = nLevels === 5 && bit() ? 52 : 46;
  const mem = new GuestMemory({ maxPhyAddr: MAXPHY });
  mem.addSlot({ base: gpa(0n), size: BigInt(SLOT_FRAMES) * 4096n });
  const ept = k.tdp === 'ept';
  const nested = ept
    ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: BigInt(NT0 + nLevels) * 4096n, level: nLevels, adEnabled: !bit(4) }), caps: { ...DEFAULT_EPT_CAPS, executeOnly: bit(), pages1g: bit() }, kvm })
    : NgpaWalker.npt(mem, { ncr3: BigInt(NT0 + nLevels) * 4096n, l1: l1RegsFor(nLevels as 4 | 5, !bit(4)), features: { ...DEFAULT_FEATURES, maxPhyAddr: MAXPHY, vendor: 'amd' }, kvm, gmet: kvm === '7.3' && bit() });
  // The nested path of nGPA frame g (tables shared per level, so paths overwrite each other's
  // upper entries: memory is whatever was written last, the same for both walkers).
  const mapNested = (g: number): void => {
    const target = bit(8) ? DATA0 + (r() % 0x3000) : 0x1000 + (g % 0x1000);
    for (let l = nLevels; l >= 1; l--) {
      const idx = Math.floor(g / 2 ** (9 * (l - 1))) % 512;
      const large = l > 1 && l <= 3 && r() % 100 < 8;
      const next = l === 1 || large ? target : r() % 100 < 3 ? SLOT_FRAMES + 9 : NT0 + l - 1;
      mem.write64(gpa(BigInt((NT0 + l) * 4096 + idx * 8)), entry(r, ept, l, next, large, MAXPHY));
      if (large) break;
    }
  };
  // L2's tables at nGPA frames LT0 + level and its data near DATA_N: low; high, with level-4
  // nested indices from the frame number's bits 30:27 (below 8 TiB); or at or above 8 TiB, where
  // the nested walk's upper indices come from above bit 32 of the frame number (the fast walk
  // leaves those walks to the full one).
  const LT0 = bit() ? 0x200 : 2 ** 27 + (r() % 2 ** 20) * 64;
  const dataKind = r() % 6;
  const DATA_N = dataKind < 3 ? DATA0 : dataKind < 5 ? 2 ** 30 + (r() % 2 ** 17) * 4096 : (MAXPHY === 52 ? 2 ** 39 : 2 ** 33) + (r() % 2 ** 20) * 4096;
  const l2Levels = bit() ? 4 : 5;
  const vhi = r() & (l2Levels === 5 ? 0x01ff_ffff : 0xffff);
  const vlo = r() >>> 0;
  const idx = (level: number): number => level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
  // A third of the cases allocate the frames of the nested tables below the root first, a third
  // those where the nested tables mostly put L2's tables below its root (0x1000 + nGPA frame %
  // 0x1000), lowest level first, then one other frame: GuestMemory's affine run (frame = GFN +
  // delta, delta ≠ 0) then holds them and ends at the root's GFN, and the fast path's inline test
  // of it answers those lookups. A frame of zeros reads as one never written. (Its own generator:
  // the tables stay the same for a seed.)
  const pre = xorshift(k.seed ^ 0x2d_affe);
  const preKind = pre() % 3;
  if (preKind !== 0) {
    for (let l = 1; l < (preKind === 1 ? nLevels : l2Levels); l++) mem.write64(gpa(BigInt((preKind === 1 ? NT0 + l : 0x1000 + ((LT0 + l) % 0x1000)) * 4096)), 0n);
    mem.write64(gpa(BigInt((DATA0 + 0x3000 + (pre() % 4)) * 4096)), 0n);
  }
  for (let l = l2Levels; l >= 1; l--) mapNested(LT0 + l);
  // L2's path: each table's entry written where the nested tables (peeked, no A/D) put it.
  let finalNgfn = 0;
  for (let l = l2Levels; l >= 1; l--) {
    const large = l > 1 && l <= 3 && r() % 100 < 8;
    const next = l === 1 || large ? DATA_N + 0x100 + (r() % 0x1000) : LT0 + l - 1;
    const t = nested.peekFrame(LT0 + l, 0);
    if (t >= 0 && t < SLOT_FRAMES) mem.write64(gpa(BigInt(t * 4096 + idx(l) * 8)), entry(r, false, l, next, large, MAXPHY));
    if (l === 1 || large) {
      const span = l === 1 ? 1 : l === 2 ? 512 : 262144;
      finalNgfn = next - (next % span) + ((vlo >>> 12) % span);
      break;
    }
  }
  mapNested(finalNgfn);
  const regs = {
    cr0: CR0.PE | CR0.PG | (bit() ? CR0.WP : 0n),
    cr3: BigInt((LT0 + l2Levels) * 4096),
    cr4: CR4.PAE | (l2Levels === 5 ? CR4.LA57 : 0n) | (bit() ? CR4.SMEP : 0n) | (bit() ? CR4.SMAP : 0n) | (bit() ? CR4.PKE : 0n),
    efer: LM | (!bit(4) ? EFER.NXE : 0n),
    pkru: bit() ? 0 : r() >>> 0,
  };
  const w2 = new Walk2D(nested, { regs, features: { ...DEFAULT_FEATURES, maxPhyAddr: MAXPHY } });
  const acc = ACCESSES[r() % ACCESSES.length]!;
  // walk()'s address: vhi:vlo made canonical (the walk reads bits 56:12 only).
  const top = l2Levels === 5 ? 56 : 47;
  const raw = (BigInt(vhi) << 32n) | BigInt(vlo);
  const va = (raw >> BigInt(top)) & 1n ? raw | ~((1n << BigInt(top + 1)) - 1n) & 0xffff_ffff_ffff_ffffn : raw;
  return { mem, w2, vhi, vlo, access: encodeAccess(acc), acc, va, r };
}

type Internals = { fast: ((s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number) | undefined; scratch: WalkScratch };

function check(k: Kind): 'fast' | 'slow' | 'wide' | 'none' {
  const a = build(k);
  const b = build(k);
  const ia = a.w2 as unknown as Internals;
  const ib = b.w2 as unknown as Internals;
  const fast = ia.fast;
  if (fast === undefined) return 'none';
  ib.fast = undefined;
  const before = a.mem.words.slice();
  const same = (x: Uint32Array, y: Uint32Array): boolean => x.length === y.length && Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
  let answer = 0;
  ia.fast = (s, vhi, vlo, access, finalPfec) => {
    answer = fast(s, vhi, vlo, access, finalPfec);
    expect(same(a.mem.words, before)).toBe(true); // nothing written, SLOW or not
    return answer;
  };
  const stopA = a.w2.walkRaw(a.vhi, a.vlo, a.access);
  const stopB = b.w2.walkRaw(b.vhi, b.vlo, b.access);
  const wroteB = !same(b.mem.words, before);
  // An address at or above 8 TiB in any entry the walk read (bits 51:43): the fast walk's frames
  // are int32 (walk-2d-fast.ts, NARROW), so it leaves that walk to the full one. B's record walk
  // reads the same entries and, after the walk above, writes nothing.
  const wideB = stopB === 0 && !wroteB && b.w2.walk(gva(b.va), b.acc).refs.some((x) => (x.value & WIDE_BITS) !== 0n);
  expect({ slow: answer === SLOW, stopB, wroteB, wideB }).toEqual({ slow: stopB !== 0 || wroteB || wideB, stopB, wroteB, wideB });
  expect(same(a.mem.words, b.mem.words)).toBe(true);
  const out = (w: Walk2D, s: WalkScratch, stop: number) => ({
    stop, refs: w.lastRefCount,
    ...(stop === 0 ? { gfn: w.lastGfn, guestGfn: s.guestGfn, level: s.level, maxLevel: s.maxLevel, pkey: s.pkey, pteAccess: s.pteAccess } : { errorCode: w.lastErrorCode }),
  });
  expect(out(a.w2, ia.scratch, stopA)).toEqual(out(b.w2, ib.scratch, stopB));
  if (answer !== SLOW) expect(answer).toBe(a.w2.lastRefCount);
  return wideB ? 'wide' : answer === SLOW ? 'slow' : 'fast';
}

describe('the fast 2D walk agrees with the full 2D walk on random tables', () => {
  for (const tdp of ['ept', 'npt'] as const) {
    it(`${tdp}12: SLOW exactly when the full walk faults or writes or reads an address ≥ 8 TiB; otherwise the same outcome`, () => {
      const seen = { fast: 0, slow: 0, wide: 0, none: 0 };
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 0x7fff_ffff }), (seed) => {
          seen[check({ tdp, seed })]++;
        }),
        { numRuns: 2000, seed: tdp === 'ept' ? 0x2d2d : 0x2d2e },
      );
      expect(seen.fast).toBeGreaterThan(75);
      expect(seen.slow).toBeGreaterThan(75);
      expect(seen.wide).toBeGreaterThan(10);
    });
  }
});

/**
 * Property: walk()'s fast record path (src/nested/walk-2d-fast-traced.ts, the references and L2's
 * trace built during the walk, bigints near the roots kept across walks) makes the record the full
 * walk makes. Walker A as shipped, walker B with both fast paths removed (every walk the hooked
 * `walkTables`), on the random tables above; each case walks its address, then flips a random bit
 * of an entry the last walk read (in both memories: values at kept positions change, walks start
 * or stop faulting) and walks again, four times. Each time: the traced walk answers SLOW exactly
 * when B's walk faults or writes or reads an entry addressing 8 TiB or more (int32 frames, as the
 * fast walk's), and writes nothing either way; the records are equal (values, key order,
 * prototype, inspect text), as are the walkers' last-walk state, L2's per-level trace in the
 * scratch, the ngpa walkers' last walk and the memories.
 */
type TracedInternals = Internals & {
  tracedFast: { walk: (...args: unknown[]) => number; scratch: WalkScratch; parts: unknown } | undefined;
};

function checkTraced(k: Kind): { fast: number; slow: number; wide: number; none: number } {
  const a = build(k);
  const b = build(k);
  const ia = a.w2 as unknown as TracedInternals;
  const ib = b.w2 as unknown as TracedInternals;
  const seen = { fast: 0, slow: 0, wide: 0, none: 0 };
  const traced = ia.tracedFast;
  if (traced === undefined) {
    seen.none++;
    return seen;
  }
  ib.fast = undefined;
  ib.tracedFast = undefined;
  const same = (x: Uint32Array, y: Uint32Array): boolean => x.length === y.length && Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
  let answer = 0;
  let before = a.mem.words.slice();
  const walk = traced.walk;
  traced.walk = (...args: unknown[]) => {
    answer = walk(...args);
    expect(same(a.mem.words, before)).toBe(true); // nothing written, SLOW or not
    return answer;
  };
  const r = a.r;
  for (let round = 0; round < 5; round++) {
    before = a.mem.words.slice();
    answer = -2;
    const got = a.w2.walk(gva(a.va), a.acc);
    const want = b.w2.walk(gva(b.va), b.acc);
    expect(answer).not.toBe(-2); // the traced walk ran
    const wroteB = !same(b.mem.words, before);
    // An address at or above 8 TiB in an entry read: the traced walk's frames are int32 too
    // (walk-2d-fast.ts, NARROW), so it leaves the walk to the full one, as the raw fast walk does.
    const wideB = want.status === 'ok' && !wroteB && want.refs.some((x) => (x.value & WIDE_BITS) !== 0n);
    expect({ slow: answer === SLOW, status: want.status, wroteB, wideB }).toEqual({ slow: want.status !== 'ok' || wroteB || wideB, status: want.status, wroteB, wideB });
    seen[answer === SLOW ? 'slow' : 'fast']++;
    if (wideB) seen.wide++;
    expect(got).toEqual(want);
    expect(Object.keys(got)).toEqual(Object.keys(want));
    expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(want));
    expect(got.refs.map((x) => Object.keys(x))).toEqual(want.refs.map((x) => Object.keys(x)));
    expect(inspect(got, { depth: 6 })).toBe(inspect(want, { depth: 6 }));
    expect([a.w2.lastRefCount, a.w2.lastGfn, a.w2.lastErrorCode]).toEqual([b.w2.lastRefCount, b.w2.lastGfn, b.w2.lastErrorCode]);
    if (got.status === 'ok') {
      const [sa, sb] = [ia.scratch, ib.scratch];
      const lv = (s: WalkScratch) => {
        const o: number[][] = [];
        for (let l = s.maxLevel; l >= s.level; l--) o.push([s.lo[l]!, s.hi[l]!, s.tableGfn[l]!, s.guestTableGfn[l]!, s.index[l]!, s.acc[l]!, s.updated[l]!]);
        return { o, maxLevel: s.maxLevel, level: s.level, pkey: s.pkey, pteAccess: s.pteAccess, gfn: s.gfn, guestGfn: s.guestGfn, traced: s.traced, usedPdptr: s.usedPdptr, noSlot: s.noSlot };
      };
      expect(lv(sa)).toEqual(lv(sb));
    }
    const [na, nb] = [a.w2.nested, b.w2.nested];
    expect([na.lastGfn, na.lastStopReason, na.lastPfec, na.lastErrorCode, na.lastDirtyLogged, na.lastReads]).toEqual([nb.lastGfn, nb.lastStopReason, nb.lastPfec, nb.lastErrorCode, nb.lastDirtyLogged, nb.lastReads]);
    expect(na.lastEntries()).toEqual(nb.lastEntries());
    expect(na.lastRecord(ngpa(0x1234_5000n), 'final')).toEqual(nb.lastRecord(ngpa(0x1234_5000n), 'final'));
    expect(same(a.mem.words, b.mem.words)).toBe(true);
    // A bit of an entry this walk read, in both memories: mostly bits the walk ignores (the
    // value changes, the walk goes on), else any bit.
    if (want.refs.length === 0) break;
    const ref = want.refs[r() % want.refs.length]!;
    const bit = r() % 3 !== 0 ? [9, 10, 11, 52, 53, 54, 55, 56, 57, 58][r() % 10]! : r() % 64;
    for (const m of [a.mem, b.mem]) m.write64(gpa(ref.gpa), m.read64(gpa(ref.gpa)) ^ (1n << BigInt(bit)));
  }
  return seen;
}

describe('the traced 2D record walk agrees with the full 2D walk on random tables', () => {
  for (const tdp of ['ept', 'npt'] as const) {
    it(`${tdp}12: SLOW exactly when the full walk faults or writes or reads an address ≥ 8 TiB; otherwise the same record`, () => {
      const seen = { fast: 0, slow: 0, wide: 0, none: 0 };
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 0x7fff_ffff }), (seed) => {
          const s = checkTraced({ tdp, seed });
          seen.fast += s.fast;
          seen.slow += s.slow;
          seen.wide += s.wide;
          seen.none += s.none;
        }),
        { numRuns: 700, seed: tdp === 'ept' ? 0x2d3d : 0x2d3e },
      );
      expect(seen.fast).toBeGreaterThan(150);
      expect(seen.slow).toBeGreaterThan(150);
      expect(seen.wide).toBeGreaterThan(10);
    });
  }
});
