/**
 * L0's own TDP root (root_mmu for L1) after MBEC/GMET, as kvm-7x.md states it:
 *  - §1.6 make_spte: for EPT (no NX mask) XS = bit 2 from ACC_EXEC and XU = bit 10 from
 *    ACC_USER_EXEC, "for TDP roots … because access = ACC_ALL" (INFERRED there); make_nonleaf_spte
 *    ORs xs | xu; legacy/NPT SPTEs: U from ACC_USER, NX (bit 63) from !ACC_EXEC, xs = xu = 0.
 *  - §1.3 / §1.6: mmu_has_mbec(mmu) = root_role.cr4_smep; §3.1: for a TDP root cr4_smep means
 *    "EPT MBEC enabled". ASSUMPTIONS (src/vm/vcpu.ts calcRootRole; only commit titles a6b7b6b2050c /
 *    fe080f58dec2 speak of L0's own use): L0 runs L1 with MBEC only when the VM says so
 *    (`spte.mbec`, default off), and the NPT root keeps cr4_smep (GMET) clear. Either way L1's
 *    supervisor and user fetches, whatever their page's U bit, never fault on XS/XU or U — one exit
 *    to map a page, none after.
 *  - §1.2 / §1.3: the hardware EPT-violation qualification of L1's final translation carries the
 *    advanced information bits 11:9 (user-mode / writable / execute-disable linear address), and
 *    7.3's __vmx_handle_ept_violation turns bit 9 into PFERR_USER (with PFERR_GUEST_FINAL).
 */
import { describe, expect, it } from 'vitest';
import { CR0, EPT_QUAL, NPF_GUEST_FINAL, PFERR, type KvmVersion } from '../../src';
import { fixture } from '../vm/fixtures';

const bit = (n: number): bigint => 1n << BigInt(n);
const VA_S = 0x7000_0000n; // supervisor page (U=0)
const VA_U = 0x7020_0000n; // user page (U=1)

function l1(kvm: KvmVersion, flavour: 'ept' | 'npt') {
  const f = fixture({ flavour, kvm }, '4K');
  f.pt.map(VA_S, 0x20_0000n, { flags: { writable: true } });
  f.pt.map(VA_U, 0x40_0000n, { flags: { writable: false, user: true, nx: true } });
  return f;
}

describe("L0's TDP root for L1 (root_mmu), KVM 7.3", () => {
  it('root role by default: access = ACC_ALL 0xF, cr4_smep (MBEC/GMET) clear, for EPT and NPT', () => {
    for (const flavour of ['ept', 'npt'] as const) {
      const { v } = l1('7.3', flavour);
      expect(v.rootRole.kvm).toBe('7.3');
      expect(v.rootRole.access).toBe(0xf); // kvm-7x.md §1.4 ACC_ALL, §3.1 access 11:8
      expect(v.rootRole.cr4Smep).toBe(false);
    }
  });

  it('EPT: every leaf and non-leaf SPTE grants R, W, XS and XU (bits 0, 1, 2, 10); 6.16 has no XU', () => {
    for (const kvm of ['7.3', '6.16'] as const) {
      const { vm, v } = l1(kvm, 'ept');
      v.fetch(VA_S);
      const root = v.currentRoot!;
      const leaf = vm.tdp.leaves(root).find(([g]) => g === 0x200)![2];
      const top = vm.tdp.readSpte(root, 0);
      const want = kvm === '7.3' ? 7n | bit(10) : 7n; // §1.6 make_spte / make_nonleaf_spte; reference §7.2
      expect(leaf & (7n | bit(10))).toBe(want);
      expect(top & (7n | bit(10))).toBe(want);
    }
  });

  it('NPT: leaves carry U and no NX (ACC_ALL), and no XS/XU (xs = xu = 0)', () => {
    const { vm, v } = l1('7.3', 'npt');
    v.fetch(VA_S);
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === 0x200)![2];
    expect(leaf & (bit(0) | bit(1) | bit(2))).toBe(bit(0) | bit(1) | bit(2)); // P, W, U
    expect(leaf & bit(63)).toBe(0n); // NX clear: ACC_EXEC in ACC_ALL
  });

  it('ASSUMPTION cr4_smep clear: supervisor and user fetches from U=0 and U=1 pages only take not-present exits, then none', () => {
    for (const flavour of ['ept', 'npt'] as const) {
      const { v, pt } = l1('7.3', flavour);
      pt.map(VA_U + 0x1000n, 0x40_1000n, { flags: { user: true } }); // user, executable
      for (const [va, user] of [[VA_S, false], [VA_U + 0x1000n, true]] as const) {
        const a = v.fetch(va, user);
        expect(a.status).toBe('ok');
        expect(a.exits.length).toBeGreaterThan(0);
        // Not present only: no PROT bit (EPT qualification bits 5:3) and no P in the NPF error code.
        for (const e of a.exits) expect(flavour === 'ept' ? Number(e.info) & 0x78 : Number(e.info) & PFERR.PRESENT).toBe(0);
        expect(v.fetch(va, user).exits.length).toBe(0);
      }
    }
  });
});

