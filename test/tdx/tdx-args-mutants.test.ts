/**
 * The public edge of src/tdx (issue 12: a refusal is a typed error that names the argument, the
 * value and the rule, before anything changes), asserted exactly — class, rule id and text — so
 * that mutation testing finds a failing test for a changed rule, text or bound. test/validate/td.test.ts
 * feeds random junk to the same entry points and checks class, parameter, value and unchanged state;
 * here each refusal is one fixed input, the near miss of a bound included. The bounds follow the
 * hardware and KVM: GPAs below 2^52 (MAXPHYADDR <= 52, SDM Vol. 3A 4.1.4), gfns below 2^40, vCPU
 * indices below KVM_MAX_VCPUS = 4096 (arch/x86/include/asm/kvm_host.h), S-EPT levels of a 4-level
 * S-EPT 1..4 (tdx.c: tdx_sept_link_private_spt links a table below a level >= 2).
 *
 * Equivalent mutant: sept.ts:275 `-1` → `+1` (the vCPU index corruptForTest hands to its argument
 * check only; nothing records it).
 */
import { describe, expect, it } from 'vitest';
import {
  Counters, MemoryAttributes, MmulabError, Sept, TDX_STAT_NAMES, Td, applyAttributeChange, checkAttributeRange, checkTdConfig,
  checkTdxInvariants, faultinPrivate, makeTdConfig, pendingPageAccess, tdgMemPageAccept, tdxPageFault,
} from '../../src';
import { tdFixture, type TdFixture } from './fixtures';

/** `Class rule: message` of the typed error `f` throws, without the `(value …; rule: …)` suffix. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof MmulabError) return `${e.name} ${e.rule}: ${e.message.replace(/ \(value [^;]*; rule: [^)]*\)$/, '')}`;
    throw e;
  }
  return 'no refusal';
}

let fx: TdFixture | undefined;
/** One finalized TD for the whole file: every call here is refused before it changes anything. */
function td(): TdFixture {
  fx ??= tdFixture(48);
  return fx;
}

const MUST_TD = 'InvalidArgumentError td: td must be a Td';
const MUST_TDP = 'InvalidArgumentError tdp-mmu: tdp must be the VM\'s TdpMmu';
const MUST_ATTRS = 'InvalidArgumentError memory-attributes: attrs must be the VM\'s MemoryAttributes';
const MUST_EVENTS = 'InvalidArgumentError event-log: events must be an EventLog';
const GPA_52 = 'must be in [0x0, 0xfffffffffffff]';

describe('faultinPrivate: the memslot holds the gfn (kvm_vcpu_gfn_to_memslot, virt/kvm/kvm_main.c)', () => {
  const attrs = new MemoryAttributes();
  const slot = { baseGfn: 0x100, npages: 0x100, guestMemfd: false } as never;
  it('attrs is the VM\'s MemoryAttributes', () => {
    expect(refusal(() => faultinPrivate({} as never, undefined, 0x100, false))).toBe(MUST_ATTRS);
  });
  it('a slot must be an object with numeric baseGfn and npages that holds the gfn; its last gfn is baseGfn + npages - 1', () => {
    const slotRule = 'InvalidArgumentError memslot: slot must be undefined or the memslot holding gfn';
    const fnSlot = Object.assign(() => 0, { baseGfn: 0x100, npages: 0x100, guestMemfd: false });
    for (const bad of [null, 5, fnSlot, { baseGfn: 0x100 }, { npages: 0x100 }, { baseGfn: '0x100', npages: 0x100 }]) {
      expect(refusal(() => faultinPrivate(attrs, bad as never, 0x100, false)), String(bad)).toBe(slotRule);
    }
    expect(refusal(() => faultinPrivate(attrs, slot, 0xff, false))).toBe(slotRule);
    expect(refusal(() => faultinPrivate(attrs, slot, 0x200, false))).toBe(slotRule);
    // The slot's first and last gfn are held: a shared access to a shared gfn goes on as shared.
    expect(faultinPrivate(attrs, slot, 0x100, false)).toEqual({ kind: 'shared' });
    expect(faultinPrivate(attrs, slot, 0x1ff, false)).toEqual({ kind: 'shared' });
  });
});

