/**
 * KVM 7.2's `mmu_shadow_pages` VM stat (02953418a137 "KVM: x86/mmu: Expose number of shadow MMU
 * shadow pages as a stat", kvm-7x.md §5.6). The name and what it counts are from the v2 posting
 * (lkml.iu.edu 2606.1/15767: "Turn arch.n_used_mmu_pages into a stat, mmu_shadow_pages"); kvm-7x.md
 * has them UNVERIFIED, so this tests the stated assumption: the stat is n_used_mmu_pages — moved by
 * kvm_account_mmu_page / kvm_unaccount_mmu_page (mmu.c:1732-1742, 2684) — and counts shadow-MMU
 * pages only, never TDP MMU pages ("with the TDP MMU, where the shadow MMU is only used for nested
 * TDP", same posting). KVM 6.16 has no such stat.
 */
import { describe, expect, it } from 'vitest';
import { Vm } from '../../src';
import { shadowFixture } from './fixtures';
import { GVA, nested } from './nested-fixture';

const VA = 0x7000_0000n;

describe("mmu_shadow_pages (KVM '7.3')", () => {
  it('follows n_used_mmu_pages under shadow paging, including a zapped root still in use (mmu.c:2684-2697)', () => {
    const f = shadowFixture('paging4');
    expect(f.vm.config.kvm).toBe('7.3');
    f.pt.map(VA, 0x80_0000n);
    f.v.read(VA);
    const m = f.vm.shadow;
    // a 4-level guest's read of one page: root, PDPT, PD and PT shadow pages (kvm_mmu_get_child_sp per level)
    expect(m.nUsedMmuPages).toBe(4);
    expect(f.vm.stats.get('mmu_shadow_pages')).toBe(4);
    f.vm.zapAll();
    // __kvm_mmu_prepare_zap_page unaccounts only pages with root_count 0 (mmu.c:2669-2684).
    expect(f.vm.stats.get('mmu_shadow_pages')).toBe(1);
    f.v.read(VA);
    expect(f.vm.stats.get('mmu_shadow_pages')).toBe(m.nUsedMmuPages);
    expect(f.vm.stats.get('mmu_shadow_pages')).toBe(f.vm.stats.get('mmu_pages'));
  });

  it('counts guest_mmu pages of nested EPT and none of the TDP MMU', () => {
    const n = nested({ ad: true, accessed: true });
    n.l1pt.map(VA, 0x80_0000n);
    expect(n.v.read(VA).status).toBe('ok');
    expect(n.vm.stats.get('tdp_mmu_pages')).toBeGreaterThan(0);
    expect(n.vm.stats.get('mmu_shadow_pages')).toBe(0);
    n.enter();
    expect(n.v.read(GVA).status).toBe('ok');
    expect(n.vm.stats.get('mmu_shadow_pages')).toBe(n.vm.shadow.nUsedMmuPages);
    expect(n.vm.stats.get('mmu_shadow_pages')).toBeGreaterThan(0);
  });
});

describe("mmu_shadow_pages does not exist in KVM '6.16'", () => {
  it('stays 0 while n_used_mmu_pages moves', () => {
    const vm = new Vm({ mmu: 'shadow', kvm: '6.16' });
    const ram = vm.addMemslot({ base: 0n, size: 1n << 24n });
    expect(ram.npages).toBe(4096);
    const v = vm.createVcpu();
    v.read(0x1000n); // paging off: direct shadow pages
    expect(vm.shadow.nUsedMmuPages).toBeGreaterThan(0);
    expect(vm.stats.get('mmu_shadow_pages')).toBe(0);
  });
});
