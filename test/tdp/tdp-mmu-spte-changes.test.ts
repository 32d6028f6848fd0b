/**
 * The SPTE changes KVM's `handle_changed_spte` sees (one `trace_kvm_tdp_mmu_spte_changed` each,
 * tdp_mmu.c:607-610) when the TDP MMU zaps roots, removes tables and splits huge pages: the
 * engine's `spte_change` events must be exactly those. Expected values cite Linux v6.16.1
 * arch/x86/kvm/mmu/tdp_mmu.c, mmu.c and spte.h.
 *
 * - `__tdp_mmu_zap_root` (tdp_mmu.c:858-879) zaps only MMU-present SPTEs (:868-869), in passes of
 *   growing level: 4K, 2M, 1G, then the root's level (:918-923); an MMIO SPTE is not present
 *   (spte.h:289-292 tests SPTE_MMU_PRESENT_MASK only) and is left in place.
 * - `handle_removed_pt` (tdp_mmu.c:402-498): under the exclusive lock, only present entries of a
 *   removed table change, to FROZEN_SPTE (:446-447, :475-479); under the shared lock every entry is
 *   exchanged for FROZEN_SPTE (:418-426), present or not, and each is handed to
 *   handle_changed_spte (:478-479), which traces it since old != new (:607-610).
 * - `tdp_mmu_split_huge_page` (tdp_mmu.c:1490-1523) writes the child table's SPTEs directly
 *   (:1501-1502), before the table is linked: only the link is an SPTE change.
 */
import { describe, expect, it } from 'vitest';
import { tdFixture, thrownRule } from '../tdx/fixtures';
import { FROZEN_SPTE, InvalidArgumentError, InvariantViolation, KVM_DIRECT_ROOTS, KVM_INVALID_ROOTS, KVM_MIRROR_ROOTS, SHADOW_NONPRESENT_VALUE, Vm, isMmioSpte, isLargePte, isShadowPresent, type MmuEvent } from '../../src';

const MMIO_GPA = 0x8000_0000n; // no memslot: an MMIO SPTE at 4K (kvm_mmu_hugepage_adjust leaves goal_level at 4K without a slot)

/** Paging off (GVA = GPA), RAM [0, 1 GiB); KVM v6.16's SPTE layout (FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0, spte.h:223). */
function withMmio(hostPageSize: '4K' | '2M' = '4K') {
  const vm = new Vm({ spte: { flavour: 'ept', kvm: '6.16' }, checkInvariants: true });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const v = vm.createVcpu();
  return { vm, ram, v };
}

/** The spte_change events after `from`: [level, gpa, old, new]. */
function changesSince(vm: Vm, from: number): [number, bigint, bigint, bigint][] {
  return vm.events.all.slice(from).filter((e: MmuEvent) => e.kind === 'spte_change').map((e) => [e.level!, e.gpa!, e.oldSpte!, e.newSpte!]);
}

