/**
 * The memslots generation that MMIO SPTEs carry (Linux v6.16.1): every `kvm_swap_active_memslots`
 * adds `kvm_arch_nr_memslot_as_ids` (kvm_main.c:1664; 2 for a VM without private memory, 1 with
 * it: kvm_host.h:2344), a delete or move swaps twice (kvm_invalidate_memslot, kvm_main.c:1814, then
 * kvm_activate_memslot, kvm_main.c:1777), and a wrap of the generation bits an MMIO SPTE stores
 * zaps everything (`mmu.c: kvm_mmu_invalidate_mmio_sptes`, mmu.c:7275-7298).
 */
import { describe, expect, it } from 'vitest';
import { Vm, guest } from '../../src';
import { MMIO_SPTE_GEN_MASK } from '../../src/spte/spte-config';

const MMIO_GVA = 0x9000_0000n;
const MMIO_GPA = 0x8000_0000n;

function wrapZaps(vm: Vm): number {
  return vm.events.all.filter((e) => e.kind === 'zap' && (e.outcome ?? '').startsWith('MMIO generation wrap')).length;
}

describe('memslots generation (kvm_swap_active_memslots)', () => {
  it('a default VM: +2 per create and flags change, +4 per delete and move (two swaps)', () => {
    const vm = new Vm({ checkInvariants: true });
    // kvm_main.c:1160-1162: address space 0 starts at generation 0.
    expect(vm.mmioGeneration).toBe(0);
    const ram = vm.addMemslot({ base: 0n, size: 1n << 21n, name: 'ram' });
    expect(vm.mmioGeneration).toBe(2); // kvm_create_memslot → kvm_activate_memslot: one swap (kvm_main.c:1843)
    vm.setDirtyLogging(ram, true);
    expect(vm.mmioGeneration).toBe(4); // kvm_update_flags_memslot: one swap (kvm_main.c:1881)
    vm.setDirtyLogging(ram, false);
    expect(vm.mmioGeneration).toBe(6);
    const moved = vm.moveMemslot(ram, 0x4000_0000n);
    expect(vm.mmioGeneration).toBe(10); // kvm_invalidate_memslot + kvm_move_memslot (kvm_main.c:1814, 1868)
    vm.deleteMemslot(moved);
    expect(vm.mmioGeneration).toBe(14); // kvm_invalidate_memslot + kvm_delete_memslot (kvm_main.c:1814, 1855)
  });

  it('a VM with private memory has one address space: +1 per swap (kvm_host.h:2344)', () => {
    const vm = new Vm({ type: 'sw-protected', checkInvariants: true });
    const ram = vm.addMemslot({ base: 0n, size: 1n << 21n, name: 'ram' });
    expect(vm.mmioGeneration).toBe(1);
    vm.deleteMemslot(ram);
    expect(vm.mmioGeneration).toBe(3);
  });

  for (const kvm of ['6.16', '7.3'] as const) {
    it(`KVM ${kvm}: the wrap of the stored generation zaps all (kvm_mmu_zap_all_fast), so a stale MMIO SPTE cannot match again`, { timeout: 60_000 }, () => {
      const g = guest({ vm: { kvm }, checkInvariants: false }); // 2^17 or 2^18 swaps: no per-operation checks
      g.pt.map(MMIO_GVA, MMIO_GPA, { flags: { writable: true } });
      expect(g.vcpu.read(MMIO_GVA).status).toBe('emulated'); // an MMIO SPTE at the current generation
      expect(g.vcpu.stats.get('pf_mmio_spte_created')).toBe(1);
      // RAM appears under the MMIO SPTE: a create zaps nothing, the generation makes the SPTE stale.
      g.vm.addMemslot({ base: MMIO_GPA, size: 1n << 21n, name: 'bar' });
      // spte.h:152 (6.16, 19 bits); kvm-7x.md §5 (7.x, 18 bits): the SPTE stores gen & mask. A flag
      // toggle is one swap (+2): (mask + 1) / 2 swaps in all (two were the creates) bring the stored
      // bits back to the SPTE's.
      const mask = kvm === '6.16' ? MMIO_SPTE_GEN_MASK : (1 << 18) - 1;
      const spare = g.vm.addMemslot({ base: 0x7000_0000n, size: 1n << 12n, name: 'spare' });
      const created = g.vm.mmioGeneration - 4; // the SPTE's generation (two creates since)
      for (let i = 0; i < (mask + 1) / 2 - 2; i++) g.vm.setDirtyLogging(spare, i % 2 === 0);
      expect((g.vm.mmioGeneration - created) & mask).toBe(0);
      // mmu.c:7289-7297: the generation wrapped to 0 on the way: one zap of everything.
      expect(wrapZaps(g.vm)).toBe(1);
      // The access now reaches RAM (a new 4K mapping), not the stale MMIO SPTE.
      const r = g.vcpu.read(MMIO_GVA);
      expect(r.status).toBe('ok');
      expect(g.vcpu.stats.get('pf_emulate')).toBe(1);
    });
  }
});
