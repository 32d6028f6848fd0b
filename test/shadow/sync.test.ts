/**
 * Sync of unsync shadow pages (src/shadow/sync.ts: `kvm_sync_page`, `FNAME(sync_spte)`,
 * `mmu_sync_children`, `kvm_mmu_invalidate_addr`), checked by what a guest and the host can see:
 * SPTEs, TLB flushes, zaps, dirty logs and the counters KVM keeps.
 */
import { describe, expect, it } from 'vitest';
import { SHADOW_NONPRESENT_VALUE, spteChangeNeedsFlush } from '../../src';
import { shadowFixture } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const W = 2n, D = 0x40n;

describe('sync and dirty logging', () => {
  it('a writable SPTE made by sync marks its page dirty: the next write is in the harvest', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { accessed: true } }); // read-only, clean
    expect(f.v.read(VA).status).toBe('ok');
    f.vm.setDirtyLogging(f.ram, true);
    f.vm.getDirtyLog(f.ram);
    // The guest makes its PTE writable and dirty with a plain store: the level-1 page goes unsync
    // (mmu_try_to_unsync_pages) and the store completes without emulation.
    const pte = f.pt.getEntry(VA, 1);
    expect(f.storePte(VA, 1, pte.value | W | D).status).toBe('ok');
    expect(f.vm.stats.get('mmu_unsync')).toBe(1);
    f.v.flushGuestTlb(); // kvm_mmu_sync_roots → FNAME(sync_spte) → make_spte(synchronizing)
    const leaf = f.v.shadow!.leafFor(VA)!;
    expect(leaf.spte & W).toBe(W); // spte.c:238-242: the data gfn is not shadowed → writable
    // spte.c:256-261: a writable SPTE in a dirty-tracked slot → mark_page_dirty_in_slot.
    expect(f.vm.getDirtyLog(f.ram).map(BigInt)).toContain(GPA);
    // KVM_GET_DIRTY_LOG write-protects it again; the guest's next write faults and is logged.
    expect(f.v.write(VA).status).toBe('ok');
    expect(f.vm.getDirtyLog(f.ram).map(BigInt)).toContain(GPA);
  });
});

type F = ReturnType<typeof shadowFixture>;

/** A 4-level guest with VA mapped (writable, A/D set) and its level-1 shadow page unsync. */
function unsyncFixture(flags: { writable?: boolean; dirty?: boolean; user?: boolean } = { writable: true, dirty: true }) {
  const f = shadowFixture('paging4', { hostPageSize: '4K' });
  f.pt.map(VA, GPA, { count: 2, flags: { accessed: true, ...flags } });
  expect(f.v.read(VA).status).toBe('ok');
  const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
  const sp = f.vm.shadow.find(ptGfn)[0]!;
  // A store to the guest's own PTE write-faults on the shadowed gfn → mmu_try_to_unsync_pages.
  expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok');
  expect(sp.unsync).toBe(true);
  return { f, sp };
}

function flushes(f: F, outcome: string): number {
  return f.vm.events.all.filter((e) => e.kind === 'tlb_flush' && e.outcome === outcome).length;
}

/** Guest memory write of the PTE of `va` (no MMU involvement: the page is unsync). */
function setPte(f: F, va: bigint, value: bigint): void {
  f.pt.setEntry(va, 1, value);
}