describe('KVM_SET_MEMORY_ATTRIBUTES and the conversion', () => {
  it('checkAttributeRange: start below 2^52, end at most 2^52 (the gfns fit the 40-bit attribute index)', () => {
    expect(refusal(() => checkAttributeRange(1n << 52n, (1n << 52n) + 4096n, 'shared'))).toBe(`InvalidArgumentError bigint-range: start ${GPA_52}`);
    expect(refusal(() => checkAttributeRange(0n, (1n << 52n) + 4096n, 'shared'))).toBe('InvalidArgumentError bigint-range: end must be in [0x0, 0x10000000000000]');
    expect(checkAttributeRange((1n << 52n) - 4096n, 1n << 52n, 'private')).toEqual({ start: 2 ** 40 - 1, end: 2 ** 40, toPrivate: true });
  });
  it('applyAttributeChange: the VM\'s TdpMmu and MemoryAttributes, a change object', () => {
    const { vm } = td();
    const c = { start: 0x300, end: 0x301, toPrivate: true };
    expect(refusal(() => applyAttributeChange({} as never, vm.td!.attributes, true, c))).toBe(MUST_TDP);
    expect(refusal(() => applyAttributeChange(vm.tdp, {} as never, true, c))).toBe(MUST_ATTRS);
    expect(refusal(() => applyAttributeChange(vm.tdp, vm.td!.attributes, true, 5 as never))).toBe('InvalidArgumentError object-type: c must be an object');
  });
  it('Td.setMemoryAttributes checks tdp before the range (arguments in order, nothing changed)', () => {
    const { vm } = td();
    expect(refusal(() => vm.td!.setMemoryAttributes({} as never, 1n, 0n, 'shared'))).toBe(MUST_TDP);
  });
});

describe('the TD, its config and S-EPT', () => {
  it('checkTdConfig: a config from makeTdConfig, named td unless told', () => {
    const cfgRule = 'InvalidArgumentError td-config: td must be a TD config made by makeTdConfig';
    expect(refusal(() => checkTdConfig({}))).toBe(cfgRule);
    // A function carrying a config's fields is no config object.
    expect(refusal(() => checkTdConfig(Object.assign(() => 0, makeTdConfig(48))))).toBe(cfgRule);
    expect(refusal(() => checkTdConfig(null))).toBe(cfgRule);
  });
  it('new Td: the config is named config; an EventLog has record()', () => {
    const { vm } = td();
    expect(refusal(() => new Td({} as never, vm.host, vm.events))).toBe('InvalidArgumentError td-config: config must be a TD config made by makeTdConfig');
    expect(refusal(() => new Td(makeTdConfig(48), vm.host, {} as never))).toBe(MUST_EVENTS);
    // Arguments in order: the event log before septVeDisable.
    expect(refusal(() => new Td(makeTdConfig(48), vm.host, {} as never, 'yes' as never))).toBe(MUST_EVENTS);
    // SEPT_VE_DISABLE is a TD attribute userspace sets (tdx.c: TDX_TD_ATTR_SEPT_VE_DISABLE); off unless asked.
    expect(new Td(makeTdConfig(48), vm.host, vm.events).septVeDisable).toBe(false);
  });
  it('new Sept: the VM\'s HostMemory, an EventLog, the TDX counters', () => {
    const { vm } = td();
    const stats = new Counters(TDX_STAT_NAMES);
    expect(refusal(() => new Sept({} as never, 4, vm.events, stats))).toBe('InvalidArgumentError host-memory: host must be the VM\'s HostMemory');
    expect(refusal(() => new Sept(vm.host, 4, {} as never, stats))).toBe(MUST_EVENTS);
    expect(refusal(() => new Sept(vm.host, 4, vm.events, {} as never))).toBe('InvalidArgumentError counters: stats must be the TDX statistics (Counters)');
  });
  it('S-EPT hooks: levels 1..4 of a 4-level S-EPT; a freed table hangs below the root (level <= 3)', () => {
    const s = td().vm.td!.sept;
    expect(refusal(() => s.linkExternalSpt(0x200, 5, -1))).toBe('InvalidArgumentError integer-range: level must be in [1, 4]');
    expect(refusal(() => s.linkExternalSpt(0x200, 0, -1))).toBe('InvalidArgumentError integer-range: level must be in [1, 4]');
    expect(refusal(() => s.freeExternalSpt(0x200, 4, -1))).toBe('InvalidArgumentError integer-range: level must be in [1, 3]');
    expect(refusal(() => s.corruptForTest(0x200, 1, -1n))).toBe('InvalidArgumentError bigint-range: value must be in [0x0, 0xffffffffffffffff]');
  });
});

