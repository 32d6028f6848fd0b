/**
 * A PAE L2 entered with nested EPT takes its PDPTE registers from vmcs12's GUEST_PDPTR0-3, never
 * from the PDPT at its CR3 (vmx/nested.c:1157-1163 skips load_pdptrs when nested_ept; :2755-2762
 * copies vmcs12's fields into vmcs02), and a present PDPTE with a reserved bit fails the VM entry
 * (kvm-unit-tests x86/vmx_tests.c:5906-5912, the "PDPTEs from VMCS" half at :5947-5949).
 * A PAE L2 under nested NPT has no PDPTE registers: its walks read the PDPTEs through NPT02
 * (APM Vol. 2 §15.25.10), so an unmapped PDPT is an NPF at use, never an error at VMRUN or MOV CR3.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, makeEptp, CR0, CR4, EFER, DEFAULT_EPT_CAPS, InvalidArgumentError, InvalidRegisterStateError, GpaOutsideMemoryError, gpa, PFERR } from '../../src';
import { thrownRule } from '../tdx/fixtures';
import { thrownBy as thrown } from './fixtures';

const L1_LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const L2_PAE = { cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n };
/** vmx_tests.c:5949: with EPT the test enters L2 with CR3 = 0x01234560, which is never read. */
const L2_CR3 = 0x0123_4560n;
const GVA = 0x40_0000n;
const A_N = 0x300_0000n; // the data nGPA the PDPT at CR3 leads to
const A_G = 0x500_0000n;
const B_N = 0x310_0000n; // the data nGPA vmcs12's PDPTEs lead to
const B_G = 0x510_0000n;
const QUARTER = 0x4000_0000n;

/** A VM with L1's tables, the nested tables (EPT12 or NPT12) and two PAE table sets a and b for L2. */
function tables(flavour: 'ept' | 'npt') {
  const vm = new Vm({ spte: { flavour }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const pool = (base: bigint) => ({ base, size: 0x10_0000n });
  const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: pool(0x10_0000n) });
  const nested = new PageTableBuilder(vm.guestMem, { mode: flavour === 'ept' ? 'ept4' : 'paging4', pool: pool(0x20_0000n) });
  const a = new PageTableBuilder(vm.guestMem, { mode: 'pae', pool: pool(0x100_0000n) });
  const b = new PageTableBuilder(vm.guestMem, { mode: 'pae', pool: pool(0x120_0000n) });
  const pdpt = (root: bigint) => [0, 1, 2, 3].map((i) => vm.guestMem.read64(gpa(root + BigInt(i * 8))));
  /** Writes four PDPTEs at an L1 GPA. */
  const put = (at: bigint, p: readonly bigint[]) => p.forEach((v, i) => vm.guestMem.write64(gpa(at + BigInt(i * 8)), v));
  return { vm, l1pt, nested, a, b, pdpt, put };
}

function fixture() {
  const { vm, l1pt, nested: ept, a, b, pdpt, put } = tables('ept');
  // a and b are identity-mapped by EPT12; each maps GVA in all four quarters, so all four PDPTEs
  // are present (as vmx_32bit_build_pae_page_tables, vmx_tests.c:302-315).
  for (let q = 0n; q < 4n; q++) {
    a.map(q * QUARTER + GVA, A_N, { flags: { writable: true } });
    b.map(q * QUARTER + GVA, B_N, { flags: { writable: true } });
  }
  ept.map(0x100_0000n, 0x100_0000n, { count: 16 });
  ept.map(0x120_0000n, 0x120_0000n, { count: 16 });
  ept.map(A_N, A_G);
  ept.map(B_N, B_G);
  // The PDPT at L2's CR3 — as an L1 GPA and as an nGPA through EPT12 alike — is a copy of a's.
  ept.map(L2_CR3 & ~0xfffn, L2_CR3 & ~0xfffn);
  put(L2_CR3, pdpt(BigInt(a.root)));
  const v = vm.createVcpu({ ...L1_LONG, cr3: l1pt.root });
  const eptp = makeEptp({ root: ept.root, level: 4, adEnabled: false });
  const vmcs12 = pdpt(BigInt(b.root));
  const enter = (pdptes: readonly bigint[] | undefined) =>
    v.enterNestedEpt({ eptp, caps: DEFAULT_EPT_CAPS, l2: { ...L2_PAE, cr3: L2_CR3 }, ...(pdptes === undefined ? {} : { pdptes }) });
  return { vm, v, enter, vmcs12 };
}

