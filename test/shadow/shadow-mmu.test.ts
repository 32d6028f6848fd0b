/**
 * Table tests for the shadow MMU's rules (reference §2.5–2.8, §8): page creation per guest level,
 * unsync and sync, emulated writes, write flooding, INVLPG, quadrants for 32-bit guests, PAE roots,
 * the previous-roots cache and PCID, CR0.WP=0, huge pages over shadowed tables, zapping.
 * Expected values follow from those rules and the guest tables the test builds, not from runs.
 */
import { describe, expect, it } from 'vitest';
import { CR0, CR4, PageTableBuilder, PageRole, ACC_6_16, KVM_VERSIONS, SHADOW_NONPRESENT_VALUE, type ShadowMmu } from '../../src';
import { shadowFixture, hostFrameOf, mapDirect, POOL, regsFor } from './fixtures';

const VA = 0x7000_0000n;

function frame(r: { hpa: unknown }): bigint {
  return BigInt(r.hpa as bigint) >> 12n;
}

function validPages(m: ShadowMmu) {
  return m.allPages.filter((sp) => !m.isObsolete(sp));
}

describe('shadow page creation', () => {
  it('4-level guest: one shadow page per guest table on the path, keyed by (gfn, role); upper gfns write-tracked', () => {
    const f = shadowFixture('paging4', { kvm: '6.16' });
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true, user: true } });
    const path = f.pt.path(VA); // PML4E, PDPTE, PDE, PTE entries
    const r = f.v.read(VA);
    expect(r.status).toBe('ok');
    expect(frame(r)).toBe(hostFrameOf(f, 0x80_0000n));
    const m = f.vm.shadow;
    const tableGfns = path.map((e) => Number(BigInt(e.gpa) >> 12n)); // level 4, 3, 2, 1 tables
    const sps = tableGfns.map((g) => m.find(g));
    expect(sps.map((l) => l.length)).toEqual([1, 1, 1, 1]);
    expect(sps.map((l) => l[0]!.level)).toEqual([4, 3, 2, 1]);
    // root_role = cpu_role.base with efer_nx forced; children copy it with level and access.
    const cpu = f.v.role.base;
    const root = sps[0]![0]!;
    expect(root.role.word).toBe(cpu.with({ eferNx: true }).word);
    for (const [i, l] of sps.entries()) expect(l[0]!.role.word).toBe(cpu.with({ eferNx: true, level: 4 - i, access: ACC_6_16.ALL }).word);
    // Upper-level gfns are write-tracked; the level-1 table's gfn is not (it may go unsync).
    expect(tableGfns.map((g) => m.isWriteTracked(g))).toEqual([true, true, true, false]);
    expect(f.vm.stats.get('indirect_shadow_pages')).toBe(4 + 0);
  });

  it('the accumulated access of the guest entries above a table becomes its role.access (KVM \'6.16\')', () => {
    const f = shadowFixture('paging4', { kvm: '6.16' });
    // A PDE without U and without W (but the leaf has both): the PT's shadow page has ACC = X only.
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true, user: true } });
    const pde = f.pt.getEntry(VA, 2);
    f.pt.setEntry(VA, 2, pde.value & ~6n);
    f.v.movCr3(f.pt.root);
    expect(f.v.read(VA).status).toBe('ok');
    const pt = f.vm.shadow.find(Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n))[0]!;
    expect(pt.role.access).toBe(1); // ACC_EXEC: P without NX
    expect(f.v.read(VA, true).status).toBe('guest-pf'); // a user read: U missing above
  });

  it('a guest #PF is found by KVM walking the guest tables and injected (pf_guest)', () => {
    const f = shadowFixture('paging4');
    const r = f.v.read(VA);
    expect(r.status).toBe('guest-pf');
    expect(r.exits.map((e) => [e.kind, e.ret])).toEqual([['pf_intercept', 'guest #PF injected']]);
    expect(f.v.stats.get('pf_guest')).toBe(1);
    expect(r.guestWalk.status === 'fault' && r.guestWalk.errorCode).toBe(0); // not present, supervisor read
  });

  it('prefetch walks the aligned group of 8 and stops at the first gPTE it cannot prefetch (without A)', () => {
    const f = shadowFixture('paging4');
    for (let i = 0; i < 16; i++) f.pt.map(VA + BigInt(i) * 4096n, 0x80_0000n + BigInt(i) * 4096n, { flags: { writable: true, accessed: i % 2 === 0 } });
    f.v.read(VA + 3n * 4096n);
    // Faulting entry 3, group 0..7 (paging_tmpl.h:596-597). Entry 0 has A: prefetched; entry 1 has
    // A clear, so prefetch_invalid_gpte fails (paging_tmpl.h:158-160) and the loop breaks
    // (paging_tmpl.h:604-605): 2, 4, 6 stay empty although their A is set.
    expect(f.vm.stats.get('pages_4k')).toBe(1 + 1);
    const a = (i: number) => (f.v.shadow!.leafFor(VA + BigInt(i) * 4096n)?.spte ?? 0n) & 0x20n;
    expect(a(3)).toBe(0x20n);
    expect(a(0)).toBe(0n); // a prefetched SPTE is made without Accessed (spte.c:181-182)
    for (const i of [1, 2, 4, 6, 8]) expect(f.v.shadow!.leafFor(VA + BigInt(i) * 4096n)).toBeUndefined();
  });

  it('prefetch skips present entries and the faulting one, and stops at a gPTE into a read-only slot', () => {
    const f = shadowFixture('paging4');
    f.vm.addMemslot({ base: 0x4000_0000n, size: 0x10_0000n, readonly: true, name: 'rom' });
    for (let i = 0; i < 8; i++) {
      const gpa = i === 5 ? 0x4000_0000n : 0x80_0000n + BigInt(i) * 4096n;
      f.pt.map(VA + BigInt(i) * 4096n, gpa, { flags: { writable: true, accessed: true } });
    }
    f.v.read(VA + 1n * 4096n); // prefetches 0, 2, 3, 4; 5 is in a read-only slot → break
    // kvm_prefetch_pages (kvm_main.c:3072-3074) fails for a read-only slot (kvm_main.c:2714-2715),
    // so FNAME(prefetch_gpte) returns false and the loop breaks (paging_tmpl.h:604-605).
    expect(f.vm.stats.get('pages_4k')).toBe(1 + 4);
    expect(f.v.shadow!.leafFor(VA + 6n * 4096n)).toBeUndefined();
  });

  it('a direct page (a 2M guest page mapped small) prefetches its own gfns in runs (__direct_pte_prefetch)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(0x4000_0000n, 0x400_0000n, { size: '2M', flags: { writable: true } });
    f.v.read(0x4000_3000n);
    // FNAME(pte_prefetch) hands a direct SP to __direct_pte_prefetch (paging_tmpl.h:591-592): the
    // window 0..7 (mmu.c:3127-3128) minus the faulting entry is prefetched as runs 0..2 and 4..7
    // (mmu.c:3130-3142), at the SP's gfns with its access (mmu.c:3113-3116).
    expect(f.vm.stats.get('pages_4k')).toBe(8);
    const direct = f.vm.shadow.allPages.filter((sp) => sp.role.direct);
    expect(direct.map((sp) => [sp.level, sp.gfn])).toEqual([[1, 0x4000]]);
    expect(f.v.shadow!.leafFor(0x4000_7000n)).toBeDefined();
    expect(f.v.shadow!.leafFor(0x4000_8000n)).toBeUndefined(); // outside the window
  });

  it('a direct page prefetch stops at the first run it cannot map (dirty logging, writable)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(0x4000_0000n, 0x400_0000n, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    f.v.read(0x4000_5000n); // runs 0..4 and 6..7 (mmu.c:3130-3142)
    expect(f.vm.stats.get('pages_4k')).toBe(8);
    f.vm.setDirtyLogging(f.ram, true);
    f.vm.zapGfnRange(0x400_0000n, 0x400_8000n);
    f.v.read(0x4000_5000n);
    // gfn_to_memslot_dirty_bitmap refuses a writable prefetch into a dirty-logged slot
    // (mmu.c:847-848): the first run fails and __direct_pte_prefetch returns (mmu.c:3134-3135).
    expect(f.vm.stats.get('pages_4k')).toBe(1);
  });

  it('paging off (direct_map): neighbours of a 4K mapping are prefetched (direct_pte_prefetch)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    v.read(0x80_2000n);
    // direct_map calls direct_pte_prefetch after a non-spurious mmu_set_spte (mmu.c:3387-3391): the
    // aligned window of 8 (mmu.c:3127-3128) is mapped, the faulting entry included.
    expect(f.vm.stats.get('pages_4k')).toBe(8);
  });

  it('paging off: four direct level-2 pages under the PAE root at gfns i << 18, GVA = GPA', () => {
    const f = shadowFixture('paging4');
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    const r = v.write(0x80_0123n);
    expect(r.status).toBe('ok');
    expect(frame(r)).toBe(hostFrameOf(f, 0x80_0000n));
    const roots = v.shadow!.ctx.paeRootSps;
    expect(roots.map((sp) => [sp!.gfn, sp!.role.direct, sp!.level])).toEqual([0, 1, 2, 3].map((i) => [i << 18, true, 2]));
    // The region holds the guest's page-table pool, but nothing is shadowed with paging off: 2M leaf.
    expect(f.vm.stats.get('pages_2m')).toBe(1);
  });
});

