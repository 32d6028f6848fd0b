/**
 * `kvm_mmu_find_shadow_page` (arch/x86/kvm/mmu/mmu.c of Linux v6.16.1, lines 2247-2300): a page
 * with the gfn but another role is skipped, except that when the lookup is for an upper-level page
 * an unsync page of that gfn is zapped first — the new upper-level page write-protects the gfn,
 * and an unsync page must not stay on a write-protected gfn (mmu.c:2262-2274).
 */
import { describe, expect, it } from 'vitest';
import { shadowFixture } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const HUGE_GPA = 0x400_0000n;
const K = 5; // the entry of the guest page table that doubles as a PDE

describe('kvm_mmu_find_shadow_page: role mismatch', () => {
  it('a page table used as a page directory: the unsync level-1 page of its gfn is zapped', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    // PTE K of that page table, read as a PDE, maps 2 MiB (bit 7 is PAT in a PTE, PS in a PDE).
    f.pt.setEntry(VA + BigInt(K) * 0x1000n, 1, HUGE_GPA | 0x80n | 0x67n);
    expect(f.v.read(VA).status).toBe('ok');
    const ptGpa = BigInt(f.pt.getEntry(VA, 1).gpa) & ~0xfffn;
    const ptGfn = Number(ptGpa >> 12n);
    // A guest store to a PTE unsyncs the level-1 page (mmu_try_to_unsync_pages).
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    const l1 = f.vm.shadow.find(ptGfn, (sp) => sp.level === 1);
    expect(l1.map((sp) => sp.unsync)).toEqual([true]);
    // A PDPTE of another GiB points at the page table: a walk there uses it as a page directory.
    const va2 = 0x8000_0000n + BigInt(K) * 0x20_0000n;
    f.pt.setEntry(va2, 3, ptGpa | 0x27n);
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    const r = f.v.read(va2 + 0x3000n);
    expect(r.status).toBe('ok');
    expect(r.gpa).toBe(HUGE_GPA + 0x3000n);
    // mmu.c:2272-2273: kvm_mmu_prepare_zap_page of the unsync level-1 page, then committed.
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 1);
    expect(l1[0]!.role.invalid).toBe(true);
    expect(f.vm.shadow.find(ptGfn, (sp) => sp.level === 1)).toEqual([]);
    expect(f.vm.shadow.find(ptGfn, (sp) => sp.level === 2).length).toBe(1);
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
  });

  it('a lookup for a level-1 page does not zap a page of the gfn with another role', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    expect(f.vm.shadow.find(ptGfn, (sp) => sp.level === 1).map((sp) => sp.unsync)).toEqual([true]);
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    // The next PDE of the same directory reaches the same page table read-only: role.access differs,
    // so a second level-1 page; the unsync one stays (role.level is 4K, mmu.c:2272).
    const va2 = VA + 0x20_0000n;
    f.pt.setEntry(va2, 2, f.pt.getEntry(VA, 2).value & ~2n);
    expect(f.v.read(va2).status).toBe('ok');
    const l1 = f.vm.shadow.find(ptGfn, (sp) => sp.level === 1);
    expect(l1.length).toBe(2);
    expect(l1.filter((sp) => sp.unsync).length).toBe(1);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped);
  });
});
