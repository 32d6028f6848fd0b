/**
 * Roots of the shadow MMU (src/shadow/roots.ts) against Linux v6.16.1:
 * - `kvm_mmu_free_roots` (mmu.c:3720-3772): a PAE root drops each of its four pages and clears
 *   `pae_root[i]` to INVALID_PAE_ROOT (0) (mmu.c:3758-3766); the current root becomes INVALID_PAGE;
 * - `mmu_alloc_shadow_roots` (mmu.c:4000-4110): a PAE guest's absent PDPTE gets no page
 *   (mmu.c:4078-4082), a 32-bit guest's directory is shadowed by four quadrants (mmu.c:4085-4095);
 * - `kvm_mmu_new_pgd` → `fast_pgd_switch` / `cached_root_find_and_keep_current` /
 *   `cached_root_find_without_current` (mmu.c:4957-5073): an MRU of the current and three previous
 *   roots keyed by (pgd, role), a hit clears the root's write-flooding count (mmu.c:5066-5072);
 * - `kvm_mmu_sync_prev_roots` (mmu.c:4226-4240): a previous root that needs a sync is freed;
 * - `kvm_invalidate_pcid` (x86.c:1387-1421): the current PCID requests a sync and a flush; with
 *   CR4.PCIDE, previous roots with that PCID are freed; without it nothing else (x86.c:1402-1411);
 * - KVM_REQ_MMU_FREE_OBSOLETE_ROOTS → `__kvm_mmu_free_obsolete_roots` (mmu.c:5963-5978): obsolete
 *   current and previous roots are freed, others kept; a root without a shadow page (a PAE root)
 *   counts as obsolete (`is_obsolete_root`, mmu.c:5936-5961);
 * - `fast_pgd_switch` (mmu.c:5028-5042): a current root without a shadow page (a PAE root, which a
 *   32-bit guest has too) is freed before the cache is searched.
 *
 * Equivalent mutants of roots.ts (no observable difference possible; line numbers of roots.ts now):
 * - `hpa < 0` → `hpa <= 0` and `hpa >= 0` → `hpa > 0` (lines 25, 49, 70, 122, 141, 150, 151, 185):
 *   table frames start at 2^(MAXPHYADDR-13) (HostMemory.tableBase), so no root is at frame 0;
 * - `r.hpa >= 0 &&` → true (150 fastPgdSwitch, 185 freeObsoleteRoots' `obsolete`): INVALID_ROOT
 *   has no page (sp null), and freeing an invalid root (current or previous) does nothing:
 *   putRootRef returns, the event needs `ctx.root.hpa >= 0`;
 * - syncRoots `isUnsyncRoot(root)` → true (124): mmu_sync_children of a root without unsync
 *   children finds no page (unsyncWalk is empty), so it write-protects, syncs and flushes nothing;
 * - syncRoots `ctx.direct || ctx.root.hpa < 0` (122) → false / `&&`: direct pages and a missing root
 *   have no unsync children to sync;
 * - isRootUsable `r.hpa < 0` → false and `r.sp === null` → false (141): INVALID_ROOT has both, and a
 *   PAE root never reaches the previous roots;
 * - newPgd's write-flooding reset (176) → `||` / true: after a miss the current root is INVALID_ROOT
 *   (sp null), and a hit always has a page.
 */
import { describe, expect, it } from 'vitest';
import { CR4, PageTableBuilder, freeRoots, invalidatePcid, pcidOf } from '../../src';
import { POOL, mapDirect, regsFor, shadowFixture, tableOf } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;

function spaces(n: number, pcide = false) {
  const f = shadowFixture('paging4', { hostPageSize: '4K', extraRegs: pcide ? { cr4: CR4.PCIDE } : {} });
  const s = [f.pt];
  for (let i = 1; i < n; i++) {
    const b = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: POOL.base + BigInt(i) * 0x4_0000n, size: 0x4_0000n } });
    s.push(b);
  }
  for (const b of s) b.map(VA, GPA, { flags: { writable: true } });
  return { f, s, ctx: f.v.shadow!.ctx };
}

