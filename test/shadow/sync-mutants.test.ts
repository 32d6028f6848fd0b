/**
 * src/shadow/sync.ts paths that mutation testing (`npm run mutate`) found unchecked: the
 * zap-or-flush decisions of `mmu_sync_children` when pages fail to sync, rounds that protect
 * nothing, the write-protection `make_spte` keeps when it rebuilds an SPTE under sync, and the
 * special roots of a PAE NPT12 in INVLPG's path walk. Expected values come from mmu.c/spte.c of
 * Linux v6.16.1 (cited per assertion).
 *
 * Surviving mutants of sync.ts that no test can kill (equivalent or unreachable):
 * - line 60 `wantW` (`true`, `||`, dropping `&& hostWritable`): `mustWriteProtect` only matters
 *   when the access keeps ACC_WRITE after the host-writable mask (spte.c:222-242, makeSpte), and
 *   then `wantW` is true anyway; `prefetch: false` is the same as `true` with `synchronizing`, in
 *   makeSpte and in mmuTryToUnsyncPages (synchronizing returns first, mmu.c:2918-2920).
 * - syncPage's `sp.role.direct || ctx.gptFormat === undefined` as `&&`, or its second half false:
 *   a direct page or a paging-off context also fails the role comparison (the direct bit differs).
 * - `rootHpa < 0` in invalidateAddrInRoot (→ false, or `<= 0`), `sp.unsyncChildren === 0` → false:
 *   shadowPath(-1) is empty, no root sits at host frame 0 (host frames start at 2^33), and below a
 *   page without unsync children no page is unsync.
 * - line 61 `mmuTryToUnsyncPages(…, true, true, …)` with prefetch `false`: synchronizing returns
 *   before prefetch is read (mmu.c:2918-2920).
 * Not killed yet (no test reaches them): the `pml4_root`/`pml5_root` branch of shadowPath (an
 *   INVLPG under special roots) and `isMmioPfn` in the rebuilt SPTE (only EPT memtype bits see it).
 */
import { describe, expect, it } from 'vitest';
import { CR0, InvalidArgumentError, mmuSyncChildren, shadowPath, spteChangeNeedsFlush, syncPage, syncSpte, type ShadowMmu, type ShadowPage } from '../../src';
import { shadowFixture, tableOf, unsyncPts as sharedUnsyncPts } from './fixtures';
import { DATA_G, DATA_N, GVA, nested } from './nested-fixture';
import { refuses } from './refusal';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const W = 2n;
const NX = 1n << 63n;

type F = ReturnType<typeof shadowFixture>;

function unsyncPts(n: number): F {
  return sharedUnsyncPts(n, VA, GPA);
}
function flushOutcomes(f: F, from: number): string[] {
  return f.vm.events.all.slice(from).filter((e) => e.kind === 'tlb_flush').map((e) => e.outcome ?? '');
}

describe('mmu_sync_children: zapped pages and the flush of each round (mmu.c:2172-2212)', () => {
  it('20 unsync pages that all fail kvm_sync_page_check: one write-protect flush, then each round commits the previous zaps', () => {
    const f = unsyncPts(20);
    const root = tableOf(f, VA, 4);
    // CR0.WP off: root_role.cr0_wp changes, so every old page fails kvm_sync_page_check (mmu.c:2021-2024).
    f.v.setRegisters({ cr0: CR0.PE | CR0.PG });
    const from = f.vm.events.all.length;
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    mmuSyncChildren(f.vm.shadow, f.v.shadow!.ctx, root);
    expect(flushOutcomes(f, from)).toEqual([
      // Round 1 (16 pages, mmu.c:1877 KVM_PAGE_ARRAY_NR): protected, invalid_list empty →
      // kvm_mmu_remote_flush_or_zap flushes (mmu.c:2186-2190, 2085-2086).
      'write-protect pages to sync',
      // Round 2: protected again, invalid_list holds round 1's 16 → committed instead (mmu.c:2189, 2083-2084).
      'zap 16 shadow page(s)',
      // After the loop: round 2's 4 zaps are committed; flush stays false (mmu.c:2210).
      'zap 4 shadow page(s)',
    ]);
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 20); // mmu.c:2071-2072 one prepare_zap per page
    expect(f.vm.stats.get('mmu_unsync')).toBe(0); // mmu.c:2194 kvm_unlink_unsync_page before the sync
    expect(root.unsyncChildren).toBe(0);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'sync').map((e) => e.outcome)).toEqual(Array(20).fill('sync failed: zap'));
  });

  it('a round that write-protects nothing does not flush before syncing (mmu.c:2188-2191)', () => {
    const f = unsyncPts(1);
    const ptGpa = BigInt(f.pt.getEntry(VA, 1).gpa);
    // The host unmaps the page table's frame (mmu_notifier): no SPTE maps its gfn any more, so
    // kvm_vcpu_write_protect_gfn finds nothing to protect.
    f.vm.unmapGfnRange(ptGpa, ptGpa + 0x1000n);
    f.pt.setEntry(VA, 1, f.pt.getEntry(VA, 1).value & ~W);
    const from = f.vm.events.all.length;
    f.v.flushGuestTlb();
    // Only the sync's own flush: W lost on an MMU-writable SPTE (spte.h:507-510, mmu.c:2195, 2210).
    expect(flushOutcomes(f, from)).toEqual(['sync']);
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(0n);
  });

  it('nothing protected and nothing changed: no flush at all (flush starts false, mmu.c:2180)', () => {
    const f = unsyncPts(1);
    const ptGpa = BigInt(f.pt.getEntry(VA, 1).gpa);
    f.vm.unmapGfnRange(ptGpa, ptGpa + 0x1000n);
    const from = f.vm.events.all.length;
    f.v.flushGuestTlb();
    expect(flushOutcomes(f, from)).toEqual([]); // mmu.c:2210 kvm_mmu_remote_flush_or_zap(empty, false)
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
  });
});

