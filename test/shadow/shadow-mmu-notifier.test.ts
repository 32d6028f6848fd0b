/**
 * MMU-notifier operations on shadow VMs (src/shadow/shadow-mmu.ts zapGfnRange/ageRange through
 * Vm.unmapGfnRange/age/testAge): KVM reaches shadow SPTEs through the rmaps —
 * `mmu.c: kvm_unmap_gfn_range` → `__kvm_rmap_zap_gfn_range`, `kvm_age_gfn` / `kvm_test_age_gfn`
 * → `kvm_rmap_age_gfn_range`.
 */
import { describe, expect, it } from 'vitest';
import { shadowFixture } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const A = 0x20n; // PT_ACCESSED_MASK of the legacy shadow SPTE

function mapped() {
  const f = shadowFixture('paging4', { hostPageSize: '4K' });
  f.pt.map(VA, GPA, { count: 2, flags: { writable: true, accessed: true, dirty: true } });
  expect(f.v.read(VA).status).toBe('ok');
  return f;
}

describe('kvm_unmap_gfn_range on a shadow VM', () => {
  it('zaps the rmap leaves in the range, flushes, and the next access faults the mapping in again', () => {
    const f = mapped();
    const leaves = f.vm.stats.get('pages_4k');
    expect(f.v.shadow!.leafFor(VA)).toBeDefined();
    const flushes = f.vm.stats.get('remote_tlb_flush');
    const fixed = f.v.stats.get('pf_fixed');
    // mmu.c:1658-1661: rmaps are zapped; kvm_zap_all_rmap_sptes (mmu.c:1504) drops every leaf of the gfn.
    expect(f.vm.unmapGfnRange(GPA, GPA + 0x1000n)).toBe(1);
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
    expect(f.vm.stats.get('pages_4k')).toBe(leaves - 1);
    // mmu.c:1638: __walk_slot_rmaps(..., flush_on_yield=true, flush): a zap is flushed.
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes + 1);
    // The neighbouring page (prefetched, outside the range) stays mapped.
    expect(f.v.shadow!.leafFor(VA + 0x1000n)).toBeDefined();
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.stats.get('pf_fixed')).toBe(fixed + 1);
  });

  it('an empty range zaps nothing and does not flush', () => {
    const f = mapped();
    const flushes = f.vm.stats.get('remote_tlb_flush');
    expect(f.vm.unmapGfnRange(0x90_0000n, 0x90_1000n)).toBe(0);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes);
  });
});

describe('kvm_age_gfn / kvm_test_age_gfn on a shadow VM', () => {
  it('ages the accessed leaf (A cleared, no flush), then it is old until the guest touches it again', () => {
    const f = mapped();
    // The faulting access built its SPTE accessed (spte.c:181-182: !prefetch sets A).
    expect(f.v.shadow!.leafFor(VA)!.spte & A).toBe(A);
    const flushes = f.vm.stats.get('remote_tlb_flush');
    // mmu.c:1773-1788: test_age finds the young leaf (mmu.c:1728-1731) and changes nothing.
    expect(f.vm.testAge(GPA, GPA + 0x1000n)).toBe(true);
    expect(f.v.shadow!.leafFor(VA)!.spte & A).toBe(A);
    // mmu.c:1733-1743: A/D enabled → clear_bit(accessed); young (mmu.c:1744).
    expect(f.vm.age(GPA, GPA + 0x1000n)).toBe(1);
    expect(f.v.shadow!.leafFor(VA)!.spte & A).toBe(0n);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes);
    // mmu.c:1725-1726: !is_accessed_spte → skipped: old now.
    expect(f.vm.age(GPA, GPA + 0x1000n)).toBe(0);
    expect(f.vm.testAge(GPA, GPA + 0x1000n)).toBe(false);
    // The CPU sets A in the SPTE on the next access (no fault): young again.
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.testAge(GPA, GPA + 0x1000n)).toBe(true);
  });

  it('a prefetched, never-touched leaf is old', () => {
    const f = mapped();
    // FNAME(pte_prefetch) → make_spte(prefetch=true): A only if !prefetch || synchronizing (spte.c:181-182).
    expect(f.v.shadow!.leafFor(VA + 0x1000n)!.spte & A).toBe(0n);
    expect(f.vm.testAge(GPA + 0x1000n, GPA + 0x2000n)).toBe(false);
    expect(f.vm.age(GPA + 0x1000n, GPA + 0x2000n)).toBe(0);
  });
});
