/**
 * L2's own CR0/CR3/CR4 writes while L2 runs on guest_mmu (nested EPT/NPT). In KVM the registers
 * are L2's and `mmu_is_nested` holds, so `kvm_init_mmu` re-initialises nested_mmu, the walk of
 * L2's tables (mmu.c:5846-5847 → init_kvm_nested_mmu, mmu.c:5802-5838); guest_mmu's roles come
 * from EPTP12 / L1's state at VMRUN, and L1's registers are in vmcs01/vmcb01, untouched.
 * MOV to CR3 is not intercepted by L0 with EPT (vmx.c:4477-4481 clears CR3-load exiting; vmx.c:5478
 * WARNs if one arrives with unrestricted guest) nor with NPT (svm.c:1337): KVM does no MMU work.
 * A role-bit CR0/CR4 change is kvm_mmu_reset_context (x86.c:1129-1130, 1303-1304; mmu.c:5884-5888),
 * whose kvm_mmu_unload frees root_mmu's and guest_mmu's roots (mmu.c:5925-5934).
 *
 * `vcpu.regs` and `vcpu.role` are the running guest's: KVM's vcpu->arch.cr0/cr3/cr4/efer hold L2's
 * while L2 runs — loaded at the entry (vmx/nested.c:2715-2723 and :1167 in nested_vmx_load_cr3;
 * svm/nested.c:574-577, :521), then read back from vmcs02/vmcb02 after L2's own MOV to CR3
 * (vmx.c:2530-2531 `vmx_cache_reg` when CR3-load exiting is off; svm.c:3727-3728 on every exit
 * with NPT) or written by KVM's handling of L2's intercepted CR0/CR4/EFER writes (vmx.c:3347,
 * 3506, 3170; svm.c:1921, 1967, 307) — and L1's after the nested VM exit (vmx/nested.c:4692-4724,
 * svm/nested.c:1152-1175). L1's registers while L2 runs are `l1Regs`; root_mmu keeps L1's
 * cpu_role (`kvm_init_mmu` re-initialises nested_mmu while L2 runs, mmu.c:5846-5847), which is
 * `vcpu.walker.role`.
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, gpa, CR0, CR4, EFER, DEFAULT_EPT_CAPS, InvalidRegisterStateError, type PagingRegisters } from '../../src';
import { nested, LONG, GVA, DATA_N, DATA_G } from '../shadow/nested-fixture';
import { nestedNpt, L2_LONG } from '../shadow/nested-npt-fixture';
import { thrownRule } from '../tdx/fixtures';

/** A second L2 table set in EPT12's/NPT12's identity-mapped L2 table pool, mapping GVA to DATA_N + 2 pages. */
function secondTables(f: { vm: { guestMem: ConstructorParameters<typeof PageTableBuilder>[0] } }): PageTableBuilder {
  const t = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: 0x100_8000n, size: 0x8000n } });
  t.map(GVA, DATA_N + 0x2000n, { flags: { writable: true } });
  return t;
}

function snapshotL1(v: ReturnType<typeof nested>['v']) {
  return { regs: v.l1Regs, walker: v.walker, role: v.walker.role, rootRole: v.rootRole.word };
}

/** What the vCPU reports as L2's and L1's state while L2 runs on guest_mmu. */
function expectL2Running(v: ReturnType<typeof nested>['v'], l1: ReturnType<typeof snapshotL1>): void {
  expect(v.guestMode).toBe(true);
  expect(v.regs).toBe(v.guestMmu === v.nested ? v.nested!.l2Regs : v.nestedNpt!.l2Regs);
  expect(v.role).toBe(v.gvaWalk.role); // walk_mmu = nested_mmu: L2's cpu_role
  expect(v.l1Regs).toBe(l1.regs);
  expect(v.walker).toBe(l1.walker);
  expect(v.walker.role).toBe(l1.role);
  expect(v.rootRole.word).toBe(l1.rootRole);
}