describe('__tdp_mmu_zap_root and handle_removed_pt: what handle_changed_spte sees', () => {
  it('exclusive zap (kvm_tdp_mmu_zap_all): leaves first, then tables level by level; the MMIO SPTE is never changed', () => {
    const { vm, v } = withMmio();
    v.read(0x1000n);
    v.read(MMIO_GPA);
    const [, , , mmio] = vm.tdp.lastSpte(v.currentRoot!, 0x80000);
    expect(isMmioSpte(vm.config, mmio)).toBe(true);
    expect(isShadowPresent(mmio)).toBe(false); // spte.h:289-292
    const from = vm.events.length;
    // kvm_tdp_mmu_zap_all → tdp_mmu_zap_root(kvm, root, false) (tdp_mmu.c:1028-1030)
    expect(vm.tdp.zapRoots(KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS)).toBe(1);
    const got = changesSince(vm, from).map(([level, gpa, , next]) => [level, gpa, next]);
    expect(got).toEqual([
      [1, 0x1000n, SHADOW_NONPRESENT_VALUE], // the 4K pass (tdp_mmu.c:919), :874-875
      [2, 0n, SHADOW_NONPRESENT_VALUE], // the 2M pass (:920); handle_removed_pt finds nothing present (:446-447)
      [2, MMIO_GPA, SHADOW_NONPRESENT_VALUE], // ... the MMIO SPTE below is skipped (:446-447)
      [3, 0n, SHADOW_NONPRESENT_VALUE], // the 1G pass (:922)
      [3, MMIO_GPA, SHADOW_NONPRESENT_VALUE],
      [4, 0n, SHADOW_NONPRESENT_VALUE], // the root's level (:923)
    ]);
    expect(vm.stats.get('pages_4k')).toBe(0); // :641-642
  });

  it('an exclusive zap of a root holding only an MMIO SPTE at 4K changes the tables, never the MMIO SPTE (tdp_mmu.c:868-869, :446-447)', () => {
    const { vm, v } = withMmio();
    v.read(MMIO_GPA);
    const from = vm.events.length;
    vm.tdp.zapRoots(KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS);
    const got = changesSince(vm, from);
    expect(got.map(([level]) => level)).toEqual([2, 3, 4]);
    expect(got.some(([, , old]) => isMmioSpte(vm.config, old))).toBe(false);
  });

  it('shared zap (kvm_mmu_zap_all_fast): every entry of each removed table goes to FROZEN_SPTE, the MMIO SPTE included', () => {
    const { vm, v } = withMmio();
    v.read(0x1000n);
    v.read(MMIO_GPA);
    const [, , , mmio] = vm.tdp.lastSpte(v.currentRoot!, 0x80000);
    const from = vm.events.length;
    // kvm_mmu_zap_all_fast → kvm_tdp_mmu_zap_invalidated_roots(kvm, true) (mmu.c:6681-6682) →
    // tdp_mmu_zap_root(kvm, root, true) (tdp_mmu.c:1065) → tdp_mmu_set_spte_atomic (:876)
    vm.zapAllFast();
    const got = changesSince(vm, from);
    const direct = got.filter(([, , , next]) => next === SHADOW_NONPRESENT_VALUE).map(([level, gpa]) => [level, gpa]);
    // The passes (tdp_mmu.c:918-923) set present SPTEs to SHADOW_NONPRESENT_VALUE (:876).
    expect(direct).toEqual([[1, 0x1000n], [2, 0n], [2, MMIO_GPA], [3, 0n], [3, MMIO_GPA], [4, 0n]]);
    // Five tables removed (two 4K tables, two 2M tables, the 1G table), 512 entries each (:411, :418-426).
    const frozen = got.filter(([, , , next]) => next === FROZEN_SPTE); // spte.h:223
    expect(frozen.length).toBe(5 * 512);
    expect(got.length).toBe(6 + 5 * 512);
    // The MMIO SPTE is exchanged for FROZEN_SPTE like any other entry (:421-425).
    expect(frozen.filter(([level, gpa]) => level === 1 && gpa === MMIO_GPA).map(([, , old]) => old)).toEqual([mmio]);
    // Each removed table's entries follow the SPTE that removed it (handle_changed_spte :650-652).
    const i2 = got.findIndex(([level, gpa, , next]) => level === 2 && gpa === MMIO_GPA && next === SHADOW_NONPRESENT_VALUE);
    expect(got.slice(i2 + 1, i2 + 513).every(([level, gpa, , next]) => level === 1 && gpa >= MMIO_GPA && gpa < MMIO_GPA + 0x20_0000n && next === FROZEN_SPTE)).toBe(true);
  });

  it('a table replaced by a huge leaf in the fault path (shared): its 512 entries go to FROZEN_SPTE (tdp_mmu.c:1172, :418-426)', () => {
    const { vm, ram, v } = withMmio('2M');
    vm.setDirtyLogging(ram, true);
    v.write(0x3000n); // 4K under dirty logging: a level-1 table at gfn 0
    vm.zapGfnRange(0n, 0x20_0000n); // tdp_mmu_zap_leafs: the leaf goes, the table stays (tdp_mmu.c:979-981)
    vm.setDirtyLogging(ram, false); // recover_huge_pages_range: no present leaf, the table stays (:1789-1791 -ENOENT)
    const from = vm.events.length;
    v.read(0x3000n); // goal level 2 meets the empty table: tdp_mmu_map_handle_target_level (:1172)
    const got = changesSince(vm, from);
    expect(got.length).toBe(1 + 512);
    expect([got[0]![0], got[0]![1], isLargePte(got[0]![3])]).toEqual([2, 0n, true]);
    expect(got.slice(1).every(([level, , old, next]) => level === 1 && old === SHADOW_NONPRESENT_VALUE && next === FROZEN_SPTE)).toBe(true);
  });

  it('huge page recovery (shared): the replaced table\'s entries, present or not, go to FROZEN_SPTE (tdp_mmu.c:1826, :418-426)', () => {
    const { vm, ram, v } = withMmio('2M');
    vm.setDirtyLogging(ram, true);
    v.write(0x3000n);
    const from = vm.events.length;
    vm.setDirtyLogging(ram, false);
    const got = changesSince(vm, from);
    expect(got.length).toBe(1 + 512);
    expect([got[0]![0], got[0]![1], isLargePte(got[0]![3])]).toEqual([2, 0n, true]);
    const children = got.slice(1);
    expect(children.every(([level, , , next]) => level === 1 && next === FROZEN_SPTE)).toBe(true);
    expect(children.filter(([, , old]) => isShadowPresent(old)).map(([, gpa]) => gpa)).toEqual([0x3000n]);
  });
});

