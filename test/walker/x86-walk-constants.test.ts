/**
 * x86WalkConstants (src/walker/x86-walk-constants.ts): the per-walker numbers of the unrolled x86
 * walks. The masks are checked against the SDM's reserved bits for IA-32e paging with MAXPHYADDR
 * 46, EFER.NXE = 1 and 1-GByte pages (SDM Vol. 3A §4.5, Tables 4-15 to 4-20): bits 51:46 of
 * every entry (bits 19:14 of the high half), PS in a PML4E, bits 29:13 of a 1-GByte PDPTE and
 * bits 20:13 of a 2-MByte PDE (PAT is bit 12); XD (bit 63) is not reserved with NXE.
 */
import { describe, it, expect } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, CR0, CR4, EFER, gpa } from '../../src';
import { x86WalkConstants } from '../../src/walker/x86-walk-constants';
import type { WalkInputs } from '../../src/walker/walk';

function inputs(pkru: number, kvm: '6.16' | '7.3'): WalkInputs {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x100000n), size: 1n << 20n } });
  const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE | CR4.PKE, efer: EFER.LME | EFER.LMA | EFER.NXE, pkru }, undefined, undefined, kvm);
  return (w as unknown as { inputs: WalkInputs }).inputs;
}

describe('x86WalkConstants', () => {
  it('gives each level the SDM reserved bits of IA-32e paging, MAXPHYADDR 46, NXE', () => {
    const c = x86WalkConstants(inputs(0, '7.3'));
    const HI = 0x000f_c000; // bits 51:46
    expect([c.m4h, c.m3h, c.p3h, c.m2h, c.p2h, c.m1h]).toEqual([HI, HI, HI, HI, HI, HI]); // 4-level: no level-5 mask
    expect(c.m4l & 0x80).toBe(0x80); // PS is reserved in a PML4E
    expect(c.p3l).toBe(0x3fff_e000); // 1-GByte page: bits 29:13
    expect(c.p2l).toBe(0x001f_e000); // 2-MByte page: bits 20:13
    expect([c.m3l & 0x80, c.m2l & 0x80, c.m1l]).toEqual([0, 0, 0]); // PS selects the large-page mask; PAT in a PTE
    expect(c.root).toBe(4);
  });

  it('has a pkru_mask only when PKRU can fault, and the 7.3 ACC encoding only for 7.3', () => {
    const a = x86WalkConstants(inputs(0, '7.3'));
    const b = x86WalkConstants(inputs(0b1100, '6.16'));
    expect(a.pkruMask).toBe(0);
    expect(b.pkruMask).not.toBe(0); // CR4.PKE with a non-zero PKRU: the format's mask
    expect([a.v73, b.v73]).toEqual([true, false]);
    expect([a.pkru, b.pkru]).toEqual([0, 0b1100]);
  });
});