describe('nested EPT: L2 writes its own registers', () => {
  it('MOV to CR3: vcpu.regs and role are L2\'s; L1\'s registers (l1Regs), root_mmu\'s walker and root_role, root_mmu\'s and guest_mmu\'s roots stay, no exit', () => {
    const f = nested();
    const b = secondTables(f);
    f.enter();
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
    const l1 = snapshotL1(f.v);
    const tdpRoot = f.v.currentRoot;
    const gRoot = f.v.nested!.ctx!.root.hpa;
    const gRole = f.v.guestMmu!.rootRole.word;
    const exits = f.v.stats.get('exits');
    const from = f.vm.events.all.length;
    const r = f.v.movCr3(BigInt(b.root));
    expect(r).toEqual({ roleChanged: false, rootChanged: false });
    // vmx.c:4477-4481: no CR3-load exiting in vmcs02 unless L1 sets it; nothing of L0's runs.
    expect(f.v.stats.get('exits')).toBe(exits);
    expect(f.vm.events.all.slice(from).map((e) => e.kind)).toEqual([]);
    expectL2Running(f.v, l1);
    // vcpu->arch.cr3 is L2's new CR3, read back from vmcs02 (vmx.c:2530-2531); L1's is vmcs12's host CR3.
    expect(f.v.regs.cr3).toBe(BigInt(b.root));
    expect(f.v.l1Regs.cr3).toBe(BigInt(f.l1pt.root));
    expect(f.v.currentRoot).toBe(tdpRoot);
    expect(f.v.mmu).toBe(f.v.guestMmu);
    expect(f.v.nested!.ctx!.root.hpa).toBe(gRoot); // guest_mmu's pgd is EPTP12 (nested_ept_get_eptp)
    expect(f.v.guestMmu!.rootRole.word).toBe(gRole);
    expect(f.v.gvaWalk.cr3).toBe(BigInt(b.root));
    expect(f.v.nested!.l2Regs!.cr3).toBe(BigInt(b.root));
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x2000n);
    // The nested VM exit restores L1's registers (load_vmcs12_host_state, vmx/nested.c:4724 → :1167).
    f.v.exitNested();
    expect(f.v.guestMode).toBe(false);
    expect(f.v.regs).toBe(l1.regs);
    expect(f.v.l1Regs).toBe(l1.regs);
    expect(f.v.role).toBe(l1.role);
    expect(f.v.gvaWalk).toBe(l1.walker);
  });

  it('CR4.SMEP 0→1: nested_mmu\'s role changes and kvm_mmu_unload frees root_mmu\'s and guest_mmu\'s roots; guest_mmu\'s root_role and L1 stay', () => {
    const f = nested();
    f.enter();
    f.v.read(GVA);
    const l1 = snapshotL1(f.v);
    const gRoot = f.v.nested!.ctx!.root.hpa;
    const gRole = f.v.guestMmu!.rootRole.word;
    const from = f.vm.events.all.length;
    const r = f.v.setRegisters({ cr4: LONG.cr4 | CR4.SMEP });
    expect(r).toEqual({ roleChanged: true, rootChanged: false });
    expect(f.v.gvaWalk.role.base.cr4Smep).toBe(true); // init_kvm_nested_mmu: nested_mmu's cpu_role
    expectL2Running(f.v, l1);
    // vmx_set_cr4 writes vcpu->arch.cr4 (vmx.c:3506): L2's CR4 has SMEP, L1's does not.
    expect(f.v.regs.cr4).toBe(LONG.cr4 | CR4.SMEP);
    expect(f.v.role.base.cr4Smep).toBe(true);
    expect(f.v.l1Regs.cr4 & CR4.SMEP).toBe(0n);
    expect(f.v.guestMmu!.rootRole.word).toBe(gRole);
    // mmu.c:5929-5932: both MMUs' roots are freed.
    expect(f.v.nested!.ctx!.root.hpa).toBe(-1);
    expect(f.v.currentRoot).toBeNull();
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'root_free')).toHaveLength(1);
    // The next entry loads a root for EPTP12 again: the same EPT02 root page (a valid root is not
    // zapped when its last reference goes, mmu.c mmu_free_root_page; kvm_mmu_get_shadow_page finds it).
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
    expect(f.v.nested!.ctx!.root.hpa).toBe(gRoot);
  });

  it('with the TLB model: after the reset each MMU\'s next root load flushes its context (kvm_mmu_load → flush_tlb_current, mmu.c:5912-5919)', () => {
    const f = nested({ tlb: true, accessed: true });
    const L1_VA = 0xffff_8880_0020_0000n; // L1's direct map of the EPT12 pool
    f.v.read(L1_VA); // root_mmu's root loaded in L1
    f.enter();
    expect(f.v.read(GVA).status).toBe('ok');
    const tlb = f.v.tlb!;
    const cur = tlb.stats.get('flush_current');
    f.v.setRegisters({ cr4: LONG.cr4 | CR4.SMEP });
    expect(tlb.stats.get('flush_current')).toBe(cur); // the requests are served at the next entry
    expect(f.v.read(GVA).status).toBe('ok'); // guest_mmu: a root for EPTP12 again
    expect(tlb.stats.get('flush_current')).toBe(cur + 1);
    f.v.exitNested();
    expect(f.v.read(L1_VA).status).toBe('ok'); // root_mmu: its root loaded again
    expect(tlb.stats.get('flush_current')).toBe(cur + 2);
  });

  it('CR0.WP cleared: kvm_init_mmu only (x86.c:1107-1114), the roots stay', () => {
    const f = nested();
    f.enter();
    f.v.read(GVA);
    const gRoot = f.v.nested!.ctx!.root.hpa;
    const l1 = snapshotL1(f.v);
    const r = f.v.setRegisters({ cr0: LONG.cr0 & ~CR0.WP });
    expect(r).toEqual({ roleChanged: true, rootChanged: false });
    expect(f.v.gvaWalk.role.base.cr0Wp).toBe(false);
    expectL2Running(f.v, l1);
    // vmx_set_cr0 writes vcpu->arch.cr0 (vmx.c:3347).
    expect(f.v.regs.cr0 & CR0.WP).toBe(0n);
    expect(f.v.role.base.cr0Wp).toBe(false);
    expect(f.v.l1Regs.cr0 & CR0.WP).toBe(CR0.WP);
    expect(f.v.nested!.ctx!.root.hpa).toBe(gRoot);
  });

  it('a write KVM refuses with #GP changes nothing (kvm_set_cr4, x86.c:1360-1364)', () => {
    const f = nested();
    f.enter();
    const b = secondTables(f);
    f.v.movCr3(BigInt(b.root) | 5n); // PCID 5 without PCIDE: bits 11:0 ignored as an address
    const l2 = f.v.nested!.l2Regs;
    const w = f.v.gvaWalk;
    expect(thrownRule(() => f.v.setRegisters({ cr4: LONG.cr4 | CR4.PCIDE }), InvalidRegisterStateError)).toBe('pcide-with-cr3-pcid');
    expect(f.v.nested!.l2Regs).toBe(l2);
    expect(f.v.gvaWalk).toBe(w);
    expect(thrownRule(() => f.v.setRegisters({ guestMode: false }), InvalidRegisterStateError)).toBe('l2-guest-mode');
  });

  it('L2 with PCIDE: MOV to CR3 with bit 63 keeps L2\'s PCID in L2\'s CR4, not L1\'s', () => {
    const f = nested();
    f.enter();
    f.v.setRegisters({ cr4: LONG.cr4 | CR4.PCIDE });
    const b = secondTables(f);
    // kvm_set_cr3 semantics (x86.c:1422-1426): bit 63 is no-flush with PCIDE, not an address bit.
    f.v.movCr3(BigInt(b.root) | 3n | (1n << 63n));
    expect(f.v.nested!.l2Regs!.cr3).toBe(BigInt(b.root) | 3n);
    expect(f.v.regs.cr3).toBe(BigInt(b.root) | 3n);
    expect(f.v.regs.cr4 & CR4.PCIDE).toBe(CR4.PCIDE);
    expect(f.v.l1Regs.cr4 & CR4.PCIDE).toBe(0n);
  });
});

