/**
 * Walk2D pieces the scenario tests reach only in part, asserted exactly so that mutation testing
 * finds a failing test: the PDPTE registers of a PAE L2 (`x86.c: load_pdptrs`), CR3 of a 4-level
 * L2 above 4 GiB, which U the final nested access carries (v6.16 `translate_nested_gpa`; 7.3 with
 * MBEC/GMET), the raw walk's results, the reference counts of a huge-page walk, and the record's
 * fields. Expected values cite Linux v6.16.1 (arch/x86/kvm/x86.c, mmu/mmu.c, mmu/paging_tmpl.h,
 * vmx/nested.c), kvm-unit-tests (x86/vmx_tests.c, x86/svm_npt.c), the Intel SDM / AMD APM, or the
 * 2D-walk reference formula n·(m+1) + m (refs-2d.ts, reference §6.7).
 */
import { describe, expect, it } from 'vitest';
import {
  EPT_QUAL, PFERR, NPF_GUEST_FINAL, PageTableBuilder, NgpaWalker, Walk2D, WalkStop, gpa, DEFAULT_FEATURES,
  InvalidArgumentError, InvalidRegisterStateError, type Walk2DResult,
} from '../../src';
import { DATA_G, DATA_N, GVA, L2_POOL, NESTED_POOL, caught, l1Mem, l1RegsFor, l2Regs, mbecTwoDSetup, twoDSetup } from './support';

const F46 = { ...DEFAULT_FEATURES, maxPhyAddr: 46 };
const pageOf = (a: bigint): bigint => a & ~0xfffn;

/** The outcome of a walk as the tests compare it. */
function stageOf(r: Walk2DResult): string {
  return `${r.status}/${r.stage}`;
}

describe('Walk2D construction', () => {
  it("an L2 MAXPHYADDR wider than the nested tables: the message names the tables and their width", () => {
    const n = twoDSetup('paging4', 'npt3');
    const e1 = caught(() => new Walk2D(n.w, { regs: l2Regs('paging4', n.l2b!.root), features: { ...DEFAULT_FEATURES, maxPhyAddr: 33 } }));
    expect(e1).toBeInstanceOf(InvalidArgumentError);
    expect(e1.message).toContain("L2's MAXPHYADDR 33 exceeds what the 3-level NPT12 translates (32 bits)");
    const e = twoDSetup('paging4', 'ept4');
    const e2 = caught(() => new Walk2D(e.w, { regs: l2Regs('paging4', e.l2b!.root), features: { ...DEFAULT_FEATURES, maxPhyAddr: 49 } }));
    expect(e2.message).toContain("L2's MAXPHYADDR 49 exceeds what the 4-level EPT12 translates (48 bits)");
  });

  it('the role is a guest-mode role (mmu.c:5542 role.base.guest_mode = is_guest_mode(vcpu))', () => {
    expect(twoDSetup('paging4', 'ept4').w2.role.base.guestMode).toBe(true);
    expect(twoDSetup('pae', 'npt4').w2.role.base.guestMode).toBe(true);
  });

  it('toString names L2 paging mode and the nested tables', () => {
    expect(String(twoDSetup('paging4', 'ept4').w2)).toBe('Walk2D(L2 4-level on 4-level EPT12)');
    expect(String(twoDSetup('pae', 'npt3').w2)).toBe('Walk2D(L2 PAE on 3-level NPT12)');
  });

  it('a 4-level L2 with CR3 above 4 GiB: the root is CR3 bits 51:12 (SDM Vol. 3A 4.5, Table 4-12)', () => {
    const s = twoDSetup('paging4', 'ept4');
    const alias = 0x8_0700_0000n; // EPT12 maps this nGPA to L2's root table; 0x0700_0000 is unmapped
    s.b.map(alias, s.l2b!.root);
    const w2 = new Walk2D(s.w, { regs: l2Regs('paging4', alias), features: F46 });
    const r = w2.walk(GVA, { kind: 'read', user: true });
    expect(stageOf(r)).toBe('ok/gva_walk');
    expect(r.status === 'ok' && r.gpa).toBe(DATA_G);
    expect(r.refs[0]!.ngpa).toBe(alias); // the first nested walk translates the root's nGPA
    expect(r.refs[4]!.kind).toBe('guest');
    expect(pageOf(r.refs[4]!.ngpa)).toBe(alias);
  });
});

