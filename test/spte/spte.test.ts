/**
 * SPTE bits as KVM v6.16 makes them (the 6.13+ rules of kvm-7x.md §5): the EPT Accessed/Dirty masks,
 * `is_accessed_spte`, access tracking, the memory type with IPAT, the A/D type of guest-mode pages
 * under PML, and the leaf flush rule. Expected values cite the v6.16.1 source.
 */
import { describe, expect, it } from 'vitest';
import {
  SPTE_TDP_AD_DISABLED, SPTE_TDP_AD_MASK, SPTE_TDP_AD_WRPROT_ONLY, Vm, isAccessTrack, spteAdNeedWriteProtect, isAccessed, kvmMmuPageAdNeedWriteProtect,
  leafSpteChangeNeedsTlbFlush, makeSpte, makeSpteConfig, markSpteForAccessTrack, getMtMask, type MakeSpteInput, type SpteConfig,
} from '../../src';
import { ACC_6_16 } from '../../src/format/acc';

/** Every config here is v6.16's: its ACC_ALL is 7 (reference §4.2). */
const ACC_ALL = ACC_6_16.ALL;

const bit = (n: number) => 1n << BigInt(n);

function leaf(c: SpteConfig, o: Partial<MakeSpteInput> = {}): bigint {
  return makeSpte(c, {
    level: 1, adDisabled: !c.adEnabled, adNeedWriteProtect: false, pteAccess: ACC_ALL, pfn: 0x1234, isMmioPfn: false,
    prefetch: false, synchronizing: false, hostWritable: true, mustWriteProtect: false, ...o,
  }).spte;
}

describe('EPT Accessed/Dirty masks and is_accessed_spte', () => {
  it('EPT uses bits 8/9 as Accessed/Dirty even with A/D disabled', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false });
    expect(c.accessedMask).toBe(bit(8)); // spte.c:460 shadow_accessed_mask = VMX_EPT_ACCESS_BIT
    expect(c.dirtyMask).toBe(bit(9)); // spte.c:461 shadow_dirty_mask = VMX_EPT_DIRTY_BIT
    expect(c.adEnabled).toBe(false); // spte.c:457 kvm_ad_enabled = has_ad_bits
  });

  it('A/D disabled: a faulted-in leaf carries the software Accessed bit; aging clears it, so it is old', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false });
    const s = leaf(c);
    expect(s & SPTE_TDP_AD_MASK).toBe(SPTE_TDP_AD_DISABLED); // spte.c:175-176
    expect(s & bit(8)).toBe(bit(8)); // spte.c:181-182: !prefetch → shadow_accessed_mask
    expect(s & bit(9)).toBe(bit(9)); // spte.c:241-242: writable → shadow_dirty_mask
    expect(isAccessed(c, s)).toBe(true); // spte.h:348-351
    const aged = markSpteForAccessTrack(c, s);
    expect(aged & 7n).toBe(0n); // spte.c:381: shadow_acc_track_mask (RWX) cleared
    expect(aged & bit(8)).toBe(0n); // spte.c:381: shadow_accessed_mask cleared too
    expect((aged >> 54n) & 5n).toBe(s & 5n); // spte.c:379-380: R and X saved at bit 54
    expect(isAccessTrack(c, aged)).toBe(true); // spte.h:323-326
    expect(isAccessed(c, aged)).toBe(false); // spte.h:348-351
  });

  it('is_accessed_spte looks at the Accessed bit only, not at access tracking', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false });
    // An A/D-disabled SPTE with RWX present but bit 8 clear is not accessed (spte.h:350), although
    // it is not access-tracked either (the pre-6.13 rule called it accessed, kvm-7x.md §5.2).
    const s = leaf(c) & ~bit(8);
    expect(isAccessTrack(c, s)).toBe(false);
    expect(isAccessed(c, s)).toBe(false);
  });

  it('a prefetched leaf is made without Accessed (A/D on) or access-tracked (A/D off)', () => {
    const on = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    expect(leaf(on, { prefetch: true }) & bit(8)).toBe(0n); // spte.c:181-182, 245-246, 367-368
    const off = makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false });
    const p = leaf(off, { prefetch: true });
    expect(isAccessTrack(off, p)).toBe(true); // spte.c:245-246
    expect(isAccessed(off, p)).toBe(false); // spte.h:348-351
  });
});

