/**
 * Huge pages in the TDP MMU as KVM v6.16.1 handles them: NX huge page split (make_small_spte),
 * NX huge page recovery (kvm_recover_nx_huge_pages) and huge page recovery when dirty logging
 * stops (kvm_mmu_recover_huge_pages → recover_huge_pages_range). Expected values cite the
 * v6.16.1 sources.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PageTableBuilder, Vm, isExecutable, isLargePte, type SpteConfigSpec } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

const GVA = 0x7000_0000n;
const GPA = 0x40_0000n; // the data slot's first 2 MiB: gfn 0x400
const GFN = 0x400;

/**
 * Guest page tables in a 4 KiB-backed slot below the data, as the selftests' slot 0 (anonymous
 * memory without THP): the walker's TDP mappings of them are 4 KiB leaves outside the data slot.
 * The data slot maps `pages` 4 KiB guest pages (TDP may still map them huge).
 */
function setup(spte: SpteConfigSpec, pages = 512, hostPageSize: '4K' | '2M' = '2M') {
  const vm = new Vm({ spte, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 0x40_0000n, name: 'pt', hostPageSize: '4K' });
  const ram = vm.addMemslot({ base: GPA, size: 0x400_0000n, name: 'ram', hostPageSize });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x30_0000n } });
  pt.map(GVA, GPA, { count: pages, flags: { writable: true } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  /** 4 KiB leaves in the data slot (pages_4k also counts the page-table slot's). */
  const data4k = () => vm.tdp.leaves(v.currentRoot!).filter(([g, l]) => l === 1 && g >= GFN).length;
  return { vm, v, ram, data4k };
}

describe('NX huge page split: make_small_spte', () => {
  for (const flavour of ['ept', 'npt'] as const) {
    it(`${flavour}: after an exec splits a 2 MiB page, the 4 KiB neighbours are executable (no second fault)`, () => {
      const { vm, v, data4k } = setup({ flavour, nxHugePages: true });
      v.read(GVA);
      // make_spte: no executable huge page under the mitigation (spte.c make_spte, is_nx_huge_page_enabled).
      expect(vm.stats.get('pages_2m')).toBe(1);
      expect(v.fetch(GVA).exits.length).toBe(1); // the split (kvm_tdp_mmu_map → tdp_mmu_split_huge_page)
      expect(vm.stats.get('pages_2m')).toBe(0);
      expect(data4k()).toBe(512); // tdp_mmu.c:1527 kvm_update_page_stats(level - 1, 512)
      // spte.c:316-323: 4K children of a table whose role allows exec are made executable.
      const leaves = vm.tdp.leaves(v.currentRoot!);
      for (const g of [GFN + 1, GFN + 511]) expect(isExecutable(vm.config, leaves.find(([x]) => x === g)![2]), `gfn ${g}`).toBe(true);
      expect(v.fetch(GVA + 0x1000n).exits).toEqual([]);
      expect(v.fetch(GVA + 0x1ff000n).exits).toEqual([]);
    });
  }

  it('without the mitigation a split keeps the huge SPTE\'s permissions (spte.c:322 needs is_nx_huge_page_enabled)', () => {
    const { vm, v, ram } = setup({ flavour: 'ept', nxHugePages: false });
    v.write(GVA);
    vm.setDirtyLogging(ram, true); // eager split
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === GFN + 3)!;
    expect(leaf[1]).toBe(1);
    expect(isExecutable(vm.config, leaf[2])).toBe(true); // the huge SPTE was executable already
  });
});

describe('NX huge page tracking: nx_lpage_splits follows possible_nx_huge_pages', () => {
  it('zapping the split table untracks it (tdp_mmu_unlink_sp → untrack_possible_nx_huge_page, mmu.c:822-828)', () => {
    const { vm, v } = setup({ flavour: 'ept', nxHugePages: true });
    v.fetch(GVA);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1); // tdp_mmu.c:1303-1306, mmu.c:792
    vm.zapAll();
    expect(vm.stats.get('nx_lpage_splits')).toBe(0);
    expect(vm.possibleNxHugePages.size).toBe(0);
  });

  it('a table is tracked once however often it is reached (mmu.c:789)', () => {
    const { vm, v } = setup({ flavour: 'ept', nxHugePages: true });
    v.fetch(GVA);
    v.fetch(GVA + 0x2000n);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
  });

  it('a 4 KiB-backed slot never tracks (req_level 1 < level 2, tdp_mmu.c:1302)', () => {
    const { vm, v } = setup({ flavour: 'ept', nxHugePages: true }, 2, '4K');
    v.fetch(GVA);
    expect(vm.stats.get('nx_lpage_splits')).toBe(0);
  });

  it('disableNxHugePages (KVM_CAP_VM_DISABLE_NX_HUGE_PAGES) maps executable 2 MiB pages', () => {
    const vm = new Vm({ spte: { flavour: 'ept', nxHugePages: true }, disableNxHugePages: true, checkInvariants: true });
    expect(vm.config.nxHugePages).toBe(false);
    expect(() => new Vm({ disableNxHugePages: 1 as unknown as boolean })).toThrow(/disable-nx-huge-pages/);
  });
});

