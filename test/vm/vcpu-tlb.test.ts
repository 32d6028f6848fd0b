/**
 * The TLB model in the vCPU access pipeline (TDP root_mmu): stale translations, the guest's
 * invalidations, KVM's flushes (remote, current, guest), the dirty-flag rule, VPIDs, and the 2D
 * walk's memory references with and without paging-structure and nested caches.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR4, EFER, type SpteConfigSpec, type VmOptions } from '../../src';
import { LONG_MODE } from './fixtures';
import { privateAndSharedTouched, tdFixture } from '../tdx/fixtures';

const VA = 0x7000_0000n;

function setup(opts: Partial<VmOptions> = { tlb: true }, spte: SpteConfigSpec = { flavour: 'ept' }, hostPageSize: '4K' | '2M' = '4K') {
  const vm = new Vm({ spte, checkInvariants: true, ...opts });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  pt.map(VA, 0x20_0000n, { count: 4, flags: { writable: true } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  return { vm, ram, pt, v };
}

/** Point the guest PTE of `va` at `frame`, without INVLPG. */
function repoint(pt: PageTableBuilder, va: bigint, frame: bigint): void {
  const old = pt.getEntry(va, 1).value;
  pt.setEntry(va, 1, (old & ~0x000f_ffff_ffff_f000n) | frame);
}

describe('stale translations', () => {
  it('a guest that changes a PTE and skips INVLPG keeps the old translation until INVLPG (SDM Vol. 3A §4.10.4.2-4.10.4.3)', () => {
    const { v, pt } = setup();
    expect(v.read(VA).tlb).toBe('miss');
    expect(v.read(VA).tlb).toBe('l1');
    repoint(pt, VA, 0x30_0000n);
    const stale = v.read(VA + 8n);
    expect([stale.tlb, stale.gpa]).toEqual(['l1', 0x20_0008n]);
    v.invlpg(VA);
    const fresh = v.read(VA + 8n);
    expect([fresh.tlb, fresh.gpa]).toEqual(['miss', 0x30_0008n]);
  });

  it('with the model off every access walks, so the new PTE is seen at once (the old behaviour)', () => {
    const { v, pt } = setup({});
    v.read(VA);
    repoint(pt, VA, 0x30_0000n);
    const r = v.read(VA);
    expect([r.tlb, r.gpa]).toEqual(['miss', 0x30_0000n]);
    expect(v.tlb).toBeUndefined();
  });

  it('MOV CR3 with PCIDE: bit 63 keeps the target PCID\'s entries, a plain load drops them', () => {
    const { v, pt } = setup();
    v.setRegisters({ cr4: LONG_MODE.cr4 | CR4.PCIDE });
    const root = pt.root as bigint;
    v.movCr3(root | 1n);
    expect(v.read(VA).tlb).toBe('miss');
    v.movCr3(root | 2n | (1n << 63n));
    expect(v.read(VA).tlb).toBe('miss'); // PCID 2 has no entry
    v.movCr3(root | 1n | (1n << 63n));
    expect(v.read(VA).tlb).toBe('l1'); // PCID 1's entry survived
    v.movCr3(root | 1n);
    expect(v.read(VA).tlb).toBe('miss');
  });

  it('INVPCID type 1 from the guest drops the PCID; #GP inputs throw and change nothing', () => {
    const { v } = setup();
    v.read(VA);
    expect(() => v.invpcid(7, 0)).toThrow(/types are 0-3/);
    expect(v.read(VA).tlb).toBe('l1');
    v.invpcid(1, 0);
    expect(v.read(VA).tlb).toBe('miss');
  });

  it('a #PF invalidates the faulting address\'s entries (SDM Vol. 3A §4.10.4.1): a read after a faulting write walks', () => {
    const { v, pt } = setup();
    pt.map(0x7100_0000n, 0x30_0000n); // read-only
    v.read(0x7100_0000n);
    expect(v.read(0x7100_0000n).tlb).toBe('l1');
    expect(v.write(0x7100_0000n).status).toBe('guest-pf');
    expect(v.read(0x7100_0000n).tlb).toBe('miss');
  });

  it('a write through an entry cached by a read of a clean page walks (to set D, SDM Vol. 3A §4.8); then it hits', () => {
    const { v } = setup();
    v.read(VA);
    expect(v.read(VA).tlb).toBe('l1');
    expect(v.write(VA).tlb).toBe('miss');
    expect(v.write(VA).tlb).toBe('l1');
  });
});

