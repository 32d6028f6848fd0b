/**
 * MMIO caching disabled (host MAXPHYADDR 52 with NPT or shadow paging): an access to a GPA without
 * a memslot is emulated at once, without an SPTE (`mmu.c: kvm_handle_noslot_fault`).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder } from '../../src';
import { LONG_MODE } from './fixtures';

const MMIO_GVA = 0x9000_0000n;
const MMIO_GPA = 0x8000_0000n;

function setup(mmu: 'tdp' | 'shadow', flavour: 'ept' | 'npt', hostMaxPhyAddr: number) {
  const vm = new Vm({ spte: { flavour, hostMaxPhyAddr }, mmu, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  pt.map(MMIO_GVA, MMIO_GPA, { flags: { writable: true } });
  return { vm, v };
}

/** Leaf SPTE changes KVM made for the MMIO gfn (the GPA is 1 GiB aligned, so upper levels are skipped). */
function mmioSpteChanges(vm: Vm): number {
  return vm.events.all.filter((e) => e.kind === 'spte_change' && e.level === 1 && e.gpa === MMIO_GPA).length;
}

describe('MMIO with MMIO caching disabled (kvm_handle_noslot_fault)', () => {
  // spte.c:533-536 (kvm_mmu_reset_all_pte_masks): the MMIO mask is BIT(51)|P only when the host
  // MAXPHYADDR < 52, else 0; spte.c:429-430 (kvm_mmu_set_mmio_spte_mask): a zero value clears
  // enable_mmio_caching. NPT and shadow paging use these masks (EPT sets its own, a misconfig).
  for (const [mmu, flavour] of [['tdp', 'npt'], ['shadow', 'npt'], ['shadow', 'ept']] as const) {
    it(`${mmu}/${flavour}, host MAXPHYADDR 52: RET_PF_EMULATE with no SPTE installed, on every access`, () => {
      const { vm, v } = setup(mmu, flavour, 52);
      expect(vm.config.mmioEnabled).toBe(false);
      for (let i = 0; i < 2; i++) {
        const r = v.read(MMIO_GVA);
        // mmu.c:3448-3449: !enable_mmio_caching → RET_PF_EMULATE before touching the page tables.
        expect(r.status).toBe('emulated');
        const last = r.exits[r.exits.length - 1]!;
        expect([last.gpa >> 12n === MMIO_GPA >> 12n || last.gpa === MMIO_GVA, last.ret, last.mmio]).toEqual([true, 'RET_PF_EMULATE', false]);
      }
      // No MMIO SPTE, so the second access faulted the same way again (no RSVD fault, no cache hit).
      expect(mmioSpteChanges(vm)).toBe(0);
      expect(v.stats.get('pf_mmio_spte_created')).toBe(0);
      expect(v.stats.get('pf_emulate')).toBe(2);
    });
  }

  it('tdp/npt, host MAXPHYADDR 51: an MMIO SPTE is installed and the next access is served from it (control)', () => {
    const { vm, v } = setup('tdp', 'npt', 51);
    expect(v.read(MMIO_GVA).status).toBe('emulated');
    expect(mmioSpteChanges(vm)).toBe(1);
    expect(v.stats.get('pf_mmio_spte_created')).toBe(1);
    const b = v.read(MMIO_GVA);
    expect(b.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', true]]);
  });
});
