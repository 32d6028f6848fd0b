import { describe, expect, it } from 'vitest';
import { Vm, memslotPfn, memslotPrivatePfn, newPageFault, spteToPfn, PageTableBuilder, PFERR } from '../../src';
import { LONG_MODE } from '../vm/fixtures';
import { privateAndSharedTouched, tdFixture } from './fixtures';

/** PFERR_PRIVATE_ACCESS is bit 49 of the fault error code (reference §11.3). */
const PRIVATE_ACCESS = 1n << 49n;

function seamcalls(vm: ReturnType<typeof tdFixture>['vm'], from = 0): string[] {
  return vm.events.all.filter((e) => e.kind === 'seamcall' && e.seq >= from).map((e) => `${e.outcome.split(' pfn')[0]}@${e.gpa!.toString(16)}`);
}

describe('TD faults', () => {
  for (const gpaw of [48, 52] as const) {
    it(`GPAW ${gpaw}: a private first touch maps the mirror root and AUGs the page PENDING; #VE until the guest accepts; then the CPU walks the S-EPT`, () => {
      const { vm, v, pt, ram } = tdFixture(gpaw);
      pt.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true } });
      const r0 = v.read(0x7000_0010n);
      // tdx_sept_set_private_spte → TDH.MEM.PAGE.AUG (tdx.c:1670-1671) leaves the page PENDING; the
      // retried access hits it and, without SEPT_VE_DISABLE, the TDX module injects #VE.
      expect(r0.status).toBe('guest-ve');
      const data = r0.exits.find((e) => !e.onGuestTable)!;
      expect(data.gpa).toBe(0x20_0010n);
      expect(data.ret).toBe('RET_PF_FIXED');
      expect(vm.td!.sept.lookup(0x200)?.pending).toBe(true);
      expect(vm.td!.stats.get('pending_ve')).toBe(1);
      expect(vm.events.all.filter((e) => e.kind === 'guest_ve').length).toBe(1);
      // TDG.MEM.PAGE.ACCEPT of a PENDING page needs no exit.
      expect(v.tdAccept(0x20_0000n)).toEqual({ status: 'accepted', exits: 0 });
      expect(v.tdAccept(0x20_0000n)).toEqual({ status: 'already-accepted', exits: 0 });
      const r = v.read(0x7000_0010n);
      expect(r.status).toBe('ok');
      expect(r.exits).toEqual([]);
      // The private page is the guest_memfd page, not the slot's shared backing (mmu.c:4506 kvm_gmem_get_pfn).
      expect(r.hpa).toBe(BigInt(memslotPrivatePfn(ram, 0x200)) * 4096n + 0x10n);
      expect(memslotPrivatePfn(ram, 0x200)).not.toBe(memslotPfn(ram, 0x200));
      // A read, but private faults are writes (tdx_handle_ept_violation) and carry PRIVATE_ACCESS.
      const pf = vm.events.all.filter((e) => e.kind === 'page_fault' && e.gpa === 0x20_0010n);
      expect(pf.map((e) => e.code)).toEqual([BigInt(PFERR.WRITE) | PRIVATE_ACCESS]);
      const mirror = v.currentMirrorRoot!;
      expect(mirror.role.isMirror).toBe(true);
      expect(mirror.level).toBe(gpaw === 48 ? 4 : 5);
      expect(v.loadedRootPfn).toBe(v.currentRoot!.pfn);
      expect(v.currentRoot!.role.isMirror).toBe(false);
      // 4K even though the host backs the slot with 2M pages: no huge pages on mirror roots.
      const leaf = vm.tdp.leaves(mirror).find(([g]) => g === 0x200)!;
      expect(leaf[1]).toBe(1);
      expect(vm.td!.sept.lookup(0x200)).toEqual({ level: 1, gfn: 0x200, leaf: true, pfn: memslotPrivatePfn(ram, 0x200), pending: false });
      expect(seamcalls(vm)).toContain('TDH.MEM.PAGE.AUG@200000');
      expect(vm.tdp.leaves(v.currentRoot!)).toEqual([]);
      // Warm: the hardware finds the page through the S-EPT, no exit.
      expect(v.read(0x7000_0018n).exits).toEqual([]);
    });

    it(`GPAW ${gpaw}: a shared first touch maps the direct root at the gfn with the shared bit, not the S-EPT`, () => {
      const { vm, v, pt, ram, shared } = tdFixture(gpaw);
      vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
      pt.map(0x7100_0000n, 0x30_0000n | shared, { flags: { writable: true } });
      const before = vm.events.all.length;
      const r = v.write(0x7100_0010n);
      expect(r.status).toBe('ok');
      expect(r.gpa).toBe(0x30_0010n | shared);
      expect(r.hpa).toBe(BigInt(memslotPfn(ram, 0x300)) * 4096n + 0x10n);
      const data = r.exits.find((e) => !e.onGuestTable)!;
      expect([data.gpa, data.ret]).toEqual([0x30_0010n | shared, 'RET_PF_FIXED']);
      const leaves = vm.tdp.leaves(v.currentRoot!);
      expect(leaves.map(([g, l]) => [g, l])).toEqual([[0x300 + Number(shared >> 12n), 1]]); // 2M block is mixed → 4K
      expect(spteToPfn(leaves[0]![2])).toBe(memslotPfn(ram, 0x300));
      expect(vm.td!.sept.lookup(0x300)).toBeUndefined();
      expect(seamcalls(vm, before).filter((s) => s.endsWith('@300000'))).toEqual([]);
      expect(vm.td!.stats.get('shared_faults')).toBe(1);
      expect(v.write(0x7100_0020n).exits).toEqual([]);
    });
  }

  it('a busy TDH.MEM.SEPT.ADD (link_external_spt returns -EBUSY, tdx.c:1736-1737) is RET_PF_RETRY with the new table freed (tdp_mmu.c:1297-1299); the guest re-faults and the retry maps the page', () => {
    const { vm, v, pt } = tdFixture(48);
    pt.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true } });
    const sept = vm.td!.sept;
    const link = sept.linkExternalSpt.bind(sept);
    const refused: string[] = [];
    let busy = 1;
    sept.linkExternalSpt = (gfn, level, vcpu) => {
      if (busy-- > 0) {
        refused.push(`${gfn.toString(16)} L${level}`);
        return -16; // -EBUSY (errno-base.h:20)
      }
      return link(gfn, level, vcpu);
    };
    const pages = vm.tdp.pageCount;
    const accounted = vm.stats.get('tdp_mmu_pages');
    const adds = vm.td!.stats.get('sept_add');
    const r = v.read(0x7000_0010n);
    // The data page's level-1 table (gfns 0x200-0x3ff) is the one new table on the path.
    expect(refused).toEqual(['200 L2']);
    expect(r.exits.filter((e) => !e.onGuestTable).map((e) => e.ret)).toEqual(['RET_PF_RETRY', 'RET_PF_FIXED']);
    expect(r.status).toBe('guest-ve'); // PENDING until accepted, as without the refusal
    // One table in the end: the refused one was freed unaccounted (tdp_mmu_free_sp, tdp_mmu.c:1298;
    // tdp_account_mmu_page only after a link, :1227), and one TDH.MEM.SEPT.ADD went through.
    expect(vm.tdp.pageCount - pages).toBe(1);
    expect(vm.stats.get('tdp_mmu_pages') - accounted).toBe(1);
    expect(vm.td!.stats.get('sept_add') - adds).toBe(1);
  });

  it('KVM_TDX_INIT_MEM_REGION: kvm_tdp_map_page faults again while the fault is RET_PF_RETRY (mmu.c:4861-4870), so a busy hook delays the PAGE.ADD, never fails it', () => {
    const { vm, v } = tdFixture(48, { finalize: false });
    const sept = vm.td!.sept;
    const set = sept.setExternalSpte.bind(sept);
    let busy = 2;
    sept.setExternalSpte = (gfn, level, pfn, vcpu) => (busy-- > 0 ? -16 : set(gfn, level, pfn, vcpu));
    const taken = v.stats.get('pf_taken');
    vm.tdInitMemRegion(v, 0x20_0000n, 1);
    expect(busy).toBe(-1); // two refusals, then the premap that PAGE.ADD needs
    expect(sept.lookup(0x200)?.pending).toBe(false);
    expect(vm.td!.stats.get('page_add')).toBeGreaterThan(0);
    // kvm_tdp_map_page enters below kvm_mmu_page_fault (mmu.c:6274): no guest fault is counted, however many tries.
    expect(v.stats.get('pf_taken')).toBe(taken);
  });

  it('a fully shared 2M block is mapped huge in the direct root', () => {
    const { vm, v, pt, shared } = tdFixture();
    vm.setMemoryAttributes(0x40_0000n, 0x60_0000n, 'shared');
    pt.map(0x7200_0000n, 0x40_0000n | shared);
    expect(v.read(0x7200_0000n).status).toBe('ok');
    expect(vm.tdp.leaves(v.currentRoot!).map(([g, l]) => [g, l])).toEqual([[0x400 + Number(shared >> 12n), 2]]);
  });

  it('private/shared mismatch with the attributes: KVM_EXIT_MEMORY_FAULT (-EFAULT), then the access works after the conversion', () => {
    const { vm, v, pt, shared } = tdFixture();
    pt.map(0x7100_0000n, 0x30_0000n | shared, { flags: { writable: true } });
    pt.map(0x7000_0000n, 0x50_0000n, { flags: { writable: true } });
    vm.setMemoryAttributes(0x50_0000n, 0x50_1000n, 'shared');
    const s = v.write(0x7100_0008n); // shared access, gfn 0x300 is private (the default)
    expect(s.status).toBe('memory-fault');
    expect(s.memoryFault).toMatchObject({ gpa: 0x30_0000n, size: 4096n, flags: 0n, isPrivate: false });
    expect(s.exits.at(-1)!.ret).toBe('-EFAULT');
    const p = v.read(0x7000_0000n); // private access, gfn 0x500 was made shared
    expect(p.status).toBe('memory-fault');
    expect(p.memoryFault).toMatchObject({ gpa: 0x50_0000n, flags: 1n << 3n, isPrivate: true }); // KVM_MEMORY_EXIT_FLAG_PRIVATE
    expect(vm.td!.stats.get('memory_fault_exits')).toBe(2);
    expect(vm.events.all.filter((e) => e.kind === 'memory_fault').length).toBe(2);
    vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
    expect(v.write(0x7100_0008n).status).toBe('ok');
  });

  it('memory attributes start shared: a private access before KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) is a memory-fault exit', () => {
    // kvm_host.h:2533-2537 kvm_mem_is_private: PRIVATE only once set; mmu.c:4587-4590: mismatch → -EFAULT.
    const vm = new Vm({ type: 'tdx', gpaw: 48, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 0x100_0000n, name: 'ram', guestMemfd: true });
    vm.setMemoryAttributes(0x10_0000n, 0x20_0000n, 'private'); // only the page-table pool
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    pt.map(0x7000_0000n, 0x40_0000n);
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    vm.tdInitMemRegion(v, 0x10_0000n, pt.tablesAllocated);
    vm.tdFinalize();
    expect(vm.td!.attributes.isPrivate(0x400)).toBe(false);
    const r = v.read(0x7000_0000n);
    expect(r.status).toBe('memory-fault');
    // kvm_prepare_memory_fault_exit (kvm_host.h:2510-2517): gpa = gfn << 12, size = PAGE_SIZE, flags = PRIVATE.
    expect(r.memoryFault).toMatchObject({ gpa: 0x40_0000n, size: 4096n, flags: 1n << 3n, isPrivate: true });
    expect(r.memoryFault!.reason).toBe('private access to a shared gfn');
    vm.setMemoryAttributes(0x40_0000n, 0x40_1000n, 'private');
    expect(v.read(0x7000_0000n).status).toBe('guest-ve'); // AUGed, PENDING until accepted
  });

  it('a private fault on a memslot without guest_memfd is a memory-fault exit (kvm_mmu_faultin_pfn_private)', () => {
    const { vm, v, pt } = tdFixture();
    vm.addMemslot({ base: 0x4000_0000n, size: 0x20_0000n, name: 'plain' }); // no KVM_MEM_GUEST_MEMFD
    vm.setMemoryAttributes(0x4000_0000n, 0x4000_1000n, 'private');
    pt.map(0x7400_0000n, 0x4000_0000n);
    const r = v.read(0x7400_0000n);
    // mmu.c:4501-4503: !kvm_slot_can_be_private → kvm_mmu_prepare_memory_fault_exit, -EFAULT.
    expect(r.status).toBe('memory-fault');
    expect(r.memoryFault).toMatchObject({ gpa: 0x4000_0000n, size: 4096n, flags: 1n << 3n, isPrivate: true });
    expect(r.memoryFault!.reason).toBe('the memslot has no guest_memfd to back the private gfn');
    expect(vm.td!.sept.lookup(0x4_0000)).toBeUndefined();
    expect(vm.td!.stats.get('page_aug') + vm.td!.stats.get('page_add')).toBe(vm.td!.sept.entries().filter((e) => e.leaf).length);
  });

  it('a private fault with no guest_memfd backing (no memslot) is a memory-fault exit, never emulated', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7300_0000n, 0x8000_0000n);
    const r = v.read(0x7300_0000n);
    expect(r.status).toBe('memory-fault');
    expect(r.memoryFault?.isPrivate).toBe(true);
    expect(vm.stats.get('pages_4k') + vm.stats.get('pages_2m')).toBeGreaterThan(0); // the table pages
  });

  it('shared MMIO (no memslot, shared attribute) is emulated through an MMIO SPTE in the direct root', () => {
    const { vm, v, pt, shared } = tdFixture();
    vm.setMemoryAttributes(0x8000_0000n, 0x8000_1000n, 'shared');
    pt.map(0x7300_0000n, 0x8000_0000n | shared);
    const a = v.read(0x7300_0000n);
    expect(a.status).toBe('emulated');
    const b = v.read(0x7300_0000n);
    expect(b.exits.map((e) => [e.kind, e.ret])).toEqual([['ept_misconfig', 'RET_PF_EMULATE']]);
  });

  it('converting private → shared zaps the mirror leaf: BLOCK, TRACK, PAGE.REMOVE; shared → private zaps only the direct leaf', () => {
    const { vm, v, pt, ram, shared, accept } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2, flags: { writable: true } });
    pt.map(0x7100_0000n, 0x20_0000n | shared, { flags: { writable: true } });
    accept(0x20_0000n, 2);
    expect(v.write(0x7000_0000n).status).toBe('ok');
    expect(v.write(0x7000_1000n).status).toBe('ok');
    const mirror = v.currentMirrorRoot!;
    const mark = vm.events.all.length;
    const n = vm.setMemoryAttributes(0x20_0000n, 0x20_1000n, 'shared');
    expect(n).toBe(1);
    expect(seamcalls(vm, mark)).toEqual(['TDH.MEM.RANGE.BLOCK@200000', 'TDH.MEM.TRACK@200000', 'TDH.MEM.PAGE.REMOVE@200000']);
    expect(vm.td!.sept.lookup(0x200)).toBeUndefined();
    expect(vm.td!.sept.lookup(0x201)?.pfn).toBe(memslotPrivatePfn(ram, 0x201));
    expect(vm.tdp.leaves(mirror).some(([g]) => g === 0x200)).toBe(false);
    expect(vm.td!.stats.get('page_remove')).toBe(1);
    // Now shared: the guest reaches it through the shared alias.
    expect(v.write(0x7100_0000n).status).toBe('ok');
    expect(vm.tdp.leaves(v.currentRoot!).length).toBe(1);
    const mark2 = vm.events.all.length;
    expect(vm.setMemoryAttributes(0x20_0000n, 0x20_1000n, 'private')).toBe(1);
    expect(vm.tdp.leaves(v.currentRoot!)).toEqual([]);
    expect(seamcalls(vm, mark2)).toEqual([]); // the S-EPT is not touched by a shared zap
    expect(vm.tdp.leaves(mirror).some(([g]) => g === 0x201)).toBe(true);
    expect(vm.td!.stats.get('conversion_zaps')).toBe(2);
    expect(vm.events.all.filter((e) => e.kind === 'mem_attr').at(-1)!.outcome).toContain('DIRECT|INVALID');
  });

  it('fast zap-all invalidates the direct root only: the mirror root and the S-EPT stay, private pages need no new fault', () => {
    const { vm, v } = privateAndSharedTouched(tdFixture());
    const mirror = v.currentMirrorRoot!;
    const direct = v.currentRoot!;
    const septBefore = vm.td!.sept.entries();
    const mark = vm.events.all.length;
    vm.zapAllFast();
    expect(direct.role.invalid).toBe(true);
    expect(mirror.role.invalid).toBe(false); // allowed state: mirror valid, direct invalid
    expect(vm.td!.sept.entries()).toEqual(septBefore);
    expect(seamcalls(vm, mark)).toEqual([]);
    expect(v.read(0x7000_0008n).exits).toEqual([]); // table and data pages are private
    expect(v.currentMirrorRoot).toBe(mirror);
    expect(v.currentRoot).not.toBe(direct);
    const again = v.read(0x7100_0008n);
    expect(again.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
  });

  it('deleting a TD memslot zaps both aliases of the slot (no fast zap): pages leave the S-EPT', () => {
    const { vm, v, pt, accept } = tdFixture();
    const extra = vm.addMemslot({ base: 0x4000_0000n, size: 0x20_0000n, name: 'extra', guestMemfd: true });
    vm.setMemoryAttributes(0x4000_0000n, 0x4020_0000n, 'private');
    pt.map(0x7400_0000n, 0x4000_0000n);
    accept(0x4000_0000n);
    expect(v.read(0x7400_0000n).status).toBe('ok');
    expect(vm.td!.sept.lookup(0x4_0000)?.leaf).toBe(true);
    vm.deleteMemslot(extra);
    expect(vm.td!.sept.lookup(0x4_0000)).toBeUndefined();
    expect(v.currentMirrorRoot!.role.invalid).toBe(false);
  });

  it('zap-all (kvm_mmu_zap_all) on a live TD zaps the direct root only: mirror root, S-EPT and private mappings stay', () => {
    const { vm, v } = privateAndSharedTouched(tdFixture());
    const mirror = v.currentMirrorRoot!;
    const direct = v.currentRoot!;
    const septBefore = vm.td!.sept.entries();
    const mark = vm.events.all.length;
    vm.zapAll();
    // tdp_mmu.c:1028-1030: kvm_tdp_mmu_zap_all walks KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS only.
    expect(vm.td!.sept.entries()).toEqual(septBefore);
    expect(seamcalls(vm, mark)).toEqual([]);
    expect(vm.td!.stats.get('sept_free')).toBe(0);
    expect(mirror.role.invalid).toBe(false);
    expect(vm.tdp.leaves(mirror).some(([g]) => g === 0x200)).toBe(true);
    // The direct root is zapped in place, not invalidated (tdp_mmu_zap_root on each root).
    expect(direct.role.invalid).toBe(false);
    expect(vm.tdp.leaves(direct)).toEqual([]);
    expect(v.read(0x7000_0008n).exits).toEqual([]);
    expect(v.read(0x7100_0008n).exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED']);
    expect(v.currentRoot).toBe(direct);
  });

  it('freeing an S-EPT page of a live TD is refused (KVM_BUG_ON in tdx_sept_free_private_spt), nothing changes', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const before = vm.td!.sept.entries();
    expect(vm.td!.sept.hkidAssigned).toBe(true);
    // tdx.c:1875: KVM_BUG_ON(is_hkid_assigned(kvm_tdx), kvm).
    let rule: string | undefined;
    try {
      vm.td!.sept.freeExternalSpt(0x200, 1, -1);
    } catch (e) {
      rule = (e as { rule?: string }).rule;
    }
    expect(rule).toBe('tdx-kvm-bug-on');
    expect(vm.td!.sept.entries()).toEqual(before);
    expect(vm.td!.stats.get('sept_free')).toBe(0);
  });

  it('destroying a TD: guest_memfd release removes private pages, the HKID is freed, then the S-EPT pages are reclaimed', () => {
    const { vm, v, pt, accept } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2 });
    accept(0x20_0000n, 2);
    expect(v.read(0x7000_0000n).status).toBe('ok');
    expect(v.read(0x7000_1000n).status).toBe('ok');
    const leaves = vm.td!.sept.entries().filter((e) => e.leaf).length;
    const mark = vm.events.all.length;
    vm.destroy();
    expect(vm.td!.sept.entries()).toEqual([]);
    expect(vm.td!.stats.get('page_remove')).toBe(leaves);
    expect(vm.td!.stats.get('sept_free')).toBe(vm.td!.stats.get('sept_add'));
    expect(vm.tdp.roots).toEqual([]);
    // Every PAGE.REMOVE (HKID assigned, tdx.c:1896) comes before the first reclaim (HKID freed, tdx.c:1875).
    const calls = seamcalls(vm, mark).map((c) => c.split('@')[0]!);
    expect(calls.lastIndexOf('TDH.MEM.PAGE.REMOVE')).toBeLessThan(calls.findIndex((c) => c.startsWith('free_external_spt')));
    expect(vm.td!.sept.hkidAssigned).toBe(false);
  });
});

describe('TD unmap by attribute filter', () => {
  it('host notifiers (shared) leave private pages; guest_memfd invalidation (private) removes them from the S-EPT', () => {
    const { vm, v } = privateAndSharedTouched(tdFixture());
    expect(vm.unmapGfnRange(0x20_0000n, 0x31_0000n, 'shared')).toBe(1);
    expect(vm.td!.sept.lookup(0x200)?.leaf).toBe(true);
    expect(vm.tdp.leaves(v.currentRoot!)).toEqual([]);
    expect(vm.unmapGfnRange(0x20_0000n, 0x20_1000n, 'private')).toBe(1);
    expect(vm.td!.sept.lookup(0x200)).toBeUndefined();
    expect(vm.td!.stats.get('page_remove')).toBe(1);
  });

  it('the fast path refuses a mirror root', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    expect(() => vm.tdp.fastPageFault(newPageFault(0x20_0000n, 3n), v.currentMirrorRoot!, 0, v.stats)).toThrow(/mirror root/);
  });
});
