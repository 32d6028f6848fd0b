/**
 * src/shadow/shadow-fault.ts paths that mutation testing (`npm run mutate`) found unchecked:
 * `FNAME(page_fault)` / `direct_page_fault` outcomes (RET_PF_*, emulation, stale roots),
 * `kvm_mmu_hugepage_adjust` and `disallowed_hugepage_adjust`, `mmu_set_spte`'s zaps and flushes,
 * `validate_direct_spte`, NX huge page accounting of direct pages, the phase-1 sync of unsync
 * children, and the prefetch of direct and indirect pages. Expected values come from mmu.c,
 * paging_tmpl.h, spte.c and kvm_main.c of Linux v6.16.1 (cited per assertion).
 *
 * Surviving mutants of shadow-fault.ts that no test can kill (equivalent):
 * - hugepageAdjust `level === 1` → false: goal_level is already 1 and pfn % 1 is 0.
 * - `if (mmu.config.nxHugePages) disallowedHugepageAdjust(...)` → true (both paths): without the
 *   mitigation no page has nx_huge_page_disallowed (turning it off zaps all, mmu.c:7311-7317), so
 *   the call returns at the child test.
 * - `isMmioPfn: false` → true in mmu_set_spte: only EPT SPTEs carry memory-type bits (getMtMask);
 *   shadow SPTEs have none.
 * - `oldLeaf` (→ true / false / `||`) and `(!oldLeaf || !isWritable(old))` → true / `oldLeaf`:
 *   a writable leaf means no synced shadow page has its gfn (account_shadowed write-protects the
 *   gfn first, mmu.c:760-776), so mmu_try_to_unsync_pages returns false without side effects.
 * - `__direct_pte_prefetch`'s loop bound `<` → `<=` and the final `start >= 0` → `start > 0`: the
 *   extra entry can only end a run the final prefetch would have covered the same way (its count
 *   is taken from the window end), and a run reaching the window end never starts at entry 0 of
 *   window 0 (the faulting entry lies in the window).
 * - `child.unsyncChildren > 0` → true / `>= 0` in fetch: mmu_sync_children on a page without
 *   unsync children finds none and changes nothing (mmu.c:2172-2212).
 * - hugepageAdjust `fault.maxLevel === 1` → false: max_mapping_level(…, 1) is 1, and req_level
 *   was 1 already.
 * - mmu_set_spte's `level > 1 && !isLargePte(old)` → false: a table's pfn (its shadow page) is
 *   never the leaf's, so the drop_spte branch unlinks it with the same flush.
 * - prefetch_gpte's `!isNonpresentValue` → true: writing the non-present value over itself is no
 *   SPTE change (setSpte returns early).
 * Not killed (KVM reaches the line only through a WARN, or it needs a spurious fault):
 * - direct_page_fault with no root (`sp === null` → RETRY): KVM's direct_map WARNs and returns
 *   -EFAULT (mmu.c:3383-3384); the model retries.
 * - mmu_set_spte over a present SPTE with a no-slot pfn (`if (isShadowPresent(old)) zapPte` →
 *   false): KVM's mark_mmio_spte → mmu_spte_set WARNs on a present SPTE (mmu.c:292-299).
 * - `spte === old` → SPURIOUS, and the prefetch skipped after it: a fault always changes the SPTE
 *   here (no second vCPU races the first), unless a write to a write-protected gfn, which returns
 *   RET_PF_WRITE_PROTECTED anyway.
 */
import { describe, expect, it } from 'vitest';
import { CR0, CR4, InvalidArgumentError, PageSizeError, PageTableBuilder, RET_PF, SHADOW_NONPRESENT_VALUE, Vm, directPageFault, hugepageAdjust, isMmioSpte, mmuSetSpte, newPageFault, shadowPageFault, shadowPath, spteToPfn, type Vcpu } from '../../src';
import { warm } from '../validate/shadow-support';
import { LONG_MODE } from '../vm/fixtures';
import { hostFrameOf, refuses, shadowFixture, tableOf } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
/** Above the fixture's 1 GiB RAM slot: no memslot. */
const MMIO = 0x4000_0000n;
const W = 2n;
const U = 4n;
const A = 0x20n;
const NX = 1n << 63n;
const PFERR_W = 2;
const PAGING_OFF = { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n };


function flushOutcomes(vm: Vm, from: number): string[] {
  return vm.events.all.slice(from).filter((e) => e.kind === 'tlb_flush').map((e) => e.outcome ?? '');
}

function leafPfn(v: Vcpu, va: bigint): number | undefined {
  const l = v.shadow!.leafFor(va);
  return l === undefined ? undefined : spteToPfn(l.spte);
}

/** The SPTE the hardware stops at for `va` (an MMIO SPTE too). */
function lastSpte(vm: Vm, v: Vcpu, va: bigint): bigint {
  const ctx = v.shadow!.ctx;
  const path = shadowPath(vm.shadow, ctx, ctx.root.hpa, va);
  const last = path[path.length - 1]!;
  return vm.shadow.readSpte(last.sp, last.idx);
}

/** A shadow VM with its own options; the guest's tables in [1 MiB, 5 MiB). */
function vmWith(spte: { nxHugePages?: boolean; hostMaxPhyAddr?: number }, hostPageSize: '4K' | '2M' = '2M', ramSize = 1n << 30n) {
  const vm = new Vm({ mmu: 'shadow', checkInvariants: true, spte: { flavour: 'npt', ...spte } });
  const ram = vm.addMemslot({ base: 0n, size: ramSize, name: 'ram', hostPageSize });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  return { vm, ram, pt, v };
}

