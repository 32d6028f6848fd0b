/** Bad input to GuestMemory (src/memory): typed, named refusals, memory unchanged. */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { GuestMemory, gpa, MAX_BYTES_PER_CALL, type Gpa, type MemSlot } from '../../src';
import { FC, Tally, badBigint, badBool, badInt, junk, memFingerprint, refused } from './support';

const t = new Tally('memory');

function setup(): { m: GuestMemory; slot: MemSlot; state: () => string } {
  const m = new GuestMemory({ maxPhyAddr: 46 });
  const slot = m.addSlot({ base: gpa(0x10_0000n), size: 0x10_0000n, name: 'ram' });
  m.write64(gpa(0x10_0008n), 0x1234_5678_9abc_def0n);
  return { m, slot, state: () => memFingerprint(m) };
}

describe('GuestMemory refuses bad input and stays as it was', () => {
  it('constructor options', () => {
    fc.assert(fc.property(fc.oneof(badInt(32, 52), fc.integer({ min: 53, max: 64 })), (v) => refused(t, () => new GuestMemory({ maxPhyAddr: v as number }), { param: 'maxPhyAddr', value: v })), FC);
    for (const v of [null, 5, 'x', Symbol('o')]) refused(t, () => new GuestMemory(v as never), { param: 'options', value: v });
  });

  it('addSlot: null, NaN, negative base, readonly: "yes", bad sizes and names', () => {
    const { m, state } = setup();
    for (const v of [null, undefined, 7, 'spec']) refused(t, () => m.addSlot(v as never), { param: 'spec', value: v, state });
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constant(-0x1000n)), (v) => refused(t, () => m.addSlot({ base: v as Gpa, size: 0x1000n }), { param: 'spec.base', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badBigint({ numbersOk: true }), fc.constant(0n), fc.constant(0)), (v) => refused(t, () => m.addSlot({ base: gpa(0x100_0000n), size: v as bigint }), { param: 'spec.size', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => m.addSlot({ base: gpa(0x100_0000n), size: 0x1000n, readonly: v as boolean }), { param: 'spec.readonly', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(fc.integer(), fc.constantFrom(null, true, 1n, Symbol('n'), {})), (v) => refused(t, () => m.addSlot({ base: gpa(0x100_0000n), size: 0x1000n, name: v as never }), { param: 'spec.name', value: v, state })), FC);
  });

  it('write8/32/64: bad addresses and values out of range', () => {
    const { m, state } = setup();
    const a = gpa(0x10_0000n);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => m.write8(v as Gpa, 1), { param: 'gpa', value: v, state });
      refused(t, () => m.write32(v as Gpa, 1), { param: 'gpa', value: v, state });
      refused(t, () => m.write64(v as Gpa, 1n), { param: 'gpa', value: v, state });
      refused(t, () => m.read64(v as Gpa), { param: 'gpa', value: v, state });
    }), FC);
    fc.assert(fc.property(badInt(0, 0xff), (v) => refused(t, () => m.write8(a, v as number), { param: 'value', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => m.write32(a, v as number), { param: 'value', value: v, state })), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => m.write64(a, v as bigint), { param: 'value', value: v, state })), FC);
    refused(t, () => m.write8(a, 300), { param: 'value', value: 300, state });
    refused(t, () => m.write64(a, 2n ** 70n), { param: 'value', value: 2n ** 70n, state });
  });

  it('readBytes/writeBytes: bad lengths, bad bytes, ranges leaving the slot', () => {
    const { m, state } = setup();
    const a = gpa(0x10_0000n);
    fc.assert(fc.property(badInt(0, MAX_BYTES_PER_CALL), (v) => refused(t, () => m.readBytes(a, v as number), { param: 'length', value: v, state })), FC);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }), badInt(0, 255), (bytes, bad) => {
      refused(t, () => m.writeBytes(a, [...bytes, bad as number]), { param: `data[${bytes.length}]`, value: bad, state });
    }), FC);
    for (const v of [null, 5, Symbol('d')]) refused(t, () => m.writeBytes(a, v as never), { param: 'data', value: v, state });
    refused(t, () => m.writeBytes(gpa(0x1f_fff0n), new Array(32).fill(1)), { param: 'GPA', state });
  });

  it('removeSlot/moveSlot: a copy of a slot, junk, bad bases', () => {
    const { m, slot, state } = setup();
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...slot })), (v) => refused(t, () => m.removeSlot(v as MemSlot), { param: 'slot', state })), FC);
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constant(-0x1000n)), (v) => refused(t, () => m.moveSlot(slot, v as Gpa), { param: 'newBase', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => m.isAllocated(v as never), { param: 'gfn', value: v, state })), FC);
  });
});