describe('nested EPT, PAE L2: PDPTEs from vmcs12 (vmx/nested.c:2755-2762)', () => {
  it('L2 walks through vmcs12 GUEST_PDPTRn, not the PDPT at its CR3', () => {
    const f = fixture();
    f.enter(f.vmcs12); // vmx_tests.c:5889-5891: a clean PAE setup enters L2
    // vmx/nested.c:2758-2761: vmcs02's PDPTE registers are vmcs12's fields.
    expect(f.v.gvaWalk.pdptrs).toEqual(f.vmcs12);
    for (let q = 0n; q < 4n; q++) {
      const r = f.v.read(q * QUARTER + GVA + 0x10n);
      expect(r.status).toBe('ok');
      // vmx/nested.c:1157-1163: CR3 is not dereferenced, so b's tables (vmcs12) decide, not a's.
      expect(r.gpa).toBe(B_N + 0x10n);
      expect(r.l1Gpa).toBe(B_G + 0x10n);
    }
  });

  it('bits 9-11 of a PDPTE are ignored: the entry succeeds (vmx_tests.c:5916-5919)', () => {
    for (let i = 0; i < 4; i++) {
      for (let bit = 9n; bit <= 11n; bit++) {
        const f = fixture();
        const p = f.vmcs12.map((x, j) => (j === i ? x | (1n << bit) : x));
        f.enter(p);
        const r = f.v.read(BigInt(i) * QUARTER + GVA);
        expect(r.status).toBe('ok'); // vmx_tests.c:5919: test_guest_state(.., xfail = false, ..)
        expect(r.l1Gpa).toBe(B_G);
      }
    }
  });

  it('a present PDPTE with bit 52-63 set fails the entry; the vCPU stays in L1 (vmx_tests.c:5906-5912)', () => {
    for (let i = 0; i < 4; i++) {
      for (let bit = 52n; bit <= 63n; bit++) {
        const f = fixture();
        const l1Role = f.v.gvaWalk.role;
        const p = f.vmcs12.map((x, j) => (j === i ? x | (1n << bit) : x));
        // vmx_tests.c:5911-5912: xfail with qualification ENTRY_FAIL_PDPTE (asm/vmx.h:576); KVM
        // reflects the failed entry to L1 (vmx/nested.c:6514-6515).
        expect(thrownRule(() => f.enter(p), InvalidRegisterStateError)).toBe('vmcs12-pdpte-reserved');
        expect(f.v.guestMmu).toBeUndefined();
        expect(f.v.gvaWalk.role).toBe(l1Role);
      }
    }
  });

  it('a PAE L2 entry without vmcs12 PDPTEs is refused, state untouched', () => {
    const f = fixture();
    expect(thrownRule(() => f.enter(undefined), InvalidArgumentError)).toBe('pdptes-needed');
    expect(f.v.guestMmu).toBeUndefined();
    expect(thrownRule(() => f.enter([0n, 0n, 0n]), InvalidArgumentError)).toBe('pdptes-four');
    expect(thrownRule(() => f.enter([0n, 0n, 0n, 1n << 64n]), InvalidArgumentError)).toBe('pdpte-u64');
    expect(f.v.guestMmu).toBeUndefined();
  });
});

