/**
 * Mirror roots (TDX's S-EPT mirror) and the shared-bit gfn offset of direct roots in the TDP MMU,
 * driven on a TdpMmu of its own whose external page table hooks only record their calls, so the
 * order and arguments of link/set/remove/free are observable without a TD (test/tdx checks the TD
 * side: SEAMCALLs, counters). Expected values cite Linux v6.16.1 arch/x86/kvm/mmu/tdp_mmu.c,
 * mmu_internal.h and vmx/tdx.c.
 */
import { describe, expect, it } from 'vitest';
import {
  Counters, InvariantViolation, KVM_ALL_ROOTS, KVM_DIRECT_ROOTS, KVM_MIRROR_ROOTS, PageRole, RET_PF, SHADOW_NONPRESENT_VALUE, TdpMmu, Vm,
  VCPU_STAT_NAMES, isShadowPresent, makeMmioSpte, memslotPfn, newPageFault, type ExternalPageTableHooks, type Memslot, type TdpPage,
} from '../../src';

interface Harness {
  vm: Vm;
  slot: Memslot;
  tdp: TdpMmu;
  calls: string[];
  hooks: ExternalPageTableHooks & { refuse?: 'set' | 'link' | undefined; refuseLevel?: number };
  root(mirror: boolean): TdpPage;
  /** A vCPU fault on `gpa` after kvm_mmu_faultin_pfn: slot, pfn and map_writable filled in. */
  fault(root: TdpPage, gpa: bigint, errorCode?: bigint): number;
}

const hex = (n: number) => n.toString(16);
/** include/uapi/asm-generic/errno-base.h:20. */
const EBUSY = 16;

function harness(gfnDirectBits = 0): Harness {
  const vm = new Vm({ spte: { flavour: 'ept' } });
  const slot = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
  const calls: string[] = [];
  // A refusing hook returns -EBUSY, as tdx.c:1736-1737 (TDH.MEM.SEPT.ADD) and tdx.c:1608-1611
  // (TDH.MEM.PAGE.AUG) do when the TDX module reports TDX_OPERAND_BUSY.
  const hooks: ExternalPageTableHooks & { refuse?: 'set' | 'link' | undefined; refuseLevel?: number } = {
    linkExternalSpt(gfn, level) {
      if (hooks.refuse === 'link' && (hooks.refuseLevel ?? level) === level) {
        calls.push(`link ${hex(gfn)} L${level} busy`);
        return -EBUSY;
      }
      calls.push(`link ${hex(gfn)} L${level}`);
      return 0;
    },
    setExternalSpte(gfn, level, pfn) {
      if (hooks.refuse === 'set') {
        calls.push(`set ${hex(gfn)} L${level} busy`);
        return -EBUSY;
      }
      calls.push(`set ${hex(gfn)} L${level} pfn ${hex(pfn)}`);
      return 0;
    },
    removeExternalSpte: (gfn, level, pfn) => void calls.push(`remove ${hex(gfn)} L${level} pfn ${hex(pfn)}`),
    freeExternalSpt: (gfn, level) => void calls.push(`free ${hex(gfn)} L${level}`),
  };
  // The VM as the TDP MMU sees it, with recording hooks and the shared bit of a TD.
  const ctx = Object.create(vm, { external: { value: hooks }, gfnDirectBits: { value: gfnDirectBits } }) as Vm;
  const tdp = new TdpMmu(ctx);
  const role = PageRole.pack({ level: 4, direct: true, access: 7 }, vm.config.kvm);
  return {
    vm, slot, tdp, calls, hooks,
    root: (mirror) => tdp.getRoot(role.with({ isMirror: mirror }), 0),
    fault(root, gpa, errorCode = 0x2n) {
      const f = newPageFault(gpa, errorCode);
      f.slot = slot;
      f.pfn = memslotPfn(slot, f.gfn);
      f.mapWritable = true;
      return tdp.map(f, root, 0, new Counters(VCPU_STAT_NAMES));
    },
  };
}

