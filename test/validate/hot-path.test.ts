/**
 * Bad input to the hot-path number APIs (issue 12 item 1): GuestMemory.frameOf / slabOf / wordBase
 * / frameForWrite, the walkers' raw walks (GvaWalker.walkRaw / walkRawStaged, NgpaWalker.walkRaw /
 * translateFrame / peekFrame, Walk2D.walkRaw) and the exported walkTables. Each refuses with the
 * library's error naming the argument and value, and leaves memory and the walker as they were.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GuestMemory, GvaWalker, PageTableBuilder, WalkScratch, walkTables, encodeAccess, gpa, CR0, CR4, EFER, DEFAULT_FEATURES, PFERR,
  type WalkInputs,
} from '../../src';
import { FC, Tally, badInt, memFingerprint, refused } from './support';
import { GVA, twoDSetup } from '../nested/support';

const t = new Tally('hot-path');

const VA = 0x7f00_0000_0000n;
const HI = Number(VA >> 32n);

function guest() {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x100_0000n), size: 0x10_0000n } });
  b.map(VA, gpa(0x200_0000n), { count: 4, flags: { writable: true, user: true } });
  const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE }, DEFAULT_FEATURES);
  w.walkRaw(HI, 0, encodeAccess({ kind: 'read', user: true })); // a known last walk
  const state = () => memFingerprint(mem) + `|${w.lastGfn}|${w.lastErrorCode}`;
  return { mem, b, w, state };
}

/** A bad 32-bit half: not an integer, out of range, another type. */
const badHi = badInt(0, 2 ** 32 - 1);
const badLo = badInt(-(2 ** 31), 2 ** 32 - 1);
/** An access that is no bitmask of the known access bits (bits 7-14, 18-31 are none). */
const badAccess = fc.oneof(badInt(0, 0x3_807f), fc.constantFrom(0x80, 0x100, 0x4000, 1 << 18, 1 << 20, 2 ** 31, 0xffff_ffff));