describe('accepts, PENDING accesses, invariants, the fault path', () => {
  it('tdgMemPageAccept / pendingPageAccess: a Td, a GPA below 2^52, a vCPU with pageFault, an EventLog', () => {
    const { vm } = td();
    const tdx = vm.td!;
    const vcpu = { index: 0, pageFault: () => ({ ret: 0 }) };
    expect(refusal(() => tdgMemPageAccept({} as never, 0x20_1000n, vcpu))).toBe(MUST_TD);
    expect(refusal(() => tdgMemPageAccept(tdx, 1n << 52n, vcpu))).toBe(`InvalidArgumentError bigint-range: gpa ${GPA_52}`);
    expect(refusal(() => tdgMemPageAccept(tdx, 0x20_1000n, 5 as never))).toBe('InvalidArgumentError object-type: v must be an object');
    expect(refusal(() => tdgMemPageAccept(tdx, 0x20_1000n, { index: 0 } as never))).toBe('InvalidArgumentError function-type: v.pageFault must be the vCPU\'s page-fault handler');
    expect(refusal(() => pendingPageAccess(tdx, 0x20_1000n, 0, 0n, {} as never))).toBe(MUST_EVENTS);
  });
  it('checkTdxInvariants: a Td, its TdpMmu, a slot lookup function', () => {
    const { vm } = td();
    expect(refusal(() => checkTdxInvariants({} as never, vm.tdp, [], (g) => vm.slotOfGfn(g)))).toBe(MUST_TD);
    expect(refusal(() => checkTdxInvariants(vm.td!, {} as never, [], (g) => vm.slotOfGfn(g)))).toBe(MUST_TDP);
    expect(refusal(() => checkTdxInvariants(vm.td!, vm.tdp, [], 5 as never))).toBe('InvalidArgumentError function-type: slotOfGfn must be a function');
  });
  it('tdxPageFault: vm.td a Td, vm.tdp a TdpMmu, a GPA below 2^52, the vCPU\'s counters, mirror and direct roots, a u64 gva', () => {
    const { vm, v: vc } = td();
    const exit = { kind: 'ept_violation' as const, reason: 48, gpa: 0x20_1000n, onGuestTable: false, info: 2n, errorCode: 2n };
    const v = { index: 0, stats: vc.stats, mirror: vc.currentMirrorRoot!, direct: vc.currentRoot!, gva: 0n };
    const m = vm as never;
    expect(refusal(() => tdxPageFault({ td: {}, tdp: vm.tdp } as never, exit, v))).toBe('InvalidArgumentError td: vm.td must be a Td (the VM is a TD)');
    expect(refusal(() => tdxPageFault({ td: vm.td, tdp: {} } as never, exit, v))).toBe('InvalidArgumentError tdp-mmu: vm.tdp must be the VM\'s TdpMmu');
    expect(refusal(() => tdxPageFault(m, { ...exit, gpa: 1n << 52n }, v))).toBe(`InvalidArgumentError bigint-range: exit.gpa ${GPA_52}`);
    expect(refusal(() => tdxPageFault(m, exit, 5 as never))).toBe('InvalidArgumentError object-type: v must be an object');
    expect(refusal(() => tdxPageFault(m, exit, { ...v, stats: {} as never }))).toBe('InvalidArgumentError counters: v.stats must be the vCPU statistics (Counters)');
    expect(refusal(() => tdxPageFault(m, exit, { ...v, mirror: {} as never }))).toBe('InvalidArgumentError tdp-page: v.mirror must be the vCPU\'s mirror root');
    expect(refusal(() => tdxPageFault(m, exit, { ...v, direct: {} as never }))).toBe('InvalidArgumentError tdp-page: v.direct must be the vCPU\'s direct root');
    expect(refusal(() => tdxPageFault(m, exit, { ...v, gva: -1n }))).toBe('InvalidArgumentError bigint-range: v.gva must be in [0x0, 0xffffffffffffffff]');
    // The refusal shows the refused value itself (issue 12), not another field's.
    const shown = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        if (e instanceof MmulabError) return e.value;
        throw e;
      }
      return 'no refusal';
    };
    expect(shown(() => tdxPageFault({ td: 5, tdp: vm.tdp } as never, exit, v))).toBe('5');
    expect(shown(() => tdxPageFault({ td: vm.td, tdp: 6 } as never, exit, v))).toBe('6');
    expect(shown(() => tdxPageFault(m, exit, { ...v, stats: 7 as never }))).toBe('7');
    expect(shown(() => tdxPageFault(m, exit, { ...v, mirror: 8 as never }))).toBe('8');
    expect(shown(() => tdxPageFault(m, exit, { ...v, direct: 9 as never }))).toBe('9');
  });
});