const L2_PAE = { cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n };
const PAE_CR3 = 0x100_6000n; // an nGPA in EPT12's identity-mapped L2 table pool
const A_N = 0x300_0000n; // nested(): EPT12 maps DATA_N.. to DATA_G..

describe('nested EPT, PAE L2: PDPTEs after L2\'s own writes', () => {
  /** vmcs12's PDPTEs (b: GVA → DATA_N + 1 page) and a PDPT in memory at PAE_CR3 (a: GVA → DATA_N). */
  function pae(o: Parameters<typeof nested>[0] = {}) {
    const f = nested(o);
    const a = new PageTableBuilder(f.vm.guestMem, { mode: 'pae', pool: { base: 0x100_8000n, size: 0x4000n } });
    const b = new PageTableBuilder(f.vm.guestMem, { mode: 'pae', pool: { base: 0x100_c000n, size: 0x4000n } });
    a.map(GVA, A_N, { flags: { writable: true } });
    b.map(GVA, A_N + 0x1000n, { flags: { writable: true } });
    const read = (root: bigint) => [0, 1, 2, 3].map((i) => f.vm.guestMem.read64(gpa(root + BigInt(i * 8))));
    const put = (p: readonly bigint[]) => p.forEach((x, i) => f.vm.guestMem.write64(gpa(PAE_CR3 + BigInt(i * 8)), x));
    put(read(BigInt(a.root)));
    const l2: PagingRegisters = { ...L2_PAE, cr3: PAE_CR3 };
    f.v.enterNestedEpt({ eptp: f.eptp, caps: DEFAULT_EPT_CAPS, l2, pdptes: read(BigInt(b.root)) });
    return { ...f, a, b, read, put };
  }

  it('MOV to CR3: the CPU loads the PDPTEs at CR3 through EPT12 (SDM Vol. 3A §4.4.1), vmcs12\'s are gone', () => {
    const f = pae();
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x1000n); // vmcs12's PDPTEs (vmx/nested.c:2755-2762)
    const exits = f.v.stats.get('exits');
    const r = f.v.movCr3(PAE_CR3);
    // The load reads the PDPT through EPT02 (SDM Vol. 3C §28.2.3, footnote), which does not map
    // it yet: an EPT violation to L0 — a read (bit 0), EPT02's entry not present (bits 5:3 = 0),
    // no guest linear address (bit 7 clear, Table 28-7) — that KVM fixes from EPT12 (RET_PF_FIXED);
    // 7.3's error code has no bit for a read and no GUEST_FINAL/PAGE without bit 7 (kvm-7x.md §1.3).
    expect(r.exits?.map((e) => [e.kind, e.gpa, e.info, e.errorCode, e.onGuestTable, e.ret])).toEqual([['ept_violation', PAE_CR3, 1n, 0n, true, 'RET_PF_FIXED']]);
    expect(f.v.stats.get('exits')).toBe(exits + 1);
    expect(r.nestedExit).toBeUndefined();
    // The MOV re-executed after the fix: EPT02 now maps the PDPT, so the same load takes no exit.
    expect(f.v.movCr3(PAE_CR3)).toEqual({ roleChanged: false, rootChanged: false });
    expect(f.v.gvaWalk.pdptrs).toEqual(f.read(BigInt(f.a.root)));
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
    expect(f.v.regs).toEqual({ ...L2_PAE, cr3: PAE_CR3, guestMode: true }); // L2's (vmx.c:2530-2531)
    expect(f.v.role.base.level).toBe(3); // PAE: nested_mmu's cpu_role
    expect(f.v.l1Regs.efer).toBe(LONG.efer); // L1's: long mode
  });

  it('a CR4 write without a PDPTR bit keeps the PDPTEs; one with a PDPTR bit reloads them (x86.c:1351-1354)', () => {
    const f = pae();
    f.v.setRegisters({ cr4: CR4.PAE | CR4.OSFXSR });
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x1000n);
    f.v.setRegisters({ cr4: CR4.PAE | CR4.PSE });
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
  });

  it('a present PDPTE with a reserved bit: MOV to CR3 #GPs (typed), nothing changes', () => {
    const f = pae();
    f.put(f.read(BigInt(f.a.root)).map((x, i) => (i === 0 ? x | 2n : x)));
    const w = f.v.gvaWalk;
    const exits = f.v.stats.get('exits');
    expect(thrownRule(() => f.v.movCr3(PAE_CR3), InvalidRegisterStateError)).toBe('l2-pdpte-reserved');
    expect(f.v.gvaWalk).toBe(w);
    expect(f.v.stats.get('exits')).toBe(exits);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x1000n);
  });

  it('a PDPT in a never-written page of L1\'s RAM loads four not-present PDPTEs: L2\'s accesses then #PF (SDM Vol. 3A §4.4.1, 4.4.2)', () => {
    const f = pae();
    const ZERO = 0x100_5000n; // EPT12 maps it (identity pool), nothing wrote it
    expect(f.vm.guestMem.frameOf(Number(ZERO >> 12n))).toBe(-1);
    const r = f.v.movCr3(ZERO);
    expect(r.nestedExit).toBeUndefined();
    expect(f.v.gvaWalk.pdptrs).toEqual([0n, 0n, 0n, 0n]);
    expect(f.v.read(GVA).status).toBe('guest-pf');
  });

  for (const kvm of ['6.16', '7.3'] as const) {
    it(`${kvm}: a PDPT EPT12 does not map: the PDPTE load's EPT violation is reflected to L1 with qualification bit 7 clear, and the MOV does not complete`, () => {
      const f = pae({ kvm });
      const UNMAPPED = 0x200_0000n; // nested(): EPT12 maps 0x100_0000.. and DATA_N.. only
      const l2 = f.v.nested!.l2Regs;
      const w = f.v.gvaWalk;
      const l1 = f.v.l1Regs;
      const exits = f.v.stats.get('exits');
      const r = f.v.movCr3(UNMAPPED);
      // L0's EPT12 walk fails at a not-present entry: nested_ept_inject_page_fault (vmx/nested.c:
      // 442-446) gives L1 an EPT violation whose qualification is the walk's — a read (bit 0), no
      // permission bits (SDM Vol. 3C Table 28-7 bits 5:3 for a not-present entry) — with bits 7/8
      // copied from the real exit, where bit 7 is clear for a PDPTE load by MOV to CR (Table 28-7),
      // and guest_physical_address the nGPA (:461).
      expect(r.nestedExit).toEqual({ kind: 'ept-violation', exitReason: 48, qualification: 1, qualificationText: 'READ', guestPhysicalAddress: UNMAPPED });
      expect(r.exits?.map((e) => [e.kind, e.gpa, e.info, e.ret])).toEqual([['ept_violation', UNMAPPED, 1n, 'reflected to L1']]);
      expect(f.v.stats.get('exits')).toBe(exits + 1);
      // A VM exit leaves the instruction not completed (SDM Vol. 3C §27.1): CR3 and the PDPTE registers keep
      // their values; the nested VM exit restores L1 (load_vmcs12_host_state, vmx/nested.c:4692-4724).
      expect(f.v.nested!.l2Regs).toBe(l2);
      expect(f.v.nested!.l2Walker).toBe(w);
      expect(f.v.guestMode).toBe(false);
      expect(f.v.mmu).toBe(f.v.rootMmu);
      expect(f.v.regs).toBe(l1);
    });
  }

  it('with the TLB model: each exit of the PDPTE load is priced as an access\'s exit is (round trip + KVM\'s handling by RET_PF_*)', () => {
    const f = pae({ tlb: true });
    const p = f.vm.costModel.params;
    const before = { ...f.v.cycles };
    const r = f.v.movCr3(PAE_CR3);
    expect(r.exits?.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
    expect(f.v.cycles.exits - before.exits).toBe(p.vmExitEntry.cycles);
    expect(f.v.cycles.kvm - before.kvm).toBe(p.kvmFaultSlow.cycles);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
  });
});

