/**
 * GMET end to end through the Vm/vCPU API (KVM '7.3'): L1 sets SVM_NESTED_GMET in vmcb12's
 * nested_ctl, guest_mmu shadows NPT12 with GMET (base.cr4_smep) and the NPF L1 sees has the
 * EXITINFO1 of kvm-unit-tests x86/svm_npt.c (HEAD in the local mirror; kvm-7x.md §6.2). L2's code
 * runs at CPL 0 (a supervisor fetch), L1's EFER.NX = 1 (npt_gmet_*_prepare, svm_npt.c:118-120,
 * 147-148; L1_LONG here), so has_pferr_fetch sets I/D. The GMET checks mask the error-code U bit
 * (errata 1218, svm_npt.c:134-136, 158-160).
 */
import { describe, expect, it } from 'vitest';
import { NPF_GUEST_FINAL } from '../../src';
import { DATA_G, DATA_N, GVA, nestedNpt } from './nested-npt-fixture';

const P = 1n, RW = 2n, US = 4n, NX = 1n << 63n;
const PFERR_USER = 4;

function run(leafFlags: bigint, gmet: boolean, op: 'fetch' | 'read') {
  const n = nestedNpt({ gmet });
  expect(n.vm.config.kvm).toBe('7.3');
  const old = n.npt.getEntry(DATA_N, 1).value;
  n.npt.setEntry(DATA_N, 1, (old & ~(P | RW | US | NX)) | leafFlags);
  expect(n.npt.getEntry(DATA_N, 1).value & 0x000f_ffff_ffff_f000n).toBe(DATA_G);
  n.enter();
  const r = op === 'fetch' ? n.v.fetch(GVA) : n.v.read(GVA);
  return { n, r };
}

function exitInfo1(leafFlags: bigint, gmet: boolean, op: 'fetch' | 'read'): number | 'ok' {
  const { n, r } = run(leafFlags, gmet, op);
  if (r.status === 'ok') return 'ok';
  expect(r.status).toBe('l1-exit');
  expect(n.v.stats.get('nested_reflected')).toBe(1);
  const e = r.nestedExit!;
  expect(e.kind).toBe('npf');
  return e.kind === 'npf' ? e.exitInfo1 : -1;
}

describe("nested NPT with GMET, KVM '7.3': x86/svm_npt.c npt_gmet_* through the vCPU", () => {
  it('npt_gmet_null: U=0 code page, supervisor fetch runs (svm_npt.c:95-108: exit is VMMCALL, no NPF)', () => {
    expect(exitInfo1(P | RW, true, 'fetch')).toBe('ok');
  });
  it('npt_gmet_nx: U=0, NX=1 → NPF, EXITINFO1 & ~U == 0x1_0000_0011 (svm_npt.c:136)', () => {
    const e = exitInfo1(P | RW | NX, true, 'fetch');
    expect(typeof e === 'number' ? e - (e & PFERR_USER) : e).toBe(0x1_0000_0011);
    expect(NPF_GUEST_FINAL).toBe(0x1_0000_0000);
  });
  it('npt_gmet_us: U=1 code page → NPF, EXITINFO1 & ~U == 0x1_0000_0011 (svm_npt.c:160)', () => {
    const e = exitInfo1(P | RW | US, true, 'fetch');
    expect(typeof e === 'number' ? e - (e & PFERR_USER) : e).toBe(0x1_0000_0011);
  });
  it('npt_gmet_null data side: a supervisor read of the U=0 page works with GMET ("page table accesses ignore [U]", svm_npt.c)', () => {
    expect(exitInfo1(P | RW, true, 'read')).toBe('ok');
  });
  it('the NPT02 leaf guest_mmu builds keeps U=0 for the kernel page (kvm-7x.md §2.2: kernel-executable pages have U=0)', () => {
    const { n, r } = run(P | RW, true, 'fetch');
    expect(r.status).toBe('ok');
    const table = n.vm.shadow.find(Number(BigInt(n.npt.getEntry(DATA_N, 1).gpa) >> 12n))[0]!;
    const spte = n.vm.shadow.readSpte(table, Number((DATA_N >> 12n) & 511n));
    expect(spte & (P | US)).toBe(P);
    expect(table.role.cr4Smep).toBe(true); // GMET keys the shadow pages (base.cr4_smep)
  });
});

describe("nested NPT without GMET, KVM '7.3': x86/svm_npt.c npt_us / npt_nx", () => {
  it('npt_us: a U=0 NPT leaf faults even for a data read: EXITINFO1 = 0x1_0000_0005 (svm_npt.c:87)', () => {
    expect(exitInfo1(P | RW, false, 'read')).toBe(0x1_0000_0005);
  });
  it('npt_nx: an NX NPT leaf faults a fetch: EXITINFO1 = 0x1_0000_0015 (svm_npt.c:62)', () => {
    expect(exitInfo1(P | RW | US | NX, false, 'fetch')).toBe(0x1_0000_0015);
  });
  it('GMET exists only in the KVM 7.3 model: a 6.16 VM refuses it (typed error)', () => {
    const n = nestedNpt({ gmet: true, kvm: '6.16' });
    expect(() => n.enter()).toThrow(/GMET exists only/);
    expect(n.v.nestedNpt).toBe(undefined);
  });
});
