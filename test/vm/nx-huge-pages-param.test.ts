/**
 * Writing the `nx_huge_pages` module parameter at runtime (`mmu.c: set_nx_huge_pages`,
 * mmu.c:7338-7384): a change zaps every VM with `kvm_mmu_zap_all_fast` (mmu.c:7369-7381), and
 * the next faults follow the new value (`is_nx_huge_page_enabled`) in both MMUs.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PageTableBuilder, Vm } from '../../src';
import { LONG_MODE } from './fixtures';

const VA = 0x4000_0000n;
const GPA = 0x400_0000n;

function vmWith(mmu: 'tdp' | 'shadow', nxHugePages: boolean, disableNxHugePages = false) {
  const vm = new Vm({ mmu, spte: { flavour: mmu === 'tdp' ? 'ept' : 'npt', nxHugePages }, disableNxHugePages, checkInvariants: true });
  // Guest tables in 4 KiB-backed memory (as the selftests' slot 0), so only GPA's page can be huge.
  vm.addMemslot({ base: 0n, size: 0x40_0000n, name: 'tables', hostPageSize: '4K' });
  vm.addMemslot({ base: GPA, size: 0x40_0000n, name: 'ram', hostPageSize: '2M' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x30_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  // Shadow paging needs a guest 2 MiB page to map one (nx_huge_pages_test.c:146-147).
  pt.map(VA, GPA, mmu === 'tdp' ? { count: 512, flags: { writable: true } } : { size: '2M', flags: { writable: true } });
  return { vm, v };
}

const zapAllFastEvents = (vm: Vm) => vm.events.all.filter((e) => e.kind === 'zap' && e.outcome.startsWith('fast zap-all')).length;

describe('set_nx_huge_pages at runtime', () => {
  for (const mmu of ['tdp', 'shadow'] as const) {
    it(`${mmu}: off zaps all; the next exec maps 2 MiB; on again splits again`, () => {
      const { vm, v } = vmWith(mmu, true);
      expect(v.fetch(VA).status).toBe('ok');
      // kvm_mmu_hugepage_adjust: huge_page_disallowed = exec && nx_huge_page_workaround_enabled (mmu.c:3299).
      expect(vm.stats.get('pages_2m')).toBe(0);
      expect(vm.stats.get('nx_lpage_splits')).toBe(1);
      const zaps = zapAllFastEvents(vm);
      expect(vm.setNxHugePages(false)).toBe(true);
      expect(vm.nxHugePages).toBe(false);
      expect(zapAllFastEvents(vm)).toBe(zaps + 1); // mmu.c:7376 kvm_mmu_zap_all_fast
      expect(vm.stats.get('pages_4k')).toBe(0); // everything went (with TDP: the roots' trees, mmu.c:6629-6683)
      expect(vm.stats.get('nx_lpage_splits')).toBe(0); // and the split pages with it
      expect(v.fetch(VA).status).toBe('ok');
      expect(vm.stats.get('pages_2m')).toBe(1); // the mitigation is off: an executable huge page
      expect(vm.setNxHugePages(true)).toBe(true);
      expect(vm.stats.get('pages_2m')).toBe(0); // zapped again (mmu.c:7369-7376)
      expect(v.fetch(VA).status).toBe('ok');
      expect(vm.stats.get('pages_2m')).toBe(0);
      expect(vm.stats.get('nx_lpage_splits')).toBe(1);
    });
  }

  it('the same value changes nothing (mmu.c:7369: new_val != old_val)', () => {
    const { vm, v } = vmWith('shadow', true);
    v.fetch(VA);
    const events = vm.events.length;
    expect(vm.setNxHugePages(true)).toBe(false);
    expect(vm.events.length).toBe(events);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
  });

  it('a VM with KVM_CAP_VM_DISABLE_NX_HUGE_PAGES is zapped but keeps executable huge pages', () => {
    const { vm, v } = vmWith('shadow', false, true);
    v.fetch(VA);
    expect(vm.stats.get('pages_2m')).toBe(1);
    expect(vm.setNxHugePages(true)).toBe(true);
    expect(vm.stats.get('pages_2m')).toBe(0); // every VM on vm_list is zapped (mmu.c:7374-7376)
    v.fetch(VA);
    // is_nx_huge_page_enabled = nx_huge_pages && !kvm->arch.disable_nx_huge_pages (mmu.h).
    expect(vm.stats.get('pages_2m')).toBe(1);
    expect(vm.stats.get('nx_lpage_splits')).toBe(0);
  });

  it('a non-boolean is a typed error; nothing changes', () => {
    const { vm, v } = vmWith('tdp', true);
    v.fetch(VA);
    const events = vm.events.length;
    expect(() => vm.setNxHugePages('auto' as unknown as boolean)).toThrow(InvalidArgumentError);
    expect(() => vm.setNxHugePages(1 as unknown as boolean)).toThrow(/nx-huge-pages/);
    expect(vm.nxHugePages).toBe(true);
    expect(vm.config.nxHugePages).toBe(true);
    expect(vm.events.length).toBe(events);
  });
});
