/**
 * SPTE constructors and predicates value by value, so that mutation testing (`npm run mutate`)
 * finds a failing test for every changed mask, operator or branch of src/spte. Every expected
 * value is spelled from the Linux v6.16.1 source (arch/x86/kvm/mmu/spte.c, spte.h, mmu.c,
 * arch/x86/include/asm/vmx.h), not read back from the engine.
 */
import { describe, expect, it } from 'vitest';
import {
  FROZEN_SPTE, SHADOW_NONPRESENT_VALUE, SPTE_TDP_AD_DISABLED, SPTE_TDP_AD_WRPROT_ONLY, isAccessAllowed, isAccessTrack, isDirty, isExecutable, isFrozen,
  isHostWritable, isLargePte, isLastSpte, isMmioSpte, isMmuWritable, isRsvdSpte, isShadowPresent, kvmMmuGetTdpLevel, isWritable, makeMmioSpte, makeNonleafSpte,
  makeSpte, makeSpteConfig, markSpteForAccessTrack, mmioSpteGeneration, mmioSpteGfn, restoreAccTrackSpte, spteAdEnabled, spteToPfn,
  type MakeSpteInput, type SpteConfig,
} from '../../src';
import { ACC_6_16 } from '../../src/format/acc';

// The SPTE configs below are v6.16's, so the ACC values are v6.16's (reference §4.2: X 1, W 2, U 4).
const { ALL: ACC_ALL, EXEC: ACC_EXEC, USER: ACC_USER, WRITE: ACC_WRITE } = ACC_6_16;

const bit = (n: number) => 1n << BigInt(n);
/** SPTE_MMU_PRESENT_MASK, spte.h:18. */
const MMU_PRESENT = bit(11);

function make(c: SpteConfig, o: Partial<MakeSpteInput> = {}): { spte: bigint; wrprot: boolean } {
  return makeSpte(c, {
    level: 1, adDisabled: false, adNeedWriteProtect: false, pteAccess: ACC_ALL, pfn: 0x1234, isMmioPfn: false,
    prefetch: false, synchronizing: false, hostWritable: true, mustWriteProtect: false, ...o,
  });
}

describe('SPTE masks of the VM (kvm_mmu_set_ept_masks, kvm_mmu_reset_all_pte_masks)', () => {
  it('EPT', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', execOnly: true });
    expect(c.presentMask).toBe(bit(63)); // spte.c:465-466: exec-only → no R, VMX_EPT_SUPPRESS_VE_BIT (vmx.h:541)
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept', execOnly: false }).presentMask).toBe(bit(0) | bit(63)); // spte.c:466
    expect(c.userMask).toBe(bit(0)); // spte.c:459 VMX_EPT_READABLE_MASK
    expect(c.xMask).toBe(bit(2)); // spte.c:463
    expect(c.nxMask).toBe(0n); // spte.c:462
    expect(c.accTrackMask).toBe(7n); // spte.c:468 VMX_EPT_RWX_MASK
    expect(c.hostWritableMask).toBe(bit(57)); // spte.h:90, spte.c:469
    expect(c.mmuWritableMask).toBe(bit(58)); // spte.h:91, spte.c:470
    expect(c.mmioValue).toBe(bit(1) | bit(2)); // spte.c:476 VMX_EPT_MISCONFIG_WX_VALUE (vmx.h:560)
    expect(c.mmioMask).toBe(7n | bit(63)); // spte.c:477
    expect(c.mmioAccessMask).toBe(0n); // spte.c:477
    expect(c.mmioEnabled).toBe(true); // spte.c:429-430: mmio_value != 0
  });

  it('NPT (the x86 masks), MMIO caching only below MAXPHYADDR 52', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt', hostMaxPhyAddr: 46 });
    expect(c.presentMask).toBe(bit(0)); // spte.c:517 PT_PRESENT_MASK
    expect(c.userMask).toBe(bit(2)); // spte.c:512
    expect(c.accessedMask).toBe(bit(5)); // spte.c:513
    expect(c.dirtyMask).toBe(bit(6)); // spte.c:514
    expect(c.nxMask).toBe(bit(63)); // spte.c:515
    expect(c.xMask).toBe(0n); // spte.c:516
    expect(c.accTrackMask).toBe(0n); // spte.c:519
    expect(c.hostWritableMask).toBe(bit(9)); // spte.h:82, spte.c:523
    expect(c.mmuWritableMask).toBe(bit(10)); // spte.h:83, spte.c:524
    expect(c.mmioValue).toBe(bit(51) | bit(0)); // spte.c:533-534
    expect(c.mmioMask).toBe(bit(51) | bit(0)); // spte.c:538
    expect(c.mmioAccessMask).toBe(BigInt(ACC_WRITE | ACC_USER)); // spte.c:538
    expect(c.mmioEnabled).toBe(true);
    expect(c.adEnabled).toBe(true); // spte.c:486: kvm_ad_enabled = true for NPT
    expect(c.execOnly).toBe(false);
    const big = makeSpteConfig({ kvm: '6.16', flavour: 'npt', hostMaxPhyAddr: 52 });
    expect(big.mmioValue).toBe(0n); // spte.c:535-536
    expect(big.mmioMask).toBe(0n);
    expect(big.mmioAccessMask).toBe(0n);
    expect(big.mmioEnabled).toBe(false); // spte.c:429-430
  });
});

