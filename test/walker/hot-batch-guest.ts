/**
 * The guest of walk-batch-hot's and walk-batch-lanes' tests: 4-level tables in the memory's affine
 * run (PageTableBuilder's pool) with, 2 MiB of address space each, 4 KiB pages that only need
 * reads ('ram'), a 2 MiB page, pages whose leaf has A clear, writable pages with D clear,
 * supervisor pages, NX pages, a hole, a 2 MiB page over the tables themselves and leaves with a
 * reserved bit; with 4- or 5-level paging (then also a level-5 hole and a level-5 entry with a
 * reserved bit); and random addresses in chosen regions.
 */
import { GuestMemory, PageTableBuilder, GvaWalker, CR0, CR4, EFER, gpa, DEFAULT_FEATURES } from '../../src';
import { xorshift } from '../../src/workload/generators';

export const BASE = 0x7f00_0000_0000n;
/** With 5-level paging: level-5 index 255 (bits 56:48), then BASE's level-4 index; canonical (bit 56 clear). */
export const BASE5 = 0x00ff_7f00_0000_0000n;
/** Regions of the guest, 2 MiB of address space each (region r at BASE + r * 2 MiB). */
export const REGIONS = ['ram', 'large', 'not-accessed', 'clean', 'supervisor', 'nx', 'hole', 'large-over-tables', 'reserved'] as const;
/**
 * With 5-level paging also, over 4 KiB pages like 'ram''s: a level-5 entry that is not present
 * ('l5-hole', index 254), one with a reserved bit (bit 50, above MAXPHYADDR 46; 'l5-reserved', 253),
 * one with U/S clear ('l5-supervisor', 252), one with A clear ('l5-not-accessed', 251), one with
 * XD set ('l5-nx', 250), one with PS set (reserved at level 5: 'l5-ps', 249), and one whose level-4
 * table lies outside the table pool and so outside the memory's affine run ('l5-outside', 248:
 * walkRaw reads its pages, the batch loops leave them to it).
 */
export const REGIONS5 = [...REGIONS, 'l5-hole', 'l5-reserved', 'l5-supervisor', 'l5-not-accessed', 'l5-nx', 'l5-ps', 'l5-outside'] as const;
const L5_INDEX_BELOW: Partial<Record<Region, bigint>> = {
  'l5-hole': 1n, 'l5-reserved': 2n, 'l5-supervisor': 3n, 'l5-not-accessed': 4n, 'l5-nx': 5n, 'l5-ps': 6n, 'l5-outside': 7n,
};
export type Region = (typeof REGIONS5)[number];
export type Levels = 4 | 5;
export const regionBase = (r: Region, levels: Levels = 4): bigint => {
  const below = L5_INDEX_BELOW[r];
  return below !== undefined ? BASE5 - (below << 48n) : (levels === 5 ? BASE5 : BASE) + BigInt((REGIONS as readonly Region[]).indexOf(r)) * 0x20_0000n;
};

export function guest(v73: boolean, levels: Levels = 4): { mem: GuestMemory; w: GvaWalker } {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 8n << 30n });
  // Table entries with A set (0x27): the leaves decide whether a walk writes.
  const b = new PageTableBuilder(mem, { mode: levels === 5 ? 'paging5' : 'paging4', pool: { base: gpa(0x1_0000_0000n), size: 4n << 20n }, tableFlags: 0x27 });
  const ad = { accessed: true, dirty: true };
  const at = (r: Region): bigint => regionBase(r, levels);
  b.map(at('ram'), gpa(0x2_0000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, ...ad } });
  b.map(at('large'), gpa(0x2_4000_0000n), { size: '2M', count: 1, flags: { writable: true, user: true, ...ad } });
  b.map(at('not-accessed'), gpa(0x2_1000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, accessed: false, dirty: true } });
  b.map(at('clean'), gpa(0x2_2000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, accessed: true, dirty: false } });
  b.map(at('supervisor'), gpa(0x2_3000_0000n), { size: '4K', count: 512, flags: { writable: true, user: false, ...ad } });
  b.map(at('nx'), gpa(0x2_5000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, nx: true, ...ad } });
  // A 2 MiB page onto the page tables themselves: its frame lies in the affine run, so only the PS
  // test tells it from a table pointer.
  b.map(at('large-over-tables'), gpa(0x1_0000_0000n), { size: '2M', count: 1, flags: { writable: true, user: true, ...ad } });
  // 4 KiB leaves with a reserved bit in the high half (bit 50, above MAXPHYADDR 46): a reserved-bit fault.
  b.map(at('reserved'), gpa(0x2_6000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, ...ad } });
  for (let j = 0n; j < 512n; j++) b.setEntry(at('reserved') + j * 4096n, 1, ((0x2_6000_0000n + j * 4096n) | 0x67n) | (1n << 50n));
  if (levels === 5) {
    // Good 4 KiB pages under level-5 entries with a reserved bit, U/S clear, A clear, XD set, PS set; 'l5-hole' is left unmapped.
    const l5: [Region, bigint, bigint][] = [['l5-reserved', 1n << 50n, 0n], ['l5-supervisor', 0n, 4n], ['l5-not-accessed', 0n, 0x20n], ['l5-nx', 1n << 63n, 0n], ['l5-ps', 0x80n, 0n]];
    for (const [j, [r, set, clear]] of l5.entries()) {
      b.map(at(r), gpa(0x2_7000_0000n + BigInt(j) * 0x20_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, ...ad } });
      b.setEntry(at(r), 5, (b.getEntry(at(r), 5).value | set) & ~clear);
    }
    // Last, so that the pool's earlier tables stay one run: a level-4 table outside the pool, then
    // good 4 KiB pages under it (their lower tables from the pool, after the gap it leaves).
    b.placeTable(4, at('l5-outside'), gpa(0x1_8000_0000n));
    b.map(at('l5-outside'), gpa(0x2_7800_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, ...ad } });
  }
  const w = new GvaWalker(mem, {
    cr0: CR0.PE | CR0.PG | CR0.WP,
    cr3: b.root,
    cr4: CR4.PAE | CR4.SMEP | CR4.SMAP | (levels === 5 ? CR4.LA57 : 0n),
    efer: EFER.LME | EFER.LMA | EFER.NXE,
    pkru: 0,
  }, DEFAULT_FEATURES, undefined, v73 ? '7.3' : '6.16');
  return { mem, w };
}

export function addresses(seed: number, n: number, from: readonly Region[], levels: Levels = 4): { his: Uint32Array; los: Uint32Array; regions: Region[] } {
  const r = xorshift(seed);
  const his = new Uint32Array(n);
  const los = new Uint32Array(n);
  const regions: Region[] = [];
  for (let i = 0; i < n; i++) {
    const reg = from[r() % from.length]!;
    const va = regionBase(reg, levels) + BigInt(r() % 512) * 4096n + BigInt(r() & 0xfff);
    his[i] = Number(va >> 32n);
    los[i] = Number(va & 0xffff_ffffn);
    regions.push(reg);
  }
  return { his, los, regions };
}
