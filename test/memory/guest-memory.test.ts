import { describe, expect, it } from 'vitest';
import { GuestMemory, gpa, gfn, GpaOutsideMemoryError, InvalidArgumentError, MisalignedError } from '../../src';

function mem(): GuestMemory {
  const m = new GuestMemory({ maxPhyAddr: 40 });
  m.addSlot({ base: gpa(0n), size: 1n << 30n, name: 'low' });
  m.addSlot({ base: gpa(0x1_0000_0000n), size: 0x10_0000n, readonly: true, name: 'rom' });
  return m;
}

describe('GuestMemory', () => {
  it('reads zero from untouched frames and allocates on first write only', () => {
    const m = mem();
    expect(m.read64(gpa(0x3000_0000n))).toBe(0n);
    expect(m.stats().framesAllocated).toBe(0);
    m.write64(gpa(0x3000_0008n), 0xdead_beef_cafe_f00dn);
    expect(m.read64(gpa(0x3000_0008n))).toBe(0xdead_beef_cafe_f00dn);
    expect(m.read32(gpa(0x3000_0008n))).toBe(0xcafe_f00d);
    expect(m.read32(gpa(0x3000_000cn))).toBe(0xdead_beef);
    expect(m.read8(gpa(0x3000_000fn))).toBe(0xde);
    expect(m.stats().framesAllocated).toBe(1);
    expect(m.isAllocated(gfn(0x30000))).toBe(true);
  });
  it('byte writes land in the right lane', () => {
    const m = mem();
    m.writeBytes(gpa(0x1ffen), [1, 2, 3, 4]); // crosses a frame boundary
    expect([...m.readBytes(gpa(0x1ffen), 4)]).toEqual([1, 2, 3, 4]);
    expect(m.read32(gpa(0x2000n))).toBe(0x0403);
  });
  it('distinguishes RAM, ROM and no slot', () => {
    const m = mem();
    expect(m.kindOf(gpa(0x1000n))).toBe('ram');
    expect(m.kindOf(gpa(0x1_0000_0000n))).toBe('rom');
    expect(m.kindOf(gpa(0x8000_0000n))).toBe('noslot');
    expect(m.kindOf(gpa(1n << 41n))).toBe('noslot');
    expect(() => m.read64(gpa(0x8000_0000n))).toThrow(GpaOutsideMemoryError);
    expect(() => m.read64(gpa(0x8000_0000n))).toThrow(/0x80000000.*gpa-no-slot/);
  });
  it('rejects bad slots and leaves the slot list unchanged', () => {
    const m = mem();
    expect(() => m.addSlot({ base: gpa(0x1000_0000n), size: 0x1000n })).toThrow(InvalidArgumentError);
    expect(() => m.addSlot({ base: gpa(0x4000_0800n), size: 0x1000n })).toThrow(MisalignedError);
    expect(() => m.addSlot({ base: gpa(0x4000_0000n), size: 0x800n })).toThrow(MisalignedError);
    expect(() => m.addSlot({ base: gpa(0xff_ffff_f000n), size: 0x2000n })).toThrow(/beyond MAXPHYADDR 40/);
    expect(m.slots.length).toBe(2);
  });
  it('rejects misaligned accesses without writing', () => {
    const m = mem();
    expect(() => m.write64(gpa(0x1004n), 1n)).toThrow(MisalignedError);
    expect(() => m.writeBytes(gpa(0x3fff_fffen), [1, 2, 3, 4])).toThrow(GpaOutsideMemoryError);
    expect(m.stats().framesAllocated).toBe(0);
  });
  it('rejects impossible MAXPHYADDR', () => {
    expect(() => new GuestMemory({ maxPhyAddr: 31 })).toThrow(/32 to 52/);
    expect(() => new GuestMemory({ maxPhyAddr: 53 })).toThrow(InvalidArgumentError);
  });
  it('costs memory proportional to what is touched, not to slot size', () => {
    const m = new GuestMemory({ maxPhyAddr: 52 });
    m.addSlot({ base: gpa(0n), size: 1n << 50n }); // a 1 PiB slot
    for (let i = 0n; i < 10n; i++) m.write64(gpa(i << 40n), i);
    expect(m.stats().framesAllocated).toBe(10);
    expect(m.stats().slabBytes).toBeLessThanOrEqual(1 << 20);
  });
});