describe('a mirror root mirrors every SPTE change into the external page table (tdp_mmu.c:515-555, 771-781)', () => {
  it('a fault links one external table per level below the root, then sets a 4K leaf even where 2M is possible', () => {
    const h = harness();
    const root = h.root(true);
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.FIXED);
    // tdx.c:3325-3328 tdx_gmem_private_max_mapping_level: PG_LEVEL_4K, although the 2M-backed slot allows 2M.
    // tdp_mmu.c:546-548 link_external_spt for a non-leaf, :543 set_external_spte for the leaf; the gfn
    // is iter->gfn, the first gfn the entry maps (0x200 from level 2 down).
    expect(h.calls).toEqual(['link 0 L4', 'link 0 L3', 'link 200 L2', `set 200 L1 pfn ${hex(memslotPfn(h.slot, 0x200))}`]);
    expect(h.tdp.leaves(root).map(([g, l]) => [g, l])).toEqual([[0x200, 1]]);
  });

  it('a refused set_external_spte puts the old SPTE back, not FROZEN_SPTE (tdp_mmu.c:548-549), and the fault is RET_PF_RETRY (tdp_mmu.c:1172-1173)', () => {
    const h = harness();
    const root = h.root(true);
    h.hooks.refuse = 'set';
    const changes = h.vm.stats.get('spte_changes');
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.RETRY); // tdp_mmu.c:1172-1173
    expect(h.tdp.leaves(root)).toEqual([]); // the leaf entry went back to non-present (tdp_mmu.c:548-549)
    expect(h.tdp.lastSpte(root, 0x200)[3]).toBe(SHADOW_NONPRESENT_VALUE);
    // The three links stay (nothing unwinds them, tdp_mmu.c:1318-1319): 3 tables, 3 non-leaf changes;
    // the refused leaf is no change at all: handle_changed_spte is skipped (tdp_mmu.c:724-726).
    expect(h.vm.stats.get('spte_changes') - changes).toBe(3);
    expect(h.vm.stats.get('pages_4k')).toBe(0);
    h.hooks.refuse = undefined;
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.FIXED); // not left FROZEN: the retry maps it
    expect(h.calls.slice(-2)).toEqual(['set 200 L1 busy', `set 200 L1 pfn ${hex(memslotPfn(h.slot, 0x200))}`]);
  });

  it('a refused link_external_spt frees the new child table and the fault is RET_PF_RETRY; tables linked above stay (tdp_mmu.c:1290-1299)', () => {
    const h = harness();
    const root = h.root(true);
    h.hooks.refuse = 'link';
    h.hooks.refuseLevel = 3; // the level-3 entry: the level-4 link (a level-3 table) succeeds first
    const tables = h.vm.host.tableFrames;
    const changes = h.vm.stats.get('spte_changes');
    const events = h.vm.events.length;
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.RETRY); // tdp_mmu.c:1297-1299 goto retry, ret = RET_PF_RETRY (:1244)
    expect(h.calls).toEqual(['link 0 L4', 'link 0 L3 busy']);
    // The level-4 link holds: one table below the root is accounted (tdp_account_mmu_page after a
    // successful link, tdp_mmu.c:1227); the refused level-2 table is freed unaccounted
    // (tdp_mmu_free_sp, tdp_mmu.c:1298 → :56-61): one page besides the root, one host table frame.
    expect(h.tdp.pageCount).toBe(2);
    expect(h.vm.stats.get('tdp_mmu_pages')).toBe(1);
    expect(h.vm.host.tableFrames - tables).toBe(1);
    // Only the level-4 entry changed (handle_changed_spte is skipped on failure, tdp_mmu.c:724-726).
    expect(h.vm.stats.get('spte_changes') - changes).toBe(1);
    expect(h.vm.events.length - events).toBe(1);
    // The level-3 entry is back to its old value, not FROZEN_SPTE (tdp_mmu.c:548-549).
    const [sp, , level, spte] = h.tdp.lastSpte(root, 0x200);
    expect([sp.level, level, spte]).toEqual([3, 3, SHADOW_NONPRESENT_VALUE]);
    h.hooks.refuse = undefined;
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.FIXED); // the guest's retry maps it
    expect(h.calls.slice(2)).toEqual(['link 0 L3', 'link 200 L2', `set 200 L1 pfn ${hex(memslotPfn(h.slot, 0x200))}`]);
    expect(h.tdp.pageCount).toBe(4);
    expect(h.vm.stats.get('tdp_mmu_pages')).toBe(3);
    expect(h.vm.host.tableFrames - tables).toBe(3);
    expect(h.vm.stats.get('pages_4k')).toBe(1);
  });

  it('a refused link at the root entry leaves the MMU as it was (tdp_mmu.c:1297-1299)', () => {
    const h = harness();
    const root = h.root(true);
    h.hooks.refuse = 'link';
    const tables = h.vm.host.tableFrames;
    const pages = h.tdp.pageCount;
    const accounted = h.vm.stats.get('tdp_mmu_pages');
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.RETRY);
    expect([h.tdp.pageCount, h.vm.stats.get('tdp_mmu_pages'), h.vm.host.tableFrames]).toEqual([pages, accounted, tables]);
    expect(h.tdp.lastSpte(root, 0x200)[3]).toBe(SHADOW_NONPRESENT_VALUE);
  });

  it('a hook that throws (a model bug, not a refusal) still puts the old SPTE back before the error escapes', () => {
    const h = harness();
    const root = h.root(true);
    h.hooks.setExternalSpte = () => { throw new Error('set exploded'); };
    expect(() => h.fault(root, 0x20_0000n)).toThrow('set exploded');
    expect(h.tdp.lastSpte(root, 0x200)[3]).toBe(SHADOW_NONPRESENT_VALUE);
  });

  it('zapping a mirror leaf removes the external leaf with the old pfn (tdp_mmu.c:777-781)', () => {
    const h = harness();
    const root = h.root(true);
    h.fault(root, 0x20_0000n);
    h.calls.length = 0;
    expect(h.tdp.zapLeafs(0x200, 0x201, -1, 'test', KVM_MIRROR_ROOTS)).toBe(1);
    expect(h.calls).toEqual([`remove 200 L1 pfn ${hex(memslotPfn(h.slot, 0x200))}`]);
  });

  it('zapping the whole mirror tree removes each leaf, then frees each table, bottom up (tdp_mmu.c:479-489)', () => {
    const h = harness();
    const root = h.root(true);
    h.fault(root, 0x20_0000n);
    h.calls.length = 0;
    expect(h.tdp.zapRoots(KVM_MIRROR_ROOTS)).toBe(1);
    // The level-4 entry goes (no external call for the root's own entry), then handle_removed_pt
    // recurses: the 4K leaf is removed, its table (gfn 0x200, level 1) freed, then the level-2 and
    // level-3 tables.
    expect(h.calls).toEqual([`remove 200 L1 pfn ${hex(memslotPfn(h.slot, 0x200))}`, 'free 200 L1', 'free 0 L2', 'free 0 L3']);
    expect(h.tdp.leaves(root)).toEqual([]);
  });

  it('a direct root never calls the hooks', () => {
    const h = harness();
    const root = h.root(false);
    h.fault(root, 0x20_0000n);
    h.tdp.zapRoots(KVM_DIRECT_ROOTS);
    expect(h.calls).toEqual([]);
  });

  it('a present mirror SPTE changed in place is a KVM_BUG_ON (tdp_mmu.c:525), nothing written', () => {
    const h = harness();
    const root = h.root(true);
    h.fault(root, 0x20_0000n);
    const [, , , spte] = h.tdp.lastSpte(root, 0x200);
    const [sp, idx] = h.tdp.lastSpte(root, 0x200);
    let e: unknown;
    try { h.tdp.setSpte(sp, idx, spte, spte & ~2n, 0); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(InvariantViolation);
    expect((e as InvariantViolation).rule).toBe('mirror-in-place');
    expect((e as InvariantViolation).message).toContain('GFN 0x200 level 1');
    expect(h.tdp.lastSpte(root, 0x200)[3]).toBe(spte);
  });

  it('a mirror entry set to a non-present value (an MMIO SPTE) calls no set/link hook: only a present new SPTE goes to the external table (tdp_mmu.c:667-680, 765-772)', () => {
    const h = harness();
    const root = h.root(true);
    h.fault(root, 0x20_0000n);
    const [sp, idx] = h.tdp.lastSpte(root, 0x200);
    const calls = h.calls.length;
    const mmio = makeMmioSpte(h.vm.config, 0x201, h.vm.config.acc.ALL, 0);
    expect(h.tdp.setSpte(sp, idx + 1, SHADOW_NONPRESENT_VALUE, mmio, 0)).toBe(0);
    expect(h.calls.length).toBe(calls);
    expect(h.tdp.readSpte(sp, idx + 1)).toBe(mmio);
  });

  it('the fast path takes only the direct root (tdp_mmu_get_root(…, KVM_DIRECT_ROOTS), mmu.c fast_page_fault)', () => {
    const h = harness();
    const root = h.root(true);
    const f = newPageFault(0x20_0000n, 0x3n);
    expect(() => h.tdp.fastPageFault(f, root, 0, new Counters(VCPU_STAT_NAMES))).toThrow(InvariantViolation);
  });
});