describe('unsync and sync', () => {
  it('a guest write to a 4K page table unsyncs its page; the bits lead there from the root; a CR3 load syncs it', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { count: 4, flags: { writable: true } });
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x80_0000n));
    const m = f.vm.shadow;
    const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
    const ptSp = m.find(ptGfn)[0]!;
    // The guest remaps VA to another frame with a plain store to its PTE.
    const w = f.storePte(VA, 1, 0x90_0000n | 0x63n);
    expect(w.status).toBe('ok'); // completed in hardware after KVM let the page go unsync
    expect(ptSp.unsync).toBe(true);
    expect(f.vm.stats.get('mmu_unsync')).toBe(1);
    const pdSp = m.find(Number(BigInt(f.pt.getEntry(VA, 2).gpa) >> 12n))[0]!;
    const pdIdx = Number((VA >> 21n) & 511n);
    expect(pdSp.unsyncChildBitmap[pdIdx]).toBe(1);
    expect(pdSp.unsync).toBe(false);
    // No flush yet: the stale translation is still what the shadow table says (a TLB may hold it too).
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x80_0000n));
    const reads = f.vm.stats.get('mmu_sync_gpte_reads');
    f.v.movCr3(f.pt.root);
    f.v.shadow!.load();
    expect(ptSp.unsync).toBe(false);
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
    // kvm_sync_page reads the gPTE of every entry that is not SHADOW_NONPRESENT_VALUE: here only VA's.
    expect(f.vm.stats.get('mmu_sync_gpte_reads') - reads).toBe(1);
    expect(pdSp.unsyncChildBitmap[pdIdx]).toBe(0);
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x90_0000n));
  });

  it('INVLPG syncs one entry of an unsync page; the others stay stale until a flush', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { count: 2, flags: { writable: true, accessed: true } });
    f.v.read(VA);
    f.v.read(VA + 4096n);
    f.storePte(VA, 1, 0x90_0000n | 0x63n);
    f.storePte(VA + 4096n, 1, 0x91_0000n | 0x63n);
    f.v.invlpg(VA);
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x90_0000n));
    expect(frame(f.v.read(VA + 4096n))).toBe(hostFrameOf(f, 0x80_1000n));
    expect(f.vm.stats.get('mmu_unsync')).toBe(1);
    f.v.flushGuestTlb();
    expect(frame(f.v.read(VA + 4096n))).toBe(hostFrameOf(f, 0x91_0000n));
  });

  it('upper-level tables are never unsync: a write to a PDE is emulated and zaps the SPTE (mmu_pte_write, mmu_pde_zapped)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    f.pt.map(VA + 0x4000_0000n, 0xa0_0000n, { flags: { writable: true } }); // another PT, reached from the same PDPT
    f.v.read(VA);
    const otherPde = f.pt.getEntry(VA + 0x4000_0000n, 2).value;
    const w = f.storePte(VA, 2, otherPde);
    expect(w.status).toBe('emulated');
    // The DM SPTE was not present, so page-track does not catch it; make_spte write-protects it.
    expect(w.emulation).toMatch(/write-(tracked|protected)/);
    expect(f.vm.stats.get('mmu_pte_write')).toBe(1);
    expect(f.vm.stats.get('mmu_pde_zapped')).toBe(1);
    const pdSp = f.vm.shadow.find(Number(BigInt(f.pt.getEntry(VA, 2).gpa) >> 12n))[0]!;
    expect(pdSp.unsync).toBe(false);
    // Effective at once, without a flush.
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0xa0_0000n));
  });

  it('write flooding: the third emulated write to an upper-level table with no walk through it zaps the page', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    f.v.read(VA);
    const pdGfn = Number(BigInt(f.pt.getEntry(VA, 2).gpa) >> 12n);
    const unused = VA + 100n * 0x20_0000n; // an unused PDE in the same page directory
    for (let i = 1; i <= 3; i++) {
      f.v.store(f.dm((BigInt(pdGfn) << 12n) + ((unused >> 21n) & 511n) * 8n), 0n, 8);
      expect(f.vm.stats.get('mmu_flooded')).toBe(i === 3 ? 1 : 0);
    }
    expect(f.vm.shadow.find(pdGfn)).toEqual([]);
    expect(f.vm.shadow.isWriteTracked(pdGfn)).toBe(false);
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x80_0000n)); // rebuilt on the next fault
  });

  it('a misaligned (2-byte) emulated write zaps the whole page (counted as flooded)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    f.v.read(VA);
    const pde = f.pt.getEntry(VA, 2);
    f.v.store(f.dm(BigInt(pde.gpa) + 2n), 0n, 2);
    expect(f.vm.stats.get('mmu_flooded')).toBe(1);
    expect(f.vm.shadow.find(Number(BigInt(pde.gpa) >> 12n))).toEqual([]);
  });

  it('a sync that makes an alias of another page table writable keeps it read-only (synchronizing)', () => {
    const f = shadowFixture('paging4');
    const VA3 = VA + 0x4000_0000n;
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    f.pt.map(VA3, 0x81_0000n, { flags: { writable: true } });
    f.v.read(VA);
    f.v.read(VA3);
    const qGpa = BigInt(f.pt.getEntry(VA3, 1).gpa) & ~0xfffn; // the page table of VA3 (shadowed, level 1)
    // VA+4K: a read-only alias of that page table, in VA's page table.
    f.pt.map(VA + 4096n, qGpa, { flags: { writable: false, dirty: true, accessed: true } });
    f.v.read(VA + 4096n);
    expect(f.v.shadow!.leafFor(VA + 4096n)!.spte & 2n).toBe(0n);
    // The guest makes the alias writable (VA's page table goes unsync), then flushes: the sync sees
    // a writable gPTE to a gfn with a shadow page and, synchronizing, must not unsync that one.
    f.storePte(VA + 4096n, 1, qGpa | 0x63n);
    f.v.flushGuestTlb();
    const q = f.vm.shadow.find(Number(qGpa >> 12n))[0]!;
    expect(q.unsync).toBe(false);
    expect(f.v.shadow!.leafFor(VA + 4096n)!.spte & 2n).toBe(0n);
    // A real write fault may unsync it.
    expect(f.v.write(VA + 4096n).status).toBe('ok');
    expect(q.unsync).toBe(true);
  });
});

