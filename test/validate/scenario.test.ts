/**
 * Bad input to the scenario helpers (src/scenario), what notebook cells call: specs that are no
 * object, modes and MMUs such as 'toString', counts that are negative, fractional, NaN or huge,
 * addresses that are no u64 page-aligned bigint, and a guest or builder that is not one are refused
 * with the library's error naming the parameter and value, before any VM is built or, for helpers
 * that run on a guest, with the guest's VM unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  guest, shuffled, touchPages, dirtyLogCycles, cr3Switches, dirtyLogScenario, forkScenario, kernelStorePte, mapKernelDirectMap,
  withEntryBits, mmioGenerationScenario, mmioGenerationWraps, mmioWrapScenario, mixedModeVm, kvmShadowZeroCheck, mmuStateCensus,
  shareCensus, nestedNptRoots, nestedTdpScenario, pagingLevelsScenario, ptWriteScenario, probeRegisterWrite, tlbReach, tlbRow,
  tlbWorkloads, tlbComparison, walk2dSetup, nestedMbecScenario, tdGuest, warmRandomReads, longMode, sequentialScan,
  type Guest, type GuestSpec, type PageTableBuilder, type PageRole, type Vm,
} from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, vmFingerprint } from './support';

const t = new Tally('scenario');
const R = { ...FC, numRuns: 12 };
const g = guest({ checkInvariants: false });
g.pt.map(0x4000_0000n, 0x20_0000n, { flags: { writable: true } });
const state = () => vmFingerprint(g.vm);
const notObject = junk.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v)));
const notGuest = fc.oneof(junk, fc.constantFrom({ vm: 1, vcpu: 2, pt: 3 }, { ...g, pt: {} }));
/** Not a page-aligned u64 bigint below 2^57. */
const badVa = fc.oneof(badBigint(), fc.constantFrom(0x4000_0001n, 1n << 57n));

describe('guest() refuses a bad spec before building a VM', () => {
  it('spec, mode, mmu, hostPageSize, ramBytes, checkInvariants, vm, regs', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => guest(v as GuestSpec), { param: 'spec', value: v })), R);
    fc.assert(fc.property(badEnum(['paging32', 'pae', 'paging4', 'paging5']), (v) => refused(t, () => guest({ mode: v as 'pae' }), { param: 'spec.mode', value: v })), R);
    fc.assert(fc.property(badEnum(['tdp', 'shadow']), (v) => refused(t, () => guest({ mmu: v as 'tdp' }), { param: 'spec.mmu', value: v })), R);
    fc.assert(fc.property(badEnum(['4K', '2M', '1G']), (v) => refused(t, () => guest({ hostPageSize: v as '4K' }), { param: 'spec.hostPageSize', value: v })), R);
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constantFrom(0x1000n, 0x20_0001n, (1n << 46n) + 0x1000n)), (v) => refused(t, () => guest({ ramBytes: v as bigint }), { param: 'spec.ramBytes', value: v })), R);
    fc.assert(fc.property(badBool, (v) => refused(t, () => guest({ checkInvariants: v as boolean }), { param: 'spec.checkInvariants', value: v })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => guest({ vm: v as object }), { param: 'spec.vm', value: v })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => guest({ regs: v as object }), { param: 'spec.regs', value: v })), R);
  });
});

