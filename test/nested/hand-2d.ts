/**
 * A 2D set-up written entry by entry (no table builder), for tests that must control where each
 * table lands in GuestMemory (frames are allocated in first-write order) or change one entry of
 * one nested walk: L2 (4/5-level paging) on an EPT12 or NPT12 (4/5 levels) with one nested table
 * per level at GPA frame NT0 + level (every nGPA the walk translates shares the upper indices), L2's
 * table of level l at nGPA frame LT0 + l (identity-mapped), and GVA → data nGPA frame → data GPA
 * frame. Every entry has A and D set and every right (SDM Vol. 3C §29.3.5; Vol. 3A §4.8), so a
 * walk writes nothing unless a test clears a bit.
 */
import {
  GuestMemory, NgpaWalker, Walk2D, makeEptp, gpa, CR0, CR4, EFER, DEFAULT_EPT_CAPS, DEFAULT_FEATURES,
} from '../../src';
import type { WalkScratch } from '../../src/walker/walk-scratch';
import { l1RegsFor, LM } from './support';

export const NT0 = 0x100;
export const LT0 = 0x200;
/** The default data page: nGPA frame (nested level-1 index 0x1a0) and its L1 frame. */
export const DATA_N = 0x3a0;
export const DATA_G = 0x5a0;
/** Indices 254, 72, 418, 359 at levels 4..1 (and 0 at level 5). */
export const GVA = 0x7f12_3456_7000n;

export type Fast = (s: WalkScratch, vhi: number, vlo: number, access: number, finalPfec: number) => number;
export type Internals = { fast: Fast | undefined; tracedFast: { walk: (...args: unknown[]) => number } | undefined };

/** The index of an address (nGPA or GVA) at a paging level: 9 bits from bit 12 + 9·(level − 1). */
export const index = (addr: bigint, level: number): number => Number((addr >> BigInt(12 + 9 * (level - 1))) & 511n);

export interface Hand2DOptions {
  /** Frames allocated before any table is written (fixes where the tables land). */
  pre?: (mem: GuestMemory) => void;
  dataN?: number;
  dataG?: number;
  /** The nested leaf level of the data page: 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
  dataLevel?: 1 | 2 | 3;
}

export function hand2D(tdp: 'ept' | 'npt', nLevels: 4 | 5, l2Levels: 4 | 5, o: Hand2DOptions = {}) {
  const dataN = o.dataN ?? DATA_N;
  const dataG = o.dataG ?? DATA_G;
  const dataLevel = o.dataLevel ?? 1;
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 4n << 30n });
  o.pre?.(mem);
  const ept = tdp === 'ept';
  // EPT: R W X, A (bit 8), D (bit 9), WB memory type on leaves (bits 5:3 = 6), PS (bit 7) on large
  // leaves; NPT: P RW US A D, PS on large leaves.
  const nEntry = (frame: number, leaf: boolean, large: boolean): bigint =>
    BigInt(frame) * 4096n | (ept ? 0x307n | (leaf ? 0x30n : 0n) : 0x67n) | (large ? 0x80n : 0n);
  /** The GPA of the nested entry of level l that maps nGPA frame ngfn. */
  const nestedEntry = (ngfn: number, l: number): bigint => BigInt((NT0 + l) * 4096 + index(BigInt(ngfn) << 12n, l) * 8);
  const mapNested = (ngfn: number, target: number, leafLevel: number): void => {
    for (let l: number = nLevels; l >= leafLevel; l--) {
      const leaf = l === leafLevel;
      const span = leafLevel === 1 ? 1 : leafLevel === 2 ? 512 : 262144;
      mem.write64(gpa(nestedEntry(ngfn, l)), nEntry(leaf ? target - (target % span) : NT0 + l - 1, leaf, leaf && l > 1));
    }
  };
  for (let l: number = l2Levels; l >= 1; l--) mapNested(LT0 + l, LT0 + l, 1);
  mapNested(dataN, dataG, dataLevel);
  /** The GPA of L2's entry of level l on GVA's path. */
  const l2Entry = (l: number): bigint => BigInt((LT0 + l) * 4096 + index(GVA, l) * 8);
  for (let l: number = l2Levels; l >= 1; l--) mem.write64(gpa(l2Entry(l)), BigInt((l === 1 ? dataN : LT0 + l - 1) * 4096) | 0x67n);
  const nested = ept
    ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: BigInt((NT0 + nLevels) * 4096), level: nLevels, adEnabled: true }), caps: DEFAULT_EPT_CAPS })
    : NgpaWalker.npt(mem, { ncr3: BigInt((NT0 + nLevels) * 4096), l1: l1RegsFor(nLevels), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' } });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: BigInt((LT0 + l2Levels) * 4096), cr4: CR4.PAE | (l2Levels === 5 ? CR4.LA57 : 0n), efer: LM | EFER.NXE };
  const w2 = new Walk2D(nested, { regs, features: { ...DEFAULT_FEATURES, maxPhyAddr: 46 } });
  /** Changes the 64-bit entry at GPA `at`. */
  const edit = (at: bigint, f: (v: bigint) => bigint): void => mem.write64(gpa(at), f(mem.read64(gpa(at))));
  return { mem, w2, internals: w2 as unknown as Internals, nestedEntry, l2Entry, edit, dataN, dataG };
}

/** The same set-up twice: `a` as shipped, `b` with the fast paths removed (every walk the full one). */
export function hand2DPair(tdp: 'ept' | 'npt', nLevels: 4 | 5, l2Levels: 4 | 5, o: Hand2DOptions = {}) {
  const a = hand2D(tdp, nLevels, l2Levels, o);
  const b = hand2D(tdp, nLevels, l2Levels, o);
  b.internals.fast = undefined;
  b.internals.tracedFast = undefined;
  return { a, b };
}

/** Wraps a's fast walk and traced walk so that their last answers can be read. */
export function answers(i: Internals): { fast: number; traced: number } {
  const got = { fast: NaN, traced: NaN };
  const fast = i.fast!;
  i.fast = (...args) => (got.fast = fast(...args));
  const t = i.tracedFast!;
  const walk = t.walk;
  t.walk = (...args) => (got.traced = walk(...args));
  return got;
}
