/** PageTableBuilder.placeTable / entryAddress / the `root` option: tables at chosen GPAs. */
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, gpa, CR0, CR4, EFER, MisalignedError, PageTableBuildError, GpaOutsideMemoryError } from '../../src';

const VA = 0x7000_1000n;

function setup(root?: bigint) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x4000_0000n });
  mem.addSlot({ base: gpa(0x4000_0000n), size: 0x10_0000n, readonly: true, name: 'rom' });
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000n), size: 0x10_0000n }, ...(root === undefined ? {} : { root }) });
  return { mem, b };
}

describe('tables at chosen GPAs', () => {
  it('placed tables are used by map and by the CPU walk; entry addresses follow SDM Vol. 3A §4.5', () => {
    const { mem, b } = setup(0x60_0000n);
    expect(b.root).toBe(0x60_0000n);
    b.placeTable(3, VA, 0x50_0000n); // the PDPT
    b.placeTable(2, VA, 0x51_0000n); // the PD
    const ref = b.placeTable(1, VA, 0x52_0000n); // the PT
    // The PDE now points at the PT: address 0x52_0000 | P|RW|US.
    expect(ref.level).toBe(2);
    expect(ref.value).toBe(0x52_0000n | 7n);
    b.map(VA, 0x30_0000n, { flags: { writable: true } });
    expect(b.tablesAllocated).toBe(0); // nothing came from the pool
    // SDM §4.5.4: entry = table base + 8 × VA[47:39] / VA[38:30] / VA[29:21] / VA[20:12].
    // VA 0x7000_1000: PML4 index 0, PDPT index 1, PD index 0x180, PT index 1.
    expect(b.entryAddress(VA, 4)).toBe(0x60_0000n);
    expect(b.entryAddress(VA, 3)).toBe(0x50_0000n + 8n);
    expect(b.entryAddress(VA, 2)).toBe(0x51_0000n + 0x180n * 8n);
    expect(b.entryAddress(VA, 1)).toBe(0x52_0000n + 8n);
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA, cr3: b.root });
    const r = w.walk(VA, { kind: 'read' });
    expect(r.status).toBe('ok');
    expect(r.status === 'ok' && r.gpa).toBe(0x30_0000n);
    expect(r.trace.map((e) => e.entryGpa)).toEqual([0x60_0000n, 0x50_0008n, 0x51_0c00n, 0x52_0008n]);
  });

  it('missing tables above a placed one come from the pool', () => {
    const { b } = setup();
    b.placeTable(1, VA, 0x52_0000n);
    expect(b.tablesAllocated).toBe(3); // root, PDPT, PD
    expect(b.getEntry(VA, 2).value).toBe(0x52_0000n | 7n);
  });

  it('bad placements are refused and write nothing', () => {
    const { mem, b } = setup();
    b.map(VA, 0x30_0000n);
    const rule = (fn: () => unknown): [string, string] => {
      try {
        fn();
      } catch (e) {
        return [(e as Error).constructor.name, (e as PageTableBuildError).rule];
      }
      return ['none', ''];
    };
    const before = mem.stats().framesAllocated;
    expect(rule(() => b.placeTable(1, VA, 0x52_0000n))).toEqual([PageTableBuildError.name, 'table-exists']);
    expect(rule(() => b.placeTable(1, 0x7020_0000n, 0x52_0800n))).toEqual([MisalignedError.name, 'table-alignment']);
    expect(rule(() => b.placeTable(1, 0x7020_0000n, 0x4000_0000n))).toEqual([GpaOutsideMemoryError.name, 'table-in-ram']);
    expect(rule(() => b.placeTable(1, 0x7020_0000n, 0x10_8000n))).toEqual([PageTableBuildError.name, 'table-in-pool']);
    expect(rule(() => b.placeTable(4, VA, 0x52_0000n))).toEqual([PageTableBuildError.name, 'place-root']);
    expect(rule(() => b.entryAddress(0x7fff_0000_0000n, 1))).toEqual([PageTableBuildError.name, 'no-table-at-level']);
    expect(mem.stats().framesAllocated).toBe(before);
    expect(b.getEntry(VA, 1).value & ~0xfffn).toBe(0x30_0000n);
  });
});
