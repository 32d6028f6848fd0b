import { describe, expect, it } from 'vitest';
import { SHADOW_NONPRESENT_VALUE, InvariantViolation, isWritable, isMmuWritable, spteToPfn } from '../../src';
import { fixture } from '../vm/fixtures';

describe('TDP MMU', () => {
  it('zapping a GFN range makes the next access fault again; stats follow', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept' }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 4 });
    for (let i = 0n; i < 4n; i++) v.read(0x7000_0000n + i * 4096n);
    const before = vm.stats.get('pages_4k');
    expect(vm.zapGfnRange(0x20_0000n, 0x20_2000n)).toBe(2);
    expect(vm.stats.get('pages_4k')).toBe(before - 2);
    expect(v.read(0x7000_0000n).exits.length).toBe(1);
    expect(v.read(0x7000_3000n).exits.length).toBe(0);
  });

  it('zap-all empties the roots without invalidating them; vCPUs keep their root and fault into it again (tdp_mmu.c:1013-1031)', () => {
    const { vm, v, pt } = fixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const old = v.currentRoot!;
    vm.zapAll();
    expect(old.role.invalid).toBe(false);
    expect(vm.tdp.leaves(old)).toEqual([]);
    expect(v.read(0x7000_0000n).exits.length).toBe(2); // the table page and the data page fault again
    expect(v.currentRoot).toBe(old);
    expect(vm.tdp.roots).toEqual([old]);
  });

  it('dirty logging write-protects, splits huge pages on the next write, and logs exactly the written pages', () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', adEnabled: false });
    pt.map(0x7000_0000n, 0x20_0000n, { count: 8, flags: { writable: true } });
    for (let i = 0n; i < 8n; i++) v.read(0x7000_0000n + i * 4096n);
    expect(vm.stats.get('pages_2m')).toBe(2);
    vm.setDirtyLogging(ram, true, { eagerSplit: false });
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === 0x200)!;
    expect(isWritable(leaf[2])).toBe(false);
    expect(isMmuWritable(vm.config, leaf[2])).toBe(true);
    v.write(0x7000_3000n);
    // Two huge pages split: the data's, and the one holding the guest's page table, because with
    // EPT A/D off the CPU's write of D into the guest PTE is a write through EPT
    // (kvm-unit-tests x86/vmx_tests.c:3287-3293, 3305).
    expect(vm.stats.get('huge_page_splits')).toBe(2);
    v.write(0x7000_5000n); // fast path on the split, write-protected 4K SPTE
    expect(v.stats.get('pf_fast')).toBe(1);
    // The page-table page the CPU wrote is logged too (mark_page_dirty_in_slot, mmu.c:3544).
    const ptPage = BigInt(pt.getEntry(0x7000_3000n, 1).gpa) & ~0xfffn;
    expect(vm.getDirtyLog(ram)).toEqual([ptPage, 0x20_3000n, 0x20_5000n]);
    expect(vm.getDirtyLog(ram)).toEqual([]);
    v.write(0x7000_3000n);
    expect(vm.getDirtyLog(ram)).toEqual([0x20_3000n]);
  });

  it('aging clears A; the next hardware walk sets it again (EPT A/D)', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept' }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2 });
    v.read(0x7000_0000n);
    v.read(0x7000_1000n);
    expect(vm.age(0x20_0000n, 0x20_2000n)).toBe(2);
    expect(vm.tdp.testAge(0x200)).toBe(false);
    expect(vm.age(0x20_0000n, 0x20_2000n)).toBe(0);
    v.read(0x7000_0000n);
    expect(vm.tdp.testAge(0x200)).toBe(true);
    expect(vm.tdp.testAge(0x201)).toBe(false);
  });

  it('aging without A/D turns SPTEs into access-tracked ones, restored by the fast path', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept', adEnabled: false }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    expect(vm.age(0x20_0000n, 0x20_1000n)).toBe(1);
    const r = v.read(0x7000_0000n);
    expect(r.exits.map((e) => [e.ret, e.fast])).toEqual([['RET_PF_FIXED', true]]);
  });

  it('every SPTE change goes through one function that refuses a PFN change of a present leaf', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept' }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const [sp, idx, , spte] = vm.tdp.lastSpte(v.currentRoot!, 0x200);
    expect(() => vm.tdp.setSpte(sp, idx, spte, spte + 0x1000n, 0)).toThrow(InvariantViolation);
    expect(vm.tdp.readSpte(sp, idx)).toBe(spte); // unchanged
    vm.tdp.setSpte(sp, idx, spte, SHADOW_NONPRESENT_VALUE, 0);
    expect(spteToPfn(vm.tdp.readSpte(sp, idx))).toBe(0);
    vm.tdp.checkInvariants();
  });

  it('checking mode catches a corrupted page count', () => {
    const { vm, v, pt } = fixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    vm.stats.inc('pages_2m');
    expect(() => vm.tdp.checkInvariants()).toThrow(/page-stats/);
  });

  it('NX huge pages: an executable access maps 4K and counts nx_lpage_splits', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept', nxHugePages: true });
    pt.map(0x7000_0000n, 0x20_0000n);
    v.fetch(0x7000_0000n);
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === 0x200)!;
    expect(leaf[1]).toBe(1);
    expect(vm.stats.get('nx_lpage_splits')).toBeGreaterThanOrEqual(1);
  });
});

