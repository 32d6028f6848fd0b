import { describe, expect, it } from 'vitest';
import { eptFormat } from '../../src/format/ept';
import type { PageFormat } from '../../src/format/page-format';
import { paging32Format } from '../../src/format/paging32';
import { paging4Format } from '../../src/format/paging4';
import { gpa } from '../../src/address/address';
import { GuestMemory } from '../../src/memory/guest-memory';
import { gpteAccess, gpteToGfn, isPresentGpte, isRsvdGpte, prefetchInvalidGpte, protectCleanGpte, readGpte } from '../../src/shadow/gpte';

/**
 * The guest-PTE helpers the shadow MMU's sync and prefetch use (src/shadow/gpte.ts), against
 * paging_tmpl.h of Linux v6.16.1 (the three PTTYPE instantiations) and, for the 7.3 ACC
 * encoding, ../shared/reference/kvm-7x.md §1.1/§1.4. Line numbers: arch/x86/kvm/mmu/paging_tmpl.h.
 */
const x86 = { maxPhyAddr: 46, nx: true, gbpages: true, pse: true, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };
const p4: PageFormat = paging4Format({ ...x86, kvm: '6.16' });
const p4v73: PageFormat = paging4Format({ ...x86, kvm: '7.3' });
const p32: PageFormat = paging32Format({ ...x86, kvm: '6.16' });
const eptAd: PageFormat = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 2, kvm: '6.16' });
const eptNoAd: PageFormat = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: false, execonly: true, hugePageLevel: 2, kvm: '6.16' });
const ept73: PageFormat = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 2, kvm: '7.3' });
const ept73Mbec: PageFormat = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 2, kvm: '7.3', mbec: true });

describe('FNAME(is_present_gpte)', () => {
  it('x86: bit 0 alone decides (paging_tmpl.h:129-130, PT_PRESENT_MASK mmu.h:15)', () => {
    expect(isPresentGpte(p4, 1n)).toBe(true);
    expect(isPresentGpte(p4, 0x8000_0000_0000_0ffen)).toBe(false);
  });
  it('EPT: any of R, W, X (paging_tmpl.h:132 "pte & 7"); bit 10 only with MBEC (kvm-7x.md §1.1 Presence)', () => {
    expect(isPresentGpte(eptAd, 4n)).toBe(true); // X only
    expect(isPresentGpte(eptAd, 2n)).toBe(true); // W only
    expect(isPresentGpte(eptAd, 0x400n)).toBe(false);
    expect(isPresentGpte(eptAd, 0xff8n & ~0x400n)).toBe(false);
    expect(isPresentGpte(ept73, 0x400n)).toBe(false); // MBEC off: XU ignored
    expect(isPresentGpte(ept73Mbec, 0x400n)).toBe(true);
    expect(isPresentGpte(ept73Mbec, 0x8n)).toBe(false);
  });
});

describe('FNAME(gpte_access)', () => {
  it('v6.16 x86: W|U|P, then P xor NX gives ACC_EXEC (paging_tmpl.h:191-194)', () => {
    expect(gpteAccess(p4, 0x7n)).toBe(7);
    expect(gpteAccess(p4, 0x8000_0000_0000_0007n)).toBe(6);
    expect(gpteAccess(p4, 0x8000_0000_0000_0005n)).toBe(4);
    expect(gpteAccess(p4, 0x3n)).toBe(3);
    expect(gpteAccess(p32, 0x5n)).toBe(5);
  });
  it('v6.16 EPT: W→ACC_WRITE 2, X→ACC_EXEC 1, R→ACC_USER 4 (paging_tmpl.h:186-188)', () => {
    expect(gpteAccess(eptAd, 1n)).toBe(4);
    expect(gpteAccess(eptAd, 2n)).toBe(2);
    expect(gpteAccess(eptAd, 4n)).toBe(1);
    expect(gpteAccess(eptAd, 7n)).toBe(7);
    expect(gpteAccess(eptAd, 0x400n)).toBe(0);
  });
  it('7.3 x86: P→READ 1, W 2, U 4, !NX→EXEC 8 (kvm-7x.md §1.4 table)', () => {
    expect(gpteAccess(p4v73, 0x7n)).toBe(0xf);
    expect(gpteAccess(p4v73, 0x8000_0000_0000_0007n)).toBe(7);
    expect(gpteAccess(p4v73, 0x8000_0000_0000_0001n)).toBe(1);
  });
  it('7.3 EPT: R→1, W→2, XU (bit 10)→4, XS (bit 2)→8 (kvm-7x.md §1.4 table)', () => {
    expect(gpteAccess(ept73, 1n)).toBe(1);
    expect(gpteAccess(ept73, 2n)).toBe(2);
    expect(gpteAccess(ept73, 4n)).toBe(8);
    expect(gpteAccess(ept73Mbec, 0x400n)).toBe(4);
    expect(gpteAccess(ept73Mbec, 0x407n)).toBe(0xf);
  });
});

describe('gpte_to_gfn', () => {
  it('PTTYPE 32 masks with the u32 cast of __PT_BASE_ADDR_MASK (paging_tmpl.h:65, 104-107)', () => {
    expect(gpteToGfn(0xffff_f123n)).toBe(0xfffff);
  });
  it('PTTYPE 64 and EPT take bits 51:12 (mmu_internal.h:18 GENMASK_ULL(51, 12))', () => {
    expect(gpteToGfn(0x8000_0001_2345_6fffn)).toBe(0x123456);
    expect(gpteToGfn(0xfff0_0000_0000_0000n | 0xf_ffff_ffff_f000n)).toBe(0xff_ffff_ffff);
    expect(gpteToGfn(0x7ff0_0000_0abc_d107n)).toBe(0xabcd);
  });
});

