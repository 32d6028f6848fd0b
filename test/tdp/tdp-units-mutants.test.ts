/**
 * Mutants of the small src/tdp modules that survived the scenario tests (`npm run mutate`): the
 * fields of a new page fault, the once-per-table tracking of possible NX huge pages, and the
 * state of a new TDP page, and which roots a filter selects. Expected values cite Linux v6.16.1.
 *
 * Equivalent survivor: rootMatch's first test (`(types & KVM_VALID_ROOTS) === 0` → false): a filter
 * without DIRECT or MIRROR fails the last test anyway (tdp_mmu.c:100-101 only adds a WARN).
 */
import { describe, expect, it } from 'vitest';
import {
  KVM_ALL_ROOTS, KVM_DIRECT_ROOTS, KVM_INVALID_ROOTS, KVM_MIRROR_ROOTS, PageRole, PossibleNxHugePages, TdpPage, Vm, filterToRootTypes, newPageFault, rootMatch, rootTypesText,
} from '../../src';

describe('kvm_mmu_do_page_fault: the fault as KVM starts it (mmu_internal.h:351-370)', () => {
  it('each PFERR bit sets its own field; nothing else is known yet', () => {
    const f = newPageFault(0x1234_5000n, 0x1fn); // P|W|U|RSVD|FETCH
    expect([f.present, f.write, f.user, f.rsvd, f.exec]).toEqual([true, true, true, true, true]); // :354-358
    const r = newPageFault(0x1234_5000n, 0x8n); // RSVD only
    expect([r.present, r.write, r.user, r.rsvd, r.exec]).toEqual([false, false, false, true, false]);
    const u = newPageFault(0x1234_5000n, 0x4n); // USER only
    expect([u.present, u.write, u.user, u.rsvd, u.exec]).toEqual([false, false, true, false, false]);
    expect(u.gfn).toBe(0x12345);
    expect(u.prefetch).toBe(false); // :359 prefetch = false on a vCPU fault
    expect([u.maxLevel, u.reqLevel, u.goalLevel]).toEqual([3, 1, 1]); // :364-366 KVM_MAX_HUGEPAGE_LEVEL, PG_LEVEL_4K
    expect(u.pfn).toBeLessThan(0); // :369 KVM_PFN_ERR_FAULT: no pfn until faultin
    // Not named in the initializer, so zero (C designated initializers): map_writable, huge_page_disallowed.
    expect(u.mapWritable).toBe(false);
    expect(u.hugePageDisallowed).toBe(false);
    expect(u.slot).toBeUndefined();
  });
});

describe('possible_nx_huge_pages (mmu.c:779-836)', () => {
  it('a table is tracked once however often it is linked; untrack and unaccount count down once', () => {
    const vm = new Vm({});
    const list = new PossibleNxHugePages<TdpPage>(vm.stats);
    const base = vm.stats.get('nx_lpage_splits');
    const sp = new TdpPage(PageRole.pack({ level: 1 }), 0, 100, null, 0);
    sp.nxHugePageDisallowed = true;
    list.track(sp);
    list.track(sp); // mmu.c:789-790: already on the list → nothing
    expect(vm.stats.get('nx_lpage_splits')).toBe(base + 1);
    expect(list.size).toBe(1);
    expect(list.has(sp)).toBe(true);
    list.unaccount(sp);
    expect(sp.nxHugePageDisallowed).toBe(false); // mmu.c:833
    expect(vm.stats.get('nx_lpage_splits')).toBe(base); // mmu.c:827
    list.untrack(sp); // mmu.c:824-825: not on the list → nothing
    expect(vm.stats.get('nx_lpage_splits')).toBe(base);
    expect(list.has(sp)).toBe(false);
  });
});

describe('a new TDP page', () => {
  it('starts zeroed (mmu.c:6536 __GFP_ZERO page headers): not NX-disallowed, no root refs; a root has no parent', () => {
    const root = new TdpPage(PageRole.pack({ level: 4 }), 0, 100, null, 0);
    const child = new TdpPage(PageRole.pack({ level: 3 }), 0, 101, root, 0);
    expect(root.nxHugePageDisallowed).toBe(false);
    expect(root.refcount).toBe(0);
    expect(root.isRoot).toBe(true);
    expect(child.isRoot).toBe(false);
    expect(child.level).toBe(3);
  });
});

describe('tdp_mmu_root_match (tdp_mmu.c:97-109) and kvm_gfn_range_filter_to_root_types (tdp_mmu.h:30-46)', () => {
  const direct = new TdpPage(PageRole.pack({ level: 4 }), 0, 100, null, 0);
  const mirror = new TdpPage(PageRole.pack({ level: 4, isMirror: true }), 0, 101, null, 0);
  const invalid = new TdpPage(PageRole.pack({ level: 4, invalid: true }), 0, 102, null, 0);

  it('a filter without a valid root kind matches nothing; an invalid root needs KVM_INVALID_ROOTS; then by kind', () => {
    expect(rootMatch(invalid, KVM_INVALID_ROOTS)).toBe(false); // :100-101
    expect(rootMatch(direct, KVM_INVALID_ROOTS)).toBe(false);
    expect(rootMatch(invalid, KVM_DIRECT_ROOTS)).toBe(false); // :103-104
    expect(rootMatch(invalid, KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS)).toBe(true);
    expect(rootMatch(direct, KVM_DIRECT_ROOTS)).toBe(true); // :106-107
    expect(rootMatch(direct, KVM_MIRROR_ROOTS)).toBe(false);
    expect(rootMatch(mirror, KVM_MIRROR_ROOTS)).toBe(true); // :108
    expect(rootMatch(mirror, KVM_DIRECT_ROOTS)).toBe(false);
    expect(rootMatch(mirror, KVM_ALL_ROOTS)).toBe(true);
  });

  it('without mirrored TDP every filter is DIRECT; with it private → MIRROR, shared → DIRECT, both → both', () => {
    for (const f of ['private', 'shared', 'both'] as const) expect(filterToRootTypes(false, f)).toBe(KVM_DIRECT_ROOTS); // :35-36
    expect(filterToRootTypes(true, 'private')).toBe(KVM_MIRROR_ROOTS); // :38-39
    expect(filterToRootTypes(true, 'shared')).toBe(KVM_DIRECT_ROOTS); // :40-41
    expect(filterToRootTypes(true, 'both')).toBe(KVM_MIRROR_ROOTS | KVM_DIRECT_ROOTS);
    expect(rootTypesText(KVM_ALL_ROOTS)).toBe('DIRECT|MIRROR|INVALID');
    expect(rootTypesText(KVM_MIRROR_ROOTS)).toBe('MIRROR');
    expect(rootTypesText(0)).toBe('');
  });
});