describe('FNAME(sync_spte): entries dropped, kept or refused (paging_tmpl.h:891-962)', () => {
  it('a gPTE that lost its A bit is dropped by prefetch_invalid_gpte, with a flush', () => {
    const f = unsyncPts(1);
    f.pt.setEntry(VA, 1, f.pt.getEntry(VA, 1).value & ~0x20n);
    const from = f.vm.events.all.length;
    f.v.flushGuestTlb();
    // paging_tmpl.h:913-914 → prefetch_invalid_gpte (paging_tmpl.h:159-161: A/D paging, !A → no_present) drops it, returns 1.
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
    expect(flushOutcomes(f, from)).toContain('sync');
  });

  it('INVLPG of an entry whose gPTE cannot be read zaps that entry and flushes it (mmu.c:6352-6357)', () => {
    const f = unsyncPts(1);
    expect(f.v.shadow!.leafFor(VA)).toBeDefined();
    // As in sync.test.ts: the host mapping of the guest's RAM goes away, the memslot stays, so
    // kvm_vcpu_read_guest_atomic fails and FNAME(sync_spte) returns -1 (paging_tmpl.h:909-911).
    f.vm.checking = false; // the invariant checker would read the gone memory too
    f.vm.guestMem.removeSlot(f.vm.guestMem.slots.find((s) => s.name === 'ram')!);
    const from = f.vm.events.all.length;
    f.v.invlpg(VA);
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined(); // :6354-6355 mmu_page_zap_pte
    expect(flushOutcomes(f, from)).toEqual(['invlpg sync']); // :6356-6357 ret != 0 → flush
  });

  it('INVLPG of an unchanged entry of an unsync page keeps the SPTE: ret 0, no zap, no flush (mmu.c:6350-6356)', () => {
    const f = unsyncPts(1);
    const before = f.v.shadow!.leafFor(VA)!.spte;
    const from = f.vm.events.all.length;
    const changes = f.vm.stats.get('spte_changes');
    f.v.invlpg(VA);
    expect(f.v.shadow!.leafFor(VA)!.spte).toBe(before);
    expect(f.vm.stats.get('spte_changes')).toBe(changes);
    expect(flushOutcomes(f, from)).toEqual([]);
  });

  it('a page of a paging-off (direct) context is never synced, even with a matching role (mmu.c:2021-2022)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    expect(v.read(GPA).status).toBe('ok');
    const ctx = v.shadow!.ctx;
    const direct = f.vm.shadow.allPages.find((p) => p.role.direct && p.level === 1)!;
    const invalid: ShadowPage[] = [];
    // sp->role.direct (and no sync_spte for a direct MMU) → kvm_sync_page_check fails → -1 → zapped.
    expect(syncPage(f.vm.shadow, ctx, direct, invalid)).toBe(-1);
    expect(invalid).toContain(direct);
    f.vm.shadow.commitZap(invalid, 1);
  });
});

