/**
 * src/tdx details the scenario tests reach only in part, asserted exactly so that mutation testing
 * finds a failing test: the SEAMCALL / TDCALL events the S-EPT hooks record (what, which GPA,
 * level and page), the TDX module's refusals and KVM_BUG_ONs by their text, S-EPT lookups of
 * huge and PENDING entries, the memory-fault exit fields, and the invariants' rules. Expected
 * values cite Linux v6.16.1 (arch/x86/kvm/vmx/tdx.c, mmu/mmu.c, include/uapi/linux/kvm.h).
 */
import { describe, expect, it } from 'vitest';
import { InvariantViolation, memslotPfn, memslotPrivatePfn, MmulabError } from '../../src';
import { tdFixture, thrownRule } from './fixtures';

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    // The message without the suffix every MmulabError appends (value and rule, asserted apart).
    if (e instanceof MmulabError) return `${e.rule}: ${e.message.replace(/ \(value [^;]*; rule: [^)]*\)$/, '')} [${e.value}]`;
    throw e;
  }
  throw new Error('expected a typed error');
}

const hex = (n: number): string => '0x' + n.toString(16);

describe('S-EPT SEAMCALL events (tdx.c: tdx_sept_set_private_spte, tdx_sept_remove_private_spte, tdx_td_finalize)', () => {
  it('PAGE.AUG names the GPA, level 1 and the guest_memfd page (tdx.c:1607); the guest accept is a TDCALL at that GPA', () => {
    const { vm, v, pt, ram } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    const mark = vm.events.all.length;
    expect(v.read(0x7000_0010n).status).toBe('guest-ve');
    const aug = vm.events.all.filter((e) => e.seq >= mark && e.kind === 'seamcall' && e.outcome.startsWith('TDH.MEM.PAGE.AUG'));
    expect(aug.map((e) => [e.vcpu, e.gpa, e.level, e.outcome])).toEqual([[0, 0x20_0000n, 1, `TDH.MEM.PAGE.AUG pfn ${hex(memslotPrivatePfn(ram, 0x200))}`]]);
    // The page is PENDING (R/W/X clear), the #VE names the access.
    expect(vm.td!.sept.isPending(0x200)).toBe(true);
    expect(vm.td!.sept.isPending(0x201)).toBe(false);
    const ve = vm.events.all.filter((e) => e.seq >= mark && e.kind === 'guest_ve');
    expect(ve.map((e) => [e.vcpu, e.gva, e.outcome])).toEqual([[0, 0x7000_0010n, '#VE: access to a PENDING private page (not accepted)']]);
    const m2 = vm.events.all.length;
    expect(v.tdAccept(0x20_0000n).status).toBe('accepted');
    const acc = vm.events.all.filter((e) => e.seq >= m2);
    expect(acc.map((e) => [e.kind, e.vcpu, e.gpa, e.level, e.outcome])).toEqual([['tdcall', 0, 0x20_0000n, 1, 'TDG.MEM.PAGE.ACCEPT']]);
    expect(vm.td!.sept.isPending(0x200)).toBe(false);
  });

  it('removing an accepted page: BLOCK, TRACK, REMOVE at its GPA and level, BLOCK and REMOVE naming the page (tdx.c:1791, 1696)', () => {
    const { vm, v, pt, ram, accept } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    accept(0x20_0000n);
    expect(v.read(0x7000_0000n).status).toBe('ok');
    const mark = vm.events.all.length;
    expect(vm.unmapGfnRange(0x20_0000n, 0x20_1000n, 'private')).toBe(1);
    const pfn = hex(memslotPrivatePfn(ram, 0x200));
    const calls = vm.events.all.filter((e) => e.seq >= mark && e.kind === 'seamcall');
    expect(calls.map((e) => [e.gpa, e.level, e.outcome])).toEqual([
      [0x20_0000n, 1, `TDH.MEM.RANGE.BLOCK pfn ${pfn}`],
      [0x20_0000n, 1, 'TDH.MEM.TRACK'],
      [0x20_0000n, 1, `TDH.MEM.PAGE.REMOVE pfn ${pfn}`],
    ]);
    expect(vm.td!.sept.lookup(0x200)).toBeUndefined();
  });

  it('KVM_TDX_FINALIZE_VM: one TDH.MR.FINALIZE, VM-wide; PAGE.ADD measured extends 16 chunks of 256 bytes (tdx.c:3207-3213)', () => {
    const { vm, v } = tdFixture(48, { finalize: false });
    vm.tdInitMemRegion(v, 0x20_0000n, 1, { measure: true });
    // (The 2M block of gfn 0x200 also gets its level-1 S-EPT table: TDH.MEM.SEPT.ADD, not counted here.)
    const adds = vm.events.all.filter((e) => e.kind === 'seamcall' && e.gpa === 0x20_0000n && !e.outcome.startsWith('TDH.MEM.SEPT.ADD'));
    expect(adds.map((e) => [e.level, e.outcome.split(' pfn')[0]])).toEqual([[1, 'TDH.MEM.PAGE.ADD'], [1, 'TDH.MR.EXTEND ×16']]);
    expect(vm.td!.stats.get('mr_extend')).toBe(16);
    expect(vm.td!.stats.get('page_add')).toBe(1);
    vm.tdInitMemRegion(v, 0x10_0000n, 256);
    const mark = vm.events.all.length;
    vm.tdFinalize();
    expect(vm.events.all.filter((e) => e.seq >= mark && e.kind === 'seamcall').map((e) => [e.vcpu, e.gpa, e.level, e.outcome])).toEqual([[-1, 0n, 0, 'TDH.MR.FINALIZE']]);
    expect(vm.td!.state).toBe('runnable');
    expect(vm.td!.sept.runnable).toBe(true);
  });
});

