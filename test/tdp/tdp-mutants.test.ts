/**
 * The TDP MMU's observable results — page-size counters, tables allocated, remote TLB flushes,
 * zaps, RET_PF outcomes, fast-path fixes, MMIO SPTEs, aging — asserted exactly, so that mutation
 * testing of src/tdp finds a failing test for changed conditions and counts. Expected values come
 * from Linux v6.16.1 arch/x86/kvm/mmu/tdp_mmu.c and mmu.c (file:line); the vCPU runs with paging
 * off, so every GVA is its GPA and only data accesses fault.
 */
import { describe, expect, it } from 'vitest';
import {
  RET_PF, SHADOW_NONPRESENT_VALUE, Vm, isMmioSpte, isShadowPresent, isWritable, isMmuWritable, isHostWritable, spteToPfn, memslotPfn,
  type SpteConfigSpec,
} from '../../src';

function flat(spte: SpteConfigSpec = { flavour: 'ept' }, hostPageSize: '4K' | '2M' | '1G' = '2M') {
  const vm = new Vm({ spte, checkInvariants: true });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const rom = vm.addMemslot({ base: 0x4000_0000n, size: 0x10_0000n, readonly: true, name: 'rom' });
  const v = vm.createVcpu(); // paging off: GVA = GPA
  const leafOf = (gfn: number) => vm.tdp.leaves(v.currentRoot!).find(([g, l]) => gfn >= g && gfn < g + 512 ** (l - 1));
  return { vm, ram, rom, v, leafOf };
}

const FLUSH = 'remote_tlb_flush';