describe('PAE L2: the PDPTE registers (x86.c: load_pdptrs)', () => {
  it('given registers come back as given, all four and both halves; a not-present PDPTE may hold reserved bits (x86.c:1059-1060)', () => {
    const s = twoDSetup('pae', 'ept4');
    const regs = l2Regs('pae', s.l2b!.root);
    const p0 = s.mem.read64(gpa(s.l2b!.root));
    const given = [p0, 0x2_0000_1001n, 0x20n, 0x3_4567_8001n];
    const w2 = new Walk2D(s.w, { regs, pdptrs: given, features: F46 });
    expect(w2.pdptrs).toEqual(given);
    expect(w2.walk(GVA, { kind: 'read' }).status).toBe('ok');
  });

  it('a PDPTE register value must fit 64 bits (either end)', () => {
    const s = twoDSetup('pae', 'ept4');
    const regs = l2Regs('pae', s.l2b!.root);
    for (const v of [1n << 64n, -1n]) {
      const e = caught(() => new Walk2D(s.w, { regs, pdptrs: [0n, v, 0n, 0n], features: F46 }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.rule).toBe('pdpte-width');
      expect(e.message).toContain('PDPTE1 must be a 64-bit value');
    }
    const r = caught(() => new Walk2D(s.w, { regs, pdptrs: [0n, 0n, 1n | (1n << 6n), 0n], features: F46 }));
    expect(r.rule).toBe('pdpte-reserved');
    expect(r.message).toContain('PDPTE2 has reserved bits 0x40 set');
    expect(caught(() => new Walk2D(s.w, { regs, pdptrs: [0n], features: F46 })).message).toContain('PAE has four PDPTE registers');
  });

  it('loaded from memory: four entries from CR3 bits 11:5 (x86.c:1053-1054), a not-present one may hold reserved bits, a fifth is not read', () => {
    const s = twoDSetup('pae', 'ept4');
    const root = s.l2b!.root;
    const p0 = s.mem.read64(gpa(root));
    // CR3 = root + 0x20: the PDPT is the second 32-byte block of the page.
    s.mem.write64(gpa(root + 0x20n), p0);
    s.mem.write64(gpa(root + 0x28n), 0x20n); // not present, reserved bit 5: no #GP (x86.c:1059)
    s.mem.write64(gpa(root + 0x30n), 0x7_0000_0001n); // present, above 4 GiB (high half)
    s.mem.write64(gpa(root + 0x40n), 1n | (1n << 5n)); // a fifth PDPTE would be reserved: never read
    const w2 = new Walk2D(s.w, { regs: l2Regs('pae', root | 0x20n), features: F46 });
    expect(w2.pdptrs).toEqual([p0, 0x20n, 0x7_0000_0001n, 0n]);
    const r = w2.walk(GVA + 0x18n, { kind: 'read' });
    expect(r.status === 'ok' && r.gpa).toBe(DATA_G + 0x18n);
    // With the reserved bit in a present PDPTE the load fails (x86.c:1059-1061), naming it.
    s.mem.write64(gpa(root + 0x28n), 0x21n);
    const e = caught(() => new Walk2D(s.w, { regs: l2Regs('pae', root | 0x20n), features: F46 }));
    expect(e.rule).toBe('pdpte-reserved');
    expect(e.message).toContain('PDPTE1 has reserved bits 0x20 set');
  });

  it('the PDPT page translated outside every L1 slot: the load fails (x86.c:1053-1056)', () => {
    const s = twoDSetup('pae', 'ept4');
    s.b.map(0x0900_0000n, 0x2_0000_0000n);
    const e = caught(() => new Walk2D(s.w, { regs: l2Regs('pae', 0x0900_0000n), features: F46 }));
    expect(e).toBeInstanceOf(InvalidRegisterStateError);
    expect(e.rule).toBe('pdpt-outside-memory');
    expect(e.message).toContain('maps to GPA 0x200000000');
  });

  it('the PDPT page EPT12 does not map: the error names the rule, the nGPA and the exit (x86.c:1047-1050)', () => {
    const s = twoDSetup('pae', 'ept4');
    const root = s.l2b!.root;
    s.b.unmap(pageOf(root));
    const e = caught(() => new Walk2D(s.w, { regs: l2Regs('pae', root), features: F46 }));
    expect(e.rule).toBe('pdpt-nested-fault');
    expect(e.message).toContain(`L2's PAE PDPT at nGPA 0x${root.toString(16)} cannot be loaded: EPT violation (exit 48)`);
  });

  // load_pdptrs translates CR3's page through the nested MMU (x86.c:1047-1048: kvm_translate_gpa with
  // PFERR_USER_MASK | PFERR_WRITE_MASK → translate_nested_gpa, x86.c:7643-7644 → the EPT12/NPT12
  // walk_addr_generic) before it reads (:1053-1056) and checks (:1058-1062) the PDPTEs. The walk's
  // success sets A at every level and, the access being a write, D at the leaf
  // (paging_tmpl.h:465-467 → update_accessed_dirty_bits :212-229; EPT12 only with A/D enabled,
  // :58; NPT12 always, :31). A load refused afterwards leaves those bits set.
  const nestedAd = (s: ReturnType<typeof twoDSetup>, page: bigint): bigint[] => {
    const [a, d] = s.tdp === 'ept' ? [1n << 8n, 1n << 9n] : [1n << 5n, 1n << 6n];
    return [4, 3, 2, 1].map((l) => ((s.b.getEntry(page, l).value & a) !== 0n ? 1n : 0n) | ((s.b.getEntry(page, l).value & d) !== 0n ? 2n : 0n));
  };
  const clearNestedAd = (s: ReturnType<typeof twoDSetup>, page: bigint): void => {
    const ad = s.tdp === 'ept' ? (1n << 8n) | (1n << 9n) : (1n << 5n) | (1n << 6n);
    for (const l of [4, 3, 2, 1]) s.b.setEntry(page, l, s.b.getEntry(page, l).value & ~ad);
  };

  for (const nk of ['ept4', 'npt4'] as const) {
    it(`${nk}: a load refused for a reserved bit in a present PDPTE leaves the nested A bits and the leaf's D set (x86.c:1047-1062)`, () => {
      const s = twoDSetup('pae', nk, { ad: true });
      const root = s.l2b!.root;
      clearNestedAd(s, pageOf(root));
      expect(nestedAd(s, pageOf(root))).toEqual([0n, 0n, 0n, 0n]);
      s.mem.write64(gpa(root + 0x18n), 0x21n); // PDPTE3 present with bit 5 set (pdptr_rsvd_bits: rsvd_bits(5, 8), x86.c:1059-1060)
      const e = caught(() => new Walk2D(s.w, { regs: l2Regs('pae', root), features: F46 }));
      expect(e.rule).toBe('pdpte-reserved');
      // A (1) at levels 4..2, A|D (3) at the leaf: paging_tmpl.h:217-220, 221-228.
      expect(nestedAd(s, pageOf(root))).toEqual([1n, 1n, 1n, 3n]);
    });
  }

  it('ept4 with A/D: a PDPT translated outside every L1 slot is refused after the translate set A/D (x86.c:1047-1056)', () => {
    const s = twoDSetup('pae', 'ept4', { ad: true });
    s.b.map(0x0900_0000n, 0x2_0000_0000n);
    clearNestedAd(s, 0x0900_0000n);
    const e = caught(() => new Walk2D(s.w, { regs: l2Regs('pae', 0x0900_0000n), features: F46 }));
    expect(e.rule).toBe('pdpt-outside-memory');
    expect(nestedAd(s, 0x0900_0000n)).toEqual([1n, 1n, 1n, 3n]);
  });

  it('ept4 without A/D: the same refused load sets no EPT12 bit (paging_tmpl.h:58, 208-210)', () => {
    const s = twoDSetup('pae', 'ept4', { ad: false });
    const root = s.l2b!.root;
    const before = [4, 3, 2, 1].map((l) => s.b.getEntry(pageOf(root), l).value);
    s.mem.write64(gpa(root + 0x18n), 0x21n);
    expect(caught(() => new Walk2D(s.w, { regs: l2Regs('pae', root), features: F46 })).rule).toBe('pdpte-reserved');
    expect([4, 3, 2, 1].map((l) => s.b.getEntry(pageOf(root), l).value)).toEqual(before);
  });

  it('the PDPT at L1 GPA 0 (frame 0 is a frame like any other)', () => {
    const s = twoDSetup('pae', 'ept4');
    const root = s.l2b!.root;
    for (let i = 0n; i < 4n; i++) s.mem.write64(gpa(i * 8n), s.mem.read64(gpa(root + i * 8n)));
    s.b.map(0x0900_0000n, 0n);
    const w2 = new Walk2D(s.w, { regs: l2Regs('pae', 0x0900_0000n), features: F46 });
    expect(w2.pdptrs![0]).toBe(s.mem.read64(gpa(root)));
    expect(w2.walk(GVA, { kind: 'read' }).status).toBe('ok');
  });

  it("a reload translates CR3's page with W|U again (x86.c:1047-1048): EPT12 A and D set anew", () => {
    const s = twoDSetup('pae', 'ept4', { ad: true });
    const page = pageOf(s.l2b!.root);
    const leaf = s.b.getEntry(page, 1).value;
    expect(leaf & 0x300n).toBe(0x300n);
    s.b.setEntry(page, 1, leaf & ~0x300n);
    s.w2.reloadPdptrs();
    expect(s.b.getEntry(page, 1).value & 0x300n).toBe(0x300n); // SDM 29.3.5: A bit 8, D bit 9
  });

  it('outside PAE there are no PDPTE registers; a reload does nothing', () => {
    const s = twoDSetup('paging4', 'ept4');
    expect(s.w2.pdptrs).toBeUndefined();
    expect(() => s.w2.reloadPdptrs()).not.toThrow();
    expect(s.w2.walk(GVA, { kind: 'read' }).status).toBe('ok');
  });
});

describe('which U the final nested access carries', () => {
  it("KVM '6.16': U for a supervisor page too (x86.c:7643 access |= PFERR_USER_MASK): a read of an execute-only EPT12 page faults", () => {
    const s = twoDSetup('paging4', 'ept4', { kvm: '6.16' });
    s.l2b!.map(0x0080_0000n, DATA_N, { flags: { writable: true } }); // supervisor page
    s.b.map(DATA_N, DATA_G, { flags: { read: false, write: false } });
    const r = s.w2.walk(0x0080_0000n, { kind: 'read' });
    expect(stageOf(r)).toBe('fault/ngpa_walk');
    // The EPT walk reports PFERR_USER as READ (paging_tmpl.h: EPT "U" is readable); the leaf allows X only.
    expect(r.status === 'fault' && 'exit' in r && r.exit.kind === 'ept-violation' && r.exit.qualification).toBe(
      EPT_QUAL.ACC_READ | EPT_QUAL.PROT_EXEC | EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED,
    );
  });

  const mbec = (leaf: bigint) => mbecTwoDSetup(leaf).w2;

  it("KVM '7.3' EPT12 with MBEC: XS or XU by the linear address, not the CPL (kvm-7x.md §1.1; vmx_tests.c:3091-3095)", () => {
    // A supervisor fetch from a user page (U/S = 1 at every level; CR4.SMEP is off) is a fetch
    // for a user-mode linear address: XU is checked, and an R|XS leaf refuses it.
    const r = mbec(1n | 4n).walk(0x80_0000n, { kind: 'fetch' });
    expect(stageOf(r)).toBe('fault/ngpa_walk');
    expect(r.status === 'fault' && 'exit' in r && r.exit.kind === 'ept-violation' && r.exit.qualification & 0x7f).toBe(
      EPT_QUAL.ACC_INSTR | EPT_QUAL.PROT_READ | EPT_QUAL.PROT_EXEC,
    );
  });

  it("KVM '7.3' EPT12 with MBEC: the raw walk takes U from its own guest walk, not from the walk before", () => {
    const w2 = mbec(1n | 4n);
    // Set the A bits of both L2 paths, then walk the supervisor page last.
    expect(w2.walkRaw(0, 0x80_0000, PFERR.USER)).toBe(WalkStop.Ok);
    expect(w2.walkRaw(0, 0x40_0000, PFERR.FETCH)).toBe(WalkStop.Ok);
    expect(w2.walkRaw(0, 0x40_0000, PFERR.FETCH)).toBe(WalkStop.Ok);
    // The user page's fetch needs XU, which the R|XS leaf lacks (vmx_tests.c:3093-3095).
    expect(w2.walkRaw(0, 0x80_0000, PFERR.FETCH | PFERR.USER)).toBe(WalkStop.SecondStage);
  });

  it("KVM '7.3' NPT12 with GMET: U is the access's own, so a supervisor fetch from an NPT U=1 page is an NPF (svm_npt.c:160)", () => {
    const mem = l1Mem();
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(NESTED_POOL), size: 0x100_0000n } });
    b.map(L2_POOL, L2_POOL, { count: 256, flags: { user: true, writable: true } });
    b.map(DATA_N, DATA_G, { flags: { user: true, writable: true } });
    const w = NgpaWalker.npt(mem, { ncr3: b.root, l1: l1RegsFor(4), features: { ...F46, vendor: 'amd' }, kvm: '7.3', gmet: true });
    const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(L2_POOL), size: 0x10_0000n } });
    l2.map(GVA, DATA_N, { flags: { writable: true, user: true } }); // a user page, fetched at CPL 0 (no SMEP)
    const w2 = new Walk2D(w, { regs: l2Regs('paging4', l2.root), features: F46 });
    const r = w2.walk(GVA, { kind: 'fetch' });
    expect(stageOf(r)).toBe('fault/ngpa_walk');
    // svm_npt.c:160: EXITINFO1 & ~U == GUEST_FINAL | P | I/D (0x1_0000_0011).
    expect(r.status === 'fault' && 'exit' in r && r.exit.kind === 'npf' && r.exit.exitInfo1 - (r.exit.exitInfo1 & PFERR.USER)).toBe(NPF_GUEST_FINAL + PFERR.PRESENT + PFERR.FETCH);
    expect(w2.walk(GVA, { kind: 'fetch', user: true }).status).toBe('ok');
  });
});