describe('kvm_mmu_free_roots of a PAE root', () => {
  it('drops the four pages and clears the PDPTE-like entries the hardware would load', () => {
    const f = shadowFixture('pae');
    f.pt.map(0x4000_0000n, GPA, { flags: { writable: true } });
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    const sps = ctx.paeRootSps.filter((sp) => sp !== null);
    expect(sps.length).toBe(4);
    expect(sps.every((sp) => sp!.rootCount === 1)).toBe(true);
    expect([...ctx.paeHalves].filter((_, i) => i % 2 === 0).every((lo) => (lo & 1) === 1)).toBe(true);
    const from = f.vm.events.all.length;
    f.v.movCr3(f.pt.root + 0x20n); // another PDPT: a PAE root is not cached, it is freed
    expect(ctx.root.hpa).toBe(-1);
    expect(ctx.paeRootSps).toEqual([null, null, null, null]);
    expect([...ctx.paeHalves]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(sps.every((sp) => sp!.rootCount === 0)).toBe(true);
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'root_free');
    expect(ev.map((e) => [e.vcpu, e.level])).toEqual([[0, 3]]);
  });

  it('a 32-bit guest: four quadrant pages of one gfn, each with root_count 1', () => {
    const f = shadowFixture('paging32');
    f.pt.map(0x4000_0000n, GPA, { flags: { writable: true } });
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    const sps = ctx.paeRootSps.map((sp) => sp!);
    expect(sps.map((sp) => sp.role.quadrant)).toEqual([0, 1, 2, 3]);
    expect(new Set(sps.map((sp) => sp.gfn)).size).toBe(1);
    expect(sps.map((sp) => sp.rootCount)).toEqual([1, 1, 1, 1]);
    // Each entry: the page's frame | P (pm_mask without a 4/5-level host walk).
    for (let i = 0; i < 4; i++) expect(BigInt(ctx.paeHalves[i * 2]!) | (BigInt(ctx.paeHalves[i * 2 + 1]!) << 32n)).toBe((BigInt(sps[i]!.pfn) << 12n) | 1n);
  });
});