describe('make_spte (spte.c:157-265)', () => {
  it('EPT, a writable 4K RAM leaf: every bit', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', execOnly: true });
    const { spte, wrprot } = make(c);
    expect(wrprot).toBe(false);
    expect(spte).toBe(
      MMU_PRESENT | bit(63) // spte.c:164, 180 (shadow_present_mask, exec-only)
      | bit(8) // spte.c:181-182 accessed
      | bit(2) | bit(0) // spte.c:201-202 X, 206-207 user = R
      | (6n << 3n) | bit(6) // spte.c:212 → vmx.c:7839-7840 WB + IPAT
      | bit(57) // spte.c:213-214 host-writable
      | (0x1234n << 12n) // spte.c:221
      | bit(1) | bit(58) | bit(9), // spte.c:241-242 W, MMU-writable, dirty
    );
  });

  it('NPT, a writable 4K leaf: every bit; no exec → NX; no user → no U', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt' });
    expect(make(c).spte).toBe(MMU_PRESENT | bit(0) | bit(5) | bit(2) | bit(9) | (0x1234n << 12n) | bit(1) | bit(10) | bit(6)); // spte.c:164-242, masks spte.c:512-524
    const s = make(c, { pteAccess: ACC_WRITE }).spte;
    expect(s & bit(63)).toBe(bit(63)); // spte.c:203-204 shadow_nx_mask
    expect(s & bit(2)).toBe(0n); // spte.c:206-207
    expect(isExecutable(c, s)).toBe(false); // spte.h:338-341
    expect(isExecutable(c, make(c).spte)).toBe(true);
  });

  it('a huge leaf sets PS; the NX huge page mitigation drops X only there', () => {
    const nx = makeSpteConfig({ kvm: '6.16', flavour: 'ept', nxHugePages: true });
    const huge = make(nx, { level: 2, pfn: 0x200 }).spte;
    expect(huge & bit(7)).toBe(bit(7)); // spte.c:209-210
    expect(huge & bit(2)).toBe(0n); // spte.c:196-199
    expect(make(nx, { level: 1 }).spte & bit(2)).toBe(bit(2)); // spte.c:196: level > PG_LEVEL_4K only
    expect(make(nx, { level: 1 }).spte & bit(7)).toBe(0n); // spte.c:209
    const plain = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    expect(make(plain, { level: 2, pfn: 0x200 }).spte & bit(2)).toBe(bit(2)); // spte.c:197: only with the mitigation
  });

  it('not host-writable: no W, no MMU-writable, no D, no Host-writable bit', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    const { spte, wrprot } = make(c, { hostWritable: false });
    expect(spte & (bit(1) | bit(58) | bit(9) | bit(57))).toBe(0n); // spte.c:213-216, 223
    expect(wrprot).toBe(false);
    expect(isHostWritable(c, spte)).toBe(false);
    expect(isHostWritable(c, make(c).spte)).toBe(true);
  });

  it('mmu_try_to_unsync_pages refuses: wrprot, and the SPTE stays read-only but host-writable', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    const { spte, wrprot } = make(c, { mustWriteProtect: true });
    expect(wrprot).toBe(true); // spte.c:237-239
    expect(spte & (bit(1) | bit(58) | bit(9))).toBe(0n); // spte.c:240-242 not reached
    expect(spte & bit(57)).toBe(bit(57)); // spte.c:213-214
    // Without ACC_WRITE nothing is asked.
    expect(make(c, { pteAccess: ACC_USER, mustWriteProtect: true }).wrprot).toBe(false); // spte.c:223
  });

  it('A/D type: ad_disabled wins over WRPROT_ONLY (spte.c:175-178)', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', pml: true });
    expect(make(c, { adDisabled: true, adNeedWriteProtect: true }).spte & (3n << 52n)).toBe(SPTE_TDP_AD_DISABLED);
    expect(make(c, { adNeedWriteProtect: true }).spte & (3n << 52n)).toBe(SPTE_TDP_AD_WRPROT_ONLY);
    expect(make(c).spte & (3n << 52n)).toBe(0n);
  });

  it('prefetch: A/D on — no Accessed; synchronizing — Accessed and not access-tracked', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt' });
    expect(make(c, { prefetch: true }).spte & bit(5)).toBe(0n); // spte.c:181, 245-246, 367-368
    expect(make(c, { prefetch: true, synchronizing: true }).spte & bit(5)).toBe(bit(5)); // spte.c:181-182
    const off = makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false });
    const synced = make(off, { adDisabled: true, prefetch: true, synchronizing: true }).spte;
    expect(isAccessTrack(off, synced)).toBe(false); // spte.c:245
    expect(synced & 7n).toBe(7n);
  });
});

