/**
 * Bad input to the TD configuration helpers (src/tdx/td-config.ts): GPAW other than 48/52 of any
 * type, a config that makeTdConfig did not make, GPAs that are not u64 bigints or exceed GPAW, and
 * frame numbers out of range are refused with the library's error naming the parameter and value;
 * the (frozen) config is unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { makeTdConfig, isAddrDirect, isGfnAlias, naturalGfn, type TdConfig } from '../../src';
import { FC, Tally, badBigint, badEnum, badInt, junk, refused } from './support';

const t = new Tally('tdx');
const TD = makeTdConfig(48);
const state = () => JSON.stringify(TD, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
const badTd = fc.oneof(junk, fc.constantFrom({}, { gpaw: 48 }, { ...TD, gpaSharedMask: 1 }, { ...TD, gpaw: 'toString' }, { ...TD, sharedBit: 46 }));

describe('TD config helpers refuse bad configs, GPAs and frame numbers', () => {
  it('makeTdConfig: GPAW is 48 or 52', () => {
    fc.assert(fc.property(badEnum([48, 52]), (v) => refused(t, () => makeTdConfig(v), { param: 'gpaw', value: v })), FC);
  });

  it('isAddrDirect / isGfnAlias / naturalGfn: a config from makeTdConfig', () => {
    fc.assert(fc.property(badTd, (v) => {
      refused(t, () => isAddrDirect(v as TdConfig, 0n), { param: 'td', state });
      refused(t, () => isGfnAlias(v as TdConfig, 0), { param: 'td', state });
      refused(t, () => naturalGfn(v as TdConfig, 0n), { param: 'td', state });
    }), FC);
  });

  it('GPAs: u64 bigints, and for naturalGfn within GPAW; GFNs: integers in [0, 2^40)', () => {
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => isAddrDirect(TD, v as bigint), { param: 'gpa', value: v, state });
      refused(t, () => naturalGfn(TD, v as bigint), { param: 'gpa', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.bigInt({ min: 1n << 48n, max: (1n << 64n) - 1n }), (v) => refused(t, () => naturalGfn(TD, v), { param: 'gpa', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 2 ** 40 - 1), (v) => refused(t, () => isGfnAlias(TD, v as number), { param: 'gfn', value: v, state })), FC);
  });
});