describe('kvm_mmu_hugepage_adjust and disallowed_hugepage_adjust', () => {
  const BIG = 0x4000_0000n;
  const BIG_GPA = 0x400_0000n;

  it('a read next to an exec-split 2 MiB page maps 4K inside the split page (mmu.c:3330-3349)', () => {
    const g = vmWith({ nxHugePages: true });
    g.pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true } });
    expect(g.v.fetch(BIG).status).toBe('ok');
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(1); // mmu.c:792
    // Entry 16: outside the prefetch window of the fetch (mmu.c:3127-3128).
    expect(g.v.read(BIG + 0x10_000n).status).toBe('ok');
    // mmu.c:3332-3346: goal level 2 finds a present non-leaf SPTE whose child is
    // nx_huge_page_disallowed → goal_level-- and pfn |= gfn & (512 - 1): a 4K leaf at the gfn's frame.
    const leaf = g.v.shadow!.leafFor(BIG + 0x10_000n)!;
    expect(leaf.level).toBe(1);
    expect(spteToPfn(leaf.spte)).toBe(g.ram.pfnBase + Number((BIG_GPA + 0x10_000n) >> 12n));
    expect(g.vm.stats.get('pages_2m')).toBe(0);
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(1); // no new direct page
  });

  it('paging off (direct_map, mmu.c:3366-3367): the same adjustment', () => {
    const g = vmWith({ nxHugePages: true });
    const v0 = g.vm.createVcpu(PAGING_OFF);
    expect(v0.fetch(BIG_GPA).status).toBe('ok');
    expect(v0.read(BIG_GPA + 0x10_000n).status).toBe('ok');
    const leaf = v0.shadow!.leafFor(BIG_GPA + 0x10_000n)!;
    expect(leaf.level).toBe(1); // mmu.c:3345-3346
    expect(spteToPfn(leaf.spte)).toBe(g.ram.pfnBase + Number((BIG_GPA + 0x10_000n) >> 12n));
    expect(g.vm.stats.get('pages_2m')).toBe(0);
  });

  it('a 1 GiB guest page: a split below level 3 does not shrink a 2 MiB mapping elsewhere in it (cur_level == goal_level, mmu.c:3333)', () => {
    const g = vmWith({ nxHugePages: true });
    const GB = 0x80_0000_0000n;
    g.pt.map(GB, 0n, { size: '1G', flags: { writable: true } });
    const at = 0x2000_0000n;
    expect(g.v.fetch(GB + at).status).toBe('ok');
    // Host pages are 2M, so req_level is 2 (mmu.c:3314-3316): one possible NX huge page, the level-1 page.
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(1); // mmu.c:802-803 only for req_level >= it.level
    expect(g.v.read(GB + at + 0x20_0000n).status).toBe('ok');
    // Goal level 2 (a read): at level 3 the present direct table's child is nx_huge_page_disallowed,
    // but level 3 is not the goal level, so nothing changes there; level 2 is empty → a 2 MiB leaf.
    expect(g.v.shadow!.leafFor(GB + at + 0x20_0000n)!.level).toBe(2);
  });

  it('1 GiB host and guest pages: a read next to an exec split at level 3 maps 2 MiB at the 2 MiB-aligned frame (mmu.c:3344-3346)', () => {
    const g = vmWith({ nxHugePages: true });
    const big = g.vm.addMemslot({ base: 1n << 30n, size: 1n << 30n, name: 'big', hostPageSize: '1G' });
    const GB = 0x80_0000_0000n;
    g.pt.map(GB, 1n << 30n, { size: '1G', flags: { writable: true } });
    expect(g.v.fetch(GB).status).toBe('ok');
    // req_level 3 >= 3: the level-2 direct page is a possible NX huge page, and so is the level-1 one.
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(2);
    const off = 0x2345_6000n;
    expect(g.v.read(GB + off).status).toBe('ok');
    // Goal 3 finds the nx_huge_page_disallowed level-2 page: pfn |= gfn & (2^18 - 2^9), goal 2.
    const leaf = g.v.shadow!.leafFor(GB + off)!;
    expect(leaf.level).toBe(2);
    expect(spteToPfn(leaf.spte)).toBe(big.pfnBase + Number((off >> 12n) & ~511n));
  });

  it('a write fault on a read-only 4K leaf with the mitigation on (cur_level > PG_LEVEL_4K, mmu.c:3332)', () => {
    const g = vmWith({ nxHugePages: true });
    g.pt.map(VA, GPA, { flags: { writable: true, accessed: true } }); // D clear: read-only SPTE
    expect(g.v.read(VA).status).toBe('ok');
    expect(g.v.shadow!.leafFor(VA)!.spte & W).toBe(0n); // paging_tmpl.h protect_clean_gpte
    const r = g.v.write(VA);
    expect(r.status).toBe('ok');
    expect(r.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
    expect(g.v.shadow!.leafFor(VA)!.spte & W).toBe(W);
  });

  it('no slot (MMIO) under a 2 MiB guest page: no huge page, an MMIO SPTE at level 1 (mmu.c:3304-3305)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(0x4000_0000n, MMIO, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    const r = f.v.read(0x4000_0000n);
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', true]]);
    expect(f.v.stats.get('pf_mmio_spte_created')).toBe(1); // mmu.c:3015
    const ctx = f.v.shadow!.ctx;
    const path = shadowPath(f.vm.shadow, ctx, ctx.root.hpa, 0x4000_0000n);
    expect(path[path.length - 1]!.sp.level).toBe(1);
  });
});

