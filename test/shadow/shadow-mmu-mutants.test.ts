/**
 * The second half of src/shadow/shadow-mmu.ts (linking, write tracking and write protection,
 * zapping, range operations), each expected value from arch/x86/kvm/mmu/ of Linux v6.16.1:
 * - `__link_shadow_page` (mmu.c:2508-2541): a present (huge) SPTE is dropped and flushed first
 *   (`drop_large_spte`, mmu.c:1286-1296, flush = true from `link_shadow_page`), and an unsync child
 *   marks its new parent entry (`mark_unsync`, mmu.c:2539-2540);
 * - `account_shadowed` / `unaccount_shadowed` (mmu.c:749-776, 806-819) with page_track.c
 *   `__kvm_write_track_add_gfn` / `__kvm_write_track_remove_gfn` (one count per upper-level page,
 *   `kvm_mmu_gfn_disallow_lpage` / `allow_lpage`: +1 / -1 at levels 2 and 3, mmu.c:717-747);
 * - `kvm_mmu_slot_gfn_write_protect` → `rmap_write_protect` → `spte_write_protect(pt_protect)`
 *   (mmu.c:1312-1325, 1327-1340, 1471-1491): levels 1..3, clears W and MMU-writable, reports a change only when
 *   an SPTE had either, and only then flushes (mmu.c:775);
 * - `account_nx_huge_page(sp, req_level >= it.level)` (paging_tmpl.h:734-736, mmu.c:797-804);
 * - `__kvm_mmu_prepare_zap_page` (mmu.c:2649-2712): unsync children first
 *   (`mmu_zap_unsync_children`, mmu.c:2625-2647, counted in nr_zapped, mmu.c:2659, 2673), a root in
 *   use stays allocated and accounted and asks vCPUs to free obsolete roots (mmu.c:2671-2710);
 *   `mmu_page_zap_pte`'s recursive zap of parentless nested-TDP pages (mmu.c:2586-2594);
 * - `kvm_mmu_commit_zap_page` (mmu.c:2723-2746), `mmu_free_root_page` (mmu.c:3698-3721),
 *   `kvm_mmu_zap_oldest_mmu_pages` (mmu.c:2748-2781), `kvm_zap_obsolete_pages` (mmu.c:6561-6605),
 *   `kvm_mmu_zap_memslot_pages_and_flush` (mmu.c:7208-7236: pages with gPTEs in the slot),
 *   `__kvm_mmu_unprotect_gfn_and_retry` (mmu.c:2837-2875), `kvm_arch_mmu_enable_log_dirty_pt_masked`
 *   (mmu.c:1419-1448: the huge page around a logged gfn), `kvm_rmap_zap_collapsible_sptes`
 *   (mmu.c:7121-7130: the slot's own rmaps only, `kvm_mmu_zap_collapsible_spte` mmu.c:7084-7118).
 * VM-wide operations (zaps, aging, write protection of a range) are done by no vCPU: KVM passes
 * `struct kvm`, and their events carry vcpu -1.
 *
 * Equivalent mutants of shadow-mmu.ts:331-end (no observable difference possible):
 * - linkShadowPage `child.unsyncChildren > 0` → false: no page with unsync children is linked
 *   (KVM: WARN_ON_ONCE(sp->unsync_children), mmu.c:2539; upper levels are synced before linking);
 * - freePage `if (b.length === 0) hash.delete` → false: an empty bucket finds nothing either;
 * - zapCollapsibleSptes `level > 2` → false: a level-3 page is never below the maximum level (3);
 *   `start - start % 2^(9(level-1))` → `+`: equal for level 1, and no 2 MiB leaf straddles a
 *   slot's start (the partial head region's huge pages are disallowed, makeLpageInfo);
 * - unaccountShadowed `if (n === 0) writeTrack.delete` → false: a 0 count left in the map reads as
 *   0 through every reader (`?? 0`);
 * - prepareZap `!invalid.includes(sp)` → true: a page reaches a second prepare only after its last
 *   root reference went (putRoot), and a page zapped in use was not pushed the first time;
 * - prepareZap `if (sp.nxHugePageDisallowed)` → true: `unaccount` of an untracked page changes
 *   nothing (`untrack_possible_nx_huge_page` returns on an empty link, mmu.c:823-824);
 * - zapPte `else if (isMmioSpte(..))` → true: the only other non-present value is
 *   SHADOW_NONPRESENT_VALUE, and setSpte ignores an unchanged value;
 * - zapUnsyncChildren `parent.level === 1` → false: a level-1 page has no unsync children;
 * - zapAllFast `if (!this.isObsolete(sp)) break` → false: every page on the list at the flip is
 *   obsolete (pages of the new generation are made after the zap);
 * - wrprotRange `if (!isWritable(spte)) continue` → false: clearing W of a read-only SPTE writes
 *   the same value, which setSpte ignores;
 * - find `?? []` → `?? ['Stryker was here']`: the string has no gfn and is filtered out;
 * - leafCounts `sp.level <= 3` → true: no level-4 SPTE is a leaf (PS is reserved there).
 * Equivalent mutants on the lines changed since (the public edge and the …Unchecked twins):
 * - checkSpte `level > 1 &&` → true / `>= 1`: lpageDisallowedUnchecked answers false below level 2;
 * - linkShadowPage `child.unsyncChildren > 0` → false, zapAllFast `!this.isObsolete(sp)` → false and
 *   find `?? []` as above.
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, SHADOW_NONPRESENT_VALUE, ShadowPage, Vm, mmuPageHash, type Memslot } from '../../src';
import { LONG_MODE } from '../vm/fixtures';
import { nested, GVA, DATA_N } from './nested-fixture';
import { shadowFixture, tableOf, type ShadowFixture } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const W = 2n; // PT_WRITABLE_MASK

const idxOf = (va: bigint, level: number) => Number((va >> (12n + 9n * BigInt(level - 1))) & 511n);
const gfnOf = (gpa: bigint) => Number(gpa >> 12n);
const eventsFrom = (vm: Vm, from: number) => vm.events.all.slice(from);

/** The shadow pages at `gfn` (valid ones, any role). */
const pagesAt = (f: { vm: Vm }, gfn: number) => f.vm.shadow.find(gfn);

