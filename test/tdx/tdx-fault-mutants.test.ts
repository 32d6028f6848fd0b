/**
 * Branches of src/tdx/tdx-page-fault.ts (a TD's EPT violation, `tdx_handle_ept_violation` →
 * `kvm_mmu_page_fault`) that the scenario tests do not take, asserted by their observable results
 * (access status, emulation reason, counters, page_fault events). Expected values cite Linux
 * v6.16.1 arch/x86/kvm/mmu/mmu.c, arch/x86/kvm/vmx/tdx.c and virt/kvm/kvm_main.c.
 */
import { describe, expect, it } from 'vitest';
import { InvariantViolation, memslotPrivatePfn } from '../../src';
import { caught, tdFixture } from './fixtures';

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
    expect(r0.exits.map((x) => [x.ret, x.fast, x.mmio])).toEqual([['RET_PF_EMULATE', false, true]]);
    const r1 = v.read(0x7300_0000n);
    expect([r1.status, r1.emulation, v.stats.get('pf_taken')]).toEqual(['emulated', 'MMIO (cached MMIO SPTE)', t0 + 1]);
    expect(r1.exits.map((x) => [x.ret, x.fast, x.mmio])).toEqual([['RET_PF_EMULATE', false, true]]);
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
    expect(w.exits.map((x) => [x.ret, x.fast, x.mmio])).toEqual([['RET_PF_FIXED', true, false]]);
    // fast_page_fault restores W under mmu_lock-free cmpxchg: RET_PF_FIXED, counted as a fixed fault.
    expect(vm.events.all.filter((e) => e.seq >= mark && e.kind === 'page_fault').map((e) => e.outcome)).toEqual(['RET_PF_FIXED (fast)']);
    expect([v.stats.get('pf_taken'), v.stats.get('pf_fixed'), vm.td!.stats.get('shared_faults')]).toEqual([taken + 1, fixed + 1, 2]);
    expect(vm.getDirtyLog(fb)).toEqual([0x4000_0000n]);
  });
});

describe('TD state, PAGE.ADD and the pending-page kill', () => {
  it('an unmeasured KVM_TDX_INIT_MEM_REGION issues no TDH.MR.EXTEND (tdx.c:3207: only with KVM_TDX_MEASURE_MEMORY_REGION)', () => {
    const { vm } = tdFixture(); // 256 PAGE.ADDs without the measure flag
    expect([vm.td!.stats.get('page_add'), vm.td!.stats.get('mr_extend')]).toEqual([256, 0]);
    expect(vm.events.all.filter((e) => e.kind === 'seamcall' && e.outcome.startsWith('TDH.MR.EXTEND'))).toEqual([]);
    expect(vm.td!.dead).toBe(false); // a live TD
  });

  it('TDH.MEM.PAGE.ADD over a present S-EPT entry is refused and changes nothing', () => {
    const { vm, v, ram } = tdFixture(48, { finalize: false });
    v.tdpMapPrivate(0x20_0000n); // premapped: the mirror leaf and the S-EPT tables, no leaf
    const s = vm.td!.sept;
    const pfn = memslotPrivatePfn(ram, 0x200);
    s.corruptForTest(0x200, 1, (BigInt(pfn) << 12n) | 7n);
    const e = caught(() => s.pageAdd(0x200, pfn, false, 0));
    expect([e.constructor, e.rule, e.value]).toEqual([InvariantViolation, 'sept-seamcall', '0x200']);
    expect(e.message).toContain('TDH.MEM.PAGE.ADD for GFN 0x200 level 1 refused: the entry is already present');
    expect([s.nrPremapped, vm.td!.stats.get('page_add')]).toEqual([1, 0]);
  });

  it('TDH.MEM.RANGE.BLOCK of a gfn with no S-EPT table is refused by name', () => {
    const { vm } = tdFixture();
    const e = caught(() => vm.td!.sept.removeExternalSpte(0x4000_0000, 1, 5, -1));
    expect([e.rule, e.value]).toEqual(['sept-seamcall', '0x40000000']);
    expect(e.message).toContain('TDH.MEM.RANGE.BLOCK for GFN 0x40000000 level 1 refused: no S-EPT table');
  });

  it('KVM_TDX_FINALIZE_VM twice: -EINVAL (tdx.c:2869), the rule names the runnable state', () => {
    const { vm } = tdFixture();
    const e = caught(() => vm.tdFinalize());
    expect([e.rule, e.value, vm.td!.state]).toEqual(['td-finalized', 'runnable', 'runnable']);
  });

  it('SEPT_VE_DISABLE: the access to a PENDING page is one EPT violation event to KVM at that GPA (tdx.c:1943-1947)', () => {
    const { vm, v, pt } = tdFixture(48, { septVeDisable: true });
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n); // AUG: the page is PENDING, the CPU walk stops there
    // (the first access already reached the PENDING page after the AUG: find its event)
    const ev = vm.events.all.filter((e) => e.kind === 'ept_violation' && e.outcome.includes('kvm_vm_dead'));
    expect(ev.map((e) => [e.vcpu, e.gpa])).toEqual([[0, 0x20_0000n]]);
  });

  it('a range past the shared bit is refused naming its last byte', () => {
    const { vm } = tdFixture();
    const e = caught(() => vm.setMemoryAttributes(0n, 0x8000_0000_1000n, 'private'));
    expect([e.rule, e.value]).toEqual(['mem-attr-shared-bit', '0x800000000fff']);
  });
});