describe('kvm_mmu_faultin_pfn: emulation before the shadow tables are touched', () => {
  it('MMIO caching disabled (host MAXPHYADDR 52): RET_PF_EMULATE without an SPTE (mmu.c:3448-3449)', () => {
    const g = vmWith({ hostMaxPhyAddr: 52 });
    g.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    g.pt.map(VA + 0x20_0000n, 0x8000_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    expect(g.v.read(VA).status).toBe('ok');
    const changes = g.vm.stats.get('spte_changes');
    const r = g.v.read(VA + 0x20_0000n);
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(r.emulation).toMatch(/MMIO caching disabled/);
    // kvm_handle_noslot_fault returns before FNAME(fetch): not even the tables below the root.
    expect(g.vm.stats.get('spte_changes')).toBe(changes);
    expect(g.v.stats.get('pf_mmio_spte_created')).toBe(0);
  });

  it('paging off, MMIO caching disabled: the same (direct_page_fault → kvm_mmu_faultin_pfn)', () => {
    const g = vmWith({ hostMaxPhyAddr: 52 });
    const v0 = g.vm.createVcpu(PAGING_OFF);
    expect(v0.read(GPA).status).toBe('ok');
    const changes = g.vm.stats.get('spte_changes');
    const r = v0.read(0x8000_0000n);
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(g.vm.stats.get('spte_changes')).toBe(changes);
  });

  it('a read-only memslot: reads map without W although the gPTE is writable and dirty; a write is emulated', () => {
    const f = shadowFixture('paging4');
    const ROM = 0x4000_0000n;
    f.vm.addMemslot({ base: ROM, size: 0x10_0000n, readonly: true, name: 'rom' });
    f.pt.map(VA, ROM, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    // spte.c:211-214: !host_writable clears ACC_WRITE_MASK (map_writable is false for a read-only slot).
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(0n);
    const r = f.v.write(VA);
    // mmu.c:3414-3415: KVM_PFN_ERR_RO_FAULT → RET_PF_EMULATE, one exit.
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(r.emulation).toMatch(/read-only memslot/);
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(0n);
  });

  it('paging off: a write to a read-only memslot is emulated', () => {
    const f = shadowFixture('paging4');
    f.vm.addMemslot({ base: 0x4000_0000n, size: 0x10_0000n, readonly: true, name: 'rom' });
    const v0 = f.vm.createVcpu(PAGING_OFF);
    const r = v0.write(0x4000_0000n);
    expect(r.status).toBe('emulated'); // mmu.c:3414-3415
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(r.emulation).toMatch(/read-only memslot/);
  });
});

describe('mmu_set_spte (mmu.c:2999-3068)', () => {
  it('a stale MMIO SPTE (old generation) is replaced by one SPTE write (mark_mmio_spte → mmu_spte_set, mmu.c:292-299)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, MMIO, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('emulated');
    f.vm.addMemslot({ base: 0x8000_0000n, size: 0x10_0000n, name: 'more' }); // a new MMIO generation
    const changes = f.vm.stats.get('spte_changes');
    const r = f.v.read(VA);
    expect(r.status).toBe('emulated');
    expect(f.v.stats.get('pf_mmio_spte_created')).toBe(2); // mmu.c:3015
    expect(f.vm.stats.get('spte_changes')).toBe(changes + 1);
  });

  /** An unsync level-1 table for VA whose data gPTE the guest can rewrite without an exit. */
  function unsyncWith(flags: { writable?: boolean; dirty?: boolean; nx?: boolean }) {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { accessed: true, ...flags } });
    expect(f.v.read(VA).status).toBe('ok');
    // The dm mapping of VA's table is writable: a store to it unsyncs the table.
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    expect(tableOf(f, VA, 1).unsync).toBe(true);
    return f;
  }

  it('a present leaf whose gPTE now maps another gfn: drop_spte, then one flush (mmu.c:3034-3036, 3055-3056)', () => {
    const f = unsyncWith({ writable: true });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(0n); // D clear
    // The guest rewrites the PTE in its unsync table (no exit): another frame, writable and dirty.
    f.pt.setEntry(VA, 1, (GPA + 0x5000n) | 0x63n);
    const from = f.vm.events.all.length;
    expect(f.v.write(VA).status).toBe('ok');
    expect(BigInt(leafPfn(f.v, VA)!)).toBe(hostFrameOf(f, GPA + 0x5000n));
    expect(flushOutcomes(f.vm, from)).toEqual(['mmu_set_spte']);
  });

  it('an MMU-writable leaf that loses W on a fetch fault is flushed (mmu.c:3045-3046, spte.h leaf_spte_change_needs_tlb_flush)', () => {
    const f = unsyncWith({ writable: true, dirty: true, nx: true });
    expect(f.v.write(VA).status).toBe('ok');
    expect(f.v.shadow!.leafFor(VA)!.spte & (W | NX)).toBe(W | NX);
    // The guest makes the page executable and read-only in its unsync table.
    f.pt.setEntry(VA, 1, f.pt.getEntry(VA, 1).value & ~(W | NX));
    const from = f.vm.events.all.length;
    const r = f.v.fetch(VA);
    expect(r.status).toBe('ok');
    expect(r.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
    expect(f.v.shadow!.leafFor(VA)!.spte & (W | NX)).toBe(0n);
    expect(flushOutcomes(f.vm, from)).toEqual(['mmu_set_spte']);
  });

  it('a write to a read-only 2 MiB leaf of the same frame changes it in place: no flush (was_rmapped, mmu.c:3037-3038)', () => {
    const f = shadowFixture('paging4');
    const BIG = 0x4000_0000n;
    f.pt.map(BIG, 0x400_0000n, { size: '2M', flags: { writable: true, accessed: true } });
    expect(f.v.read(BIG).status).toBe('ok');
    expect(f.v.shadow!.leafFor(BIG)).toMatchObject({ level: 2 });
    const from = f.vm.events.all.length;
    expect(f.v.write(BIG).status).toBe('ok');
    const leaf = f.v.shadow!.leafFor(BIG)!;
    expect([leaf.level, leaf.spte & W]).toEqual([2, W]);
    // Read-only → writable needs no flush (spte.h leaf_spte_change_needs_tlb_flush).
    expect(flushOutcomes(f.vm, from)).toEqual([]);
  });

  it.each([false, true])('a table replaced by a huge leaf is unlinked with a flush (mmu.c:3027-3033), NX huge pages %s', (nx) => {
    // Another address space's page tables lie in [2 MiB, 4 MiB): while shadowed they disallow a
    // 2 MiB mapping there (account_shadowed, mmu.c:760-776), so VA's 2 MiB page is mapped small.
    // With the mitigation on, that small page is not nx_huge_page_disallowed (a read made it), so
    // disallowed_hugepage_adjust keeps the 2 MiB goal (mmu.c:3336).
    const f = shadowFixture('paging4');
    f.vm.setNxHugePages(nx);
    const BIG = 0x4000_0000n;
    f.pt.map(BIG, 0x20_0000n, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    const pt2 = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: 0x20_0000n, size: 0x10_0000n } });
    pt2.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const v2 = f.vm.createVcpu({ ...f.regs, cr3: pt2.root });
    expect(v2.read(VA).status).toBe('ok');
    expect(f.v.read(BIG).status).toBe('ok');
    expect(f.v.shadow!.leafFor(BIG)!.level).toBe(1);
    // Those tables stop being shadowed: their pages are zapped, the 2 MiB region is allowed again.
    v2.unload();
    for (const sp of f.vm.shadow.allPages.filter((p) => !p.role.direct && p.gfn >= 0x200 && p.gfn < 0x400)) f.vm.shadow.zapPage(sp);
    const from = f.vm.events.all.length;
    const direct = f.vm.shadow.allPages.find((p) => p.role.direct && p.level === 1)!;
    // Entry 16: outside the first fault's prefetch window.
    expect(f.v.read(BIG + 0x10_000n).status).toBe('ok');
    expect(f.v.shadow!.leafFor(BIG + 0x10_000n)!.level).toBe(2);
    expect(direct.parentPtes).toEqual([]); // drop_parent_pte
    expect(flushOutcomes(f.vm, from)).toEqual(['mmu_set_spte']); // flush = true → kvm_flush_remote_tlbs_gfn
  });
});