describe("L1's EPT-violation exit: advanced information bits 11:9 (KVM 7.3)", () => {
  const LADDR_PADDR = EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED;
  it('a user read of a read-only, execute-disable, user page: READ|VALID|TRANSLATED|GVA_USER|GVA_NX; error code FINAL|USER', () => {
    const { v } = l1('7.3', 'ept');
    const r = v.read(VA_U, true);
    const e = r.exits.find((x) => x.gpa >> 12n === 0x400n)!;
    // Bits 0, 7, 8 (kvm-unit-tests x86/vmx.h:645-657), 9 user-mode and 11 execute-disable
    // (vmx.h:658, 660; SDM via kvm-7x.md §1.2); bit 10 clear: the page is read-only.
    expect(Number(e.info)).toBe(EPT_QUAL.ACC_READ | LADDR_PADDR | EPT_QUAL.GVA_USER | EPT_QUAL.GVA_NX);
    // kvm-7x.md §1.3: a read sets no access bit, GVA_TRANSLATED → PFERR_GUEST_FINAL, bit 9 → PFERR_USER.
    expect(e.errorCode).toBe(BigInt(NPF_GUEST_FINAL) | BigInt(PFERR.USER));
  });

  it('a supervisor write of a writable, executable, supervisor page: WRITE|VALID|TRANSLATED|GVA_RW', () => {
    const { v } = l1('7.3', 'ept');
    const r = v.write(VA_S);
    const e = r.exits.find((x) => x.gpa >> 12n === 0x200n)!;
    expect(Number(e.info)).toBe(EPT_QUAL.ACC_WRITE | LADDR_PADDR | EPT_QUAL.GVA_WRITABLE);
    expect(e.errorCode).toBe(BigInt(NPF_GUEST_FINAL) | BigInt(PFERR.WRITE));
  });

  it('guest paging-structure accesses (bit 8 clear) report none of bits 11:9; v6.16 never does', () => {
    const { v } = l1('7.3', 'ept');
    const r = v.read(VA_U, true);
    for (const e of r.exits.filter((x) => x.onGuestTable)) expect(Number(e.info) & 0xe00).toBe(0);
    const old = l1('6.16', 'ept').v.read(VA_U, true);
    for (const e of old.exits) expect(Number(e.info) & 0xe00).toBe(0);
  });
});

