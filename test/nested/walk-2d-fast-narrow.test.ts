/**
 * The fast 2D walk's limits (src/nested/walk-2d-fast.ts): its frame numbers are int32, so a root
 * at or above 8 TiB leaves no fast walk and an entry addressing 8 TiB or more makes it answer SLOW
 * (the full walk then gives the answer); its nested walk is written out level by level, which
 * decides as `walkTables` only for formats whose level-4/5 masks reserve PS and whose level-1
 * masks are equal (nestedUnrollable) — every format KVM builds, not every hand-made one. Each test
 * would fail if the fast walk took a walk it cannot compute exactly (a wrong frame), or if a
 * format KVM builds lost the fast walk. The record walk's fast path (walk-2d-fast-traced.ts) has the
 * same int32 frames: each case also checks its answer and the record walk's.
 */
import { describe, expect, it } from 'vitest';
import {
  GuestMemory, PageTableBuilder, NgpaWalker, Walk2D, makeEptp, gpa, gva, encodeAccess, CR0, CR4, EFER, DEFAULT_EPT_CAPS, DEFAULT_FEATURES,
} from '../../src';
import { eptFormat } from '../../src/format/ept';
import { x86Format } from '../../src/format/x86-format';
import { makePageFormat, type PageFormat } from '../../src/format/page-format';
import type { RsvdBitsMask } from '../../src/format/rsvd-bits-mask';
import { makeFastWalk2D, nestedUnrollable } from '../../src/nested/walk-2d-fast';
import { SLOW } from '../../src/walker/walk-fast';
import type { WalkInputs } from '../../src/walker/walk';
import type { WalkScratch } from '../../src/walker/walk-scratch';
import { LM } from './support';

const TIB8 = 1n << 43n;
const GVA = 0x7f12_3456_7000n;

type Fast = (s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number;
type Traced = (...args: unknown[]) => number;
type Internals = { fast: Fast | undefined; tracedFast: { walk: Traced } | undefined };

/**
 * The record walk of GVA after a walkRaw that sets every A/D bit: the traced walk's answer
 * (walk-2d-fast-traced.ts, whose frames are int32 as the fast walk's) and the record.
 */
function recordAfterRaw(w2: Walk2D, internals: Internals) {
  expect(w2.walkRaw(vhi, vlo, acc)).toBe(0);
  const traced = internals.tracedFast!;
  const walk = traced.walk;
  let answer = 0;
  traced.walk = (...args) => (answer = walk(...args));
  const r = w2.walk(gva(GVA), { kind: 'write', user: true });
  traced.walk = walk;
  if (r.status !== 'ok') throw new Error(`record walk: ${r.status}`);
  return { answer, gfn: r.gfn, refs: r.refCount, listed: r.refs.length };
}

/**
 * L2 (4-level, MAXPHYADDR 48) on a 4-level EPT12 in a MAXPHYADDR-52 L1 with RAM at [0, 1 GiB)
 * and at [8 TiB − 16 MiB, 8 TiB + 64 MiB): the EPT12 pool at `eptPool`, L2's pool at nGPA = GPA
 * `l2Pool` (identity-mapped), and one data page GVA → `dataN` → `dataG` (an EPT12 page of
 * `dataSize` at `dataG` holds `dataN`).
 */
function setup(eptPool: bigint, l2Pool: bigint, dataN: bigint, dataG: bigint, dataSize: '4K' | '2M' | '1G' = '4K') {
  const mem = new GuestMemory({ maxPhyAddr: 52 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  mem.addSlot({ base: gpa(TIB8 - (16n << 20n)), size: 80n << 20n });
  const ept = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(eptPool), size: 16n << 20n } });
  ept.map(l2Pool, l2Pool, { count: 64 });
  const span = { '4K': 1n << 12n, '2M': 1n << 21n, '1G': 1n << 30n }[dataSize];
  ept.map(dataN - (dataN % span), dataG, { size: dataSize });
  const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(l2Pool), size: 64n * 4096n } });
  l2.map(GVA, dataN, { flags: { writable: true, user: true } });
  const nested = NgpaWalker.ept(mem, { eptp: makeEptp({ root: ept.root, adEnabled: true }), caps: DEFAULT_EPT_CAPS });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: CR4.PAE, efer: LM | EFER.NXE };
  const w2 = new Walk2D(nested, { regs, features: { ...DEFAULT_FEATURES, maxPhyAddr: 48 } });
  return { w2, internals: w2 as unknown as Internals };
}