describe('FNAME(page_fault): write-tracked gfns, CR0.WP=0, stale roots', () => {
  it('a first write to a write-tracked gfn installs a read-only SPTE and is emulated once (mmu.c:3050-3051)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pd = BigInt(f.pt.getEntry(VA, 2).gpa);
    expect(f.vm.shadow.isWriteTracked(Number(pd >> 12n))).toBe(true);
    const r = f.v.write(f.dm(pd));
    // Not present: page_fault_handle_page_track does not apply (!fault->present, mmu.c page_fault_handle_page_track);
    // FNAME(fetch) → mmu_set_spte → make_spte write-protects → RET_PF_WRITE_PROTECTED → emulate.
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(r.emulation).toMatch(/write-protected gfn/);
    expect(f.v.shadow!.leafFor(f.dm(pd))!.spte & W).toBe(0n);
  });

  it('a write to a present read-only SPTE of a write-tracked gfn: RET_PF_WRITE_PROTECTED before fetch, flood counts cleared on the path (paging_tmpl.h:787-790)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pd = BigInt(f.pt.getEntry(VA, 2).gpa);
    expect(f.v.read(f.dm(pd)).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    const path = shadowPath(f.vm.shadow, ctx, ctx.root.hpa, f.dm(pd)).map((p) => p.sp);
    expect(path.map((sp) => sp.level)).toEqual([4, 3, 2, 1]);
    for (const sp of path) sp.writeFloodingCount = 2;
    const changes = f.vm.stats.get('spte_changes');
    const r = f.v.write(f.dm(pd));
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(r.emulation).toMatch(/write-tracked gfn/);
    // shadow_page_table_clear_flood (mmu.c:4385-4394): every page on the path.
    expect(path.map((sp) => sp.writeFloodingCount)).toEqual([0, 0, 0, 0]);
    expect(f.vm.stats.get('spte_changes')).toBe(changes); // nothing mapped
  });

  it('write_fault_to_shadow_pgtable: a write through the table that maps itself (paging_tmpl.h:697-698)', () => {
    const f = shadowFixture('paging4');
    // The direct map's level-1 table lies in the pool it maps, so dm(P) is translated by P itself.
    const tableOfVa = (va: bigint) => BigInt(f.pt.getEntry(va, 1).gpa) & ~0xfffn;
    const p = tableOfVa(f.dm(0x10_0000n));
    expect(tableOfVa(f.dm(p))).toBe(p);
    expect(f.v.read(f.dm(0x10_0000n)).status).toBe('ok');
    const s = f.v.shadow!;
    expect(s.pageFault(f.dm(p), 0, 0).writeToShadowPgtable).toBe(false); // a read
    expect(s.pageFault(f.dm(p), PFERR_W | 1, 0).writeToShadowPgtable).toBe(true);
    const other = 0x3f_f000n; // mapped by the direct map's next table, not on its own path
    expect(s.pageFault(f.dm(other), PFERR_W, 0).writeToShadowPgtable).toBe(false);
  });

  it('CR0.WP=0: a supervisor write to a writable user page keeps U (the rule needs !ACC_WRITE, paging_tmpl.h:810-811)', () => {
    const f = shadowFixture('paging4', { extraRegs: { cr0: CR0.PE | CR0.PG } });
    f.pt.map(VA, GPA, { flags: { writable: true, user: true, accessed: true, dirty: true } });
    expect(f.v.write(VA).status).toBe('ok');
    expect(f.v.shadow!.leafFor(VA)!.spte & (W | U)).toBe(W | U);
  });

  it('CR0.WP=0: a supervisor write to a read-only user page maps W without U, and without X under SMEP only (paging_tmpl.h:810-822)', () => {
    for (const smep of [false, true]) {
      const f = shadowFixture('paging4', { extraRegs: { cr0: CR0.PE | CR0.PG, cr4: smep ? CR4.SMEP : 0n } });
      f.pt.map(VA, GPA, { flags: { user: true, accessed: true, dirty: true } });
      expect(f.v.write(VA).status).toBe('ok');
      const spte = f.v.shadow!.leafFor(VA)!.spte;
      expect(spte & (W | U)).toBe(W);
      expect(spte & NX).toBe(smep ? NX : 0n);
    }
  });

  it('CR0.WP=0: an MMIO gfn keeps the walk\'s access in its MMIO SPTE (paging_tmpl.h:802-806 "&& fault->slot")', () => {
    const f = shadowFixture('paging4', { extraRegs: { cr0: CR0.PE | CR0.PG } });
    f.pt.map(VA, MMIO, { flags: { user: true, accessed: true, dirty: true } });
    expect(f.v.write(VA).status).toBe('emulated');
    // mark_mmio_spte stores pte_access & shadow_mmio_access_mask (W|U): U, not W (mmu.c:292-299).
    expect(lastSpte(f.vm, f.v, VA) & (W | U)).toBe(U);
  });

  it('a fault on a root made obsolete since the vCPU loaded it is retried (is_page_fault_stale, mmu.c:4688-4689)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { count: 32, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    f.vm.zapAllFast();
    const changes = f.vm.stats.get('spte_changes');
    const r = f.v.shadow!.pageFault(VA + 0x1_0000n, 0, 0);
    expect([r.ret, r.mmio, r.injected]).toEqual([RET_PF.RETRY, false, false]); // paging_tmpl.h:832-833
    expect(f.vm.stats.get('spte_changes')).toBe(changes);
  });

  it('a pending free-obsolete-roots request does not make a valid shadow-page root stale (mmu.c:4688-4700)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { count: 32, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    // Another vCPU's root (CR0.WP off: another role) is zapped while in use → the request is raised.
    const v2 = f.vm.createVcpu({ ...f.regs, cr0: CR0.PE | CR0.PG });
    expect(v2.read(VA).status).toBe('ok');
    const before = f.vm.shadow.freeObsoleteRootsRequest;
    f.vm.shadow.zapPage(f.vm.shadow.pageAt(v2.shadow!.ctx.root.hpa)!);
    expect(f.vm.shadow.freeObsoleteRootsRequest).toBe(before + 1);
    const r = f.v.shadow!.pageFault(VA + 0x1_0000n, 0, 0);
    expect(r.ret).toBe(RET_PF.FIXED);
    expect(r.emulation).toBeUndefined();
    expect(r.mmio).toBe(false);
  });

  it('PAE root (no shadow page): a pending free-obsolete-roots request makes the fault stale (mmu.c:4699-4700)', () => {
    const f = shadowFixture('pae');
    f.pt.map(VA, GPA, { count: 32, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    f.vm.zapAllFast();
    const r = f.v.shadow!.pageFault(VA + 0x1_0000n, 0, 0);
    expect(r.ret).toBe(RET_PF.RETRY);
  });

  it('paging off: a stale root is retried too (direct_page_fault → is_page_fault_stale, mmu.c:4738)', () => {
    const f = shadowFixture('paging4');
    const v0 = f.vm.createVcpu(PAGING_OFF);
    expect(v0.read(GPA).status).toBe('ok');
    f.vm.zapAllFast();
    const changes = f.vm.stats.get('spte_changes');
    const r = v0.shadow!.pageFault(GPA + 0x10_0000n, 0, 0);
    expect([r.ret, r.mmio]).toEqual([RET_PF.RETRY, false]);
    expect(f.vm.stats.get('spte_changes')).toBe(changes);
  });

  it('no root loaded: RET_PF_RETRY (paging_tmpl.h:636-637)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    f.v.shadow!.unload();
    const r = f.v.shadow!.pageFault(VA, 0, 0);
    expect([r.ret, r.mmio]).toEqual([RET_PF.RETRY, false]);
  });

  it('a guest #PF exit is not an MMIO exit; a fixed fault has no emulation', () => {
    const f = shadowFixture('paging4');
    const r = f.v.read(VA);
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['guest #PF injected', false]]);
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const ok = f.v.read(VA);
    expect(ok.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_FIXED', false]]);
    f.pt.map(VA + 0x1_0000n, GPA + 0x1_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    const h = f.v.shadow!.pageFault(VA + 0x1_0000n, 0, 0);
    expect([h.ret, h.mmio, h.emulation]).toEqual([RET_PF.FIXED, false, undefined]);
  });
});