describe('32-bit guests: quadrants', () => {
  it('the 4 KiB page directory is shadowed by four PAE directories, each page table by two PAE tables', () => {
    const f = shadowFixture('paging32');
    const va = 0x4000_0000n; // PDE 256 → quadrant 1 (VA bits 31:30)
    f.pt.map(va, 0x80_0000n, { count: 1024, flags: { writable: true } });
    f.v.read(va); // VA bit 21 = 0
    f.v.read(va + 0x20_0000n); // same guest PT, VA bit 21 = 1
    const m = f.vm.shadow;
    const pdGfn = Number(BigInt(f.pt.root) >> 12n);
    const pds = m.find(pdGfn, (sp) => sp.level === 2);
    expect(pds.map((sp) => sp.role.quadrant).sort()).toEqual([0, 1, 2, 3]);
    expect(pds.every((sp) => sp.role.hasFourByteGpte)).toBe(true);
    const ptGfn = Number(BigInt(f.pt.getEntry(va, 1).gpa) >> 12n);
    const pts = m.find(ptGfn);
    expect(pts.map((sp) => sp.role.quadrant).sort()).toEqual([0, 1]);
    expect(frame(f.v.read(va + 0x20_0000n + 0x5000n))).toBe(hostFrameOf(f, 0x80_0000n + 0x205000n));
  });

  it('an emulated 4-byte PDE write zaps the two PAE PDEs of its 4 MiB, in the quadrant that covers it', () => {
    const f = shadowFixture('paging32');
    const va = 0x4000_0000n;
    f.pt.map(va, 0x80_0000n, { count: 1024, flags: { writable: true } });
    f.v.read(va);
    f.v.read(va + 0x20_0000n);
    // Guest PDE 256 (bytes 1024..1027 of the PD) ↔ PAE quadrant 1 (VA 31:30), entries 0 and 1 (VA 29:21).
    const q1 = f.vm.shadow.find(Number(BigInt(f.pt.root) >> 12n), (sp) => sp.role.quadrant === 1)[0]!;
    const present = () => [0, 1, 2].map((i) => f.vm.shadow.readSpte(q1, i) !== SHADOW_NONPRESENT_VALUE);
    expect(present()).toEqual([true, true, false]);
    const w = f.storePte(va, 2, 0n); // PDE 256 → not present
    expect(w.status).toBe('emulated');
    expect(present()).toEqual([false, false, false]);
    expect(f.v.read(va).status).toBe('guest-pf');
    expect(f.v.read(va + 0x20_0000n).status).toBe('guest-pf');
  });

  it('a 4 MiB guest page is mapped by 2 MiB shadow leaves (a direct level-1 page where huge pages are disallowed)', () => {
    const f = shadowFixture('paging32');
    f.pt.map(0x4000_0000n, 0x400_0000n, { size: '4M', flags: { writable: true } });
    f.pt.map(0x8000_0000n, 0n, { size: '4M', flags: { writable: true } }); // covers the table pool
    f.v.read(0x4000_0000n);
    f.v.read(0x4020_0000n);
    expect(f.vm.stats.get('pages_2m')).toBe(2);
    f.v.read(0x8010_0000n); // inside the pool's 2M: disallowed → a direct level-1 page
    expect(f.vm.stats.get('pages_2m')).toBe(2);
    const direct = f.vm.shadow.allPages.filter((sp) => sp.role.direct);
    expect(direct.map((sp) => [sp.level, sp.gfn])).toEqual([[1, 0]]);
  });
});