describe('the raw walk', () => {
  it('names the bad argument', () => {
    const { w2 } = twoDSetup('paging4', 'ept4');
    expect(caught(() => w2.walkRaw(-1, 0, 0)).message).toMatch(/^vhi /);
    expect(caught(() => w2.walkRaw(0, 2 ** 32, 0)).message).toMatch(/^vlo /);
    expect(caught(() => w2.walkRaw(0, 0, 1 << 20)).message).toMatch(/^access /);
  });

  it("the error code of a #PF to L2 is L2's (SDM 4.7: P|W|U); of a nested fault, the nested walk's (APM: EXITINFO1 low half)", () => {
    const s = twoDSetup('paging4', 'npt4');
    s.l2b!.map(GVA, DATA_N, { flags: { user: true } }); // read-only for L2
    expect(s.w2.walkRaw(0, Number(GVA), PFERR.WRITE | PFERR.USER)).not.toBe(WalkStop.Ok);
    expect(s.w2.lastErrorCode).toBe(PFERR.PRESENT | PFERR.WRITE | PFERR.USER);
    s.b.unmap(DATA_N);
    expect(s.w2.walkRaw(0, Number(GVA), PFERR.USER)).toBe(WalkStop.SecondStage);
    expect(s.w2.lastErrorCode).toBe(PFERR.USER); // not present, user read
  });

  it('a second walk (A bits now set) counts and records the same references as the first', () => {
    const s = twoDSetup('paging4', 'ept4');
    const first = s.w2.walk(GVA, { kind: 'read', user: true });
    const second = s.w2.walk(GVA, { kind: 'read', user: true });
    expect(second.refCount).toBe(24); // refs2d(4, 4) = 4·5 + 4
    expect(second.refs.length).toBe(24);
    expect(second.refs.map((x) => x.kind[0]).join('')).toBe(first.refs.map((x) => x.kind[0]).join(''));
    expect(s.w2.walkRaw(0, Number(GVA), PFERR.USER)).toBe(WalkStop.Ok);
    expect(s.w2.lastRefCount).toBe(24);
    expect(s.w2.lastGfn).toBe(Number(DATA_G >> 12n));
  });
});

