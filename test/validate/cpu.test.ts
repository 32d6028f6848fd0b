/**
 * Bad input to the named register sets and the register/feature type checks (src/cpu): mode
 * options of the wrong type or unknown name, CR3/CR4 that are no u64 bigint, flags that are no
 * booleans; register sets and CPUID features of the wrong shape. Typed refusals naming the argument.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pagingOff, paging32Mode, paeMode, longMode, la57Mode, checkRegisterTypes, checkCpuFeatures, DEFAULT_FEATURES, CR0, CR4, EFER } from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('cpu');
const notObject = junk.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v)));

describe('paging-mode register sets refuse bad options', () => {
  it('pagingOff / paging32Mode / paeMode / longMode / la57Mode: an options object of known keys', () => {
    fc.assert(fc.property(notObject, (v) => {
      refused(t, () => pagingOff(v as never), { param: 'o', value: v });
      refused(t, () => paging32Mode(v as never), { param: 'o', value: v });
      refused(t, () => paeMode(v as never), { param: 'o', value: v });
      refused(t, () => longMode(v as never), { param: 'o', value: v });
      refused(t, () => la57Mode(v as never), { param: 'o', value: v });
    }), FC);
    for (const k of ['pcide', 'toString', 'cr0', 'efer']) refused(t, () => longMode(JSON.parse(`{"${k}": true}`)), { param: `o.${k}` });
  });

  it('cr3 and cr4 are u64 bigints; wp, nx, smm, guestMode booleans', () => {
    for (const k of ['cr3', 'cr4']) {
      fc.assert(fc.property(badBigint().filter((v) => v !== undefined), (v) => {
        refused(t, () => longMode({ [k]: v }), { param: `o.${k}`, value: v });
        refused(t, () => paeMode({ [k]: v }), { param: `o.${k}`, value: v });
      }), FC);
    }
    for (const k of ['wp', 'nx', 'smm', 'guestMode']) {
      fc.assert(fc.property(badBool, (v) => {
        refused(t, () => la57Mode({ [k]: v }), { param: `o.${k}`, value: v });
        refused(t, () => paging32Mode({ [k]: v }), { param: `o.${k}`, value: v });
        refused(t, () => pagingOff({ [k]: v }), { param: `o.${k}`, value: v });
      }), { ...FC, numRuns: 10 });
    }
    // CR0.PE|PG|WP, CR4.PAE|LA57, EFER.LME|LMA|NXE: the mode's own bits (SDM Vol. 3A 2.5, 4.1.1).
    expect(la57Mode()).toEqual({ cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE | CR4.LA57, efer: EFER.LME | EFER.LMA | EFER.NXE });
  });
});

describe('register and feature type checks', () => {
  const LONG = longMode({ cr3: 0x1000n });
  it('checkRegisterTypes: an object of known registers, u64 control registers, a 32-bit PKRU, boolean flags', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => checkRegisterTypes('regs', v), { param: 'regs', value: v })), FC);
    for (const r of ['cr0', 'cr3', 'cr4', 'efer']) {
      fc.assert(fc.property(badBigint(), (v) => refused(t, () => checkRegisterTypes('regs', { ...LONG, [r]: v }), { param: `regs.${r}`, value: v })), { ...FC, numRuns: 10 });
    }
    fc.assert(fc.property(badInt(0, 0xffff_ffff).filter((v) => v !== undefined), (v) => refused(t, () => checkRegisterTypes('regs', { ...LONG, pkru: v }), { param: 'regs.pkru', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => checkRegisterTypes('regs', { ...LONG, smm: v }), { param: 'regs.smm', value: v })), FC);
    for (const k of ['cr2', 'toString', 'rip']) refused(t, () => checkRegisterTypes('regs', JSON.parse(`{"${k}": 1}`), true), { param: `regs.${k}` });
  });

  it('checkCpuFeatures: MAXPHYADDR 32..52, boolean flags, vendor intel|amd', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => checkCpuFeatures('features', v), { param: 'features', value: v })), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => checkCpuFeatures('features', { ...DEFAULT_FEATURES, maxPhyAddr: v }), { param: 'features.maxPhyAddr', value: v })), FC);
    fc.assert(fc.property(badEnum(['intel', 'amd']), (v) => refused(t, () => checkCpuFeatures('features', { ...DEFAULT_FEATURES, vendor: v }), { param: 'features.vendor', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => checkCpuFeatures('features', { ...DEFAULT_FEATURES, la57: v }), { param: 'features.la57', value: v })), FC);
  });
});