describe('sync (kvm_sync_page / FNAME(sync_spte) / mmu_sync_children)', () => {
  it('a PTE that loses W: the SPTE loses W and MMU-writable, and the sync flushes the TLB', () => {
    const { f, sp } = unsyncFixture();
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(W);
    setPte(f, VA, f.pt.getEntry(VA, 1).value & ~W);
    const syncs = f.vm.stats.get('mmu_sync_pages');
    f.v.flushGuestTlb();
    expect(sp.unsync).toBe(false); // mmu.c:2194 kvm_unlink_unsync_page
    expect(f.vm.stats.get('mmu_unsync')).toBe(0);
    expect(f.vm.stats.get('mmu_sync_pages')).toBe(syncs + 1);
    expect(f.v.shadow!.leafFor(VA)!.spte & W).toBe(0n);
    // paging_tmpl.h:965 mmu_spte_update → spte.h:507-510 an MMU-writable SPTE lost it → flush;
    // mmu.c:2210 kvm_mmu_remote_flush_or_zap(flush).
    expect(flushes(f, 'sync')).toBe(1);
    // mmu.c:2185-2191: the page's gfn was write-protected again first, with its own flush.
    expect(flushes(f, 'write-protect pages to sync')).toBe(1);
  });

  it('a PTE whose access did not change: nothing is rewritten and the sync needs no flush', () => {
    const { f } = unsyncFixture();
    const before = f.v.shadow!.leafFor(VA)!.spte;
    const changes = f.vm.stats.get('spte_changes');
    f.v.flushGuestTlb();
    expect(f.v.shadow!.leafFor(VA)!.spte).toBe(before); // paging_tmpl.h:944-945
    expect(flushes(f, 'sync')).toBe(0);
    // Only the write-protection of the page's own gfn changed SPTEs (the direct-map leaf).
    expect(f.vm.stats.get('spte_changes')).toBe(changes + 1);
  });

  it('a PTE made not present: the SPTE is dropped and the sync flushes', () => {
    const { f } = unsyncFixture();
    const leaves = f.vm.stats.get('pages_4k');
    setPte(f, VA, 0n);
    f.v.flushGuestTlb();
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined(); // paging_tmpl.h:913-914 prefetch_invalid_gpte drops it, returns 1
    expect(f.vm.stats.get('pages_4k')).toBe(leaves - 1);
    expect(flushes(f, 'sync')).toBe(1);
  });

  it('a PTE pointed at another frame: the SPTE is dropped (gfn changed) and the sync flushes', () => {
    const { f } = unsyncFixture();
    setPte(f, VA, (f.pt.getEntry(VA, 1).value & ~0x000f_ffff_ffff_f000n) | (GPA + 0x10_0000n));
    f.v.flushGuestTlb();
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined(); // paging_tmpl.h:931-935 gfn != kvm_mmu_page_get_gfn → drop_spte
    expect(flushes(f, 'sync')).toBe(1);
    expect(f.v.read(VA).status).toBe('ok');
    expect(BigInt(f.v.read(VA).hpa!) >> 12n).toBe(BigInt(f.ram.pfnBase) + ((GPA + 0x10_0000n) >> 12n));
  });

  it('a PTE that loses U: the SPTE keeps W but loses U; a user read now faults to the guest', () => {
    const { f } = unsyncFixture({ writable: true, dirty: true, user: true });
    expect(f.v.shadow!.leafFor(VA)!.spte & 4n).toBe(4n);
    setPte(f, VA, f.pt.getEntry(VA, 1).value & ~4n);
    f.v.flushGuestTlb();
    expect(f.v.shadow!.leafFor(VA)!.spte & 4n).toBe(0n); // paging_tmpl.h:950-965 rebuilt with the new access
    expect(f.v.read(VA, true).status).toBe('guest-pf');
  });

  it('INVLPG syncs the one entry of an unsync page: dropped SPTE, a flush for it, the page stays unsync', () => {
    const { f, sp } = unsyncFixture();
    setPte(f, VA, 0n);
    setPte(f, VA + 0x1000n, 0n);
    f.v.invlpg(VA);
    // mmu.c:6350-6356: kvm_sync_spte on the entry, flush when it returned non-zero.
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
    expect(f.v.shadow!.leafFor(VA + 0x1000n)).toBeDefined(); // only the invalidated address
    expect(flushes(f, 'invlpg sync')).toBe(1);
    expect(sp.unsync).toBe(true);
    // An INVLPG whose entry did not change does not flush.
    f.v.invlpg(VA + 0x2000n);
    expect(flushes(f, 'invlpg sync')).toBe(1);
  });

  it('INVLPG on a page that is not unsync changes nothing', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    f.v.read(VA);
    const changes = f.vm.stats.get('spte_changes');
    f.pt.setEntry(VA, 1, 0n); // without a write fault: the guest's memory only (not via the MMU)
    f.v.invlpg(VA);
    expect(f.vm.stats.get('spte_changes')).toBe(changes); // mmu.c:6349 only sp->unsync pages are synced
    expect(f.v.shadow!.leafFor(VA)).toBeDefined();
  });
});