describe('make_nonleaf_spte (spte.c:350-363)', () => {
  it('EPT: present, W, user(R), X, Accessed; with A/D disabled the AD_DISABLED type instead of A', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', execOnly: true });
    expect(makeNonleafSpte(c, 0x4321, false)).toBe(MMU_PRESENT | (0x4321n << 12n) | bit(63) | bit(1) | bit(0) | bit(2) | bit(8));
    expect(makeNonleafSpte(c, 0x4321, true)).toBe(MMU_PRESENT | (0x4321n << 12n) | bit(63) | bit(1) | bit(0) | bit(2) | SPTE_TDP_AD_DISABLED);
  });

  it('NPT: present, W, U, Accessed; no NX', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt' });
    expect(makeNonleafSpte(c, 0x10, false)).toBe(MMU_PRESENT | (0x10n << 12n) | bit(0) | bit(1) | bit(2) | bit(5));
  });
});

describe('access tracking (mark_spte_for_access_track, restore_acc_track_spte)', () => {
  const off = makeSpteConfig({ kvm: '6.16', flavour: 'ept', adEnabled: false });
  const s = make(off, { adDisabled: true }).spte;

  it('A/D enabled: only the Accessed bit goes', () => {
    const on = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    const t = make(on).spte;
    expect(markSpteForAccessTrack(on, t)).toBe(t & ~bit(8)); // spte.c:367-368
  });

  it('A/D disabled: R/X saved at 54/56, RWX and A cleared; already tracked stays as is; restore gives R/X back', () => {
    const t = markSpteForAccessTrack(off, s);
    expect(t).toBe((s & ~(7n | bit(8))) | bit(54) | bit(56)); // spte.c:379-381, spte.h:69-71
    expect(markSpteForAccessTrack(off, t)).toBe(t); // spte.c:370-371
    const r = restoreAccTrackSpte(off, t);
    expect(r).toBe((s & ~(7n | bit(8))) | bit(0) | bit(2)); // spte.h:536-547: W is not saved
    expect(isAccessTrack(off, r)).toBe(false);
    // An exec-only leaf saves X alone.
    const x = make(off, { adDisabled: true, pteAccess: ACC_EXEC }).spte;
    expect(markSpteForAccessTrack(off, x) & (bit(54) | bit(56))).toBe(bit(56)); // spte.c:379-380
  });

  it('is_access_track_spte needs A/D disabled and RWX clear', () => {
    expect(isAccessTrack(off, s)).toBe(false); // spte.h:323-326
    expect(isAccessTrack(off, s & ~7n)).toBe(true);
    const on = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    expect(isAccessTrack(on, make(on).spte & ~7n)).toBe(false); // spte_ad_enabled
    expect(spteAdEnabled(off, s)).toBe(false); // spte.h:306-310
    expect(spteAdEnabled(on, make(on, { adNeedWriteProtect: true }).spte)).toBe(true); // WRPROT_ONLY != DISABLED
  });
});