describe('the fault path (kvm_tdp_mmu_map, tdp_mmu_map_handle_target_level)', () => {
  for (const flavour of ['ept', 'npt'] as const) {
    it(`${flavour}: a first touch links tables and one huge leaf, flushes nothing; the next access takes no exit`, () => {
      const { vm, v, ram, leafOf } = flat({ flavour });
      const r = v.read(0x20_0010n);
      expect(r.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
      expect(v.stats.get('pf_fixed')).toBe(1);
      expect(v.stats.get('pf_taken')).toBe(1);
      expect(vm.stats.get('pages_2m')).toBe(1); // tdp_mmu.c:642 (kvm_update_page_stats)
      expect(vm.stats.get('pages_4k')).toBe(0);
      // Root (level 4) + the level-3 and level-2 tables linked by tdp_mmu_link_sp (tdp_mmu.c:1227).
      expect(vm.tdp.pageCount).toBe(3);
      expect(vm.stats.get(FLUSH)).toBe(0); // tdp_mmu.c:1173-1177: the old SPTE was not present
      const [gfn, level, spte] = leafOf(0x200)!;
      expect([gfn, level]).toEqual([0x200, 2]);
      expect(spteToPfn(spte)).toBe(memslotPfn(ram, 0x200));
      expect(v.read(0x3f_fff8n).exits).toEqual([]);
      expect(v.read(0x20_0010n).exits).toEqual([]);
    });
  }

  it('4K host pages: a 4K leaf; a 1G host page and maxHugePageLevel 3: a 1G leaf; capped at 2M by maxHugePageLevel 2', () => {
    const small = flat({ flavour: 'ept' }, '4K');
    small.v.read(0x20_0000n);
    expect([small.vm.stats.get('pages_4k'), small.vm.stats.get('pages_2m')]).toEqual([1, 0]);
    expect(small.vm.tdp.pageCount).toBe(4); // root + 3 tables
    const big = flat({ flavour: 'ept' }, '1G');
    big.v.read(0x20_0000n);
    expect([big.vm.stats.get('pages_1g'), big.vm.stats.get('pages_2m')]).toEqual([1, 0]);
    expect(big.vm.tdp.pageCount).toBe(2); // root + level-3 table
    const capped = flat({ flavour: 'ept', maxHugePageLevel: 2 }, '1G');
    capped.v.read(0x20_0000n);
    expect([capped.vm.stats.get('pages_1g'), capped.vm.stats.get('pages_2m')]).toEqual([0, 1]);
  });

  it('a write to ROM is emulated and maps nothing writable; a read maps it read-only, not Host-writable', () => {
    const { vm, v, leafOf } = flat({ flavour: 'ept' });
    const w = v.write(0x4000_0000n);
    expect(w.exits.map((e) => e.ret)).toEqual(['RET_PF_EMULATE']);
    expect(w.emulation).toBe('write to a read-only memslot'); // KVM_PFN_ERR_RO_FAULT → emulate (mmu.c kvm_handle_error_pfn)
    expect(v.stats.get('pf_emulate')).toBe(1);
    expect(leafOf(0x40000)).toBeUndefined();
    v.read(0x4000_0000n);
    const [, level, spte] = leafOf(0x40000)!;
    expect(level).toBe(1); // a 1 MiB slot: lpage_info disallows 2M (kvm_alloc_memslot_metadata)
    expect(isWritable(spte)).toBe(false); // spte.c:213-216
    expect(isMmuWritable(vm.config, spte)).toBe(false);
    expect(isHostWritable(vm.config, spte)).toBe(false);
  });

  it('a GPA without a memslot gets an MMIO SPTE once (pf_mmio_spte_created), then faults on it as RSVD without a new one', () => {
    const { vm, v } = flat({ flavour: 'ept' });
    const first = v.read(0x8000_0000n);
    expect(first.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', true]]);
    expect(v.stats.get('pf_mmio_spte_created')).toBe(1); // tdp_mmu.c:1187-1189
    const [, , level, spte] = vm.tdp.lastSpte(v.currentRoot!, 0x80000);
    expect(level).toBe(1); // no slot: kvm_mmu_hugepage_adjust leaves goal_level at 4K
    expect(isMmioSpte(vm.config, spte)).toBe(true);
    expect(isShadowPresent(spte)).toBe(false);
    const again = v.read(0x8000_0000n);
    expect(again.exits.map((e) => [e.kind, e.ret])).toEqual([['ept_misconfig', 'RET_PF_EMULATE']]);
    expect(v.stats.get('pf_mmio_spte_created')).toBe(1);
    expect(v.stats.get('pf_emulate')).toBe(2);
    expect(vm.stats.get(FLUSH)).toBe(0);
  });

  it('NX huge pages: an exec fault counts one possible NX huge page (the level-2 table), and later faults under it stay 4K', () => {
    const { vm, v, leafOf } = flat({ flavour: 'ept', nxHugePages: true });
    v.fetch(0x20_0000n);
    // tdp_mmu.c:1302-1307: only the table linked at iter.level <= req_level (2) is tracked.
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
    expect(leafOf(0x200)![1]).toBe(1);
    v.read(0x20_1000n);
    // mmu.c disallowed_hugepage_adjust: the child table is nx_huge_page_disallowed → goal_level--.
    expect(leafOf(0x201)![1]).toBe(1);
    expect([vm.stats.get('pages_4k'), vm.stats.get('pages_2m')]).toEqual([2, 0]);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
    // Another 2M region read first is mapped huge (only exec faults are huge_page_disallowed).
    v.read(0x40_0000n);
    expect(leafOf(0x400)![1]).toBe(2);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
  });

  it('a read fault on a present, readable leaf (another vCPU fixed it) is spurious', () => {
    const { vm, v } = flat({ flavour: 'ept' }, '4K');
    v.read(0x20_0000n);
    const changes = vm.stats.get('spte_changes');
    // The fault a vCPU whose access raced with another vCPU's fix delivers: tdp_mmu.c:1156-1160.
    const r = v.pageFault({ kind: 'ept_violation', reason: 48, gpa: 0x20_0000n, onGuestTable: false, info: 1n, errorCode: 4n });
    expect(r.ret).toBe(RET_PF.SPURIOUS);
    expect(r.fast).toBe(false); // A/D enabled, not present, not a write: page_fault_can_be_fast is false (mmu.c)
    expect(v.stats.get('pf_spurious')).toBe(1);
    expect(vm.stats.get('spte_changes')).toBe(changes);
  });
});

describe('zaps and flushes (kvm_tdp_mmu_zap_leafs, kvm_tdp_mmu_invalidate_roots)', () => {
  it('zapping leaves flushes once for any number of leaves, never for none', () => {
    const { vm, v } = flat({ flavour: 'ept' }, '4K');
    for (let i = 0n; i < 3n; i++) v.read(0x20_0000n + i * 0x1000n);
    expect(vm.zapGfnRange(0x30_0000n, 0x40_0000n)).toBe(0);
    expect(vm.stats.get(FLUSH)).toBe(0); // tdp_mmu.c:1002-1011 returns flush = false
    expect(vm.zapGfnRange(0x20_0000n, 0x20_3000n)).toBe(3);
    expect(vm.stats.get(FLUSH)).toBe(1); // one kvm_flush_remote_tlbs for the range
    expect(vm.stats.get('pages_4k')).toBe(0);
    expect(vm.events.all.filter((e) => e.kind === 'zap').length).toBe(1);
    // The tables stay (zap_leafs zaps leaves only).
    expect(vm.tdp.pageCount).toBe(4);
  });

  it('a range zap takes the leaves of [start, end) only, huge leaves that overlap included', () => {
    const { vm, v, leafOf } = flat({ flavour: 'ept' });
    v.read(0x20_0000n);
    v.read(0x40_0000n);
    expect(vm.zapGfnRange(0x3f_f000n, 0x40_0000n)).toBe(1); // the 2M leaf at 0x200 covers gfn 0x3ff
    expect(leafOf(0x200)).toBeUndefined();
    expect(leafOf(0x400)![1]).toBe(2);
  });

  it('zap-all zaps the root\'s tables but leaves the root valid and loaded, and flushes nothing (tdp_mmu.c:1013-1031)', () => {
    const { vm, v } = flat({ flavour: 'ept' }, '4K');
    v.read(0x20_0000n);
    const old = v.currentRoot!;
    vm.zapAll();
    // kvm_tdp_mmu_zap_all: tdp_mmu_zap_root on every direct and invalid root, no invalidation and
    // "A TLB flush is unnecessary" (tdp_mmu.c:1024-1026).
    expect(vm.stats.get(FLUSH)).toBe(0);
    expect(vm.stats.get('pages_4k')).toBe(0); // handle_removed_pt: every leaf below goes
    expect(old.role.invalid).toBe(false);
    expect(vm.tdp.pageCount).toBe(1); // the root alone
    expect(v.read(0x20_0000n).exits.length).toBe(1);
    expect(v.currentRoot).toBe(old); // no reload: the same root faults in again
    expect(vm.tdp.roots).toEqual([old]);
    expect(vm.tdp.pageCount).toBe(4);
  });
});

describe('dirty logging and the fast path (fast_page_fault, kvm_tdp_mmu_wrprot_slot)', () => {
  it('write protection keeps MMU-writable, a write is fixed by the fast path without a flush, and logged', () => {
    const { vm, v, ram, leafOf } = flat({ flavour: 'ept' }, '4K');
    v.write(0x20_0000n);
    v.read(0x20_1000n);
    vm.setDirtyLogging(ram, true);
    const flushes = vm.stats.get(FLUSH);
    expect(flushes).toBe(1); // x86.c kvm_mmu_slot_apply_flags: one flush
    const wp = leafOf(0x200)![2];
    expect(isWritable(wp)).toBe(false); // tdp_mmu.c:1441
    expect(isMmuWritable(vm.config, wp)).toBe(true);
    const r = v.write(0x20_0000n);
    expect(r.exits.map((e) => [e.ret, e.fast])).toEqual([['RET_PF_FIXED', true]]);
    expect(v.stats.get('pf_fast')).toBe(1);
    expect(isWritable(leafOf(0x200)![2])).toBe(true);
    expect(vm.stats.get(FLUSH)).toBe(flushes); // the fast path never flushes
    // A read of a write-protected (but readable) page takes no exit.
    expect(v.read(0x20_1000n).exits).toEqual([]);
    expect(vm.getDirtyLog(ram)).toEqual([0x20_0000n]);
  });

  it('without eager split, a write to a write-protected huge leaf is split by the slow path, not fixed by the fast path', () => {
    const { vm, v, ram, leafOf } = flat({ flavour: 'ept' });
    v.read(0x20_0000n); // a writable 2M leaf (reads map writable when the slot is)
    expect(isWritable(leafOf(0x200)![2])).toBe(true);
    vm.setDirtyLogging(ram, true, { eagerSplit: false });
    expect(isWritable(leafOf(0x200)![2])).toBe(false);
    expect(leafOf(0x200)![1]).toBe(2);
    const r = v.write(0x20_5000n);
    // fast_page_fault refuses a huge SPTE in a dirty-logged slot (mmu.c: must be split).
    expect(r.exits.map((e) => [e.ret, e.fast])).toEqual([['RET_PF_FIXED', false]]);
    expect(v.stats.get('pf_fast')).toBe(0);
    expect(vm.stats.get('huge_page_splits')).toBe(1);
    expect(leafOf(0x205)![1]).toBe(1);
    expect(isWritable(leafOf(0x205)![2])).toBe(true);
    expect(isWritable(leafOf(0x204)![2])).toBe(false);
    expect(vm.getDirtyLog(ram)).toEqual([0x20_5000n]);
  });

  it('PML: enabling dirty logging clears D on 4K leaves and write-protects only huge ones', () => {
    const { vm, v, ram, leafOf } = flat({ flavour: 'ept', pml: true }, '2M');
    v.write(0x20_0000n);
    vm.setDirtyLogging(ram, true, { eagerSplit: false });
    expect(isWritable(leafOf(0x200)![2])).toBe(false); // huge: write-protected (kvm_mmu_slot_apply_flags)
    const small = flat({ flavour: 'ept', pml: true }, '4K');
    small.v.write(0x20_0000n);
    small.vm.setDirtyLogging(small.ram, true);
    const s = small.leafOf(0x200)![2];
    expect(isWritable(s)).toBe(true); // tdp_mmu.c:1642-1690 clear_dirty_gfn_range clears D only
    expect(s & small.vm.config.dirtyMask).toBe(0n);
  });
});

describe('aging (kvm_tdp_mmu_age_gfn_range, kvm_tdp_mmu_test_age_gfn)', () => {
  it('counts young leaves in the range, clears them, and test_age follows', () => {
    const { vm, v } = flat({ flavour: 'npt' }, '4K');
    v.read(0x20_0000n);
    v.read(0x20_1000n);
    v.read(0x30_0000n);
    expect(vm.age(0x20_0000n, 0x20_2000n)).toBe(2); // tdp_mmu.c:1390-1398
    expect(vm.tdp.testAge(0x200)).toBe(false);
    expect(vm.tdp.testAge(0x300)).toBe(true);
    expect(vm.tdp.testAge(0x400)).toBe(false); // nothing mapped
    expect(vm.age(0x20_0000n, 0x40_0000n)).toBe(1);
    expect(vm.stats.get(FLUSH)).toBe(0);
    // NPT A/D: aging clears A only (spte.c:367-368); the page stays mapped and readable.
    expect(v.read(0x20_0000n).exits).toEqual([]);
  });
});

describe('the one SPTE-change function (handle_changed_spte)', () => {
  it('an unchanged value is not a change; a zap of a leaf counts one change and one page-size decrement', () => {
    const { vm, v } = flat({ flavour: 'ept' }, '4K');
    v.read(0x20_0000n);
    const [sp, idx, , spte] = vm.tdp.lastSpte(v.currentRoot!, 0x200);
    const before = vm.stats.get('spte_changes');
    vm.tdp.setSpte(sp, idx, spte, spte, 0);
    expect(vm.stats.get('spte_changes')).toBe(before);
    vm.tdp.setSpte(sp, idx, spte, SHADOW_NONPRESENT_VALUE, 0);
    expect(vm.stats.get('spte_changes')).toBe(before + 1);
    expect(vm.stats.get('pages_4k')).toBe(0);
    expect(vm.events.all.filter((e) => e.kind === 'spte_change').at(-1)).toMatchObject({ oldSpte: spte, newSpte: SHADOW_NONPRESENT_VALUE, level: 1, gpa: 0x20_0000n });
  });
});