describe('PAE roots and the previous-roots cache', () => {
  it('PAE guest: the root is a page of four PDPTE-like entries; absent PDPTEs give no page', () => {
    const f = shadowFixture('pae');
    f.pt.setEntry(2n << 30n, 3, 0n); // PDPTE 2 not present
    f.v.movCr3(f.pt.root);
    f.pt.map(0x4000_0000n, 0x80_0000n, { flags: { writable: true } });
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    expect(ctx.root.sp).toBeNull();
    expect(ctx.paeRootSps.map((sp) => sp !== null)).toEqual([true, true, false, true]);
    const pdpt = [0, 1, 3].map((i) => Number(BigInt(f.pt.getEntry(BigInt(i) << 30n, 3).value & 0xffff_f000n) >> 12n));
    expect([0, 1, 3].map((i) => ctx.paeRootSps[i]!.gfn)).toEqual(pdpt);
    // The hardware loads PDPTE-like entries: page | P.
    const lo = ctx.paeHalves[2]!;
    const hi = ctx.paeHalves[3]!;
    expect(lo & 0xfff).toBe(1);
    expect(hi * 2 ** 20 + (lo >>> 12)).toBe(ctx.paeRootSps[1]!.pfn);
    // PAE roots are not cached: switching away and back misses.
    f.v.movCr3(f.pt.root + 0x20n);
    f.v.read(0x4000_0000n);
    f.v.movCr3(f.pt.root);
    expect(f.v.stats.get('root_cache_hit')).toBe(0);
  });

  it('4-level: current + 3 previous roots form an MRU cache of four', () => {
    const f = shadowFixture('paging4');
    const spaces = [f.pt];
    for (let i = 1; i < 5; i++) {
      const b = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: POOL.base + BigInt(i) * 0x4_0000n, size: 0x4_0000n } });
      spaces.push(b);
    }
    f.pt.map(VA, 0x80_0000n);
    for (const s of spaces) s.map(VA, 0x80_0000n);
    const go = (i: number) => {
      f.v.movCr3(spaces[i]!.root);
      f.v.read(VA);
    };
    go(0);
    const hits = () => f.v.stats.get('root_cache_hit');
    go(1); go(2); go(3);
    go(0); // 0 is the least recent of 4: still cached
    expect(hits()).toBe(1);
    go(1); go(2); go(3); // all cached
    expect(hits()).toBe(4);
    go(4); // evicts the least recent (0)
    go(0);
    expect(hits()).toBe(4);
    // Misses: spaces 1, 2, 3 at first, 4, and 0 after its eviction (space 0 was loaded at reset).
    expect(f.v.stats.get('root_cache_miss')).toBe(3 + 1 + 1);
  });

  it('PCID no-flush: a cached root keeps its stale entries; without no-flush it is synced', () => {
    const f = shadowFixture('paging4', { extraRegs: { cr4: CR4.PCIDE } });
    const b = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: POOL.base + POOL.size, size: POOL.size } });
    mapDirect(b, f.dm);
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    b.map(VA, 0x81_0000n, { flags: { writable: true } });
    const A = f.pt.root | 1n;
    const B = b.root | 2n;
    f.v.movCr3(B);
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x81_0000n));
    f.v.movCr3(A);
    // From A, the guest rewrites B's PTE (B's page table goes unsync).
    const e = b.getEntry(VA, 1);
    expect(f.v.store(f.dm(BigInt(e.gpa)), 0x92_0000n | 0x63n, 8).status).toBe('ok');
    f.v.movCr3(B | (1n << 63n)); // no flush: B's root comes back from the cache, unsynced
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x81_0000n));
    f.v.movCr3(A);
    f.v.movCr3(B); // flushing load
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x92_0000n));
    expect(f.v.stats.get('root_cache_hit')).toBeGreaterThanOrEqual(2);
  });
});