describe('a PAE root (32-bit and PAE guests) is never cached', () => {
  it('a 32-bit guest\'s CR3 load frees the PAE root in fast_pgd_switch (no PDPTEs changed)', () => {
    const f = shadowFixture('paging32');
    const b = new PageTableBuilder(f.vm.guestMem, { mode: 'paging32', pool: { base: POOL.base + POOL.size, size: 0x4_0000n } });
    mapDirect(b, f.dm);
    f.pt.map(0x4000_0000n, GPA);
    b.map(0x4000_0000n, GPA);
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    const old = ctx.paeRootSps.map((sp) => sp!);
    f.v.movCr3(b.root);
    expect(ctx.root.hpa).toBe(-1);
    expect(ctx.prevRoots.every((r) => r.hpa === -1)).toBe(true);
    expect(ctx.paeRootSps).toEqual([null, null, null, null]);
    expect([...ctx.paeHalves]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(old.map((sp) => sp.rootCount)).toEqual([0, 0, 0, 0]);
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    expect(ctx.paeRootSps.map((sp) => sp!.gfn)).toEqual(Array(4).fill(Number(BigInt(b.root) >> 12n)));
  });

  it('a request to free obsolete roots frees a PAE root even when its pages are valid (is_obsolete_root)', () => {
    const f = shadowFixture('pae');
    f.pt.map(0x4000_0000n, GPA);
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    const old = ctx.paeRootSps.map((sp) => sp!);
    // Zapping a page that is not a root makes no request: the PAE root stays.
    f.vm.shadow.zapPage(tableOf(f, 0x4000_0000n, 1));
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    expect(ctx.paeRootSps).toEqual(old);
    // A root of another vCPU zapped in use makes the request (mmu.c:2709-2710).
    const f2 = f.vm.createVcpu({ ...f.regs, cr3: 0n, cr0: 0n, cr4: 0n, efer: 0n });
    expect(f2.read(0x1000n).status).toBe('ok');
    const other = f2.shadow!.ctx.paeRootSps[0]!;
    const req = f.vm.shadow.freeObsoleteRootsRequest;
    f.vm.shadow.zapPage(other);
    expect(f.vm.shadow.freeObsoleteRootsRequest).toBe(req + 1);
    expect(old.every((sp) => !sp.role.invalid)).toBe(true);
    const from = f.vm.events.all.length;
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ev = f.vm.events.all.slice(from).filter((e) => (e.kind === 'root_free' || e.kind === 'root_alloc') && e.vcpu === 0);
    expect(ev.map((e) => e.kind)).toEqual(['root_free', 'root_alloc']);
    // Reloaded: the same valid (gfn, role) pages are found again in the hash, one reference each.
    expect(ctx.paeRootSps).toEqual(old);
    expect(old.map((sp) => sp.rootCount)).toEqual([1, 1, 1, 1]);
  });
});

describe('kvm_mmu_new_pgd and the previous roots', () => {
  it('a cache hit clears the root page\'s write-flooding count; a miss allocates', () => {
    const { f, s, ctx } = spaces(2);
    expect(f.v.read(VA).status).toBe('ok');
    const root0 = ctx.root.sp!;
    root0.writeFloodingCount = 2;
    f.v.movCr3(s[1]!.root);
    expect(f.v.read(VA).status).toBe('ok');
    expect(ctx.prevRoots[0]!.sp).toBe(root0);
    expect(root0.writeFloodingCount).toBe(2);
    const from = f.vm.events.all.length;
    f.v.movCr3(s[0]!.root);
    expect(ctx.root.sp).toBe(root0);
    expect(root0.writeFloodingCount).toBe(0);
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'cr3_switch');
    expect(ev.map((e) => [e.vcpu, e.gpa, e.outcome!.includes('hit')])).toEqual([[0, BigInt(s[0]!.root), true]]);
  });

  it('previous roots are kept most recent first; a fast zap-all frees them all at the next entry', () => {
    const { f, s, ctx } = spaces(4);
    for (const b of s) {
      f.v.movCr3(b.root);
      expect(f.v.read(VA).status).toBe('ok');
    }
    const roots = ctx.prevRoots.map((r) => r.sp);
    expect(roots.map((sp) => sp!.gfn)).toEqual([2, 1, 0].map((i) => Number(BigInt(s[i]!.root) >> 12n)));
    // A fast zap-all makes every root obsolete: the next entry frees them all.
    f.vm.zapAllFast();
    expect(f.v.read(VA).status).toBe('ok');
    expect(ctx.prevRoots.every((r) => r.hpa === -1)).toBe(true);
    expect(roots.every((sp) => sp!.rootCount === 0)).toBe(true);
  });

  it('a role change frees every root; the same pgd then misses', () => {
    const { f, s, ctx } = spaces(2);
    f.v.movCr3(s[1]!.root);
    expect(f.v.read(VA).status).toBe('ok');
    f.v.movCr3(s[0]!.root);
    expect(f.v.read(VA).status).toBe('ok');
    expect(ctx.prevRoots[0]!.hpa).toBeGreaterThanOrEqual(0);
    f.v.setRegisters({ cr0: f.regs.cr0 & ~(1n << 16n) }); // CR0.WP is a role bit without TDP
    expect(ctx.root.hpa).toBe(-1);
    expect(ctx.prevRoots.every((r) => r.hpa === -1)).toBe(true);
    const misses = f.v.stats.get('root_cache_miss');
    f.v.movCr3(s[1]!.root);
    expect(f.v.stats.get('root_cache_miss')).toBe(misses + 1);
  });
});

