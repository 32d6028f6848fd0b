/**
 * A TD's private pages over its life: KVM_TDX_INIT_MEM_REGION (TDH.MEM.PAGE.ADD) before
 * KVM_TDX_FINALIZE_VM, TDH.MEM.PAGE.AUG at runtime leaving the page PENDING, the guest's
 * TDG.MEM.PAGE.ACCEPT, and what an access to a PENDING page does.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, memslotPrivatePfn } from '../../src';
import { POOL, caught, tdFixture } from './fixtures';

function seamcalls(vm: ReturnType<typeof tdFixture>['vm'], from = 0): string[] {
  return vm.events.all.filter((e) => e.kind === 'seamcall' && e.seq >= from).map((e) => `${e.outcome.split(' pfn')[0]}@${e.gpa!.toString(16)}`);
}

describe('TD lifecycle', () => {
  it('a vCPU cannot run before KVM_TDX_FINALIZE_VM (tdx_vcpu_pre_run: -EINVAL)', () => {
    const { vm, v, pt } = tdFixture(48, { finalize: false });
    pt.map(0x7000_0000n, 0x20_0000n);
    expect(vm.td!.state).toBe('initialized');
    const e = caught(() => v.read(0x7000_0000n)); // tdx.c:873-878
    expect([e.constructor, e.rule]).toEqual([InvalidArgumentError, 'td-not-runnable']);
    expect(vm.events.all.filter((x) => x.kind === 'ept_violation').length).toBe(0);
  });

  it('KVM_TDX_INIT_MEM_REGION: the mirror is premapped without a SEAMCALL, then TDH.MEM.PAGE.ADD maps the page (not PENDING)', () => {
    const { vm, v, pt, ram } = tdFixture(48, { finalize: false });
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2 });
    const mark = vm.events.all.length;
    vm.tdInitMemRegion(v, 0x20_0000n, 2, { measure: true });
    // tdx_sept_set_private_spte before TD_STATE_RUNNABLE only counts (tdx.c:1670-1673, 1632-1642);
    // tdx_gmem_post_populate then issues PAGE.ADD (tdx.c:3197-3198) and, measured, 16 × MR.EXTEND
    // (4096 / TDX_EXTENDMR_CHUNKSIZE 256, tdx.c:3207-3213).
    const calls = seamcalls(vm, mark);
    expect(calls.filter((c) => !c.startsWith('TDH.MEM.SEPT.ADD'))).toEqual(['TDH.MEM.PAGE.ADD@200000', 'TDH.MR.EXTEND ×16@200000', 'TDH.MEM.PAGE.ADD@201000', 'TDH.MR.EXTEND ×16@201000']);
    expect(vm.td!.stats.get('page_aug')).toBe(0);
    expect(vm.td!.stats.get('premapped')).toBe(2); // counted, then consumed by PAGE.ADD
    expect(vm.td!.stats.get('mr_extend')).toBe(32);
    // kvm_tdp_map_page bypasses kvm_mmu_page_fault's pf_taken/pf_fixed (mmu.c:6274, 6290).
    expect([v.stats.get('pf_taken'), v.stats.get('pf_fixed'), vm.td!.stats.get('private_faults')]).toEqual([0, 0, 0]);
    expect(vm.td!.sept.nrPremapped).toBe(0);
    expect(vm.td!.sept.lookup(0x200)).toEqual({ level: 1, gfn: 0x200, leaf: true, pfn: memslotPrivatePfn(ram, 0x200), pending: false });
    vm.tdInitMemRegion(v, POOL.base, pt.tablesAllocated);
    vm.tdFinalize();
    // Added pages need no TDG.MEM.PAGE.ACCEPT: the first access completes without an exit.
    const r = v.read(0x7000_1008n);
    expect([r.status, r.exits.length]).toEqual(['ok', 0]);
  });

  it('KVM_TDX_FINALIZE_VM is refused while a premapped page awaits PAGE.ADD; zapping it drops the count without a SEAMCALL', () => {
    const { vm, v } = tdFixture(48, { finalize: false });
    vm.tdInitMemRegion(v, POOL.base, 1); // the root table page
    v.tdpMapPrivate(0x20_0000n); // kvm_tdp_map_page without the PAGE.ADD that would follow
    expect(vm.td!.sept.nrPremapped).toBe(1);
    const e = caught(() => vm.tdFinalize()); // tdx.c:2875
    expect([e.rule, e.value, vm.td!.state]).toEqual(['td-premapped', '1', 'initialized']);
    const mark = vm.events.all.length;
    expect(vm.unmapGfnRange(0x20_0000n, 0x20_1000n, 'private')).toBe(1);
    // tdx_sept_zap_private_spte: the BLOCK finds no S-EPT leaf; a premapped page is just uncounted (tdx.c:1797-1803).
    expect(seamcalls(vm, mark)).toEqual([]);
    expect(vm.td!.sept.nrPremapped).toBe(0);
    vm.tdFinalize();
    expect(vm.td!.state).toBe('runnable');
    expect(caught(() => vm.tdFinalize()).rule).toBe('td-finalized'); // tdx.c:2869
  });

  it('KVM_TDX_INIT_MEM_REGION refuses: after finalization, shared-attribute gfns, slots without guest_memfd, populated pages', () => {
    const { vm, v } = tdFixture(48, { finalize: false });
    vm.addMemslot({ base: 0x4000_0000n, size: 0x20_0000n, name: 'plain' });
    vm.setMemoryAttributes(0x4000_0000n, 0x4000_1000n, 'private');
    vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
    vm.tdInitMemRegion(v, 0x20_0000n, 1);
    const before = vm.td!.sept.entries();
    expect(caught(() => vm.tdInitMemRegion(v, 0x30_0000n, 1)).rule).toBe('td-init-mem-region-shared-attr'); // guest_memfd.c:696-700
    expect(caught(() => vm.tdInitMemRegion(v, 0x4000_0000n, 1)).rule).toBe('td-init-mem-region-gmem'); // guest_memfd.c:656-657
    expect(caught(() => vm.tdInitMemRegion(v, 0x20_0000n, 1)).rule).toBe('td-init-mem-region-populated'); // guest_memfd.c:684-689
    expect(caught(() => vm.tdInitMemRegion(v, 0x8000_0000_0000n, 1)).rule).toBe('td-init-mem-region-shared'); // tdx.c:3249-3251
    expect(caught(() => vm.tdInitMemRegion(v, 0x20_0800n, 1)).rule).toBe('td-init-mem-region'); // tdx.c:3246
    expect(vm.td!.sept.entries()).toEqual(before);
    vm.tdInitMemRegion(v, POOL.base, 1);
    vm.tdFinalize();
    expect(caught(() => vm.tdInitMemRegion(v, 0x21_0000n, 1)).rule).toBe('td-finalized'); // tdx.c:3239
  });

  it('TDG.MEM.PAGE.ACCEPT of a page not yet in the S-EPT: one EPT violation, PAGE.AUG, accepted; the page reads as zeros', () => {
    const { vm, v, pt, ram } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    vm.guestMem.write64(0x20_0000n as never, 0x1234n);
    const mark = vm.events.all.length;
    expect(v.tdAccept(0x20_0000n)).toEqual({ status: 'accepted', exits: 1 });
    expect(seamcalls(vm, mark).filter((c) => !c.startsWith('TDH.MEM.SEPT.ADD'))).toEqual(['TDH.MEM.PAGE.AUG@200000']);
    expect(vm.td!.sept.lookup(0x200)).toEqual({ level: 1, gfn: 0x200, leaf: true, pfn: memslotPrivatePfn(ram, 0x200), pending: false });
    expect(vm.td!.stats.get('page_accept')).toBe(1);
    expect(vm.guestMem.read64(0x20_0000n as never)).toBe(0n);
    expect(v.read(0x7000_0000n).exits).toEqual([]);
    // Accepting a shared-attribute page: KVM cannot AUG it, userspace gets the memory fault.
    vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
    const m = v.tdAccept(0x30_0000n);
    expect([m.status, m.exits, m.memoryFault?.isPrivate]).toEqual(['memory-fault', 1, true]);
  });

  it('with SEPT_VE_DISABLE an access to a PENDING page reaches KVM, which kills the TD (tdx.c:1943-1947)', () => {
    const { vm, v, pt } = tdFixture(48, { septVeDisable: true });
    pt.map(0x7000_0000n, 0x20_0000n);
    const r = v.read(0x7000_0000n);
    expect(r.status).toBe('vm-dead');
    expect(vm.td!.dead).toBe(true);
    expect(vm.events.all.filter((e) => e.kind === 'guest_ve')).toEqual([]);
    expect(caught(() => v.read(0x7000_0000n)).rule).toBe('vm-dead');
  });

  it('before finalization a zap issues no TDH.MEM.TRACK (tdx_track returns early, tdx.c:1842-1844)', () => {
    const { vm, v } = tdFixture(48, { finalize: false });
    vm.tdInitMemRegion(v, 0x20_0000n, 1);
    const mark = vm.events.all.length;
    vm.unmapGfnRange(0x20_0000n, 0x20_1000n, 'private');
    expect(seamcalls(vm, mark)).toEqual(['TDH.MEM.RANGE.BLOCK@200000', 'TDH.MEM.PAGE.REMOVE@200000']);
  });
});
