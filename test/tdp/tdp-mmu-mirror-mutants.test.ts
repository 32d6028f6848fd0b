/**
 * Mirror roots (TDX's S-EPT mirror) and the shared-bit gfn offset of direct roots in the TDP MMU,
 * driven on a TdpMmu of its own whose external page table hooks only record their calls, so the
 * order and arguments of link/set/remove/free are observable without a TD (test/tdx checks the TD
 * side: SEAMCALLs, counters). Expected values cite Linux v6.16.1 arch/x86/kvm/mmu/tdp_mmu.c,
 * mmu_internal.h and vmx/tdx.c.
 */
import { describe, expect, it } from 'vitest';
import {
  Counters, InvariantViolation, KVM_ALL_ROOTS, KVM_DIRECT_ROOTS, KVM_MIRROR_ROOTS, PageRole, RET_PF, TdpMmu, Vm,
  VCPU_STAT_NAMES, isShadowPresent, memslotPfn, newPageFault, type ExternalPageTableHooks, type Memslot, type TdpPage,
} from '../../src';

interface Harness {
  vm: Vm;
  slot: Memslot;
  tdp: TdpMmu;
  calls: string[];
  hooks: ExternalPageTableHooks & { refuse?: 'set' | undefined };
  root(mirror: boolean): TdpPage;
  /** A vCPU fault on `gpa` after kvm_mmu_faultin_pfn: slot, pfn and map_writable filled in. */
  fault(root: TdpPage, gpa: bigint, errorCode?: bigint): number;
}

const hex = (n: number) => n.toString(16);

function harness(gfnDirectBits = 0): Harness {
  const vm = new Vm({ spte: { flavour: 'ept' } });
  const slot = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
  const calls: string[] = [];
  const hooks: ExternalPageTableHooks & { refuse?: 'set' | undefined } = {
    linkExternalSpt: (gfn, level) => void calls.push(`link ${hex(gfn)} L${level}`),
    setExternalSpte(gfn, level, pfn) {
      if (hooks.refuse === 'set') throw new Error('set refused');
      calls.push(`set ${hex(gfn)} L${level} pfn ${hex(pfn)}`);
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

  it('a refused set_external_spte puts the old SPTE back, not FROZEN_SPTE (tdp_mmu.c:551-552)', () => {
    const h = harness();
    const root = h.root(true);
    h.hooks.refuse = 'set';
    expect(() => h.fault(root, 0x20_0000n)).toThrow('set refused');
    expect(h.tdp.leaves(root)).toEqual([]); // the leaf entry went back to non-present
    h.hooks.refuse = undefined;
    expect(h.fault(root, 0x20_0000n)).toBe(RET_PF.FIXED); // not left FROZEN: the retry maps it
    expect(h.calls.at(-1)).toBe(`set 200 L1 pfn ${hex(memslotPfn(h.slot, 0x200))}`);
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
});