describe('workload helpers on a guest refuse bad guests, addresses and counts with the VM unchanged', () => {
  it('shuffled: n and seed', () => {
    fc.assert(fc.property(badInt(0, 1 << 20), (v) => refused(t, () => shuffled(v as number, 1), { param: 'n', value: v })), R);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => shuffled(4, v as number), { param: 'seed', value: v })), R);
  });

  it('touchPages: g, va, pages, kind, seed', () => {
    fc.assert(fc.property(notGuest, (v) => refused(t, () => touchPages(v as Guest, 0x4000_0000n, 1, 'read'), { param: 'g', state })), R);
    fc.assert(fc.property(badVa, (v) => refused(t, () => touchPages(g, v as bigint, 1, 'read'), { param: 'va', value: v, state })), R);
    fc.assert(fc.property(badInt(0, 1 << 20), (v) => refused(t, () => touchPages(g, 0x4000_0000n, v as number, 'read'), { param: 'pages', value: v, state })), R);
    fc.assert(fc.property(badEnum(['read', 'write']), (v) => refused(t, () => touchPages(g, 0x4000_0000n, 1, v as 'read'), { param: 'kind', value: v, state })), R);
    fc.assert(fc.property(badInt(0, 0xffff_ffff).filter((v) => v !== undefined), (v) => refused(t, () => touchPages(g, 0x4000_0000n, 1, 'read', v as number), { param: 'seed', value: v, state })), R);
  });

  it('dirtyLogCycles / cr3Switches: g, spec and each field (logging is not enabled, no space is built)', () => {
    const dl = { va: 0x4000_0000n, cycles: 1, writes: 1 };
    fc.assert(fc.property(notGuest, (v) => refused(t, () => dirtyLogCycles(v as Guest, dl), { param: 'g', state })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => dirtyLogCycles(g, v as typeof dl), { param: 'spec', value: v, state })), R);
    fc.assert(fc.property(badVa, (v) => refused(t, () => dirtyLogCycles(g, { ...dl, va: v as bigint }), { param: 'spec.va', value: v, state })), R);
    for (const k of ['cycles', 'writes', 'stride'] as const) {
      fc.assert(fc.property(badInt(0, 1 << 20).filter((v) => v !== undefined), (v) => refused(t, () => dirtyLogCycles(g, { ...dl, [k]: v }), { param: `spec.${k}`, value: v, state })), R);
    }
    fc.assert(fc.property(badBool, (v) => refused(t, () => dirtyLogCycles(g, { ...dl, eagerSplit: v as boolean }), { param: 'spec.eagerSplit', value: v, state })), R);
    const cs = { va: 0x4000_0000n, spaces: 2, pages: 2, slices: 2 };
    fc.assert(fc.property(notGuest, (v) => refused(t, () => cr3Switches(v as Guest, cs), { param: 'g', state })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => cr3Switches(g, v as typeof cs), { param: 'spec', value: v, state })), R);
    fc.assert(fc.property(badVa, (v) => refused(t, () => cr3Switches(g, { ...cs, va: v as bigint }), { param: 'spec.va', value: v, state })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 64), fc.constant(0)), (v) => refused(t, () => cr3Switches(g, { ...cs, spaces: v as number }), { param: 'spec.spaces', value: v, state })), R);
    fc.assert(fc.property(badInt(0, 0x1_0000), (v) => refused(t, () => cr3Switches(g, { ...cs, pages: v as number }), { param: 'spec.pages', value: v, state })), R);
    fc.assert(fc.property(badInt(0, 1 << 20), (v) => refused(t, () => cr3Switches(g, { ...cs, slices: v as number }), { param: 'spec.slices', value: v, state })), R);
  });

  it('kernelStorePte / mapKernelDirectMap / withEntryBits: builder, address, value, count, probe', () => {
    const pt = g.pt as PageTableBuilder;
    fc.assert(fc.property(notGuest, (v) => refused(t, () => kernelStorePte(v as Guest, pt, 0x4000_0000n, 0n), { param: 'g', state })), R);
    fc.assert(fc.property(junk, (v) => refused(t, () => kernelStorePte(g, v as PageTableBuilder, 0x4000_0000n, 0n), { param: 'pt', state })), R);
    fc.assert(fc.property(badVa, (v) => refused(t, () => kernelStorePte(g, pt, v as bigint, 0n), { param: 'va', value: v, state })), R);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => kernelStorePte(g, pt, 0x4000_0000n, v as bigint), { param: 'value', value: v, state })), R);
    fc.assert(fc.property(junk.filter((v) => v !== undefined), (v) => refused(t, () => mapKernelDirectMap(v as PageTableBuilder), { param: 'pt', state })), R);
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constantFrom(0x10_0001n, 1n << 46n)).filter((v) => v !== undefined), (v) => refused(t, () => mapKernelDirectMap(pt, v as bigint), { param: 'base', value: v, state })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 1 << 20), fc.constant(0)).filter((v) => v !== undefined), (v) => refused(t, () => mapKernelDirectMap(pt, 0x10_0000n, v as number), { param: 'pages', value: v, state })), R);
    fc.assert(fc.property(junk, (v) => refused(t, () => withEntryBits(v as PageTableBuilder, 0x4000_0000n, 1, 0n, () => 0), { param: 'b', state })), R);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => withEntryBits(pt, 0x4000_0000n, 1, v as bigint, () => 0), { param: 'bits', value: v, state })), R);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => refused(t, () => withEntryBits(pt, 0x4000_0000n, 1, 0n, v as () => 0), { param: 'probe', value: v, state })), R);
    fc.assert(fc.property(junk, (v) => refused(t, () => mmioGenerationWraps(v as Guest), { param: 'g', state })), R);
  });
});