describe('FNAME(sync_spte) → make_spte(synchronizing): the write-protection decision (spte.c:237-242)', () => {
  /**
   * The level-1 table P of VA is unsync (so the direct-map leaf for P's gfn is writable), and the
   * direct map's own table D is made unsync too, so INVLPG on a direct-map address syncs that one
   * entry of D (mmu.c:6349-6356) without write-protecting anything first.
   */
  function directMapUnsync() {
    const f = unsyncPts(1);
    const dmLeafVa = (gpa: bigint) => f.dm(gpa);
    // A guest store to one of D's own PTEs (the entry for the pool's first page) unsyncs D.
    const d = f.pt.getEntry(dmLeafVa(0x10_0000n), 1);
    expect(f.storePte(dmLeafVa(0x10_0000n), 1, d.value).status).toBe('ok');
    const dSp = f.vm.shadow.find(Number(BigInt(d.gpa) >> 12n), (sp) => sp.level === 1)[0]!;
    expect(dSp.unsync).toBe(true);
    return { f, dmLeafVa };
  }

  it('an old writable leaf keeps W when the access changes: no unsync lookup although the gfn is shadowed', () => {
    const { f, dmLeafVa } = directMapUnsync();
    const ptGpa = BigInt(f.pt.getEntry(VA, 1).gpa);
    const va = dmLeafVa(ptGpa);
    expect(f.v.shadow!.leafFor(va)!.spte & W).toBe(W); // P is unsync: its gfn is mapped writable
    f.pt.setEntry(va, 1, f.pt.getEntry(va, 1).value | NX); // the guest drops X, keeps W
    f.v.invlpg(va);
    const spte = f.v.shadow!.leafFor(va)!.spte;
    // spte.c:237-242: old SPTE is a writable leaf → mmu_try_to_unsync_pages is skipped → W set,
    // although P (a shadow page with gPTEs) sits at that gfn and synchronizing would refuse (mmu.c:2918-2920).
    expect(spte & W).toBe(W);
    expect(spte & NX).toBe(NX);
  });

  it('an old read-only leaf whose gfn has an unsync page stays read-only: synchronizing refuses to unsync (mmu.c:2918-2920)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 2, flags: { writable: true, accessed: true, dirty: true } });
    const ptGpa = BigInt(f.pt.getEntry(VA, 1).gpa);
    const alias = VA + 0x3000n;
    f.pt.map(alias, ptGpa, { flags: { writable: true, accessed: true } }); // the guest maps its own PT, clean
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.read(alias).status).toBe('ok');
    // paging_tmpl.h protect_clean_gpte: D clear → no W.
    expect(f.v.shadow!.leafFor(alias)!.spte & W).toBe(0n);
    expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok'); // P goes unsync
    const sp = f.vm.shadow.find(Number(ptGpa >> 12n), (p) => p.level === 1)[0]!;
    expect(sp.unsync).toBe(true);
    f.pt.setEntry(alias, 1, f.pt.getEntry(alias, 1).value | 0x40n); // the guest sets D: ACC_WRITE now
    f.v.invlpg(alias);
    // spte.c:237-239: old not writable → mmu_try_to_unsync_pages(synchronizing=true) → the gfn has
    // a shadow page with gPTEs → -EPERM (mmu.c:2918-2920), although that page is already unsync.
    expect(f.v.shadow!.leafFor(alias)!.spte & W).toBe(0n);
    expect(sp.unsync).toBe(true);
  });

  it('an old read-only leaf of a write-tracked gfn stays read-only when the access changes', () => {
    const { f, dmLeafVa } = directMapUnsync();
    const pdGpa = BigInt(f.pt.getEntry(VA, 2).gpa); // the PD: an upper-level table, write-tracked
    const va = dmLeafVa(pdGpa);
    expect(f.v.read(va).status).toBe('ok');
    expect(f.v.shadow!.leafFor(va)!.spte & W).toBe(0n);
    f.pt.setEntry(va, 1, f.pt.getEntry(va, 1).value | NX);
    f.v.invlpg(va);
    const spte = f.v.shadow!.leafFor(va)!.spte;
    // spte.c:237-239: old not writable → mmu_try_to_unsync_pages → write-tracked → -EPERM (mmu.c:2909-2910) → wrprot.
    expect(spte & NX).toBe(NX);
    expect(spte & W).toBe(0n);
    expect(f.v.write(va).status).toBe('emulated'); // a store to the PD is still emulated
  });
});

