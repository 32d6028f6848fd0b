/**
 * Bad input to the vCPU side of shadow paging (src/shadow/shadow-vcpu.ts): addresses that are no
 * u64 (a string '0x1000' was converted by BigInt, a fraction threw a RangeError), #PF error codes
 * wider than 32 bits, access flags other than EFLAGS.AC / implicit, register sets and walkers that
 * are no such thing or walk another VM's memory, hardware-format levels other than 3/4/5 (any other
 * gave a 4-level format), slots and frames that are no numbers. Each refusal is the library's error
 * naming the parameter and value; the VM and the vCPU's roots are unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShadowVcpu, shadowHardwareFormat, rootMmuSetup, hostPfnToGfn, GvaWalker, GuestMemory, DEFAULT_FEATURES, type PagingRegisters } from '../../src';
import { shadowFixture } from '../shadow/fixtures';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, refusedAny, vmFingerprint } from './support';

const t = new Tally('shadow-vcpu');
const VA = 0x7000_0000n;
const GFN_MAX = 2 ** 40 - 1; // MAXPHYADDR <= 52 (SDM Vol. 3A 4.1.4)

function warm() {
  const f = shadowFixture('paging4', { hostPageSize: '4K' });
  f.pt.map(VA, 0x80_0000n, { flags: { writable: true, user: true } });
  expect(f.v.read(VA).status).toBe('ok');
  const sv = f.v.shadow!;
  const roots = () => JSON.stringify([sv.ctx.root.hpa, sv.ctx.root.pgd.toString(), sv.ctx.prevRoots.map((r) => [r.hpa, r.pgd.toString()]), sv.ctx.syncRequested, sv.ctx.tlbFlushCurrent]);
  const state = () => vmFingerprint(f.vm) + roots();
  // A walker over another VM's memory (same registers).
  const otherMem = new GuestMemory({ maxPhyAddr: f.vm.guestMem.maxPhyAddr });
  const stranger = new GvaWalker(otherMem, f.v.regs, { ...DEFAULT_FEATURES, maxPhyAddr: otherMem.maxPhyAddr });
  return { f, sv, state, stranger };
}

/** Not a u64 bigint nor a safe non-negative integer (Vcpu.access also takes numbers). */
const badAddr = badBigint({ numbersOk: true });
const badRegs = fc.oneof(junk, fc.constant({ cr0: 1n }), fc.constant({ cr0: 1, cr3: 0n, cr4: 0n, efer: 0n }), fc.constant({ cr0: 0n, cr3: 0n, cr4: 0n, efer: 0n, cr2: 0n }));

describe('ShadowVcpu', () => {
  it('access / invlpg / leafFor / pageFault: addresses that are no u64 are refused before any exit', () => {
    const { sv, state } = warm();
    fc.assert(fc.property(badAddr, (v) => {
      refused(t, () => sv.access(v as bigint, { kind: 'read' }), { param: 'address', value: v, state });
      refused(t, () => sv.invlpg(v as bigint), { param: 'address', value: v, state });
      refused(t, () => sv.leafFor(v as bigint), { param: 'address', value: v, state });
      refused(t, () => sv.pageFault(v as bigint, 0, 0), { param: 'cr2', value: v, state });
    }), FC);
    // A 4-level guest's addresses are canonical 48-bit (SDM Vol. 3A 4.5.1): refused by rule.
    for (const v of [1n << 47n, 0x8000_0000_0000_0000n]) {
      const e = refusedAny(t, () => sv.leafFor(v), 'non-canonical leafFor', state); // canonical.ts assertCanonical
      expect(e.rule).toBe('canonical-48');
    }
    for (const v of [null, 'read', {}, { kind: 'exec' }, { kind: 'read', user: 'yes' }]) refusedAny(t, () => sv.access(VA, v as never), 'bad access', state);
  });

  it('pageFault: a 32-bit error code, access flags AC/implicit only', () => {
    const { sv, state } = warm();
    // The #PF error code pushed by the CPU is 32 bits (SDM Vol. 3A 6.13, 4.7).
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constant(2 ** 32)), (v) => refused(t, () => sv.pageFault(VA, v as number, 0), { param: 'ec', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constantFrom(1, 2, 4, 1 << 20)), (v) => refused(t, () => sv.pageFault(VA, 0, v as number), { param: 'accessFlags', value: v, state })), FC);
  });

  it('afterSetRegisters / loadCr3Nested: registers, a walker of this VM, booleans', () => {
    const { f, sv, state, stranger } = warm();
    const r = f.v.regs;
    const w = f.v.walker;
    fc.assert(fc.property(badRegs, (v) => {
      refused(t, () => sv.afterSetRegisters(v as PagingRegisters, r, w, false, false, false), { param: 'old', state });
      refused(t, () => sv.afterSetRegisters(r, v as PagingRegisters, w, false, false, false), { param: 'regs', state });
      refused(t, () => sv.loadCr3Nested(w, v as PagingRegisters), { param: 'regs', state });
    }), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant(stranger)), (v) => {
      refused(t, () => sv.afterSetRegisters(r, r, v as GvaWalker, false, false, false), { param: 'walker', state });
      refused(t, () => sv.loadCr3Nested(v as GvaWalker, r), { param: 'walker', state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => sv.afterSetRegisters(r, r, w, v as boolean, false, false), { param: 'cr3Written', value: v, state });
      refused(t, () => sv.afterSetRegisters(r, r, w, false, v as boolean, false), { param: 'noFlush', value: v, state });
      refused(t, () => sv.afterSetRegisters(r, r, w, false, false, v as boolean), { param: 'reset', value: v, state });
    }), FC);
  });

  it('new ShadowVcpu: a VM with a shadow MMU, an index, the vCPU counters, a walker of the VM, registers', () => {
    const { f, state, stranger } = warm();
    const [vm, stats, w, r] = [f.vm, f.v.stats, f.v.walker, f.v.regs];
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ shadow: 5 })), (v) => refused(t, () => new ShadowVcpu(v as never, 5, stats, w, r), { param: 'vm', state })), FC);
    // KVM_MAX_VCPUS is at most 4096 (arch/x86/include/asm/kvm_host.h:54).
    fc.assert(fc.property(fc.oneof(badInt(0, 4095), fc.constant(4096)), (v) => refused(t, () => new ShadowVcpu(vm, v as number, stats, w, r), { param: 'index', value: v, state })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => new ShadowVcpu(vm, 5, v as never, w, r), { param: 'stats', state })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant(stranger)), (v) => refused(t, () => new ShadowVcpu(vm, 5, stats, v as never, r), { param: 'walker', state })), FC);
    fc.assert(fc.property(badRegs, (v) => refused(t, () => new ShadowVcpu(vm, 5, stats, w, v as never), { param: 'regs', state })), FC);
  });
});

