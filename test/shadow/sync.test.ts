/**
 * Sync of unsync shadow pages (src/shadow/sync.ts: `kvm_sync_page`, `FNAME(sync_spte)`,
 * `mmu_sync_children`, `kvm_mmu_invalidate_addr`), checked by what a guest and the host can see:
 * SPTEs, TLB flushes, zaps, dirty logs and the counters KVM keeps.
 */
import { describe, expect, it } from 'vitest';
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
