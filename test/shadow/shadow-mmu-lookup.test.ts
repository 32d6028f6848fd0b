/**
 * `kvm_mmu_find_shadow_page` (arch/x86/kvm/mmu/mmu.c of Linux v6.16.1, lines 2247-2300): a page
 * with the gfn but another role is skipped, except that when the lookup is for an upper-level page
 * an unsync page of that gfn is zapped first — the new upper-level page write-protects the gfn,
 * and an unsync page must not stay on a write-protected gfn (mmu.c:2247-2260); a page of another gfn
 * in the bucket counts a collision (mmu.c:2242-2244, 2303-2304); a page found unsync is synced,
 * with a remote flush if that changed an SPTE (mmu.c:2266-2290); a miss counts mmu_cache_miss
 * (mmu.c:2297-2298).
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

describe('kvm_mmu_find_shadow_page: hash collisions, hits and misses', () => {
  it('two guest page tables in one hash bucket: max_mmu_page_hash_collisions 1; every allocation is a cache miss', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    // hash_64(0x1001, 12) = hash_64(0x2056, 12) = 0x61d (include/linux/hash.h:78, by hand).
    f.pt.placeTable(1, VA, 0x100_1000n);
    f.pt.placeTable(1, VA + 0x20_0000n, 0x205_6000n);
    f.pt.map(VA, GPA, { flags: { writable: true } });
    f.pt.map(VA + 0x20_0000n, GPA, { flags: { writable: true } });
    const from = f.vm.events.all.length;
    const miss = f.vm.stats.get('mmu_cache_miss');
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.stats.get('max_mmu_page_hash_collisions')).toBe(0);
    expect(f.v.read(VA + 0x20_0000n).status).toBe('ok');
    expect(f.vm.stats.get('max_mmu_page_hash_collisions')).toBe(1);
    // The root (loaded at the first entry, kvm_mmu_load → mmu_alloc_root → kvm_mmu_get_shadow_page),
    // the PDPT, the page directory and the two page tables: five misses.
    expect(f.vm.stats.get('mmu_cache_miss')).toBe(miss + 5);
    const allocs = f.vm.events.all.slice(from).filter((e) => e.kind === 'sp_alloc');
    expect(allocs.map((e) => [e.gpa, e.level])).toEqual([
      [BigInt(f.pt.root), 4],
      [BigInt(f.pt.getEntry(VA, 3).gpa) & ~0xfffn, 3],
      [BigInt(f.pt.getEntry(VA, 2).gpa) & ~0xfffn, 2],
      [0x100_1000n, 1],
      [0x205_6000n, 1],
    ]);
    const pt = f.vm.shadow.find(0x1001)[0]!;
    expect(allocs[3]!.outcome).toBe(`role 0x${pt.role.word.toString(16)}`);
  });

  it('an unsync page reached through a new parent entry is synced by the lookup, and the change flushed', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.write(VA).status).toBe('ok');
    expect(f.v.shadow!.leafFor(VA)!.spte & 2n).toBe(2n);
    const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    const sp = f.vm.shadow.find(ptGfn, (p) => p.level === 1)[0]!;
    expect(sp.unsync).toBe(true);
    // The guest makes VA read-only in memory (no INVLPG yet), then links the same page table from
    // the next PDE: the walk there looks the page up with the same role.
    f.pt.setEntry(VA, 1, f.pt.getEntry(VA, 1).value & ~2n);
    f.pt.setEntry(VA + 0x20_0000n, 2, f.pt.getEntry(VA, 2).value);
    const from = f.vm.events.all.length;
    expect(f.v.read(VA + 0x20_0000n).status).toBe('ok');
    // kvm_sync_page rebuilt entry 0 without W (mmu.c:2283); W lost on an MMU-writable SPTE: flush (mmu.c:2288-2289).
    expect(f.v.shadow!.leafFor(VA)!.spte & 2n).toBe(0n);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'tlb_flush').map((e) => e.outcome)).toContain('sync of an unsync page found by lookup');
    // It stays unsync (kvm_sync_page does not mark it synchronized).
    expect(sp.unsync).toBe(true);
    expect(f.vm.shadow.find(ptGfn, (p) => p.level === 1)).toEqual([sp]);
  });
});

