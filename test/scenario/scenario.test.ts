/**
 * Scenario helpers: the named register sets give the paging mode KVM computes for them
 * (mmu.c: kvm_calc_cpu_role → role_regs_to_root_level), `guest()` wires VM, slot, tables and vCPU,
 * and the fork scenario runs the same guest operations on both MMUs.
 */
import { describe, expect, it } from 'vitest';
import { calcCpuRole, CR4, DEFAULT_FEATURES, forkScenario, guest, la57Mode, longMode, paeMode, paging32Mode, pagingOff, shuffled, dirtyLogCycles, cr3Switches } from '../../src';

describe('named register sets', () => {
  it('each mode gives the root level KVM derives from CR0/CR4/EFER (mmu.c: role_regs_to_root_level)', () => {
    // mmu.c:232-245 role_regs_to_root_level: LA57 → 5, LMA → 4, PAE → 3, else 2; paging off → level 0.
    expect(calcCpuRole(pagingOff(), DEFAULT_FEATURES).base.level).toBe(0);
    expect(calcCpuRole(paging32Mode(), DEFAULT_FEATURES).base.level).toBe(2);
    expect(calcCpuRole(paeMode(), DEFAULT_FEATURES).base.level).toBe(3);
    expect(calcCpuRole(longMode(), DEFAULT_FEATURES).base.level).toBe(4);
    expect(calcCpuRole(la57Mode(), DEFAULT_FEATURES).base.level).toBe(5);
  });
  it('options switch WP and NX off and add CR4 bits', () => {
    const r = calcCpuRole(longMode({ wp: false, nx: false, cr4: CR4.SMEP }), DEFAULT_FEATURES);
    expect(r.base.cr0Wp).toBe(false);
    expect(r.base.eferNx).toBe(false);
    expect(r.isCr4Smep).toBe(true); // 6.16 ext.cr4_smep; 7.3 base.cr4_smep (kvm-7x.md §3.1)
  });
});

describe('guest()', () => {
  it('builds a VM with RAM, the guest tables and a vCPU whose CR3 is their root', () => {
    const g = guest({ mode: 'paging5', hostPageSize: '2M' });
    expect(g.vm.memslots).toEqual([g.ram]);
    expect(g.vcpu.regs.cr3).toBe(BigInt(g.pt.root));
    expect(g.vcpu.role.pagingMode).toBe('5-level');
    g.pt.map(0x4000_0000n, 0x100_0000n, { flags: { writable: true } });
    expect(g.vcpu.write(0x4000_0000n).gpa).toBe(0x100_0000n);
  });
  it('shadow and TDP guests of one spec differ only in the MMU', () => {
    expect(guest({ mmu: 'shadow' }).vm.tdpEnabled).toBe(false);
    expect(guest().vm.tdpEnabled).toBe(true);
  });
});

describe('workload scenarios', () => {
  it('shuffled is a seeded permutation', () => {
    const a = shuffled(100, 7);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(shuffled(100, 7)).toEqual(a);
    expect(shuffled(100, 8)).not.toEqual(a);
  });
  it('fork: both MMUs give the guest the same outcomes; only shadow paging unsyncs and syncs', () => {
    const s = forkScenario({ mmu: 'shadow', pages: 16, rounds: 2 });
    const t = forkScenario({ mmu: 'tdp', pages: 16, rounds: 2 });
    expect(s.outcomes).toEqual(t.outcomes);
    expect(s.outcomes.filter((o) => o === 'guest-pf').length).toBeGreaterThan(0);
    expect(s.stats.unsyncs).toBeGreaterThan(0);
    expect(t.stats.unsyncs).toBe(0);
  });
  it('dirty-log cycles: write protection makes every first write of a cycle exit (fast path); PML none', () => {
    for (const pml of [false, true]) {
      const g = guest({ spte: { flavour: 'ept', pml }, hostPageSize: '2M' });
      g.pt.map(0x4000_0000n, 0x100_0000n, { count: 64, flags: { writable: true } });
      for (let i = 0; i < 64; i++) g.vcpu.write(0x4000_0000n + BigInt(i) * 4096n);
      const rows = dirtyLogCycles(g, { va: 0x4000_0000n, cycles: 2, writes: 8 });
      // x86.c: kvm_mmu_slot_apply_flags: PML clears D (tdp_mmu.c: kvm_tdp_mmu_clear_dirty_slot) instead
      // of write-protecting, so no write exits; with write protection each data page written exits
      // (plus the guest table pages the CPU's A/D assists write), all fixed by the fast path
      // (mmu.c: fast_page_fault).
      for (const r of rows) {
        if (pml) expect(r.exits).toBe(0);
        else expect(r.exits >= r.writes && r.pf_fast === r.exits).toBe(true);
      }
      expect(rows.every((r) => r.logged >= 8)).toBe(true);
    }
  });
  it('CR3 switches: shadow paging hits the previous-roots cache after the first round', () => {
    const g = guest({ mmu: 'shadow' });
    cr3Switches(g, { va: 0x4000_0000n, spaces: 3, pages: 4, slices: 9 });
    // mmu.c: fast_pgd_switch keeps KVM_MMU_NUM_PREV_ROOTS = 3 previous roots.
    expect(g.vcpu.stats.get('root_cache_hit')).toBeGreaterThan(0);
  });
});