describe('__link_shadow_page', () => {
  it('a huge leaf that a table replaces is dropped and flushed before the link (drop_large_spte)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '2M' });
    const HUGE = 0x600_0000n; // a 2 MiB guest page, mapped by a 2 MiB shadow leaf
    f.pt.map(VA, HUGE, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pd = tableOf(f, VA, 2);
    const leaf = f.vm.shadow.readSpte(pd, idxOf(VA, 2));
    expect(leaf & 0x80n).toBe(0x80n); // PS: a 2 MiB leaf
    // A guest page table inside that 2 MiB: shadowing it disallows the huge page (mmu.c:771).
    const VB = 0x7100_0000n;
    f.pt.placeTable(1, VB, HUGE + 0x5000n);
    f.pt.map(VB, GPA, { flags: { writable: true } });
    expect(f.v.read(VB).status).toBe('ok');
    expect(f.vm.shadow.lpageDisallowed(gfnOf(HUGE), 2)).toBe(true);
    // A write through the huge mapping now maps 4 KiB pages: the 2 MiB leaf goes, then the table.
    const from = f.vm.events.all.length;
    const flushes = f.vm.stats.get('remote_tlb_flush');
    expect(f.v.write(VA).status).toBe('ok');
    const ev = eventsFrom(f.vm, from).filter((e) => (e.kind === 'spte_change' && e.level === 2 && e.gpa === HUGE) || (e.kind === 'tlb_flush' && e.gpa === HUGE && e.level === 2));
    expect(ev.map((e) => e.kind)).toEqual(['spte_change', 'tlb_flush', 'spte_change']);
    expect(ev[1]!.outcome).toBe('huge page replaced by a table');
    // The leaf had lost W and MMU-writable when the table was shadowed (spte_write_protect).
    expect([ev[0]!.oldSpte, ev[0]!.newSpte]).toEqual([leaf & ~(W | f.vm.config.mmuWritableMask), SHADOW_NONPRESENT_VALUE]);
    expect(ev[2]!.oldSpte).toBe(SHADOW_NONPRESENT_VALUE);
    expect(f.vm.stats.get('remote_tlb_flush')).toBeGreaterThan(flushes);
  });

  it('linking an unsync page table at a second guest PDE marks that parent entry too (mark_unsync)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const VA2 = VA + 0x20_0000n; // the next PDE, pointed at the same guest page table
    f.pt.map(VA, GPA, { flags: { writable: true } });
    f.pt.setEntry(VA2, 2, f.pt.getEntry(VA, 2).value);
    expect(f.v.read(VA).status).toBe('ok');
    const pt = tableOf(f, VA, 1);
    // A guest store to one of the table's PTEs unsyncs it (mmu_try_to_unsync_pages).
    const other = VA + 0x5000n;
    expect(f.storePte(other, 1, GPA + 0x3000n | 0x63n).status).toBe('ok');
    expect(pt.unsync).toBe(true);
    const pd = tableOf(f, VA, 2);
    expect(pd.unsyncChildBitmap[idxOf(VA, 2)]).toBeTruthy();
    expect(pd.unsyncChildBitmap[idxOf(VA2, 2)]).toBeFalsy();
    expect(f.v.read(VA2).status).toBe('ok');
    // The same page (same gfn and role) is linked at the second PDE.
    expect(tableOf(f, VA2, 1)).toBe(pt);
    expect(pt.parentPtes.length).toBe(2);
    expect(pd.unsyncChildBitmap[idxOf(VA2, 2)]).toBeTruthy();
    expect(pd.unsyncChildren).toBe(2);
  });
});

