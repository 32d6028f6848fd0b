/**
 * dirtyLogScenario against what KVM v6.16.1 does on each path: enabling logging
 * (x86.c:13185-13297 kvm_mmu_slot_apply_flags), a write to a protected leaf (mmu.c:3575
 * fast_page_fault), the harvest (kvm_main.c:2219 kvm_get_dirty_log_protect → mmu.c:1419
 * kvm_arch_mmu_enable_log_dirty_pt_masked) and PML (vmx.h:275, vmx.c:6628, x86.c:6558).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_COST_MODEL, dirtyLogScenario, InvalidArgumentError } from '../../src';

const PAGES = 2048;
/** 2 MiB leaves mapped before logging: the data regions and the region of the guest's page-table pool (GPA 1 MiB). */
const LEAVES_2M = PAGES / 512 + 1;

describe('dirtyLogScenario', () => {
  it('enable, eager split on: every 2 MiB leaf split into 512 (x86.c:13247 kvm_mmu_slot_try_split_huge_pages), one flush (x86.c:13297)', () => {
    for (const pml of [false, true]) {
      const [enable] = dirtyLogScenario({ pml, eagerSplit: true, writesPerCycle: 0, cycles: 1 }).phases;
      expect(enable!.huge_page_splits).toBe(LEAVES_2M);
      // tdp_mmu.c:1494 tdp_mmu_split_huge_page: 512 children + the parent link per leaf, then W
      // cleared (no PML) or D cleared (PML) on the 4K leaves the guest dirtied before logging.
      expect(enable!.spte_changes).toBeGreaterThanOrEqual(LEAVES_2M * 513);
      expect(enable!.remote_tlb_flush).toBe(1);
    }
  });
  it('enable, eager split off: nothing split; the huge leaves are write-protected (x86.c:13251/13253), with PML their D cleared first (x86.c:13250)', () => {
    const wp = dirtyLogScenario({ pml: false, eagerSplit: false, writesPerCycle: 0, cycles: 1 }).phases[0]!;
    const pml = dirtyLogScenario({ pml: true, eagerSplit: false, writesPerCycle: 0, cycles: 1 }).phases[0]!;
    expect([wp.huge_page_splits, wp.spte_changes]).toEqual([0, LEAVES_2M]);
    expect([pml.huge_page_splits, pml.spte_changes]).toEqual([0, 2 * LEAVES_2M]);
  });
  it('write protection: every page written in a cycle exits once, fixed by fast_page_fault; two SPTE writes per page (protect, restore)', () => {
    const { phases } = dirtyLogScenario({ pml: false, eagerSplit: true, writesPerCycle: 300, cycles: 3 });
    for (const p of phases.slice(1)) {
      expect(p.logged).toBeGreaterThanOrEqual(300);
      expect([p.exits, p.pf_fast, p.pf_slow]).toEqual([p.logged, p.logged, 0]);
      expect(p.spte_changes).toBe(2 * p.logged); // mmu.c:1458-1463 write_protect_pt_masked; fast_pf_fix_direct_spte
    }
  });
  it('PML with eager split: per cycle the harvest kick plus one PML-full exit per 512 loggings after the first 512; one SPTE write (D clear) per page', () => {
    for (const w of [100, 1500]) {
      const { phases } = dirtyLogScenario({ pml: true, eagerSplit: true, writesPerCycle: w, cycles: 3 });
      for (const p of phases.slice(1)) {
        expect(p.pml_full_exits).toBe(Math.ceil(p.logged / 512) - 1); // vmx.h:275, vmx.c:5956
        expect(p.exits).toBe(p.pml_full_exits + 1); // + kvm_arch_sync_dirty_log's kick (x86.c:6558)
        expect(p.spte_changes).toBe(p.logged); // mmu.c:1458-1463 kvm_mmu_clear_dirty_pt_masked
      }
    }
  });
  it('PML without eager split: the first write in a region splits it on a slow fault, and its children inherit W=0, so each first write still exits', () => {
    const { phases } = dirtyLogScenario({ pml: true, eagerSplit: false, writesPerCycle: PAGES, cycles: 2 });
    const [, c1, c2] = phases;
    // tdp_mmu.c:1239 kvm_tdp_mmu_map → tdp_mmu_split_huge_page (children from the write-protected leaf).
    expect(c1!.huge_page_splits).toBe(LEAVES_2M);
    expect(c1!.pf_slow).toBe(LEAVES_2M);
    expect(c1!.exits).toBe(c1!.logged + 1); // every page once, + the kick
    // All written once: from now on PML logs them without a fault.
    expect(c2!.pf_fast + c2!.pf_slow).toBe(0);
  });
  it("manual protect with INITIALLY_SET: enabling protects nothing (x86.c:13243); the first harvest reports every page and its CLEAR splits and protects (mmu.c:1419-1446)", () => {
    const { phases, ram } = dirtyLogScenario({ pml: false, eagerSplit: true, writesPerCycle: 200, cycles: 2, harvest: 'clear' });
    const [enable, c1, c2] = phases;
    expect([enable!.spte_changes, enable!.huge_page_splits]).toEqual([0, 0]);
    expect(c1!.exits).toBe(0);
    expect(c1!.logged).toBe(ram.npages);
    expect(c1!.huge_page_splits).toBe(LEAVES_2M);
    expect(c2!.exits).toBe(c2!.logged);
  });
  it('prices the exits with the cost model: write protection one round trip + fast_page_fault per exit; PML-full exits and kicks a round trip each (handle_pml_full does nothing, vmx.c:5956)', () => {
    const p = DEFAULT_COST_MODEL.params;
    const wp = dirtyLogScenario({ pml: false, eagerSplit: true, writesPerCycle: 300, cycles: 2 }).phases[2]!;
    // mmu.c:3575 fast_page_fault fixes each (RET_PF_FIXED on the fast path).
    expect(wp.exit_cycles).toBe(wp.exits * (p.vmExitEntry.cycles + p.kvmFaultFast.cycles));
    const pml = dirtyLogScenario({ pml: true, eagerSplit: true, writesPerCycle: 1500, cycles: 2 }).phases[2]!;
    expect(pml.pml_full_exits).toBeGreaterThan(0);
    // vmx.c:5956 handle_pml_full returns 1 with no work; the kick (x86.c:6558) is a bare exit too.
    expect(pml.exit_cycles).toBe(pml.exits * p.vmExitEntry.cycles);
  });
});

describe('dirtyLogScenario: bad input', () => {
  it('is refused with a typed error naming the argument', () => {
    expect(() => dirtyLogScenario({ pml: true, eagerSplit: true, pages: 1000, writesPerCycle: 1 })).toThrow(InvalidArgumentError);
    expect(() => dirtyLogScenario({ pml: true, eagerSplit: true, pages: 512, writesPerCycle: 513 })).toThrow(/writesPerCycle/);
    expect(() => dirtyLogScenario({ pml: true, eagerSplit: true, writesPerCycle: 1, cycles: -1 })).toThrow(/cycles/);
  });
});
