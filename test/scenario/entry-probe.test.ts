/**
 * withEntryBits + walkOutcome: a reserved bit set in a guest PTE faults the walk with RSVD, and the
 * entry is back afterwards (also when the probe throws).
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, gpa, gva, longMode, walkOutcome, withEntryBits } from '../../src';

function setup() {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x4000_0000n, name: 'ram' });
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
  b.map(gva(0x40_1000n), gpa(0x100_1000n), { flags: { writable: true, user: true } });
  return { b, w: new GvaWalker(mem, longMode({ cr3: b.root })) };
}

describe('withEntryBits', () => {
  it('sets the bits for the probe only: bit 51 of a PTE is reserved with MAXPHYADDR 46', () => {
    const { b, w } = setup();
    const before = b.getEntry(gva(0x40_1000n), 1).value;
    const va = gva(0x40_1000n);
    // mmu.c: reset_guest_rsvds_bits_mask — rsvd_bits(maxphyaddr, 51) in every 64-bit entry;
    // a reserved-bit fault reports P|U|RSVD for a user read (kvm_host.h PFERR_* bits).
    const inside = withEntryBits(b, va, 1, 1n << 51n, () => walkOutcome(w.walk(va, { kind: 'read', user: true }), { where: true }));
    expect(inside).toBe('P|U|RSVD at level 1: reserved bit(s) 51 set in the level-1 entry');
    expect(b.getEntry(va, 1).value).toBe(before);
    expect(walkOutcome(w.walk(va, { kind: 'read', user: true }))).toBe('ok');
  });
  it('restores the entry when the probe throws', () => {
    const { b } = setup();
    const va = gva(0x40_1000n);
    const before = b.getEntry(va, 1).value;
    expect(() => withEntryBits(b, va, 1, 1n << 51n, () => { throw new Error('probe'); })).toThrow('probe');
    expect(b.getEntry(va, 1).value).toBe(before);
  });
  it('walkOutcome without `where` gives the error code alone (U: not present, user read)', () => {
    const { w } = setup();
    expect(walkOutcome(w.walk(gva(0x50_0000n), { kind: 'read', user: true }))).toBe('U');
  });
});