describe('FNAME(fetch): unsync children of a page found in the hash are synced before linking (paging_tmpl.h:656-674)', () => {
  it('the same PDPT reached through a second PML4 entry: its unsync table is synced, a changed gPTE is dropped', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 2, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok'); // entry 1 prefetched
    expect(f.v.shadow!.leafFor(VA + 0x1000n)).toBeDefined();
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    const ptSp = tableOf(f, VA, 1);
    expect(ptSp.unsync).toBe(true);
    // The guest changes entry 1's frame in its unsync table (no exit) and aliases PML4[1] to PML4[0].
    f.pt.setEntry(VA + 0x1000n, 1, (GPA + 0x7000n) | 0x63n);
    const alias = VA + (1n << 39n);
    f.pt.setEntry(alias, 4, f.pt.getEntry(VA, 4).value);
    expect(f.v.read(alias).status).toBe('ok');
    // kvm_mmu_get_child_sp finds the PDPT's page (not yet linked at PML4[1]) with unsync children →
    // mmu_sync_children → kvm_sync_page → FNAME(sync_spte) drops the SPTE whose gfn changed
    // (paging_tmpl.h:944-948) and the page is no longer unsync (mmu.c:2194).
    expect(ptSp.unsync).toBe(false);
    expect(f.v.shadow!.leafFor(VA + 0x1000n)).toBeUndefined();
  });
});