describe('fast_pgd_switch with a PAE root as the current root', () => {
  it('back from an L2 with a PAE root, L1\'s root comes back from the previous roots (cached_root_find_without_current, mmu.c:5007-5026)', () => {
    const { f, ctx } = spaces(1);
    expect(f.v.read(VA).status).toBe('ok');
    const r1 = ctx.root.sp!;
    const l2pt = new PageTableBuilder(f.vm.guestMem, { mode: 'paging32', pool: { base: 0x60_0000n, size: 0x4_0000n } });
    l2pt.map(0x4000_0000n, GPA);
    f.v.enterNested({ l2: { ...regsFor('paging32'), cr3: l2pt.root } });
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    // Entering rotated L1's root into the previous roots (cached_root_find_and_keep_current).
    expect(ctx.root.sp).toBeNull();
    expect(ctx.prevRoots.map((r) => r.sp)).toEqual([r1, null, null]);
    const hits = f.v.stats.get('root_cache_hit');
    f.v.exitNested();
    expect(f.v.stats.get('root_cache_hit')).toBe(hits + 1);
    expect(ctx.root.sp).toBe(r1);
    expect(ctx.prevRoots.every((r) => r.hpa === -1)).toBe(true);
    expect(f.v.read(VA).status).toBe('ok');
  });

  it('a CR3 load with paging off frees the PAE root of direct pages and finds nothing cached', () => {
    const f = shadowFixture('paging4');
    const v = f.vm.createVcpu({ ...f.regs, cr0: 0n, cr3: 0n, cr4: 0n, efer: 0n });
    expect(v.read(0x1000n).status).toBe('ok');
    const ctx = v.shadow!.ctx;
    expect(ctx.root.sp).toBeNull();
    const old = ctx.paeRootSps.map((sp) => sp!);
    expect(old.every((sp) => sp.role.direct && sp.rootCount === 1)).toBe(true);
    const miss = v.stats.get('root_cache_miss');
    v.movCr3(0x5000n);
    expect(v.stats.get('root_cache_miss')).toBe(miss + 1);
    expect(ctx.root.hpa).toBe(-1);
    expect(old.map((sp) => sp.rootCount)).toEqual([0, 0, 0, 0]);
  });
});

describe('kvm_mmu_sync_prev_roots on a guest TLB flush', () => {
  it('frees a previous root with an unsync page below it, keeps a synced one', () => {
    const { f, s, ctx } = spaces(3);
    mapDirect(s[1]!, f.dm);
    for (const b of [s[0]!, s[2]!, s[1]!]) {
      f.v.movCr3(b.root);
      expect(f.v.read(VA).status).toBe('ok');
    }
    // From space 1, the guest rewrites a PTE of space 0's table: that table goes unsync.
    const e = s[0]!.getEntry(VA + 0x1000n, 1);
    expect(f.v.store(f.dm(BigInt(e.gpa)), (GPA + 0x1000n) | 0x63n, 8).status).toBe('ok');
    const root0 = ctx.prevRoots[1]!.sp!;
    const root2 = ctx.prevRoots[0]!.sp!;
    expect(root0.unsyncChildren + root2.unsyncChildren).toBeGreaterThan(0);
    expect(root0.gfn).toBe(Number(BigInt(s[0]!.root) >> 12n));
    f.v.flushGuestTlb();
    expect(ctx.prevRoots[1]!.hpa).toBe(-1);
    expect(root0.rootCount).toBe(0);
    expect(ctx.prevRoots[0]!.sp).toBe(root2);
  });
});