describe('kvm_gfn_root_bits (mmu_internal.h:178-187): direct roots index with the shared bit, mirror roots without', () => {
  it('the same gfn lands at gfn | shared in the direct root and at gfn in the mirror root', () => {
    const shared = 1 << 27; // a shared bit as a gfn (GPAW 40 here: bit 39 of the GPA)
    const h = harness(shared);
    const direct = h.root(false);
    const mirror = h.root(true);
    expect(h.tdp.gfnBitsOf(direct)).toBe(shared);
    expect(h.tdp.gfnBitsOf(mirror)).toBe(0);
    h.fault(direct, 0x20_0000n);
    h.fault(mirror, 0x40_0000n);
    expect(h.tdp.leaves(direct).map(([g, l]) => [g, l])).toEqual([[0x200 + shared, 2]]); // shared: 2M allowed
    expect(h.tdp.leaves(mirror).map(([g, l]) => [g, l])).toEqual([[0x400, 1]]);
    // Range operations take natural gfns and add the root's bits: zap [0x200, 0x400) hits the direct leaf.
    expect(h.tdp.zapLeafs(0x200, 0x400, -1, 'test', KVM_ALL_ROOTS)).toBe(1);
    expect(h.tdp.leaves(direct)).toEqual([]);
    expect(h.tdp.leaves(mirror).length).toBe(1);
    expect(h.tdp.zapLeafs(0x400, 0x401, -1, 'test', KVM_ALL_ROOTS)).toBe(1);
    expect(isShadowPresent(h.tdp.lastSpte(mirror, 0x400)[3])).toBe(false);
  });

  it('a fault whose goal level holds a table replaces it by a huge leaf and flushes that gfn and level (tdp_mmu.c:1174-1177)', () => {
    const h = harness();
    const direct = h.root(false);
    // A 4K mapping first (max_level PG_LEVEL_4K), so level 2 holds a table.
    const small = newPageFault(0x20_0000n, 0x2n);
    small.slot = h.slot;
    small.pfn = memslotPfn(h.slot, small.gfn);
    small.mapWritable = true;
    small.maxLevel = 1;
    expect(h.tdp.map(small, direct, 0, new Counters(VCPU_STAT_NAMES))).toBe(RET_PF.FIXED);
    const tables = h.tdp.pageCount;
    h.vm.events.clear();
    // The next fault in that 2M region may map 2M (2M-backed slot): goal_level 2 reaches the table.
    expect(h.fault(direct, 0x20_1000n)).toBe(RET_PF.FIXED);
    expect(h.tdp.leaves(direct).map(([g, l]) => [g, l])).toEqual([[0x200, 2]]);
    expect(h.tdp.pageCount).toBe(tables - 1); // handle_removed_pt freed the 4K table
    // !is_last_spte(old): kvm_flush_remote_tlbs_gfn(kvm, iter->gfn, iter->level) by the faulting vCPU.
    const flushes = h.vm.events.all.filter((e) => e.kind === 'tlb_flush');
    expect(flushes.map((e) => [e.vcpu, e.gpa, e.level, e.outcome])).toEqual([[0, 0x20_0000n, 2, 'table replaced by huge page']]);
  });

  it('a fault never gives a present leaf another frame: refused as handle_changed_spte BUG()s (tdp_mmu.c:594-605), nothing changed', () => {
    const h = harness();
    const direct = h.root(false);
    const fault = (errorCode: bigint, pfnDelta: number, mapWritable: boolean) => {
      const f = newPageFault(0x20_0000n, errorCode);
      f.slot = h.slot;
      f.pfn = memslotPfn(h.slot, f.gfn) + pfnDelta;
      f.mapWritable = mapWritable;
      f.maxLevel = 1;
      return h.tdp.map(f, direct, 0, new Counters(VCPU_STAT_NAMES));
    };
    expect(fault(0n, 0, false)).toBe(RET_PF.FIXED); // a read-only leaf (!map_writable)
    const [, , , leaf] = h.tdp.lastSpte(direct, 0x200);
    const changes = h.vm.stats.get('spte_changes');
    const flushes = h.vm.stats.get('remote_tlb_flush');
    let e: unknown;
    try { fault(0x2n, 1, true); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(InvariantViolation);
    expect((e as InvariantViolation).rule).toBe('leaf-pfn-change');
    expect(h.tdp.lastSpte(direct, 0x200)[3]).toBe(leaf);
    expect([h.vm.stats.get('spte_changes') - changes, h.vm.stats.get('remote_tlb_flush') - flushes]).toEqual([0, 0]);
    // The same frame made writable is an ordinary change (no BUG: the pfn did not change).
    expect(fault(0x2n, 0, true)).toBe(RET_PF.FIXED);
  });

  it('test_age_gfn and the fast path look up gfn | shared in the direct root (tdp_iter.h:123-126 kvm_gfn_root_bits)', () => {
    const shared = 1 << 27;
    const h = harness(shared);
    const direct = h.root(false);
    expect(h.fault(direct, 0x20_0000n)).toBe(RET_PF.FIXED);
    // __kvm_tdp_mmu_age_gfn_range (tdp_mmu.c:1372-1395) walks [start, end) + the root's bits: the
    // leaf just made by a write fault is accessed (make_spte sets A when A/D bits are on).
    expect(h.tdp.testAge(0x200)).toBe(true);
    expect(h.tdp.testAge(0x400)).toBe(false);
    // kvm_tdp_mmu_fast_pf_get_last_sptep (tdp_mmu.c:1969-1980) walks for_each_tdp_pte, again with the
    // root's bits; the writable leaf already allows a write: RET_PF_SPURIOUS (mmu.c:3621-3622).
    const f = newPageFault(0x20_0000n, 0x3n);
    expect(h.tdp.fastPageFault(f, direct, 0, new Counters(VCPU_STAT_NAMES))).toBe(RET_PF.SPURIOUS);
  });
});
