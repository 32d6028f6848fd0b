/**
 * Scenario helpers of notes 19–21 (per-VM vs per-vCPU MMU state, 5-level paging, MMIO generation),
 * checked against Linux v6.16.1 (and kvm-7x.md for the 7.x MMIO generation width).
 */
import { describe, expect, it } from 'vitest';
import { mixedModeVm, mmuStateCensus, shareCensus, nestedNptRoots, pagingLevelsScenario, mmioGenerationScenario, mmioWrapScenario } from '../../src';

describe('mmuStateCensus', () => {
  it('TDP: every L1 vCPU has the same root_role whatever its paging mode; shadow: one per mode', () => {
    const tdp = mixedModeVm({ mmu: 'tdp', perMode: 1 });
    // mmu.c:5617-5632 (kvm_calc_tdp_mmu_root_page_role): no field comes from the guest's paging mode.
    expect(shareCensus(mmuStateCensus(tdp.vm, tdp.modes)).find((c) => c.state === 'root_role')!.values).toBe(1);
    const sh = mixedModeVm({ mmu: 'shadow', perMode: 1 });
    const rows = mmuStateCensus(sh.vm, sh.modes);
    // mmu.c:5690-5705 (kvm_init_shadow_mmu): root_role = cpu_role.base, level at least PAE (3).
    expect(rows.map((r) => Number(r.rootRole.match(/0x([0-9a-f]+)/)![1]! .slice(-1)))).toEqual([3, 3, 4, 5]);
    expect(shareCensus(rows).find((c) => c.state === 'root_role')!.values).toBe(4); // has_4_byte_gpte differs for 32-bit
  });

  it("shadow_zero_check: a shadow root of level 3 reserves the PAE PDPTE bits 1-2 and 5-8 at level 3 (mmu.c __reset_rsvds_bits_mask, PT32E case)", () => {
    const sh = mixedModeVm({ mmu: 'shadow', perMode: 1, modes: ['pae', 'paging4'] });
    const [pae, long] = mmuStateCensus(sh.vm, sh.modes);
    expect(pae!.zeroCheck.rsvd[0]![2]! & 0x1e6n).toBe(0x1e6n);
    expect(long!.zeroCheck.rsvd[0]![2]! & 0x1e6n).toBe(0n); // a 4-level PDPTE (non-leaf) reserves bit 7 only if !GBPAGES
    // TDP (EPT): reset_tdp_shadow_zero_bits_mask ignores the guest; the engine's per-VM mask is it.
    const tdp = mixedModeVm({ mmu: 'tdp', perMode: 1, modes: ['pae', 'paging5'] });
    for (const r of mmuStateCensus(tdp.vm, tdp.modes)) expect(r.zeroCheck.rsvd).toEqual(tdp.vm.config.zeroCheck);
  });
});

describe('nestedNptRoots', () => {
  it('a 4-level NPT12 on a 5-level host: passthrough root, no special roots (kvm_init_shadow_npt_mmu, mmu.c:5722-5725)', () => {
    expect(nestedNptRoots(5, 'paging4')).toMatchObject({ rootLevel: 5, passthrough: true, specialRoots: 0, extraLevels: 1 });
    expect(nestedNptRoots(4, 'paging4')).toMatchObject({ rootLevel: 4, passthrough: false, specialRoots: 0 });
  });
  it('a PAE NPT12: pae_root + pml4_root, and pml5_root on a 5-level host (mmu_alloc_special_roots, mmu.c:4067, 4107-4123)', () => {
    expect(nestedNptRoots(4, 'pae')).toMatchObject({ rootLevel: 4, specialRoots: 2 });
    expect(nestedNptRoots(5, 'pae')).toMatchObject({ rootLevel: 5, specialRoots: 3 });
  });
});

describe('pagingLevelsScenario', () => {
  it('2D references per miss without caches: (n+1)(m+1)-1 for 4/5-level guest and TDP', () => {
    // Bhargava et al. 2008; reference §6.7: 24 for 4+4, 35 for 5+5.
    expect(pagingLevelsScenario({ mode: 'paging4', mmu: 'ept', maxTdpLevel: 4, pages: 8 }).refsPerMiss).toBe(24);
    expect(pagingLevelsScenario({ mode: 'paging5', mmu: 'ept', maxTdpLevel: 5, guestMaxPhyAddr: 52, pages: 8 }).refsPerMiss).toBe(35);
  });
  it('EPT: a 5-level host uses 4-level EPT when guest MAXPHYADDR ≤ 48; NPT always the host level (kvm_mmu_get_tdp_level, mmu.c:5596-5606)', () => {
    expect(pagingLevelsScenario({ mode: 'paging4', mmu: 'ept', maxTdpLevel: 5, guestMaxPhyAddr: 48, pages: 1 }).tdpLevels).toBe(4);
    expect(pagingLevelsScenario({ mode: 'paging4', mmu: 'npt', maxTdpLevel: 5, guestMaxPhyAddr: 48, pages: 1 }).tdpLevels).toBe(5);
  });
  it('shadow paging: the hardware walks the shadow table, as deep as the guest (kvm_init_shadow_mmu)', () => {
    expect(pagingLevelsScenario({ mode: 'paging5', mmu: 'shadow', maxTdpLevel: 5, guestMaxPhyAddr: 52, pages: 4 }).refsPerMiss).toBe(5);
  });
});

describe('mmioGenerationScenario', () => {
  it('EPT: a stale MMIO SPTE takes the slow path once per page after updates, however many (check_mmio_spte, mmu.c handle_mmio_page_fault)', () => {
    const r = mmioGenerationScenario({ mmioPages: 2, rounds: 3, accessesPerPage: 2, updatesPerBurst: 3, burstEvery: 1 });
    expect([r.slow, r.cached, r.spteCreated, r.updates]).toEqual([6, 6, 6, 6]);
  });
  it('NPT with host MAXPHYADDR 52: no MMIO caching, every access slow (spte.c:533-536, kvm_mmu_set_mmio_spte_mask spte.c:429-430)', () => {
    const r = mmioGenerationScenario({ spte: { flavour: 'npt', hostMaxPhyAddr: 52 }, mmioPages: 2, rounds: 2, accessesPerPage: 2, burstEvery: 0 });
    expect([r.mmioCaching, r.slow, r.cached, r.spteCreated]).toEqual([false, 8, 0, 0]);
  });
  it('KVM 7.3 default VM: the wrap comes at generation 2^18 (18-bit MMIO generation, kvm-7x.md §5; +2 per swap, kvm_host.h:2344) and zaps once', { timeout: 60_000 }, () => {
    const r = mmioWrapScenario({ pages: 4 });
    expect([r.generation, r.wraps, r.updates]).toEqual([1 << 18, 1, (1 << 17) - 2]); // two creates came first
    expect(r.exitsAfter).toBeGreaterThan(r.exitsBefore); // kvm_mmu_zap_all_fast: the mappings fault back in
  });
});