describe('MMIO SPTEs under sync (mmu.c: sync_mmio_spte)', () => {
  const MMIO = 0x4000_0000n;
  function mmioUnsync() {
    const { f, sp } = unsyncFixture();
    f.pt.map(VA + 0x2000n, MMIO, { flags: { writable: true, user: true, accessed: true, dirty: true } });
    expect(f.v.read(VA + 0x2000n, true).status).toBe('emulated');
    const idx = Number(((VA + 0x2000n) >> 12n) & 511n);
    const raw = () => f.vm.shadow.readSpte(sp, idx);
    expect(raw() & 6n).toBe(6n); // ACC W|U in the MMIO SPTE (mark_mmio_spte)
    return { f, raw };
  }

  it('same target, new access: the MMIO SPTE is rebuilt with the new access, no flush', () => {
    const { f, raw } = mmioUnsync();
    setPte(f, VA + 0x2000n, f.pt.getEntry(VA + 0x2000n, 1).value & ~4n);
    f.v.flushGuestTlb();
    expect(raw() & 6n).toBe(2n); // mmu.c:5099 mark_mmio_spte(gfn, access)
    expect(f.vm.shadow.config.mmioValue & raw()).toBe(f.vm.shadow.config.mmioValue);
    expect(flushes(f, 'sync')).toBe(0); // paging_tmpl.h:921-922 returns 0
    expect(f.v.read(VA + 0x2000n, true).status).toBe('guest-pf');
  });

  it('another target: the MMIO SPTE is cleared', () => {
    const { f, raw } = mmioUnsync();
    setPte(f, VA + 0x2000n, (f.pt.getEntry(VA + 0x2000n, 1).value & 0xfffn) | (MMIO + 0x1000n));
    f.v.flushGuestTlb();
    expect(raw()).toBe(SHADOW_NONPRESENT_VALUE); // mmu.c:5094-5096 mmu_spte_clear_no_track
  });
});