describe("L1's EPT-violation exit with guest paging off (CR0.PG = 0): bits 11:9 (KVM 7.3)", () => {
  // SDM Vol. 3C Table 28-7 (exit qualification for EPT violations), bits 9-11, valid when bits 7
  // and 8 are set (kvm-7x.md §1.2): "If CR0.PG = 0, the translation of every linear address is a
  // user-mode linear address" (bit 9 = 1), "every linear address is read/write" (bit 10 = 1), and
  // "every linear address is executable" (bit 11 = 0). Transcribed in ia32-doc/ia32-doc
  // out/ia32.h:19383, :19396, :19409 (VMX_EXIT_QUALIFICATION_EPT_VIOLATION). Bit 7: the
  // guest-linear address is valid for every EPT violation but PDPTE loads; bit 8: the access is to
  // the translation of that (identity) linear address.
  const LADDR_PADDR = EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED;
  const USER_RW = EPT_QUAL.GVA_USER | EPT_QUAL.GVA_WRITABLE;
  function real(kvm: KvmVersion) {
    const f = fixture({ flavour: 'ept', kvm }, '4K');
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    return { ...f, v };
  }
  const cases = [
    ['read', EPT_QUAL.ACC_READ, 0],
    ['write', EPT_QUAL.ACC_WRITE, PFERR.WRITE],
    ['fetch', EPT_QUAL.ACC_INSTR, PFERR.FETCH],
  ] as const;
  for (const [op, acc, pf] of cases) {
    it(`a ${op} at a not-yet-mapped GPA: ${op.toUpperCase()}|VALID|TRANSLATED|GVA_USER|GVA_RW, no GVA_NX; error code FINAL|USER${pf ? '|' + (pf === PFERR.WRITE ? 'W' : 'F') : ''}`, () => {
      const { v } = real('7.3');
      const gpa = 0x30_0000n;
      const r = op === 'read' ? v.read(gpa) : op === 'write' ? v.write(gpa) : v.fetch(gpa);
      expect(r.status).toBe('ok');
      const e = r.exits.find((x) => x.gpa >> 12n === gpa >> 12n)!;
      expect(e.onGuestTable).toBe(false);
      expect(Number(e.info)).toBe(acc | LADDR_PADDR | USER_RW); // Table 28-7 bits 0-2, 7, 8, 9, 10; bit 11 = 0
      // kvm-7x.md §1.3: bit 8 → PFERR_GUEST_FINAL, bit 9 → PFERR_USER; W / F from bits 1 / 2; no PROT bit → no P.
      expect(e.errorCode).toBe(BigInt(NPF_GUEST_FINAL) | BigInt(PFERR.USER) | BigInt(pf));
    });
  }
  it('v6.16 reports none of bits 11:9 with paging off either', () => {
    const { v } = real('6.16');
    const r = v.read(0x30_0000n);
    for (const e of r.exits) expect(Number(e.info) & 0xe00).toBe(0);
  });
});