describe('the TDX module refuses, by name', () => {
  it('AUG over a present entry, a huge AUG, SEPT.ADD over a present entry, a walk that finds no table', () => {
    const { vm, v, pt, ram } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const s = vm.td!.sept;
    expect(message(() => s.setExternalSpte(0x200, 1, memslotPfn(ram, 0x200), -1))).toBe('sept-seamcall: TDH.MEM.PAGE.AUG for GFN 0x200 level 1 refused: the entry is already present [0x200]');
    expect(message(() => s.setExternalSpte(0x400, 2, 1, -1))).toBe('sept-seamcall: TDH.MEM.PAGE.AUG for GFN 0x400 level 2 refused: only 4K private pages are supported (v6.16) [0x400]');
    expect(message(() => s.linkExternalSpt(0x200, 2, -1))).toBe('sept-seamcall: TDH.MEM.SEPT.ADD for GFN 0x200 level 2 refused: the entry is already present [0x200]');
    expect(message(() => s.setExternalSpte(0x4000_0000, 1, 1, -1))).toBe('sept-seamcall: TDH.MEM.PAGE.AUG for GFN 0x40000000 level 1 refused: no S-EPT table at this level yet (TDX_EPT_WALK_FAILED) [0x40000000]');
    expect(message(() => s.linkExternalSpt(0x4000_0000, 1, -1))).toContain('TDH.MEM.SEPT.ADD for GFN 0x40000000 level 1 refused: no S-EPT table');
    const other = memslotPrivatePfn(ram, 0x200) + 1;
    expect(message(() => s.removeExternalSpte(0x200, 1, other, -1))).toBe(`sept-seamcall: TDH.MEM.RANGE.BLOCK for GFN 0x200 level 1 refused: no private page ${hex(other)} mapped here [0x200]`);
    expect(message(() => s.removeExternalSpte(0x201, 1, 5, -1))).toContain('TDH.MEM.RANGE.BLOCK for GFN 0x201 level 1 refused');
  });

  it('PAGE.ADD after finalization, or of a gfn the mirror did not premap; accept of a gfn without a leaf is a TD exit', () => {
    const { vm } = tdFixture();
    const s = vm.td!.sept;
    expect(message(() => s.pageAdd(0x300, 1, false, -1))).toBe('sept-seamcall: TDH.MEM.PAGE.ADD for GFN 0x300 level 1 refused: the TD is finalized [0x300]');
    const nf = tdFixture(48, { finalize: false });
    expect(message(() => nf.vm.td!.sept.pageAdd(0x300, 1, false, -1))).toBe('sept-seamcall: TDH.MEM.PAGE.ADD for GFN 0x300 level 1 refused: the gfn is not premapped in the mirror [0x300]');
    expect(s.accept(0x300, 0)).toBe('ept-violation');
    expect(s.accept(0x4000_0000, 0)).toBe('ept-violation');
  });

  it('KVM_BUG_ONs around the HKID (tdx.c:1875, 1896) and the checks of a reclaim', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const s = vm.td!.sept;
    expect(message(() => s.freeExternalSpt(0x200, 1, -1))).toBe("tdx-kvm-bug-on: KVM_BUG_ON in tdx.c:1875 tdx_sept_free_private_spt for GFN 0x200 level 1: an S-EPT page freed while the TD's HKID is assigned (a live TD) [0x200]");
    s.releaseHkid();
    expect(s.hkidAssigned).toBe(false);
    expect(message(() => s.removeExternalSpte(0x200, 1, 1, -1))).toBe('tdx-kvm-bug-on: KVM_BUG_ON in tdx.c:1896 tdx_sept_remove_private_spte for GFN 0x200 level 1: a private page removed after the HKID was released [0x200]');
    expect(message(() => s.freeExternalSpt(0x200, 1, -1))).toBe('sept-seamcall: free_external_spt for GFN 0x200 level 1 refused: the S-EPT table still maps something [0x200]');
    expect(message(() => s.freeExternalSpt(0x4000_0000, 1, -1))).toBe('sept-seamcall: free_external_spt for GFN 0x40000000 level 1 refused: no S-EPT table covers this range [0x40000000]');
  });
});

