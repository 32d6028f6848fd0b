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

  it('GvaWalker.walkRawBatch: typed arrays of the right class and length, no shared output bytes, access', () => {
    const { w, state } = guest();
    const acc = encodeAccess({ kind: 'write', user: true });
    const his = new Uint32Array([HI, HI]);
    const los = new Uint32Array([0, 0x1000]);
    const gfns = new Float64Array(2);
    const stops = new Uint8Array(2);
    const notArrays = [undefined, null, 5, 'x', [HI, HI], {}];
    for (const v of [...notArrays, new Int32Array(2), new Float64Array(2), new Uint8Array(2)]) {
      refused(t, () => w.walkRawBatch(v as never, los, acc, gfns, stops), { param: 'his', value: v, state });
      refused(t, () => w.walkRawBatch(his, v as never, acc, gfns, stops), { param: 'los', value: v, state });
    }
    for (const v of [...notArrays, new Uint32Array(2), new Float32Array(2)]) refused(t, () => w.walkRawBatch(his, los, acc, v as never, stops), { param: 'outGfn', value: v, state });
    for (const v of [...notArrays, new Uint8ClampedArray(2), new Uint32Array(2)]) refused(t, () => w.walkRawBatch(his, los, acc, gfns, v as never), { param: 'outStop', value: v, state });
    // Lengths: los as long as his, outputs at least as long.
    refused(t, () => w.walkRawBatch(his, new Uint32Array(1), acc, gfns, stops), { param: 'los', state });
    refused(t, () => w.walkRawBatch(his, new Uint32Array(3), acc, gfns, stops), { param: 'los', state });
    refused(t, () => w.walkRawBatch(his, los, acc, new Float64Array(1), stops), { param: 'outGfn', state });
    refused(t, () => w.walkRawBatch(his, los, acc, gfns, new Uint8Array(1)), { param: 'outStop', state });
    // Outputs sharing bytes with the inputs or each other.
    const buf = new ArrayBuffer(64);
    const hisB = new Uint32Array(buf, 0, 2);
    hisB.set(his);
    refused(t, () => w.walkRawBatch(hisB, los, acc, new Float64Array(buf, 0, 2), stops), { param: 'outGfn', state });
    refused(t, () => w.walkRawBatch(hisB, los, acc, gfns, new Uint8Array(buf, 4, 2)), { param: 'outStop', state });
    refused(t, () => w.walkRawBatch(his, los, acc, new Float64Array(buf, 16, 2), new Uint8Array(buf, 24, 2)), { param: 'outStop', state });
    fc.assert(fc.property(badAccess, (v) => refused(t, () => w.walkRawBatch(his, los, v as number, gfns, stops), { param: 'access', value: v, state })), FC);
    // Disjoint parts of one buffer are fine; the batch walks as walkRaw does.
    w.walkRawBatch(hisB, los, acc, new Float64Array(buf, 16, 2), new Uint8Array(buf, 40, 2));
    w.walkRawBatch(his, los, acc, gfns, stops);
    expect([...stops]).toEqual([w.walkRaw(HI, 0, acc), w.walkRaw(HI, 0x1000, acc)]);
    expect(gfns[1]).toBe(w.lastGfn);
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
    for (const k of ['pdpteRsvdFault', 'pdptesFromMemory', 'pdptesUnstaged'] as const) for (const v of [null, 1, 'yes']) field(k, v, `inputs.${k}`);
    // A PDPTE read from memory is stored into pdptrs: without them the flag is refused.
    refused(t, () => walkTables({ ...inputs, pdptesFromMemory: true }, sc, HI, 0, PFERR.USER), { param: 'inputs.pdptrs', state });
    for (const v of [null, 5, {}]) refused(t, () => walkTables(inputs, v as never, HI, 0, PFERR.USER), { param: 'scratch', state });
    for (const v of [null, 5]) refused(t, () => walkTables(v as never, sc, HI, 0, PFERR.USER), { param: 'inputs', value: v, state });
    fc.assert(fc.property(badHi, badAccess, (h, a) => {
      refused(t, () => walkTables(inputs, sc, h as number, 0, PFERR.USER), { param: 'vhi', value: h, state });
      refused(t, () => walkTables(inputs, sc, HI, 0, a as number), { param: 'access', value: a, state });
    }), FC);
  });
});