describe('FNAME(prefetch_invalid_gpte) and is_rsvd_bits_set', () => {
  it('not present or, with A/D, not accessed: invalid (paging_tmpl.h:155-161)', () => {
    expect(prefetchInvalidGpte(p4, 0x20n)).toBe(true); // A without P
    expect(prefetchInvalidGpte(p4, 0x1n)).toBe(true); // P without A
    expect(prefetchInvalidGpte(p4, 0x21n)).toBe(false);
    expect(prefetchInvalidGpte(eptAd, 0x7n)).toBe(true); // EPT A (bit 8) clear, A/D on
    expect(prefetchInvalidGpte(eptAd, 0x107n)).toBe(false);
    expect(prefetchInvalidGpte(eptAd, 0x100n)).toBe(true); // A but no R/W/X
  });
  it('EPT without A/D: A is not required (PT_HAVE_ACCESSED_DIRTY, paging_tmpl.h:58, 159)', () => {
    expect(prefetchInvalidGpte(eptNoAd, 0x7n)).toBe(false);
    expect(prefetchInvalidGpte(eptNoAd, 0x0n)).toBe(true);
  });
  it('reserved bits at level 1: MAXPHYADDR bits (mmu.c:5135 high_bits_rsvd, 5194 PTE mask)', () => {
    expect(isRsvdGpte(p4, 0x21n | (1n << 46n), 1)).toBe(true);
    expect(prefetchInvalidGpte(p4, 0x21n | (1n << 46n))).toBe(true);
    expect(prefetchInvalidGpte(p4, 0x21n | (1n << 45n))).toBe(false);
  });
  it('a 4K PTE with bit 7 (PAT) set uses rsvd_bits_mask[1][0], not the 2M mask (paging_tmpl.h:164 PG_LEVEL_4K; mmu.c:5200-5203)', () => {
    // Bits 13-20 are reserved only in a 2M PDE (rsvd_bits_mask[1][1]); in a PTE they are address bits.
    const g = 0x21n | 0x80n | (1n << 13n);
    expect(isRsvdGpte(p4, g, 1)).toBe(false);
    expect(isRsvdGpte(p4, g, 2)).toBe(true);
    expect(prefetchInvalidGpte(p4, g)).toBe(false);
  });
  it('EPT bad_mt_xwr: write-only and memory type 2 are misconfigured (paging_tmpl.h:136-143, 164; mmu.c:5245-5249)', () => {
    expect(prefetchInvalidGpte(eptAd, 0x102n)).toBe(true); // W without R
    expect(prefetchInvalidGpte(eptAd, 0x106n)).toBe(true); // W|X without R
    expect(prefetchInvalidGpte(eptAd, 0x111n)).toBe(true); // R, memory type 2 (reserved)
    expect(prefetchInvalidGpte(eptAd, 0x131n)).toBe(false); // R, memory type 6 (WB)
    expect(isRsvdGpte(eptAd, 0x102n, 1)).toBe(true);
    expect(isRsvdGpte(eptAd, 0x103n, 1)).toBe(false);
    // bad_mt_xwr is EPT-only (FNAME(is_bad_mt_xwr) returns false for PTTYPE != EPT): W without
    // "R" means nothing for x86, whose bit 0 is P.
    expect(isRsvdGpte(p4, 0x23n, 1)).toBe(false);
  });
});

describe('FNAME(protect_clean_gpte)', () => {
  it('with A/D, a clean gPTE loses ACC_WRITE; a dirty one keeps it (paging_tmpl.h:109-125)', () => {
    expect(protectCleanGpte(p4, 7, 0x23n)).toBe(5);
    expect(protectCleanGpte(p4, 7, 0x63n)).toBe(7);
    expect(protectCleanGpte(p4, 5, 0x21n)).toBe(5);
    // EPT's D is bit 9 (paging_tmpl.h:56); bit 6 (x86's D) is EPT's ignore-PAT bit.
    expect(protectCleanGpte(eptAd, 7, 0x147n)).toBe(5);
    expect(protectCleanGpte(eptAd, 7, 0x307n)).toBe(7);
  });
  it('without A/D nothing is tracked: access unchanged (paging_tmpl.h:114-116)', () => {
    expect(protectCleanGpte(eptNoAd, 7, 0x7n)).toBe(7);
    expect(protectCleanGpte(eptNoAd, 3, 0x3n)).toBe(3);
  });
});

describe('readGpte', () => {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0x10000), size: 0x4000 });
  mem.write64(gpa(0x11018), 0x8000_0000_1234_5067n);
  mem.write64(gpa(0x11020), 0xdead_beefn);
  it('an 8-byte entry at its byte offset, little-endian', () => {
    expect(readGpte(mem, p4, 0x11, 0x18)).toBe(0x8000_0000_1234_5067n);
    expect(readGpte(mem, eptAd, 0x11, 0x20)).toBe(0xdead_beefn);
  });
  it('a 4-byte entry for 32-bit paging: the high word is the next entry', () => {
    expect(readGpte(mem, p32, 0x11, 0x18)).toBe(0x1234_5067n);
    expect(readGpte(mem, p32, 0x11, 0x1c)).toBe(0x8000_0000n);
  });
  it('a never-written frame of a slot reads 0; a GFN outside every slot has no gPTE', () => {
    expect(readGpte(mem, p4, 0x12, 0)).toBe(0n);
    expect(readGpte(mem, p4, 0x20, 0)).toBeUndefined();
  });
});
