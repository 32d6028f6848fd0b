/**
 * The shadow MMU's half of the NX huge page mitigation's bookkeeping (mmu.c:779-836): a direct
 * page made because an executable huge page was refused goes on the VM's one
 * possible-NX-huge-pages list (`account_nx_huge_page`, paging_tmpl.h:734-736, mmu.c:3378-3380),
 * leaves it when zapped (`__kvm_mmu_prepare_zap_page`, mmu.c:2700-2701), and
 * `kvm_recover_nx_huge_pages` zaps it (`kvm_mmu_prepare_zap_page`, mmu.c:7593-7596).
 */
import { describe, expect, it } from 'vitest';
import { CR0, PageTableBuilder, ShadowPage, Vm } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

const VA = 0x4000_0000n;
const GPA = 0x400_0000n;

function nxShadowVm(nxHugePages = true) {
  const vm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt', nxHugePages }, checkInvariants: true });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  // Two guest 2 MiB pages, both executable.
  pt.map(VA, GPA, { size: '2M', count: 2, flags: { writable: true } });
  return { vm, ram, pt, v };
}

const splits = (vm: Vm) => vm.stats.get('nx_lpage_splits');

describe('shadow MMU: NX huge page accounting', () => {
  it('an exec on a guest 2 MiB page puts the direct page on the VM list; its zap takes it off', () => {
    const { vm, v } = nxShadowVm();
    expect(v.fetch(VA).status).toBe('ok');
    // paging_tmpl.h:734-736: req_level (2) >= it.level (2) → track_possible_nx_huge_page, ++nx_lpage_splits (mmu.c:792).
    expect(splits(vm)).toBe(1);
    const [sp] = [...vm.possibleNxHugePages];
    expect(sp).toBeInstanceOf(ShadowPage);
    expect((sp as ShadowPage).role.direct).toBe(true); // mmu.c:7558 WARN_ON_ONCE(!sp->role.direct)
    expect((sp as ShadowPage).nxHugePageDisallowed).toBe(true); // mmu.c:801
    vm.zapAll();
    // mmu.c:2700-2701: the zapped page is unaccounted; --nx_lpage_splits (mmu.c:827).
    expect(splits(vm)).toBe(0);
    expect(vm.possibleNxHugePages.size).toBe(0);
    expect((sp as ShadowPage).nxHugePageDisallowed).toBe(false); // mmu.c:833
  });

  it('a second exec in the same 2 MiB page reuses the page: counted once (mmu.c:789-790)', () => {
    const { vm, v } = nxShadowVm();
    v.fetch(VA);
    v.fetch(VA + 0x1000n); // the 4 KiB neighbour: another leaf in the same direct page
    v.fetch(VA + 0x20_0000n); // the other 2 MiB page: a second direct page
    expect(splits(vm)).toBe(2);
  });

  it('paging off (direct_map, mmu.c:3378-3380) accounts the split too', () => {
    const vm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt', nxHugePages: true }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
    const v = vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    expect(v.fetch(GPA).status).toBe('ok');
    expect(splits(vm)).toBe(1);
    expect(vm.recoverNxHugePages(1)).toEqual({ toZap: 1, zapped: 1, unaccounted: 0 });
    expect(splits(vm)).toBe(0);
  });

  it('without the mitigation nothing is accounted', () => {
    const { vm, v } = nxShadowVm(false);
    v.fetch(VA);
    expect(splits(vm)).toBe(0); // fault->huge_page_disallowed is false: no account_nx_huge_page
    expect(vm.stats.get('pages_2m')).toBe(1);
  });
});

describe('shadow MMU: kvm_recover_nx_huge_pages', () => {
  it('ratio 1 zaps every split page with one flush; the next read maps 2 MiB again', () => {
    const { vm, v } = nxShadowVm();
    v.fetch(VA);
    v.fetch(VA + 0x20_0000n);
    expect(vm.stats.get('pages_2m')).toBe(0);
    const flushes = vm.stats.get('remote_tlb_flush');
    const zapped = vm.stats.get('mmu_shadow_zapped');
    const ev = vm.events.all.length;
    // mmu.c:7544: to_zap = DIV_ROUND_UP(2, 1) = 2; both pages are shadow pages (mmu.c:7596).
    expect(vm.recoverNxHugePages(1)).toEqual({ toZap: 2, zapped: 2, unaccounted: 0 });
    expect(splits(vm)).toBe(0);
    expect(vm.possibleNxHugePages.size).toBe(0);
    expect(vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 2);
    // mmu.c:7609 kvm_mmu_remote_flush_or_zap → kvm_mmu_commit_zap_page: one flush for the pass.
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes + 1);
    const spZaps = vm.events.all.slice(ev).filter((e) => e.kind === 'sp_zap');
    expect(spZaps.map((e) => e.gpa)).toEqual([GPA, GPA + 0x20_0000n]); // oldest first (mmu.c:7556)
    expect(vm.stats.get('pages_4k')).toBe(0); // their leaves went with them
    expect(v.read(VA).status).toBe('ok');
    expect(vm.stats.get('pages_2m')).toBe(1);
  });

  it('the default ratio 60 zaps ⌈2/60⌉ = 1 page, the oldest (list_first_entry, mmu.c:7556)', () => {
    const { vm, v } = nxShadowVm();
    v.fetch(VA + 0x20_0000n);
    v.fetch(VA);
    expect(vm.recoverNxHugePages()).toEqual({ toZap: 1, zapped: 1, unaccounted: 0 });
    expect(splits(vm)).toBe(1);
    const [left] = [...vm.possibleNxHugePages];
    expect(left!.gfn).toBe(Number(GPA >> 12n)); // the younger one stays
  });

  it('in a dirty-logged slot the page is unaccounted, not zapped (mmu.c:7591-7592)', () => {
    const { vm, ram, v } = nxShadowVm();
    v.fetch(VA);
    vm.setDirtyLogging(ram, true);
    const zapped = vm.stats.get('mmu_shadow_zapped');
    const flushes = vm.stats.get('remote_tlb_flush');
    expect(vm.recoverNxHugePages(1)).toEqual({ toZap: 1, zapped: 0, unaccounted: 1 });
    expect(splits(vm)).toBe(0);
    expect(vm.stats.get('mmu_shadow_zapped')).toBe(zapped);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes); // nothing to commit, no flush (mmu.c:2080-2081)
    expect(vm.stats.get('pages_4k')).toBeGreaterThan(0);
  });
});
