/**
 * walk-batch-hot.ts: walkRawBatch's loop for the hot walk's inputs. On a guest whose tables lie in
 * the memory's affine run (PageTableBuilder's pool), with 4 KiB pages that only need reads, 2 MiB
 * pages (one of them onto the tables themselves), pages whose leaf has A clear, writable pages with
 * D clear, supervisor pages, NX pages, leaves with a reserved bit and holes:
 *  - the loop finishes every walk up to the first one that walkRaw, on a twin guest, answers with
 *    a fault, answers by writing memory (A or D set), or answers through a 2 MiB leaf — and stops
 *    exactly there; the GFNs it wrote are walkRaw's;
 *  - a batch of read-only 4 KiB walks runs through to its end (the loop, not the walk-by-walk path);
 *  - walkRawBatch as a whole equals walkRaw one by one: stops, GFNs, memory, lastGfn and the last record.
 * The expected stop comes from walkRaw's outcome and the memory it leaves, not from the loop.
 */
import { describe, expect, it } from 'vitest';
import { encodeAccess, GuestMemory, GvaWalker, CR0, CR4, EFER, gpa, DEFAULT_FEATURES, type Access } from '../../src';
import type { PagingRegisters } from '../../src/cpu/registers';
import { hotBatchTakes, hotWalkTakes } from '../../src/walker/walk-fast';
import { makeHotBatchWalk } from '../../src/walker/walk-batch-hot';
import { LANES } from '../../src/walker/walk-batch-lanes';
import type { WalkInputs } from '../../src/walker/walk';
import { WalkStop } from '../../src/walker/walk-scratch';
import { memFingerprint } from '../validate/support';
import { walkTables } from '../../src/walker/walk';
import { WalkScratch } from '../../src/walker/walk-scratch';
import { PLACEMENTS, hotCase } from './hot-cases';
import { guest, addresses, REGIONS, REGIONS5 } from './hot-batch-guest';

const ACCESSES: Access[] = [{ kind: 'read', user: true }, { kind: 'write', user: true }, { kind: 'fetch', user: true }, { kind: 'write' }, { kind: 'read', ac: true }];

describe('walk-batch-hot: the inputs the loop takes', () => {
  // The loop's preconditions (walk-fast.ts: hotBatchTakes): no second stage, 4- or 5-level paging
  // (8-byte entries), the root below GFN 2^32, no protection key that can fault. x86HotWalk4
  // (hotWalkTakes) takes the same with 4-level paging only.
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  const inputs = (regs: Partial<PagingRegisters>): WalkInputs => {
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0x1000n, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE, pkru: 0, ...regs }, DEFAULT_FEATURES);
    return (w as unknown as { inputs: WalkInputs }).inputs;
  };
  const four = inputs({});
  const cases: [string, WalkInputs, boolean, boolean][] = [
    ['4-level', four, true, true],
    ['5-level', inputs({ cr4: CR4.PAE | CR4.LA57 }), true, false],
    ['4-level, root at GFN 2^32', inputs({ cr3: 1n << 44n }), false, false],
    ['5-level, root at GFN 2^32', inputs({ cr3: 1n << 44n, cr4: CR4.PAE | CR4.LA57 }), false, false],
    ['4-level, CR4.PKE, PKRU denying key 1', inputs({ cr4: CR4.PAE | CR4.PKE, pkru: 0b1100 }), false, false],
    ['4-level, CR4.PKE, PKRU 0', inputs({ cr4: CR4.PAE | CR4.PKE, pkru: 0 }), true, true],
    ['PAE', inputs({ efer: EFER.NXE }), false, false],
    ['32-bit', inputs({ cr4: 0n, efer: 0n }), false, false],
    ['4-level with a second stage', { ...four, translate: (g: number) => g }, false, false],
    ['4-level with a second stage for A/D writes', { ...four, translateAdWrite: () => true }, false, false],
  ];
  it.each(cases)('%s', (_name, w, batch, hot) => {
    expect(hotBatchTakes(w)).toBe(batch);
    expect(hotWalkTakes(w)).toBe(hot);
    expect(makeHotBatchWalk(w) !== undefined).toBe(batch);
  });
});