describe('NX huge page accounting of direct pages (paging_tmpl.h:734-736, mmu.c:3378-3380)', () => {
  const BIG = 0x4000_0000n;
  const BIG_GPA = 0x400_0000n;

  it('without the mitigation a direct page is not accounted (fault->huge_page_disallowed is false)', () => {
    const g = vmWith({ nxHugePages: false }, '4K');
    g.pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true } });
    expect(g.v.fetch(BIG).status).toBe('ok');
    expect(g.vm.shadow.allPages.filter((p) => p.role.direct).map((p) => p.nxHugePageDisallowed)).toEqual([false]);
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(0);
    const v0 = g.vm.createVcpu(PAGING_OFF);
    expect(v0.fetch(BIG_GPA + 0x20_0000n).status).toBe('ok');
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(0);
    expect(g.vm.shadow.allPages.filter((p) => p.role.direct && p.level === 1).map((p) => p.nxHugePageDisallowed)).toEqual([false, false]);
  });

  it('4K host pages: req_level 1 < 2, so the split page is disallowed but not a possible NX huge page (mmu.c:797-804)', () => {
    const g = vmWith({ nxHugePages: true }, '4K');
    g.pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true } });
    expect(g.v.fetch(BIG).status).toBe('ok');
    const direct = g.vm.shadow.allPages.filter((p) => p.role.direct);
    expect(direct.map((p) => p.nxHugePageDisallowed)).toEqual([true]); // mmu.c:800
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(0); // mmu.c:802-803
    const v0 = g.vm.createVcpu(PAGING_OFF);
    expect(v0.fetch(BIG_GPA + 0x20_0000n).status).toBe('ok');
    expect(g.vm.stats.get('nx_lpage_splits')).toBe(0);
  });
});

describe('validate_direct_spte (mmu.c:2549-2565)', () => {
  const BIG = 0x4000_0000n;
  const BIG_GPA = 0x400_0000n;

  it('a clean 2 MiB gPTE made dirty: the read-only direct page is unlinked with a flush, a writable one replaces it', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true, accessed: true } });
    expect(f.v.read(BIG).status).toBe('ok');
    const first = f.vm.shadow.allPages.filter((p) => p.role.direct);
    expect(first.length).toBe(1);
    expect(first[0]!.role.access & 2).toBe(0); // protect_clean_gpte: no ACC_WRITE
    const from = f.vm.events.all.length;
    expect(f.v.write(BIG).status).toBe('ok');
    expect(flushOutcomes(f.vm, from)).toEqual(['direct child with other access']);
    expect(first[0]!.parentPtes).toEqual([]); // drop_parent_pte
    const now = f.vm.shadow.allPages.filter((p) => p.role.direct && p.parentPtes.length > 0);
    expect(now.length).toBe(1);
    expect(now[0]!.role.access & 2).toBe(2);
    expect(f.v.shadow!.leafFor(BIG)!.spte & W).toBe(W);
  });

  it('the same access: the direct page stays linked, no flush', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true, accessed: true } });
    expect(f.v.read(BIG).status).toBe('ok');
    const from = f.vm.events.all.length;
    expect(f.v.read(BIG + 0x10_000n).status).toBe('ok');
    expect(flushOutcomes(f.vm, from)).toEqual([]);
    expect(f.vm.shadow.allPages.filter((p) => p.role.direct).length).toBe(1);
  });
});