describe('permissions KVM bends', () => {
  it('CR0.WP=0: a supervisor write to a read-only page maps it writable but not user; a user read flips it back', () => {
    const f = shadowFixture('paging4', { extraRegs: { cr0: CR0.PE | CR0.PG } });
    f.pt.map(VA, 0x80_0000n, { flags: { writable: false, user: true, dirty: true, accessed: true } });
    expect(f.v.write(VA).status).toBe('ok');
    let s = f.v.shadow!.leafFor(VA)!.spte;
    expect([s & 2n, s & 4n]).toEqual([2n, 0n]); // W=1, U=0
    expect(f.v.read(VA, true).status).toBe('ok');
    s = f.v.shadow!.leafFor(VA)!.spte;
    expect([s & 2n, s & 4n]).toEqual([0n, 4n]); // W=0, U=1
    expect(f.v.write(VA, true).status).toBe('guest-pf'); // a user write is refused by the guest tables
  });

  it('a huge guest page over a shadowed page table is mapped with 4K leaves; elsewhere with a 2M leaf (KVM \'6.16\')', () => {
    const f = shadowFixture('paging4', { kvm: '6.16' });
    f.pt.map(VA, 0x400_0000n, { size: '2M', flags: { writable: true } });
    f.pt.map(VA + 0x20_0000n, 0n, { size: '2M', flags: { writable: true } }); // GPA 0..2M holds the table pool
    expect(frame(f.v.write(VA + 0x1000n))).toBe(hostFrameOf(f, 0x400_1000n));
    expect(f.vm.stats.get('pages_2m')).toBe(1);
    expect(frame(f.v.write(VA + 0x20_0000n + 0x8000n))).toBe(hostFrameOf(f, 0x8000n));
    expect(f.vm.stats.get('pages_2m')).toBe(1);
    const d = f.vm.shadow.allPages.filter((sp) => sp.role.direct);
    // role.access of a direct page = the guest leaf's pte_access: W and X, no U.
    expect(d.map((sp) => [sp.level, sp.gfn, sp.role.access])).toEqual([[1, 0, 3]]);
  });
});