describe('kvm_invalidate_pcid on a flushing CR3 load', () => {
  it('with CR4.PCIDE, previous roots with the loaded PCID are freed, others kept', () => {
    const { f, s, ctx } = spaces(3, true);
    const load = (i: number, pcid: bigint) => {
      f.v.movCr3(BigInt(s[i]!.root) | pcid);
      expect(f.v.read(VA).status).toBe('ok');
    };
    load(0, 1n);
    load(1, 2n);
    const root0 = ctx.prevRoots[0]!.sp!;
    load(2, 1n); // PCID 1 again, flushing: root 0 (PCID 1) goes, root 1 (PCID 2) stays
    expect(ctx.prevRoots.map((r) => (r.hpa < 0 ? -1 : pcidOf(r.pgd, true)))).toEqual([2, -1, -1]);
    expect(root0.rootCount).toBe(0);
    expect(pcidOf(0x1234_5007n, true)).toBe(7);
    expect(pcidOf(0x1234_5007n, false)).toBe(0);
  });

  it('without CR4.PCIDE, a CR3 load keeps every previous root (MOV CR3 flushes anyway)', () => {
    const { f, s, ctx } = spaces(3);
    for (const i of [0, 1, 2]) {
      f.v.movCr3(s[i]!.root);
      expect(f.v.read(VA).status).toBe('ok');
    }
    expect(ctx.prevRoots.filter((r) => r.hpa >= 0).length).toBe(2);
  });
});

describe('KVM_REQ_MMU_FREE_OBSOLETE_ROOTS', () => {
  it('frees a previous root whose page was zapped, keeps the valid current and previous ones', () => {
    const { f, s, ctx } = spaces(3);
    expect(f.v.read(VA).status).toBe('ok');
    for (const i of [1, 2]) {
      f.v.movCr3(s[i]!.root);
      expect(f.v.read(VA).status).toBe('ok');
    }
    const [p1, p0] = [ctx.prevRoots[0]!.sp!, ctx.prevRoots[1]!.sp!];
    const cur = ctx.root.sp!;
    f.vm.shadow.zapPage(p1);
    expect(p1.role.invalid).toBe(true);
    expect(f.v.read(VA).status).toBe('ok');
    expect(ctx.prevRoots.map((r) => r.sp)).toEqual([null, p0, null]);
    expect(ctx.root.sp).toBe(cur);
    expect(p0.rootCount).toBe(1);
    expect(f.vm.shadow.allPages).not.toContain(p1);
  });
});

describe('cached_root_find_and_keep_current when every cache slot is taken', () => {
  it('a fifth CR3 evicts the least recently used root: kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT) after the rotation (mmu.c:4986-4996)', () => {
    const { f, s, ctx } = spaces(5);
    const rootOf = (i: number) => Number(BigInt(s[i]!.root) >> 12n);
    for (const b of s.slice(0, 4)) {
      f.v.movCr3(b.root);
      expect(f.v.read(VA).status).toBe('ok');
    }
    // Current s3, previous [s2, s1, s0] (mmu.c:4983-4989: C 0 1 2 → 3 C 0 1 2 after the swaps).
    const lru = ctx.prevRoots[2]!.sp!;
    expect(lru.gfn).toBe(rootOf(0));
    const from = f.vm.events.all.length;
    f.v.movCr3(s[4]!.root);
    // The swaps leave the LRU root (s0) current, and it is freed: the miss leaves no valid root (mmu.c:4996, 5053-5054).
    expect(ctx.root.hpa).toBe(-1);
    expect(lru.rootCount).toBe(0);
    expect(ctx.prevRoots.map((r) => r.sp!.gfn)).toEqual([3, 2, 1].map(rootOf));
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'root_free');
    expect(ev.map((e) => [e.vcpu, e.level])).toEqual([[0, 4]]);
    // kvm_mmu_reload then allocates the root of the new CR3 (kvm_mmu_reload, mmu.h:106-123 → kvm_mmu_load).
    expect(f.v.read(VA).status).toBe('ok');
    expect(ctx.root.sp!.gfn).toBe(rootOf(4));
  });
});

