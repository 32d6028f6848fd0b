/**
 * The TDP root level as `mmu.c: kvm_mmu_get_tdp_level` (5590-5607) picks it from the levels the
 * vendor module passes to `kvm_configure_mmu` (mmu.c:6439-6444): VMX forces none and offers 5 with
 * 5-level EPT (vmx.c:3411-3416, 8710); SVM forces the host's paging depth (svm.c:294-301, 5552-5553).
 */
import { describe, expect, it } from 'vitest';
import { Vm, DEFAULT_FEATURES, kvmMmuGetTdpLevel, makeSpteConfig, type SpteConfigSpec } from '../../src';
import { LONG_MODE } from '../vm/fixtures';
import { PageTableBuilder } from '../../src';

function rootLevel(spte: SpteConfigSpec, guestMaxPhyAddr: number): number {
  const vm = new Vm({ spte, features: { ...DEFAULT_FEATURES, maxPhyAddr: guestMaxPhyAddr }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  pt.map(0x7000_0000n, 0x20_0000n);
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  expect(v.read(0x7000_0000n).status).toBe('ok');
  expect(v.currentRoot!.level).toBe(vm.config.tdpLevel);
  expect(v.rootRole.level).toBe(vm.config.tdpLevel);
  return v.currentRoot!.level;
}

describe('kvm_mmu_get_tdp_level', () => {
  it('EPT with 5-level support: 4 levels while the guest MAXPHYADDR is at most 48', () => {
    expect(rootLevel({ flavour: 'ept', hostMaxPhyAddr: 52, maxTdpLevel: 5 }, 46)).toBe(4); // mmu.c:5604-5605
    expect(rootLevel({ flavour: 'ept', hostMaxPhyAddr: 52, maxTdpLevel: 5 }, 48)).toBe(4); // mmu.c:5604-5605 (≤ 48)
    // The old option name means the same host capability: it no longer forces a 5-level root.
    expect(rootLevel({ flavour: 'ept', hostMaxPhyAddr: 52, tdpLevel: 5 }, 46)).toBe(4); // mmu.c:5604-5605
  });

  it('EPT with 5-level support: 5 levels for a guest MAXPHYADDR above 48', () => {
    expect(rootLevel({ flavour: 'ept', hostMaxPhyAddr: 52, maxTdpLevel: 5 }, 49)).toBe(5); // mmu.c:5607
    expect(rootLevel({ flavour: 'ept', hostMaxPhyAddr: 52, maxTdpLevel: 5 }, 52)).toBe(5); // mmu.c:5607
  });

  it('EPT without 5-level support: 4 levels whatever the guest MAXPHYADDR', () => {
    expect(rootLevel({ flavour: 'ept', hostMaxPhyAddr: 52 }, 52)).toBe(4); // vmx.c:3413-3415, mmu.c:5607
  });

  it('NPT: the host paging depth is forced, 5 with LA57 even for a small guest MAXPHYADDR', () => {
    expect(rootLevel({ flavour: 'npt', hostMaxPhyAddr: 48, maxTdpLevel: 5 }, 46)).toBe(5); // svm.c:297, 5552; mmu.c:5600-5601
    expect(rootLevel({ flavour: 'npt', hostMaxPhyAddr: 51, maxTdpLevel: 4 }, 51)).toBe(4); // svm.c:297, 5552; mmu.c:5600-5601
  });

  it('the function and the configuration agree; the level is derived, not taken', () => {
    expect(kvmMmuGetTdpLevel('ept', 5, 48)).toBe(4); // mmu.c:5604
    expect(kvmMmuGetTdpLevel('ept', 4, 52)).toBe(4); // mmu.c:5607
    expect(kvmMmuGetTdpLevel('npt', 5, 40)).toBe(5); // mmu.c:5600-5601
    const c = makeSpteConfig({ flavour: 'ept', hostMaxPhyAddr: 52, maxTdpLevel: 5, guestMaxPhyAddr: 46 });
    expect([c.tdpLevel, c.maxTdpLevel, c.hardwareFormat.rootLevel]).toEqual([4, 5, 4]);
  });

  it('a TD takes its GPAW as MAXPHYADDR: GPAW 48 on a 5-level host gets 4 levels; GPAW 52 needs 5', () => {
    expect(new Vm({ type: 'tdx', gpaw: 48, spte: { flavour: 'ept', maxTdpLevel: 5 } }).config.tdpLevel).toBe(4); // mmu.c:5594-5595, 5604
    expect(new Vm({ type: 'tdx', gpaw: 52 }).config.tdpLevel).toBe(5); // mmu.c:5594-5595, 5607
  });
});