describe('zapping', () => {
  it('fast zap-all flips the generation: old pages are obsolete and zapped; the vCPU reloads', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { count: 4, flags: { writable: true } });
    for (let i = 0n; i < 4n; i++) f.v.read(VA + i * 4096n);
    const m = f.vm.shadow;
    const before = validPages(m).length;
    const gen = m.mmuValidGen;
    f.vm.zapAllFast();
    expect(m.mmuValidGen).toBe(gen ^ 1);
    expect(validPages(m)).toEqual([]);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(before);
    expect(f.vm.stats.get('pages_4k')).toBe(0);
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x80_0000n));
    expect(validPages(m).every((sp) => sp.mmuValidGen === (gen ^ 1))).toBe(true);
  });

  it('deleting a memslot zaps everything; the GPA then is MMIO (an MMIO SPTE, then the cached path)', () => {
    const f = shadowFixture('paging4');
    const hot = f.vm.addMemslot({ base: 0x8000_0000n, size: 0x20_0000n, name: 'hot' });
    f.pt.map(VA, 0x8000_0000n, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    f.vm.deleteMemslot(hot);
    const a = f.v.read(VA);
    expect([a.status, a.emulation]).toEqual(['emulated', 'MMIO (new MMIO SPTE)']);
    const b = f.v.read(VA);
    expect(b.exits.map((e) => [e.errorCode & 8n, e.ret])).toEqual([[8n, 'RET_PF_EMULATE']]);
    expect(f.v.stats.get('pf_mmio_spte_created')).toBe(1);
  });

  it('with n_max_mmu_pages = 64, the oldest non-root pages are recycled to keep 5 free', () => {
    const f = shadowFixture('paging4', { maxMmuPages: 64 });
    for (let i = 0n; i < 100n; i++) f.pt.map(VA + i * 0x20_0000n, 0x80_0000n);
    for (let i = 0n; i < 100n; i++) {
      f.v.read(VA + i * 0x20_0000n);
      expect(f.vm.shadow.nUsedMmuPages).toBeLessThanOrEqual(64);
    }
    expect(f.vm.stats.get('mmu_recycled')).toBeGreaterThan(0);
    // Everything still translates (recycled tables are rebuilt on demand).
    expect(frame(f.v.read(VA))).toBe(hostFrameOf(f, 0x80_0000n));
  });

  it('zapping a shadowed table page unprotects its gfn: the guest then writes it in hardware', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    f.v.read(VA);
    const pdGpa = BigInt(f.pt.getEntry(VA, 2).gpa);
    const sp = f.vm.shadow.find(Number(pdGpa >> 12n))[0]!;
    f.vm.shadow.zapPage(sp);
    f.vm.afterOperation();
    expect(f.vm.shadow.isWriteTracked(Number(pdGpa >> 12n))).toBe(false);
    expect(f.v.store(f.dm(pdGpa + 8n * 300n), 0n, 8).status).toBe('ok');
    expect(f.vm.stats.get('mmu_pte_write')).toBe(0);
  });
});

