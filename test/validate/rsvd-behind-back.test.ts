/**
 * Issue 12 item 4: a reserved bit written into a guest PTE behind the MMU's back (by the host,
 * through guest memory, not by a guest store the MMU intercepts) gives the RSVD page fault when
 * the PTE is next used — that is, once no cached translation of it is left.
 *
 * When is it "used"? With TDP the CPU walks the guest tables on a TLB miss (after INVLPG or a
 * flush); the model keeps no guest TLB, so the next access walks it and faults. With shadow
 * paging KVM itself keeps using the shadow SPTE built from the old gPTE: a synced shadow page is
 * write-protected against *guest* writes only (a host write through the HVA is not intercepted;
 * mmu.c:6086 kvm_mmu_track_write runs for guest writes), and INVLPG / a guest TLB flush re-read
 * only gPTEs of *unsync* pages (mmu.c:6351-6352 `if (sp->unsync) kvm_sync_spte(...)` in
 * __kvm_mmu_invalidate_addr). The gPTE is used again when the shadow page is rebuilt — after a
 * zap — and then `FNAME(walk_addr_generic)` faults with PFERR_RSVD_MASK.
 * The expected error code: P|RSVD (+W for a write) — SDM Vol. 3A 4.7 (RSVD is set only with P).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, EFER, gpa } from '../../src';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const VA = 0x40_0000n;
const PFERR_P = 1;
const PFERR_W = 2;
const PFERR_RSVD = 8;

function setup(mmu: 'tdp' | 'shadow', flavour: 'ept' | 'npt') {
  const vm = new Vm({ mmu, spte: { flavour }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  pt.map(VA, 0x200_0000n, { flags: { writable: true } });
  const v = vm.createVcpu({ ...LONG, cr3: pt.root });
  return { vm, pt, v };
}

describe('reserved bits written behind the MMU\'s back fault with RSVD when the PTE is used', () => {
  it.each([['tdp', 'ept'], ['tdp', 'npt'], ['shadow', 'npt']] as const)('%s/%s: bit 51 (above MAXPHYADDR 46) in the leaf', (mmu, flavour) => {
    const { vm, pt, v } = setup(mmu, flavour);
    expect(v.write(VA).status).toBe('ok');
    const leaf = pt.getEntry(VA, 1);
    // The host writes the PTE directly: no guest store, no write tracking.
    vm.guestMem.write64(leaf.gpa, leaf.value | (1n << 51n));
    v.invlpg(VA); // the guest's own invalidation of the translation (a TLB miss follows)
    if (mmu === 'shadow') {
      // KVM keeps the synced shadow page's SPTE (mmu.c:6351): the stale translation still works.
      expect(v.write(VA).status).toBe('ok');
      vm.zapAll(); // the shadow page is rebuilt from the gPTE on the next fault
    }
    const r = v.write(VA);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk.status).toBe('fault');
    if (r.guestWalk.status === 'fault') {
      expect(r.guestWalk.reason).toBe('reserved-bit');
      expect(r.guestWalk.errorCode & (PFERR_P | PFERR_W | PFERR_RSVD)).toBe(PFERR_P | PFERR_W | PFERR_RSVD);
    }
  });

  it.each([['tdp', 'ept'], ['shadow', 'npt']] as const)('%s/%s: a reserved bit in a non-leaf entry (PS in a PML4E)', (mmu, flavour) => {
    const { vm, pt, v } = setup(mmu, flavour);
    expect(v.read(VA).status).toBe('ok');
    const top = pt.getEntry(VA, 4);
    vm.guestMem.write64(gpa(top.gpa as bigint), top.value | 0x80n); // PML4E.PS is reserved (SDM Table 4-15)
    v.flushGuestTlb();
    if (mmu === 'shadow') vm.zapAll();
    const r = v.read(VA);
    expect(r.status).toBe('guest-pf');
    if (r.guestWalk.status === 'fault') expect(r.guestWalk.reason).toBe('reserved-bit');
  });
});
