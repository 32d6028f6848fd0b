/**
 * Survivors of `npm run mutate` in src/tdp/tdp-mmu.ts (a thread per mutant and the reused worker
 * agree, test/support/compare-mutation-reports.mjs): the root lifetime, what each range operation
 * changes (and that it runs VM-wide, vCPU -1), and the SPTE-change checks. Expected values cite
 * Linux v6.16.1 arch/x86/kvm/mmu/tdp_mmu.c, spte.c and spte.h.
 */
import { describe, expect, it } from 'vitest';
import { InvariantViolation, PageRole, SHADOW_NONPRESENT_VALUE, Vm, isAccessed, isWritable, memslotPfn, type MmuEvent } from '../../src';

function flat(hostPageSize: '4K' | '2M', checkInvariants = false) {
  const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants });
  const slot = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const v = vm.createVcpu(); // paging off: GVA = GPA
  const leaf = (gfn: number) => vm.tdp.leaves(v.currentRoot!).find(([g]) => g === gfn);
  const changes = (): MmuEvent[] => vm.events.all.filter((e) => e.kind === 'spte_change');
  return { vm, slot, v, leaf, changes };
}

describe('roots: kvm_tdp_mmu_alloc_root (tdp_mmu.c:270-305), kvm_tdp_mmu_put_root (:79-95), invalidation', () => {
  it('a second vCPU root of the same role.word is the same root, one reference more; a new root starts at two', () => {
    const { vm, v } = flat('4K');
    v.read(0x1000n);
    const root = v.currentRoot!;
    expect(root.refcount).toBe(2); // :297-301 one for the vCPU, one for the TDP MMU
    const alloc = vm.events.all.filter((e) => e.kind === 'root_alloc');
    expect(alloc.length).toBe(1);
    expect(alloc[0]!.outcome).toBe(`role 0x${root.role.word.toString(16)}`);
    expect(alloc[0]!.level).toBe(4);
    expect(vm.tdp.getRoot(root.role, 0)).toBe(root); // :283-289 reuse by role.word
    expect(root.refcount).toBe(3);
    expect(vm.events.all.filter((e) => e.kind === 'root_alloc').length).toBe(1);
    expect(() => { vm.tdp.putRoot(root); vm.tdp.putRoot(root); vm.tdp.putRoot(root); }).toThrow(InvariantViolation); // :89 KVM_BUG_ON valid root
  });

  it('invalidation zaps each valid root once and drops the TDP MMU reference, without a remote flush; the last put frees it', () => {
    const { vm, v } = flat('4K');
    v.write(0x20_0000n);
    const root = v.currentRoot!;
    const flushes = vm.stats.get('remote_tlb_flush');
    expect(vm.tdp.invalidateAllRoots()).toBe(1);
    expect(root.role.invalid).toBe(true);
    expect(root.refcount).toBe(1); // the vCPU's reference is left
    expect(vm.tdp.leaves(root)).toEqual([]); // kvm_tdp_mmu_zap_invalidated_roots
    // Neither kvm_tdp_mmu_invalidate_roots nor kvm_tdp_mmu_zap_invalidated_roots flushes: the vCPU
    // flushes when it loads its next root (tdp_mmu.c:1056-1064, kvm_mmu_load).
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes);
    expect(vm.tdp.invalidateAllRoots()).toBe(0); // already invalid: skipped
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes);
    expect(vm.tdp.roots).toContain(root);
    vm.events.clear();
    vm.tdp.putRoot(root, 0);
    expect(vm.tdp.roots).not.toContain(root); // :91-93 list_del_rcu
    expect(vm.events.all.filter((e) => e.kind === 'root_free').map((e) => [e.vcpu, e.level])).toEqual([[0, 4]]);
  });
});