describe('nested NPT: L2 writes its own registers', () => {
  it('MOV to CR3 (not intercepted with NPT, svm.c:1337): only L2\'s walk changes; L1 and guest_mmu\'s root stay', () => {
    const f = nestedNpt();
    const b = secondTables(f);
    f.enter();
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
    const l1 = snapshotL1(f.v);
    const gRoot = f.v.nestedNpt!.ctx!.root.hpa;
    const r = f.v.movCr3(BigInt(b.root));
    expect(r).toEqual({ roleChanged: false, rootChanged: false });
    expectL2Running(f.v, l1);
    // With NPT vcpu->arch.cr3 is vmcb02's save.cr3 after L2 runs (svm.c:3727-3728).
    expect(f.v.regs.cr3).toBe(BigInt(b.root));
    expect(f.v.nestedNpt!.ctx!.root.hpa).toBe(gRoot);
    expect(f.v.gvaWalk.cr3).toBe(BigInt(b.root));
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x2000n);
  });

  it('CR4.SMEP 0→1: kvm_mmu_reset_context frees guest_mmu\'s roots; L1\'s role stays', () => {
    const f = nestedNpt();
    f.enter();
    f.v.read(GVA);
    const l1 = snapshotL1(f.v);
    f.v.setRegisters({ cr4: L2_LONG.cr4 | CR4.SMEP });
    expectL2Running(f.v, l1);
    expect(f.v.gvaWalk.role.base.cr4Smep).toBe(true);
    // svm_set_cr4 writes vcpu->arch.cr4 (svm.c:1967).
    expect(f.v.regs.cr4).toBe(L2_LONG.cr4 | CR4.SMEP);
    expect(f.v.role.base.cr4Smep).toBe(true);
    expect(f.v.nestedNpt!.ctx!.root.hpa).toBe(-1);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
  });
});

