/**
 * KVM_X86_SW_PROTECTED_VM: private memory without TDX (x86.c:12820-12821 has_private_mem). The
 * fault is private when the gfn's attribute is (mmu.c:6259-6262), served from guest_memfd
 * (mmu.c:4496-4518) through the one direct root: no mirror root, no S-EPT.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, ImpossibleConfigurationError, InvalidArgumentError, memslotPfn, memslotPrivatePfn, spteToPfn } from '../../src';
import { LONG_MODE } from '../vm/fixtures';
import { caught } from './fixtures';

const PRIVATE_ACCESS = 1n << 49n; // PFERR_PRIVATE_ACCESS, arch/x86/include/asm/kvm_host.h

function swVm() {
  const vm = new Vm({ type: 'sw-protected', checkInvariants: true });
  const low = vm.addMemslot({ base: 0n, size: 0x100_0000n, name: 'low' }); // page tables, shared
  const gmem = vm.addMemslot({ base: 0x4000_0000n, size: 0x40_0000n, name: 'gmem', guestMemfd: true, hostPageSize: '2M' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  return { vm, low, gmem, pt, v };
}

describe('KVM_X86_SW_PROTECTED_VM', () => {
  it('a private fault maps the guest_memfd page at 4K in the direct root; no mirror root, no S-EPT', () => {
    const { vm, gmem, pt, v } = swVm();
    vm.setMemoryAttributes(0x4000_0000n, 0x4020_0000n, 'private'); // a whole 2M block
    pt.map(0x7000_0000n, 0x4000_0000n);
    const r = v.read(0x7000_0010n);
    expect(r.status).toBe('ok');
    // kvm_gmem_get_pfn (mmu.c:4506): the guest_memfd page, not the slot's shared backing.
    expect(r.hpa).toBe(BigInt(memslotPrivatePfn(gmem, 0x4_0000)) * 4096n + 0x10n);
    const pf = vm.events.all.filter((e) => e.kind === 'page_fault' && e.gpa === 0x4000_0010n);
    expect(pf.length).toBe(1);
    expect(pf[0]!.code! & PRIVATE_ACCESS).toBe(PRIVATE_ACCESS); // mmu.c:6259-6262
    // 4K although the 2M block is private throughout and host-backed by 2M: guest_memfd's
    // order-0 folios (guest_memfd.c:599-600) cap kvm_max_private_mapping_level.
    expect(vm.tdp.leaves(v.currentRoot!).filter(([g]) => g >= 0x4_0000).map(([g, l]) => [g, l])).toEqual([[0x4_0000, 1]]);
    expect(vm.td).toBeUndefined();
    expect(v.currentMirrorRoot).toBeNull();
    expect(vm.tdp.roots.every((root) => !root.role.isMirror)).toBe(true);
  });

  it('a shared gfn of a guest_memfd slot maps the shared backing, huge when its block is all shared', () => {
    const { vm, gmem, pt, v } = swVm();
    pt.map(0x7000_0000n, 0x4020_0000n);
    expect(v.read(0x7000_0000n).status).toBe('ok');
    const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g === 0x4_0200)!;
    expect(leaf[1]).toBe(2);
    expect(spteToPfn(leaf[2])).toBe(memslotPfn(gmem, 0x4_0200));
    const pf = vm.events.all.filter((e) => e.kind === 'page_fault' && e.gpa === 0x4020_0000n);
    expect(pf[0]!.code! & PRIVATE_ACCESS).toBe(0n);
  });

  it('disabling dirty logging recovers no shared huge page over a mixed 2M block (KVM_LPAGE_MIXED_FLAG)', () => {
    // Found by the fuzzer (td, seed 1001): the recovery collapsed a shared table into a 2M leaf
    // over private gfns. kvm_mmu_slot_apply_flags → recover_huge_pages_range asks
    // kvm_mmu_max_mapping_level (tdp_mmu.c:1816), which stops at any lpage_info with
    // disallow_lpage set (mmu.c:3271), KVM_LPAGE_MIXED_FLAG included (mmu.c:722, 7697): "KVM
    // mustn't create a SHARED hugepage over a range that has PRIVATE GFNs" (mmu.c:7790-7794).
    const { vm, pt, v } = swVm();
    const shared = vm.addMemslot({ base: 0x8000_0000n, size: 0x20_0000n, name: 'shared', hostPageSize: '2M' });
    vm.setMemoryAttributes(0x8000_5000n, 0x8000_6000n, 'private');
    pt.map(0x7000_0000n, 0x8000_0000n, { count: 2, flags: { writable: true } });
    vm.setDirtyLogging(shared, true);
    expect(v.write(0x7000_0000n).status).toBe('ok');
    expect(v.write(0x7000_1000n).status).toBe('ok');
    vm.setDirtyLogging(shared, false);
    const leaves = vm.tdp.leaves(v.currentRoot!).filter(([g]) => g >= 0x8_0000).map(([g, l]) => [g, l]);
    expect(leaves).toEqual([[0x8_0000, 1], [0x8_0001, 1]]);
  });

  it('a mixed 2M block maps 4K (KVM_LPAGE_MIXED_FLAG)', () => {
    const { vm, pt, v } = swVm();
    vm.setMemoryAttributes(0x4020_0000n, 0x4020_1000n, 'private');
    pt.map(0x7000_0000n, 0x4020_1000n);
    expect(v.read(0x7000_0000n).status).toBe('ok');
    expect(vm.tdp.leaves(v.currentRoot!).filter(([g]) => g >= 0x4_0000).map(([g, l]) => [g, l])).toEqual([[0x4_0201, 1]]);
  });

  it('KVM_SET_MEMORY_ATTRIBUTES zaps the direct root (the only root kind) either way, and the next fault follows the attribute', () => {
    const { vm, gmem, pt, v } = swVm();
    vm.setMemoryAttributes(0x4000_0000n, 0x4000_1000n, 'private');
    pt.map(0x7000_0000n, 0x4000_0000n);
    v.read(0x7000_0000n);
    // kvm_arch_pre_set_memory_attributes (mmu.c:7751-7756) with no mirrored TDP: direct roots.
    expect(vm.setMemoryAttributes(0x4000_0000n, 0x4000_1000n, 'shared')).toBe(1);
    expect(vm.events.all.filter((e) => e.kind === 'mem_attr').at(-1)!.outcome).toContain('DIRECT|INVALID');
    expect(vm.tdp.leaves(v.currentRoot!).some(([g]) => g === 0x4_0000)).toBe(false);
    expect(v.read(0x7000_0000n).hpa).toBe(BigInt(memslotPfn(gmem, 0x4_0000)) * 4096n);
    expect(vm.setMemoryAttributes(0x4000_0000n, 0x4000_1000n, 'private')).toBe(1);
    expect(v.read(0x7000_0000n).hpa).toBe(BigInt(memslotPrivatePfn(gmem, 0x4_0000)) * 4096n);
  });

  it('deleting a memslot zaps that slot only, no fast zap-all (kvm_memslot_flush_zap_all is for default VMs, mmu.c:7260-7272)', () => {
    const { vm, pt, v } = swVm();
    const extra = vm.addMemslot({ base: 0x8000_0000n, size: 0x20_0000n, name: 'extra', guestMemfd: true });
    vm.setMemoryAttributes(0x8000_0000n, 0x8000_1000n, 'private');
    pt.map(0x7000_0000n, 0x4000_0000n);
    pt.map(0x7100_0000n, 0x8000_0000n);
    v.read(0x7000_0000n);
    v.read(0x7100_0000n);
    const root = v.currentRoot!;
    vm.deleteMemslot(extra);
    expect(root.role.invalid).toBe(false);
    expect(vm.tdp.leaves(root).some(([g]) => g === 0x8_0000)).toBe(false);
    expect(vm.tdp.leaves(root).some(([g]) => g === 0x4_0000)).toBe(true);
    expect(v.read(0x7000_0000n).exits).toEqual([]);
  });

  it('an exit reporting a GPA of 2^52 is refused at the edge, before the fault is counted', () => {
    // SDM Vol. 1 §3.3.1: MAXPHYADDR is at most 52, so no EPT violation reports a GPA at or above
    // 2^52. The private-attribute lookup of the fault path used to refuse it, after
    // kvm_mmu_page_fault's accounting had counted pf_taken.
    const { vm, v } = swVm();
    const before = [vm.stats.snapshot(), v.stats.snapshot()];
    const e = caught(() => v.pageFault({ kind: 'ept_violation', reason: 48, gpa: 1n << 52n, onGuestTable: false, info: 0n, errorCode: 0n }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).message).toContain('exit.gpa');
    expect([vm.stats.snapshot(), v.stats.snapshot()]).toEqual(before);
  });

  it('bad input: guest_memfd only with private memory and never read-only; no dirty log on guest_memfd; no shadow paging', () => {
    // kvm_main.c:1591-1592: KVM_MEM_GUEST_MEMFD is a valid flag only with private memory.
    const d = new Vm();
    expect([caught(() => d.addMemslot({ base: 0n, size: 0x1000n, guestMemfd: true })).rule, d.memslots.length]).toEqual(['memslot-guest-memfd', 0]);
    const { vm, gmem } = swVm();
    const n = vm.memslots.length;
    // kvm_main.c:1598-1605: guest_memfd and READONLY exclude each other.
    const e = caught(() => vm.addMemslot({ base: 0x8000_0000n, size: 0x1000n, guestMemfd: true, readonly: true }));
    expect([e.constructor, e.rule, vm.memslots.length]).toEqual([InvalidArgumentError, 'memslot-guest-memfd-readonly', n]);
    // kvm_main.c:1594-1596: no KVM_MEM_LOG_DIRTY_PAGES on a guest_memfd slot.
    expect(caught(() => vm.setDirtyLogging(gmem, true)).rule).toBe('dirty-log-guest-memfd');
    expect(gmem.dirtyLogging).toBe(false);
    const s = caught(() => new Vm({ type: 'sw-protected', mmu: 'shadow' }));
    expect([s.constructor, s.rule]).toEqual([ImpossibleConfigurationError, 'sw-protected-needs-tdp']);
  });
});