describe('the record', () => {
  it('a 2 MiB L2 page whose final translation faults: 3 L2 entries, 3 table translations, and the 3 EPT12 entries up to the missing PDE', () => {
    const s = twoDSetup('paging4', 'ept4');
    s.l2b!.map(0x4000_0000n, 0x0800_0000n, { size: '2M', flags: { user: true } });
    const r = s.w2.walk(0x4012_3456n, { kind: 'read', user: true });
    expect(stageOf(r)).toBe('fault/ngpa_walk');
    // 3·(4+1) for the three L2 levels read, then the final walk stops at the not-present EPT12
    // PDE of 0x0800_0000 (PML4E, PDPTE, PDE: 3 reads; paging_tmpl.h walk_addr_generic stops there).
    expect(r.refCount).toBe(18);
    expect(r.refs.length).toBe(18);
    expect(r.status === 'fault' && r.detail).toMatch(/^final translation at nGPA 0x8123000: /);
  });

  it('a nested fault on an L2 table says which level', () => {
    const s = twoDSetup('paging4', 'ept4');
    const pdpt = pageOf(s.l2b!.path(GVA)[1]!.gpa);
    s.b.unmap(pdpt);
    const r = s.w2.walk(GVA, { kind: 'read', user: true });
    expect(r.status === 'fault' && r.detail).toMatch(new RegExp(`^L2 level-3 table at nGPA 0x${pdpt.toString(16)}: `));
  });

  it('nested entries carry both halves of their value and of the A/D update (EPT A bit 8, SDM 29.3.5)', () => {
    const s = twoDSetup('paging4', 'ept4', { ad: true });
    // A GPA above 4 GiB (no L1 slot there: L2 sees MMIO): the leaf's high half is 3, unlike any
    // neighbouring word of the trace (levels, 0/1 flags, table addresses below 4 GiB).
    s.b.map(DATA_N, 0x3_0000_0000n);
    const before = s.b.getEntry(DATA_N, 1).value;
    const r = s.w2.walk(GVA, { kind: 'read', user: true });
    expect(r.status === 'ok' && r.gpa).toBe(0x3_0000_0000n);
    const last = r.refs[r.refs.length - 1]!;
    expect([last.kind, last.guestLevel, last.level]).toEqual(['nested', 0, 1]);
    expect(last.value).toBe(before);
    expect(last.updated).toBe(before | 0x100n);
    expect(last.value >> 32n).toBe(3n); // set-up: bits 33:32 of the address
  });

  it('paging off: the dirty log gets the page of the written nGPA (nested.c:3460 gpa &= ~0xFFF); an ok record is a gva_walk with no trace', () => {
    const s = twoDSetup('off', 'ept4', { ad: true });
    const r = s.w2.walk(DATA_N + 0x44n, { kind: 'write' });
    expect(r.dirtyLogged).toEqual([DATA_N]);
    expect(r).toMatchObject({ status: 'ok', stage: 'gva_walk', nestedPageFault: false, gpa: DATA_G + 0x44n, ngpa: DATA_N + 0x44n });
    expect(r.trace).toEqual([]);
  });

  it('a paged ok record is a gva_walk, not a nested fault; a #PF to L2 has no nGPA', () => {
    const s = twoDSetup('paging4', 'ept4');
    expect(s.w2.walk(GVA, { kind: 'read', user: true })).toMatchObject({ status: 'ok', stage: 'gva_walk', nestedPageFault: false, ngpa: DATA_N });
    s.l2b!.unmap(GVA);
    const f = s.w2.walk(GVA, { kind: 'read', user: true });
    expect(f).toMatchObject({ status: 'fault', stage: 'gva_walk', nestedPageFault: false });
    expect('ngpa' in f).toBe(false);
  });

  it('translate: the L1 GPA, or undefined on a fault', () => {
    const s = twoDSetup('paging4', 'ept4');
    expect(s.w2.translate(GVA + 5n, { kind: 'read', user: true })).toBe(DATA_G + 5n);
    s.b.unmap(DATA_N);
    expect(s.w2.translate(GVA + 5n, { kind: 'read', user: true })).toBeUndefined();
  });
});

describe('linear addresses of L2', () => {
  it('5-level L2: 57-bit canonical addresses are walked (SDM Vol. 3A 4.5.1)', () => {
    const s = twoDSetup('paging5', 'ept4');
    expect(s.w2.walk(0x0080_0000_0000_0000n, { kind: 'read' }).status).toBe('fault');
  });

  it('outside long mode: 32 bits, and the message names the mode', () => {
    const s = twoDSetup('pae', 'ept4');
    expect(caught(() => s.w2.walk(0x1_0000_0000n, { kind: 'read' })).message).toContain('outside long mode linear addresses are 32 bits wide (L2 paging mode: PAE)');
  });
});
