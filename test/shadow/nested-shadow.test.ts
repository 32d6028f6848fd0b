/**
 * Nested paging without nested TDP (issue item 15): L1 runs L2 on L1's own shadow tables (vmcs12
 * without EPT). KVM 6.16 keeps vcpu->arch.mmu = root_mmu and gives it L2's cpu_role, with
 * guest_mode set (`nested_vmx_load_cr3(.., nested_ept = false)`, vmx/nested.c:1148-1177;
 * `kvm_calc_cpu_role`, mmu.c:5542). Without TDP in L0 this is shadow-on-shadow: root_mmu shadows
 * L2's CR3 tables (kvm-mmu.md §10.5); it is the only nested paging such a VM offers (nested EPT
 * only `if (enable_ept)`, vmx/nested.c:7111-7114; NPT in vmcb12 only with npt_enabled,
 * svm/nested.c:269).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidRegisterStateError, PageTableBuilder, Vm, makeEptp } from '../../src';
import { DM_SIZE, POOL, regsFor, shadowFixture } from './fixtures';

const L2_POOL = { base: POOL.base + DM_SIZE - 0x10_0000n, size: 0x10_0000n }; // inside L1's direct map
const L2_GVA = 0x1000_0000n;
const DATA = 0x80_0000n;
const DATA2 = 0x90_0000n;

function setup() {
  const f = shadowFixture('paging4');
  const l2pt = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: L2_POOL });
  l2pt.map(L2_GVA, DATA, { flags: { writable: true } });
  const l2 = { ...regsFor('paging4'), cr3: l2pt.root };
  expect(f.v.read(f.dm(POOL.base)).status).toBe('ok'); // L1 runs first: its root is loaded
  return { ...f, l2pt, l2 };
}

describe('nested without nested TDP: L2 on root_mmu with guest_mode roles', () => {
  it('the MMU pointer stays root_mmu; root_mmu takes L2\'s cpu_role and builds a guest_mode root over L2\'s CR3', () => {
    const f = setup();
    const l1RootRole = f.v.mmu.rootRole;
    f.v.enterNested({ l2: f.l2 });
    expect(f.v.mmu).toBe(f.v.rootMmu); // vmx/nested.c:1173-1174: nested_ept false → root_mmu's kvm_mmu_new_pgd
    expect(f.v.mmu.name).toBe('root_mmu');
    expect(f.v.guestMmu).toBeUndefined();
    expect(f.v.ngpaWalk).toBeUndefined();
    expect(f.v.role.base.guestMode).toBe(true); // mmu.c:5542
    expect(f.v.gvaWalk.role.base.guestMode).toBe(true);
    const r = f.v.read(L2_GVA + 0x10n);
    expect(r.status).toBe('ok');
    expect(r.gpa).toBe(DATA + 0x10n); // L2's page tables map to L1 GPAs: no nGPA stage
    expect(BigInt(r.hpa!) >> 12n).toBe(BigInt(f.ram.pfnBase) + (DATA >> 12n));
    // kvm_init_shadow_mmu (mmu.c:5691-5705): root_role = cpu_role.base (level ≥ PAE, efer_nx) —
    // L2's mode is L1's here, so the roles differ in guest_mode only.
    expect(f.v.mmu.rootRole.word).toBe(l1RootRole.with({ guestMode: true }).word);
    const root = f.vm.shadow.find(Number(f.l2pt.root >> 12n)).filter((sp) => sp.level === 4);
    expect(root.map((sp) => sp.role.word)).toEqual([f.v.mmu.rootRole.word]);
    expect(f.v.shadow!.ctx.root.sp).toBe(root[0]);
  });

  it('L2 on L1\'s own CR3: one gfn, two shadow roots told apart by guest_mode (kvm_mmu_find_shadow_page, mmu.c:2247)', () => {
    const f = setup();
    f.v.enterNested({ l2: f.regs });
    expect(f.v.read(f.dm(POOL.base)).status).toBe('ok');
    const roots = f.vm.shadow.find(Number(f.regs.cr3 >> 12n)).filter((sp) => sp.level === 4);
    expect(roots.length).toBe(2);
    expect(roots.map((sp) => sp.role.guestMode).sort()).toEqual([false, true]);
    expect(roots[0]!.role.with({ guestMode: false }).word).toBe(roots[1]!.role.with({ guestMode: false }).word);
  });

  it('the exit finds L1\'s root in prev_roots and re-entry finds L2\'s (fast_pgd_switch, mmu.c:5028-5042)', () => {
    const f = setup();
    const l1Root = f.v.shadow!.ctx.root.hpa;
    const miss0 = f.v.stats.get('root_cache_miss');
    const hit0 = f.v.stats.get('root_cache_hit');
    f.v.enterNested({ l2: f.l2 });
    f.v.read(L2_GVA);
    const l2Root = f.v.shadow!.ctx.root.hpa;
    expect(l2Root).not.toBe(l1Root);
    expect(f.v.shadow!.ctx.prevRoots[0]!.hpa).toBe(l1Root); // cached_root_find_and_keep_current (mmu.c:4973)
    f.v.exitNested();
    expect(f.v.role.base.guestMode).toBe(false);
    expect(f.v.regs.cr3).toBe(f.regs.cr3);
    expect(f.v.shadow!.ctx.root.hpa).toBe(l1Root);
    f.v.enterNested({ l2: f.l2 });
    expect(f.v.shadow!.ctx.root.hpa).toBe(l2Root);
    expect(f.v.stats.get('root_cache_miss') - miss0).toBe(1); // the first entry only
    expect(f.v.stats.get('root_cache_hit') - hit0).toBe(2);
    expect(f.v.read(L2_GVA).exits.length).toBe(0);
  });

  it('each transition is KVM_REQ_TLB_FLUSH_GUEST (vmcs12 without VPID): roots synced, so L1\'s edit of an L2 PTE is seen at re-entry', () => {
    const f = setup();
    f.v.enterNested({ l2: f.l2 });
    expect(f.v.read(L2_GVA).hpa! >> 12n).toBe(BigInt(f.ram.pfnBase) + (DATA >> 12n));
    const flush0 = f.v.stats.get('tlb_flush');
    f.v.exitNested(); // vmx/nested.c:4727 → x86.c:3638 ++tlb_flush
    expect(f.v.stats.get('tlb_flush') - flush0).toBe(1);
    // L1 (its shadow MMU for L2) repoints L2's PTE through its direct map.
    const pte = f.l2pt.getEntry(L2_GVA, 1);
    const r = f.v.store(f.dm(BigInt(pte.gpa)), (pte.value & 0xfffn) | DATA2);
    // The L2 leaf table is shadowed by a level-1 page: it goes unsync and L1's store completes.
    expect(r.status).toBe('ok');
    expect(f.v.shadow!.ctx.prevRoots[0]!.hpa).toBeGreaterThanOrEqual(0); // L2's root, cached
    f.v.enterNested({ l2: f.l2 }); // vmx/nested.c:2705
    expect(f.v.stats.get('tlb_flush') - flush0).toBe(2);
    expect(f.v.read(L2_GVA).hpa! >> 12n).toBe(BigInt(f.ram.pfnBase) + (DATA2 >> 12n));
  });

  it('with TDP: root_mmu gets a second TDP root with guest_mode (kvm_calc_tdp_mmu_root_page_role, mmu.c:5625)', () => {
    const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
    const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
    const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x20_0000n, size: 0x10_0000n } });
    l1pt.map(0x7000_0000n, DATA2);
    l2pt.map(L2_GVA, DATA);
    const v = vm.createVcpu({ ...regsFor('paging4'), cr3: l1pt.root });
    v.read(0x7000_0000n);
    const l1Root = v.currentRoot!;
    v.enterNested({ l2: { ...regsFor('paging4'), cr3: l2pt.root } });
    expect(v.mmu).toBe(v.rootMmu);
    const r = v.read(L2_GVA);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!) >> 12n).toBe(BigInt(ram.pfnBase) + (DATA >> 12n));
    expect(v.currentRoot!.role.word).toBe(l1Root.role.with({ guestMode: true }).word);
    expect(vm.tdp.roots.length).toBe(2);
    v.exitNested();
    v.read(0x7000_0000n);
    expect(v.currentRoot).toBe(l1Root);
  });

  it('a VM without TDP offers no nested EPT or NPT; refused entries change nothing', () => {
    const f = setup();
    const before = f.v.mmu;
    expect(() => f.v.enterNestedEpt({ eptp: makeEptp({ root: 0x30_0000n, level: 4, adEnabled: false }), l2: f.l2 })).toThrow(InvalidArgumentError);
    expect(() => f.v.enterNestedNpt({ ncr3: 0x30_0000n, l1: f.regs, l2: f.l2 })).toThrow(InvalidArgumentError);
    expect(f.v.mmu).toBe(before);
    expect(f.v.guestMmu).toBeUndefined();
  });

  it('a second entry while L2 runs is refused, L2 state untouched', () => {
    const f = setup();
    f.v.enterNested({ l2: f.l2 });
    let err: unknown;
    try {
      f.v.enterNested({ l2: f.regs });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidRegisterStateError);
    expect((err as InvalidRegisterStateError).rule).toBe('nested-already-in-l2');
    expect(f.v.regs.cr3).toBe(f.l2.cr3);
    f.v.exitNested();
    expect(f.v.regs.cr3).toBe(f.regs.cr3);
  });
});

describe('L1 intercepts of an L2 without nested TDP: #PF, MOV CR3, INVLPG (vmx/nested.c)', () => {
  const UNMAPPED = L2_GVA + 0x20_0000n; // no PTE in L2's tables
  const l1In = (f: ReturnType<typeof setup>) => {
    expect(f.v.role.base.guestMode).toBe(false);
    expect(f.v.regs.cr3).toBe(f.regs.cr3);
  };

  it('#PF in the exception bitmap: L2\'s page fault is a VM exit to L1 (EXCEPTION_NMI, CR2 as qualification), not a #PF in L2', () => {
    const f = setup();
    f.v.enterNested({ l2: f.l2, intercepts: { pf: true } });
    expect(f.v.read(L2_GVA).status).toBe('ok');
    const r = f.v.write(UNMAPPED);
    expect(r.status).toBe('l1-exit');
    // vmx_tests.c:11393-11403 (handle_exception_in_l1): EXI_REASON == VMX_EXC_NMI (0), intr_info valid,
    // vector, hard-exception type; nested.c:3976-3977 exit_qual = the #PF payload (the address, CR2),
    // :4003-4004 error code (u16) with INTR_INFO_DELIVER_CODE_MASK, :4010 INTR_TYPE_HARD_EXCEPTION.
    expect(r.l1Intercept).toEqual({ kind: 'exception', exitReason: 0, intrInfo: 0x8000_0b0e, errorCode: 0x2, qualification: UNMAPPED });
    l1In(f); // the nested VM exit loads L1's state (load_vmcs12_host_state → nested_vmx_load_cr3, nested.c:4724)
    // Without the intercept, the same fault is L2's own #PF.
    const g = setup();
    g.v.enterNested({ l2: g.l2 });
    expect(g.v.write(UNMAPPED).status).toBe('guest-pf');
    expect(g.v.role.base.guestMode).toBe(true);
  });

  it('PFEC mask/match: bit 14 XOR ((error_code & mask) != match) decides (nested.c:494-504)', () => {
    // Bit 14 set, mask = match = W: writes exit (equal → inequality 0 → 0 ^ 1), reads stay in L2.
    const f = setup();
    f.v.enterNested({ l2: f.l2, intercepts: { pf: true, pfecMask: 2, pfecMatch: 2 } });
    expect(f.v.read(UNMAPPED).status).toBe('guest-pf');
    expect(f.v.write(UNMAPPED).status).toBe('l1-exit');
    // Bit 14 clear, mask 0, match 0xffff: (ec & 0) != 0xffff always → every #PF exits.
    const g = setup();
    g.v.enterNested({ l2: g.l2, intercepts: { pf: false, pfecMask: 0, pfecMatch: 0xffff } });
    expect(g.v.read(UNMAPPED).status).toBe('l1-exit');
    // Bit 14 clear, mask = match = 0: never.
    const h = setup();
    h.v.enterNested({ l2: h.l2, intercepts: { pf: false } });
    expect(h.v.read(UNMAPPED).status).toBe('guest-pf');
  });

  it('CR3-load exiting: L2\'s MOV to CR3 is a CR_ACCESS exit to L1 (reason 28, qualification 0x3) and L0 loads nothing', () => {
    const f = setup();
    f.v.enterNested({ l2: f.l2, intercepts: { cr3Load: true } });
    f.v.read(L2_GVA);
    const hits = f.v.stats.get('root_cache_hit') + f.v.stats.get('root_cache_miss');
    const r = f.v.movCr3(f.regs.cr3);
    // vmx_tests.c:1003-1004: "CR3 load", exit reason 28, exit qualification 0x3 (mov %rax,%cr3,
    // vmx_tests.c:919); nested.c:6254-6256.
    expect(r.l1Exit).toEqual({ kind: 'cr-access', exitReason: 28, qualification: 0x3 });
    l1In(f);
    // The root switch is the exit's (to L1's root), not the MOV's: one cached-root lookup.
    expect(f.v.stats.get('root_cache_hit') + f.v.stats.get('root_cache_miss') - hits).toBe(1);
    // Without the control L0 emulates the load for L2 (kvm_set_cr3): L2 now runs on the new CR3.
    const g = setup();
    g.v.enterNested({ l2: g.l2 });
    expect(g.v.movCr3(g.regs.cr3).l1Exit).toBeUndefined();
    expect(g.v.regs.cr3).toBe(g.regs.cr3);
    expect(g.v.role.base.guestMode).toBe(true);
  });

  it('INVLPG exiting: L2\'s INVLPG is an exit to L1 (reason 14, the address as qualification); L0 invalidates nothing', () => {
    const f = setup();
    f.v.enterNested({ l2: f.l2, intercepts: { invlpg: true } });
    f.v.read(L2_GVA);
    const inv = f.v.stats.get('invlpg');
    // vmx_tests.c:998-999: "INVLPG", exit reason 14, exit qualification 0x12345678 (invlpg 0x12345678,
    // vmx_tests.c:915); nested.c:6477-6478.
    expect(f.v.invlpg(0x12345678n)).toEqual({ kind: 'invlpg', exitReason: 14, qualification: 0x12345678n });
    expect(f.v.stats.get('invlpg')).toBe(inv); // no kvm_mmu_invlpg by L0
    l1In(f);
    const g = setup();
    g.v.enterNested({ l2: g.l2 });
    const inv0 = g.v.stats.get('invlpg');
    expect(g.v.invlpg(0x12345678n)).toBeUndefined();
    expect(g.v.stats.get('invlpg')).toBe(inv0 + 1); // handle_invlpg → kvm_mmu_invlpg
  });

  it('bad intercept controls are refused with the vCPU left in L1', () => {
    const f = setup();
    expect(() => f.v.enterNested({ l2: f.l2, intercepts: { pfecMask: -1 } })).toThrow(InvalidArgumentError);
    expect(() => f.v.enterNested({ l2: f.l2, intercepts: { pf: 1 as unknown as boolean } })).toThrow(InvalidArgumentError);
    l1In(f);
  });
});
