/**
 * The CPU's walk of the shadow tables on a TLB miss, counted on the live tables (the figure the
 * fault statistics report for shadow paging): one entry per shadow level down to the leaf SPTE.
 */
import { describe, expect, it } from 'vitest';
import { guest, shadowWalkRefs } from '../../src';

describe('shadowWalkRefs', () => {
  it('4 KiB guest pages under a 4-level shadow root: 4 entries; a 2 MiB guest page on 2 MiB host backing: 3', () => {
    const g = guest({ mmu: 'shadow', hostPageSize: '2M' });
    g.pt.map(0x4000_0000n, 0x100_0000n, { flags: { writable: true } });
    g.pt.map(0x8000_0000n, 0x400_0000n, { size: '2M', flags: { writable: true } });
    expect(g.vcpu.read(0x4000_0000n).status).toBe('ok');
    expect(g.vcpu.read(0x8000_0000n).status).toBe('ok');
    const ctx = g.vcpu.shadow!.ctx;
    // SDM 4.5: a 4-level walk reads PML4E, PDPTE, PDE, PTE; a PDE with PS=1 maps 2 MiB and ends it.
    // The shadow MMU maps a 2 MiB guest page with a 2 MiB SPTE when the host backs it with one
    // (mmu.c: kvm_mmu_hugepage_adjust, FNAME(fetch) at fault->goal_level).
    expect(shadowWalkRefs(g.vm.shadow, ctx, 0x4000_0000n)).toBe(4);
    expect(shadowWalkRefs(g.vm.shadow, ctx, 0x8000_0000n)).toBe(3);
    // Not mapped in the shadow tables yet: the walk stops at the first non-present entry.
    expect(shadowWalkRefs(g.vm.shadow, ctx, 0x7000_0000_0000n)).toBe(1);
  });
});