describe('account_nx_huge_page(sp, req_level >= it.level)', () => {
  it('an exec in a guest 1 GiB page backed by 2 MiB host pages tracks only the level-1 direct page', () => {
    const vm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt', nxHugePages: true }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
    vm.addMemslot({ base: 1n << 30n, size: 1n << 30n, name: 'high', hostPageSize: '2M' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const V1G = 0x80_0000_0000n;
    pt.map(V1G, 1n << 30n, { size: '1G', flags: { writable: true } });
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    expect(v.fetch(V1G + 0x40_0000n).status).toBe('ok');
    const direct = vm.shadow.allPages.filter((sp) => sp.role.direct);
    // Both direct pages (levels 2 and 1) are made under the mitigation (mmu.c:801)...
    expect(direct.map((sp) => [sp.level, sp.nxHugePageDisallowed]).sort()).toEqual([[1, true], [2, true]]);
    // ...but req_level is 2 (the host's 2 MiB): only the page made at it.level 2 could be huge.
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
    expect([...vm.possibleNxHugePages].map((sp) => (sp as ShadowPage).level)).toEqual([1]);
  });
});

describe('account_shadowed / unaccount_shadowed', () => {
  it('disallow_lpage counts +1 at levels 2 and 3 while a table is shadowed, back to 0 after its zap', () => {
    const f = shadowFixture('paging4', { hostPageSize: '2M' });
    const PTG = 0x600_5000n; // a guest page table inside the 2 MiB at 0x600_0000 (an aligned slot)
    f.pt.placeTable(1, VA, PTG);
    f.pt.map(VA, GPA, { flags: { writable: true } });
    const at = (level: number) => f.ram.lpageDisallow[level - 2]![Math.floor(gfnOf(PTG) / 512 ** (level - 1))];
    expect([at(2), at(3)]).toEqual([0, 0]);
    expect(f.v.read(VA).status).toBe('ok');
    // The root, PDPT and PD (in the pool at 1 MiB) and the PT share the first 1 GiB: 4 at level 3.
    expect([at(2), at(3)]).toEqual([1, 4]);
    const indirect = f.vm.shadow.indirectShadowPages;
    expect(f.vm.stats.get('indirect_shadow_pages')).toBe(indirect);
    f.vm.shadow.zapPage(tableOf(f, VA, 1));
    expect([at(2), at(3)]).toEqual([0, 3]);
    expect(f.vm.shadow.lpageDisallowed(gfnOf(PTG), 2)).toBe(false);
    // kvm->arch.indirect_shadow_pages-- (mmu.c:812), and the VM's gauge with it.
    expect(f.vm.shadow.indirectShadowPages).toBe(indirect - 1);
    expect(f.vm.stats.get('indirect_shadow_pages')).toBe(indirect - 1);
  });

  it('one write-track count per upper-level page: two roles at one gfn count 2, zapping one leaves 1', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const VA2 = 0x8000_0000n; // another PDPTE, read-only, pointing at the same guest page directory
    f.pt.map(VA, GPA, { flags: { writable: true } });
    f.pt.setEntry(VA2, 3, f.pt.getEntry(VA, 3).value & ~W);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.read(VA2 + (VA & 0x3fff_ffffn)).status).toBe('ok');
    const pdGfn = gfnOf(BigInt(f.pt.getEntry(VA, 2).gpa));
    const pds = pagesAt(f, pdGfn);
    expect(pds.length).toBe(2); // role.access differs
    expect(f.vm.shadow.writeTrackCount(pdGfn)).toBe(2);
    f.vm.shadow.zapPage(pds[0]!);
    expect(f.vm.shadow.writeTrackCount(pdGfn)).toBe(1);
    expect(f.vm.shadow.isWriteTracked(pdGfn)).toBe(true);
    // The other page is still found in the hash bucket they shared.
    expect(pagesAt(f, pdGfn)).toEqual([pds[1]]);
    f.vm.shadow.zapPage(pds[1]!);
    expect(f.vm.shadow.writeTrackCount(pdGfn)).toBe(0);
  });
});