describe("L0 runs L1 with MBEC (spte.mbec, KVM 7.3): L1's TDP root has cr4_smep and mmu_has_mbec", () => {
  // kvm-7x.md §3.1 (2026 kvm_host.h comment): base.cr4_smep (bit 20) means "EPT MBEC enabled (TDP
  // or shadow EPT)"; §1.6: mmu_has_mbec(mmu) = root_role.cr4_smep; §1.2: with MBEC, qualification
  // bit 6 is the AND of XU. ASSUMPTION (src/spte/spte-config.ts `mbec`, src/vm/vcpu.ts
  // calcRootRole): the root's access stays ACC_ALL, so its SPTEs grant R|W|XS|XU — the
  // kvm-unit-tests [ept-mbec] row RW|XS|XU, where every access passes (kvm-7x.md §6.1;
  // vmx_tests.c:3184-3187) — and L1 runs as without MBEC. The expected qualifications below are
  // the [ept-mbec] rows of kvm-7x.md §6.1 that the root's SPTEs take on.
  const LADDR_PADDR = EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED;
  const { ACC_WRITE: WR, ACC_INSTR: F, PROT_READ: pR, PROT_WRITE: pW, PROT_EXEC: pX, PROT_USER_EXEC: pU } = EPT_QUAL;
  function mbecVm(extra: { nxHugePages?: boolean } = {}, host: '4K' | '2M' = '4K') {
    const f = fixture({ flavour: 'ept', mbec: true, ...extra }, host);
    f.pt.map(VA_S, 0x20_0000n, { flags: { writable: true } });
    f.pt.map(VA_U, 0x40_0000n, { flags: { writable: true, user: true } });
    return f;
  }

  it('root role: cr4_smep (bit 20) set, access ACC_ALL; its word is the non-MBEC word | 1 << 20', () => {
    const on = mbecVm().v.rootRole;
    const off = l1('7.3', 'ept').v.rootRole;
    expect(on.cr4Smep).toBe(true);
    expect(on.access).toBe(0xf); // kvm-7x.md §1.4 ACC_ALL
    expect(on.word).toBe(off.word | (1 << 20)); // §3.1: cr4_smep is base bit 20; nothing else differs
    const { vm, v } = mbecVm();
    v.read(VA_S);
    expect(v.currentRoot!.role.cr4Smep).toBe(true); // the root the TDP MMU built is keyed by it (§7.1 item 3)
    void vm;
  });

  it('SPTEs grant R, W, XS and XU; supervisor and user fetches from U=0 and U=1 pages take not-present exits only, then none (vmx_tests.c:3184-3187)', () => {
    const { vm, v } = mbecVm();
    for (const [va, user] of [[VA_S, false], [VA_U, true]] as const) {
      const a = v.fetch(va, user);
      expect(a.status).toBe('ok');
      for (const e of a.exits) expect(Number(e.info) & 0x78).toBe(0); // no PROT bit 3-6: not present
      expect(v.fetch(va, user).exits.length).toBe(0);
    }
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === 0x200)![2];
    expect(leaf & (7n | bit(10))).toBe(7n | bit(10));
  });

  it('a write to a write-protected (dirty-logged) SPTE: WR|pR|pX|pU — row R|XS|XU, WRITE (vmx_tests.c:3128-3133); without MBEC WR|pR|pX (row R|X, :3088-3095)', () => {
    for (const mbec of [true, false]) {
      const f = mbec ? mbecVm() : l1('7.3', 'ept');
      if (!mbec) f.pt.map(VA_S, 0x20_0000n, { flags: { writable: true } });
      f.v.read(VA_S);
      f.vm.setDirtyLogging(f.ram, true);
      const r = f.v.write(VA_S);
      expect(r.status).toBe('ok');
      const e = r.exits.find((x) => x.gpa >> 12n === 0x200n)!;
      // bits 9-11 (supervisor, writable, executable linear address): GVA_RW only (kvm-7x.md §1.2).
      expect(Number(e.info)).toBe(WR | pR | pX | (mbec ? pU : 0) | LADDR_PADDR | EPT_QUAL.GVA_WRITABLE);
      // kvm-7x.md §1.3: W, and P from R/W/XS in the PROT bits; FINAL from bit 8.
      expect(e.errorCode).toBe(BigInt(PFERR.WRITE | PFERR.PRESENT) | BigInt(NPF_GUEST_FINAL));
    }
  });

  it('NX huge pages: a fetch from a 2M SPTE that make_spte stripped of XS and XU is F|pR|pW for supervisor and user alike — row RW (vmx_tests.c:3004-3011)', () => {
    for (const [va, user] of [[VA_S, false], [VA_U, true]] as const) {
      const f = mbecVm({ nxHugePages: true }, '2M');
      f.v.read(va, user); // maps a 2M SPTE; the mitigation clears EXEC and, with shadow_xu_mask, USER_EXEC (kvm-7x.md §1.6)
      const huge = f.vm.tdp.leaves(f.v.currentRoot!).find(([g]) => g === (va === VA_S ? 0x200 : 0x400))!;
      expect(huge[2] & (bit(2) | bit(10))).toBe(0n);
      const r = f.v.fetch(va, user);
      expect(r.status).toBe('ok');
      const e = r.exits.find((x) => x.gpa >> 12n === (va === VA_S ? 0x200n : 0x400n))!;
      const guest = user ? EPT_QUAL.GVA_USER | EPT_QUAL.GVA_WRITABLE : EPT_QUAL.GVA_WRITABLE;
      expect(Number(e.info)).toBe(F | pR | pW | LADDR_PADDR | guest);
      expect(e.errorCode).toBe(BigInt(PFERR.FETCH | PFERR.PRESENT | (user ? PFERR.USER : 0)) | BigInt(NPF_GUEST_FINAL));
    }
  });

  it('typed errors: MBEC needs EPT and the 7.3 model', () => {
    expect(() => fixture({ flavour: 'npt', mbec: true })).toThrow(expect.objectContaining({ rule: 'mbec-needs-ept' }));
    expect(() => fixture({ flavour: 'ept', mbec: true, kvm: '6.16' })).toThrow(expect.objectContaining({ rule: 'mbec-version' }));
  });
});
