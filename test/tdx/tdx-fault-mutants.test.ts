/**
 * Branches of src/tdx/tdx-page-fault.ts (a TD's EPT violation, `tdx_handle_ept_violation` →
 * `kvm_mmu_page_fault`) that the scenario tests do not take, asserted by their observable results
 * (access status, emulation reason, counters, page_fault events). Expected values cite Linux
 * v6.16.1 arch/x86/kvm/mmu/mmu.c and virt/kvm/kvm_main.c.
 */
import { describe, expect, it } from 'vitest';
import { tdFixture } from './fixtures';

describe('TD shared faults that end in emulation', () => {
  it('a shared write to a read-only memslot is emulated (KVM_PFN_ERR_RO_FAULT, mmu.c:3414-3415); a read maps it', () => {
    const { vm, v, pt, shared } = tdFixture();
    // Attributes start shared (kvm_host.h:2533): the slot needs no conversion.
    vm.addMemslot({ base: 0x4000_0000n, size: 0x1000n, name: 'rom', readonly: true });
    pt.map(0x7400_0000n, 0x4000_0000n | shared, { flags: { writable: true } });
    const emu = v.stats.get('pf_emulate');
    const fixed = v.stats.get('pf_fixed');
    const mark = vm.events.all.length;
    const w = v.write(0x7400_0000n);
    expect([w.status, w.emulation]).toEqual(['emulated', 'write to a read-only memslot']);
    expect([v.stats.get('pf_emulate'), v.stats.get('pf_fixed'), vm.td!.stats.get('shared_faults')]).toEqual([emu + 1, fixed, 1]);
    expect(vm.events.all.filter((e) => e.seq >= mark && e.kind === 'page_fault').map((e) => e.outcome)).toEqual(['RET_PF_EMULATE']);
    // kvm_handle_error_pfn returns before the map: no SPTE, so the read faults and is fixed.
    const r = v.read(0x7400_0000n);
    expect([r.status, v.stats.get('pf_fixed')]).toEqual(['ok', fixed + 1]);
  });

  it('a cached MMIO SPTE of an older memslot generation is not used: the fault runs again and makes a new one (mmu.c:4348-4349)', () => {
    const { vm, v, pt, shared } = tdFixture();
    vm.setMemoryAttributes(0x8000_0000n, 0x8000_1000n, 'shared');
    pt.map(0x7300_0000n, 0x8000_0000n | shared);
    const t0 = v.stats.get('pf_taken');
    const r0 = v.read(0x7300_0000n);
    expect([r0.status, r0.emulation, v.stats.get('pf_taken')]).toEqual(['emulated', 'MMIO (new MMIO SPTE)', t0 + 1]);
    const r1 = v.read(0x7300_0000n);
    expect([r1.status, r1.emulation, v.stats.get('pf_taken')]).toEqual(['emulated', 'MMIO (cached MMIO SPTE)', t0 + 1]);
    // A memslot change bumps the memslot generation (kvm_main.c: install_new_memslots →
    // kvm_swap_active_memslots); check_mmio_spte then fails, handle_mmio_page_fault returns
    // RET_PF_INVALID and kvm_mmu_page_fault takes the fault proper.
    vm.addMemslot({ base: 0x4000_0000n, size: 0x1000n, name: 'other' });
    const r2 = v.read(0x7300_0000n);
    expect([r2.status, r2.emulation, v.stats.get('pf_taken')]).toEqual(['emulated', 'MMIO (new MMIO SPTE)', t0 + 2]);
    const r3 = v.read(0x7300_0000n);
    expect([r3.status, r3.emulation, v.stats.get('pf_taken')]).toEqual(['emulated', 'MMIO (cached MMIO SPTE)', t0 + 2]);
  });

  it('a shared write to a page dirty logging write-protected is fixed by the fast path (mmu.c:3464-3492 page_fault_can_be_fast, fast_page_fault)', () => {
    const { vm, v, pt, shared } = tdFixture();
    // A shared slot without guest_memfd may log dirty pages; the fixture's VM has no PML (spec.pml
    // defaults to false), so enabling the log write-protects the slot's leaves
    // (kvm_mmu_slot_apply_flags → kvm_mmu_slot_remove_write_access, x86.c:13249-13253).
    const fb = vm.addMemslot({ base: 0x4000_0000n, size: 0x1000n, name: 'fb' });
    pt.map(0x7400_0000n, 0x4000_0000n | shared, { flags: { writable: true } });
    expect(v.write(0x7400_0000n).status).toBe('ok');
    vm.setDirtyLogging(fb, true);
    const taken = v.stats.get('pf_taken');
    const fixed = v.stats.get('pf_fixed');
    const mark = vm.events.all.length;
    const w = v.write(0x7400_0000n);
    expect([w.status, w.exits.length]).toEqual(['ok', 1]);
    // fast_page_fault restores W under mmu_lock-free cmpxchg: RET_PF_FIXED, counted as a fixed fault.
    expect(vm.events.all.filter((e) => e.seq >= mark && e.kind === 'page_fault').map((e) => e.outcome)).toEqual(['RET_PF_FIXED (fast)']);
    expect([v.stats.get('pf_taken'), v.stats.get('pf_fixed'), vm.td!.stats.get('shared_faults')]).toEqual([taken + 1, fixed + 1, 2]);
    expect(vm.getDirtyLog(fb)).toEqual([0x4000_0000n]);
  });
});
