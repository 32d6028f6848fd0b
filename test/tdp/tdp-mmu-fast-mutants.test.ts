/**
 * Survivors of `npm run mutate` in src/tdp/tdp-mmu.ts: the fast page fault path (mmu.c
 * fast_page_fault, called with the vCPU's root) and huge page recovery when dirty logging stops
 * (tdp_mmu.c recover_huge_pages_range). Expected values cite Linux v6.16.1 arch/x86/kvm/mmu/mmu.c
 * and tdp_mmu.c.
 */
import { describe, expect, it } from 'vitest';
import { Counters, InvariantViolation, RET_PF, VCPU_STAT_NAMES, Vm, isAccessTrack, isWritable, newPageFault } from '../../src';

function flat(hostPageSize: '4K' | '2M', adEnabled = true) {
  const vm = new Vm({ spte: { flavour: 'ept', adEnabled } });
  const slot = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const v = vm.createVcpu(); // paging off: GVA = GPA
  const leaf = (gfn: number) => vm.tdp.leaves(v.currentRoot!).find(([g]) => g === gfn);
  const stats = new Counters(VCPU_STAT_NAMES);
  const fast = (gpa: bigint, errorCode: bigint) => vm.tdp.fastPageFault(newPageFault(gpa, errorCode), v.currentRoot!, 0, stats);
  const fastEvents = () => vm.events.all.filter((e) => e.kind === 'fast_page_fault').map((e) => [e.vcpu, e.gpa, e.level, e.code, e.outcome]);
  return { vm, slot, v, leaf, stats, fast, fastEvents };
}

describe('fast_page_fault (mmu.c:3575-3693)', () => {
  it('a write to a write-protected MMU-writable leaf is fixed, then spurious; each counted and logged', () => {
    const { vm, leaf, stats, fast, fastEvents, v } = flat('4K');
    v.write(0x20_0000n);
    vm.tdp.wrprotRange(0x200, 0x201);
    vm.events.clear();
    expect(fast(0x20_0000n, 0x3n)).toBe(RET_PF.FIXED); // :3645-3646 W back, :3675-3678
    expect(isWritable(leaf(0x200)![2])).toBe(true);
    expect(fast(0x20_0000n, 0x3n)).toBe(RET_PF.SPURIOUS); // :3621-3624 the access is allowed now
    expect(stats.get('pf_fast')).toBe(2); // :3689-3690
    expect(fastEvents()).toEqual([[0, 0x20_0000n, 1, 0x3n, 'RET_PF_FIXED'], [0, 0x20_0000n, 1, 0x3n, 'RET_PF_SPURIOUS']]);
  });

  it('not for the fast path: a present read (:3517), reserved bits (:3472-3473), nothing mapped (:3603-3604)', () => {
    const { vm, stats, fast, fastEvents, v } = flat('4K');
    v.write(0x20_0000n);
    vm.tdp.wrprotRange(0x200, 0x201);
    vm.events.clear();
    expect(fast(0x20_0000n, 0x1n)).toBe(RET_PF.INVALID); // present, not a write, A/D on
    expect(fast(0x20_0000n, 0xbn)).toBe(RET_PF.INVALID); // P|W|RSVD
    expect(fast(0x30_0000n, 0x3n)).toBe(RET_PF.INVALID); // present+write, but no SPTE
    expect(fast(0x30_0000n, 0x2n)).toBe(RET_PF.INVALID); // not present with A/D on (:3510-3511)
    expect(stats.get('pf_fast')).toBe(0);
    expect(fastEvents()).toEqual([]);
  });

  it('dirty logging: a 4K leaf made writable marks its gfn dirty (:3543-3544); a huge one is left to the slow path (:3650-3653)', () => {
    const small = flat('4K');
    small.v.write(0x20_0000n);
    small.vm.setDirtyLogging(small.slot, true);
    expect(small.slot.dirtyBitmap![0x200]).toBe(0);
    expect(small.fast(0x20_0000n, 0x3n)).toBe(RET_PF.FIXED);
    expect(small.slot.dirtyBitmap![0x200]).toBe(1);
    expect(small.slot.dirtyBitmap![0x201]).toBe(0);

    const huge = flat('2M');
    huge.v.write(0x20_0000n);
    huge.vm.setDirtyLogging(huge.slot, true, { eagerSplit: false });
    expect(huge.leaf(0x200)![1]).toBe(2);
    expect(huge.fast(0x20_0000n, 0x3n)).toBe(RET_PF.INVALID);
    expect(isWritable(huge.leaf(0x200)![2])).toBe(false);
    expect(huge.slot.dirtyBitmap![0x200]).toBe(0);
  });

  it('A/D off: a not-present fault on an access-tracked leaf restores it (:3510-3511, 3634-3636)', () => {
    const { vm, leaf, fast, v } = flat('4K', false);
    v.read(0x20_0000n);
    expect(vm.tdp.ageRange(0x200, 0x201)).toBe(1);
    expect(isAccessTrack(vm.config, leaf(0x200)![2])).toBe(true);
    expect(fast(0x20_0000n, 0x0n)).toBe(RET_PF.FIXED);
    expect(isAccessTrack(vm.config, leaf(0x200)![2])).toBe(false);
  });
});

describe('recover_huge_pages_range (tdp_mmu.c:1770-1851), when dirty logging stops', () => {
  it('a table with a present leaf becomes a 2M leaf; a huge leaf and an empty table stay; one flush for the slot', () => {
    const { vm, slot, v, leaf } = flat('2M');
    v.write(0x20_0000n); // 2M leaf
    vm.setDirtyLogging(slot, true, { eagerSplit: false });
    v.write(0x40_0000n); // 4K under logging
    v.write(0x60_0000n);
    expect(leaf(0x400)![1]).toBe(1);
    vm.tdp.zapLeafs(0x600, 0x601); // the table at 0x600 keeps no present leaf
    expect(() => vm.tdp.recoverHugePages(slot)).toThrow(InvariantViolation); // WARN_ON_ONCE while logging
    vm.events.clear();
    vm.setDirtyLogging(slot, false);
    const levels = vm.tdp.leaves(v.currentRoot!).map(([g, l]) => [g, l]);
    expect(levels).toEqual([[0x200, 2], [0x400, 2]]);
    expect(vm.events.all.filter((e) => e.kind === 'zap').map((e) => [e.vcpu, e.outcome])).toEqual([[-1, 'recover huge pages in ram: 1 tables replaced']]);
    expect(vm.events.all.filter((e) => e.kind === 'tlb_flush').map((e) => [e.vcpu, e.gpa, e.outcome])).toEqual([[-1, 0n, 'recover huge pages']]);
    expect(vm.tdp.recoverHugePages(slot)).toBe(0); // nothing left to recover: no flush
  });
});
