/**
 * Port of KVM selftests `tools/testing/selftests/kvm/set_memory_region_test.c` (Linux v6.16.1):
 * `test_move_memory_region` and `test_delete_memory_region`, with the KVM_X86_QUIRK_SLOT_ZAP_ALL
 * quirk enabled and disabled (set_memory_region_test.c:641-651), as far as they concern the MMU:
 * moving or deleting a slot the guest is using zaps its mappings (`kvm_set_memslot` →
 * `kvm_invalidate_memslot` → `kvm_arch_flush_shadow_memslot`), so the guest then reads the slot's
 * memory at its new place or exits to userspace as MMIO. Run for EPT, NPT and shadow paging.
 *
 * The selftest's guest spins in a vCPU thread while the host changes the slots; here each guest
 * read is one access after the host step. The window in which a moving slot is invalid (an MMIO
 * exit the selftest tolerates, :151-159) does not exist in the model: the move is atomic.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, EFER, gpa, isShadowPresent, type Memslot, type SpteConfigSpec, type Vcpu, type AccessResult } from '../../src';

const MEM_REGION_SIZE = 0x20_0000n; // set_memory_region_test.c:24
const MEM_REGION_GPA = 0xc000_0000n; // set_memory_region_test.c:30
const MMIO_VAL = 0xbeefn; // set_memory_region_test.c:33

type Mmu = [string, SpteConfigSpec, 'tdp' | 'shadow'];
const MMUS: Mmu[] = [['EPT', { flavour: 'ept' }, 'tdp'], ['NPT', { flavour: 'npt' }, 'tdp'], ['shadow', { flavour: 'npt' }, 'shadow']];

interface Guest {
  vm: Vm;
  v: Vcpu;
  slot: Memslot;
}

/** spawn_vm (set_memory_region_test.c:110-142). */
function spawnVm(spte: SpteConfigSpec, mmu: 'tdp' | 'shadow', disableSlotZapQuirk: boolean): Guest {
  const vm = new Vm({ spte, mmu, checkInvariants: true });
  // Slot 0: the guest's code and page tables (vm_create_with_one_vcpu).
  vm.addMemslot({ base: 0n, size: 0x100_0000n, name: 'slot0' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  // :119-121: MEM_REGION_SLOT, VM_MEM_SRC_ANONYMOUS_THP (2M backing), MEM_REGION_SIZE at MEM_REGION_GPA.
  const slot = vm.addMemslot({ base: MEM_REGION_GPA, size: MEM_REGION_SIZE, name: 'slot10', hostPageSize: '2M' });
  // :127-134: two pages at MEM_REGION_GPA, identity-mapped, zeroed.
  pt.map(MEM_REGION_GPA, MEM_REGION_GPA, { count: 2, flags: { writable: true } });
  // :187-188 / :282-283: KVM_CAP_DISABLE_QUIRKS2 with KVM_X86_QUIRK_SLOT_ZAP_ALL.
  if (disableSlotZapQuirk) vm.disableSlotZapAllQuirk();
  const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE, cr3: pt.root });
  return { vm, v, slot };
}

/** The guest's `READ_ONCE(*((uint64_t *)MEM_REGION_GPA))` (:45): the value, or MMIO_VAL from the vCPU worker on an MMIO exit (:76-86). */
function guestRead(g: Guest): { val: bigint; r: AccessResult } {
  const r = g.v.read(MEM_REGION_GPA);
  if (r.status === 'emulated') {
    // :79-85: a read, 8 bytes, at MEM_REGION_GPA.
    expect(r.access.kind).toBe('read');
    expect(r.gpa).toBe(MEM_REGION_GPA);
    expect(r.emulation).toMatch(/^MMIO/);
    return { val: MMIO_VAL, r };
  }
  expect(r.status).toBe('ok');
  return { val: g.vm.guestMem.read64(r.gpa!), r };
}

/** Whether any valid MMU still maps MEM_REGION_GPA with a present SPTE. */
function regionMapped(g: Guest): boolean {
  const gfn = Number(MEM_REGION_GPA >> 12n);
  if (g.vm.tdpEnabled) {
    const root = g.v.currentRoot;
    if (root === null || root.role.invalid) return false;
    return isShadowPresent(g.vm.tdp.lastSpte(root, gfn)[3]);
  }
  return g.vm.shadow.leafCounts().some((n) => n > 0) && g.vm.shadow.allPages.some((sp) => !g.vm.shadow.isObsolete(sp) && sp.role.level === 1 && [...Array(512).keys()].some((i) => sp.gfnOf(i) === gfn && isShadowPresent(g.vm.shadow.readSpte(sp, i))));
}

/** Level of the TDP leaf mapping MEM_REGION_GPA. */
function tdpLeafLevel(g: Guest): number {
  return g.vm.tdp.lastSpte(g.v.currentRoot!, Number(MEM_REGION_GPA >> 12n))[2];
}