describe('TDP MMU: PML dirty logging and slot zaps', () => {
  it('with PML, enabling dirty logging clears D and writes are logged without exits', () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', pml: true }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 4, flags: { writable: true } });
    for (let i = 0n; i < 4n; i++) v.write(0x7000_0000n + i * 4096n);
    vm.setDirtyLogging(ram, true);
    vm.getDirtyLog(ram); // start clean (the tables' A/D writes were logged too)
    const r = v.write(0x7000_2000n);
    expect(r.exits).toEqual([]); // still writable: the hardware sets D and PML logs the GPA
    expect(vm.getDirtyLog(ram)).toContain(0x20_2000n);
    expect(vm.getDirtyLog(ram)).toEqual([]);
    expect(v.write(0x7000_2000n).exits).toEqual([]);
    expect(vm.getDirtyLog(ram)).toContain(0x20_2000n);
  });

  it('eager split (the default) splits every huge leaf when dirty logging starts', () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', pml: true });
    pt.map(0x7000_0000n, 0x20_0000n, { count: 8, flags: { writable: true } });
    v.write(0x7000_0000n);
    const huge = vm.stats.get('pages_2m');
    vm.setDirtyLogging(ram, true);
    expect(vm.stats.get('pages_2m')).toBe(0);
    expect(vm.stats.get('pages_4k')).toBe(huge * 512);
    vm.getDirtyLog(ram);
    expect(v.write(0x7000_5000n).exits).toEqual([]); // PML: still writable, D logged
    expect(vm.getDirtyLog(ram)).toContain(0x20_5000n);
  });

  it('PML needs EPT with A/D', () => {
    expect(() => fixture({ flavour: 'npt', pml: true })).toThrow(/pml-needs-ept-ad/);
    expect(() => fixture({ flavour: 'ept', adEnabled: false, pml: true })).toThrow(/pml-needs-ept-ad/);
  });

  it('zapping a slot removes exactly its leaves', () => {
    const { vm, v, pt, rom } = fixture({ flavour: 'ept' }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n);
    pt.map(0x8000_0000n, 0x4000_0000n);
    v.read(0x7000_0000n);
    v.read(0x8000_0000n);
    expect(vm.zapSlot(rom)).toBe(1);
    expect(v.read(0x7000_0000n).exits).toEqual([]);
    expect(v.read(0x8000_0000n).exits.length).toBe(1);
  });
});

describe('tdp_mmu_pages counts linked tables, not roots (tdp_mmu.c:327-340)', () => {
  it('one 4K mapping under a 4-level root: 4 tables, the root not among them; zap-all returns to 0', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept' }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n);
    // kvm_tdp_mmu_alloc_root → tdp_mmu_alloc_sp + tdp_mmu_init_sp (tdp_mmu.c:293-294) accounts nothing.
    expect(v.read(0x7000_0000n).status).toBe('ok');
    expect(vm.tdp.roots.length).toBe(1);
    // tdp_mmu_link_sp → tdp_account_mmu_page (tdp_mmu.c:1227) per linked table. The guest's tables
    // (pool at GPA 0x10_0000) and the data page (0x20_0000) lie in the first GiB: one PDPT, one
    // PD, and a PT for each of PD entries 0 and 1 (4 KiB host pages: no huge leaf).
    expect(vm.stats.get('tdp_mmu_pages')).toBe(4);
    expect(vm.tdp.pageCount).toBe(5); // the root is allocated all the same
    vm.zapAll();
    // handle_removed_pt → tdp_mmu_unlink_sp → tdp_unaccount_mmu_page (tdp_mmu.c:349-351) for every
    // linked table; the freed root was never accounted (kvm_tdp_mmu_put_root, tdp_mmu.c:79-95).
    expect(vm.stats.get('tdp_mmu_pages')).toBe(0);
    expect(v.read(0x7000_0000n).status).toBe('ok');
    expect(vm.stats.get('tdp_mmu_pages')).toBe(4);
  });
});