it.each(KVM_VERSIONS)('every shadow page starts as SHADOW_NONPRESENT_VALUE and roles pack as KVM (KVM %s)', (kvm) => {
  const f = shadowFixture('paging32', { kvm });
  f.pt.map(0x4000_0000n, 0x80_0000n);
  f.v.read(0x4000_0000n);
  const pt = f.vm.shadow.find(Number(BigInt(f.pt.getEntry(0x4000_0000n, 1).gpa) >> 12n))[0]!;
  expect(f.vm.shadow.readSpte(pt, 511)).toBe(SHADOW_NONPRESENT_VALUE);
  // level 1 | has_4_byte_gpte | quadrant 0 | access ACC_ALL (the PDE grants everything: 7 in v6.16,
  // reference §4.2; 0xF in 7.3, kvm-7x.md §1.4) | efer_nx (forced) | cr0_wp — by the version's
  // layout (reference §2.1; kvm-7x.md §3.1). CR4.SMEP is 0, so 7.3's base cr4_smep is 0.
  const access = kvm === '6.16' ? 7 : 0xf;
  expect(pt.role.word).toBe(PageRole.pack({ level: 1, hasFourByteGpte: true, access, eferNx: true, cr0Wp: true }, kvm).word);
  void regsFor;
});

describe('dirty logging without TDP', () => {
  it('write-protects through the rmap; a write fault logs the gfn; huge pages are not rebuilt while logging', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x400_0000n, { size: '2M', flags: { writable: true, dirty: true, accessed: true } });
    f.v.write(VA);
    expect(f.vm.stats.get('pages_2m')).toBe(1);
    f.vm.setDirtyLogging(f.ram, true);
    expect(f.v.shadow!.leafFor(VA)!.spte & 2n).toBe(0n);
    expect(f.v.read(VA).exits).toEqual([]); // reads still hit the (read-only) huge leaf
    f.v.write(VA + 0x3000n);
    expect(f.vm.getDirtyLog(f.ram)).toEqual([0x400_3000n]);
    expect(f.vm.stats.get('pages_2m')).toBe(0); // the write split it: 4K leaves while logging
  });
});

it('L2 without nested TDP on a shadow VM: the same machinery with guest_mode roles, apart from L1\'s pages', () => {
  const f = shadowFixture('paging4');
  f.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
  f.v.read(VA);
  const l2 = f.vm.createVcpu({ ...f.regs, guestMode: true });
  expect(frame(l2.read(VA))).toBe(hostFrameOf(f, 0x80_0000n));
  const pml4 = f.vm.shadow.find(Number(BigInt(f.pt.root) >> 12n));
  expect(pml4.map((sp) => sp.role.guestMode).sort()).toEqual([false, true]);
  expect(pml4[0]!.role.with({ guestMode: false }).word).toBe(pml4[1]!.role.with({ guestMode: false }).word);
});
