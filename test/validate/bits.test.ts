/**
 * Bad input to the bit helpers (src/bits.ts) and the KVM version check (src/kvm-version.ts):
 * stateless, so each refusal is typed and names the parameter and the value.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { checkKvmVersion, joinU64, rsvdBits } from '../../src';
import { FC, Tally, badEnum, badInt, refused } from './support';

const t = new Tally('bits');

describe('rsvdBits, joinU64, checkKvmVersion', () => {
  it('rsvdBits: bit numbers outside 0..63 (mmu.h rsvd_bits works on u64 masks)', () => {
    fc.assert(fc.property(badInt(0, 63), (v) => {
      refused(t, () => rsvdBits(v as number, 63), { param: 's', value: v });
      refused(t, () => rsvdBits(0, v as number), { param: 'e', value: v });
    }), FC);
  });

  it('joinU64: halves that are not 32-bit integers (cut silently before)', () => {
    fc.assert(fc.property(badInt(-(2 ** 31), 2 ** 32 - 1), (v) => {
      refused(t, () => joinU64(v as number, 0), { param: 'lo', value: v });
      refused(t, () => joinU64(0, v as number), { param: 'hi', value: v });
    }), FC);
  });

  it("checkKvmVersion: anything but '7.3' and '6.16', prototype keys and Symbols included", () => {
    fc.assert(fc.property(fc.oneof(badEnum(['7.3', '6.16']), fc.constant(Symbol('k')), fc.constant(7.3)), (v) => refused(t, () => checkKvmVersion(v), { param: 'kvm', value: v })), FC);
  });
});