const acc = encodeAccess({ kind: 'write', user: true });
const vhi = Number(GVA >> 32n);
const vlo = Number(GVA & 0xffff_ffffn);

describe('fast 2D walk: addresses at or above 8 TiB', () => {
  for (const [what, eptPool, l2Pool] of [
    ['the EPT12 root', TIB8, 0x100_0000n],
    ["L2's root (CR3)", 0x100_0000n, TIB8],
  ] as const) {
    it(`${what} at 8 TiB: no fast walk; the full walk and the record walk answer`, () => {
      const { w2, internals } = setup(eptPool, l2Pool, 0x300_0000n, 0x500_0000n);
      expect(internals.fast).toBeUndefined();
      expect(internals.tracedFast).toBeUndefined(); // the record walk's fast path: int32 frames too
      for (let i = 0; i < 2; i++) {
        // The first walk sets A/D; the second reads only.
        expect(w2.walkRaw(vhi, vlo, acc)).toBe(0);
        expect(w2.lastGfn).toBe(0x5000);
        expect(w2.lastRefCount).toBe(24);
      }
      const r = w2.walk(gva(GVA), { kind: 'write', user: true });
      expect(r.status === 'ok' && [r.gfn, r.ngpa, r.refCount]).toEqual([0x5000, 0x300_0000n, 24]);
    });
  }

  // Roots just below 8 TiB take the fast walk (the bound is 2^31 frames, not less).
  it('a root in the last frame below 8 TiB: the fast walk', () => {
    const { w2, internals } = setup(TIB8 - 4096n, 0x100_0000n, 0x300_0000n, 0x500_0000n);
    expect(internals.fast).toBeDefined();
    // The pool's other tables are at 8 TiB and above: the traced walk is made, and gives up on them.
    expect(internals.tracedFast).toBeDefined();
    expect(recordAfterRaw(w2, internals)).toEqual({ answer: SLOW, gfn: 0x5000, refs: 24, listed: 24 });
  });

  for (const [what, dataN, dataG, gfn] of [
    ["L2's data at nGPA 8 TiB", TIB8 + 0x7000n, 0x500_0000n, 0x5000],
    ["L1's data at GPA 8 TiB", 0x300_0000n, TIB8 + 0x9000n, 2 ** 31 + 9],
    ['L1 data in the last frame below 8 TiB', 0x300_0000n, TIB8 - 4096n, 2 ** 31 - 1],
  ] as const) {
    it(`${what}: the fast walk answers ${gfn >= 2 ** 31 || dataN >= TIB8 ? 'SLOW' : 'with the frame'}, walkRaw with the frame`, () => {
      const { w2, internals } = setup(0x100_0000n, 0x200_0000n, dataN, dataG);
      const fast = internals.fast!;
      expect(w2.walkRaw(vhi, vlo, acc)).toBe(0); // sets A/D: the fast walk answers SLOW for that alone
      let answer = 0;
      internals.fast = (...args) => (answer = fast(...args));
      expect(w2.walkRaw(vhi, vlo, acc)).toBe(0);
      expect(answer).toBe(dataN >= TIB8 || gfn >= 2 ** 31 ? SLOW : 24);
      expect([w2.lastGfn, w2.lastRefCount]).toEqual([gfn, 24]);
      const slow = dataN >= TIB8 || gfn >= 2 ** 31;
      expect(recordAfterRaw(w2, internals)).toEqual({ answer: slow ? SLOW : 24, gfn, refs: 24, listed: 24 });
    });
  }
});