describe('roots freed and flushed for the VM, not a vCPU (vcpu -1)', () => {
  it('kvm_mmu_zap_all_fast frees a root no vCPU holds and, with no shadow page, flushes nothing; a put without a vCPU frees as the VM', () => {
    const { vm } = flat('4K');
    const role = PageRole.pack({ level: 4, direct: true, access: 7 }, vm.config.kvm);
    const idle = vm.tdp.getRoot(role, 0);
    vm.tdp.putRoot(idle, 0); // the vCPU let go: only the TDP MMU's own reference is left (tdp_mmu.c:297-301)
    const held = vm.tdp.getRoot(role.with({ smm: 1 }), 0);
    vm.events.clear();
    expect(vm.tdp.invalidateAllRoots()).toBe(2);
    // kvm_tdp_mmu_invalidate_roots + zap_invalidated_roots drop the MMU's reference: the idle root's
    // last one, so kvm_tdp_mmu_put_root (tdp_mmu.c:79-95) frees it; neither has a vCPU (struct kvm only).
    expect(vm.events.all.filter((e) => e.kind === 'root_free').map((e) => [e.vcpu, e.level])).toEqual([[-1, 4]]);
    // kvm_mmu_zap_all_fast's only remote flush is kvm_zap_obsolete_pages' kvm_mmu_commit_zap_page
    // (mmu.c:6609-6617), which returns at once on an empty list of shadow pages (mmu.c:2728-2729);
    // the TDP roots' invalidation and zap do not flush (tdp_mmu.c:1056-1064).
    expect(vm.events.all.filter((e) => e.kind === 'tlb_flush')).toEqual([]);
    vm.events.clear();
    vm.tdp.putRoot(held); // kvm_tdp_mmu_put_root(kvm, root): no vCPU
    expect(vm.events.all.filter((e) => e.kind === 'root_free').map((e) => [e.vcpu, e.level])).toEqual([[-1, 4]]);
    expect(vm.tdp.roots).toEqual([]);
  });

  it('a table below a root has the root\'s role but the level (tdp_mmu.c:239-250 tdp_mmu_init_child_sp); checkInvariants finds another', () => {
    const { vm, v } = flat('4K', true);
    v.write(0x20_0000n);
    const root = v.currentRoot!;
    const [sp] = vm.tdp.lastSpte(root, 0x200);
    expect(sp.role.word).toBe(root.role.with({ level: 1 }).word);
    expect(() => vm.tdp.checkInvariants()).not.toThrow();
    sp.role = sp.role.with({ smm: 1 });
    let e: unknown;
    try { vm.tdp.checkInvariants(); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(InvariantViolation);
    expect((e as InvariantViolation).rule).toBe('child-role');
  });
});

describe('range operations change only what qualifies, count it, and run VM-wide (vCPU -1)', () => {
  it('write protection, dirty clearing and aging of three written 4K pages', () => {
    const { vm, v, leaf, changes } = flat('4K');
    for (const gpa of [0x20_0000n, 0x20_1000n, 0x20_2000n]) v.write(gpa);
    vm.events.clear();
    // wrprot_gfn_range (tdp_mmu.c:1423-1451): each writable leaf loses W; a second pass finds none (:1440-1442).
    expect(vm.tdp.wrprotRange(0x200, 0x400)).toBe(3);
    expect(vm.tdp.wrprotRange(0x200, 0x400)).toBe(0);
    expect(changes().map((e) => e.vcpu)).toEqual([-1, -1, -1]);
    expect(isWritable(leaf(0x200)![2])).toBe(false);
    // clear_dirty_gfn_range (:1642-1668): A/D on, not guest mode → D; every present leaf with D, once.
    vm.events.clear();
    expect(vm.tdp.clearDirtySlot(0x200, 0x400)).toBe(3);
    expect(vm.tdp.clearDirtySlot(0x200, 0x400)).toBe(0);
    expect(changes().map((e) => e.vcpu)).toEqual([-1, -1, -1]);
    // The writes after it take the fast path back to W (MMU-writable kept, spte.h:507).
    for (const gpa of [0x20_0000n, 0x20_1000n, 0x20_2000n]) v.write(gpa);
    expect(isWritable(leaf(0x201)![2])).toBe(true);
    vm.events.clear();
    // clear_dirty_pt_masked with wrprot (:1688-1742, kvm_mmu_write_protect_pt_masked): W on the 4K leaves of the mask.
    expect(vm.tdp.clearDirtyPtMasked(0x200, 0x202, true)).toBe(2);
    expect(vm.tdp.clearDirtyPtMasked(0x200, 0x202, true)).toBe(0);
    expect(changes().map((e) => e.vcpu)).toEqual([-1, -1]);
    expect(isWritable(leaf(0x202)![2])).toBe(true);
    // age_gfn_range (:1363-1406): accessed leaves are young once, then lose A.
    vm.events.clear();
    expect(vm.tdp.testAge(0x201)).toBe(true);
    expect(vm.tdp.ageRange(0x200, 0x400)).toBe(3);
    expect(vm.tdp.ageRange(0x200, 0x400)).toBe(0);
    expect(changes().map((e) => e.vcpu)).toEqual([-1, -1, -1]);
    expect(isAccessed(vm.config, leaf(0x201)![2])).toBe(false);
    expect(vm.tdp.testAge(0x201)).toBe(false);
    expect(vm.tdp.testAge(0x300)).toBe(false); // nothing mapped there
    // write_protect_gfn (:1857-1886) VM-wide too.
    vm.events.clear();
    expect(vm.tdp.writeProtectGfn(0x202)).toBe(true);
    expect(changes().map((e) => e.vcpu)).toEqual([-1]);
  });

  it('a 2M leaf: huge write protection, then an eager split into 512 4K leaves, once', () => {
    const { vm, v, leaf, changes } = flat('2M');
    v.write(0x20_0000n);
    expect(leaf(0x200)![1]).toBe(2);
    vm.events.clear();
    expect(vm.tdp.wrprotHugeRange(0x200, 0x400)).toBe(1);
    expect(vm.tdp.wrprotHugeRange(0x200, 0x400)).toBe(0);
    expect(changes().map((e) => e.vcpu)).toEqual([-1]);
    const splits = vm.stats.get('huge_page_splits');
    vm.events.clear();
    expect(vm.tdp.splitRange(0x200, 0x400)).toBe(1); // tdp_mmu_split_huge_page (:1494-1520)
    expect(vm.tdp.splitRange(0x200, 0x400)).toBe(0);
    expect(vm.stats.get('huge_page_splits')).toBe(splits + 1);
    expect(changes().every((e) => e.vcpu === -1)).toBe(true);
    // Only the link is an SPTE change: the 512 small SPTEs are written into the unlinked table
    // directly (tdp_mmu.c:1501-1502), the link goes through tdp_mmu_link_sp (:1516).
    expect(changes().length).toBe(1);
    expect(vm.tdp.leaves(v.currentRoot!).length).toBe(512);
    // Zapping leaves: counted, one flush, one 'zap' event, VM-wide.
    vm.events.clear();
    expect(vm.tdp.zapLeafs(0x200, 0x210)).toBe(16);
    expect(vm.events.all.filter((e) => e.kind === 'zap').map((e) => [e.vcpu, e.outcome])).toEqual([[-1, 'zap range: 16 leaves']]);
    expect(vm.events.all.filter((e) => e.kind === 'tlb_flush').map((e) => [e.vcpu, e.gpa, e.level, e.outcome])).toEqual([[-1, null, null, 'zap range']]);
  });
});

describe('the SPTE-change checks (handle_changed_spte, tdp_mmu.c:571-654)', () => {
  it('a present leaf may not change PFN in place (:594-609 BUG); a non-present value may not become another one (:628-630)', () => {
    const { vm, v, leaf } = flat('4K');
    v.write(0x20_0000n);
    const [sp, idx, , spte] = vm.tdp.lastSpte(v.currentRoot!, 0x200);
    const other = spte + (1n << 12n);
    let e: unknown;
    try { vm.tdp.setSpte(sp, idx, spte, other, 0); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(InvariantViolation);
    expect((e as InvariantViolation).rule).toBe('leaf-pfn-change');
    expect((e as InvariantViolation).message).toBe(`present leaf at GFN 0x200 level 1 would change PFN without a zap (value 0x${other.toString(16)}; rule: leaf-pfn-change)`);
    expect(leaf(0x200)![2]).toBe(spte);
    const [sp2, idx2] = vm.tdp.lastSpte(v.currentRoot!, 0x201);
    expect(() => vm.tdp.setSpte(sp2, idx2, SHADOW_NONPRESENT_VALUE, 0n, 0)).toThrow(/nonpresent-change/);
  });

  it('with checking on: reserved bits and Writable ⇒ MMU-writable ⇒ Host-writable (spte.c:248, spte.h:452-461); off: not checked', () => {
    for (const checking of [true, false]) {
      const { vm, v } = flat('4K', checking);
      v.write(0x20_0000n);
      v.write(0x20_1000n);
      v.write(0x20_2000n);
      const c = vm.config;
      const at = (gfn: number) => vm.tdp.lastSpte(v.currentRoot!, gfn);
      const [sp, i0, , s0] = at(0x200);
      const [, i1, , s1] = at(0x201);
      const [, i2, , s2] = at(0x202);
      const rsvd = (s0 & ~(7n << 3n)) | (2n << 3n); // EPT memory type 2 is reserved (mmu.c:5245 bad_mt_xwr)
      const wNotMmu = s1 & ~c.mmuWritableMask;
      const mmuNotHost = s2 & ~c.hostWritableMask;
      const rule = (f: () => void) => { try { f(); return undefined; } catch (x) { return (x as InvariantViolation).rule; } };
      expect(rule(() => vm.tdp.setSpte(sp, i0, s0, rsvd, 0))).toBe(checking ? 'spte-reserved-bits' : undefined);
      expect(rule(() => vm.tdp.setSpte(sp, i1, s1, wNotMmu, 0))).toBe(checking ? 'spte-writable-states' : undefined);
      expect(rule(() => vm.tdp.setSpte(sp, i2, s2, mmuNotHost, 0))).toBe(checking ? 'spte-writable-states' : undefined);
    }
  });

  it('checkInvariants: a leaf mapping another frame than its slot says is refused, naming both', () => {
    const { vm, v, slot } = flat('4K');
    v.write(0x20_0000n);
    vm.tdp.checkInvariants();
    const [sp, idx, , spte] = vm.tdp.lastSpte(v.currentRoot!, 0x200);
    const pfn = memslotPfn(slot, 0x200);
    vm.tdp.setSpte(sp, idx, spte, SHADOW_NONPRESENT_VALUE, 0);
    vm.tdp.setSpte(sp, idx, SHADOW_NONPRESENT_VALUE, spte + (1n << 12n), 0);
    expect(() => vm.tdp.checkInvariants()).toThrow(`leaf for GFN 0x200 maps PFN 0x${(pfn + 1).toString(16)}, the slot says 0x${pfn.toString(16)}`);
  });
});