describe('tdp_mmu_split_huge_page: the child SPTEs are written before the link, unseen by handle_changed_spte', () => {
  it('eager split on enabling dirty logging: one change per huge page (the link), pages_4k + 512 (tdp_mmu.c:1501-1502, :1519)', () => {
    const { vm, ram, v } = withMmio('2M');
    v.read(0x20_0000n);
    expect(vm.stats.get('pages_2m')).toBe(1);
    const from = vm.events.length;
    vm.setDirtyLogging(ram, true);
    const got = changesSince(vm, from);
    // No child SPTE ever goes from SHADOW_NONPRESENT_VALUE to a leaf: they are written directly.
    expect(got.filter(([, , old]) => old === SHADOW_NONPRESENT_VALUE)).toEqual([]);
    const link = got.filter(([level]) => level === 2);
    expect(link.length).toBe(1); // tdp_mmu_link_sp (:1513-1516)
    expect(isLargePte(link[0]![2]) && !isLargePte(link[0]![3])).toBe(true);
    expect([vm.stats.get('pages_2m'), vm.stats.get('pages_4k')]).toEqual([0, 512]); // :641-642, :1519
  });
});

describe('invalidateAllRoots: the lock mode is an argument', () => {
  it('refuses a non-boolean shared flag, with nothing invalidated', () => {
    const { vm, v } = withMmio();
    v.read(0x1000n);
    expect(() => vm.tdp.invalidateAllRoots(KVM_DIRECT_ROOTS, 'yes' as unknown as boolean)).toThrow(InvalidArgumentError);
    expect(vm.tdp.roots.filter((r) => !r.role.invalid).length).toBe(1);
  });

  it('a mirror table removed under the shared lock is a KVM bug (KVM_BUG_ON(shared), tdp_mmu.c:481-482)', () => {
    const { vm } = tdFixture(); // PAGE.ADD linked tables under the mirror root
    expect(thrownRule(() => vm.tdp.invalidateAllRoots(KVM_MIRROR_ROOTS, true), InvariantViolation)).toBe('mirror-shared-zap');
  });
});
