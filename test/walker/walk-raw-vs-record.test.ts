/**
 * Seeded property test: the raw walk (GvaWalker.walkRaw, whose read-only fast path is
 * src/walker/walk-fast.ts) against the record walk (walk(), the full walkTables) on the same
 * state. Random 4K/2M/1G mappings, random flips of the walked entries' flags, A/D, PS, PK and
 * reserved bits, random CR0.WP/SMEP/SMAP/PKE/PKRU and accesses, 4- and 5-level paging, both KVM
 * versions. For every case: the same stop, frame and error code, the same entries afterwards (A/D
 * updates), and `recordLast` after the raw walk equal to the record walk's record. The record
 * walk is the reference because test/walker/random-walks.test.ts checks it against the SDM model.
 */
import { describe, it, expect } from 'vitest';
import { GuestMemory, GvaWalker, KVM_VERSIONS, PageTableBuilder, CR0, CR4, EFER, encodeAccess, gpa, gva, type Access, type Gpa } from '../../src';
import { xorshift } from '../../src/workload/generators';

const SPAN = { '4K': 1n << 12n, '2M': 1n << 21n, '1G': 1n << 30n } as const;
const LEAF = { '4K': 1, '2M': 2, '1G': 3 } as const;
type Size = keyof typeof SPAN;
// Bits worth flipping in an entry: P, R/W, U/S, A, D, PS, G, a reserved bit above MAXPHYADDR 46,
// a protection-key bit, XD.
const FLIP = [0, 1, 2, 5, 6, 7, 8, 50, 60, 63];

describe('walkRaw agrees with walk() (seeded)', () => {
  for (const kvm of KVM_VERSIONS) for (const levels of [4, 5] as const) {
    it(`KVM ${kvm}, ${levels}-level: random mappings, entry flips, registers and accesses`, () => {
      const r = xorshift(0x5eed + levels * 31 + (kvm === '7.3' ? 1 : 0));
      const int = (n: number) => r() % n;
      const mem = new GuestMemory({ maxPhyAddr: 46 });
      mem.addSlot({ base: gpa(0n), size: 1n << 32n });
      const b = new PageTableBuilder(mem, { mode: levels === 5 ? 'paging5' : 'paging4', pool: { base: gpa(0x100000n), size: 0x800000n } });
      const maps: { va: bigint; size: Size }[] = [];
      const sizes: Size[] = ['4K', '2M', '1G'];
      for (let i = 0; i < 36; i++) {
        const size = sizes[i % 3]!;
        // One PDPT slot per mapping (index i), so mappings never overlap; upper indexes random.
        const top = levels === 5 ? (BigInt(int(256)) << 48n) | (BigInt(int(256)) << 39n) : BigInt(int(256)) << 39n;
        let va = top | (BigInt(i) << 30n);
        if (size !== '1G') va |= BigInt(int(512)) << 21n;
        if (size === '4K') va |= BigInt(int(512)) << 12n;
        const pa = (BigInt(r() >>> 0) << 12n) & 0xffff_ffffn & ~(SPAN[size] - 1n);
        b.map(gva(va), gpa(pa), { size, flags: { writable: int(4) !== 0, user: int(4) !== 0, nx: int(4) === 0, pkey: int(2) ? int(16) : 0, accessed: int(3) !== 0, dirty: int(3) !== 0 } });
        maps.push({ va, size });
      }
      // A set in the upper entries (as a guest that touched its memory has them), so that walks
      // with A/D already as needed exist and the fast path decides them.
      for (const m of maps) for (let l = levels; l > LEAF[m.size]; l--) {
        const g = b.getEntry(gva(m.va), l).gpa;
        mem.write64(g, mem.read64(g) | 0x20n);
      }
      let fast = 0;
      let faults = 0;
      for (let c = 0; c < 3000; c++) {
        const m = maps[int(maps.length)]!;
        const va = m.va | (BigInt(r() >>> 0) & (SPAN[m.size] - 1n));
        const leaf = LEAF[m.size];
        const pke = int(2) === 1;
        const w = new GvaWalker(mem, {
          cr0: CR0.PE | CR0.PG | (int(2) ? CR0.WP : 0n),
          cr3: b.root,
          cr4: CR4.PAE | (int(2) ? CR4.SMEP : 0n) | (int(2) ? CR4.SMAP : 0n) | (pke ? CR4.PKE : 0n) | (levels === 5 ? CR4.LA57 : 0n),
          efer: EFER.LME | EFER.LMA | EFER.NXE,
          pkru: pke && int(2) ? (r() & r()) >>> 0 : 0,
        }, { maxPhyAddr: 46, nx: true, gbpages: true, la57: true, smep: true, smap: true, pku: true, vendor: 'intel' }, undefined, kvm);
        const kind = (['read', 'write', 'fetch'] as const)[int(3)]!;
        const user = int(2) === 1;
        const a: Access = { kind, user, implicit: !user && kind !== 'fetch' && int(4) === 0, ac: int(2) === 1 };
        // Flip a few bits of the walked entries; remember the path to compare and restore it.
        // Entries by GPA (the flips may send the walk elsewhere; these are the ones to restore).
        const at: Gpa[] = [];
        for (let l = levels; l >= leaf; l--) at.push(b.getEntry(gva(va), l).gpa);
        const path = at.map((g) => mem.read64(g));
        const set = (vals: readonly bigint[]) => vals.forEach((v, i) => mem.write64(at[i]!, v));
        const flipped = path.map((v) => (int(3) === 0 ? v ^ (1n << BigInt(FLIP[int(FLIP.length)]!)) : v));
        set(flipped);
        const read = () => at.map((g) => mem.read64(g));
        const stop = w.walkRaw(Number(va >> 32n), Number(va & 0xffff_ffffn), encodeAccess(a));
        const raw = { ok: stop === 0, gfn: stop === 0 ? w.lastGfn : -1, ec: stop === 0 ? -1 : w.lastErrorCode, after: read(), rec: w.recordLast(stop, gva(va), a) };
        set(flipped);
        const rec = w.walk(gva(va), a);
        expect(raw, `case ${c}: ${a.kind} at 0x${va.toString(16)}`).toEqual({
          ok: rec.status === 'ok',
          gfn: rec.status === 'ok' ? rec.gfn : -1,
          ec: rec.status === 'ok' ? -1 : rec.errorCode,
          after: read(),
          rec,
        });
        if (rec.status === 'ok' && rec.adUpdates === 0) fast++;
        if (rec.status === 'fault') faults++;
        set(path);
      }
      // The mix reaches both paths: walks the fast path decides alone, and faults it hands on.
      expect(fast).toBeGreaterThan(300);
      expect(faults).toBeGreaterThan(300);
    }, 60_000);
  }
});