describe('shadow-vcpu helpers', () => {
  it('shadowHardwareFormat: MAXPHYADDR 32..52, root level 3/4/5, booleans, a KVM version', () => {
    // root_role.level of a shadow MMU is PT32E_ROOT_LEVEL (3), 4 or 5 (mmu.c kvm_calc_cpu_role / shadow root).
    fc.assert(fc.property(fc.oneof(badInt(32, 52), fc.constantFrom(31, 53)), (v) => refused(t, () => shadowHardwareFormat(v as number, 4, false, false), { param: 'hostMaxPhyAddr', value: v })), FC);
    fc.assert(fc.property(badEnum([3, 4, 5]), (v) => refused(t, () => shadowHardwareFormat(46, v as number, false, false), { param: 'rootLevel', value: v })), FC);
    for (const v of [1, 2, 6, 0]) refused(t, () => shadowHardwareFormat(46, v, false, false), { param: 'rootLevel', value: v });
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => shadowHardwareFormat(46, 4, v as boolean, false), { param: 'smep', value: v });
      refused(t, () => shadowHardwareFormat(46, 4, false, v as boolean), { param: 'smap', value: v });
    }), FC);
    fc.assert(fc.property(badEnum(['7.3', '6.16']).filter((v) => v !== undefined), (v) => refused(t, () => shadowHardwareFormat(46, 4, false, false, v as never), { param: 'kvm', value: v })), FC);
  });

  it('rootMmuSetup: a walker, registers, the walker\'s memory, MAXPHYADDR', () => {
    const { f, stranger } = warm();
    const w = f.v.walker;
    const r = f.v.regs;
    fc.assert(fc.property(junk, (v) => refused(t, () => rootMmuSetup(v as GvaWalker, r, f.vm.guestMem, 46), { param: 'walker' })), FC);
    fc.assert(fc.property(badRegs, (v) => refused(t, () => rootMmuSetup(w, v as PagingRegisters, f.vm.guestMem, 46), { param: 'regs' })), FC);
    for (const v of [null, 5, stranger.mem]) refused(t, () => rootMmuSetup(w, r, v as GuestMemory, 46), { param: 'guestMem' });
    fc.assert(fc.property(fc.oneof(badInt(32, 52), fc.constant(64)), (v) => refused(t, () => rootMmuSetup(w, r, f.vm.guestMem, v as number), { param: 'hostMaxPhyAddr', value: v })), FC);
  });

  it('hostPfnToGfn: slots with numeric bases and sizes, a frame number', () => {
    const { f } = warm();
    const slots = f.vm.memslots;
    for (const v of [null, 5, 'slots', {}]) refused(t, () => hostPfnToGfn(v as never, 0), { param: 'slots', value: v });
    for (const v of [null, 5, []]) refused(t, () => hostPfnToGfn([v as never], 0), { param: 'slots[0]', value: v });
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => refused(t, () => hostPfnToGfn([{ ...slots[0]!, baseGfn: v as number }], 0), { param: 'slots[0].baseGfn', value: v })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, GFN_MAX), fc.constant(0)), (v) => refused(t, () => hostPfnToGfn([{ ...slots[0]!, npages: v as number }], 0), { param: 'slots[0].npages', value: v })), FC);
    fc.assert(fc.property(fc.oneof(badInt(-1, GFN_MAX), fc.constant(-2)), (v) => refused(t, () => hostPfnToGfn(slots, v as number), { param: 'pfn', value: v })), FC);
    // The inverse of the slot's backing (kvm_main.c __gfn_to_hva_memslot, frames base + offset).
    expect(hostPfnToGfn(slots, slots[0]!.pfnBase + 7)).toBe(slots[0]!.baseGfn + 7);
  });
});
