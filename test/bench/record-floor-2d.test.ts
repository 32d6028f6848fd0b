/**
 * bench/record-floor-2d.ts claims to make what Walk2D.walk returns for a warm read-only walk,
 * minus the lookups: these tests hold it to the record's shape (the same prototype, own keys in
 * the same order, the same type per field, the same reference and trace lengths, the same keys and
 * field types per reference and step) and to the outcome fields it takes from the raw walk,
 * against walk() on the same addresses — 4 KiB, 2 MiB and 1 GiB L2 leaves, 4- and 5-level L2
 * paging, 4- and 5-level EPT12 and a 4-level NPT12 — and to the sharing it assumes: on a repeated
 * walk of a 4 KiB or 2 MiB page, walk() hands out the same reference objects as before exactly
 * for the references the floor shares (those before L2's leaf entry). The floor is a cost only
 * where it allocates what the record allocates.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, NgpaWalker, PageTableBuilder, Walk2D, makeEptp, CR0, CR4, EFER, DEFAULT_FEATURES, encodeAccess, gpa, type Access } from '../../src';
import type { Gva } from '../../src/address/address';
import type { Walk2DOk } from '../../src/nested/walk-2d-result';
import { makeRecordFloor2D } from '../../bench/record-floor-2d';
import { l1RegsFor } from '../nested/support';

const L2_POOL = 0x1000_0000n; // identity-mapped by the nested tables: the builder writes L2's tables in place
const DATA_N = 0x4000_0000n;
const DATA_G = 0x8000_0000n;

type Nk = 'ept4' | 'ept5' | 'npt4';

function l1(nk: Nk, l2Levels: 4 | 5): { w2: Walk2D; vas: bigint[] } {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 4n << 30n });
  const ept = nk.startsWith('ept');
  const nLevel = nk === 'ept5' ? 5 : 4;
  const nb = new PageTableBuilder(mem, { mode: ept ? (nLevel === 5 ? 'ept5' : 'ept4') : 'paging4', pool: { base: gpa(0x100_0000n), size: 16n << 20n } });
  const rw = ept ? {} : { writable: true, user: true };
  nb.map(L2_POOL, gpa(L2_POOL), { count: (1 << 20) / 4096, flags: rw });
  // 4 KiB nested pages: the final nested walk reads every nested level, as the floor takes it.
  nb.map(DATA_N, gpa(DATA_G), { count: (1 << 30) / 4096 + 1024, flags: rw });
  const l2 = new PageTableBuilder(mem, { mode: l2Levels === 5 ? 'paging5' : 'paging4', pool: { base: gpa(L2_POOL), size: 1n << 20n } });
  const base = l2Levels === 5 ? 0x00ff_8000_0000_0000n : 0x7f00_0000_0000n;
  const f = { writable: true, user: true };
  l2.map(base, DATA_N, { size: '4K', count: 8, flags: f });
  l2.map(base + (1n << 30n), DATA_N + (2n << 20n), { size: '2M', count: 2, flags: f });
  l2.map(base + (4n << 30n), DATA_N, { size: '1G', count: 1, flags: f });
  const nested = ept
    ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: nb.root, level: nLevel, adEnabled: true }) })
    : NgpaWalker.npt(mem, { ncr3: nb.root, l1: l1RegsFor(4, true), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' } });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: l2Levels === 5 ? CR4.PAE | CR4.LA57 : CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
  const w2 = new Walk2D(nested, { regs, features: DEFAULT_FEATURES });
  return { w2, vas: [base + 0x3123n, base + (1n << 30n) + 0x20_1234n, base + (4n << 30n) + 0x1234_5678n] };
}

const typeOf = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
const shape = (o: object): [string, string][] => Object.entries(o).map(([k, v]) => [k, typeOf(v)]);

describe('bench/record-floor-2d: the objects of the 2D record walk, after a raw 2D walk', () => {
  for (const [nk, l2Levels] of [['ept4', 4], ['ept4', 5], ['ept5', 4], ['ept5', 5], ['npt4', 4]] as const) {
    it(`${nk}, ${l2Levels}-level L2: walk()'s prototype, keys, field types, lengths and outcome`, () => {
      const { w2, vas } = l1(nk, l2Levels);
      const floor = makeRecordFloor2D(w2);
      const a: Access = { kind: 'write', user: true };
      const enc = encodeAccess(a);
      const levelsSeen: number[] = [];
      for (const va of vas) {
        // The first walk sets A/D bits (walk() takes the full walk for it); the next two only read.
        w2.walk(va, a);
        const prev = w2.walk(va, a) as Walk2DOk;
        const want = w2.walk(va, a) as Walk2DOk;
        expect(want.status).toBe('ok');
        const got = floor(Number(va >> 32n), Number(va & 0xffff_ffffn), enc, va as Gva, a)!;
        expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(want));
        expect(shape(got)).toEqual(shape(want));
        expect(got.refs.length).toBe(want.refs.length);
        expect(got.trace.length).toBe(want.trace.length);
        got.refs.forEach((r, i) => {
          expect(shape(r)).toEqual(shape(want.refs[i]!));
          expect([r.seq, r.kind, r.guestLevel, r.level]).toEqual([want.refs[i]!.seq, want.refs[i]!.kind, want.refs[i]!.guestLevel, want.refs[i]!.level]);
        });
        got.trace.forEach((t, i) => {
          expect(shape(t)).toEqual(shape(want.trace[i]!));
          expect([t.level, t.leaf]).toEqual([want.trace[i]!.level, want.trace[i]!.leaf]);
        });
        const { gpa: g, ngpa, gfn, level, pageSize, pteAccess, pkey, address, access, refCount, guestLevels, nestedLevels, dirtyLogged } = want;
        expect({ gpa: got.gpa, ngpa: got.ngpa, gfn: got.gfn, level: got.level, pageSize: got.pageSize, pteAccess: got.pteAccess, pkey: got.pkey, address: got.address, access: got.access, refCount: got.refCount, guestLevels: got.guestLevels, nestedLevels: got.nestedLevels, dirtyLogged: got.dirtyLogged })
          .toEqual({ gpa: g, ngpa, gfn, level, pageSize, pteAccess, pkey, address, access, refCount, guestLevels, nestedLevels, dirtyLogged });
        // The sharing the floor assumes: the references before L2's leaf entry are the objects of
        // the walk before (the segment caches), the others new. Tier A ends before L2's level-2
        // entry, so a 1 GiB leaf shares none of them; for it the floor is lower than walk() needs.
        const before = (w2.guestLevels - level) * (w2.nestedLevels + 1) + w2.nestedLevels;
        if (level <= 2) {
          want.refs.forEach((r, i) => expect(r === prev.refs[i]).toBe(i < before));
          want.trace.forEach((t, i) => expect(t === prev.trace[i]).toBe(i < want.trace.length - 1));
        }
        levelsSeen.push(got.level);
      }
      expect(levelsSeen).toEqual([1, 2, 3]);
    });
  }
});