describe('scenarios refuse a bad spec before they build anything', () => {
  it('dirtyLogScenario / forkScenario / ptWriteScenario', () => {
    const dl = { pml: false, eagerSplit: true, writesPerCycle: 8 };
    fc.assert(fc.property(notObject, (v) => refused(t, () => dirtyLogScenario(v as typeof dl), { param: 'spec', value: v })), R);
    for (const k of ['pml', 'eagerSplit'] as const) fc.assert(fc.property(badBool, (v) => refused(t, () => dirtyLogScenario({ ...dl, [k]: v }), { param: `spec.${k}`, value: v })), R);
    fc.assert(fc.property(badEnum(['get', 'clear']), (v) => refused(t, () => dirtyLogScenario({ ...dl, harvest: v as 'get' }), { param: 'spec.harvest', value: v })), R);
    fc.assert(fc.property(badInt(0, 4_000_000).filter((v) => v !== undefined), (v) => refused(t, () => dirtyLogScenario({ ...dl, seed: v as number }), { param: 'spec.seed', value: v })), R);
    fc.assert(fc.property(fc.oneof(badInt(512, 131072), fc.constant(513)).filter((v) => v !== undefined), (v) => refused(t, () => dirtyLogScenario({ ...dl, pages: v as number }), { param: 'pages', value: v })), R);
    fc.assert(fc.property(badInt(0, 2048), (v) => refused(t, () => dirtyLogScenario({ ...dl, writesPerCycle: v as number }), { param: 'writesPerCycle', value: v })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => forkScenario(v as { mmu: 'tdp' }), { param: 'spec', value: v })), R);
    fc.assert(fc.property(badEnum(['tdp', 'shadow']), (v) => refused(t, () => forkScenario({ mmu: v as 'tdp' }), { param: 'spec.mmu', value: v })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 0x1_0000), fc.constant(0)).filter((v) => v !== undefined), (v) => refused(t, () => forkScenario({ mmu: 'tdp', pages: v as number }), { param: 'spec.pages', value: v })), R);
    fc.assert(fc.property(badInt(0, 10_000).filter((v) => v !== undefined), (v) => refused(t, () => forkScenario({ mmu: 'tdp', rounds: v as number }), { param: 'spec.rounds', value: v })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => ptWriteScenario(v as { writesPerFlush: 1 }), { param: 'spec', value: v })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 512), fc.constant(0)), (v) => refused(t, () => ptWriteScenario({ writesPerFlush: v as number }), { param: 'spec.writesPerFlush', value: v })), R);
    fc.assert(fc.property(badInt(0, 100_000).filter((v) => v !== undefined), (v) => refused(t, () => ptWriteScenario({ writesPerFlush: 1, flushes: v as number }), { param: 'spec.flushes', value: v })), R);
    fc.assert(fc.property(badBool, (v) => refused(t, () => ptWriteScenario({ writesPerFlush: 1, checkInvariants: v as boolean }), { param: 'spec.checkInvariants', value: v })), R);
    // The VM's own option check refuses it (options.unsync), before anything is built.
    fc.assert(fc.property(badBool, (v) => refused(t, () => ptWriteScenario({ writesPerFlush: 1, unsync: v as boolean }), { param: 'unsync', value: v })), R);
  });

  it('mmioGenerationScenario / mmioWrapScenario: counts (10^9 rounds too), mmu, kvm, type', () => {
    fc.assert(fc.property(notObject.filter((v) => v !== null), (v) => refused(t, () => mmioGenerationScenario(v as object), { param: 'p', value: v })), R);
    for (const k of ['mmioPages', 'rounds', 'accessesPerPage'] as const) {
      fc.assert(fc.property(fc.oneof(badInt(1, 1 << 20), fc.constant(0), fc.constant(1e9)).filter((v) => v !== undefined), (v) => refused(t, () => mmioGenerationScenario({ [k]: v }), { param: k, value: v })), R);
    }
    fc.assert(fc.property(badEnum(['tdp', 'shadow']), (v) => refused(t, () => mmioGenerationScenario({ mmu: v as 'tdp' }), { param: 'p.mmu', value: v })), R);
    fc.assert(fc.property(badEnum(['7.3', '6.16']), (v) => refused(t, () => mmioGenerationScenario({ kvm: v as '7.3' }), { param: 'p.kvm', value: v })), R);
    fc.assert(fc.property(badEnum(['7.3', '6.16']), (v) => refused(t, () => mmioWrapScenario({ kvm: v as '7.3' }), { param: 'p.kvm', value: v })), R);
    fc.assert(fc.property(badEnum(['default', 'sw-protected']), (v) => refused(t, () => mmioWrapScenario({ type: v as 'default' }), { param: 'p.type', value: v })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 1 << 20), fc.constant(0)).filter((v) => v !== undefined), (v) => refused(t, () => mmioWrapScenario({ pages: v as number }), { param: 'pages', value: v })), R);
  });

  it('pagingLevelsScenario / nestedTdpScenario (leaf "toString" is no leaf size) / nestedNptRoots', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => pagingLevelsScenario(v as never), { param: 'p', value: v })), R);
    fc.assert(fc.property(badEnum(['paging4', 'paging5']), (v) => refused(t, () => pagingLevelsScenario({ mode: v as 'paging4', mmu: 'ept', maxTdpLevel: 4 }), { param: 'mode', value: v })), R);
    fc.assert(fc.property(badEnum(['ept', 'npt', 'shadow']), (v) => refused(t, () => pagingLevelsScenario({ mode: 'paging4', mmu: v as 'ept', maxTdpLevel: 4 }), { param: 'mmu', value: v })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => nestedTdpScenario(v as never), { param: 'spec', value: v })), R);
    fc.assert(fc.property(badEnum(['ept', 'npt']), (v) => refused(t, () => nestedTdpScenario({ host: v as 'ept' }), { param: 'host', value: v })), R);
    fc.assert(fc.property(badEnum(['4K', '2M', '1G']).filter((v) => v !== undefined), (v) => refused(t, () => nestedTdpScenario({ host: 'ept', leaf: v as '4K' }), { param: 'leaf', value: v })), R);
    fc.assert(fc.property(badInt(1, 262144).filter((v) => v !== undefined), (v) => refused(t, () => nestedTdpScenario({ host: 'ept', pages: v as number }), { param: 'pages', value: v })), R);
    fc.assert(fc.property(badEnum([4, 5]), (v) => refused(t, () => nestedNptRoots(v as 4, 'paging4'), { param: 'host', value: v })), R);
    fc.assert(fc.property(badEnum(['paging32', 'pae', 'paging4', 'paging5']), (v) => refused(t, () => nestedNptRoots(4, v as 'pae'), { param: 'NPT12', value: v })), R);
  });

  it('mixedModeVm / kvmShadowZeroCheck / mmuStateCensus / shareCensus', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => mixedModeVm(v as never), { param: 'o', value: v })), R);
    fc.assert(fc.property(badEnum(['tdp', 'shadow']), (v) => refused(t, () => mixedModeVm({ mmu: v as 'tdp' }), { param: 'o.mmu', value: v })), R);
    fc.assert(fc.property(badBool, (v) => refused(t, () => mixedModeVm({ mmu: 'tdp', nested: v as boolean }), { param: 'o.nested', value: v })), R);
    fc.assert(fc.property(badEnum(['paging32', 'pae', 'paging4', 'paging5']), (v) => refused(t, () => mixedModeVm({ mmu: 'tdp', modes: [v as 'pae'] }), { param: 'o.modes[0]', value: v })), R);
    fc.assert(fc.property(badInt(1, 16).filter((v) => v !== undefined), (v) => refused(t, () => mixedModeVm({ mmu: 'tdp', perMode: v as number }), { param: 'perMode', value: v })), R);
    const vm = g.vm as Vm;
    const role = g.vcpu.rootRole as PageRole;
    fc.assert(fc.property(junk, (v) => refused(t, () => kvmShadowZeroCheck(v as Vm, role), { param: 'vm', value: v, state })), R);
    fc.assert(fc.property(fc.oneof(junk, fc.constant(role.word)), (v) => refused(t, () => kvmShadowZeroCheck(vm, v as PageRole), { param: 'rootRole', value: v, state })), R);
    fc.assert(fc.property(badBool, (v) => refused(t, () => kvmShadowZeroCheck(vm, role, v as boolean), { param: 'execOnly', value: v, state })), R);
    fc.assert(fc.property(junk, (v) => refused(t, () => mmuStateCensus(v as Vm, ['paging4']), { param: 'vm', value: v, state })), R);
    fc.assert(fc.property(fc.oneof(junk, fc.constant([]), fc.constant(['paging4', 'paging4'])), (v) => refused(t, () => mmuStateCensus(vm, v as ['paging4']), { param: 'modes', state })), R);
    fc.assert(fc.property(badEnum(['paging32', 'pae', 'paging4', 'paging5', 'nested-ept']), (v) => refused(t, () => mmuStateCensus(vm, [v as 'pae']), { param: 'modes[0]', value: v, state })), R);
    fc.assert(fc.property(fc.oneof(junk, fc.constant([null]), fc.constant([5])), (v) => refused(t, () => shareCensus(v as []), { param: 'rows' })), R);
  });

  it('probeRegisterWrite / walk2dSetup / nestedMbecScenario / tdGuest / warmRandomReads', () => {
    const regs = longMode({ cr3: 0x10_0000n });
    fc.assert(fc.property(badEnum(['tdp', 'shadow']), (v) => refused(t, () => probeRegisterWrite(v as 'tdp', regs, () => ({})), { param: 'mmu', value: v })), R);
    fc.assert(fc.property(notObject, (v) => refused(t, () => probeRegisterWrite('tdp', v as typeof regs, () => ({})), { param: 'regs', value: v })), R);
    for (const k of ['cr0', 'cr4', 'efer'] as const) fc.assert(fc.property(badBigint(), (v) => refused(t, () => probeRegisterWrite('tdp', { ...regs, [k]: v }, () => ({})), { param: `regs.${k}`, value: v })), R);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => refused(t, () => probeRegisterWrite('tdp', regs, v as () => object), { param: 'write', value: v })), R);
    fc.assert(fc.property(badEnum(['off', 'paging32', 'pae', 'paging4', 'paging5']), (v) => refused(t, () => walk2dSetup(v as 'off', 4), { param: 'l2Mode', value: v })), R);
    fc.assert(fc.property(badEnum([4, 5]), (v) => refused(t, () => walk2dSetup('paging4', v as 4), { param: 'eptLevels', value: v })), R);
    fc.assert(fc.property(badEnum(['4K', '2M']).filter((v) => v !== undefined), (v) => refused(t, () => walk2dSetup('paging4', 4, v as '4K'), { param: 'leaf', value: v })), R);
    fc.assert(fc.property(badEnum(['7.3', '6.16']), (v) => refused(t, () => nestedMbecScenario(v as '7.3', true, 0n), { param: 'kvm', value: v })), R);
    fc.assert(fc.property(badBool, (v) => refused(t, () => nestedMbecScenario('7.3', v as boolean, 0n), { param: 'mbec', value: v })), R);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => nestedMbecScenario('7.3', true, v as bigint), { param: 'leaf', value: v })), R);
    fc.assert(fc.property(badEnum(['7.3', '6.16']).filter((v) => v !== undefined), (v) => refused(t, () => tdGuest(v as '7.3'), { param: 'kvm', value: v })), R);
    const wr = { tlb: {}, hostPageSize: '4K' as const, pages: 8, stride: 0x1000n, accesses: 8, seed: 1 };
    fc.assert(fc.property(notObject, (v) => refused(t, () => warmRandomReads(v as typeof wr), { param: 'p', value: v })), R);
    fc.assert(fc.property(badEnum(['4K', '2M']), (v) => refused(t, () => warmRandomReads({ ...wr, hostPageSize: v as '4K' }), { param: 'p.hostPageSize', value: v })), R);
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constantFrom(0n, 0x1001n, (1n << 30n) + 0x1000n)), (v) => refused(t, () => warmRandomReads({ ...wr, stride: v as bigint }), { param: 'p.stride', value: v })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 0x1_0000), fc.constant(0), fc.constant(0x1_0001)), (v) => refused(t, () => warmRandomReads({ ...wr, pages: v as number }), { param: 'p.pages', value: v })), R);
    // 1024 pages 1 MiB apart: 1 GiB, more than the RAM above 16 MiB.
    refused(t, () => warmRandomReads({ ...wr, pages: 1024, stride: 0x10_0000n }), { param: 'p.pages', value: 1024 });
    fc.assert(fc.property(badInt(0, 1 << 24), (v) => refused(t, () => warmRandomReads({ ...wr, accesses: v as number }), { param: 'p.accesses', value: v })), R);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => warmRandomReads({ ...wr, seed: v as number }), { param: 'p.seed', value: v })), R);
  });

  it('tlbReach / tlbRow / tlbWorkloads / tlbComparison: every config and trace checked before the first run', () => {
    const tr = sequentialScan({ pages: 4, passes: 1 });
    fc.assert(fc.property(junk, (v) => refused(t, () => tlbReach(v as never), { param: 'tlb', value: v })), R);
    fc.assert(fc.property(badBool, (v) => refused(t, () => tlbRow('tdp-ept', tr, v as boolean), { param: 'tlbOn', value: v })), R);
    fc.assert(fc.property(badEnum(['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow', 'td']), (v) => refused(t, () => tlbRow(v as 'td', tr, true), { param: 'config', value: v })), R);
    fc.assert(fc.property(badInt(0, 0xffff_ffff).filter((v) => v !== undefined), (v) => refused(t, () => tlbWorkloads(v as number), { param: 'seed', value: v })), R);
    fc.assert(fc.property(fc.oneof(badInt(1, 64), fc.constant(0), fc.constant(1e6)).filter((v) => v !== undefined), (v) => refused(t, () => tlbWorkloads(1, v as number), { param: 'scale', value: v })), R);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => tlbComparison(v as [], [tr]), { param: 'configs', value: v })), R);
    fc.assert(fc.property(badEnum(['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow', 'td']), (v) => refused(t, () => tlbComparison(['tdp-ept', v as 'td'], [tr]), { param: 'config', value: v })), R);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => tlbComparison(['tdp-ept'], v as []), { param: 'traces', value: v })), R);
    fc.assert(fc.property(fc.constantFrom(null, 5, {}, { ...tr, ops: 5 }), (v) => refused(t, () => tlbComparison(['tdp-ept'], [tr, v as typeof tr]), { param: 'trace' })), R);
  });
});
