/**
 * Zapping in the shadow MMU, counted exactly, against arch/x86/kvm/mmu/mmu.c of Linux v6.16.1:
 * `make_mmu_pages_available` (mmu.c:2794-2815, KVM_MIN_FREE_MMU_PAGES 5 and KVM_REFILL_PAGES 25 in
 * arch/x86/include/asm/kvm_host.h:172-173), `kvm_mmu_zap_oldest_mmu_pages` (mmu.c:2748-2783: oldest
 * first, roots skipped, one per page without children zapped, mmu_recycled += total), and
 * `mmu_page_zap_pte` clearing an MMIO SPTE (mmu.c:2597-2598).
 */
import { describe, expect, it } from 'vitest';
import { SHADOW_NONPRESENT_VALUE } from '../../src';
import { shadowFixture, tableOf } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;

describe('make_mmu_pages_available with n_max_mmu_pages = 64', () => {
  it('zaps only when fewer than 5 pages are free, then the oldest 25 - avail non-root pages', () => {
    const f = shadowFixture('paging4', { maxMmuPages: 64, hostPageSize: '4K' });
    // VA_i = VA + i * 2 MiB share one guest PML4E, PDPTE and page directory; each has its own page table.
    const at = (i: number) => VA + BigInt(i) * 0x20_0000n;
    for (let i = 0; i < 58; i++) f.pt.map(at(i), GPA, { flags: { writable: true } });
    expect(f.v.read(at(0)).status).toBe('ok');
    // The root, the PDPT, the page directory and page table 0.
    expect(f.vm.shadow.nUsedMmuPages).toBe(4);
    // Faults 1..56 find 64 - (i + 3) ≥ 5 pages free: nothing is zapped; each adds one page table.
    for (let i = 1; i <= 56; i++) expect(f.v.read(at(i)).status).toBe('ok');
    expect(f.vm.shadow.nUsedMmuPages).toBe(60);
    expect(f.vm.stats.get('mmu_recycled')).toBe(0);
    // Fault 57 finds 4 free: zap 25 - 4 = 21, oldest first — the PDPT, the page directory and page
    // tables 0..18 (the root is skipped: root_count) — then rebuild the PDPT, the directory and
    // page table 57.
    expect(f.v.read(at(57)).status).toBe('ok');
    expect(f.vm.stats.get('mmu_recycled')).toBe(21);
    expect(f.vm.shadow.nUsedMmuPages).toBe(60 - 21 + 3);
    // Page table 19 survived: its gfn still has its page; page table 18 went.
    const ptGfn = (i: number) => Number(BigInt(f.pt.getEntry(at(i), 1).gpa) >> 12n);
    expect(f.vm.shadow.find(ptGfn(18))).toEqual([]);
    expect(f.vm.shadow.find(ptGfn(19)).length).toBe(1);
  });
});

describe('mmu_page_zap_pte on an MMIO SPTE', () => {
  it('zapping the page that holds an MMIO SPTE clears that SPTE too (an spte_change to SHADOW_NONPRESENT_VALUE)', () => {
    const f = shadowFixture('paging4');
    const mmio = 0x8000_0000n; // above the 1 GiB memslot: no slot
    f.pt.map(VA, mmio, { flags: { writable: true } });
    const a = f.v.read(VA);
    expect([a.status, a.emulation]).toEqual(['emulated', 'MMIO (new MMIO SPTE)']);
    const pt = tableOf(f, VA, 1);
    const idx = Number((VA >> 12n) & 511n);
    const spte = f.vm.shadow.readSpte(pt, idx);
    expect(spte).not.toBe(SHADOW_NONPRESENT_VALUE);
    const from = f.vm.events.all.length;
    f.vm.shadow.zapPage(pt);
    const cleared = f.vm.events.all.slice(from).filter((e) => e.kind === 'spte_change' && e.oldSpte === spte);
    expect(cleared.map((e) => e.newSpte)).toEqual([SHADOW_NONPRESENT_VALUE]);
  });
});

describe('kvm_mmu_zap_all_fast', () => {
  it('returns the valid pages it zapped; the next access rebuilds the path under the new generation', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    // The root, the PDPT, the page directory and the page table (mmu.c kvm_zap_obsolete_pages zaps each).
    expect(f.vm.shadow.nUsedMmuPages).toBe(4);
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    expect(f.vm.zapAllFast()).toBe(4);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 4);
    expect(f.vm.zapAllFast()).toBe(0);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.shadow.allPages.filter((sp) => !sp.role.invalid).length).toBe(4);
  });
});