describe('MMIO SPTEs (make_mmio_spte spte.c:92-105, generation spte.h:116-152, get_mmio_spte_gfn mmu.c:301-309)', () => {
  it('EPT: WX misconfig value, the gfn and a 19-bit generation split 8 low / 11 high', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept' });
    const gen = 0x7ffff;
    const s = makeMmioSpte(c, 0xabcde, ACC_ALL, gen);
    expect(s).toBe(bit(1) | bit(2) | (0xabcden << 12n) | (0xffn << 3n) | (0x7ffn << 52n)); // spte.c:94-99, spte.h:116-120
    expect(mmioSpteGeneration(c, s)).toBe(gen);
    expect(mmioSpteGeneration(c, makeMmioSpte(c, 1, 0, 0x155))).toBe(0x155);
    expect(makeMmioSpte(c, 1, 0, 0x155) & ((0xffn << 3n) | (0x7ffn << 52n))).toBe((0x55n << 3n) | (1n << 52n)); // spte.c:87-88
    // MMIO_SPTE_GEN_MASK (spte.h:152): a 20th bit does not exist.
    expect(mmioSpteGeneration(c, makeMmioSpte(c, 1, 0, 0x80000 | 3))).toBe(3);
    expect(isMmioSpte(c, s)).toBe(true); // spte.h:283-286
    expect(isShadowPresent(s)).toBe(false); // spte.h:126-127: no SPTE_MMU_PRESENT_MASK
    // A zapped entry (SHADOW_NONPRESENT_VALUE) is not MMIO: bit 63 is part of the mask (spte.c:477).
    expect(isMmioSpte(c, SHADOW_NONPRESENT_VALUE | 6n)).toBe(false);
    expect(isMmioSpte(c, SHADOW_NONPRESENT_VALUE)).toBe(false);
  });

  it('NPT: reserved bit 51 + P, access masked to W|U; the gfn below MAXPHYADDR', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt', hostMaxPhyAddr: 46 });
    const s = makeMmioSpte(c, 0x1234, ACC_ALL, 0);
    expect(s).toBe(bit(51) | bit(0) | BigInt(ACC_WRITE | ACC_USER) | (0x1234n << 12n)); // spte.c:97-99, 533-538
    expect(mmioSpteGfn(s, 46)).toBe(0x1234); // mmu.c:303: bit 51 is not part of the gfn
    expect(mmioSpteGfn(s | bit(46), 46)).toBe(0x1234); // GENMASK(low_phys_bits - 1, 12) (spte.c:509-510)
    expect(mmioSpteGfn(s | bit(45), 46)).toBe(0x1234 + 2 ** 33);
    expect(isMmioSpte(c, s)).toBe(true);
    expect(isMmioSpte(c, s & ~bit(0))).toBe(false);
  });

  it('MAXPHYADDR 52 NPT: no MMIO caching, nothing is an MMIO SPTE (spte.h:283-286, spte.c:429-430)', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt', hostMaxPhyAddr: 52 });
    expect(isMmioSpte(c, 0n)).toBe(false);
    expect(isMmioSpte(c, SHADOW_NONPRESENT_VALUE)).toBe(false);
  });
});

