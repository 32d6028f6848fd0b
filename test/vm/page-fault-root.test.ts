/**
 * A TDP exit handled while the vCPU has no usable root (`Vcpu.pageFault`, the exit-handler edge).
 * KVM loads a root only on the way into the guest (`vcpu_enter_guest` → `kvm_mmu_reload`), never in
 * the fault handler: with no root loaded `kvm_mmu_page_fault` WARNs and retries before counting the
 * fault (mmu.c:6246-6247); with an obsolete root (invalidated by a zap while the guest ran) the
 * fault is counted (mmu.c:6274) and `is_page_fault_stale` retries it before anything is mapped
 * (mmu.c:4826-4829, 4682-4689; a TDP MMU root is obsolete once role.invalid, mmu.c:2090-2093).
 * The access loop then re-enters, loads a new root and faults again. Linux v6.16.1.
 */
import { describe, expect, it } from 'vitest';
import { RET_PF, Vm, type TdpExit } from '../../src';

const READ_EXIT: TdpExit = { kind: 'ept_violation', reason: 48, gpa: 0x20_0000n, onGuestTable: false, info: 1n, errorCode: 4n };

function flat() {
  const vm = new Vm({ spte: { flavour: 'ept', kvm: '6.16' }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const v = vm.createVcpu(); // paging off: GVA = GPA
  return { vm, v };
}

const rootAllocs = (vm: Vm, from: number) => vm.events.all.slice(from).filter((e) => e.kind === 'root_alloc').length;

describe('kvm_mmu_page_fault without a valid root', () => {
  it('no root loaded: RET_PF_RETRY before pf_taken, no root allocated, nothing mapped (mmu.c:6246-6247)', () => {
    const { vm, v } = flat();
    expect(v.currentRoot).toBeNull();
    const from = vm.events.length;
    const pages = vm.tdp.pageCount;
    const r = v.pageFault(READ_EXIT);
    expect(r.ret).toBe(RET_PF.RETRY);
    expect(v.stats.get('pf_taken')).toBe(0); // the WARN returns before mmu.c:6274
    expect(v.stats.get('pf_fixed')).toBe(0);
    expect(rootAllocs(vm, from)).toBe(0);
    expect(v.currentRoot).toBeNull();
    expect(vm.tdp.pageCount).toBe(pages);
    expect(vm.stats.get('spte_changes')).toBe(0);
  });

  it('an obsolete root: counted (mmu.c:6274), then RET_PF_RETRY from is_page_fault_stale with nothing mapped (mmu.c:4828-4829)', () => {
    const { vm, v } = flat();
    v.read(0x1000n);
    const old = v.currentRoot!;
    vm.zapAllFast(); // kvm_mmu_zap_all_fast: the root is invalidated and zapped while the vCPU holds it
    expect(old.role.invalid).toBe(true);
    const from = vm.events.length;
    const [taken, changes] = [v.stats.get('pf_taken'), vm.stats.get('spte_changes')];
    const r = v.pageFault(READ_EXIT);
    expect([r.ret, r.fast]).toEqual([RET_PF.RETRY, false]);
    expect(v.stats.get('pf_taken')).toBe(taken + 1);
    expect(vm.stats.get('spte_changes')).toBe(changes); // kvm_tdp_mmu_map is not reached (mmu.c:4831)
    expect(rootAllocs(vm, from)).toBe(0);
    expect(v.currentRoot).toBe(old);
    // The next entry loads a new root (kvm_mmu_reload), the access faults on it and is fixed.
    const a = v.read(0x20_0000n);
    expect(a.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
    expect(rootAllocs(vm, from)).toBe(1);
    expect(v.currentRoot).not.toBe(old);
  });
});