describe('walk-batch-hot: the loop stops where walkRaw would do more than read a 4 KiB leaf', () => {
  // The hot walk's random cases (hot-cases.ts: tables in one run, shuffled, at the run's edge, at a
  // run GFN + 2^32, above 2^32, across it), one walk each: the loop finishes it exactly when
  // walkTables succeeds at level 1 without writing, through tables in the affine run below GFN
  // 2^32, with walkTables' GFN; otherwise it stops there.
  // With the walk alone (the one-walk loop) and in every lane of a group (walk-batch-lanes.ts).
  for (const placement of PLACEMENTS) {
    for (const copies of [1, LANES]) {
      it(`random tables ${placement}, ${copies === 1 ? 'one walk' : `the walk in all ${LANES} lanes`}: finished exactly when walkTables reads a 4 KiB leaf and writes nothing`, () => {
        const seen = { finished: 0, stopped: 0 };
        for (let seed = 1; seed <= 1500; seed++) {
          const caseSeed = seed * 7919 + (copies === 1 ? 0 : 3);
          const c = hotCase(placement, caseSeed);
          const batch = makeHotBatchWalk(c.inputs);
          expect(batch).toBeDefined();
          const out = new Float64Array(copies).fill(-2);
          const before = c.mem.words.slice();
          const k = batch!(new Uint32Array(copies).fill(c.vhi >>> 0), new Uint32Array(copies).fill(c.vlo >>> 0), 0, copies, c.access, out);
          expect(Buffer.compare(Buffer.from(c.mem.words.buffer, 0, before.byteLength), Buffer.from(before.buffer))).toBe(0);
          const s = new WalkScratch();
          const stop = walkTables(c.inputs, s, c.vhi, c.vlo, c.access);
          const wrote = c.mem.words.length !== before.length || Buffer.compare(Buffer.from(c.mem.words.buffer, 0, before.byteLength), Buffer.from(before.buffer)) !== 0;
          // Its tables all in the memory's affine run (GuestMemory.affineLo/affineEnd, the frames the
          // loop reaches by adding a delta) and below GFN 2^32; otherwise the loop leaves the walk to walkRaw.
          const m = c.mem as unknown as { affineLo: number; affineEnd: number };
          const inRun = [4, 3, 2, 1].every((l) => s.tableGfn[l]! >= m.affineLo && s.tableGfn[l]! < m.affineEnd && s.tableGfn[l]! < 2 ** 32);
          const finishes = stop === WalkStop.Ok && !wrote && s.level === 1 && inRun;
          expect(k, `seed ${caseSeed}`).toBe(finishes ? copies : 0);
          if (finishes) expect(Array.from(out)).toEqual(new Array(copies).fill(s.gfn));
          seen[finishes ? 'finished' : 'stopped']++;
        }
        // Only 'run' puts all four tables in the run (the others place one or more outside it or at
        // or above GFN 2^32, which the loop must leave to walkRaw).
        if (placement === 'run') expect(seen.finished).toBeGreaterThan(100);
        expect(seen.stopped).toBeGreaterThan(100);
      });
    }
  }

  for (const [v73, levels] of [[false, 4], [true, 4], [false, 5], [true, 5]] as const) {
    it(`${v73 ? '7.3' : '6.16'}, ${levels}-level: stop index and GFNs against walkRaw on a twin guest, every access`, () => {
      for (const [ai, access] of ACCESSES.entries()) {
        for (let seed = 1; seed <= 25; seed++) {
          const { his, los, regions } = addresses(seed * 31 + ai, 40, levels === 5 ? REGIONS5 : REGIONS, levels);
          const acc = encodeAccess(access);
          // Expected: the first walk that faults, writes memory, goes through a 2 MiB leaf or through a
          // table outside the affine run ('l5-outside').
          const twin = guest(v73, levels);
          const gfns: number[] = [];
          let expected = his.length;
          for (let i = 0; i < his.length; i++) {
            const before = memFingerprint(twin.mem);
            const stop = twin.w.walkRaw(his[i]!, los[i]!, acc);
            if (stop !== WalkStop.Ok || memFingerprint(twin.mem) !== before || regions[i] === 'large' || regions[i] === 'large-over-tables' || regions[i] === 'l5-outside') {
              expected = i;
              break;
            }
            gfns.push(twin.w.lastGfn);
          }
          const { mem, w } = guest(v73, levels);
          const before = memFingerprint(mem);
          const batch = makeHotBatchWalk((w as unknown as { inputs: WalkInputs }).inputs)!;
          expect(batch).toBeDefined();
          const out = new Float64Array(his.length).fill(-2);
          const k = batch(his, los, 0, his.length, acc, out);
          expect(k, `seed ${seed}, ${JSON.stringify(access)}`).toBe(expected);
          expect(Array.from(out.subarray(0, k))).toEqual(gfns);
          expect(memFingerprint(mem)).toBe(before); // it only reads
          // From a later start: the same rule on the rest.
          if (k < his.length - 1) expect(batch(his, los, k + 1, his.length, acc, out)).toBeGreaterThan(k);
        }
      }
    });
  }

  it('a batch of read-only 4 KiB walks goes through to its end', () => {
    const { w } = guest(true);
    const { his, los } = addresses(7, 300, ['ram']);
    const batch = makeHotBatchWalk((w as unknown as { inputs: WalkInputs }).inputs)!;
    const out = new Float64Array(his.length);
    // User accesses (a supervisor data access to these user pages faults under SMAP).
    for (const access of [{ kind: 'read', user: true }, { kind: 'write', user: true }, { kind: 'fetch', user: true }] as Access[]) {
      expect(batch(his, los, 0, his.length, encodeAccess(access), out)).toBe(his.length);
      for (let i = 0; i < his.length; i++) {
        // ram's page j maps GPA 0x2_0000_0000 + j * 4096: GFN 0x20_0000 + j.
        expect(out[i]).toBe(0x20_0000 + ((los[i]! >>> 12) & 511));
      }
    }
  });

  it('walkRawBatch equals walkRaw one by one on this guest, 4- and 5-level: stops, GFNs, memory, last walk', () => {
    for (const [v73, levels] of [[false, 4], [true, 4], [false, 5], [true, 5]] as const) {
      for (const [ai, access] of ACCESSES.entries()) {
        for (let seed = 1; seed <= 10; seed++) {
          const { his, los } = addresses(seed * 17 + ai, 64, levels === 5 ? REGIONS5 : REGIONS, levels);
          const acc = encodeAccess(access);
          const one = guest(v73, levels);
          const stops: number[] = [];
          const gfns: number[] = [];
          for (let i = 0; i < his.length; i++) {
            const s = one.w.walkRaw(his[i]!, los[i]!, acc);
            stops.push(s);
            gfns.push(s === WalkStop.Ok ? one.w.lastGfn : -1);
          }
          const many = guest(v73, levels);
          const outGfn = new Float64Array(his.length);
          const outStop = new Uint8Array(his.length);
          many.w.walkRawBatch(his, los, acc, outGfn, outStop);
          expect(Array.from(outStop)).toEqual(stops);
          expect(Array.from(outGfn)).toEqual(gfns);
          expect(memFingerprint(many.mem)).toBe(memFingerprint(one.mem));
          expect(many.w.lastGfn).toBe(one.w.lastGfn);
          expect(many.w.lastErrorCode).toBe(one.w.lastErrorCode);
          const va = (BigInt(his.at(-1)!) << 32n) | BigInt(los.at(-1)!);
          expect(many.w.recordLast(stops.at(-1)!, va as never, access)).toEqual(one.w.recordLast(stops.at(-1)!, va as never, access));
        }
      }
    }
  });
});