describe('hot-path number APIs refuse bad input and change nothing', () => {
  it('GuestMemory.frameOf / frameForWrite: a GFN is an integer in [0, 2^40)', () => {
    const { mem, state } = guest();
    const bad = fc.oneof(badInt(0, 2 ** 40 - 1), fc.constant(-1), fc.constant(undefined));
    fc.assert(fc.property(bad, (v) => {
      refused(t, () => mem.frameOf(v as number), { param: 'gfn', value: v, state });
      refused(t, () => mem.frameForWrite(v as number), { param: 'gfn', value: v, state });
    }), FC);
    // A valid GFN never written reads as no frame; a written one is found.
    expect(mem.frameOf(0x3000)).toBe(-1);
    expect(mem.frameOf(0x1000)).toBeGreaterThanOrEqual(0);
  });

  it('GuestMemory.slabOf / wordBase: a frame index of this memory', () => {
    const { mem, state } = guest();
    const n = mem.stats().framesAllocated;
    fc.assert(fc.property(fc.oneof(badInt(0, n - 1), fc.constant(-1)), (v) => refused(t, () => mem.slabOf(v as number), { param: 'frame', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 2 ** 32 - 1), (v) => refused(t, () => GuestMemory.wordBase(v as number), { param: 'frame', value: v, state })), FC);
  });

  it('GvaWalker.walkRaw and walkRawStaged: halves, access, stage', () => {
    const { w, state } = guest();
    const acc = encodeAccess({ kind: 'write', user: true });
    const stage = (g: number) => g;
    fc.assert(fc.property(badHi, (v) => {
      refused(t, () => w.walkRaw(v as number, 0, acc), { param: 'vhi', value: v, state });
      refused(t, () => w.walkRawStaged(v as number, 0, acc, stage), { param: 'vhi', value: v, state });
    }), FC);
    fc.assert(fc.property(badLo, (v) => {
      refused(t, () => w.walkRaw(HI, v as number, acc), { param: 'vlo', value: v, state });
      refused(t, () => w.walkRawStaged(HI, v as number, acc, stage), { param: 'vlo', value: v, state });
    }), FC);
    fc.assert(fc.property(badAccess, (v) => {
      refused(t, () => w.walkRaw(HI, 0, v as number), { param: 'access', value: v, state });
      refused(t, () => w.walkRawStaged(HI, 0, v as number, stage), { param: 'access', value: v, state });
    }), FC);
    for (const v of [null, 5, 'f', {}]) refused(t, () => w.walkRawStaged(HI, 0, acc, v as never), { param: 'stage', value: v, state });
    refused(t, () => w.walkRawStaged(HI, 0, acc, stage, 7 as never), { param: 'adWrite', value: 7, state });
    // Signed and unsigned low halves are one address.
    expect(w.walkRaw(HI, -0x8000_0000 + 0x1000, acc)).toBe(w.walkRaw(HI, 0x8000_1000, acc));
  });

  it('NgpaWalker.walkRaw / translateFrame / peekFrame and Walk2D.walkRaw', () => {
    const s = twoDSetup('paging4', 'ept4');
    const n = s.w;
    const state = () => memFingerprint(s.mem) + `|${n.lastGfn}|${s.w2.lastGfn}|${s.w2.lastErrorCode}`;
    const gh = Number(GVA >> 32n);
    fc.assert(fc.property(badHi, (v) => {
      refused(t, () => n.walkRaw(v as number, 0, PFERR.WRITE), { param: 'nhi', value: v, state });
      refused(t, () => s.w2.walkRaw(v as number, 0, PFERR.WRITE), { param: 'vhi', value: v, state });
    }), FC);
    fc.assert(fc.property(badLo, (v) => {
      refused(t, () => n.walkRaw(0, v as number, PFERR.WRITE), { param: 'nlo', value: v, state });
      refused(t, () => s.w2.walkRaw(gh, v as number, PFERR.WRITE), { param: 'vlo', value: v, state });
    }), FC);
    fc.assert(fc.property(badAccess, (v) => {
      refused(t, () => n.walkRaw(0, 0, v as number), { param: 'pfec', value: v, state });
      refused(t, () => n.translateFrame(0x100, v as number), { param: 'pfec', value: v, state });
      refused(t, () => n.peekFrame(0x100, v as number), { param: 'pfec', value: v, state });
      refused(t, () => s.w2.walkRaw(gh, 0, v as number), { param: 'access', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 2 ** 40 - 1), fc.constant(-1)), (v) => {
      refused(t, () => n.translateFrame(v as number, PFERR.WRITE), { param: 'ngfn', value: v, state });
      refused(t, () => n.peekFrame(v as number, PFERR.WRITE), { param: 'ngfn', value: v, state });
    }), FC);
  });

  it('walkTables (exported): inputs, scratch and numbers', () => {
    const { mem, b, state } = guest();
    const g = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE }, DEFAULT_FEATURES);
    const inputs: WalkInputs = { mem, format: g.format!, rootGfn: Number(b.root >> 12n), pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: true };
    const sc = new WalkScratch();
    expect(walkTables(inputs, sc, HI, 0, PFERR.USER)).toBe(0);
    const field = <K extends keyof WalkInputs>(k: K, v: unknown, param: string) => refused(t, () => walkTables({ ...inputs, [k]: v }, sc, HI, 0, PFERR.USER), { param, value: v, state });
    fc.assert(fc.property(badInt(0, 2 ** 40 - 1), (v) => field('rootGfn', v, 'inputs.rootGfn')), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => field('pkru', v, 'inputs.pkru')), FC);
    for (const v of [null, 1, 'yes']) field('fetchSetsId', v, 'inputs.fetchSetsId');
    for (const v of [null, {}, 'mem']) field('mem', v, 'inputs.mem');
    for (const v of [null, {}, 'ept']) field('format', v, 'inputs.format');
    for (const v of [[1, 2], new Uint32Array(4)]) field('pdptrs', v, 'inputs.pdptrs');
    for (const v of [null, 5, {}]) refused(t, () => walkTables(inputs, v as never, HI, 0, PFERR.USER), { param: 'scratch', state });
    for (const v of [null, 5]) refused(t, () => walkTables(v as never, sc, HI, 0, PFERR.USER), { param: 'inputs', value: v, state });
    fc.assert(fc.property(badHi, badAccess, (h, a) => {
      refused(t, () => walkTables(inputs, sc, h as number, 0, PFERR.USER), { param: 'vhi', value: h, state });
      refused(t, () => walkTables(inputs, sc, HI, 0, a as number), { param: 'access', value: a, state });
    }), FC);
  });
});
