/**
 * `kvm_mmu_recover_huge_pages` on a shadow-paging VM (mmu.c:7133-7145 → `kvm_rmap_zap_collapsible_sptes`,
 * mmu.c:7084-7130): when dirty logging stops, the 4K leaves of direct pages that could be mapped
 * huge again are zapped, so re-touching the memory maps it huge again.
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, Vm } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

const VA = 0x4000_0000n;
const GPA = 0x400_0000n;
const VA4K = 0x5000_0000n;
const GPA4K = 0x600_0000n;

function loggedShadowVm(hostPageSize: '4K' | '2M' = '2M') {
  const vm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt' }, checkInvariants: true });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  pt.map(VA, GPA, { size: '2M', flags: { writable: true } }); // a guest huge page
  pt.map(VA4K, GPA4K, { count: 2, flags: { writable: true } }); // guest 4K pages: indirect leaves
  return { vm, ram, v };
}

describe('shadow MMU: huge pages after dirty logging (kvm_rmap_zap_collapsible_sptes)', () => {
  it('disable zaps the direct 4K leaves with one flush; re-touching maps 2 MiB again', () => {
    const { vm, ram, v } = loggedShadowVm();
    vm.setDirtyLogging(ram, true);
    for (const off of [0n, 0x3000n, 0x1f_f000n]) expect(v.write(VA + off).status).toBe('ok');
    expect(v.read(VA4K).status).toBe('ok');
    expect(v.read(VA4K + 0x1000n).status).toBe('ok');
    // While logging, hugepage adjust keeps 4K (kvm_mmu_hugepage_adjust: kvm_slot_dirty_track_enabled).
    expect(vm.stats.get('pages_2m')).toBe(0);
    const direct4k = vm.stats.get('pages_4k') - 2; // the guest's two 4K pages are indirect leaves
    expect(direct4k).toBeGreaterThanOrEqual(3);
    const flushes = vm.stats.get('remote_tlb_flush');
    vm.setDirtyLogging(ram, false);
    // mmu.c:7104-7106: only leaves of direct pages below the max mapping level (2) go.
    expect(vm.stats.get('pages_4k')).toBe(2);
    // mmu.c:7128-7130: need_tlb_flush → one kvm_flush_remote_tlbs_memslot.
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes + 1);
    // Re-touch: the fault maps a 2 MiB leaf over the old direct page (mmu_set_spte drops the table).
    for (const off of [0n, 0x3000n, 0x1f_f000n]) expect(v.read(VA + off).status).toBe('ok');
    expect(vm.stats.get('pages_2m')).toBe(1);
    expect(vm.stats.get('pages_4k')).toBe(2);
  });

  it('nothing collapsible (4K host backing): no zap, no flush', () => {
    const { vm, ram, v } = loggedShadowVm('4K');
    vm.setDirtyLogging(ram, true);
    v.write(VA);
    v.write(VA + 0x3000n);
    const leaves = vm.stats.get('pages_4k');
    const flushes = vm.stats.get('remote_tlb_flush');
    vm.setDirtyLogging(ram, false);
    // kvm_mmu_max_mapping_level = host_pfn_mapping_level = 4K: sp->role.level (1) is not below it (mmu.c:7104-7105).
    expect(vm.stats.get('pages_4k')).toBe(leaves);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes); // mmu.c:7128-7130: no zap, no flush
  });
});