describe('kvm_mmu_slot_gfn_write_protect when a gfn becomes a shadowed table', () => {
  function dataThenTable(flags: { writable: boolean }, hostPageSize: '4K' | '2M' = '4K') {
    const f = shadowFixture('paging4', { hostPageSize });
    const DATA = 0x70_0000n;
    f.pt.map(VA, DATA, { flags: { ...flags, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pt = tableOf(f, VA, 1);
    return { f, DATA, pt, idx: idxOf(VA, 1) };
  }
  const shadowAsTable = (f: ShadowFixture, at: bigint) => {
    const VB = 0x7200_0000n;
    f.pt.placeTable(1, VB, at);
    f.pt.map(VB, GPA, { flags: { writable: true } });
    const from = f.vm.events.all.length;
    expect(f.v.read(VB).status).toBe('ok');
    return eventsFrom(f.vm, from).filter((e) => e.kind === 'tlb_flush' && e.gpa === at);
  };

  it('a read-only mapping has nothing to protect: no flush for the gfn (spte_write_protect returns false)', () => {
    const { f, DATA, pt, idx } = dataThenTable({ writable: false });
    const before = f.vm.shadow.readSpte(pt, idx);
    expect(before & W).toBe(0n);
    expect(shadowAsTable(f, DATA)).toEqual([]);
    expect(f.vm.shadow.readSpte(pt, idx)).toBe(before);
  });

  it('a writable mapping loses W and MMU-writable, with one VM-wide flush for the gfn', () => {
    const { f, DATA, pt, idx } = dataThenTable({ writable: true });
    expect(f.v.write(VA).status).toBe('ok');
    const before = f.vm.shadow.readSpte(pt, idx);
    expect(before & W).toBe(W);
    const from = f.vm.events.all.length;
    const flushes = shadowAsTable(f, DATA);
    expect(flushes.map((e) => [e.vcpu, e.level, e.outcome])).toEqual([[-1, 1, 'write-protect a newly shadowed guest page table']]);
    // The write protection itself is the VM's too (account_shadowed takes no vCPU).
    const wp = eventsFrom(f.vm, from).filter((e) => e.kind === 'spte_change' && e.oldSpte === before);
    expect(wp.map((e) => e.vcpu)).toEqual([-1]);
    expect(f.vm.shadow.readSpte(pt, idx)).toBe(before & ~(W | f.vm.config.mmuWritableMask));
  });

  it('a mapping write-protected for dirty logging (W clear, MMU-writable set) loses MMU-writable too', () => {
    const { f, DATA, pt, idx } = dataThenTable({ writable: true });
    expect(f.v.write(VA).status).toBe('ok');
    f.vm.setDirtyLogging(f.ram, true);
    const logged = f.vm.shadow.readSpte(pt, idx);
    expect(logged & W).toBe(0n);
    expect(logged & f.vm.config.mmuWritableMask).toBe(f.vm.config.mmuWritableMask);
    expect(shadowAsTable(f, DATA).length).toBe(1);
    expect(f.vm.shadow.readSpte(pt, idx)).toBe(logged & ~f.vm.config.mmuWritableMask);
  });

  it('a 1 GiB leaf over the gfn is write-protected too (levels 1 to KVM_MAX_HUGEPAGE_LEVEL)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.vm.addMemslot({ base: 1n << 30n, size: 1n << 30n, name: 'giant', hostPageSize: '1G' });
    const V1G = 0x80_0000_0000n;
    f.pt.map(V1G, 1n << 30n, { size: '1G', flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.write(V1G).status).toBe('ok');
    const pdpt = tableOf(f, V1G, 3);
    const i = idxOf(V1G, 3);
    const leaf = f.vm.shadow.readSpte(pdpt, i);
    expect(leaf & (W | 0x80n)).toBe(W | 0x80n);
    expect(f.vm.shadow.leafCounts()[3]).toBe(1);
    expect(f.vm.stats.get('pages_1g')).toBe(1);
    shadowAsTable(f, (1n << 30n) + 0x5000n);
    expect(f.vm.shadow.readSpte(pdpt, i)).toBe(leaf & ~(W | f.vm.config.mmuWritableMask));
  });
});

describe('__kvm_mmu_prepare_zap_page and commit', () => {
  it('zapping a page directory zaps its unsync page table first and counts both (nr_zapped)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.storePte(VA + 0x1000n, 1, GPA + 0x1000n | 0x63n).status).toBe('ok');
    const pt = tableOf(f, VA, 1);
    const pd = tableOf(f, VA, 2);
    expect(pt.unsync).toBe(true);
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    const invalid: ShadowPage[] = [];
    expect(f.vm.shadow.prepareZap(pd, invalid, -1)).toBe(2);
    f.vm.shadow.commitZap(invalid, -1);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 2);
    expect(f.vm.shadow.allPages).not.toContain(pt);
    expect(f.vm.shadow.allPages).not.toContain(pd);
  });

  it('a root in use stays allocated and counted, asks for a free of obsolete roots, and goes with its last reference', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const m = f.vm.shadow;
    const root = f.v.shadow!.ctx.root.sp!;
    expect(root.rootCount).toBe(1);
    // A page that is not a root: no request.
    const req = m.freeObsoleteRootsRequest;
    m.zapPage(tableOf(f, VA, 1));
    expect(m.freeObsoleteRootsRequest).toBe(req);
    expect(m.nUsedMmuPages).toBe(3);
    // The root: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS (mmu.c:2709-2710), still counted (mmu.c:2685-2697).
    const from = f.vm.events.all.length;
    m.zapPage(root);
    expect(m.freeObsoleteRootsRequest).toBe(req + 1);
    expect(m.nUsedMmuPages).toBe(3);
    expect(m.allPages).toContain(root);
    expect(m.find(root.gfn)).toEqual([]);
    const zaps = eventsFrom(f.vm, from).filter((e) => e.kind === 'sp_zap');
    expect(zaps.map((e) => [e.gpa, e.vcpu, e.outcome!.includes('root in use')])).toEqual([[BigInt(root.gfn) << 12n, -1, true]]);
    // The zapped root is off the active list (list_del, mmu.c:2690): the fast zap-all finds the PDPT and the PD.
    const fz = f.vm.events.all.length;
    expect(m.zapAllFast()).toBe(2);
    expect(m.freeObsoleteRootsRequest).toBe(req + 2);
    expect(eventsFrom(f.vm, fz).filter((e) => e.kind === 'zap').length).toBe(1);
    expect(eventsFrom(f.vm, fz).filter((e) => e.kind === 'sp_zap').every((e) => !e.outcome!.includes('root in use'))).toBe(true);
    // The vCPU drops its reference at the next entry: the root is prepared again and freed.
    expect(f.v.read(VA).status).toBe('ok');
    expect(m.allPages).not.toContain(root);
    expect(m.nUsedMmuPages).toBe(4);
  });

  it('a valid root the previous-roots cache evicts is not zapped (root_count drops to 0, role valid)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const spaces = [f.pt];
    for (let i = 1; i < 5; i++) spaces.push(new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: 0x40_0000n + BigInt(i) * 0x4_0000n, size: 0x4_0000n } }));
    for (const s of spaces) s.map(VA, GPA);
    for (const s of spaces) {
      f.v.movCr3(s.root);
      expect(f.v.read(VA).status).toBe('ok');
    }
    // Space 0's root was the least recent of five: evicted (its root_count is 0 now).
    const root0 = pagesAt(f, gfnOf(BigInt(spaces[0]!.root))).filter((sp) => sp.level === 4);
    expect(root0.length).toBe(1);
    expect(root0[0]!.rootCount).toBe(0);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(0);
  });

  it('a zapped root held by two vCPUs is prepared again only when the last one drops it (mmu.c:3715-3716)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA);
    const v1 = f.vm.createVcpu(f.regs);
    expect(f.v.read(VA).status).toBe('ok');
    expect(v1.read(VA).status).toBe('ok');
    const root = f.v.shadow!.ctx.root.sp!;
    expect(v1.shadow!.ctx.root.sp).toBe(root);
    expect(root.rootCount).toBe(2);
    const zapped = () => f.vm.stats.get('mmu_shadow_zapped');
    const z0 = zapped();
    f.vm.shadow.zapPage(root);
    expect(zapped()).toBe(z0 + 1);
    // vCPU 0 drops its reference: root_count 1, nothing prepared; the page stays allocated.
    expect(f.v.read(VA).status).toBe('ok');
    expect(root.rootCount).toBe(1);
    expect(zapped()).toBe(z0 + 1);
    expect(f.vm.shadow.allPages).toContain(root);
    // vCPU 1 drops the last one: prepared again (++mmu_shadow_zapped, mmu.c:2658) and freed.
    expect(v1.read(VA).status).toBe('ok');
    expect(zapped()).toBe(z0 + 2);
    expect(f.vm.shadow.allPages).not.toContain(root);
  });

  it('freeing a root still loaded is refused (mmu.c:2743 WARN_ON_ONCE(sp->root_count))', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA);
    expect(f.v.read(VA).status).toBe('ok');
    const root = f.v.shadow!.ctx.root.sp!;
    expect(root.parentPtes.length).toBe(0);
    expect(() => f.vm.shadow.commitZapUnchecked([root], 0)).toThrow(expect.objectContaining({ rule: 'free-linked-sp' }));
  });

  it('kvm_mmu_zap_oldest_mmu_pages with more to zap than there are non-root pages zaps them all', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.shadow.zapOldest(100, -1)).toBe(3);
    expect(f.vm.stats.get('mmu_recycled')).toBe(3);
    expect(f.vm.shadow.nUsedMmuPages).toBe(1);
  });

  it('nested TDP: zapping an EPT02 table zaps the parentless guest-mode tables below it', () => {
    const n = nested();
    n.enter();
    expect(n.v.read(GVA).status).toBe('ok');
    const m = n.vm.shadow;
    const root = m.allPages.find((sp) => sp.role.guestMode && sp.rootCount > 0)!;
    const l3 = [...Array(512).keys()].map((i) => m.readSpte(root, i)).filter((s) => (s & 7n) !== 0n).map((s) => m.childOf(s));
    expect(l3.length).toBeGreaterThan(0);
    const below = (sp: ShadowPage): ShadowPage[] => {
      if (sp.level === 1) return [];
      const out: ShadowPage[] = [];
      for (let i = 0; i < 512; i++) {
        const s = m.readSpte(sp, i);
        if ((s & 7n) !== 0n && (s & 0x80n) === 0n && sp.level > 1) {
          const c = m.childOf(s);
          if (c.parentPtes.length === 1 && !out.includes(c)) out.push(c, ...below(c));
        }
      }
      return out;
    };
    const sub = below(l3[0]!);
    expect(sub.length).toBeGreaterThanOrEqual(2);
    const zapped = n.vm.stats.get('mmu_shadow_zapped');
    const invalid: ShadowPage[] = [];
    expect(m.prepareZap(l3[0]!, invalid, -1)).toBe(1 + sub.length);
    m.commitZap(invalid, -1);
    expect(n.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 1 + sub.length);
    for (const sp of sub) expect(m.allPages).not.toContain(sp);
  });

  it('nested TDP: a guest-mode table still linked from another page is not zapped with its parent', () => {
    const n = nested();
    // A second L2 region, in another 1 GiB of nGPA space, whose EPT12 PDE points at the same EPT12
    // page table as DATA_N's: one EPT02 page table under two EPT02 page directories.
    const Y = 0x4000_0000n + DATA_N;
    n.ept.setEntry(Y, 2, n.ept.getEntry(DATA_N, 2).value);
    const GVA2 = GVA + 0x40_0000n;
    n.l2pt.map(GVA2, Y, { flags: { writable: true } });
    n.enter();
    expect(n.v.read(GVA).status).toBe('ok');
    expect(n.v.read(GVA2).status).toBe('ok');
    const m = n.vm.shadow;
    const shared = m.allPages.find((sp) => sp.role.guestMode && sp.level === 1 && sp.parentPtes.length === 2);
    expect(shared).toBeDefined();
    const [a, b] = shared!.parentPtes.map((p) => p.sp);
    expect(a).not.toBe(b);
    const invalid: ShadowPage[] = [];
    m.prepareZap(a!, invalid, -1);
    m.commitZap(invalid, -1);
    // mmu.c:2591-2594: only a child left without parent_ptes is zapped with it.
    expect(shared!.role.invalid).toBe(false);
    expect(shared!.parentPtes.map((p) => p.sp)).toEqual([b]);
    expect(m.allPages).toContain(shared);
  });
});