describe('nested NPT, PAE L2: PDPTEs read at CR3 as an nGPA (svm/nested.c:517-519)', () => {
  const L1_SVM = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE | EFER.SVME };
  const PDPT_G = 0x130_0000n; // the L1 page NPT12 maps L2's CR3 page to

  function nptFixture(o: { reserved?: bigint; mapPdpt?: boolean; pdptAt?: bigint; pdpte2?: bigint; pdpte0Or?: bigint } = {}) {
    const { vm, l1pt, nested: npt, a, b, pdpt: read, put } = tables('npt');
    a.map(GVA, A_N, { flags: { writable: true } });
    b.map(GVA, B_N, { flags: { writable: true } });
    const flags = { writable: true, user: true };
    npt.map(0x100_0000n, 0x100_0000n, { count: 16, flags });
    npt.map(0x120_0000n, 0x120_0000n, { count: 16, flags });
    npt.map(A_N, A_G, { flags });
    npt.map(B_N, B_G, { flags });
    const at = o.pdptAt ?? PDPT_G;
    if (o.mapPdpt ?? true) npt.map(L2_CR3 & ~0xfffn, at, { flags });
    // L1 GPA = L2's CR3 holds a's PDPT; the page NPT12 maps CR3's nGPA to holds b's.
    put(L2_CR3, read(BigInt(a.root)));
    const bp = read(BigInt(b.root)).map((v, i) => (i === 0 ? v | (o.pdpte0Or ?? 0n) : i === 1 ? v | (o.reserved ?? 0n) : i === 2 ? (o.pdpte2 ?? v) : v));
    if (at < 1n << 30n) put(at + (L2_CR3 & 0xfffn), bp);
    const v = vm.createVcpu({ ...L1_SVM, cr3: l1pt.root });
    const enter = () => v.enterNestedNpt({ ncr3: BigInt(npt.root), l1: { ...L1_SVM, cr3: l1pt.root }, l2: { ...L2_PAE, cr3: L2_CR3 } });
    return { v, enter, b: read(BigInt(b.root)), a: read(BigInt(a.root)), npt, put };
  }

  it('L2 walks through the PDPT NPT12 maps its CR3 to, not the L1 page at CR3', () => {
    const f = nptFixture();
    f.enter();
    // svm_tests.c:3865-3867: the PDPTEs come from memory at guest CR3 (an L2 GPA, so through
    // NPT12: x86.c:1043-1048); svm/nested.c:517-519: KVM itself does not read CR3 as an L1 GPA.
    expect(f.v.gvaWalk.pdptrs).toEqual(f.b);
    const r = f.v.read(GVA + 0x10n);
    expect(r.status).toBe('ok');
    expect(r.gpa).toBe(B_N + 0x10n);
    expect(r.l1Gpa).toBe(B_G + 0x10n);
  });

  it('a present PDPTE1 with bit 9-11 set is ignored: VMRUN succeeds (svm_tests.c:3837-3843: test_svm_guest_state(.., xfail = false, ..) at :3841)', () => {
    const f = nptFixture({ reserved: 1n << 10n });
    f.enter();
    expect(f.v.read(GVA).l1Gpa).toBe(B_G);
  });

  it('an NPT12 that does not map the PDPT: VMRUN succeeds; L2\'s first walk takes an NPF on the PDPT that L0 reflects to L1 (APM Vol. 2 §15.25.10; svm/nested.c:517-519)', () => {
    // Old model: VMRUN refused ('l2-pdpt-unmapped'). svm/nested.c:517-519: VMRUN with nested NPT
    // does not read the PDPT; the CPU reads PDPTE0 through NPT02 when L2 first walks GVA
    // (svm_tests.c:3808-3812: a bad PDPTE shows "only when the guest walks through it").
    const f = nptFixture({ mapPdpt: false });
    f.enter();
    expect(f.v.guestMode).toBe(true);
    expect(f.v.gvaWalk.pdptrs).toEqual([0n, 0n, 0n, 0n]); // nothing loaded
    const r = f.v.read(GVA + 0x10n);
    expect(r.status).toBe('l1-exit');
    // One NPF to L0 on a guest paging-structure access (EXITINFO1 bit 33, APM Vol. 2 §15.25.6),
    // which NPT12 does not allow either: nested_svm_inject_npf_exit (svm/nested.c:36-57) gives L1
    // an NPF at PDPTE0's own nGPA, CR3[31:5] + 8 × 0 (EXITINFO2 is the faulting access's address:
    // QEMU target/i386/tcg/system/excp_helper.c ptw_translate's `.cr2 = addr` for the PDPTE read
    // at `(cr3 & 0xffffffe0) + ((addr >> 27) & 0x18)`, raise_stage2 → exit_info_2; KVM keeps the
    // hardware's value, paging_tmpl.h:516 → svm/nested.c:50) with NPT12's not-present error code
    // for a W|U access (guest table accesses under nested paging are user writes, reference
    // kvm-mmu.md §6.6) and GUEST_PAGE (the hardware exit's high bits are kept, :42, :53-54).
    expect(r.exits).toHaveLength(1);
    expect(r.exits[0]).toMatchObject({ kind: 'npf', onGuestTable: true, gpa: L2_CR3, ret: 'reflected to L1' });
    expect(r.nestedExit).toMatchObject({ kind: 'npf', exitInfo2: L2_CR3, exitInfo1: (PFERR.WRITE | PFERR.USER) + 2 ** 33 });
    expect(f.v.guestMode).toBe(false);
  });

  it('L2\'s MOV to CR3 to a PDPT NPT12 does not map: no fault at the MOV; the next walk NPFs and L0 reflects it (old model: refused)', () => {
    const f = nptFixture();
    f.enter();
    expect(f.v.read(GVA).l1Gpa).toBe(B_G);
    const CR3_2 = 0x0177_7fe0n; // a page no NPT12 entry covers; bits 4:0 clear, 32-byte aligned
    // svm.c:1337: L2's MOV to CR3 is not intercepted with NPT, and under nested paging the CPU
    // loads no PDPTE at it (APM Vol. 2 §15.25.10): the MOV completes, nothing exits.
    const w = f.v.setRegisters({ cr3: CR3_2 });
    expect(w.exits ?? []).toEqual([]);
    expect(w.nestedExit).toBeUndefined();
    expect(f.v.regs.cr3).toBe(CR3_2);
    expect(f.v.guestMode).toBe(true);
    const r = f.v.read(GVA);
    expect(r.status).toBe('l1-exit');
    // EXITINFO2: PDPTE0's own nGPA, CR3_2 + 8 × 0 (as above).
    expect(r.nestedExit).toMatchObject({ kind: 'npf', exitInfo2: CR3_2, exitInfo1: (PFERR.WRITE | PFERR.USER) + 2 ** 33 });
  });

  it('L2\'s MOV to CR3 to a PDPT NPT12 maps but NPT02 not yet: the first walk\'s NPF is fixed by L0 from NPT12, then the walk completes', () => {
    const f = nptFixture();
    f.npt.map(0x177_7000n, PDPT_G, { flags: { writable: true, user: true } }); // same L1 page as CR3's
    f.enter();
    expect(f.v.read(GVA + 0x10n).l1Gpa).toBe(B_G + 0x10n); // NPT02 now maps b's PD, PT and data pages
    const w = f.v.setRegisters({ cr3: 0x0177_7560n }); // same offset 0x560 in the page: b's PDPTEs
    expect(w.exits ?? []).toEqual([]);
    const r = f.v.read(GVA + 0x10n);
    expect(r.status).toBe('ok');
    // kvm_mmu_page_fault on guest_mmu (npf_interception): NPT12 allows the W|U table access, so
    // FNAME(fetch) builds the NPT02 path (RET_PF_FIXED) and L2 re-walks (reference §6.6).
    expect(r.exits).toHaveLength(1);
    expect(r.exits[0]).toMatchObject({ kind: 'npf', onGuestTable: true, gpa: 0x177_7560n, ret: 'RET_PF_FIXED' }); // PDPTE0's nGPA
    expect(r.l1Gpa).toBe(B_G + 0x10n);
    expect(f.v.read(GVA + 0x10n).exits).toEqual([]); // NPT02 now maps it
  });

  it('the PDPTE in use is the one in memory at the walk, not one latched at VMRUN or MOV CR3 (no PDPTE registers under nested paging)', () => {
    // APM Vol. 2 §15.25.10; KVM's own view of it: svm_cache_reg re-reads the PDPTRs from memory
    // at CR3 on demand (svm.c:1665-1671), marked stale after every exit (svm.h:423-430,
    // svm.c:4524). Old model: the value read at VMRUN stayed in a register (B_G after the store).
    const f = nptFixture();
    f.enter();
    expect(f.v.read(GVA).l1Gpa).toBe(B_G);
    // A store to PDPTE0 (in the L1 page NPT12 maps L2's CR3 to) pointing it at a's page directory.
    f.put(PDPT_G + (L2_CR3 & 0xfe0n), f.a);
    const r = f.v.read(GVA + 0x10n);
    expect(r.status).toBe('ok');
    expect(r.l1Gpa).toBe(A_G + 0x10n);
    expect(f.v.gvaWalk.pdptrs![0]).toBe(f.a[0]); // the value the walk read
  });

  it('NPT12 maps the PDPT to L1 GPA 0: frame 0 is a frame (x86.c:1043-1048 translates CR3, then reads the page)', () => {
    const f = nptFixture({ pdptAt: 0n });
    f.enter();
    expect(f.v.gvaWalk.pdptrs).toEqual(f.b);
    expect(f.v.read(GVA + 0x10n).l1Gpa).toBe(B_G + 0x10n);
  });

  it('NPT12 maps the PDPT outside L1 memory: refused naming the L1 GPA, state untouched', () => {
    const f = nptFixture({ pdptAt: 0x8000_0000n }); // above the 1 GiB RAM slot
    const e = thrown(() => f.enter());
    expect(e).toBeInstanceOf(GpaOutsideMemoryError);
    expect((e as GpaOutsideMemoryError).rule).toBe('l2-pdpt-outside-l1-memory');
    expect(e.message).toMatch(/^L2's PAE PDPT maps to L1 GPA 0x80000560, which no memory slot covers/);
    expect(f.v.guestMmu).toBeUndefined();
  });

  it('reserved bits in a present PDPTE: VMRUN succeeds; L2 takes a #PF with RSVD walking through it, not through the others (svm_tests.c:3806-3835)', () => {
    // svm_tests.c:3812-3817: with NPT, bits 52-62 in PDPTE0 give #PF at L2's first fetch (it walks
    // through PDPTE0); in PDPTE1..3 the guest runs on to VMMCALL. pdptr_rsvd_bits (x86.c:1026-1029)
    // also reserves bits 1-2 and 5-8.
    for (const bit of [52n, 62n, 1n, 5n]) {
      const f = nptFixture({ pdpte0Or: 1n << bit });
      f.enter();
      const r = f.v.read(GVA);
      expect(r.status).toBe('guest-pf');
      if (r.guestWalk.status !== 'fault') throw new Error('expected a fault');
      expect(r.guestWalk.errorCode).toBe(PFERR.PRESENT | PFERR.RSVD);
      // The PDPTE read goes through NPT02 (APM Vol. 2 §15.25.10): its first read is an NPF L0 fixes
      // from NPT12 (RET_PF_FIXED); the #PF itself the CPU delivers to L2: nothing reflected.
      expect(r.exits).toHaveLength(1);
      expect(r.exits[0]).toMatchObject({ kind: 'npf', onGuestTable: true, gpa: L2_CR3, ret: 'RET_PF_FIXED' }); // PDPTE0's nGPA
      expect(r.nestedExit).toBeUndefined();
      // L2 has neither EFER.NXE nor CR4.SMEP: a fetch does not set I/D (SDM Vol. 3A §4.7).
      expect(f.v.fetch(GVA).guestWalk).toMatchObject({ status: 'fault', errorCode: PFERR.PRESENT | PFERR.RSVD });
      expect(f.v.write(GVA).guestWalk).toMatchObject({ status: 'fault', errorCode: PFERR.PRESENT | PFERR.RSVD | PFERR.WRITE });
    }
    // PDPTE2 present with reserved bit 1: VMRUN succeeds and a walk through PDPTE0 is unaffected.
    const g = nptFixture({ pdpte2: 3n });
    g.enter();
    expect(g.v.gvaWalk.pdptrs![2]).toBe(3n);
    expect(g.v.read(GVA).l1Gpa).toBe(B_G);
    expect(g.v.read(2n * 0x4000_0000n + GVA).guestWalk).toMatchObject({ status: 'fault', errorCode: PFERR.PRESENT | PFERR.RSVD });
    // Not present (bit 0 clear) with the same bit: a not-present fault, as for any absent PDPTE.
    const h = nptFixture({ pdpte2: 2n });
    h.enter();
    expect(h.v.read(GVA).l1Gpa).toBe(B_G);
    expect(h.v.read(2n * 0x4000_0000n + GVA).guestWalk).toMatchObject({ status: 'fault', errorCode: 0 });
  });
});