describe('prefetch (mmu.c:3072-3143, paging_tmpl.h:531-607)', () => {
  const BIG = 0x4000_0000n;
  const BIG_GPA = 0x400_0000n;
  const entry = (i: number) => BIG + BigInt(i) * 0x1000n;

  it('a read-only prefetch in a dirty-logged slot is allowed (gfn_to_memslot_dirty_bitmap refuses only ACC_WRITE, mmu.c:847-848)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 8, flags: { accessed: true } });
    f.vm.setDirtyLogging(f.ram, true);
    expect(f.v.read(VA + 0x3000n).status).toBe('ok');
    expect(f.vm.stats.get('pages_4k')).toBe(8);
  });

  it('the indirect prefetch stays in the aligned group of 8 (paging_tmpl.h:596-597)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 9, flags: { accessed: true } });
    expect(f.v.read(VA + 0x3000n).status).toBe('ok');
    expect(f.vm.stats.get('pages_4k')).toBe(8);
    expect(f.v.shadow!.leafFor(VA + 0x8000n)).toBeUndefined();
    // Each prefetched SPTE maps its own gPTE's frame.
    for (const i of [0, 1, 2, 4, 7]) expect(BigInt(leafPfn(f.v, VA + BigInt(i) * 0x1000n)!)).toBe(hostFrameOf(f, GPA + BigInt(i) * 0x1000n));
  });

  /** Guest 2 MiB page at BIG → BIG_GPA over slots: [BIG_GPA, +aPages) and, optionally, the rest. */
  function twoSlots(aPages: number, withB: boolean) {
    const vm = new Vm({ mmu: 'shadow', checkInvariants: true, spte: { flavour: 'npt' } });
    vm.addMemslot({ base: 0n, size: 0x400_0000n, name: 'ram', hostPageSize: '4K' });
    const a = vm.addMemslot({ base: BIG_GPA, size: BigInt(aPages) * 0x1000n, name: 'a', hostPageSize: '4K' });
    const b = withB ? vm.addMemslot({ base: BIG_GPA + BigInt(aPages) * 0x1000n, size: 0x20_0000n - BigInt(aPages) * 0x1000n, name: 'b', hostPageSize: '4K' }) : undefined;
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
    pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    const present = () => [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => v.shadow!.leafFor(entry(i)) !== undefined);
    return { vm, a, b, v, present };
  }

  it('a direct run exactly as long as the rest of its slot is prefetched (kvm_prefetch_pages: entry < nr_pages fails, kvm_main.c:3076-3077)', () => {
    const { a, v, present } = twoSlots(7, true);
    expect(v.read(entry(7)).status).toBe('ok'); // entry 7 is in slot b; run 0..6 is all of slot a
    expect(present()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const i of [1, 5]) expect(leafPfn(v, entry(i))).toBe(a.pfnBase + i);
  });

  it('a direct run past the end of its slot is not prefetched at all', () => {
    const { v, present } = twoSlots(7, true);
    expect(v.read(entry(0)).status).toBe('ok'); // run 1..7 from slot a, which has 6 pages from gfn 1
    expect(present()).toEqual([0]);
  });

  it('the first run that fails ends the direct prefetch (mmu.c:3134-3135), even if a later run could map', () => {
    const { vm, a, v, present } = twoSlots(7, true);
    vm.setDirtyLogging(a, true);
    expect(v.read(entry(6)).status).toBe('ok'); // run 0..5: writable into a dirty-logged slot → stop
    expect(present()).toEqual([6]); // entry 7 (slot b, not logged) is not reached
  });

  it('the faulting entry ends a run even when it holds an MMIO SPTE (mmu.c:3130-3131)', () => {
    const { v, present } = twoSlots(4, false);
    const r = v.read(entry(4));
    expect(r.status).toBe('emulated');
    // Runs 0..3 (slot a: mapped) and 5..7 (no slot: fails).
    expect(present()).toEqual([0, 1, 2, 3]);
  });

  it('holes in the window: each run between present entries is prefetched; faulted entries keep A (spte.c:181-182)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(BIG, BIG_GPA, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(entry(1)).status).toBe('ok'); // maps 0..7
    for (const i of [0, 2, 3, 6]) f.vm.unmapGfnRange(BIG_GPA + BigInt(i) * 0x1000n, BIG_GPA + BigInt(i + 1) * 0x1000n);
    for (const i of [0, 2, 3, 6]) expect(f.v.shadow!.leafFor(entry(i))).toBeUndefined();
    expect(f.v.read(entry(2)).status).toBe('ok'); // runs 0..0, 3..3, 6..6 (mmu.c:3130-3142)
    const accessed = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (f.v.shadow!.leafFor(entry(i))!.spte & A) !== 0n);
    expect(accessed).toEqual([false, true, true, false, false, false, false, false]);
    for (let i = 0; i < 8; i++) expect(BigInt(leafPfn(f.v, entry(i))!)).toBe(hostFrameOf(f, BIG_GPA + BigInt(i) * 0x1000n));
    expect(f.v.shadow!.leafFor(entry(8))).toBeUndefined();
    expect(f.vm.stats.get('pages_4k')).toBe(8);
  });

  it('the indirect prefetch skips the faulting entry even when it holds an MMIO SPTE (paging_tmpl.h:598-599)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    for (let i = 0; i < 8; i++) f.pt.map(VA + BigInt(i) * 0x1000n, i === 2 ? MMIO : GPA + BigInt(i) * 0x1000n, { flags: { accessed: true } });
    expect(f.v.read(VA + 0x2000n).status).toBe('emulated');
    const present = [0, 1, 3, 4, 5, 6, 7].filter((i) => f.v.shadow!.leafFor(VA + BigInt(i) * 0x1000n) !== undefined);
    expect(present).toEqual([0, 1, 3, 4, 5, 6, 7]);
  });

  it('a 32-bit guest: the prefetch reads the gPTEs of its quadrant (paging_tmpl.h gw->prefetch_ptes from pte_gpa)', () => {
    const f = shadowFixture('paging32', { hostPageSize: '4K' });
    const va = 0x60_0000n; // PDE 1, upper half of its table: quadrant 1
    f.pt.map(va, GPA, { count: 8, flags: { accessed: true } });
    expect(f.v.read(va + 0x3000n).status).toBe('ok');
    for (const i of [0, 1, 2, 4, 7]) expect(BigInt(leafPfn(f.v, va + BigInt(i) * 0x1000n)!)).toBe(hostFrameOf(f, GPA + BigInt(i) * 0x1000n));
  });

  it('an MMIO SPTE whose gPTE became invalid is dropped by the prefetch (prefetch_invalid_gpte → drop_spte, paging_tmpl.h:169-170)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    f.pt.map(VA + 0x1000n, MMIO, { flags: { accessed: true } });
    expect(f.v.read(VA + 0x1000n).status).toBe('emulated'); // MMIO SPTE at 1; entry 0 prefetched
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok'); // the table goes unsync
    const ptSp = tableOf(f, VA, 1);
    expect(ptSp.unsync).toBe(true);
    f.vm.unmapGfnRange(GPA, GPA + 0x1000n); // entry 0 empty again
    f.pt.setEntry(VA + 0x1000n, 1, 0n); // the guest clears entry 1 in its unsync table
    expect(f.vm.shadow.readSpte(ptSp, 1)).not.toBe(SHADOW_NONPRESENT_VALUE);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.shadow.readSpte(ptSp, 1)).toBe(SHADOW_NONPRESENT_VALUE);
  });
});