describe('shadowPath from special roots (mmu.c: shadow_walk_init_using_root)', () => {
  it('a 4-level guest root has no PAE level: the path starts at the root page', () => {
    const f = unsyncPts(1);
    const ctx = f.v.shadow!.ctx;
    const path = shadowPath(f.vm.shadow, ctx, ctx.root.hpa, VA);
    expect(path.map((p) => p.sp.level)).toEqual([4, 3, 2, 1]);
    expect(path[0]!.sp).toBe(tableOf(f, VA, 4));
    expect(path.map((p) => p.idx)).toEqual([0, 1, 0x180, 0]); // VA 0x7000_0000: PDPT index 1, PD index 0x180
  });

  it('a PAE guest: the path starts at pae_root[(addr >> 30) & 3]; an invalid root gives none', () => {
    const f = shadowFixture('pae', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const ctx = f.v.shadow!.ctx;
    expect(ctx.root.hpa).toBe(ctx.paeRootPfn);
    const path = shadowPath(f.vm.shadow, ctx, ctx.root.hpa, VA);
    // mmu.c:2458-2468: root level 3 (PAE) → shadow_addr = pae_root[(addr >> 30) & 3], level 2.
    expect(path.map((p) => p.sp.level)).toEqual([2, 1]);
    expect(path[0]!.sp).toBe(ctx.paeRootSps[1]);
    expect(shadowPath(f.vm.shadow, ctx, -1, VA)).toEqual([]);
  });
});

describe('FNAME(sync_spte) under EPT with execute-only support: no effective present bit (paging_tmpl.h:924-935)', () => {
  it('an EPT12 leaf that keeps only R under an X-only PDE has pte_access 0: the EPT02 entry is dropped, ret 1', () => {
    const MT_WB = 6n << 3n; // EPT memory type WB, bits 5:3 of a leaf (SDM Vol. 3C 29.3.7)
    const n = nested({ kvm: '6.16', execOnly: true });
    const pde = n.ept.getEntry(DATA_N, 2);
    n.ept.setEntry(DATA_N, 2, (pde.value & ~7n) | 4n); // the PDE grants X only: role.access = ACC_EXEC_MASK
    n.ept.setEntry(DATA_N, 1, DATA_G | 4n | MT_WB);
    n.enter();
    expect(n.v.fetch(GVA).status).toBe('ok');
    const sp = n.vm.shadow.find(Number(BigInt(n.ept.getEntry(DATA_N, 1).gpa) >> 12n), (p) => p.level === 1)[0]!;
    const i = Number((DATA_N >> 12n) & 511n);
    expect(n.vm.shadow.readSpte(sp, i)).not.toBe(1n << 63n);
    n.ept.setEntry(DATA_N, 1, DATA_G | 1n | MT_WB); // L1 makes the leaf R only (still present, paging_tmpl.h:127-133)
    // pte_access = X (role) & ACC_USER (EPT R, paging_tmpl.h:182-185) = 0, and shadow_present_mask
    // is SUPPRESS_VE only with execute-only (spte.c:465-466), so (0 | mask) == SHADOW_NONPRESENT_VALUE
    // (spte.h:164): drop_spte and return 1 (paging_tmpl.h:931-935).
    expect(syncSpte(n.vm.shadow, n.v.nested!.ctx!, sp, i)).toBe(1);
    expect(n.vm.shadow.readSpte(sp, i)).toBe(1n << 63n);
  });
});

describe('the checked entries: rule ids and messages that start with the parameter (src/errors.ts)', () => {

  it('a foreign MMU, a direct page, a paging-off context, an index outside the page', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    expect(v.read(GPA).status).toBe('ok');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const m = f.vm.shadow;
    const ctx = f.v.shadow!.ctx;
    const pt = tableOf(f, VA, 1);
    const direct = m.allPages.find((p) => p.role.direct)!;
    const mmuText = 'mmu must be a ShadowMmu';
    refuses(() => spteChangeNeedsFlush({} as ShadowMmu, 0n, 0n), InvalidArgumentError, 'shadow-mmu', mmuText);
    refuses(() => syncSpte({} as ShadowMmu, ctx, pt, 0), InvalidArgumentError, 'shadow-mmu', mmuText);
    // sp_has_gptes (mmu.c:2021-2022 refuses a direct page; here the public edge says why).
    refuses(() => syncSpte(m, ctx, direct, 0), InvalidArgumentError, 'sync-direct', 'sp is a direct page: it has no gPTEs to sync');
    refuses(() => syncSpte(m, v.shadow!.ctx, pt, 0), InvalidArgumentError, 'sync-paging-off', 'ctx walks no guest tables (paging off): nothing to sync from');
    refuses(() => syncSpte(m, ctx, pt, 512), InvalidArgumentError, 'integer-range', 'i must be in [0, 511]'); // 512 SPTEs a page (mmu.h SPTE_ENT_PER_PAGE)
  });
});