describe('S-EPT reading', () => {
  it('a huge leaf (bit 7) ends the lookup at its level, floored to its first gfn; R/W/X clear is PENDING', () => {
    const { vm, ram } = tdFixture();
    const s = vm.td!.sept;
    const pfn = memslotPrivatePfn(ram, 0x400);
    s.corruptForTest(0x400, 2, (BigInt(pfn) << 12n) | 0x80n | 7n);
    expect(s.lookup(0x4ab)).toEqual({ level: 2, gfn: 0x400, leaf: true, pfn, pending: false });
    expect(s.entries().filter((e) => e.level === 2 && e.gfn === 0x400)).toEqual([{ level: 2, gfn: 0x400, leaf: true, pfn, pending: false }]);
    s.corruptForTest(0x400, 2, (BigInt(pfn) << 12n) | 0x80n);
    expect(s.lookup(0x400)?.pending).toBe(true);
    expect(s.entries().find((e) => e.level === 2 && e.gfn === 0x400)?.pending).toBe(true);
    // Non-leaf entries are never PENDING; a missing level-1 entry under a present table is no entry.
    expect(s.entries().filter((e) => !e.leaf).every((e) => !e.pending && e.level > 1)).toBe(true);
    expect(s.lookup(0x1ff_000)).toBeUndefined();
  });

  it('entries list tables before their contents with the gfn each covers', () => {
    const { vm, v, pt, accept } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    accept(0x20_0000n);
    v.read(0x7000_0000n);
    const es = vm.td!.sept.entries();
    const leaf = es.findIndex((e) => e.leaf && e.gfn === 0x200);
    const table = es.findIndex((e) => !e.leaf && e.level === 2 && e.gfn === 0x200);
    expect(table).toBeGreaterThanOrEqual(0);
    expect(table).toBeLessThan(leaf);
    expect(es[leaf]).toMatchObject({ level: 1, pending: false });
    // Non-leaf entries at gfn 0, root first: levels 4 and 3 lead to gfn 0x200, and the level-2
    // entry of the first 2M block exists for the fixture's table pool (1 MiB, PAGE.ADDed).
    expect(es.filter((e) => !e.leaf && e.gfn === 0).map((e) => e.level)).toEqual([4, 3, 2]);
  });
});

