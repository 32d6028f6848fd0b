/**
 * Bad input to the Vm and Vcpu methods users call from cells (src/vm): gfn queries, dirty logging
 * and the dirty ring, NX huge pages, GPA-range notifiers, memory attributes, TD setup, VM death,
 * nested entry/exit, INVPCID, page faults. Each refusal is typed, names the parameter and value,
 * and leaves the VM's fingerprint unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { Vm, Vcpu, tdGuest, CR0, CR4, EFER } from '../../src';
import { nested } from '../shadow/nested-fixture';
import { nestedNpt } from '../shadow/nested-npt-fixture';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, vmFingerprint } from './support';

const t = new Tally('vm-methods');
const GFN_MAX = 2 ** 40 - 1; // a 52-bit GPA's frame number: MAXPHYADDR is at most 52 (SDM Vol. 3A 4.1.4)

describe('Vm: gfn queries, dirty logging, NX huge pages, ranges', () => {
  it('gfn arguments: not a safe integer in [0, 2^40)', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => {
      refused(t, () => f.vm.slotOfGfn(v as number), { param: 'gfn', value: v, state });
      refused(t, () => f.vm.isGfnWriteTracked(v as number), { param: 'gfn', value: v, state });
      refused(t, () => f.vm.tdpWriteProtectGfn(v as number), { param: 'gfn', value: v, state });
      refused(t, () => f.vm.mmuTryToUnsyncPages(v as number, false, false), { param: 'gfn', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => f.vm.mmuTryToUnsyncPages(0x400, v as boolean, false), { param: 'synchronizing', value: v, state });
      refused(t, () => f.vm.mmuTryToUnsyncPages(0x400, false, v as boolean), { param: 'prefetch', value: v, state });
    }), FC);
  });

  it('markDirty: a copy of a slot, a gfn outside the slot', () => {
    const f = nested();
    f.vm.setDirtyLogging(f.ram, true);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...f.ram })), (v) => refused(t, () => f.vm.markDirty(v as never, 0x400), { param: 'slot', state })), { ...FC, numRuns: 8 });
    // The slot is [0, 1 GiB): gfns 0 .. 0x3ffff.
    fc.assert(fc.property(badInt(0, 0x3_ffff), (v) => refused(t, () => f.vm.markDirty(f.ram, v as number), { param: 'gfn', value: v, state })), { ...FC, numRuns: 8 });
  });

  it('delete/zap/getDirtyLog/clearDirtyLog: unknown slots, bad clear specs', () => {
    const f = nested();
    f.vm.setManualDirtyLogProtect({ enable: true });
    f.vm.setDirtyLogging(f.ram, true);
    f.enter();
    f.v.write(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...f.ram })), (v) => {
      refused(t, () => f.vm.deleteMemslot(v as never), { param: 'slot', state });
      refused(t, () => f.vm.zapSlot(v as never), { param: 'slot', state });
      refused(t, () => f.vm.getDirtyLog(v as never), { param: 'slot', state });
      refused(t, () => f.vm.clearDirtyLog(v as never), { param: 'slot', state });
    }), { ...FC, numRuns: 6 });
    for (const v of [null, 5, 'all']) refused(t, () => f.vm.clearDirtyLog(f.ram, v as never), { param: 'spec', value: v, state });
    // kvm_main.c:2352-2353 (kvm_clear_dirty_log_protect): first_page a multiple of 64.
    fc.assert(fc.property(fc.oneof(badInt(0, 0x3_ffff), fc.constant(1), fc.constant(63)), (v) => refused(t, () => f.vm.clearDirtyLog(f.ram, { firstPage: v as number }), { param: 'spec.firstPage', value: v, state })), { ...FC, numRuns: 6 });
    // kvm_main.c:2356-2360: num_pages inside the slot, a multiple of 64 unless it reaches the end.
    fc.assert(fc.property(fc.oneof(badInt(0, 0x4_0000), fc.constant(0x4_0001), fc.constant(65)), (v) => refused(t, () => f.vm.clearDirtyLog(f.ram, { numPages: v as number }), { param: 'spec.numPages', value: v, state })), { ...FC, numRuns: 6 });
    for (const v of [null, 5, 'ff', {}]) refused(t, () => f.vm.clearDirtyLog(f.ram, { bitmap: v as never }), { param: 'spec.bitmap', value: v, state });
  });

  it('enableDirtyRing: not a power of two, too small, too big, wrong type', () => {
    const vm = new Vm({ spte: { flavour: 'ept' } });
    const state = () => vmFingerprint(vm);
    // kvm_main.c:4934-4944: a power of 2, >= the reserved entries and a page, <= KVM_DIRTY_RING_MAX_ENTRIES * 16.
    fc.assert(fc.property(fc.oneof(badInt(1, 2 ** 40), fc.constant(0), fc.constant(4097), fc.constant(2048), fc.constant(2 ** 40)), (v) => refused(t, () => vm.enableDirtyRing(v as number), { param: 'bytes', value: v, state })), FC);
  });

  it('setManualDirtyLogProtect, recoverNxHugePages, setNxHugePages', () => {
    const f = nested();
    f.enter();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    for (const v of [null, 5, 'on']) refused(t, () => f.vm.setManualDirtyLogProtect(v as never), { param: 'cap', value: v, state });
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.vm.setManualDirtyLogProtect({ enable: v as boolean }), { param: 'cap.enable', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.vm.setManualDirtyLogProtect({ enable: true, initiallySet: v as boolean }), { param: 'cap.initiallySet', value: v, state })), FC);
    // nx_huge_pages_recovery_ratio is a uint module parameter (mmu.c:7430).
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constant(null)), (v) => refused(t, () => f.vm.recoverNxHugePages(v as number), { param: 'ratio', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.vm.setNxHugePages(v as boolean), { param: 'on', value: v, state })), FC);
  });

  it('unmapGfnRange / age / testAge: bad bounds, filter "toString"', () => {
    const f = nested();
    f.enter();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(fc.oneof(badBigint(), fc.constant(1n << 60n)), (v) => {
      refused(t, () => f.vm.unmapGfnRange(v as bigint, 0x1000n), { param: 'start', value: v, state });
      refused(t, () => f.vm.age(v as bigint, 0x1000n), { param: 'start', value: v, state });
      refused(t, () => f.vm.testAge(v as bigint, 0x1000n), { param: 'start', value: v, state });
      refused(t, () => f.vm.unmapGfnRange(0n, v as bigint), { param: 'end', value: v, state });
      refused(t, () => f.vm.age(0n, v as bigint), { param: 'end', value: v, state });
      refused(t, () => f.vm.testAge(0n, v as bigint), { param: 'end', value: v, state });
    }), FC);
    refused(t, () => f.vm.age(0x2000n, 0x1000n), { param: 'end', value: 0x1000n, state });
    fc.assert(fc.property(badEnum(['private', 'shared', 'both']), (v) => refused(t, () => f.vm.unmapGfnRange(0n, 1n << 30n, v as 'shared'), { param: 'filter', value: v, state })), FC);
  });

  it('setMemoryAttributes (sw-protected): bad bounds and attributes', () => {
    const vm = new Vm({ type: 'sw-protected', checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, guestMemfd: true });
    const state = () => vmFingerprint(vm);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => vm.setMemoryAttributes(v as bigint, 0x1000n, 'private'), { param: 'start', value: v, state });
      refused(t, () => vm.setMemoryAttributes(0n, v as bigint, 'private'), { param: 'end', value: v, state });
    }), FC);
    fc.assert(fc.property(badEnum(['private', 'shared']), (v) => refused(t, () => vm.setMemoryAttributes(0n, 0x1000n, v as 'private'), { param: 'attr', value: v, state })), FC);
  });

  it('VM death and the -EIO check: reasons, ops and vCPU indexes', () => {
    const f = nested();
    const state = () => vmFingerprint(f.vm);
    for (const v of [undefined, null, 5, Symbol('r'), {}]) {
      refused(t, () => f.vm.kvmVmDead(v as never), { param: 'reason', value: v, state });
      refused(t, () => f.vm.kvmBugOn(v as never), { param: 'reason', value: v, state });
      refused(t, () => f.vm.checkAlive(v as never), { param: 'op', value: v, state });
    }
    // vCPU indexes below KVM_MAX_VCPUS, at most 4096 (arch/x86/include/asm/kvm_host.h:54); -1 is the VM.
    fc.assert(fc.property(badInt(-1, 4095), (v) => {
      refused(t, () => f.vm.kvmVmDead('test', v as number), { param: 'vcpu', value: v, state });
      refused(t, () => f.vm.kvmBugOn('test', v as number), { param: 'vcpu', value: v, state });
      refused(t, () => f.vm.checkAlive('test', v as number), { param: 'vcpu', value: v, state });
    }), FC);
  });

  it('createVcpu / new Vcpu: bad registers, a bad VM or index', () => {
    const f = nested();
    const state = () => vmFingerprint(f.vm);
    for (const r of ['cr0', 'cr3', 'cr4', 'efer'] as const) {
      fc.assert(fc.property(badBigint(), (v) => refused(t, () => f.vm.createVcpu({ [r]: v } as never), { param: `regs.${r}`, value: v, state })), { ...FC, numRuns: 10 });
    }
    for (const v of [null, 5, 'regs']) refused(t, () => f.vm.createVcpu(v as never), { param: 'regs', value: v, state });
    // PG without PE: CR0 rule (SDM Vol. 3A 2.5: #GP).
    refused(t, () => f.vm.createVcpu({ cr0: CR0.PG }), { param: 'CR0', state });
    for (const v of [null, 5, {}]) refused(t, () => new Vcpu(v as never, 1), { param: 'vm', value: v, state });
    fc.assert(fc.property(badInt(0, 4095), (v) => refused(t, () => new Vcpu(f.vm, v as number), { param: 'index', value: v, state })), FC);
  });

  it('tdInitMemRegion: a foreign vCPU, bad GPA, page count, options', () => {
    const g = tdGuest();
    const state = () => vmFingerprint(g.vm);
    const other = nested().v;
    for (const v of [null, 5, other]) refused(t, () => g.vm.tdInitMemRegion(v as never, 0x80_0000n, 1), { param: 'vcpu', state });
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => g.vm.tdInitMemRegion(g.vcpu, v as bigint, 1), { param: 'gpa', value: v, state })), FC);
    fc.assert(fc.property(badInt(1, 2 ** 40), (v) => refused(t, () => g.vm.tdInitMemRegion(g.vcpu, 0x80_0000n, v as number), { param: 'npages', value: v, state })), FC);
    for (const v of [null, 5, 'measure']) refused(t, () => g.vm.tdInitMemRegion(g.vcpu, 0x80_0000n, 1, v as never), { param: 'opts', value: v, state });
    fc.assert(fc.property(badBool, (v) => refused(t, () => g.vm.tdInitMemRegion(g.vcpu, 0x80_0000n, 1, { measure: v as boolean }), { param: 'opts.measure', value: v, state })), FC);
  });
});

describe('Vcpu: fetch, INVPCID, page faults, TD accept, nested entry and exit', () => {
  it('fetch: bad addresses and user flags', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => f.v.fetch(v as bigint), { param: 'address', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.fetch(0x40_0000n, v as boolean), { param: 'user', value: v, state })), FC);
  });

  it('invpcid: types outside 0-3, PCIDs outside 12 bits, bad addresses', () => {
    const f = nested({ tlb: {} });
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    // SDM Vol. 2A INVPCID: #GP if the type is above 3 or descriptor bits 63:12 are set.
    fc.assert(fc.property(badInt(0, 3), (v) => refused(t, () => f.v.invpcid(v as number, 0), { param: 'type', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 0xfff), (v) => refused(t, () => f.v.invpcid(2, v as number), { param: 'pcid', value: v, state })), FC);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => f.v.invpcid(0, 0, v as bigint), { param: 'address', value: v, state })), FC);
    // SDM: a type-0 INVPCID of a non-canonical linear address is #GP.
    refused(t, () => f.v.invpcid(0, 0, 0x8000_0000_0000n), { param: 'address', state });
  });

  it('pageFault: a malformed exit', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    const ok = { kind: 'ept_violation', reason: 48, gpa: 0x40_0000n, onGuestTable: false, info: 0n, errorCode: 0n } as const;
    for (const v of [null, 5, 'exit']) refused(t, () => f.v.pageFault(v as never), { param: 'exit', value: v, state });
    fc.assert(fc.property(badEnum(['ept_violation', 'ept_misconfig', 'npf', 'pf_intercept']), (v) => refused(t, () => f.v.pageFault({ ...ok, kind: v as 'npf' }), { param: 'exit.kind', value: v, state })), FC);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => f.v.pageFault({ ...ok, gpa: v as bigint }), { param: 'exit.gpa', value: v, state });
      refused(t, () => f.v.pageFault({ ...ok, errorCode: v as bigint }), { param: 'exit.errorCode', value: v, state });
      refused(t, () => f.v.pageFault({ ...ok, info: v as bigint }), { param: 'exit.info', value: v, state });
    }), FC);
    // SDM Vol. 1 §3.3.1: MAXPHYADDR is at most 52, so no exit reports a GPA of 2^52 or above.
    fc.assert(fc.property(badBigint({ max: (1n << 52n) - 1n }), (v) => refused(t, () => f.v.pageFault({ ...ok, gpa: v as bigint }), { param: 'exit.gpa', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => f.v.pageFault({ ...ok, onGuestTable: v as boolean }), { param: 'exit.onGuestTable', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 0xffff), (v) => refused(t, () => f.v.pageFault({ ...ok, reason: v as number }), { param: 'exit.reason', value: v, state })), FC);
  });

  it('tdAccept / tdpMapPrivate: bad GPAs, and tdAccept outside a TD', () => {
    const g = tdGuest();
    const before = () => vmFingerprint(g.vm);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => g.vcpu.tdpMapPrivate(v as bigint), { param: 'gpa', value: v, state: before })), FC);
    g.vm.tdFinalize();
    const state = () => vmFingerprint(g.vm);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => g.vcpu.tdAccept(v as bigint), { param: 'gpa', value: v, state })), FC);
    const f = nested();
    fc.assert(fc.property(junk, (v) => refused(t, () => f.v.tdAccept(v as bigint), { param: 'gpa', value: v, state: () => vmFingerprint(f.vm) })), FC);
  });

  it('enterNested / enterNestedNpt / exitNested: bad entries and reasons', () => {
    const f = nested();
    f.v.read(0x40_0000n);
    const state = () => vmFingerprint(f.vm);
    const l2 = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE, cr3: f.l2pt.root };
    for (const v of [null, 5, 'l2']) refused(t, () => f.v.enterNested(v as never), { param: 'entry', value: v, state });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => f.v.enterNested({ l2: { ...l2, cr3: v as bigint } }), { param: 'entry.l2.cr3', value: v, state })), FC);
    for (const v of [5, 'all', []]) refused(t, () => f.v.enterNested({ l2, intercepts: v as never }), { param: 'intercepts', value: v, state });
    for (const v of [null, 5, Symbol('w'), {}]) refused(t, () => f.v.exitNested(v as never), { param: 'why', value: v, state });
    const n = nestedNpt();
    const nstate = () => vmFingerprint(n.vm);
    for (const v of [null, 5, 'npt']) refused(t, () => n.v.enterNestedNpt(v as never), { param: 'entry', value: v, state: nstate });
    fc.assert(fc.property(fc.oneof(junk, fc.constant(0x20_0000)), (v) => refused(t, () => n.v.enterNestedNpt({ ncr3: v as bigint, l1: l2, l2 }), { param: 'entry.ncr3', value: v, state: nstate })), FC);
  });
});
