/**
 * The vCPU holds its current MMU as KVM does (`vcpu->arch.mmu` → `root_mmu` or `guest_mmu`;
 * reference kvm-7x.md §4.2 for the 7.3 shape, the same pointer in 6.16) and its walkers
 * (`gva_walk`, `ngpa_walk`); `access()` calls through `mmu`. The pointer is switched where KVM
 * switches it: `nested_ept_init_mmu_context` / `nested_ept_uninit_mmu_context`
 * (vmx/nested.c:479, :490), `nested_svm_init_mmu_context` / `nested_svm_uninit_mmu_context`
 * (svm/nested.c:90, :108), including the nested exit of a reflected EPT12/NPT12 fault.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, EFER } from '../../src';
import { nested, GVA } from '../shadow/nested-fixture';
import { nestedNpt } from '../shadow/nested-npt-fixture';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };

describe('vcpu.mmu', () => {
  it('TDP: root_mmu is the TDP MMU; its role is the vCPU\'s TDP root role; gva_walk is the vCPU\'s walker', () => {
    const vm = new Vm({ spte: { flavour: 'ept' } });
    vm.addMemslot({ base: 0n, size: 1n << 24n });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    pt.map(0x40_0000n, 0x80_0000n);
    const v = vm.createVcpu({ ...LONG, cr3: pt.root });
    expect(v.mmu).toBe(v.rootMmu);
    expect(v.mmu.name).toBe('root_mmu');
    expect(v.mmu.rootRole.word).toBe(v.rootRole.word);
    expect(v.mmu.rootRole.direct).toBe(true); // kvm_calc_tdp_mmu_root_page_role: direct = 1
    expect(v.guestMmu).toBeUndefined();
    expect(v.gvaWalk).toBe(v.walker);
    expect(v.ngpaWalk).toBeUndefined();
    expect(v.read(0x40_0000n).status).toBe('ok');
    expect(v.mmu.invlpg).toBeUndefined(); // with TDP INVLPG has no shadow entry to sync
  });

  it('shadow paging: root_mmu is the shadow MMU (init_kvm_softmmu)', () => {
    const vm = new Vm({ mmu: 'shadow' });
    const v = vm.createVcpu();
    expect(v.mmu).toBe(v.shadow);
    expect(v.mmu.name).toBe('root_mmu');
    expect(v.mmu.rootRole.direct).toBe(true); // paging off: a direct shadow root (nonpaging)
  });

  it('nested EPT: entry points mmu at guest_mmu, the walkers at L2 and EPT12; exit and a reflected fault point it back', () => {
    const n = nested({ ad: true, accessed: true });
    n.enter();
    expect(n.v.mmu).toBe(n.v.guestMmu);
    expect(n.v.mmu).toBe(n.v.nested);
    expect(n.v.mmu.name).toBe('guest_mmu');
    expect(n.v.mmu.rootRole.guestMode).toBe(true); // kvm_calc_shadow_ept_root_page_role
    expect(n.v.ngpaWalk).toBe(n.v.nested!.ngpa);
    expect(n.v.gvaWalk).toBe(n.v.nested!.l2Walker);
    expect(n.v.gvaWalk.role.base.guestMode).toBe(true);
    expect(n.v.read(GVA).status).toBe('ok');
    n.v.exitNested();
    expect(n.v.mmu).toBe(n.v.rootMmu);
    expect(n.v.gvaWalk).toBe(n.v.walker);
    expect(n.v.ngpaWalk).toBeUndefined();
    n.enter();
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } }); // no EPT12 mapping
    expect(n.v.read(GVA + 0x10_0000n).status).toBe('l1-exit');
    expect(n.v.mmu).toBe(n.v.rootMmu);
  });

  it('nested NPT: VMRUN points mmu at guest_mmu, #VMEXIT back at root_mmu', () => {
    const n = nestedNpt();
    n.enter();
    expect(n.v.mmu).toBe(n.v.nestedNpt);
    expect(n.v.mmu.name).toBe('guest_mmu');
    expect(n.v.ngpaWalk).toBe(n.v.nestedNpt!.ngpa);
    n.v.exitNested();
    expect(n.v.mmu).toBe(n.v.rootMmu);
  });
});