describe('predicates (spte.h)', () => {
  const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', execOnly: true });
  it('present, large, last, frozen, pfn', () => {
    expect(isShadowPresent(MMU_PRESENT)).toBe(true); // spte.h:289-292
    expect(isShadowPresent(SHADOW_NONPRESENT_VALUE | 7n)).toBe(false);
    expect(isLargePte(bit(7))).toBe(true); // spte.h:328-331
    expect(isLargePte(bit(8))).toBe(false);
    expect(isLastSpte(0n, 1)).toBe(true); // spte.h:333-336
    expect(isLastSpte(0n, 2)).toBe(false);
    expect(isLastSpte(bit(7), 3)).toBe(true);
    expect(FROZEN_SPTE).toBe(bit(63) | 0x5a0n); // spte.h:223
    expect(isFrozen(makeSpteConfig({ kvm: '6.16', flavour: 'ept' }), FROZEN_SPTE)).toBe(true); // spte.h:228-231
    expect(isFrozen(makeSpteConfig({ kvm: '6.16', flavour: 'ept' }), FROZEN_SPTE | 1n)).toBe(false);
    expect(spteToPfn(bit(63) | bit(52) | (0xfffffffffn << 12n) | 0xfffn)).toBe(0xfffffffff); // spte.h:343-345 SPTE_BASE_ADDR_MASK 51:12
  });

  it('writable, MMU-writable, dirty', () => {
    const s = make(c).spte;
    expect([isWritable(s), isMmuWritable(c, s), isDirty(c, s)]).toEqual([true, true, true]);
    const ro = make(c, { pteAccess: ACC_USER | ACC_EXEC }).spte;
    expect([isWritable(ro), isMmuWritable(c, ro), isDirty(c, ro)]).toEqual([false, false, false]); // spte.c:223-243
  });

  it('is_access_allowed: exec needs X, write needs W, a read needs bit 0 (spte.h:473-483)', () => {
    const xOnly = make(c, { pteAccess: ACC_EXEC }).spte; // exec-only EPT: R clear
    expect(isAccessAllowed(c, { exec: true, write: false }, xOnly)).toBe(true);
    expect(isAccessAllowed(c, { exec: false, write: false }, xOnly)).toBe(false);
    expect(isAccessAllowed(c, { exec: false, write: true }, xOnly)).toBe(false);
    const r = make(c, { pteAccess: ACC_USER }).spte;
    expect(isAccessAllowed(c, { exec: false, write: false }, r)).toBe(true);
    expect(isAccessAllowed(c, { exec: true, write: false }, r)).toBe(false);
    // exec is checked first: an exec+write fault on a writable non-executable SPTE is not allowed.
    const rw = make(c, { pteAccess: ACC_USER | ACC_WRITE }).spte;
    expect(isAccessAllowed(c, { exec: true, write: true }, rw)).toBe(false);
    expect(isAccessAllowed(c, { exec: false, write: true }, rw)).toBe(true);
  });
});

describe('is_rsvd_spte against shadow_zero_check (spte.h:361-378, mmu.c:5219-5255)', () => {
  const c = makeSpteConfig({ kvm: '6.16', flavour: 'ept', hostMaxPhyAddr: 46, maxHugePageLevel: 3 });
  const leaf4k = 7n | (6n << 3n) | (0x1234n << 12n);
  it('physical-address bits above MAXPHYADDR are reserved at every level', () => {
    expect(isRsvdSpte(c, leaf4k, 1)).toBe(false);
    expect(isRsvdSpte(c, leaf4k | bit(46), 1)).toBe(true); // mmu.c:5223, 5236
    expect(isRsvdSpte(c, leaf4k | bit(51), 1)).toBe(true);
  });
  it('bit 7 selects the large-page mask: bits 20:12 of a 2M leaf are reserved, of a table pointer not', () => {
    const ptr = 7n | (0x1201n << 12n);
    expect(isRsvdSpte(c, ptr, 2)).toBe(false); // mmu.c:5235
    expect(isRsvdSpte(c, ptr | bit(7), 2)).toBe(true); // mmu.c:5242
    expect(isRsvdSpte(c, 7n | bit(7) | (6n << 3n) | (0x1200n << 12n), 2)).toBe(false);
    // At 4K bit 7 is ignored (mmu.c:5243).
    expect(isRsvdSpte(c, leaf4k | bit(7), 1)).toBe(false);
  });
  it('NPT without 1G pages (no GBPAGES): bit 7 of a level-3 entry is reserved (mmu.c:5123-5130, 5197)', () => {
    const leaf1g = 1n | bit(7) | (1n << 30n);
    expect(isRsvdSpte(makeSpteConfig({ kvm: '6.16', flavour: 'npt', maxHugePageLevel: 2 }), leaf1g, 3)).toBe(true);
    expect(isRsvdSpte(makeSpteConfig({ kvm: '6.16', flavour: 'npt', maxHugePageLevel: 3 }), leaf1g, 3)).toBe(false);
  });
  it('NPT zero check (mmu.c:5330-5334: nx true, AMD): NX is no reserved bit; bit 8 of a non-leaf PML4E is (mmu.c:5146, 5182-5189)', () => {
    const c = makeSpteConfig({ kvm: '6.16', flavour: 'npt', hostMaxPhyAddr: 46 });
    expect(isRsvdSpte(c, 1n | bit(63) | (0x1234n << 12n), 1)).toBe(false);
    expect(isRsvdSpte(c, 1n | bit(8) | (0x1234n << 12n), 4)).toBe(true);
    expect(isRsvdSpte(c, 1n | (0x1234n << 12n), 4)).toBe(false);
  });
  it('bad memory types and XWR combinations (mmu.c:5245-5253; shadow_zero_check is built without exec-only)', () => {
    expect(isRsvdSpte(c, 2n, 1)).toBe(true); // W only: 010
    expect(isRsvdSpte(c, 6n, 1)).toBe(true); // WX: 110
    expect(isRsvdSpte(c, 4n, 1)).toBe(true); // X only: 100 (execonly false)
    expect(isRsvdSpte(c, 7n | (2n << 3n), 1)).toBe(true); // MT 2
    expect(isRsvdSpte(c, 7n | (7n << 3n), 1)).toBe(true); // MT 7
    expect(isRsvdSpte(c, 1n | (6n << 3n), 1)).toBe(false);
  });
});

