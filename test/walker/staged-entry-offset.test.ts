/**
 * A staged walk tells its second stage where in each table frame the entry it accesses lies:
 * `translate(gfn, false, offset)` before reading a table, `translateAdWrite(gfn, offset)` before
 * the CPU's A/D write to an entry. The hardware reports the address of the access that faulted,
 * i.e. the entry's own (SDM Vol. 3C §28.2.1 "Guest-physical address"; APM Vol. 2 §15.25.6
 * EXITINFO2), which the vCPU and guest_mmu build from frame and offset. The offsets here are
 * entry size × index, the indices written out from the address's bits.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, WalkStop, CR0, CR4, EFER, gpa } from '../../src';

function guest(mode: 'paging4' | 'paging32', va: bigint) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x4000_0000n, name: 'ram' });
  const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
  b.map(va & ~0xfffn, gpa(0x60_0000n));
  const regs = mode === 'paging4'
    ? { cr0: CR0.PE | CR0.PG, cr3: BigInt(b.root), cr4: CR4.PAE, efer: EFER.LME | EFER.LMA }
    : { cr0: CR0.PE | CR0.PG, cr3: BigInt(b.root), cr4: 0n, efer: 0n };
  return { b, w: new GvaWalker(mem, regs) };
}

function run(mode: 'paging4' | 'paging32', va: bigint) {
  const { b, w } = guest(mode, va);
  const reads: [number, boolean, number | undefined][] = [];
  const writes: [number, number][] = [];
  const stop = w.walkRawStaged(Number(va >> 32n), Number(va & 0xffff_ffffn), 0,
    (g, final, off) => (reads.push([g, final, off]), g),
    (g, off) => (writes.push([g, off]), true));
  expect(stop).toBe(WalkStop.Ok);
  return { b, reads, writes };
}

describe('staged walk: the entry offset given to translate and translateAdWrite', () => {
  it('4-level: 8 × index in each table, for the read and for the A/D write', () => {
    // PML4 index 3, PDPT index 5, PD index 7, PT index 9.
    const va = (3n << 39n) | (5n << 30n) | (7n << 21n) | (9n << 12n) | 0x123n;
    const { b, reads, writes } = run('paging4', va);
    const frame = (level: number) => Number(BigInt(b.getEntry(va, level).gpa) >> 12n);
    const tables = [[frame(4), 3], [frame(3), 5], [frame(2), 7], [frame(1), 9]] as const;
    expect(reads).toEqual([...tables.map(([g, i]) => [g, false, 8 * i]), [0x600, true, undefined]]);
    // The builder's entries have A clear: the walk sets A in each, top down (paging_tmpl.h
    // FNAME(update_accessed_dirty_bits)), each write through the second stage.
    expect(writes).toEqual(tables.map(([g, i]) => [g, 8 * i]));
  });

  it('32-bit paging: 4 × index', () => {
    // PD index 5, PT index 9.
    const va = (5n << 22n) | (9n << 12n) | 0x456n;
    const { b, reads, writes } = run('paging32', va);
    const frame = (level: number) => Number(BigInt(b.getEntry(va, level).gpa) >> 12n);
    expect(reads).toEqual([[frame(2), false, 4 * 5], [frame(1), false, 4 * 9], [0x600, true, undefined]]);
    expect(writes).toEqual([[frame(2), 4 * 5], [frame(1), 4 * 9]]);
  });
});
