/**
 * The guest of walk-batch-hot's and walk-batch-lanes' tests: 4-level tables in the memory's affine
 * run (PageTableBuilder's pool) with, 2 MiB of address space each, 4 KiB pages that only need
 * reads ('ram'), a 2 MiB page, pages whose leaf has A clear, writable pages with D clear,
 * supervisor pages, NX pages, a hole, a 2 MiB page over the tables themselves and leaves with a
 * reserved bit; and random addresses in chosen regions.
 */
import { GuestMemory, PageTableBuilder, GvaWalker, CR0, CR4, EFER, gpa, DEFAULT_FEATURES } from '../../src';
import { xorshift } from '../../src/workload/generators';

export const BASE = 0x7f00_0000_0000n;
/** Regions of the guest, 2 MiB of address space each (region r at BASE + r * 2 MiB). */
export const REGIONS = ['ram', 'large', 'not-accessed', 'clean', 'supervisor', 'nx', 'hole', 'large-over-tables', 'reserved'] as const;
export type Region = (typeof REGIONS)[number];
export const regionBase = (r: Region): bigint => BASE + BigInt(REGIONS.indexOf(r)) * 0x20_0000n;

export function guest(v73: boolean): { mem: GuestMemory; w: GvaWalker } {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 8n << 30n });
  // Table entries with A set (0x27): the leaves decide whether a walk writes.
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x1_0000_0000n), size: 4n << 20n }, tableFlags: 0x27 });
  const ad = { accessed: true, dirty: true };
  b.map(regionBase('ram'), gpa(0x2_0000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, ...ad } });
  b.map(regionBase('large'), gpa(0x2_4000_0000n), { size: '2M', count: 1, flags: { writable: true, user: true, ...ad } });
  b.map(regionBase('not-accessed'), gpa(0x2_1000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, accessed: false, dirty: true } });
  b.map(regionBase('clean'), gpa(0x2_2000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, accessed: true, dirty: false } });
  b.map(regionBase('supervisor'), gpa(0x2_3000_0000n), { size: '4K', count: 512, flags: { writable: true, user: false, ...ad } });
  b.map(regionBase('nx'), gpa(0x2_5000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, nx: true, ...ad } });
  // A 2 MiB page onto the page tables themselves: its frame lies in the affine run, so only the PS
  // test tells it from a table pointer.
  b.map(regionBase('large-over-tables'), gpa(0x1_0000_0000n), { size: '2M', count: 1, flags: { writable: true, user: true, ...ad } });
  // 4 KiB leaves with a reserved bit in the high half (bit 50, above MAXPHYADDR 46): a reserved-bit fault.
  b.map(regionBase('reserved'), gpa(0x2_6000_0000n), { size: '4K', count: 512, flags: { writable: true, user: true, ...ad } });
  for (let j = 0n; j < 512n; j++) b.setEntry(regionBase('reserved') + j * 4096n, 1, ((0x2_6000_0000n + j * 4096n) | 0x67n) | (1n << 50n));
  const w = new GvaWalker(mem, {
    cr0: CR0.PE | CR0.PG | CR0.WP,
    cr3: b.root,
    cr4: CR4.PAE | CR4.SMEP | CR4.SMAP,
    efer: EFER.LME | EFER.LMA | EFER.NXE,
    pkru: 0,
  }, DEFAULT_FEATURES, undefined, v73 ? '7.3' : '6.16');
  return { mem, w };
}

export function addresses(seed: number, n: number, from: readonly Region[]): { his: Uint32Array; los: Uint32Array; regions: Region[] } {
  const r = xorshift(seed);
  const his = new Uint32Array(n);
  const los = new Uint32Array(n);
  const regions: Region[] = [];
  for (let i = 0; i < n; i++) {
    const reg = from[r() % from.length]!;
    const va = regionBase(reg) + BigInt(r() % 512) * 4096n + BigInt(r() & 0xfff);
    his[i] = Number(va >> 32n);
    los[i] = Number(va & 0xffff_ffffn);
    regions.push(reg);
  }
  return { his, los, regions };
}