describe('memory type (vmx_get_mt_mask)', () => {
  it('RAM is WB with IPAT when the guest PAT is ignored (the quirk, no non-coherent DMA)', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    expect(leaf(c) & 0x78n).toBe((6n << 3n) | bit(6)); // vmx.c:7839-7840
  });

  it('non-coherent DMA or the quirk disabled: WB without IPAT (guest PAT honoured)', () => {
    expect(leaf(makeSpteConfig({ kvm: '6.16', flavour: 'ept', noncoherentDma: true })) & 0x78n).toBe(6n << 3n); // vmx.c:7825, 7842
    expect(leaf(makeSpteConfig({ kvm: '6.16', flavour: 'ept', ignoreGuestPatQuirk: false })) & 0x78n).toBe(6n << 3n); // vmx.c:7826, 7842
  });

  it('a TD disables the quirk: its EPT leaves honour the guest PAT', () => {
    const td = new Vm({ type: 'tdx' });
    expect(td.config.ignoreGuestPat).toBe(false); // tdx.c:633 disables KVM_X86_QUIRK_IGNORE_GUEST_PAT
    expect(leaf(td.config) & 0x78n).toBe(6n << 3n); // vmx.c:7826, 7842
  });

  it('host MMIO is UC without IPAT; NPT SPTEs carry no memory type', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    expect(leaf(c, { isMmioPfn: true }) & 0x78n).toBe(0n); // vmx.c:7835-7836 (MTRR_TYPE_UNCACHABLE = 0)
    expect(getMtMask(makeSpteConfig({ kvm: '6.16', flavour: 'npt' }), false)).toBe(0n); // svm.c has no get_mt_mask: spte.c:212 ORs 0
  });
});

describe('A/D type of guest-mode pages under PML (kvm_mmu_page_ad_need_write_protect)', () => {
  it('PML and a guest_mode page: WRPROT_ONLY; otherwise A/D enabled (type 0)', () => {
    const pml = makeSpteConfig({ kvm: '6.16', flavour: 'ept', pml: true });
    const noPml = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    expect(kvmMmuPageAdNeedWriteProtect(pml, true)).toBe(true); // mmu_internal.h:201
    expect(kvmMmuPageAdNeedWriteProtect(pml, false)).toBe(false); // mmu_internal.h:201
    expect(kvmMmuPageAdNeedWriteProtect(noPml, true)).toBe(false); // mmu_internal.h:201
    expect(leaf(pml, { adNeedWriteProtect: true }) & SPTE_TDP_AD_MASK).toBe(SPTE_TDP_AD_WRPROT_ONLY); // spte.c:177-178
  });

  it('spte_ad_need_write_protect: every A/D type but ENABLED', () => {
    const pml = makeSpteConfig({ kvm: '6.16', flavour: 'ept', pml: true });
    expect(spteAdNeedWriteProtect(pml, leaf(pml, { adNeedWriteProtect: true }))).toBe(true); // spte.h:320
    expect(spteAdNeedWriteProtect(pml, leaf(makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false })))).toBe(true); // spte.h:320
    expect(spteAdNeedWriteProtect(pml, leaf(pml))).toBe(false); // spte.h:320, SPTE_TDP_AD_ENABLED = 0 (spte.h:34)
  });
});

describe('leaf_spte_change_needs_tlb_flush', () => {
  const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
  const s = leaf(c);
  it('only losing MMU-writable flushes', () => {
    expect(leafSpteChangeNeedsTlbFlush(c, s, s & ~(bit(1) | c.mmuWritableMask))).toBe(true); // spte.h:509
    expect(leafSpteChangeNeedsTlbFlush(c, s & ~bit(1), s & ~(bit(1) | c.mmuWritableMask))).toBe(true); // spte.h:486-488: even if read-only
  });
  it('clearing W (dirty logging), Accessed or Dirty does not flush', () => {
    expect(leafSpteChangeNeedsTlbFlush(c, s, s & ~bit(1))).toBe(false); // spte.h:489-491, 509
    expect(leafSpteChangeNeedsTlbFlush(c, s, s & ~c.accessedMask)).toBe(false); // spte.h:493-495
    expect(leafSpteChangeNeedsTlbFlush(c, s, s & ~c.dirtyMask)).toBe(false); // spte.h:497-500
    expect(leafSpteChangeNeedsTlbFlush(c, s, markSpteForAccessTrack(c, s))).toBe(false); // spte.h:493-495
  });
});