describe('NX huge page recovery: kvm_recover_nx_huge_pages', () => {
  /** Three exec-split 2 MiB regions: gfns 0x200, 0x400, 0x600, split in that order. */
  function threeSplits() {
    const f = setup({ flavour: 'ept', nxHugePages: true }, 3 * 512);
    for (let i = 0n; i < 3n; i++) {
      f.v.read(GVA + i * 0x20_0000n); // a 2 MiB leaf …
      f.v.fetch(GVA + i * 0x20_0000n); // … split by the exec (tdp_mmu_split_huge_page)
    }
    expect(f.vm.stats.get('nx_lpage_splits')).toBe(3);
    expect(f.data4k()).toBe(3 * 512);
    return f;
  }

  it('ratio 1 zaps every tracked table; the next read maps 2 MiB again', () => {
    const { vm, v, data4k } = threeSplits();
    const flushes = vm.stats.get('remote_tlb_flush');
    const pages = vm.stats.get('tdp_mmu_pages');
    // mmu.c:7544 to_zap = DIV_ROUND_UP(3, 1) = 3
    expect(vm.recoverNxHugePages(1)).toEqual({ toZap: 3, zapped: 3, unaccounted: 0 });
    expect(vm.stats.get('nx_lpage_splits')).toBe(0);
    expect(data4k()).toBe(0);
    expect(vm.stats.get('tdp_mmu_pages')).toBe(pages - 3);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes + 1); // mmu.c:7604 one flush for the pass
    const ev = vm.events.all.filter((e) => e.kind === 'tlb_flush' || e.kind === 'zap').slice(-2);
    expect(ev.map((e) => [e.kind, e.outcome])).toEqual([
      ['tlb_flush', 'nx huge page recovery'],
      ['zap', 'nx huge page recovery (ratio 1): 3 zapped, 0 unaccounted of 3'],
    ]);
    expect(v.read(GVA + 0x20_0000n).exits.length).toBe(1);
    expect(vm.stats.get('pages_2m')).toBe(1);
  });

  it('the default ratio 60 zaps ⌈3/60⌉ = 1 table, the oldest (list_first_entry, mmu.c:7556)', () => {
    const { vm, v, data4k } = threeSplits();
    expect(vm.nxHugePagesRecoveryRatio).toBe(60); // mmu.c:70
    expect(vm.recoverNxHugePages()).toEqual({ toZap: 1, zapped: 1, unaccounted: 0 });
    expect(vm.stats.get('nx_lpage_splits')).toBe(2);
    expect(data4k()).toBe(2 * 512);
    // The first split (gfn 0x200) is gone, the others remain.
    expect(v.fetch(GVA + 0x1000n).exits.length).toBe(1);
    expect(v.fetch(GVA + 0x20_1000n).exits).toEqual([]);
  });

  it('ratio 0 recovers nothing (mmu.c:7544)', () => {
    const { vm } = threeSplits();
    expect(vm.recoverNxHugePages(0)).toEqual({ toZap: 0, zapped: 0, unaccounted: 0 });
    expect(vm.stats.get('nx_lpage_splits')).toBe(3);
  });

  it('in a dirty-logged slot the table is unaccounted, not zapped (mmu.c:7588-7592)', () => {
    const { vm, ram, data4k } = threeSplits();
    vm.setDirtyLogging(ram, true);
    const four = data4k();
    const flushes = vm.stats.get('remote_tlb_flush');
    expect(vm.recoverNxHugePages(1)).toEqual({ toZap: 3, zapped: 0, unaccounted: 3 });
    expect(vm.stats.get('nx_lpage_splits')).toBe(0);
    expect(data4k()).toBe(four);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes); // nothing zapped: no flush (mmu.c:7604)
    expect([...vm.possibleNxHugePages]).toEqual([]);
  });

  it('a bad ratio is a typed error and changes nothing', () => {
    const { vm } = threeSplits();
    for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => vm.recoverNxHugePages(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => vm.recoverNxHugePages(-1)).toThrow(/nx-recovery-ratio/);
    expect(vm.stats.get('nx_lpage_splits')).toBe(3);
    expect(() => new Vm({ nxHugePagesRecoveryRatio: -2 })).toThrow(/nx-recovery-ratio/);
  });
});