describe('range operations', () => {
  it('wrprotRange: 4 KiB leaves inside [start, end) only; a 2 MiB leaf around start', () => {
    const f = shadowFixture('paging4', { hostPageSize: '2M' });
    const HUGE = 0x600_0000n;
    const VH = 0x7040_0000n;
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    f.pt.map(VH, HUGE, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.write(VA).status).toBe('ok');
    expect(f.v.write(VH).status).toBe('ok');
    const pt = tableOf(f, VA, 1);
    const pd = tableOf(f, VH, 2);
    const small = () => f.vm.shadow.readSpte(pt, idxOf(VA, 1)) & W;
    const huge = () => f.vm.shadow.readSpte(pd, idxOf(VH, 2)) & W;
    const g = gfnOf(GPA);
    const h = gfnOf(HUGE);
    f.vm.shadow.wrprotRange(g + 1, g + 2);
    f.vm.shadow.wrprotRange(g - 1, g);
    expect(small()).toBe(W);
    const from = f.vm.events.all.length;
    f.vm.shadow.wrprotRange(g, g + 1);
    expect(small()).toBe(0n);
    expect(huge()).toBe(W);
    f.vm.shadow.wrprotRange(h + 7, h + 8);
    expect(huge()).toBe(0n);
    expect(eventsFrom(f.vm, from).map((e) => [e.kind, e.vcpu])).toEqual([['spte_change', -1], ['spte_change', -1]]);
  });

  it('zapCollapsibleSptes: only the leaves of the slot whose dirty logging stopped', () => {
    const vm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt' }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
    // B just below A, C just above it; A starts 64 MiB into a 1 GiB region.
    const base = (1n << 30n) + (0x400_0000n);
    const B = vm.addMemslot({ base, size: 0x400_0000n, name: 'B', hostPageSize: '2M' });
    const A = vm.addMemslot({ base: base + 0x400_0000n, size: 0x400_0000n, name: 'A', hostPageSize: '2M' });
    const C = vm.addMemslot({ base: base + 0x800_0000n, size: 0x400_0000n, name: 'C', hostPageSize: '2M' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const V = 0x80_0000_0000n;
    // 2 MiB guest pages: the last of B, the first of A, the first of C.
    const targets = [A.base as bigint - 0x20_0000n, A.base as bigint, C.base as bigint];
    targets.forEach((t, i) => pt.map(V + BigInt(i) * 0x20_0000n, t, { size: '2M', flags: { writable: true, accessed: true, dirty: true } }));
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    for (const s of [A, B, C]) vm.setDirtyLogging(s, true);
    for (let i = 0; i < 3; i++) expect(v.read(V + BigInt(i) * 0x20_0000n).status).toBe('ok');
    const leavesIn = (s: Memslot) => [...vm.shadow.rmap.entries()].filter(([g]) => g >= s.baseGfn && g < s.baseGfn + s.npages).length;
    const inB = leavesIn(B);
    const inC = leavesIn(C);
    const inA = leavesIn(A);
    expect([inA > 0, inB > 0, inC > 0]).toEqual([true, true, true]);
    const from = vm.events.all.length;
    expect(vm.shadow.zapCollapsibleSptes(A)).toBe(inA);
    expect([leavesIn(A), leavesIn(B), leavesIn(C)]).toEqual([0, inB, inC]);
    // One flush for the slot (kvm_flush_remote_tlbs_memslot, mmu.c:7128-7130), named by the slot.
    const fl = eventsFrom(vm, from).filter((e) => e.kind === 'tlb_flush');
    expect(fl.map((e) => [e.gpa, e.outcome])).toEqual([[A.base, 'zap collapsible SPTEs in A']]);
    expect(eventsFrom(vm, from).every((e) => e.vcpu === -1)).toBe(true);
  });

  it('zapSlot: pages with gPTEs in the slot and its leaves; direct pages and tables outside stay', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const B = f.vm.addMemslot({ base: 1n << 30n, size: 0x40_0000n, name: 'B', hostPageSize: '4K' });
    const C = f.vm.addMemslot({ base: (1n << 30n) + 0x40_0000n, size: 0x40_0000n, name: 'C', hostPageSize: '4K' });
    const VB = 0x7200_0000n;
    const VC = 0x7400_0000n;
    const VD = 0x7600_0000n;
    f.pt.placeTable(1, VB, B.base as bigint); // a guest page table at B's first gfn
    f.pt.placeTable(1, VC, C.base as bigint); // and one at C's first gfn (= B's end)
    f.pt.map(VB, GPA, { flags: { writable: true } });
    f.pt.map(VC, GPA + 0x1000n, { flags: { writable: true } });
    f.pt.map(VD, (B.base as bigint) + 0x20_0000n, { size: '2M', flags: { writable: true } }); // a direct page in B
    for (const va of [VB, VC, VD]) expect(f.v.read(va).status).toBe('ok');
    const ptB = tableOf(f, VB, 1);
    const ptC = tableOf(f, VC, 1);
    const direct = f.vm.shadow.allPages.find((sp) => sp.role.direct && sp.gfn === B.baseGfn + 512)!;
    expect(direct).toBeDefined();
    const leavesInB = [...f.vm.shadow.rmap.entries()].filter(([g]) => g >= B.baseGfn && g < B.baseGfn + B.npages).length;
    expect(leavesInB).toBeGreaterThan(0);
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    const from = f.vm.events.all.length;
    expect(f.vm.shadow.zapSlot(B)).toBe(leavesInB + 1);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 1);
    expect(f.vm.shadow.allPages).not.toContain(ptB);
    expect(f.vm.shadow.allPages).toContain(ptC);
    expect(pagesAt(f, direct.gfn)).toEqual([direct]);
    expect(eventsFrom(f.vm, from).every((e) => e.vcpu === -1)).toBe(true);
  });

  it('unprotectGfn zaps every valid page with gPTEs at the gfn and says whether there was one', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pt = tableOf(f, VA, 1);
    expect(f.vm.shadow.unprotectGfn(gfnOf(GPA), 0)).toBe(false);
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    expect(f.vm.shadow.unprotectGfn(pt.gfn, 0)).toBe(true);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 1);
    expect(f.vm.shadow.allPages).not.toContain(pt);
  });

  it('find returns the pages of its gfn only, not those of another gfn in the same hash bucket', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    // Two gfns in one bucket of hash_64(gfn, 12) (mmu.c:1826-1829 kvm_page_table_hashfn).
    const seen = new Map<number, number>();
    let pair: [number, number] | undefined;
    for (let g = 0x1000; g < 0x20000 && pair === undefined; g++) {
      const h = mmuPageHash(g);
      if (seen.has(h)) pair = [seen.get(h)!, g];
      else seen.set(h, g);
    }
    expect(pair).toBeDefined();
    // A guest page table at each.
    pair!.forEach((g, i) => {
      const va = VA + BigInt(i) * 0x20_0000n;
      f.pt.placeTable(1, va, BigInt(g) << 12n);
      f.pt.map(va, GPA);
      expect(f.v.read(va).status).toBe('ok');
    });
    for (const g of pair!) expect(f.vm.shadow.find(g).map((sp) => [sp.gfn, sp.level])).toEqual([[g, 1]]);
  });

  it('VM-wide operations are done by no vCPU: their events carry vcpu -1', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 4, flags: { writable: true, accessed: true, dirty: true } });
    for (let i = 0n; i < 4n; i++) expect(f.v.write(VA + i * 0x1000n).status).toBe('ok');
    const g = gfnOf(GPA);
    const m = f.vm.shadow;
    const check = (op: () => unknown) => {
      const from = f.vm.events.all.length;
      op();
      const ev = eventsFrom(f.vm, from);
      expect(ev.length).toBeGreaterThan(0);
      expect(ev.filter((e) => e.vcpu !== -1)).toEqual([]);
    };
    check(() => expect(m.ageRange(g, g + 1)).toBe(1));
    check(() => m.wrprotRange(g + 1, g + 2));
    check(() => expect(m.zapGfnRange(g + 2, g + 3)).toBe(1));
    expect(f.vm.events.all.filter((e) => e.kind === 'tlb_flush').at(-1)!.outcome).toBe('zap gfn range');
    check(() => m.zapPage(tableOf(f, VA, 1)));
    expect(f.v.read(VA).status).toBe('ok');
    check(() => m.zapAll());
    expect(f.v.read(VA).status).toBe('ok');
    check(() => expect(m.zapAllFast()).toBeGreaterThan(0));
  });
});

