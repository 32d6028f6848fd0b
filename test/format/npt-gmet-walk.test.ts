/**
 * An NPT walk with GMET (KVM '7.3') reproduces the EXITINFO1 of x86/svm_npt.c's npt_gmet_* tests
 * (kvm-unit-tests HEAD in the local mirror): the guest code runs at CPL 0, so with GMET its fetch
 * is a supervisor fetch of the NPT (the SVM translate_nested_gpa no longer forces PFERR_USER;
 * INFERRED in kvm-7x.md §2.2). EFER.NX = 1 in every case, so has_pferr_fetch sets I/D. The checks
 * mask the error-code U bit (errata 1218, svm_npt.c:136, 160); U is never set here.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, NPF_GUEST_FINAL, PFERR, WalkScratch, WalkStop, gpa, npfErrorCode, nptFormat, walkTables, type PageFormat } from '../../src';

const P = 1n, RW = 2n, US = 4n, NX = 1n << 63n;
const TABLES = [0x1000n, 0x2000n, 0x3000n, 0x4000n];

function setup(leaf: bigint): GuestMemory {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x10000n });
  // npt_prepare_gmet_pte (svm.c:46-61) flips U only on the PTEs of the code's 2 MiB region; the
  // upper levels keep U=1, as the NPT kvm-unit-tests builds.
  for (let i = 0; i < 3; i++) mem.write64(gpa(TABLES[i]!), TABLES[i + 1]! | P | RW | US);
  mem.write64(gpa(TABLES[3]!), 0x5000n | leaf);
  return mem;
}

function fetch(fmt: PageFormat, mem: GuestMemory): number | 'ok' {
  const s = new WalkScratch();
  // fetchSetsId = has_pferr_fetch (EFER.NX = 1 in npt_gmet_nx/us_prepare, svm_npt.c:120, 148)
  const stop = walkTables({ mem, format: fmt, rootGfn: 1, pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: true }, s, 0, 0, PFERR.FETCH);
  if (stop === WalkStop.Ok) return 'ok';
  expect(stop).toBe(WalkStop.Permission);
  return npfErrorCode(s.errorCode, 'final');
}

describe("NPT walk with GMET, KVM '7.3' (x86/svm_npt.c)", () => {
  const gmet = nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false, kvm: '7.3', gmet: true });
  const noGmet = nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false, kvm: '7.3' });

  it('npt_gmet_null: U=0 code page runs (svm_npt.c:95-108)', () => {
    expect(fetch(gmet, setup(P | RW))).toBe('ok');
  });
  it('npt_gmet_nx: U=0, NX=1 → #NPF, EXITINFO1 & ~U == 0x1_0000_0011 (svm_npt.c:136)', () => {
    expect(fetch(gmet, setup(P | RW | NX))).toBe(0x1_0000_0011);
  });
  it('npt_gmet_us: U=1 code page → #NPF, EXITINFO1 & ~U == 0x1_0000_0011 (svm_npt.c:160)', () => {
    expect(fetch(gmet, setup(P | RW | US))).toBe(0x1_0000_0011);
    expect(NPF_GUEST_FINAL).toBe(0x1_0000_0000);
  });
  it('without GMET the U=1 page is no fault for the same supervisor fetch', () => {
    expect(fetch(noGmet, setup(P | RW | US))).toBe('ok');
  });
});
