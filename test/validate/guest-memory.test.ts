/**
 * Bad input to GuestMemory's queries (src/memory/guest-memory.ts): kindOf, read8, read32, slotOf
 * and gpaOf given values that are not GPAs / frame numbers. Each refusal is typed, names the
 * parameter and value, and leaves the memory's slots, statistics and words unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { GuestMemory, gpa } from '../../src';
import { FC, Tally, badBigint, badInt, memFingerprint, refused, refusedAny } from './support';

const t = new Tally('guest-memory');

describe('GuestMemory: kindOf / read8 / read32 / slotOf / gpaOf', () => {
  it('GPAs, alignment, frame numbers', () => {
    const m = new GuestMemory({ maxPhyAddr: 46 });
    m.addSlot({ base: gpa(0n), size: 0x10_0000n, name: 'ram' });
    m.write32(gpa(0x1000n), 0x1234);
    const state = () => memFingerprint(m);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => m.kindOf(v as never), { param: 'gpa', value: v, state });
      refusedAny(t, () => m.read8(v as never), 'read8', state);
      refusedAny(t, () => m.read32(v as never), 'read32', state);
    }), FC);
    // A 4-byte read must be 4-byte aligned (the model's rule for a guest-table word).
    fc.assert(fc.property(fc.constantFrom(0x1001n, 0x1002n, 0x1003n), (v) => {
      refusedAny(t, () => m.read32(v as never), 'read32 misaligned', state);
    }), FC);
    // Frame numbers of 52-bit GPAs: [0, 2^40) (SDM Vol. 3A 4.1.4).
    fc.assert(fc.property(badInt(0, 2 ** 40 - 1), (v) => {
      refused(t, () => m.slotOf(v as number), { param: 'gfnNum', value: v, state });
      refused(t, () => GuestMemory.gpaOf(v as number), { param: 'gfnNum', value: v, state });
    }), FC);
  });
});