describe('KVM\'s flushes reach the TLB', () => {
  it('kvm_flush_remote_tlbs after write-protecting for dirty logging: the next write exits and is logged, as without the model (x86.c:13297, x86.c:3627)', () => {
    const run = (tlb: boolean) => {
      const { vm, ram, v } = setup({ tlb });
      v.write(VA);
      v.write(VA);
      vm.setDirtyLogging(ram, true);
      const w = v.write(VA);
      return { vm, v, w, dirty: vm.getDirtyLog(ram) };
    };
    const on = run(true);
    const off = run(false);
    expect(on.v.tlb!.stats.get('flush_all')).toBe(on.vm.stats.get('remote_tlb_flush'));
    expect(on.w.tlb).toBe('miss');
    // The data page's write-protect fault (and, EPT A/D on, the guest tables' written A/D bits).
    expect(on.w.exits.filter((e) => !e.onGuestTable).map((e) => [e.gpa, e.ret])).toEqual([[0x20_0000n, 'RET_PF_FIXED']]);
    expect(on.w.exits.map((e) => e.gpa)).toEqual(off.w.exits.map((e) => e.gpa));
    expect(on.dirty).toEqual(off.dirty);
    expect(on.dirty).toContain(0x20_0000n);
  });

  it('a new root after a fast zap-all is flushed on load (kvm_mmu_load → flush_tlb_current, mmu.c:5919)', () => {
    const { vm, v } = setup();
    v.read(VA);
    expect(v.tlb!.stats.get('flush_current')).toBe(1);
    vm.zapAllFast();
    const r = v.read(VA);
    expect(v.tlb!.stats.get('flush_current')).toBe(2);
    expect(r.tlb).toBe('miss');
  });

  it('a context reset that gets the same root back still flushes it on load (kvm_mmu_reset_context → kvm_mmu_unload; kvm_mmu_load always flush_tlb_current, mmu.c:5919)', () => {
    // WRMSR EFER.NX 1→0: a KVM_MMU_EFER_ROLE_BITS change (mmu.h:44) is kvm_mmu_reset_context
    // (x86.c:1752-1753), whose kvm_mmu_unload puts the root. The TDP root's role does not depend
    // on EFER.NX (kvm_calc_tdp_mmu_root_page_role), and a valid TDP MMU root outlives its last
    // vCPU reference (tdp_mmu.c:84-89), so kvm_mmu_load finds the same root (kvm_tdp_mmu_alloc_root,
    // tdp_mmu.c:271-274) and then flushes the current context anyway (mmu.c:5912-5919: vmx_flush_tlb_current = INVEPT
    // single-context of the EPTP, vmx.c:3241-3254). A WRMSR to EFER is no architectural TLB
    // invalidation (SDM Vol. 3A §4.10.4.1 lists MOV to CR0/CR3/CR4 and the invalidation
    // instructions), so only that flush makes the next access miss.
    const { v } = setup();
    expect(v.read(VA).tlb).toBe('miss');
    expect(v.read(VA).tlb).toBe('l1');
    const root = v.currentRoot;
    const flushes = v.tlb!.stats.get('flush_current');
    v.setRegisters({ efer: LONG_MODE.efer & ~EFER.NXE });
    const r = v.read(VA);
    expect(v.currentRoot).toBe(root);
    expect(v.tlb!.stats.get('flush_current')).toBe(flushes + 1);
    expect(r.tlb).toBe('miss');
    expect(v.read(VA).tlb).toBe('l1');
  });

  it('KVM_REQ_TLB_FLUSH_GUEST (vmx_flush_tlb_guest → INVVPID single-context of the vCPU\'s VPID)', () => {
    const { v } = setup();
    v.read(VA);
    v.flushGuestTlb();
    expect(v.tlb!.stats.get('flush_guest')).toBe(1);
    expect(v.read(VA).tlb).toBe('miss');
  });

  it('without VPIDs each VM exit flushes VPID 0\'s mappings (SDM Vol. 3C §28.3.3.1); with VPIDs they survive', () => {
    for (const vpid of [false, true]) {
      const { v } = setup({ tlb: { vpid } });
      v.read(VA);
      expect(v.read(VA + 0x1000n).exits.length).toBeGreaterThan(0); // a cold page: an EPT violation
      expect(v.read(VA).tlb).toBe(vpid ? 'l1' : 'miss');
    }
  });

  it('shadow paging goes through the model too (test/vm/vcpu-tlb-shadow.test.ts has its rules)', () => {
    const { v } = setup({ tlb: true, mmu: 'shadow' });
    expect(v.read(VA).tlb).toBe('miss');
    expect(v.read(VA).tlb).toBe('l1');
    expect(v.tlb!.stats.get('lookups')).toBe(2);
  });
});