describe('direct_page_fault (paging off): outcomes', () => {
  it('a RAM fault is RET_PF_FIXED, an MMIO one RET_PF_EMULATE with an MMIO exit', () => {
    const f = shadowFixture('paging4');
    const v0 = f.vm.createVcpu(PAGING_OFF);
    const ok = v0.read(GPA);
    expect(ok.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_FIXED', false]]);
    expect(v0.read(GPA + 0x10_0000n).status).toBe('ok'); // a second direct page under the same root page
    const h = v0.shadow!.pageFault(GPA + 0x20_0000n, 0, 0);
    expect([h.ret, h.mmio, h.emulation]).toEqual([RET_PF.FIXED, false, undefined]);
    const mmio = v0.read(MMIO);
    expect(mmio.status).toBe('emulated');
    expect(mmio.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', true]]);
    expect(mmio.emulation).toMatch(/new MMIO SPTE/);
  });

  it('write-tracked gfns (another vCPU\'s upper-level tables): reads map read-only, writes are emulated once', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pd = BigInt(f.pt.getEntry(VA, 2).gpa);
    const pdpt = BigInt(f.pt.getEntry(VA, 3).gpa);
    const v0 = f.vm.createVcpu(PAGING_OFF);
    // A first write (no SPTE): not page_fault_handle_page_track (!present); mmu_set_spte write-protects.
    const first = v0.write(pdpt);
    expect(first.status).toBe('emulated');
    expect(first.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(first.emulation).toMatch(/write-protected gfn/);
    expect(v0.shadow!.leafFor(pdpt)!.spte & W).toBe(0n);
    // A read maps (read-only): page tracking only stops present write faults (mmu.c page_fault_handle_page_track).
    const read = v0.read(pd);
    expect(read.status).toBe('ok');
    expect(v0.shadow!.leafFor(pd)!.spte & W).toBe(0n);
    const changes = f.vm.stats.get('spte_changes');
    const w = v0.write(pd);
    expect(w.status).toBe('emulated');
    expect(w.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', false]]);
    expect(w.emulation).toMatch(/write-tracked gfn/);
    expect(f.vm.stats.get('spte_changes')).toBe(changes);
  });
});

describe('make_spte calls mmu_try_to_unsync_pages only for a writable SPTE (spte.c:223-238)', () => {
  it('a read through a read-only gPTE that maps a shadowed guest page table leaves that table\'s shadow page sync', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const table = tableOf(f, VA, 1);
    expect(table.unsync).toBe(false);
    // A second VA maps VA's level-1 guest table as data, read-only (R/W clear, A and D set).
    const ALIAS = 0x7100_0000n;
    f.pt.map(ALIAS, BigInt(table.gfn) << 12n, { flags: { accessed: true, dirty: true } });
    const from = f.vm.events.all.length;
    const r = f.v.read(ALIAS);
    expect(r.status).toBe('ok');
    expect(r.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
    // spte.c:223: pte_access has no ACC_WRITE_MASK, so mmu_try_to_unsync_pages (mmu.c:2898-2952,
    // kvm_unsync_page) is not called: the table stays sync, no mmu_unsync, no unsync event.
    expect(f.v.shadow!.leafFor(ALIAS)!.spte & W).toBe(0n);
    expect(table.unsync).toBe(false);
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'unsync')).toEqual([]);
  });
});

describe('the public edge of shadow-fault.ts: what it accepts, and each refusal\'s class, rule and text', () => {
  it('mmuSetSpte with no slot and no fault record: an MMIO SPTE, RET_PF_EMULATE (mmu.c:3016-3019)', () => {
    const { m, ctx, pt } = warm();
    const idx = 300;
    expect(m.readSpte(pt, idx)).toBe(SHADOW_NONPRESENT_VALUE);
    const created = ctx.stats.get('pf_mmio_spte_created');
    expect(mmuSetSpte(m, ctx, undefined, pt, idx, 7, 0x4_0000, 0x4_0000, null)).toBe(RET_PF.EMULATE);
    expect(ctx.stats.get('pf_mmio_spte_created')).toBe(created + 1); // mmu.c:3017
    expect(isMmioSpte(m.config, m.readSpte(pt, idx))).toBe(true); // mark_mmio_spte, mmu.c:3018
  });

  it('mmuSetSpte on a level-3 page: a 1 GiB leaf (PG_LEVEL_1G = KVM_MAX_HUGEPAGE_LEVEL); level 4 refused', () => {
    const f = warm();
    const { m, ctx } = f;
    const pdpt = m.allPages.find((p) => p.level === 3)!;
    const idx = 5;
    expect(m.readSpte(pdpt, idx)).toBe(SHADOW_NONPRESENT_VALUE);
    // A 1 GiB slot without guest page tables in it (so no disallowed huge page), 1 GiB-aligned:
    // mmu_set_spte (mmu.c:2999-3068) sets a leaf at any level up to PG_LEVEL_1G.
    const big = f.f.vm.addMemslot({ base: 1n << 30n, size: 1n << 30n, name: 'big' });
    expect(mmuSetSpte(m, ctx, big, pdpt, idx, 7, big.baseGfn, big.pfnBase, null)).toBe(RET_PF.FIXED);
    const spte = m.readSpte(pdpt, idx);
    expect(spte & 0x80n).toBe(0x80n); // spte.c:209-210 PT_PAGE_SIZE_MASK above PG_LEVEL_4K
    expect(spteToPfn(spte)).toBe(big.pfnBase);
    const root = m.allPages.find((p) => p.level === 4)!;
    refuses(() => mmuSetSpte(m, ctx, big, root, idx, 7, big.baseGfn, big.pfnBase, null), PageSizeError, 'leaf-level', 'sp is a level-4 page; leaves exist at levels 1-3 only');
  });

  it('hugepageAdjust: a fault record\'s slot must be an object', () => {
    const { m } = warm();
    const fault = newPageFault(VA, 0n);
    fault.gfn = 0x800;
    fault.pfn = 0x800;
    fault.maxLevel = 1;
    refuses(() => hugepageAdjust(m, { ...fault, slot: 5 as never }), InvalidArgumentError, 'object-type', 'fault.slot must be an object');
    hugepageAdjust(m, fault);
    expect(fault.goalLevel).toBe(1); // kvm_mmu_hugepage_adjust: max_level PG_LEVEL_4K leaves goal_level at 4K (mmu.c:3304-3305)
  });

  it('refusals: not a ShadowMmu, a paging-off context to shadowPageFault, a paging-on one to directPageFault', () => {
    const { f, m, ctx } = warm();
    const mmuText = 'mmu must be a ShadowMmu (a VM\'s vm.shadow)';
    refuses(() => shadowPageFault({} as never, ctx, VA, 0, 0), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => hugepageAdjust({} as never, newPageFault(VA, 0n)), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => directPageFault(m, ctx, 0x1000n, 0), InvalidArgumentError, 'not-direct', 'ctx shadows guest tables (paging on: shadowPageFault handles it)');
    const v0 = f.vm.createVcpu(PAGING_OFF);
    expect(v0.read(0x1000n).status).toBe('ok');
    refuses(() => shadowPageFault(m, v0.shadow!.ctx, 0x1000n, 0, 0), InvalidArgumentError, 'paging-off', 'ctx walks no guest tables (paging off: directPageFault handles it)');
  });
});
