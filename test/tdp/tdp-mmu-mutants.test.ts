/**
 * Survivors of `npm run mutate` in src/tdp/tdp-mmu.ts against test/tdp: write-protecting one gfn
 * (kvm_tdp_mmu_write_protect_gfn) and the page-count invariant the TDP MMU keeps with KVM's
 * page-size statistics. Expected values cite Linux v6.16.1 arch/x86/kvm/mmu/tdp_mmu.c.
 *
 * Survivors left in tdp-mmu.ts (measured on the lines changed since 61fa0ba, README "Lines changed
 * since the rows' commits: src/tdp"):
 * - Equivalent: reflectToExternal's `if (r !== 0) this.writeRaw(sp, idx, old)` → `true`: on success
 *   the caller writes `next` right after, over the restored old value.
 * - Not reachable by KVM's paths: mapTargetLevel's flush label 'leaf lost MMU-writable' (no
 *   coverage; KVM WARN_ON_ONCEs there, tdp_mmu.c:1174-1177: the fault path never removes
 *   MMU-writable).
 * - Equivalent in every state a Vm reaches: checkInvariants' private-leaf test with `slot !==
 *   undefined` or `slot.guestMemfd` made true, or `&&` made `||` (a present leaf always has a slot,
 *   and a private gfn is mapped only from a guest_memfd slot: private faults elsewhere exit to
 *   userspace), and `memAttributes?.` made `.` (addMemslot refuses a guest_memfd slot in a VM
 *   without memory attributes).
 */
import { describe, expect, it } from 'vitest';
import { InvariantViolation, Vm, isMmuWritable, isWritable } from '../../src';

function flat4k() {
  const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const v = vm.createVcpu(); // paging off: GVA = GPA
  const leaf = (gfn: number) => vm.tdp.leaves(v.currentRoot!).find(([g]) => g === gfn);
  return { vm, v, leaf };
}

describe('write_protect_gfn (tdp_mmu.c:1857-1886)', () => {
  it('clears Writable and MMU-writable of the one leaf mapping the gfn, once; other gfns keep theirs', () => {
    const { vm, v, leaf } = flat4k();
    v.write(0x20_0000n);
    v.write(0x20_1000n);
    expect(isWritable(leaf(0x200)![2])).toBe(true);
    expect(vm.tdpWriteProtectGfn(0x200)).toBe(true); // :1879-1880 spte_set
    const [, level, spte] = leaf(0x200)!;
    expect(level).toBe(1);
    // :1873-1874 new_spte = old & ~(PT_WRITABLE_MASK | shadow_mmu_writable_mask)
    expect(isWritable(spte)).toBe(false);
    expect(isMmuWritable(vm.config, spte)).toBe(false);
    expect(isWritable(leaf(0x201)![2])).toBe(true); // [gfn, gfn + 1) only (:1868)
    expect(vm.tdpWriteProtectGfn(0x200)).toBe(false); // :1876-1877 unchanged → nothing set
    expect(vm.tdpWriteProtectGfn(0x300)).toBe(false); // :1869 no present leaf
    // The write after it faults again and maps the page writable (the SPTE lost MMU-writable).
    const w = v.write(0x20_0000n);
    expect(w.exits.length).toBe(1);
    expect(isWritable(leaf(0x200)![2])).toBe(true);
  });

  it('min_level: a 4K leaf is below PG_LEVEL_2M and stays writable (:1868 for_each_tdp_pte_min_level)', () => {
    const { vm, v, leaf } = flat4k();
    v.write(0x20_0000n);
    expect(vm.tdp.writeProtectGfn(0x200, -1, 2)).toBe(false);
    expect(isWritable(leaf(0x200)![2])).toBe(true);
    expect(vm.tdp.writeProtectGfn(0x200, -1, 1)).toBe(true);
    expect(isWritable(leaf(0x200)![2])).toBe(false);
  });
});

describe('the leaf count the page-size statistics must match (kvm_update_page_stats, tdp_mmu.c:642)', () => {
  it('one 4K leaf more in pages_4k than in the tables is refused; so is one fewer', () => {
    const { vm, v } = flat4k();
    v.read(0x20_0000n);
    expect(vm.stats.get('pages_4k')).toBe(1);
    vm.tdp.checkInvariants();
    vm.stats.inc('pages_4k');
    let e: unknown;
    try { vm.tdp.checkInvariants(); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(InvariantViolation);
    expect((e as InvariantViolation).rule).toBe('page-stats');
    expect((e as InvariantViolation).message).toContain('pages_4k = 2 but 1 leaves exist');
    vm.stats.inc('pages_4k', -2);
    expect(() => vm.tdp.checkInvariants()).toThrow('pages_4k = 0 but 1 leaves exist');
    vm.stats.inc('pages_4k');
    // Leaves other MMUs hold count too (the shadow MMU shares pages_*): one extra 4K leaf declared.
    expect(() => vm.tdp.checkInvariants([0, 1, 0, 0])).toThrow('pages_4k = 1 but 2 leaves exist');
    vm.stats.inc('pages_2m');
    expect(() => vm.tdp.checkInvariants()).toThrow('pages_2m = 1 but 0 leaves exist');
  });
});