describe('memory-fault exits and TD page-fault bookkeeping (mmu.c: kvm_mmu_prepare_memory_fault_exit)', () => {
  it('a private access to a shared gfn: -EFAULT, KVM_MEMORY_EXIT_FLAG_PRIVATE (1 << 3, uapi kvm.h), the natural page', () => {
    const { vm, v, pt } = tdFixture();
    vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
    pt.map(0x7000_0000n, 0x30_0000n);
    const mark = vm.events.all.length;
    const taken = v.stats.get('pf_taken');
    const r = v.read(0x7000_0044n);
    expect(r.status).toBe('memory-fault');
    expect(r.memoryFault).toMatchObject({ gpa: 0x30_0000n, size: 4096n, flags: 8n, isPrivate: true });
    expect(vm.td!.stats.get('memory_fault_exits')).toBe(1);
    expect(v.stats.get('pf_taken')).toBe(taken + 1);
    const ev = vm.events.all.filter((e) => e.seq >= mark && (e.kind === 'page_fault' || e.kind === 'memory_fault'));
    expect(ev.map((e) => [e.kind, e.outcome])).toEqual([
      ['page_fault', '-EFAULT'],
      ['memory_fault', 'KVM_EXIT_MEMORY_FAULT: private access to a shared gfn'],
    ]);
    expect(ev[1]!.gpa).toBe(0x30_0000n);
    expect(ev[1]!.code).toBe(8n);
  });

  it('a shared access to a private gfn: flags 0', () => {
    const { vm, v, pt, shared } = tdFixture();
    pt.map(0x7100_0000n, 0x20_0000n | shared);
    const r = v.read(0x7100_0000n);
    expect(r.status).toBe('memory-fault');
    expect(r.memoryFault).toMatchObject({ gpa: 0x20_0000n, flags: 0n, isPrivate: false, reason: 'shared access to a private gfn' });
    expect(vm.td!.stats.get('shared_faults')).toBe(1);
    expect(vm.td!.stats.get('private_faults')).toBe(0);
  });

  it('a fixed private fault counts pf_fixed and a page_fault event RET_PF_FIXED with the private error code', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    const fixed = v.stats.get('pf_fixed');
    v.read(0x7000_0000n);
    expect(v.stats.get('pf_fixed')).toBe(fixed + 1);
    expect(vm.td!.stats.get('private_faults')).toBe(1);
    const pf = vm.events.all.filter((e) => e.kind === 'page_fault' && e.gpa === 0x20_0000n);
    expect(pf.map((e) => [e.vcpu, e.gva, e.outcome])).toEqual([[0, 0x7000_0000n, 'RET_PF_FIXED']]);
  });

  it('shared MMIO: the first fault emulates through a new MMIO SPTE, the next through the cached one (pf_emulate each time)', () => {
    const { vm, v, pt, shared } = tdFixture();
    vm.setMemoryAttributes(0x8000_0000n, 0x8000_1000n, 'shared');
    pt.map(0x7300_0000n, 0x8000_0000n | shared);
    const e0 = v.stats.get('pf_emulate');
    const t0 = v.stats.get('pf_taken');
    expect(v.read(0x7300_0000n).status).toBe('emulated');
    expect(v.stats.get('pf_taken')).toBe(t0 + 1);
    expect(v.read(0x7300_0000n).status).toBe('emulated');
    // handle_mmio_page_fault answers the RSVD fault before the fault proper: no second pf_taken.
    expect(v.stats.get('pf_taken')).toBe(t0 + 1);
    expect(v.stats.get('pf_emulate')).toBe(e0 + 2);
  });
});

describe('TD state and attributes', () => {
  it('finalize refusals name the rule and the count; the attribute event names range, change and root types', () => {
    const { vm, v } = tdFixture(48, { finalize: false });
    expect(vm.td!.state).toBe('initialized');
    vm.tdInitMemRegion(v, 0x10_0000n, 1);
    v.tdpMapPrivate(0x20_0000n);
    expect(message(() => vm.tdFinalize())).toMatch(/^td-premapped: KVM_TDX_FINALIZE_VM while pages mapped by KVM_TDX_INIT_MEM_REGION still await TDH.MEM.PAGE.ADD \(tdx.c:2875\) \[1\]$/);
    const mark = vm.events.all.length;
    vm.setMemoryAttributes(0x30_0000n, 0x30_2000n, 'shared');
    const ev = vm.events.all.filter((e) => e.seq >= mark && e.kind === 'mem_attr');
    expect(ev.map((e) => [e.gpa, e.outcome])).toEqual([[0x30_0000n, '0x300000..0x302000 → shared: 2 gfns changed, 0 leaves zapped in MIRROR|INVALID roots']]);
  });

  it('the invariants catch an S-EPT leaf that maps another page than its mirror SPTE', () => {
    const { vm, v, pt, ram } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    vm.td!.sept.corruptForTest(0x200, 1, (BigInt(memslotPrivatePfn(ram, 0x201)) << 12n) | 7n);
    expect(thrownRule(() => vm.afterOperation(), InvariantViolation)).toBe('tdx-mirror-sept-mismatch');
  });
});