/** What the slot's removal zapped: with the quirk every root/shadow page is obsolete (mmu.c:7269-7270), else only the slot's mappings go (:7271-7272). */
function expectZapped(g: Guest, disableSlotZapQuirk: boolean, rootBefore: unknown): void {
  expect(regionMapped(g)).toBe(false);
  if (g.vm.tdpEnabled) {
    const root = g.v.currentRoot!;
    expect(root).toBe(rootBefore);
    expect(root.role.invalid).toBe(!disableSlotZapQuirk);
  } else {
    const live = g.vm.shadow.allPages.filter((sp) => !g.vm.shadow.isObsolete(sp));
    if (disableSlotZapQuirk) expect(live.length).toBeGreaterThan(0);
    else expect(live).toEqual([]);
  }
}

describe('set_memory_region_test.c', () => {
  for (const [name, spte, mmu] of MMUS) {
    for (const quirkDisabled of [false, true]) {
      const q = quirkDisabled ? 'slot zap quirk disabled' : 'slot zap quirk enabled';

      it(`test_move_memory_region, ${name}, ${q}`, () => {
        const g = spawnVm(spte, mmu, quirkDisabled);
        // guest_code_move_memory_region: GUEST_SYNC, then spinning on 0 (:149-157).
        expect(guestRead(g).val).toBe(0n);
        expect(regionMapped(g)).toBe(true);
        // :20-22: a 2 MiB sized and aligned region is exactly one large page (THP backing).
        if (g.vm.tdpEnabled) expect(tdpLeafLevel(g)).toBe(2);
        const rootBefore = g.v.currentRoot;
        const pfn0 = g.slot.pfnBase;

        // :197: shift the region's base GPA by one page.
        g.slot = g.vm.moveMemslot(g.slot, MEM_REGION_GPA - 4096n);
        expectZapped(g, quirkDisabled, rootBefore);
        // :198: WRITE_ONCE(*hva, 2): the slot's first page, now at MEM_REGION_GPA - 4096.
        g.vm.guestMem.write64(gpa(MEM_REGION_GPA - 4096n), 2n);
        // :193-196: the guest must not see 2; MEM_REGION_GPA is now the slot's second host page.
        const moved = guestRead(g);
        expect(moved.val).not.toBe(2n);
        expect([0n, 1n]).toContain(moved.val); // :162-164
        expect(moved.r.hpa! >> 12n).toBe(BigInt(pfn0 + 1));
        // :20-22: the misaligned slot can no longer be mapped by its one 2M page.
        if (g.vm.tdpEnabled) expect(tdpLeafLevel(g)).toBe(1);

        // :211-214: *hva = 1, then restore the original base; :172-173: the guest sees 1.
        g.vm.guestMem.write64(gpa(MEM_REGION_GPA - 4096n), 1n);
        const rootMid = g.v.currentRoot;
        g.slot = g.vm.moveMemslot(g.slot, MEM_REGION_GPA);
        expectZapped(g, quirkDisabled, rootMid);
        const back = guestRead(g);
        expect(back.val).toBe(1n);
        expect(back.r.hpa! >> 12n).toBe(BigInt(pfn0));
      });

      it(`test_delete_memory_region, ${name}, ${q}`, () => {
        const g = spawnVm(spte, mmu, quirkDisabled);
        expect(guestRead(g).val).toBe(0n); // :240-243
        const rootBefore = g.v.currentRoot;
        // :286: delete the region; :243-244: the guest's read exits as MMIO.
        g.vm.deleteMemslot(g.slot);
        expectZapped(g, quirkDisabled, rootBefore);
        expect(guestRead(g).val).toBe(MMIO_VAL);
        // :290-292 recreate; :247-248: the guest sees 0.
        g.slot = g.vm.addMemslot({ base: MEM_REGION_GPA, size: MEM_REGION_SIZE, name: 'slot10', hostPageSize: '2M' });
        expect(guestRead(g).val).toBe(0n);
        // :296 delete again; :251-252: MMIO.
        const rootAgain = g.v.currentRoot;
        g.vm.deleteMemslot(g.slot);
        expectZapped(g, quirkDisabled, rootAgain);
        expect(guestRead(g).val).toBe(MMIO_VAL);
        // :303: delete the primary memslot; :309-311 expects shutdown or an emulation error: the
        // guest's page tables are gone, so the access cannot complete and KVM is left emulating
        // an access to a guest paging structure without memory (the emulator is not modelled).
        g.vm.deleteMemslot(g.vm.memslots.find((s) => s.name === 'slot0')!);
        const r = g.v.read(MEM_REGION_GPA);
        expect(r.status).not.toBe('ok');
        if (g.vm.tdpEnabled) {
          const last = r.exits[r.exits.length - 1]!;
          expect([last.onGuestTable, last.ret]).toEqual([true, 'RET_PF_EMULATE']);
        }
      });
    }
  }
});
