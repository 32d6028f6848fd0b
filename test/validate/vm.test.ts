/**
 * Bad input to Vm and Vcpu (src/vm): typed, named refusals; the VM's fingerprint (guest memory,
 * host frames holding every SPTE table, memslots, counters, events, vCPU registers, roles, MMU)
 * unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Vm, CR0, EFER, makeEptp, type Memslot } from '../../src';
import { nested, LONG } from '../shadow/nested-fixture';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, refusedAny, vmFingerprint } from './support';

const t = new Tally('vm');

describe('Vm options and memslots', () => {
  it('options: hostPageSize "toString", unknown names, wrong types', () => {
    fc.assert(fc.property(badEnum(['default', 'tdx', 'sw-protected']), (v) => refused(t, () => new Vm({ type: v as 'tdx' }), { param: 'options.type', value: v })), FC);
    fc.assert(fc.property(badEnum(['tdp', 'shadow']), (v) => refused(t, () => new Vm({ mmu: v as 'tdp' }), { param: 'options.mmu', value: v })), FC);
    for (const k of ['checkInvariants', 'tdp', 'septVeDisable', 'disableNxHugePages', 'slotZapAllQuirk']) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => new Vm({ [k]: v } as never), { param: `options.${k}`, value: v })), { ...FC, numRuns: 8 });
    }
    fc.assert(fc.property(badInt(64, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => new Vm({ maxMmuPages: v as number }), { param: 'options.maxMmuPages', value: v })), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => new Vm({ features: { maxPhyAddr: v, nx: true, gbpages: true, la57: true, smep: true, smap: true, pku: true, vendor: 'intel' } as never }), { param: 'options.features.maxPhyAddr', value: v })), FC);
    for (const v of [null, 5, 'x', Symbol('o')]) refused(t, () => new Vm(v as never), { param: 'options', value: v });
    refused(t, () => new Vm({ hostPageSize: '2M' } as never), { param: 'options.hostPageSize' });
  });

  it('addMemslot: null, bad bases and sizes, readonly "yes", hostPageSize "toString"/"__proto__"', () => {
    const f = nested();
    const state = () => vmFingerprint(f.vm);
    const spec = { base: 0x8000_0000n, size: 0x20_0000n };
    for (const v of [null, undefined, 3, 'spec']) refused(t, () => f.vm.addMemslot(v as never), { param: 'spec', value: v, state });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => f.vm.addMemslot({ ...spec, base: v as bigint }), { param: 'spec.base', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badBigint({ numbersOk: true }), fc.constant(0n)), (v) => refused(t, () => f.vm.addMemslot({ ...spec, size: v as bigint }), { param: 'spec.size', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.vm.addMemslot({ ...spec, readonly: v as boolean }), { param: 'spec.readonly', value: v, state })), FC);
    fc.assert(fc.property(badEnum(['4K', '2M', '1G']), (v) => refused(t, () => f.vm.addMemslot({ ...spec, hostPageSize: v as '4K' }), { param: 'spec.hostPageSize', value: v, state })), FC);
  });

  it('setDirtyLogging given a copy of a slot, or on: "yes", changes nothing', () => {
    const f = nested();
    const state = () => vmFingerprint(f.vm);
    f.enter();
    f.v.read(0x40_0000n);
    const copy: Memslot = { ...f.ram };
    refused(t, () => f.vm.setDirtyLogging(copy, true), { param: 'slot', state });
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...f.ram })), (v) => refused(t, () => f.vm.setDirtyLogging(v as Memslot, true), { param: 'slot', state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.vm.setDirtyLogging(f.ram, v as boolean), { param: 'on', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constant(1n << 60n)), (v) => refused(t, () => f.vm.zapGfnRange(v as bigint, 0x1000n), { param: 'start', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...f.ram })), (v) => refused(t, () => f.vm.moveMemslot(v as Memslot, 0x8000_0000n), { param: 'slot', state })), FC);
  });
});

describe('Vcpu: registers, accesses, stores, nested entry', () => {
  it('setRegisters: smm "yes", numbers for registers, unknown names, impossible combinations', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.setRegisters({ smm: v as boolean }), { param: 'update.smm', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.setRegisters({ guestMode: v as boolean }), { param: 'update.guestMode', value: v, state })), FC);
    for (const r of ['cr0', 'cr3', 'cr4', 'efer'] as const) {
      fc.assert(fc.property(badBigint(), (v) => refused(t, () => f.v.setRegisters({ [r]: v } as never), { param: `update.${r}`, value: v, state })), { ...FC, numRuns: 12 });
    }
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => f.v.setRegisters({ pkru: v as number }), { param: 'update.pkru', value: v, state })), FC);
    refused(t, () => f.v.setRegisters({ cr2: 0n } as never), { param: 'update.cr2', state });
    // Impossible combinations: PG without PE, long mode without PAE, LMA without LME&PG.
    refused(t, () => f.v.setRegisters({ cr0: CR0.PG }), { param: 'CR0', state });
    refused(t, () => f.v.setRegisters({ cr4: 0n }), { param: 'CR4', state });
    refused(t, () => f.v.setRegisters({ efer: EFER.LMA }), { param: 'EFER', state });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => f.v.movCr3(v as bigint), { param: 'value.cr3', value: v, state })), FC);
  });

  it('access/read/write/fetch/invlpg: bad addresses, access objects and user flags', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => {
      refused(t, () => f.v.read(v as bigint), { param: 'address', value: v, state });
      refused(t, () => f.v.invlpg(v as bigint), { param: 'address', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.write(0x40_0000n, v as boolean), { param: 'user', value: v, state })), FC);
    fc.assert(fc.property(badEnum(['read', 'write', 'fetch']), (v) => refused(t, () => f.v.access(0x40_0000n, { kind: v as 'read' }), { param: 'access.kind', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.access(0x40_0000n, { kind: 'read', user: v as boolean }), { param: 'access.user', value: v, state })), FC);
    for (const v of [null, 'read', 3]) refused(t, () => f.v.access(0x40_0000n, v as never), { param: 'access', value: v, state });
  });

  it('store with a number value, a value wider than the store, bad sizes: refused before the access', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    refused(t, () => f.v.store(0x40_0000n, 5 as never), { param: 'value', value: 5, state });
    fc.assert(fc.property(fc.constantFrom(1, 2, 4, 8) as fc.Arbitrary<1 | 2 | 4 | 8>, fc.bigInt({ min: 1n, max: 1n << 70n }), (bytes, extra) => {
      const v = (1n << BigInt(8 * bytes)) - 1n + extra;
      refused(t, () => f.v.store(0x40_0000n, v, bytes), { param: 'value', value: v, state });
    }), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => f.v.store(0x40_0000n, v as bigint), { param: 'value', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.store(0x40_0000n, 1n, 8, v as boolean), { param: 'user', value: v, state })), FC);
  });

  it('enterNestedEpt with a bad EPTP or bad L2 registers leaves the vCPU and VM as they were', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    // Once with no guest_mmu yet, once after an entry and exit (guest_mmu exists with roots).
    for (const round of [0, 1]) {
      if (round === 1) {
        f.enter();
        f.v.read(0x40_0000n);
        f.v.exitNested();
      }
      const state = () => vmFingerprint(f.vm);
      const l2 = { ...LONG, cr3: f.l2pt.root };
      const bad = [
        { eptp: f.eptp | 0x80n, l2 }, // reserved bit 7
        { eptp: f.eptp | (1n << 50n), l2 }, // beyond MAXPHYADDR
        { eptp: makeEptp({ root: f.ept.root, level: 4 }) | 0x38n, l2 }, // PWL 7
        { eptp: f.eptp, l2: { ...l2, cr0: CR0.PG } }, // PG without PE
        { eptp: f.eptp, l2: { ...l2, cr4: 0n } }, // long mode without PAE
        { eptp: f.eptp, l2: { ...l2, smm: 'yes' } },
        { eptp: 5, l2 },
        { eptp: f.eptp, l2: null },
      ];
      for (const e of bad) {
        refusedAny(t, () => f.v.enterNestedEpt({ caps: f.caps, ...e } as never), JSON.stringify(e, (_k, x) => (typeof x === 'bigint' ? x.toString(16) : x)), state);
        expect(f.v.mmu).toBe(f.v.rootMmu);
      }
    }
    fc.assert(fc.property(badEnum(['single', 'global']), (v) => refused(t, () => f.v.invept(v as 'global'), { param: 'type', value: v, state: () => vmFingerprint(f.vm) })), FC);
  });
});