describe('huge page recovery when dirty logging stops: recover_huge_pages_range', () => {
  it('disabling dirty logging replaces every split table by a 2 MiB leaf at once (tdp_mmu.c:1770-1840)', () => {
    const { vm, v, ram, data4k } = setup({ flavour: 'ept' }, 4 * 512);
    for (let i = 0n; i < 4n; i++) v.write(GVA + i * 0x20_0000n);
    expect(vm.stats.get('pages_2m')).toBe(4);
    vm.setDirtyLogging(ram, true);
    expect(vm.stats.get('pages_2m')).toBe(0);
    expect(data4k()).toBe(4 * 512);
    v.write(GVA + 0x5000n);
    const flushes = vm.stats.get('remote_tlb_flush');
    vm.setDirtyLogging(ram, false);
    expect(vm.stats.get('pages_2m')).toBe(4);
    expect(data4k()).toBe(0);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes + 1); // tdp_mmu.c:1835 kvm_flush_remote_tlbs_memslot
    expect(vm.events.all.filter((e) => e.kind === 'zap').at(-1)!.outcome).toBe('recover huge pages in ram: 4 tables replaced');
    // The huge SPTE is make_huge_spte of the first leaf (tdp_mmu.c:1744-1767): its permissions,
    // here write-protected by dirty logging, so the next write takes the fast path.
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === GFN)!;
    expect([leaf[1], isLargePte(leaf[2])]).toEqual([2, true]);
    expect(v.read(GVA + 0x1000n).exits).toEqual([]);
    const w = v.write(GVA + 0x1000n);
    expect(w.exits.map((e) => [e.ret, e.fast])).toEqual([['RET_PF_FIXED', true]]);
  });

  it('a table with only some leaves present recovers from its first present leaf (tdp_mmu.c:1754-1763)', () => {
    const { vm, v, ram, data4k } = setup({ flavour: 'ept' });
    vm.setDirtyLogging(ram, true);
    v.write(GVA + 0x3000n); // maps 4K only: dirty logging (kvm_mmu_hugepage_adjust: no huge page)
    expect(data4k()).toBe(1);
    vm.setDirtyLogging(ram, false);
    expect(data4k()).toBe(0);
    expect(vm.stats.get('pages_2m')).toBe(1);
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === GFN)!;
    expect(leaf[1]).toBe(2);
  });

  it('a 1 GiB region split by a write under dirty logging comes back as one 1 GiB leaf (tdp_mmu.c:1789-1829)', () => {
    const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 0x40_0000n, name: 'pt', hostPageSize: '4K' });
    const ram = vm.addMemslot({ base: 1n << 30n, size: 1n << 30n, name: 'ram', hostPageSize: '1G' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x30_0000n } });
    pt.map(GVA, 1n << 30n, { count: 8, flags: { writable: true } });
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    v.write(GVA);
    expect(vm.stats.get('pages_1g')).toBe(1);
    vm.setDirtyLogging(ram, true, { eagerSplit: false });
    v.write(GVA + 0x3000n); // 1G → 512 × 2M → the 2M holding the page → 512 × 4K
    expect([vm.stats.get('pages_1g'), vm.stats.get('pages_2m')]).toEqual([0, 511]);
    vm.setDirtyLogging(ram, false);
    // The level-3 table is visited first (pre-order) and replaced whole, from its first leaf.
    expect([vm.stats.get('pages_1g'), vm.stats.get('pages_2m')]).toEqual([1, 0]);
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === 0x40000)!;
    expect(leaf[1]).toBe(3);
  });

  it('tables the host maps at 4 KiB stay (kvm_mmu_max_mapping_level < level, tdp_mmu.c:1817-1819)', () => {
    const { vm, v, ram, data4k } = setup({ flavour: 'ept' }, 4, '4K');
    vm.setDirtyLogging(ram, true);
    v.write(GVA);
    const flushes = vm.stats.get('remote_tlb_flush');
    vm.setDirtyLogging(ram, false);
    expect(data4k()).toBe(1);
    expect(vm.stats.get('pages_2m')).toBe(0);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes); // nothing changed: no flush
  });

  it('a recovered huge page is not executable under the mitigation (spte.c make_huge_spte)', () => {
    const { vm, v, ram } = setup({ flavour: 'ept', nxHugePages: true });
    v.fetch(GVA);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
    vm.setDirtyLogging(ram, true);
    vm.setDirtyLogging(ram, false);
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === GFN)!;
    expect(leaf[1]).toBe(2);
    expect(isExecutable(vm.config, leaf[2])).toBe(false);
    // The split table was freed with its tracking (tdp_mmu_unlink_sp).
    expect(vm.stats.get('nx_lpage_splits')).toBe(0);
    expect(v.fetch(GVA + 0x4000n).exits.length).toBe(1);
    expect(vm.stats.get('nx_lpage_splits')).toBe(1);
  });
});
