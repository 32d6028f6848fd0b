/**
 * GuestMemory's GFN → frame index: two flat windows (one load) in front of the complete index
 * (radix below 2^28, Map above). The numbers are the module header's rule: a new window is 1024
 * entries from the GFN rounded down to 1024; a GFN outside both goes into the cheapest window if
 * one doubling does it, else into a window of its own while B is unused, else the cheapest growth;
 * only while both together stay within max(2^16, 64 × frames written) entries. Each test would fail
 * if a window and the complete index disagreed, if the windows outgrew their budget, or if
 * indexBytes left them out.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GuestMemory, gpa } from '../../src';
import { MemoryModel, at } from '../support/memory-model';

const FAR = 2 ** 28; // first GFN kept in the Map (GPA 1 TiB)
/** Write a distinct value into frame `g` and return the frame it landed in. */
function put(m: GuestMemory, g: number): number {
  m.write64(at(g), BigInt(g) + 1n);
  return m.frameOf(g);
}
/** Bytes of the index other than the window: no radix (all GFNs far), `frames` table of 16 entries, one Map entry per frame. */
const farOnly = (framesInMap: number, tableEntries = 16): number => tableEntries * 8 + framesInMap * 29;

describe('GuestMemory index: flat window and complete index', () => {
  it('frames just below and above a window; growth up by doubling; a far jump starts window B', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    const g0 = FAR + 5000; // far: only the Map and the windows hold it, so indexBytes is exact
    expect(put(m, g0)).toBe(0);
    const lo = g0 - (g0 % 1024);
    expect(m.stats().indexBytes).toBe(1024 * 4 + farOnly(1));
    expect(put(m, lo + 1023)).toBe(1); // last entry of window A: no growth
    expect(m.stats().indexBytes).toBe(1024 * 4 + farOnly(2));
    expect(m.frameOf(lo + 1024)).toBe(-1); // just above, not written
    expect(m.frameOf(lo - 1)).toBe(-1); // just below, not written
    expect(put(m, lo + 1024)).toBe(2); // just above: A doubles
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(3));
    expect(put(m, lo + 2048 + 5000)).toBe(3); // A would need two doublings: B starts at lo + 6144
    expect(m.stats().indexBytes).toBe(3072 * 4 + farOnly(4));
    expect(put(m, lo + 7167)).toBe(4); // last entry of B
    expect(put(m, lo + 7168)).toBe(5); // just above B: B doubles (cheaper than A's growth)
    expect(m.stats().indexBytes).toBe((2048 + 2048) * 4 + farOnly(6));
    expect(put(m, lo + 4000)).toBe(6); // between A and B: A doubles up to lo + 4096
    expect(m.stats().indexBytes).toBe((4096 + 2048) * 4 + farOnly(7));
    expect([g0, lo + 1023, lo + 1024, lo + 7048, lo + 7167, lo + 7168, lo + 4000].map((g) => m.frameOf(g))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect([lo + 4096, lo + 6143, lo + 8192, lo + 4001].map((g) => m.frameOf(g))).toEqual([-1, -1, -1, -1]);
    expect(m.read64(at(lo + 1024))).toBe(BigInt(lo + 1024) + 1n);
  });

  it('grows down, leaving the slack below', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    const g0 = FAR + 4096 * 3;
    put(m, g0); // window [g0, g0 + 1024)
    expect(put(m, g0 - 1)).toBe(1); // just below: window [g0 - 1024, g0 + 1024)
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(2));
    expect(put(m, g0 - 1024)).toBe(2); // the slack left below takes it without growing
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(3));
    expect(put(m, g0 + 1023)).toBe(3); // top of the grown window
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(4));
    expect([g0, g0 - 1, g0 - 1024, g0 + 1023, g0 + 1024, g0 - 1025].map((g) => m.frameOf(g))).toEqual([0, 1, 2, 3, -1, -1]);
  });

  it('two clusters get a window each; a third is answered by the complete index', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    const [c1, c2, c3] = [FAR, FAR + 2 ** 30, FAR + 2 ** 31]; // as EPT12's and L2's table pools, and one more
    for (let i = 0; i < 100; i++) {
      put(m, c1 + i);
      put(m, c2 + i);
      put(m, c3 + i);
    }
    expect(m.stats().indexBytes).toBe(2 * 1024 * 4 + farOnly(300, 320));
    for (let i = 0; i < 100; i++) expect([m.frameOf(c1 + i), m.frameOf(c2 + i), m.frameOf(c3 + i)]).toEqual([3 * i, 3 * i + 1, 3 * i + 2]);
    expect([c1 + 100, c2 + 100, c3 + 100, c3 - 1].map((g) => m.frameOf(g))).toEqual([-1, -1, -1, -1]);
  });

  it('a frame no window can take in within the budget is answered by the complete index', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    const g0 = FAR;
    put(m, g0); // A [g0, g0 + 1024)
    expect(put(m, g0 + 2 ** 15)).toBe(1); // B [g0 + 2^15, + 1024)
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(2));
    // B would need 2^16 entries, 63,488 more than the 65,536 − 2,048 left: the Map answers.
    expect(put(m, g0 + 2 ** 16)).toBe(2);
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(3));
    const high = 2 ** 40 - 1; // the highest GFN of MAXPHYADDR 52, and a low one: no window takes them
    expect(put(m, high)).toBe(3);
    expect(put(m, 7)).toBe(4);
    expect(m.stats().indexBytes).toBe(2048 * 4 + farOnly(4) + 16 * 4 + 4096 * 4); // + the radix for GFN 7
    expect([g0, g0 + 2 ** 15, g0 + 2 ** 16, high, 7, 8, high - 1].map((g) => m.frameOf(g))).toEqual([0, 1, 2, 3, 4, -1, -1]);
    expect(m.read64(at(high))).toBe(BigInt(high) + 1n);
  });

  it('the budget grows with the frames written: 64 entries per frame beyond 2^16', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    const table = (): number => (m.stats().slabBytes / 4096) * 8;
    // 1024 frames 64 GFNs apart (far, so the index is the windows, the frames table and the Map): A doubles to 2^16.
    for (let i = 0; i < 1024; i++) put(m, FAR + i * 64);
    expect(m.stats().indexBytes).toBe(2 ** 16 * 4 + table() + 1024 * 29);
    // Frame 1025 just above A: the budget is 64 × 1025 = 65,600 entries, 64 left: not even a window B.
    expect(put(m, FAR + 2 ** 16)).toBe(1024);
    expect(m.stats().indexBytes).toBe(2 ** 16 * 4 + table() + 1025 * 29);
    for (let i = 0; i < 14; i++) put(m, FAR + 1 + i * 64); // inside A
    // Frame 1040: 64 × 1040 − 2^16 = 1024 left: B starts, and takes in frame 1024 from the Map.
    expect(put(m, FAR + 2 ** 16 + 1)).toBe(1039);
    expect(m.stats().indexBytes).toBe((2 ** 16 + 1024) * 4 + table() + 1040 * 29);
    for (let i = 0; i < 1024; i++) expect(m.frameOf(FAR + i * 64)).toBe(i);
    expect([FAR + 2 ** 16, FAR + 2 ** 16 + 1, FAR + 2 ** 16 + 2, FAR + 1 + 13 * 64].map((g) => m.frameOf(g))).toEqual([1024, 1039, -1, 1038]);
  });

  it('one frame written at a high GPA costs a 4 KiB window, not an array up to its GFN', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    put(m, 2 ** 40 - 1);
    expect(m.stats().indexBytes).toBe(1024 * 4 + farOnly(1));
    const n = new GuestMemory({ maxPhyAddr: 40 });
    n.addSlot({ base: gpa(0n), size: 1n << 40n });
    put(n, 2 ** 28 - 1); // the top of the radix: one 16 KiB chunk and a 64 KiB directory
    expect(n.stats().indexBytes).toBe(1024 * 4 + 2 ** 16 * 4 + 4096 * 4 + 16 * 8);
  });

  it('removeSlot clears the window and the complete index alike', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    const a = m.addSlot({ base: at(0x100), size: 0x10_0000n }); // GFNs 0x100..0x1ff, inside the first window
    const b = m.addSlot({ base: at(FAR - 16), size: 0x2_0000n }); // straddles the radix / Map boundary: window B
    for (let g = 0x100; g < 0x200; g += 3) put(m, g);
    for (let g = FAR - 16; g < FAR + 16; g++) put(m, g);
    m.removeSlot(a);
    for (let g = 0x100; g < 0x200; g++) expect(m.frameOf(g)).toBe(-1);
    expect(m.frameOf(FAR - 16)).toBeGreaterThanOrEqual(0);
    m.removeSlot(b);
    for (let g = FAR - 16; g < FAR + 16; g++) expect(m.frameOf(g)).toBe(-1);
    const c = m.addSlot({ base: at(0x100), size: 0x1000n });
    expect(m.read64(at(0x100))).toBe(0n); // a new slot over old frames reads zero
    expect(put(m, 0x100)).toBe(86 + 32);
    expect(c.baseGfn).toBe(0x100);
  });

  it('moveSlot: the window grows while moving, without picking up frames not yet moved', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    const s = m.addSlot({ base: gpa(0n), size: 0x20_000n }); // GFNs 0..31, window [0, 1024)
    for (let g = 0; g < 32; g++) put(m, g);
    // To GFN 2000: the first frame moved grows the window to [0, 2048) while frames 1..31 are still
    // recorded at their old GFNs (already cleared from the complete index).
    const t = m.moveSlot(s, at(2000));
    for (let g = 0; g < 32; g++) {
      expect(m.frameOf(g)).toBe(-1);
      expect(m.frameOf(2000 + g)).toBe(g);
      expect(m.read64(at(2000 + g))).toBe(BigInt(g) + 1n);
    }
    // Overlapping move by 3 frames down, then far up (window B starts there), then back into A.
    const u = m.moveSlot(t, at(1997));
    for (let g = 0; g < 32; g++) expect(m.frameOf(1997 + g)).toBe(g);
    expect(m.frameOf(2029)).toBe(-1);
    const v = m.moveSlot(u, at(2 ** 39));
    for (let g = 0; g < 32; g++) expect([m.frameOf(2 ** 39 + g), m.frameOf(1997 + g)]).toEqual([g, -1]);
    m.moveSlot(v, at(5));
    for (let g = 0; g < 32; g++) expect([m.frameOf(5 + g), m.frameOf(2 ** 39 + g)]).toEqual([g, -1]);
    expect(m.frameOf(4)).toBe(-1);
    expect(m.frameOf(37)).toBe(-1);
  });

  it('matches a Map model under random writes, slot removals, re-adds and moves', () => {
    // Slot homes (base GFN, frames): low RAM, one straddling the radix / Map boundary, one far up.
    const HOMES = [
      [0, 1 << 20],
      [FAR - 3000, 6000],
      [2 ** 36, 1 << 18],
    ] as const;
    const BASES = [0, 1 << 10, (1 << 20) + 77, FAR - 1, FAR + 4096, 2 ** 33, 2 ** 40 - (1 << 20)];
    const op = fc.oneof(
      { weight: 8, arbitrary: fc.record({ k: fc.constant('w' as const), s: fc.nat(2), off: fc.oneof(fc.nat(2100), fc.nat((1 << 20) - 1)) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('rm' as const), s: fc.nat(2) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('add' as const), s: fc.nat(2) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('mv' as const), s: fc.nat(2), b: fc.nat(BASES.length - 1), d: fc.integer({ min: -40, max: 40 }) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), (ops) => {
        const mm = new MemoryModel(HOMES, BASES);
        for (const o of ops) mm.apply(o);
        mm.checkProbes();
      }),
      { seed: 0x13_03, numRuns: 200 },
    );
  });
});