describe('sync bookkeeping and paths', () => {
  function syncEvents(f: F): string[] {
    return f.vm.events.all.filter((e) => e.kind === 'sync').map((e) => e.outcome ?? '');
  }

  it('each synced page records its outcome: flush needed, nothing, or zapped', () => {
    const { f } = unsyncFixture();
    setPte(f, VA, f.pt.getEntry(VA, 1).value & ~W);
    f.v.flushGuestTlb();
    expect(syncEvents(f)).toEqual(['synced, flush']); // mmu.c:2195 kvm_sync_page > 0
    const g = unsyncFixture();
    g.f.v.flushGuestTlb();
    expect(syncEvents(g.f)).toEqual(['synced']);
  });

  it('a rebuilt SPTE is accessed (make_spte with synchronizing) and keeps the frame', () => {
    const { f } = unsyncFixture({ writable: true, dirty: true, user: true });
    const before = f.v.shadow!.leafFor(VA)!.spte;
    setPte(f, VA, f.pt.getEntry(VA, 1).value & ~4n);
    f.v.flushGuestTlb();
    const after = f.v.shadow!.leafFor(VA)!.spte;
    expect(after & 0x20n).toBe(0x20n); // spte.c:181-182: !prefetch || synchronizing → A
    expect(after & 0x000f_ffff_ffff_f000n).toBe(before & 0x000f_ffff_ffff_f000n); // paging_tmpl.h:958 spte_to_pfn(spte)
  });

  it('a 32-bit guest: the gPTE of quadrant 1 is read at its own offset', () => {
    const f = shadowFixture('paging32', { hostPageSize: '4K' });
    const va = 0x7020_0000n; // PTE index 512: the second half of the guest PT, quadrant 1
    f.pt.map(va, GPA, { count: 2, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(va).status).toBe('ok');
    const ptGfn = Number(BigInt(f.pt.getEntry(va, 1).gpa) >> 12n);
    const sp = f.vm.shadow.find(ptGfn, (s) => s.level === 1)[0]!;
    expect(sp.role.quadrant).toBe(1);
    expect(f.storePte(va + 0x1000n, 1, f.pt.getEntry(va + 0x1000n, 1).value).status).toBe('ok');
    expect(sp.unsync).toBe(true);
    f.pt.setEntry(va, 1, f.pt.getEntry(va, 1).value & ~W);
    f.v.flushGuestTlb();
    // paging_tmpl.h:906-907 FNAME(get_level1_sp_gpa) adds quadrant * 512 entries (mmu.c: kvm_mmu_child_role).
    expect(f.v.shadow!.leafFor(va)!.spte & W).toBe(0n);
  });

  it('INVLPG in a PAE guest walks from the PAE root', () => {
    const f = shadowFixture('pae', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 2, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok');
    f.pt.setEntry(VA, 1, 0n);
    f.v.invlpg(VA);
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined(); // mmu.c:6350-6356 through pae_root[(addr >> 30) & 3]
    expect(flushes(f, 'invlpg sync')).toBe(1);
  });

  it('spteChangeNeedsFlush: only an MMU-writable SPTE losing MMU-writable needs a flush (v6.16)', () => {
    const f = shadowFixture('paging4');
    const mmu = f.vm.shadow;
    const c = mmu.config;
    const leaf = 1n | 0x20n | (1n << 11n) | c.hostWritableMask; // present, accessed, SPTE_MMU_PRESENT, host-writable
    const mw = leaf | c.mmuWritableMask | W;
    expect(spteChangeNeedsFlush(mmu, SHADOW_NONPRESENT_VALUE, mw)).toBe(false); // mmu.c:500-503
    expect(spteChangeNeedsFlush(mmu, mw, leaf)).toBe(true); // spte.h:507-510
    expect(spteChangeNeedsFlush(mmu, mw, mw & ~W)).toBe(false); // MMU-writable kept
    expect(spteChangeNeedsFlush(mmu, leaf, mw)).toBe(false);
    expect(spteChangeNeedsFlush(mmu, mw, mw & ~0x20n)).toBe(false); // A lost: no flush since v6.13
  });
});

describe('kvm_sync_page with unreadable gPTEs (mmu.c:2038-2063)', () => {
  it('a page whose gPTEs cannot be read: every present entry is still tried, then the page is zapped', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 4, flags: { writable: true, accessed: true, dirty: true } });
    for (let i = 0n; i < 4n; i++) expect(f.v.read(VA + i * 0x1000n).status).toBe('ok');
    const ptGfn = Number(BigInt(f.pt.getEntry(VA, 1).gpa) >> 12n);
    const sp = f.vm.shadow.find(ptGfn)[0]!;
    expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok');
    expect(sp.unsync).toBe(true);
    let present = 0;
    for (let i = 0; i < 512; i++) if (!f.vm.shadow.isNonpresentValue(sp, i)) present++;
    expect(present).toBeGreaterThanOrEqual(4);
    // The host mapping behind the guest's page-table page goes away (userspace unmaps it, the memslot
    // stays): kvm_vcpu_read_guest_atomic fails and FNAME(sync_spte) returns -1 (paging_tmpl.h:909-911).
    // All gPTEs of a shadow page live in one guest page (FNAME(get_level1_sp_gpa)), so every
    // entry is unreadable, not only the first.
    const gs = f.vm.guestMem.slots.find((s) => s.name === 'ram')!;
    const reads = f.vm.stats.get('mmu_sync_gpte_reads');
    f.vm.checking = false; // the invariant checker would read the gone memory too
    f.vm.guestMem.removeSlot(gs);
    f.v.flushGuestTlb();
    // mmu.c:2047-2051: __kvm_sync_page returns early only for ret < -1, which sync_spte never
    // returns; -1 is OR-ed into flush and the loop goes on to the next entry (mmu.c:2032-2033 skips
    // SHADOW_NONPRESENT_VALUE entries without a read) …
    expect(f.vm.stats.get('mmu_sync_gpte_reads') - reads).toBe(present);
    // … and the -1 in flush makes kvm_sync_page zap the page (mmu.c:2071-2072).
    expect(f.vm.events.all.filter((e) => e.kind === 'sync').map((e) => e.outcome)).toEqual(['sync failed: zap']);
    expect(sp.role.invalid).toBe(true);
  });
});