describe('valid pages only: for_each_valid_sp (mmu.c:1986-1994)', () => {
  /** Two guest page tables in one bucket: hash_64(0x1001, 12) = hash_64(0x2056, 12) = 0x61d (include/linux/hash.h:78, by hand). */
  function collidingTables() {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.placeTable(1, VA, 0x100_1000n);
    f.pt.placeTable(1, VA + 0x20_0000n, 0x205_6000n);
    f.pt.map(VA, GPA, { flags: { writable: true } });
    f.pt.map(VA + 0x20_0000n, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.read(VA + 0x20_0000n).status).toBe('ok');
    return f;
  }

  it('for_each_gfn_valid_sp_with_gptes: the pages of the gfn only, not another gfn of the bucket, and no obsolete page', () => {
    const f = collidingTables();
    const m = f.vm.shadow;
    expect(mmuPageHash(0x1001)).toBe(mmuPageHash(0x2056));
    expect(m.validSpsWithGptes(0x1001).map((sp) => [sp.gfn, sp.level])).toEqual([[0x1001, 1]]);
    expect(m.validSpsWithGptes(0x2056).map((sp) => [sp.gfn, sp.level])).toEqual([[0x2056, 1]]);
    // A root zapped while loaded stays hashed but invalid (is_obsolete_sp): skipped.
    const root = f.v.shadow!.ctx.root.sp!;
    m.zapPage(root);
    expect(m.allPages).toContain(root);
    expect(m.validSpsWithGptes(root.gfn)).toEqual([]);
  });

  it('kvm_mmu_find_shadow_page: an obsolete page of another gfn in the bucket is no collision (mmu.c:2240-2244, 2302-2303)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const m = f.vm.shadow;
    const root = f.v.shadow!.ctx.root.sp!;
    let other = 1;
    while (other === root.gfn || mmuPageHash(other) !== mmuPageHash(root.gfn)) other++;
    // Nothing else shares the bucket: the zapped root is the only page there.
    expect(m.allPages.filter((sp) => mmuPageHash(sp.gfn) === mmuPageHash(other))).toEqual([root]);
    expect(f.vm.stats.get('max_mmu_page_hash_collisions')).toBe(0);
    m.zapPage(root);
    expect(root.role.invalid).toBe(true);
    const sp = m.getShadowPage(f.v.shadow!.ctx, other, tableOf(f, VA, 1).role);
    expect(sp.gfn).toBe(other);
    expect(f.vm.stats.get('max_mmu_page_hash_collisions')).toBe(0);
  });

  it('kvm_mmu_find_shadow_page: an unsync page whose sync changes no SPTE is found without a flush (mmu.c:2286-2289: only ret > 0)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.write(VA).status).toBe('ok');
    const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
    // The guest rewrites its PTE with the value it has: the table goes unsync, the mapping is the same.
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    const sp = f.vm.shadow.find(ptGfn, (p) => p.level === 1)[0]!;
    expect(sp.unsync).toBe(true);
    const leaf = f.v.shadow!.leafFor(VA)!.spte;
    // The next PDE links the same table: the walk there finds the page by lookup and syncs it.
    f.pt.setEntry(VA + 0x20_0000n, 2, f.pt.getEntry(VA, 2).value);
    const from = f.vm.events.all.length;
    expect(f.v.read(VA + 0x20_0000n).status).toBe('ok');
    expect(f.v.shadow!.leafFor(VA)!.spte).toBe(leaf);
    expect(eventsFrom(f.vm, from).filter((e) => e.kind === 'tlb_flush')).toEqual([]);
    expect(f.vm.shadow.find(ptGfn, (p) => p.level === 1)).toEqual([sp]);
  });

  it('kvm_mmu_commit_zap_page of an empty list returns before the flush (mmu.c:2728-2729)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const flushes = f.vm.stats.get('remote_tlb_flush');
    const from = f.vm.events.all.length;
    f.vm.shadow.commitZap([], 0);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes);
    expect(eventsFrom(f.vm, from)).toEqual([]);
  });
});