describe('makeSpteConfig rejects impossible hosts with typed errors', () => {
  it.each([
    [{ flavour: 'arm' as never }, /spte-flavour/],
    [{ flavour: 'ept' as const, hostMaxPhyAddr: 31 }, /maxphyaddr-range/],
    [{ flavour: 'ept' as const, hostMaxPhyAddr: 53 }, /maxphyaddr-range/],
    [{ flavour: 'ept' as const, hostMaxPhyAddr: 46.5 }, /maxphyaddr-range/],
    [{ flavour: 'ept' as const, guestMaxPhyAddr: 31 }, /maxphyaddr-range/],
    // The host bound on its own (the guest MAXPHYADDR, which defaults to the host's, is legal here).
    [{ flavour: 'ept' as const, hostMaxPhyAddr: 31, guestMaxPhyAddr: 40 }, /host MAXPHYADDR/],
    [{ flavour: 'ept' as const, hostMaxPhyAddr: 53, guestMaxPhyAddr: 40 }, /host MAXPHYADDR/],
    [{ flavour: 'ept' as const, hostMaxPhyAddr: 46.5, guestMaxPhyAddr: 40 }, /host MAXPHYADDR/],
    [{ flavour: 'ept' as const, guestMaxPhyAddr: 53 }, /maxphyaddr-range/],
    [{ flavour: 'ept' as const, maxTdpLevel: 3 as never }, /tdp-level/],
    [{ flavour: 'ept' as const, maxTdpLevel: 4 as const, tdpLevel: 5 as const }, /tdp-level/],
    [{ flavour: 'ept' as const, maxHugePageLevel: 0 }, /huge-level/],
    [{ flavour: 'ept' as const, maxHugePageLevel: 4 }, /huge-level/],
  ])('%o', (spec, rule) => {
    expect(() => makeSpteConfig(spec)).toThrow(rule);
  });

  it('the bounds themselves are accepted', () => {
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept', hostMaxPhyAddr: 32 }).hostMaxPhyAddr).toBe(32);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept', hostMaxPhyAddr: 52, guestMaxPhyAddr: 32 }).hostMaxPhyAddr).toBe(52);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept', maxTdpLevel: 5, tdpLevel: 5 }).maxTdpLevel).toBe(5);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept', tdpLevel: 5 }).maxTdpLevel).toBe(5);
  });

  it('defaults: EPT A/D on (vmx.c:106 enable_ept_ad_bits = 1), no NX huge page mitigation, NPT ignores no guest PAT', () => {
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept' }).adEnabled).toBe(true);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept' }).nxHugePages).toBe(false);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'npt' }).nxHugePages).toBe(false);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'npt', nxHugePages: true }).nxHugePages).toBe(true);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'npt' }).ignoreGuestPat).toBe(false); // svm.c has no get_mt_mask
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'npt', adEnabled: false }).adEnabled).toBe(true); // spte.c:486: NPT always has A/D
  });

  it('kvm_mmu_get_tdp_level (mmu.c:5590): EPT 5-level only above guest MAXPHYADDR 48; NPT forced', () => {
    expect(kvmMmuGetTdpLevel('ept', 5, 52)).toBe(5);
    expect(kvmMmuGetTdpLevel('ept', 5, 49)).toBe(5);
    expect(kvmMmuGetTdpLevel('ept', 5, 48)).toBe(4);
    expect(kvmMmuGetTdpLevel('ept', 4, 52)).toBe(4);
    expect(kvmMmuGetTdpLevel('npt', 5, 40)).toBe(5);
    expect(kvmMmuGetTdpLevel('npt', 4, 52)).toBe(4);
    expect(makeSpteConfig({ kvm: '6.16', flavour: 'ept', maxHugePageLevel: 1 }).maxHugePageLevel).toBe(1);
  });
});
