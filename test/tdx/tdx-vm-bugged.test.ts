/**
 * A TD guest can kill its VM, never make the engine fail: KVM_BUG_ON (a fetch from shared memory)
 * and kvm_vm_dead (an access to a PENDING page with SEPT_VE_DISABLE) are VM state, after which
 * every VM and vCPU ioctl is refused with -EIO (kvm_main.c:4409-4410, 5137-5138).
 */
import { describe, expect, it } from 'vitest';
import { MmulabError, VmBugged, VmDeadError } from '../../src';
import { caught, tdFixture } from './fixtures';

const SHARED_VA = 0x7100_0000n;

/** The TD with a guest PTE that maps a shared GPA without XD, and the fetch through it. */
function fetchFromShared() {
  const f = tdFixture();
  f.vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
  f.pt.map(SHARED_VA, 0x30_0000n | f.shared); // no XD: executable for the guest
  const mark = f.vm.events.all.length;
  const r = f.v.fetch(SHARED_VA + 0x10n);
  return { ...f, r, mark };
}

describe('TD: KVM_BUG_ON and kvm_vm_dead are VM state', () => {
  it('a fetch from shared memory ends the access with -EIO and marks the VM bugged (tdx.c:1962-1970)', () => {
    const { vm, v, r, shared, mark } = fetchFromShared();
    // tdx.c:1969-1970: KVM_BUG_ON(exit_qual & EPT_VIOLATION_ACC_INSTR) → return -EIO: KVM_RUN fails.
    expect(r.status).toBe('vm-dead');
    expect(r.exits.map((e) => [e.kind, e.gpa, e.ret])).toEqual([['ept_violation', 0x30_0010n | shared, '-EIO']]);
    // kvm_host.h:905-909, 925-926: kvm_vm_bugged sets vm_bugged and kills the VM.
    expect(vm.dead?.bugged).toBe(true);
    expect(vm.bugged).toMatch(/tdx\.c:1969/);
    expect(vm.td!.dead).toBe(true);
    // x86.c:11172: ++vcpu->stat.exits before the exit handler runs; the exit is counted once and
    // is in r.exits. The handler returns before kvm_mmu_page_fault (tdx.c:1969-1973): no pf_taken,
    // no page_fault trace, no shared fault.
    expect(v.stats.get('exits')).toBe(r.exits.length);
    expect(v.stats.get('ept_violations')).toBe(1);
    expect(v.stats.get('pf_taken')).toBe(0);
    expect(vm.td!.stats.get('shared_faults')).toBe(0);
    expect(vm.events.all.filter((e) => e.kind === 'page_fault' && e.seq >= mark)).toEqual([]);
    expect(vm.events.all.filter((e) => e.kind === 'vm_dead').map((e) => e.vcpu)).toEqual([v.index]);
  });

  it('after the bug every VM and vCPU ioctl is refused with VmBugged, counted, evented, state unchanged (kvm_main.c:4409, 5137)', () => {
    const { vm, v, ram } = fetchFromShared();
    const before = { slots: vm.memslots.length, vcpus: vm.vcpus.length, regs: v.regs, stats: v.stats.snapshot(), vmStats: vm.stats.snapshot(), logging: ram.dirtyLogging };
    const ops: [string, () => unknown][] = [
      ['KVM_RUN', () => v.read(0x7000_0000n)],
      ['KVM_RUN', () => v.store(0x7000_0000n, 1n)],
      ['TDG.MEM.PAGE.ACCEPT (KVM_RUN)', () => v.tdAccept(0x20_0000n)],
      ['KVM_SET_SREGS', () => v.setRegisters({ cr4: v.regs.cr4 })],
      ['MOV to CR3 (KVM_RUN)', () => v.movCr3(v.regs.cr3)],
      ['INVLPG (KVM_RUN)', () => v.invlpg(0x7000_0000n)],
      ['KVM_SET_USER_MEMORY_REGION2', () => vm.addMemslot({ base: 0x8000_0000n, size: 0x1000n })],
      ['KVM_SET_USER_MEMORY_REGION2', () => vm.setDirtyLogging(ram, true)],
      ['KVM_SET_USER_MEMORY_REGION2', () => vm.deleteMemslot(ram)],
      ['KVM_SET_MEMORY_ATTRIBUTES', () => vm.setMemoryAttributes(0x40_0000n, 0x40_1000n, 'shared')],
      ['KVM_CREATE_VCPU', () => vm.createVcpu()],
      ['KVM_GET_DIRTY_LOG', () => vm.getDirtyLog(ram)],
    ];
    for (const [op, f] of ops) {
      const e = caught(f);
      expect([e.constructor, e.rule, e.value]).toEqual([VmBugged, 'vm-bugged', op]);
      expect(e).toBeInstanceOf(VmDeadError);
      expect(e.message).toMatch(/tdx\.c:1969/);
    }
    expect(vm.deadRefusals).toBe(ops.length);
    // One vm_dead event for the kill, one per refused ioctl.
    expect(vm.events.all.filter((e) => e.kind === 'vm_dead').length).toBe(1 + ops.length);
    expect({ slots: vm.memslots.length, vcpus: vm.vcpus.length, regs: v.regs, stats: v.stats.snapshot(), vmStats: vm.stats.snapshot(), logging: ram.dirtyLogging }).toEqual(before);
  });

  it('host-side work that is no ioctl goes on: an MMU notifier unmap of the shared range', () => {
    const { vm } = fetchFromShared();
    expect(() => vm.unmapGfnRange(0x30_0000n, 0x30_1000n, 'shared')).not.toThrow();
    expect(vm.deadRefusals).toBe(0);
  });

  it('KVM_BUG_ON warns and marks only once: a second bug keeps the first reason (kvm_host.h:925)', () => {
    const { vm } = fetchFromShared();
    const first = vm.bugged;
    vm.kvmBugOn('a second bug');
    expect(vm.bugged).toBe(first);
    expect(vm.events.all.filter((e) => e.kind === 'vm_dead').length).toBe(1);
  });

  it('kvm_vm_dead (PENDING page, SEPT_VE_DISABLE) counts its exit and refuses later ioctls with VmDeadError, not VmBugged (tdx.c:1943-1947)', () => {
    const { vm, v, pt } = tdFixture(48, { septVeDisable: true });
    pt.map(0x7000_0000n, 0x20_0000n);
    const r = v.read(0x7000_0000n);
    expect(r.status).toBe('vm-dead');
    // The EPT violation reached KVM (tdx.c:1940-1947 runs in the exit handler): ++stat.exits (x86.c:11172).
    // The first exit AUGs the page (RET_PF_FIXED, tdx.c:1670-1671); the retried access finds it PENDING.
    expect(r.exits.map((e) => e.ret)).toEqual(['RET_PF_FIXED', '-EIO']);
    expect(v.stats.get('exits')).toBe(r.exits.length);
    expect(vm.dead?.bugged).toBe(false);
    expect(vm.bugged).toBeUndefined();
    const e = caught(() => v.read(0x7000_0000n));
    expect([e.constructor, e.rule]).toEqual([VmDeadError, 'vm-dead']);
    // A KVM_BUG_ON on a dead VM still marks it bugged (kvm_host.h:925: only !vm_bugged is tested).
    vm.kvmBugOn('later bug');
    expect(vm.bugged).toBe('later bug');
    expect(caught(() => v.read(0x7000_0000n))).toBeInstanceOf(MmulabError);
  });
});