describe('EFER is L2\'s too', () => {
  it('EFER.NXE cleared in L2 leaves L1\'s EFER', () => {
    const f = nested();
    f.enter();
    f.v.setRegisters({ efer: EFER.LME | EFER.LMA });
    // vmx_set_efer writes vcpu->arch.efer (vmx.c:3170); vmcs12's host EFER is L1's.
    expect(f.v.regs.efer).toBe(EFER.LME | EFER.LMA);
    expect(f.v.l1Regs.efer).toBe(LONG.efer);
    expect(f.v.gvaWalk.role.base.eferNx).toBe(false);
    expect(f.v.role.base.eferNx).toBe(false);
  });
});


describe('L2 on root_mmu (no nested TDP): the same accessors', () => {
  it('regs and role are L2\'s, l1Regs L1\'s, guestMode set; the exit restores L1 (vmx/nested.c:2741 → :1167, :4724)', () => {
    const f = nested();
    const l1 = f.v.regs;
    const l1Role = f.v.role;
    expect(f.v.guestMode).toBe(false);
    expect(f.v.l1Regs).toBe(l1);
    // L1 shadows L2: L2's CR3 points at tables in L1's GPA space (here L1's own, as a stand-in).
    f.v.enterNested({ l2: { ...LONG, cr0: LONG.cr0 & ~CR0.WP, cr3: BigInt(f.l1pt.root) } });
    expect(f.v.guestMode).toBe(true);
    expect(f.v.regs.cr0 & CR0.WP).toBe(0n);
    expect(f.v.role.base.cr0Wp).toBe(false);
    expect(f.v.role.base.guestMode).toBe(true); // kvm_calc_cpu_role: is_guest_mode (mmu.c:5542)
    expect(f.v.l1Regs).toBe(l1);
    f.v.exitNested();
    expect(f.v.guestMode).toBe(false);
    expect(f.v.regs).toEqual(l1);
    expect(f.v.l1Regs).toBe(f.v.regs);
    expect(f.v.role.equals(l1Role)).toBe(true);
  });
});
