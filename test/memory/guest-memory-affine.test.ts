/**
 * GuestMemory's affine run (guest-memory.ts: affLo/affEnd/affDelta): the longest run of frames
 * allocated one after another for consecutive GFNs, which the serial walkers (walk-fast.ts,
 * nested/walk-2d-fast.ts) answer by an add. Each test would fail if the run claimed a GFN whose
 * frame in the complete index is not GFN + delta (including after removeSlot and moveSlot), or if
 * frameOf disagreed with a Map model of every write.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GuestMemory, gpa } from '../../src';
import { MemoryModel, at } from '../support/memory-model';

const FAR = 2 ** 28; // first GFN kept in the Map
const run = (m: GuestMemory): [number, number, number] => [m.affineLo, m.affineEnd, m.affineDelta];
const run2 = (m: GuestMemory): [number, number, number] => [m.affine2Lo, m.affine2End, m.affine2Delta];
/** The int32 test x86HotWalk4 makes for a GFN below 2^32 (GuestMemory.affineLo32), and the frame it then takes. */
const in32 = (m: GuestMemory, g: number): boolean => ((((g | 0) - m.affineLo32) | 0) ^ -0x8000_0000) < m.affineSpan32;
const frame32 = (m: GuestMemory, g: number): number => ((g | 0) + m.affineDelta32) | 0;
/** affineLo32/Span32/Delta32 agree with the run for GFNs below 2^32: the run's GFNs when it ends at or below 2^32, none otherwise. */
function check32(m: GuestMemory, probes: number[]): void {
  const [lo, end, d] = run(m);
  for (const g of probes) {
    if (g < 0 || g >= 2 ** 32) continue;
    const inRun = g >= lo && g < end && end <= 2 ** 32;
    expect([g, in32(m, g)]).toEqual([g, inRun]);
    if (inRun) expect(frame32(m, g)).toBe(g + d);
  }
}

