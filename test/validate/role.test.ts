/** Bad input to register sets and CPUID features (src/cpu, src/role, src/walker): typed, named refusals. */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { calcCpuRole, GvaWalker, GuestMemory, DEFAULT_FEATURES, CR0, CR4, EFER, type PagingRegisters, type CpuFeatures } from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, refused } from './support';

const t = new Tally('role');
const LONG: PagingRegisters = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0x1000n, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA };

describe('calcCpuRole and GvaWalker refuse bad register sets and features', () => {
  it('registers: numbers, strings, negative or > 64-bit values; smm/guestMode not booleans; pkru out of range', () => {
    for (const r of ['cr0', 'cr3', 'cr4', 'efer'] as const) {
      fc.assert(fc.property(badBigint(), (v) => refused(t, () => calcCpuRole({ ...LONG, [r]: v } as PagingRegisters, DEFAULT_FEATURES), { param: `regs.${r}`, value: v })), FC);
    }
    fc.assert(fc.property(badBool, (v) => refused(t, () => calcCpuRole({ ...LONG, smm: v as boolean }, DEFAULT_FEATURES), { param: 'regs.smm', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => calcCpuRole({ ...LONG, guestMode: v as boolean }, DEFAULT_FEATURES), { param: 'regs.guestMode', value: v })), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => calcCpuRole({ ...LONG, pkru: v as number }, DEFAULT_FEATURES), { param: 'regs.pkru', value: v })), FC);
    for (const v of [null, undefined, 3, 'regs']) refused(t, () => calcCpuRole(v as never, DEFAULT_FEATURES), { param: 'regs', value: v });
  });

  it('impossible combinations name the register and the rule', () => {
    const cases: [Partial<PagingRegisters>, string][] = [
      [{ cr0: CR0.PG }, 'CR0'], [{ cr4: 0n }, 'CR4'], [{ efer: EFER.LMA }, 'EFER'], [{ cr0: 1n << 40n }, 'CR0'],
      [{ cr3: 1n << 50n }, 'CR3'], [{ cr4: CR4.PAE | CR4.PCIDE, efer: 0n, cr0: CR0.PE | CR0.PG }, 'CR4'],
    ];
    for (const [u, p] of cases) refused(t, () => calcCpuRole({ ...LONG, ...u }, DEFAULT_FEATURES), { param: p });
  });

  it('features: MAXPHYADDR outside 32..52, flags not booleans, vendor "toString"', () => {
    const feat = (o: object) => ({ ...DEFAULT_FEATURES, ...o }) as CpuFeatures;
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => calcCpuRole(LONG, feat({ maxPhyAddr: v })), { param: 'features.maxPhyAddr', value: v })), FC);
    for (const k of ['nx', 'gbpages', 'la57', 'smep', 'smap', 'pku']) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => calcCpuRole(LONG, feat({ [k]: v })), { param: `features.${k}`, value: v })), { ...FC, numRuns: 8 });
    }
    fc.assert(fc.property(badEnum(['intel', 'amd']), (v) => refused(t, () => calcCpuRole(LONG, feat({ vendor: v })), { param: 'features.vendor', value: v })), FC);
  });

  it('GvaWalker: the same checks before a walker exists; walk() with bad addresses', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => new GvaWalker(mem, { ...LONG, cr3: v as bigint }), { param: 'regs.cr3', value: v })), FC);
    const w = new GvaWalker(mem, LONG);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => w.walk(v as bigint, { kind: 'read' }), { param: 'GVA', value: v })), FC);
  });
});