describe('2D walk memory references', () => {
  it('no caches: (4+1)(4+1) − 1 = 24 references (Bhargava et al., ASPLOS 2008, §2; refs2d)', () => {
    const { v } = setup({});
    v.read(VA); // cold: exits, then the completed walk
    expect(v.read(VA).walkRefs).toBe(24);
  });

  it('with PSCs and the nested TLB / page-walk cache: a warm neighbour walks 1 guest level and no nested level', () => {
    const { v } = setup();
    // Nothing cached yet, but the nested page-walk cache fills during the walk itself: the guest
    // tables sit at GPAs 0x100000-0x103000 (one EPT PT). PML4 table: 4 nested refs; PDPT, PD, PT:
    // nested PDE-cache hit, 1 each; data GPA 0x200000 (another EPT PT, same EPT PD): PDPTE-cache
    // hit, 2. Guest: 4. Total 4 + 4 + 1 + 1 + 1 + 2 = 13.
    expect(v.read(VA).walkRefs).toBe(13);
    // Page 1 is cold in EPT: its EPT violation drops the guest-physical caches on its GPA's path
    // (SDM Vol. 3C §28.3.3.1). Guest: PDE cache hit → the PT only (1); the PT's GPA: nested TLB
    // hit (0); data GPA 0x201000: nested TLB miss and its PSC entries gone: 4. Total 5.
    expect(v.read(VA + 0x1000n).walkRefs).toBe(5);
    v.invlpg(VA); // drops page 0's TLB entry and every PSC entry of the PCID
    v.invlpg(VA + 0x1000n);
    // Page 0: the 4 guest levels again (PSCs were dropped); the guest tables' and the data
    // page's GPAs are in the nested TLB: 4 + 0.
    expect(v.read(VA).walkRefs).toBe(4);
    // Page 1: the PDE cache now holds the PDE, so only the PT is read; nested TLB hits: 1 + 0.
    expect(v.read(VA + 0x1000n).walkRefs).toBe(1);
    const s = v.tlb!.stats;
    expect([s.get('psc_hits'), s.get('walk_refs'), s.get('walk_refs_guest')]).toEqual([2, 13 + 5 + 4 + 1, 4 + 1 + 4 + 1]);
  });

  it('with PSCs but no nested caches: every GPA walks all 4 nested levels', () => {
    const none = { entries: 0, ways: 1 };
    const { v } = setup({ tlb: { nestedTlb: none, nestedPml4eCache: none, nestedPdpteCache: none, nestedPdeCache: none } });
    v.read(VA);
    v.read(VA + 0x1000n);
    v.invlpg(VA);
    v.invlpg(VA + 0x1000n);
    expect(v.read(VA).walkRefs).toBe(24); // 4 guest + 5 × 4 nested
    expect(v.read(VA + 0x1000n).walkRefs).toBe(9); // 1 guest + 2 × 4 nested
  });
});

describe("a TD's TLB tag: VPID, PCID and the private EPTP (the S-EPT root)", () => {
  it('private and shared entries are tagged by the S-EPT root, not the mirror or shared root (tdx.c:2836-2839); a new shared root is flushed by INVEPT global (tdx.c:2844), so no entry of the old one hits', () => {
    const fx = privateAndSharedTouched(tdFixture(48, { tlb: true }));
    const { vm, v } = fx;
    const tlb = v.tlb!;
    const sept = vm.td!.sept.rootPfn;
    const direct = v.currentRoot!;
    const tagsOf = () => [...new Set(Object.values(tlb.snapshot()).flat().filter((e) => 'eptp' in e).map((e) => (e as { eptp: number }).eptp))];
    // Private (0x7000_0000) and shared (0x7100_0000) pages hit under the one tag.
    expect(v.read(0x7000_0000n).tlb).not.toBe('miss');
    expect(v.read(0x7100_0000n).tlb).not.toBe('miss');
    expect(tagsOf()).toEqual([sept]);
    expect([direct.pfn, v.currentMirrorRoot!.pfn]).not.toContain(sept);
    // kvm_mmu_zap_all_fast on a TD invalidates the direct roots only (KVM_DIRECT_ROOTS): the vCPU
    // loads a new shared root, which kvm_mmu_load flushes (mmu.c:5919 → tdx_flush_tlb_current:
    // INVEPT global, tdx.c:2844). The tag (the S-EPT root) is the same, so only that flush keeps
    // the old root's translations from hitting.
    const flushes = tlb.stats.get('flush_current');
    vm.zapAllFast();
    expect(v.read(0x7100_0000n).tlb).toBe('miss');
    expect(v.currentRoot).not.toBe(direct);
    expect(tlb.stats.get('flush_current')).toBe(flushes + 1);
    expect(v.read(0x7000_0000n).tlb).toBe('miss'); // INVEPT global dropped the private entry too
    expect(tagsOf()).toEqual([sept]);
  });
});
