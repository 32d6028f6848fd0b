import { describe, expect, it } from 'vitest';
import { GuestMemory, PageTableBuilder, gpa, MisalignedError, PageSizeError, PageTableBuildError, NonCanonicalAddressError, GpaOutsideMemoryError } from '../../src';

function setup(mode: 'paging32' | 'pae' | 'paging4' | 'paging5' | 'ept4', poolSize = 0x10_0000n) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x4000_0000n });
  const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x10_0000n), size: poolSize } });
  return { mem, b };
}

/** Snapshot of every allocated frame's contents, to prove a failed call wrote nothing. */
function snapshot(mem: GuestMemory): string {
  const out: string[] = [];
  for (let g = 0x100; g < 0x200; g++) {
    if (mem.frameOf(g) < 0) continue;
    for (let i = 0; i < 512; i++) {
      const v = mem.read64(gpa(BigInt(g) * 4096n + BigInt(i * 8)));
      if (v !== 0n) out.push(`${g}:${i}:${v}`);
    }
  }
  return out.join(',');
}

describe('PageTableBuilder', () => {
  it('encodes x86 leaf flags at their SDM positions', () => {
    const { b } = setup('paging4');
    b.map(0x20_0000n, 0x40_0000n, { size: '2M', flags: { writable: true, user: true, pwt: true, pcd: true, accessed: true, dirty: true, global: true, pat: true, nx: true, pkey: 9 } });
    // P W U PWT PCD A D PS G = 0x1ff, PAT (bit 12 in a huge leaf), PK 9 << 59, XD bit 63.
    expect(b.getEntry(0x20_0000n, 2).value).toBe((1n << 63n) | (9n << 59n) | 0x40_0000n | 0x1000n | 0x1ffn);
    b.map(0x1000n, 0x5000n, { flags: { pat: true } });
    expect(b.getEntry(0x1000n, 1).value).toBe(0x5000n | 0x80n | 1n); // PAT is bit 7 in a 4K PTE
    expect(b.getEntry(0x1000n, 2).value & 0xfffn).toBe(0x7n); // tables: P|RW|US, A clear
  });

  it('encodes EPT leaf flags', () => {
    const { b } = setup('ept4');
    b.map(0x1000n, 0x5000n, { flags: { read: true, write: false, exec: true, memType: 6, ipat: true } });
    expect(b.getEntry(0x1000n, 1).value).toBe(0x5000n | 0b101n | (6n << 3n) | (1n << 6n));
  });

  it('rejects sizes a mode does not have and misaligned pages', () => {
    const { b } = setup('paging4');
    expect(() => b.map(0n, 0n, { size: '4M' })).toThrow(PageSizeError);
    expect(() => setup('pae').b.map(0n, 0n, { size: '1G' })).toThrow(/pae has no 1G pages/);
    expect(() => setup('paging32').b.map(0n, 0n, { size: '2M' })).toThrow(PageSizeError);
    expect(() => b.map(0x1000n, 0x20_0000n, { size: '2M' })).toThrow(MisalignedError);
    expect(() => b.map(0x20_0000n, 0x1000n, { size: '2M' })).toThrow(/target GPA must be 2M aligned/);
    expect(() => b.map(0n, 0n, { flags: { pkey: 16 } })).toThrow(/0..15/);
    expect(() => setup('pae').b.map(0n, 0n, { flags: { pkey: 1 } })).toThrow(/4- and 5-level/);
    expect(() => setup('paging32').b.map(0n, 0n, { flags: { nx: true } })).toThrow(/no XD/);
    expect(() => b.map(0n, 0n, { flags: { read: true } as never })).toThrow(/does not exist/);
  });

  it('rejects non-canonical addresses and ranges crossing the hole', () => {
    const { b } = setup('paging4');
    expect(() => b.map(0x8000_0000_0000n, 0n)).toThrow(NonCanonicalAddressError);
    expect(() => b.map(0x7fff_ffff_f000n, 0n, { count: 2 })).toThrow(/canonical/);
    expect(() => setup('pae').b.map(0x1_0000_0000n, 0n)).toThrow(/below 4 GiB/);
    expect(() => b.map(0n, 1n << 46n)).toThrow(GpaOutsideMemoryError);
  });

  it('refuses huge pages over tables and tables through huge pages, writing nothing', () => {
    const { mem, b } = setup('paging4');
    b.map(0x20_0000n, 0x20_0000n, { flags: { writable: true } });
    b.map(0x4000_0000n, 0x4000_0000n, { size: '1G' });
    const before = snapshot(mem);
    const used = b.tablesAllocated;
    expect(() => b.map(0n, 0n, { size: '2M', count: 2 })).toThrow(/huge-over-table/);
    expect(() => b.map(0x4000_1000n, 0n)).toThrow(PageTableBuildError);
    expect(() => b.map(0x4000_1000n, 0n)).toThrow(/path-through-huge-page/);
    expect(snapshot(mem)).toBe(before);
    expect(b.tablesAllocated).toBe(used);
  });

  it('checks pool capacity before writing anything', () => {
    const { mem, b } = setup('paging4', 0x3000n); // root + 2 tables
    const before = snapshot(mem);
    expect(() => b.map(0n, 0n, { count: 1 })).toThrow(/needs 3 new tables but the pool has 2 left/);
    expect(snapshot(mem)).toBe(before);
    b.map(0n, 0n, { size: '2M' }); // needs PDPT + PD only
    expect(b.tablesAvailable).toBe(0);
  });

  it('maps many pages across table boundaries and unmaps them', () => {
    const { b } = setup('paging4');
    b.map(0x1f_f000n, 0x100_0000n, { count: 3, flags: { writable: true } });
    expect(b.getEntry(0x1f_f000n, 1).value).toBe(0x100_0000n | 3n);
    expect(b.getEntry(0x20_1000n, 1).value).toBe(0x100_2000n | 3n);
    expect(b.unmap(0x1f_f000n, { count: 4 })).toBe(3);
    expect(b.getEntry(0x20_0000n, 1).value).toBe(0n);
  });

  it('raw set/get writes exactly the given bits, creating tables above', () => {
    const { b } = setup('paging5');
    const v = 0xfff0_0000_0000_0fffn;
    const ref = b.setEntry(0x00ab_cdef_0123_4000n, 1, v);
    expect(b.getEntry(0x00ab_cdef_0123_4000n, 1)).toEqual(ref);
    expect(ref.value).toBe(v);
    expect(b.path(0x00ab_cdef_0123_4000n).map((e) => e.level)).toEqual([5, 4, 3, 2, 1]);
    expect(() => b.getEntry(0x1000n, 1)).toThrow(/no-table-at-level/);
    expect(() => b.getEntry(0x1000n, 6)).toThrow(/levels 1..5/);
    expect(() => setup('paging32').b.setEntry(0n, 1, 1n << 32n)).toThrow(/4 bytes/);
  });

  it('32-bit 4 MiB pages put PA[39:32] in bits 20:13', () => {
    const mem = new GuestMemory({ maxPhyAddr: 40 });
    mem.addSlot({ base: gpa(0n), size: 0x100_0000n });
    const b = new PageTableBuilder(mem, { mode: 'paging32', pool: { base: gpa(0x10_0000n), size: 0x1_0000n } });
    b.map(0x40_0000n, 0x12_3440_0000n, { size: '4M' });
    expect(b.getEntry(0x40_0000n, 2).value).toBe(0x3440_0000n | (0x12n << 13n) | 0x80n | 1n);
  });

  it('rejects a pool outside writable memory', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 0x10_0000n });
    expect(() => new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000n), size: 0x1000n } })).toThrow(/pool-in-ram/);
    expect(() => new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x800n), size: 0x1000n } })).toThrow(MisalignedError);
  });
});