describe('kvm_mmu_sync_roots of a PAE root (mmu.c:4198-4207)', () => {
  it('each valid pae_root[i] page gets mmu_sync_children: an unsync PT under it is synced and linked no more', () => {
    const f = shadowFixture('pae', { hostPageSize: '4K' });
    const va = 0x4000_0000n;
    f.pt.map(va, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(va).status).toBe('ok');
    const pt = tableOf(f, va, 1);
    // A guest store to its shadowed PT unsyncs it (mmu_try_to_unsync_pages, mmu.c:2898-2997).
    expect(f.storePte(va, 1, (GPA + 0x1000n) | 0x63n).status).toBe('ok');
    expect(pt.unsync).toBe(true);
    const ctx = f.v.shadow!.ctx;
    const pd = ctx.paeRootSps[1]!;
    expect(pd.unsyncChildren).toBe(1);
    f.v.flushGuestTlb();
    // mmu_sync_children → kvm_unlink_unsync_page (mmu.c:1962-1968) and clear_unsync_child_bit.
    expect(pt.unsync).toBe(false);
    expect(pd.unsyncChildren).toBe(0);
    // FNAME(sync_spte) drops the SPTE whose gfn changed (paging_tmpl.h:931-935): the next read maps GPA + 4K.
    expect(f.v.read(va).gpa).toBe(GPA + 0x1000n);
  });
});

describe('KVM_REQ_MMU_FREE_OBSOLETE_ROOTS only when requested', () => {
  it('a PAE root (no shadow page: "obsolete" for __kvm_mmu_free_obsolete_roots, mmu.c:5956-5957) stays loaded across entries without a request (x86.c:10837-10838)', () => {
    const f = shadowFixture('pae', { hostPageSize: '4K' });
    f.pt.map(0x4000_0000n, GPA, { flags: { writable: true } });
    f.pt.map(0x4000_1000n, GPA + 0x1000n, { flags: { writable: true } });
    const from = f.vm.events.all.length;
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    expect(f.v.read(0x4000_1000n).status).toBe('ok');
    expect(f.v.read(0x4000_0000n).status).toBe('ok');
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'root_free' || e.kind === 'root_alloc');
    expect(ev.map((e) => e.kind)).toEqual(['root_alloc']);
  });
});

describe('kvm_invalidate_pcid through the public edge (INVPCID: kvm_handle_invpcid passes any PCID, x86.c:13882)', () => {
  it('a PCID other than the active one requests neither KVM_REQ_MMU_SYNC nor KVM_REQ_TLB_FLUSH_CURRENT (x86.c:1397-1400)', () => {
    const { f, s, ctx } = spaces(1, true);
    expect(f.v.read(VA).status).toBe('ok');
    ctx.syncRequested = false;
    ctx.tlbFlushCurrent = false;
    const active = BigInt(s[0]!.root) | 3n;
    invalidatePcid(f.vm.shadow, ctx, 5, active, true);
    expect([ctx.syncRequested, ctx.tlbFlushCurrent]).toEqual([false, false]);
    invalidatePcid(f.vm.shadow, ctx, 3, active, true);
    expect([ctx.syncRequested, ctx.tlbFlushCurrent]).toEqual([true, true]);
  });
});

describe('freeRoots through the public edge (kvm_mmu_free_roots, mmu.c:3723-3785)', () => {
  it('{ current: true } frees the current root only; { prev: [0] } the first previous one', () => {
    const { f, s, ctx } = spaces(2);
    f.v.movCr3(s[1]!.root);
    expect(f.v.read(VA).status).toBe('ok');
    f.v.movCr3(s[0]!.root);
    expect(f.v.read(VA).status).toBe('ok');
    const cur = ctx.root.sp!;
    const prev = ctx.prevRoots[0]!.sp!;
    const from = f.vm.events.all.length;
    freeRoots(f.vm.shadow, ctx, { current: true });
    expect(ctx.root.hpa).toBe(-1);
    expect(cur.rootCount).toBe(0);
    expect(ctx.prevRoots[0]!.sp).toBe(prev);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'root_free').length).toBe(1);
    freeRoots(f.vm.shadow, ctx, { prev: [0] });
    expect(ctx.prevRoots[0]!.hpa).toBe(-1);
    expect(prev.rootCount).toBe(0);
  });
});