describe('fast 2D walk: the first EPT12 entry addressing 8 TiB at each level', () => {
  /** Walks GVA twice (A/D first); the second walk: the fast walk's answer, and walkRaw's. */
  function walkTwice(w2: Walk2D, internals: Internals) {
    const fast = internals.fast!;
    expect(w2.walkRaw(vhi, vlo, acc)).toBe(0);
    let answer = 0;
    internals.fast = (...args) => (answer = fast(...args));
    expect(w2.walkRaw(vhi, vlo, acc)).toBe(0);
    return { answer, gfn: w2.lastGfn, refs: w2.lastRefCount };
  }

  // The EPT12 pool k frames below 8 TiB: the root and the next k − 1 tables below, the rest at or
  // above, so the first entry addressing 8 TiB is at level 5 − k on every nested walk.
  for (const k of [1, 2, 3]) {
    it(`a table at 8 TiB behind a level-${5 - k} entry: SLOW, then the full walk`, () => {
      const { w2, internals } = setup(TIB8 - BigInt(k) * 4096n, 0x100_0000n, 0x300_0000n, 0x500_0000n);
      expect(walkTwice(w2, internals)).toEqual({ answer: SLOW, gfn: 0x5000, refs: 24 });
      expect(recordAfterRaw(w2, internals)).toEqual({ answer: SLOW, gfn: 0x5000, refs: 24, listed: 24 });
    });
  }

  // A table 2^32 frames above its twin (GPA + 16 TiB): its frame number is the twin's modulo 2^32,
  // which is what an int32 frame would read. The twin (the original table) maps the data page
  // elsewhere, so a walk that read it would succeed with another frame.
  const ADDR = 0x000f_ffff_ffff_f000n;
  const LEAF = 0x7n | 0x30n | 0x100n | 0x200n; // RWX, WB, A, D
  for (const [level, path, twinIndex, twinEntry] of [
    [4, [0], 1, 0x4000_0000n | 0x80n | LEAF], // the PDPT moved; its twin maps the data's GiB 1:1
    [3, [0, 1], 0, 0x4000_0000n | 0x80n | LEAF], // the data's PD moved; its twin: a 2 MiB page 1:1
    [2, [0, 1, 0], 5, 0x4000_5000n | LEAF], // the data's PT moved; its twin: the 4 KiB page 1:1
  ] as const) {
    it(`a table at 16 TiB behind a level-${level} entry, its twin 16 TiB below: SLOW, then the full walk`, () => {
      const mem = new GuestMemory({ maxPhyAddr: 52 });
      mem.addSlot({ base: gpa(0n), size: 2n << 30n });
      mem.addSlot({ base: gpa(1n << 44n), size: 64n << 20n });
      const ept = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(0x10_0000n), size: 16n << 20n } });
      ept.map(0x200_0000n, 0x200_0000n, { count: 64 });
      ept.map(0x4000_5000n, 0x500_0000n);
      const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x200_0000n), size: 64n * 4096n } });
      l2.map(GVA, 0x4000_5000n, { flags: { writable: true, user: true } });
      const nested = NgpaWalker.ept(mem, { eptp: makeEptp({ root: ept.root, adEnabled: true }), caps: DEFAULT_EPT_CAPS });
      const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: CR4.PAE, efer: LM | EFER.NXE };
      const w2 = new Walk2D(nested, { regs, features: { ...DEFAULT_FEATURES, maxPhyAddr: 48 } });
      expect(w2.walkRaw(vhi, vlo, acc)).toBe(0); // A/D set everywhere first: the twin's too
      let t = ept.root as bigint;
      for (const i of path.slice(0, -1)) t = mem.read64(gpa(t + BigInt(i) * 8n)) & ADDR;
      const at = t + BigInt(path[path.length - 1]!) * 8n;
      const e = mem.read64(gpa(at));
      const twin = e & ADDR;
      const moved = twin + (1n << 44n);
      for (let o = 0n; o < 4096n; o += 8n) mem.write64(gpa(moved + o), mem.read64(gpa(twin + o)));
      mem.write64(gpa(at), (e & ~ADDR) | moved);
      mem.write64(gpa(twin + BigInt(twinIndex) * 8n), twinEntry);
      expect(walkTwice(w2, w2 as unknown as Internals)).toEqual({ answer: SLOW, gfn: 0x5000, refs: 24 });
      expect(recordAfterRaw(w2, w2 as unknown as Internals)).toEqual({ answer: SLOW, gfn: 0x5000, refs: 24, listed: 24 });
    });
  }

  for (const [size, dataN, level] of [['2M', 0x400_0000n, 2], ['1G', 0x4000_0000n, 3]] as const) {
    it(`a ${size} EPT12 page at 8 TiB (leaf at level ${level}): SLOW, then the full walk`, () => {
      const { w2, internals } = setup(0x100_0000n, 0x200_0000n, dataN + 0x5000n, TIB8, size);
      // Refs: 4 × (4 nested + 1 guest) for L2's tables, then the final nested walk down to its leaf.
      expect(walkTwice(w2, internals)).toEqual({ answer: SLOW, gfn: 2 ** 31 + 5, refs: 20 + (5 - level) });
      expect(recordAfterRaw(w2, internals)).toEqual({ answer: SLOW, gfn: 2 ** 31 + 5, refs: 20 + (5 - level), listed: 20 + (5 - level) });
      const below = setup(0x100_0000n, 0x200_0000n, dataN + 0x5000n, TIB8 - (size === '2M' ? 2n << 20n : 1n << 30n), size);
      const r = walkTwice(below.w2, below.internals);
      expect(r.answer).toBe(r.refs);
      expect(r.gfn).toBe(2 ** 31 - (size === '2M' ? 512 : 262144) + 5);
      expect(recordAfterRaw(below.w2, below.internals)).toEqual({ answer: r.refs, gfn: r.gfn, refs: r.refs, listed: r.refs });
    });
  }
});