describe('GuestMemory affine run', () => {
  it('a pool written in GFN order is one run; frame = GFN + delta inside it, the complete index outside', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    expect(run(m)).toEqual([0, 0, 0]);
    expect(m.frameOf(0)).toBe(-1); // the empty run [0, 0) holds nothing
    m.frameForWrite(7); // frame 0
    for (let g = 100; g < 140; g++) m.frameForWrite(g); // frames 1..40
    expect(run(m)).toEqual([100, 140, -99]);
    expect([m.frameOf(99), m.frameOf(100), m.frameOf(139), m.frameOf(140), m.frameOf(7)]).toEqual([-1, 1, 40, -1, 0]);
    // A write elsewhere ends the run's growth; the next pool frame starts a new, shorter run.
    m.frameForWrite(5000); // frame 41
    m.frameForWrite(140); // frame 42: GFN 140 continues the GFNs, not the frames
    expect(run(m)).toEqual([100, 140, -99]);
    expect(m.frameOf(140)).toBe(42);
    // A later run that grows longer takes over.
    for (let g = FAR; g < FAR + 41; g++) m.frameForWrite(g); // frames 43..83
    expect(run(m)).toEqual([FAR, FAR + 41, 43 - FAR]);
    expect([m.frameOf(FAR - 1), m.frameOf(FAR), m.frameOf(FAR + 40), m.frameOf(FAR + 41), m.frameOf(120)]).toEqual([-1, 43, 83, -1, 21]);
    // Rewriting a frame of the run allocates nothing and keeps it.
    m.write64(at(FAR + 3), 5n);
    expect(run(m)).toEqual([FAR, FAR + 41, 43 - FAR]);
  });

  it('the second run: the longest other run; it takes over when it grows longer than the first', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    expect(run2(m)).toEqual([0, 0, 0]);
    for (let g = 100; g < 140; g++) m.frameForWrite(g); // frames 0..39
    expect([run(m), run2(m)]).toEqual([[100, 140, -100], [0, 0, 0]]);
    for (let g = FAR; g < FAR + 30; g++) m.frameForWrite(g); // frames 40..69
    expect([run(m), run2(m)]).toEqual([[100, 140, -100], [FAR, FAR + 30, 40 - FAR]]);
    expect([m.frameOf(FAR - 1), m.frameOf(FAR), m.frameOf(FAR + 29), m.frameOf(FAR + 30)]).toEqual([-1, 40, 69, -1]);
    // The second run grows: it is still the second until longer than the first, then they swap.
    for (let g = FAR + 30; g < FAR + 40; g++) m.frameForWrite(g); // frames 70..79
    expect([run(m), run2(m)]).toEqual([[100, 140, -100], [FAR, FAR + 40, 40 - FAR]]);
    m.frameForWrite(FAR + 40); // frame 80
    expect([run(m), run2(m)]).toEqual([[FAR, FAR + 41, 40 - FAR], [100, 140, -100]]);
    // A shorter run changes neither; one longer than the second replaces it.
    for (let g = 5000; g < 5020; g++) m.frameForWrite(g); // frames 81..100
    expect([run(m), run2(m)]).toEqual([[FAR, FAR + 41, 40 - FAR], [100, 140, -100]]);
    for (let g = 5020; g < 5041; g++) m.frameForWrite(g); // frames 101..121: 41 frames
    expect([run(m), run2(m)]).toEqual([[FAR, FAR + 41, 40 - FAR], [5000, 5041, -4919]]);
    // A new run longer than the first: the first becomes the second.
    for (let g = 9000; g < 9042; g++) m.frameForWrite(g); // frames 122..163
    expect([run(m), run2(m)]).toEqual([[9000, 9042, -8878], [FAR, FAR + 41, 40 - FAR]]);
  });

  it('removeSlot drops the removed part of the run, keeping the longest live part', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    const a = m.addSlot({ base: gpa(0n), size: 30n << 12n }); // GFNs 0..29
    m.addSlot({ base: at(30), size: 100n << 12n }); // GFNs 30..129
    for (let g = 10; g < 60; g++) m.frameForWrite(g); // frames 0..49: one run across both slots
    expect(run(m)).toEqual([10, 60, -10]);
    m.removeSlot(a);
    expect(run(m)).toEqual([30, 60, -10]);
    for (let g = 0; g < 30; g++) expect(m.frameOf(g)).toBe(-1);
    expect(m.frameOf(30)).toBe(20);
    // The next frame, 50 for GFN 60, continues the run (GFN − 10).
    m.frameForWrite(60);
    expect(run(m)).toEqual([30, 61, -10]);
  });

  it('a frame dropped between two runs ends the first: the next frame does not continue it', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 100n << 12n });
    const y = m.addSlot({ base: at(500), size: 10n << 12n });
    for (let g = 10; g < 20; g++) m.frameForWrite(g); // frames 0..9
    m.frameForWrite(500); // frame 10
    m.frameForWrite(20); // frame 11: GFN 20 after GFN 19, but frame 11 after frame 9 + a gap
    m.removeSlot(y); // frame 10 dropped: the runs are rebuilt
    expect(run(m)).toEqual([10, 20, -10]);
    expect([m.frameOf(19), m.frameOf(20), m.frameOf(21)]).toEqual([9, 11, -1]);
    m.frameForWrite(21); // frame 12 continues the run that frame 11 started (GFN 20 → 11)
    expect(run(m)).toEqual([10, 20, -10]);
    expect([m.frameOf(20), m.frameOf(21)]).toEqual([11, 12]);
  });

  it('moveSlot moves the run with the frames; a run split by the slot edge keeps its longest part', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    const s = m.addSlot({ base: at(1000), size: 64n << 12n }); // GFNs 1000..1063
    for (let g = 1000; g < 1064; g++) m.frameForWrite(g);
    const t = m.moveSlot(s, at(2 ** 39));
    expect(run(m)).toEqual([2 ** 39, 2 ** 39 + 64, -(2 ** 39)]);
    for (let g = 990; g < 1070; g++) expect(m.frameOf(g)).toBe(-1);
    expect(m.frameOf(2 ** 39 + 63)).toBe(63);
    // Overlapping move down by 5: still one run.
    m.moveSlot(t, at(2 ** 39 - 5));
    expect(run(m)).toEqual([2 ** 39 - 5, 2 ** 39 + 59, -(2 ** 39) + 5]);
    expect(m.frameOf(2 ** 39 + 59)).toBe(-1);
    // Frames written in two slots, the second moved away: the run is what stays consecutive.
    const n = new GuestMemory({ maxPhyAddr: 52 });
    n.addSlot({ base: gpa(0n), size: 20n << 12n });
    const hi = n.addSlot({ base: at(20), size: 20n << 12n });
    for (let g = 5; g < 35; g++) n.frameForWrite(g); // frames 0..29, GFNs 5..34
    n.moveSlot(hi, at(100)); // GFNs 20..34 → 100..114: frames 15..29 stay consecutive there
    expect(run(n)).toEqual([5, 20, -5]); // 15 frames each: the first found stays
    expect([n.frameOf(19), n.frameOf(20), n.frameOf(100), n.frameOf(114), n.frameOf(115)]).toEqual([14, -1, 15, 29, -1]);
  });

  it('the int32 form (affineLo32, affineSpan32, affineDelta32): exact below 2^32, empty for a run reaching above it', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 52n });
    expect([m.affineLo32, m.affineSpan32, m.affineDelta32]).toEqual([0, -0x8000_0000, 0]); // empty
    m.frameForWrite(7); // frame 0
    for (let g = 2 ** 32 - 40; g < 2 ** 32; g++) m.frameForWrite(g); // frames 1..40: the run ends at 2^32
    expect(run(m)).toEqual([2 ** 32 - 40, 2 ** 32, 41 - 2 ** 32]);
    check32(m, [0, 7, 2 ** 31, 2 ** 32 - 41, 2 ** 32 - 40, 2 ** 32 - 1, 40, 41]);
    expect(frame32(m, 2 ** 32 - 1)).toBe(40);
    m.frameForWrite(2 ** 32); // frame 41 continues it across 2^32: no GFN below 2^32 is taken
    expect(run(m)).toEqual([2 ** 32 - 40, 2 ** 32 + 1, 41 - 2 ** 32]);
    check32(m, [2 ** 32 - 40, 2 ** 32 - 1, 0, 1]);
    expect(in32(m, 2 ** 32 - 1)).toBe(false);
    // A longer run above 2^32 takes over: still none below.
    for (let g = 2 ** 33; g < 2 ** 33 + 50; g++) m.frameForWrite(g);
    expect(run(m)[0]).toBe(2 ** 33);
    check32(m, [0, 1, 2, 42, 43, 2 ** 32 - 1]);
    // A longer one low: its GFNs, with a frame delta that is not 0.
    for (let g = 300; g < 400; g++) m.frameForWrite(g);
    expect(run(m)).toEqual([300, 400, 92 - 300]);
    check32(m, [299, 300, 399, 400, 2 ** 32 + 300, 2 ** 31 + 300]);
  });

  it('the run is always consistent with a Map model under random runs of writes, removals, re-adds and moves', () => {
    const HOMES = [
      [0, 1 << 16],
      [FAR - 300, 600],
      [2 ** 36, 1 << 12],
    ] as const;
    const BASES = [0, 1 << 10, (1 << 16) + 77, FAR - 1, FAR + 4096, 2 ** 33, 2 ** 40 - (1 << 16)];
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ k: fc.constant('w' as const), s: fc.nat(2), off: fc.nat(700), len: fc.integer({ min: 1, max: 40 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('rm' as const), s: fc.nat(2) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('add' as const), s: fc.nat(2) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('mv' as const), s: fc.nat(2), b: fc.nat(BASES.length - 1), d: fc.integer({ min: -40, max: 40 }) }) },
    );
    let longRuns = 0;
    let longRuns2 = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const mm = new MemoryModel(HOMES, BASES);
        const m = mm.m;
        const checkRun = (): void => {
          for (const [lo, end, d] of [run(m), run2(m)]) {
            expect(end).toBeGreaterThanOrEqual(lo);
            for (let g = lo; g < end; g++) expect(mm.model.get(g)).toBe(g + d);
            for (const p of [lo - 1, lo, end - 1, end]) if (p >= 0 && p < 2 ** 40) expect(m.frameOf(p)).toBe(mm.model.get(p) ?? -1);
          }
          // The int32 form, at the run's edges and at random GFNs below 2^32.
          const [l0, e0] = run(m);
          check32(m, [l0 - 1, l0, l0 + 1, e0 - 1, e0, e0 + 1, ...[...mm.model.keys()].slice(0, 20), 2 ** 32 - 1]);
          // The second run is another run, no longer than the first.
          const [lo, end] = run(m);
          const [lo2, end2] = run2(m);
          expect(end2 - lo2).toBeLessThanOrEqual(end - lo);
          if (end2 > lo2) expect(end2 <= lo || lo2 >= end).toBe(true);
        };
        for (const o of ops) {
          mm.apply(o);
          checkRun();
        }
        if (m.affineEnd - m.affineLo >= 8) longRuns++;
        if (m.affine2End - m.affine2Lo >= 8) longRuns2++;
        mm.checkProbes();
      }),
      { seed: 0x13_a1, numRuns: 150 },
    );
    expect(longRuns).toBeGreaterThan(50); // the run is exercised, not just empty
    expect(longRuns2).toBeGreaterThan(20);
  });
});
