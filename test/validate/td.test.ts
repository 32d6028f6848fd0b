/**
 * Bad input to the TD side of the engine (src/tdx): the S-EPT hooks and queries, memory
 * attributes, the private fault-in, attribute conversions, TDG.MEM.PAGE.ACCEPT, PENDING-page
 * accesses, the TDX invariants and the TD fault path. Each refusal is typed, names the parameter
 * and value, and leaves the VM (host frames, memslots, counters, events), the TD's counters, its
 * S-EPT entries and its attributes unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  Counters, Sept, Td, applyAttributeChange, checkAttributeRange, checkTdConfig, checkTdxInvariants, faultinPrivate, makeTdConfig,
  memoryFault, pendingPageAccess, tdgMemPageAccept, tdxPageFault, MisalignedError, TDX_STAT_NAMES,
} from '../../src';
import { tdFixture, privateAndSharedTouched } from '../tdx/fixtures';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, refusedRule, vmFingerprint } from './support';

const t = new Tally('td');
const RUNS = { ...FC, numRuns: 10 };
const GFN_MAX = 2 ** 40 - 1; // 52-bit GPAs (SDM Vol. 3A 4.1.4: MAXPHYADDR <= 52)
const junkDefined = junk.filter((v) => v !== undefined);

function td() {
  const fx = privateAndSharedTouched(tdFixture(48));
  const tdx = fx.vm.td!;
  const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
  const state = () => vmFingerprint(fx.vm) + JSON.stringify([tdx.stats.snapshot(), tdx.sept.entries(), tdx.sept.nrPremapped, tdx.attributes.privateCount, tdx.dead], big);
  return { ...fx, tdx, sept: tdx.sept, state };
}

describe('Sept: hooks and queries', () => {
  it('gfns in [0, 2^40), levels of the S-EPT, frames, vCPU indices, values', () => {
    const f = td();
    const s = f.sept;
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => {
      refused(t, () => s.linkExternalSpt(v as number, 2, -1), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.setExternalSpte(v as number, 1, 0x100, -1), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.removeExternalSpte(v as number, 1, 0x100, -1), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.freeExternalSpt(v as number, 1, -1), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.pageAdd(v as number, 0x100, false, -1), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.accept(v as number, 0), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.lookup(v as number), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.isPending(v as number), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.isPremapped(v as number), { param: 'gfn', value: v, state: f.state });
      refused(t, () => s.corruptForTest(v as number, 1, 0n), { param: 'gfn', value: v, state: f.state });
    }), RUNS);
    // A 4-level S-EPT: entries at levels 1..4 (a SEPT.ADD at level 1 is the TDX module's refusal), a
    // freed table hangs below level 4 (TDX module ABI; tdx.c tdx_sept_link_private_spt).
    fc.assert(fc.property(badInt(1, 4), (v) => {
      refused(t, () => s.linkExternalSpt(0x200, v as number, -1), { param: 'level', value: v, state: f.state });
      refused(t, () => s.setExternalSpte(0x200, v as number, 0x100, -1), { param: 'level', value: v, state: f.state });
      refused(t, () => s.removeExternalSpte(0x200, v as number, 0x100, -1), { param: 'level', value: v, state: f.state });
      refused(t, () => s.corruptForTest(0x200, v as number, 0n), { param: 'level', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badInt(1, 3), (v) => refused(t, () => s.freeExternalSpt(0x200, v as number, -1), { param: 'level', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => {
      refused(t, () => s.setExternalSpte(0x200, 1, v as number, -1), { param: 'pfn', value: v, state: f.state });
      refused(t, () => s.pageAdd(0x200, v as number, false, -1), { param: 'pfn', value: v, state: f.state });
      refused(t, () => s.removeExternalSpte(0x200, 1, v as number, -1), { param: 'oldPfn', value: v, state: f.state });
    }), RUNS);
    // KVM_MAX_VCPUS = 4096 (arch/x86/include/asm/kvm_host.h); -1: the VM.
    fc.assert(fc.property(badInt(-1, 4095), (v) => {
      refused(t, () => s.linkExternalSpt(0x200, 2, v as number), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => s.accept(0x200, v as number), { param: 'vcpu', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBool, (v) => refused(t, () => s.pageAdd(0x200, 0x100, v as boolean, -1), { param: 'measure', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => s.corruptForTest(0x200, 1, v as bigint), { param: 'value', value: v, state: f.state })), RUNS);
  });

  it('new Sept: host memory, a 4/5-level S-EPT, an event log, TDX counters', () => {
    const f = td();
    const stats = new Counters(TDX_STAT_NAMES);
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => new Sept(v as never, 4, f.vm.events, stats), { param: 'host', state: f.state });
      refused(t, () => new Sept(f.vm.host, 4, v as never, stats), { param: 'events', state: f.state });
      refused(t, () => new Sept(f.vm.host, 4, f.vm.events, v as never), { param: 'stats', state: f.state });
    }), RUNS);
    fc.assert(fc.property(badInt(4, 5), (v) => refused(t, () => new Sept(f.vm.host, v as number, f.vm.events, stats), { param: 'level', value: v, state: f.state })), RUNS);
  });
});

describe('memory attributes and conversions', () => {
  it('MemoryAttributes: gfns, ranges, booleans', () => {
    const f = td();
    const a = f.tdx.attributes;
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => {
      refused(t, () => a.isPrivate(v as number), { param: 'gfn', value: v, state: f.state });
      refused(t, () => a.uniformLevel(v as number), { param: 'gfn', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX + 1), (v) => refused(t, () => a.set(v as number, 0x300, true), { param: 'start', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(0x300, GFN_MAX + 1), (v) => refused(t, () => a.set(0x300, v as number, true), { param: 'end', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badBool, (v) => refused(t, () => a.set(0x300, 0x301, v as boolean), { param: 'isPrivate', value: v, state: f.state })), RUNS);
  });

  it('checkAttributeRange / applyAttributeChange / Td.setMemoryAttributes', () => {
    const f = td();
    fc.assert(fc.property(badBigint({ max: (1n << 52n) - 1n }), (v) => {
      refused(t, () => checkAttributeRange(v as bigint, 0x40_0000n, 'shared'), { param: 'start', value: v, state: f.state });
      refused(t, () => f.tdx.setMemoryAttributes(f.vm.tdp, v as bigint, 0x40_0000n, 'shared'), { param: 'start', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBigint({ max: 1n << 52n }), (v) => refused(t, () => checkAttributeRange(0x30_0000n, v as bigint, 'shared'), { param: 'end', value: v, state: f.state })), RUNS);
    // kvm_vm_ioctl_set_mem_attributes refuses attributes other than KVM_MEMORY_ATTRIBUTE_PRIVATE (kvm_main.c:2605-2608).
    fc.assert(fc.property(badEnum(['private', 'shared']), (v) => {
      refusedRule(t, () => checkAttributeRange(0x30_0000n, 0x30_1000n, v), MisalignedError, 'mem-attr-value', f.state);
    }), RUNS);
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => f.tdx.setMemoryAttributes(v as never, 0x30_0000n, 0x30_1000n, 'private'), { param: 'tdp', state: f.state });
      refused(t, () => applyAttributeChange(v as never, f.tdx.attributes, true, { start: 0x300, end: 0x301, toPrivate: true }), { param: 'tdp', state: f.state });
      refused(t, () => applyAttributeChange(f.vm.tdp, v as never, true, { start: 0x300, end: 0x301, toPrivate: true }), { param: 'attrs', state: f.state });
      refused(t, () => applyAttributeChange(f.vm.tdp, f.tdx.attributes, true, v as never), { param: 'c', state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => applyAttributeChange(f.vm.tdp, f.tdx.attributes, v as boolean, { start: 0x300, end: 0x301, toPrivate: true }), { param: 'mirrored', value: v, state: f.state });
      refused(t, () => applyAttributeChange(f.vm.tdp, f.tdx.attributes, true, { start: 0x300, end: 0x301, toPrivate: v as boolean }), { param: 'c.toPrivate', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX + 1), (v) => refused(t, () => applyAttributeChange(f.vm.tdp, f.tdx.attributes, true, { start: v as number, end: 0x301, toPrivate: true }), { param: 'c.start', value: v, state: f.state })), RUNS);
  });

  it('faultinPrivate / memoryFault: attributes, slots, gfns, booleans, reasons', () => {
    const f = td();
    const a = f.tdx.attributes;
    fc.assert(fc.property(junk, (v) => refused(t, () => faultinPrivate(v as never, f.ram, 0x200, true), { param: 'attrs', state: f.state })), RUNS);
    // The slot holds the gfn: RAM is gfns 0 .. 0x3ffff.
    fc.assert(fc.property(fc.oneof(junkDefined, fc.constant({ ...f.ram, baseGfn: 0x4_0000 })), (v) => refused(t, () => faultinPrivate(a, v as never, 0x200, true), { param: 'slot', state: f.state })), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => {
      refused(t, () => faultinPrivate(a, f.ram, v as number, true), { param: 'gfn', value: v, state: f.state });
      refused(t, () => memoryFault(v as number, true, 'x'), { param: 'gfn', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => faultinPrivate(a, f.ram, 0x200, v as boolean), { param: 'isPrivate', value: v, state: f.state });
      refused(t, () => memoryFault(0x200, v as boolean, 'x'), { param: 'isPrivate', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => memoryFault(0x200, true, v as string), { param: 'reason', value: v, state: f.state })), RUNS);
  });
});

describe('the TD, accepts, PENDING accesses, invariants, the fault path', () => {
  it('new Td / checkTdConfig: a config from makeTdConfig, an event log, a boolean', () => {
    const f = td();
    const badCfg = fc.oneof(junk, fc.constantFrom({}, { ...makeTdConfig(48), gpaw: 'toString' }, { ...makeTdConfig(48), sharedBit: 46 })) as fc.Arbitrary<unknown>;
    fc.assert(fc.property(badCfg, (v) => {
      refused(t, () => new Td(v as never, f.vm.host, f.vm.events), { param: 'config', state: f.state });
      refused(t, () => checkTdConfig(v), { param: 'td', state: f.state });
    }), RUNS);
    fc.assert(fc.property(junk, (v) => refused(t, () => new Td(makeTdConfig(48), f.vm.host, v as never), { param: 'events', state: f.state })), RUNS);
    fc.assert(fc.property(badBool, (v) => refused(t, () => new Td(makeTdConfig(48), f.vm.host, f.vm.events, v as boolean), { param: 'septVeDisable', value: v, state: f.state })), RUNS);
  });

  it('tdgMemPageAccept / pendingPageAccess: a Td, GPAs below 2^52, a vCPU, an event log', () => {
    const f = td();
    const vcpu = { index: 0, pageFault: () => ({ ret: 0 }) };
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => tdgMemPageAccept(v as never, 0x20_1000n, vcpu), { param: 'td', state: f.state });
      refused(t, () => pendingPageAccess(v as never, 0x20_1000n, 0, 0n, f.vm.events), { param: 'td', state: f.state });
      refused(t, () => tdgMemPageAccept(f.tdx, 0x20_1000n, v as never), { param: 'v', state: f.state });
      refused(t, () => pendingPageAccess(f.tdx, 0x20_1000n, 0, 0n, v as never), { param: 'events', state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBigint({ max: (1n << 52n) - 1n }), (v) => {
      refused(t, () => tdgMemPageAccept(f.tdx, v as bigint, vcpu), { param: 'gpa', value: v, state: f.state });
      refused(t, () => pendingPageAccess(f.tdx, v as bigint, 0, 0n, f.vm.events), { param: 'gpa', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => pendingPageAccess(f.tdx, 0x20_1000n, 0, v as bigint, f.vm.events), { param: 'gva', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(-1, 4095), (v) => {
      refused(t, () => pendingPageAccess(f.tdx, 0x20_1000n, v as number, 0n, f.vm.events), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdgMemPageAccept(f.tdx, 0x20_1000n, { ...vcpu, index: v as number }), { param: 'v.index', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => refused(t, () => tdgMemPageAccept(f.tdx, 0x20_1000n, { index: 0, pageFault: v as never }), { param: 'v.pageFault', state: f.state })), RUNS);
  });

  it('checkTdxInvariants: a Td, its TdpMmu, root frames, a slot lookup', () => {
    const f = td();
    const roots = [f.v.currentRoot!.pfn];
    const slotOf = (g: number) => f.vm.slotOfGfn(g);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => {
      refused(t, () => checkTdxInvariants(v as never, f.vm.tdp, roots, slotOf), { param: 'td', state: f.state });
      refused(t, () => checkTdxInvariants(f.tdx, v as never, roots, slotOf), { param: 'tdp', state: f.state });
      refused(t, () => checkTdxInvariants(f.tdx, f.vm.tdp, roots, v as never), { param: 'slotOfGfn', state: f.state });
    }), RUNS);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => checkTdxInvariants(f.tdx, f.vm.tdp, v as never, slotOf), { param: 'loadedRootPfns', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => refused(t, () => checkTdxInvariants(f.tdx, f.vm.tdp, [v as number], slotOf), { param: 'loadedRootPfns[0]', value: v, state: f.state })), RUNS);
  });

  it('tdxPageFault: a TD VM, an EPT exit, a vCPU with its roots', () => {
    const f = td();
    const exit = { kind: 'ept_violation' as const, reason: 48, gpa: 0x20_1000n, onGuestTable: false, info: 2n, errorCode: 2n };
    const v = { index: 0, stats: f.v.stats, mirror: f.v.currentRoot!, direct: f.v.currentRoot!, gva: 0n };
    fc.assert(fc.property(junk, (x) => {
      refused(t, () => tdxPageFault(x as never, exit, v), { param: 'vm', state: f.state });
      refused(t, () => tdxPageFault(f.vm as never, x as never, v), { param: 'exit', state: f.state });
      refused(t, () => tdxPageFault(f.vm as never, exit, x as never), { param: 'v', state: f.state });
      refused(t, () => tdxPageFault({ td: x, tdp: f.vm.tdp } as never, exit, v), { param: 'vm.td', state: f.state });
    }), RUNS);
    fc.assert(fc.property(badEnum(['ept_violation', 'ept_misconfig']), (x) => refused(t, () => tdxPageFault(f.vm as never, { ...exit, kind: x as never }, v), { param: 'exit.kind', value: x, state: f.state })), RUNS);
    fc.assert(fc.property(badBigint({ max: (1n << 52n) - 1n }), (x) => refused(t, () => tdxPageFault(f.vm as never, { ...exit, gpa: x as bigint }, v), { param: 'exit.gpa', value: x, state: f.state })), RUNS);
    fc.assert(fc.property(badBigint(), (x) => refused(t, () => tdxPageFault(f.vm as never, { ...exit, errorCode: x as bigint }, v), { param: 'exit.errorCode', value: x, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(-1, 4095), (x) => refused(t, () => tdxPageFault(f.vm as never, exit, { ...v, index: x as number }), { param: 'v.index', value: x, state: f.state })), RUNS);
    fc.assert(fc.property(junk, (x) => {
      refused(t, () => tdxPageFault(f.vm as never, exit, { ...v, stats: x as never }), { param: 'v.stats', state: f.state });
      refused(t, () => tdxPageFault(f.vm as never, exit, { ...v, mirror: x as never }), { param: 'v.mirror', state: f.state });
    }), RUNS);
  });
});