describe('nestedUnrollable: the nested walk level by level decides as walkTables', () => {
  it('holds for every EPT and 4/5-level x86 format KVM builds', () => {
    let n = 0;
    for (const level of [4, 5]) {
      for (const maxPhyAddr of [32, 39, 46, 52]) {
        for (const hugePageLevel of [1, 2, 3]) {
          for (const execonly of [false, true]) {
            for (const [kvm, mbec] of [['6.16', false], ['7.3', false], ['7.3', true]] as const) {
              expect(nestedUnrollable(eptFormat({ level, maxPhyAddr, adEnabled: true, execonly, hugePageLevel, kvm, mbec }))).toBe(true);
              n++;
            }
          }
        }
        for (const nx of [false, true]) {
          for (const gbpages of [false, true]) {
            for (const amd of [false, true]) {
              const p = { maxPhyAddr, nx, gbpages, pse: true, amd, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };
              expect(nestedUnrollable(x86Format(level === 4 ? 'paging4' : 'paging5', `${level}-level`, level, p))).toBe(true);
              n++;
            }
          }
        }
      }
    }
    expect(n).toBe(2 * 4 * (18 + 8));
  });

  /** The 5-level EPT format with one rsvd_bits_mask entry changed. */
  function handMade(large: 0 | 1, levelIndex: number, change: (m: bigint) => bigint, rootLevel = 5): PageFormat {
    const f = eptFormat({ level: 5, maxPhyAddr: 46, adEnabled: true, execonly: false, hugePageLevel: 3 });
    const m = f.rsvdBitsMask.map((row) => [...row]) as bigint[][];
    m[large]![levelIndex] = change(m[large]![levelIndex]!);
    return makePageFormat({
      name: 'hand-made', kvm: f.kvm, mbec: f.mbec, module: f.module, ptType: f.ptType, rootLevel, hasAd: f.hasAd, pse: f.pse,
      params: {}, rsvdBitsMask: m as unknown as RsvdBitsMask, badMtXwr: f.badMtXwr, permissions: f.permissions, pkruMask: f.pkruMask,
    });
  }

  it('fails for a hand-made format whose level-4/5 masks leave PS free or whose level-1 masks differ; no fast walk then', () => {
    const noPs = (m: bigint): bigint => m & ~0x80n;
    expect(nestedUnrollable(handMade(0, 0, (m) => m))).toBe(true);
    expect(nestedUnrollable(handMade(1, 3, noPs))).toBe(false);
    expect(nestedUnrollable(handMade(1, 4, noPs))).toBe(false);
    expect(nestedUnrollable(handMade(1, 4, noPs, 4))).toBe(true); // level 5 not walked
    expect(nestedUnrollable(handMade(0, 3, noPs))).toBe(false);
    expect(nestedUnrollable(handMade(0, 4, noPs))).toBe(false);
    expect(nestedUnrollable(handMade(0, 4, noPs, 4))).toBe(true);
    expect(nestedUnrollable(handMade(1, 0, (m) => m | 0x100n))).toBe(false);
    expect(nestedUnrollable(handMade(1, 0, (m) => m | (1n << 40n)))).toBe(false);
    expect(nestedUnrollable(handMade(0, 0, (m) => m | (1n << 40n)))).toBe(false);
    expect(nestedUnrollable(handMade(0, 1, (m) => m | 0x100n))).toBe(true);
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    const l2: WalkInputs = { mem, format: x86Format('paging4', '4-level', 4, { maxPhyAddr: 46, nx: true, gbpages: true, pse: true, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false }), rootGfn: 1, pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: true };
    const nested = (format: PageFormat): WalkInputs => ({ mem, format, rootGfn: 2, pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: false });
    expect(makeFastWalk2D(l2, nested(handMade(0, 0, (m) => m)), 6)).toBeDefined();
    expect(makeFastWalk2D(l2, nested(handMade(1, 3, noPs)), 6)).toBeUndefined();
  });
});
