/**
 * Register writes as `x86.c: kvm_set_cr0 / kvm_set_cr3 / kvm_set_cr4` do them: when the PAE PDPTE
 * registers are reloaded (`load_pdptrs`), and which writes KVM refuses with #GP.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, InvalidRegisterStateError, type Vcpu } from '../../src';
import { LONG_MODE } from './fixtures';
import { thrownRule } from '../tdx/fixtures';

const A = 0x20_0000n;
const B = 0x40_0000n;
const VA1 = 0x4000_0000n; // PDPTE1
const VA2 = 0x8000_0000n; // PDPTE2
const PAE = { cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n };

function paeGuest(mmu: 'tdp' | 'shadow', flavour: 'ept' | 'npt') {
  const vm = new Vm({ spte: { flavour }, mmu, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'pae', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  pt.map(VA1, A, { flags: { writable: true } });
  pt.map(VA2, B, { flags: { writable: true } });
  const v = vm.createVcpu({ ...PAE, cr3: pt.root });
  return { vm, pt, v };
}

function gpaOf(v: Vcpu, va: bigint): bigint | undefined {
  const r = v.read(va);
  expect(r.status).toBe('ok');
  return r.gpa;
}

// Not TDP with NPT: there the CPU keeps no PDPTE registers and every walk reads the PDPT (APM
// Vol. 2 §15.25.10; svm.c:1665-1671) — test/vm/npt-host-pae-pdptes.test.ts.
const MODES = [['tdp', 'ept'], ['shadow', 'npt']] as const;

describe('PAE PDPTEs are reloaded only by MOV CR3 or a PDPTR-bit change (load_pdptrs)', () => {
  for (const [mmu, flavour] of MODES) {
    it(`${mmu}/${flavour}: an unrelated CR0/CR4 write keeps the old PDPTEs; PGE, CD and MOV CR3 reload them`, () => {
      const { pt, v } = paeGuest(mmu, flavour);
      expect(gpaOf(v, VA1)).toBe(A);
      const pdpte1 = pt.getEntry(VA1, 3).value;
      // The guest points PDPTE1 at PDPTE2's page directory, in memory only.
      pt.setEntry(VA1, 3, pt.getEntry(VA2, 3).value);

      // kvm_cache_regs.h:12: X86_CR0_PDPTR_BITS = CD|NW|PG, so CR0.WP is not one; x86.c:1158-1161
      // loads PDPTEs only when (cr0 ^ old_cr0) & X86_CR0_PDPTR_BITS.
      v.setRegisters({ cr0: PAE.cr0 | CR0.WP });
      expect(v.walker.pdptrs![1]).toBe(pdpte1);
      expect(gpaOf(v, VA1)).toBe(A);
      // kvm_cache_regs.h:14: X86_CR4_PDPTR_BITS = PGE|PSE|PAE|SMEP, so not SMAP (a role bit) nor
      // OSFXSR; x86.c:1355-1358 loads only when (cr4 ^ old_cr4) & X86_CR4_PDPTR_BITS.
      v.setRegisters({ cr4: PAE.cr4 | CR4.SMAP });
      v.setRegisters({ cr4: PAE.cr4 | CR4.SMAP | CR4.OSFXSR });
      expect(v.walker.pdptrs![1]).toBe(pdpte1);
      expect(gpaOf(v, VA1)).toBe(A);

      // CR4.PGE is a PDPTR bit: x86.c:1355-1358 → load_pdptrs reads the PDPT again.
      v.setRegisters({ cr4: PAE.cr4 | CR4.SMAP | CR4.OSFXSR | CR4.PGE });
      expect(v.walker.pdptrs![1]).toBe(pt.getEntry(VA2, 3).value);
      expect(gpaOf(v, VA1)).toBe(B);

      // MOV CR3 with the same value: "PDPTRs are always reloaded for PAE paging" (x86.c:1429-1430, 1441).
      pt.setEntry(VA1, 3, pdpte1);
      v.movCr3(pt.root);
      expect(v.walker.pdptrs![1]).toBe(pdpte1);
      expect(gpaOf(v, VA1)).toBe(A);

      // CR0.CD is a PDPTR bit (kvm_cache_regs.h:12; x86.c:1158-1161).
      pt.setEntry(VA1, 3, pt.getEntry(VA2, 3).value);
      v.setRegisters({ cr0: PAE.cr0 | CR0.WP | CR0.CD });
      expect(gpaOf(v, VA1)).toBe(B);
    });
  }

  it('a reserved bit in the PDPT in memory: an unrelated write succeeds, a PDPTR-bit write #GPs and changes nothing', () => {
    const { pt, v } = paeGuest('tdp', 'ept');
    const pdpte1 = pt.getEntry(VA1, 3).value;
    // x86.c:1059-1061: a present PDPTE with pdptr_rsvd_bits (bits 2:1 among them) fails the load.
    pt.setEntry(VA1, 3, pdpte1 | 0x2n);
    v.setRegisters({ cr0: PAE.cr0 | CR0.WP }); // no load_pdptrs (x86.c:1158-1161)
    expect(v.regs.cr0).toBe(PAE.cr0 | CR0.WP);
    // x86.c:1355-1358: load_pdptrs fails → kvm_set_cr4 returns 1 (#GP); CR4 keeps its value.
    expect(() => v.setRegisters({ cr4: PAE.cr4 | CR4.PGE })).toThrow(InvalidRegisterStateError);
    expect(v.regs.cr4).toBe(PAE.cr4);
    expect(v.walker.pdptrs![1]).toBe(pdpte1);
    expect(gpaOf(v, VA1)).toBe(A);
  });
});

describe('CR4.PCIDE (kvm_set_cr4)', () => {
  function longModeGuest(mmu: 'tdp' | 'shadow') {
    const vm = new Vm({ mmu, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    pt.map(VA1, A, { flags: { writable: true } });
    return { pt, v: vm.createVcpu({ ...LONG_MODE, cr3: pt.root | 0x5n }) };
  }

  for (const mmu of ['tdp', 'shadow'] as const) {
    it(`${mmu}: setting PCIDE while CR3[11:0] != 0 is refused with #GP and changes nothing; with CR3[11:0] = 0 it is accepted`, () => {
      const { pt, v } = longModeGuest(mmu);
      const before = v.regs;
      const rootRole = v.rootRole.word;
      // x86.c:1360-1363: PCIDE 0→1 with (cr3 & X86_CR3_PCID_MASK) != 0 → return 1 (#GP).
      expect(thrownRule(() => v.setRegisters({ cr4: LONG_MODE.cr4 | CR4.PCIDE }), InvalidRegisterStateError)).toBe('pcide-with-cr3-pcid');
      expect(v.regs).toBe(before);
      expect(v.rootRole.word).toBe(rootRole);
      expect(v.read(VA1).gpa).toBe(A);
      // With CR3[11:0] = 0 the same write is accepted (x86.c:1360-1363 does not fire) …
      v.movCr3(pt.root);
      v.setRegisters({ cr4: LONG_MODE.cr4 | CR4.PCIDE });
      expect(v.regs.cr4 & CR4.PCIDE).toBe(CR4.PCIDE);
      // … and once PCIDE is set, a CR3 with a PCID is legal (only the 0→1 transition is checked).
      v.movCr3(pt.root | 0x5n);
      expect(v.read(VA1).gpa).toBe(A);
    });
  }

  it('setting PCIDE outside long mode is refused (x86.c:1360-1363: !is_long_mode → #GP)', () => {
    const { v } = paeGuest('tdp', 'ept');
    expect(() => v.setRegisters({ cr4: PAE.cr4 | CR4.PCIDE })).toThrow(InvalidRegisterStateError);
    expect(v.regs.cr4).toBe(PAE.cr4);
  });
});

describe('CR4.PKE without TDP (cpuid.c:936-941: no PKU for shadow paging)', () => {
  function guest(mmu: 'tdp' | 'shadow') {
    const vm = new Vm({ spte: { flavour: 'npt' }, mmu, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    pt.map(VA1, A, { flags: { writable: true } });
    return { vm, pt, v: vm.createVcpu({ ...LONG_MODE, cr3: pt.root }) };
  }

  it('shadow: MOV CR4 setting PKE is refused with #GP and changes nothing, though the guest CPUID lists PKU', () => {
    const { vm, v } = guest('shadow');
    const before = v.regs;
    const root = v.rootRole.word;
    // The VM was given DEFAULT_FEATURES (pku: true) as its guest CPUID, but cpuid.c:940-941 clears
    // X86_FEATURE_PKU from kvm_cpu_caps when !tdp_enabled, a vCPU has only features KVM supports
    // (cpuid.c:394-396), so x86.h:627-628 puts X86_CR4_PKE in
    // cr4_guest_rsvd_bits (cpuid.c:437-438) and kvm_set_cr4 → kvm_is_valid_cr4 fails (x86.c:1347-1348,
    // x86.h:610-612): return 1 → #GP.
    expect(thrownRule(() => v.setRegisters({ cr4: LONG_MODE.cr4 | CR4.PKE }), InvalidRegisterStateError)).toBe('cr4-pke-unsupported');
    expect(v.regs).toBe(before);
    expect(v.rootRole.word).toBe(root);
    expect(v.read(VA1).gpa).toBe(A);
    // The vCPU's capabilities (vcpu->arch.cpu_caps) are what vm.features reports.
    expect(vm.features.pku).toBe(false);
    // KVM_SET_SREGS checks the same bits (x86.c:12008 kvm_is_valid_sregs → kvm_is_valid_cr4): a vCPU
    // cannot be created with CR4.PKE either.
    expect(() => vm.createVcpu({ ...LONG_MODE, cr4: LONG_MODE.cr4 | CR4.PKE, cr3: 0x10_0000n })).toThrow(InvalidRegisterStateError);
  });

  it('tdp: the same write is accepted (PKU stays in kvm_cpu_caps with TDP)', () => {
    const { vm, v } = guest('tdp');
    expect(vm.features.pku).toBe(true);
    v.setRegisters({ cr4: LONG_MODE.cr4 | CR4.PKE });
    expect(v.regs.cr4 & CR4.PKE).toBe(CR4.PKE);
    expect(v.read(VA1).gpa).toBe(A);
  });
});

describe('which writes reset the MMU: by the bits written, not by the role (kvm_post_set_cr0/cr4, kvm_set_efer)', () => {
  const resets = (vm: Vm) => vm.events.all.filter((e) => e.kind === 'mmu_reset').map((e) => e.outcome);

  it('tdp: CR4.LA57 set before long mode leaves the role alone but unloads the root (x86.c:1303-1304, mmu.h:40-41)', () => {
    const { vm, v } = paeGuest('tdp', 'ept');
    expect(v.read(VA1).status).toBe('ok');
    expect(v.currentRoot).not.toBeNull();
    const r = v.setRegisters({ cr4: v.regs.cr4 | CR4.LA57 });
    // The role tracks LA57 only in long mode (mmu.c: kvm_calc_cpu_role, ext.cr4_la57 = is_la57_mode).
    expect(r.roleChanged).toBe(false);
    // kvm_mmu_reset_context → kvm_mmu_unload: the vCPU holds no root until the next entry.
    expect(v.currentRoot).toBeNull();
    expect(resets(vm)).toEqual(['kvm_mmu_reset_context (CR4.LA57)']);
  });

  it('tdp: a CR0.WP-only toggle with paging on re-inits without unloading (x86.c:1107-1114)', () => {
    const { vm, v } = paeGuest('tdp', 'ept');
    v.read(VA1);
    const root = v.currentRoot;
    v.setRegisters({ cr0: v.regs.cr0 | CR0.WP });
    expect(v.currentRoot).toBe(root);
    expect(resets(vm)).toEqual([]);
  });

  it('shadow: CR4.PCIDE 0→1 frees every root, previous roots included (x86.c:1314-1316); tdp keeps its root', () => {
    for (const mmu of ['shadow', 'tdp'] as const) {
      const vm = new Vm({ mmu, checkInvariants: true });
      vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
      const a = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
      const b = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x20_0000n, size: 0x10_0000n } });
      for (const t of [a, b]) t.map(VA1, A, { flags: { writable: true } });
      const v = vm.createVcpu({ ...LONG_MODE, cr3: a.root });
      v.read(VA1);
      v.movCr3(b.root);
      v.read(VA1);
      const r = v.setRegisters({ cr4: v.regs.cr4 | CR4.PCIDE });
      expect(r.roleChanged).toBe(false);
      if (mmu === 'shadow') {
        const ctx = v.shadow!.ctx;
        expect(ctx.root.hpa).toBeLessThan(0);
        expect(ctx.prevRoots.every((p) => p.hpa < 0)).toBe(true);
        expect(resets(vm)).toEqual(['kvm_mmu_unload (CR4.PCIDE 0→1)']);
      } else {
        expect(v.currentRoot).not.toBeNull();
        expect(resets(vm)).toEqual([]);
      }
    }
  });
});
