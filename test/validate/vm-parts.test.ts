/**
 * Bad input to the VM's building blocks (src/vm): the dirty ring, host memory, hardware TDP exits,
 * memslot arithmetic, NX huge page recovery and register-write effects. Each refusal is typed,
 * names the parameter and value, and leaves the object's state (ring indices and entries, host
 * frame allocation, the VM's fingerprint) unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  DirtyRing, HostMemory, dirtyRingEntryCheck, ept73Exit, eptViolationErrorCode, eptViolationErrorCode73, hardwareEptExit, hardwareNpfExit, hardwarePdpteLoadExit,
  lpageIndex, makeLpageInfo, maxMappingLevel, memslotPfn, memslotPrivatePfn, recoverNxHugePages, registerWriteEffects,
} from '../../src';
import { fixture, LONG_MODE } from '../vm/fixtures';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, vmFingerprint } from './support';

const t = new Tally('vm-parts');
const RUNS = { ...FC, numRuns: 12 };
const GFN_MAX = 2 ** 40 - 1; // 52-bit GPAs (SDM Vol. 3A 4.1.4: MAXPHYADDR <= 52)
const U32 = 0xffff_ffff;

describe('DirtyRing', () => {
  function ring() {
    const r = new DirtyRing(4096, 8);
    r.push(1, 0x10);
    r.push(1, 0x11);
    r.markCollected(0);
    const state = () => JSON.stringify([r.used, r.pushed, [0, 1, 2].map((i) => r.entry(i))]);
    return { r, state };
  }

  it('new DirtyRing: a power-of-two size of at least a page and at most 65536 entries, reserved entries below the size', () => {
    // kvm_vm_ioctl_enable_dirty_log_ring (kvm_main.c): !size || size & (size - 1), < PAGE_SIZE, > KVM_DIRTY_RING_MAX_ENTRIES entries.
    fc.assert(fc.property(fc.oneof(badInt(4096, 65536 * 16), fc.constantFrom(4096 + 16, 3 * 4096)), (v) => refused(t, () => new DirtyRing(v as number, 8), { param: 'bytes', value: v })), FC);
    fc.assert(fc.property(badInt(0, 255), (v) => refused(t, () => new DirtyRing(4096, v as number), { param: 'rsvdEntries', value: v })), FC);
  });

  it('entry / markCollected / push / reset: u32 indices, slot ids, gfn offsets, a callback', () => {
    const { r, state } = ring();
    fc.assert(fc.property(badInt(0, U32), (v) => {
      refused(t, () => r.entry(v as number), { param: 'i', value: v, state });
      refused(t, () => r.markCollected(v as number), { param: 'i', value: v, state });
      refused(t, () => r.push(v as number, 0), { param: 'slot', value: v, state });
    }), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => refused(t, () => r.push(1, v as number), { param: 'offset', value: v, state })), RUNS);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => refused(t, () => r.reset(v as never), { param: 'resetGfn', state })), RUNS);
  });

  it('dirtyRingEntryCheck: a ring or undefined, a vCPU index', () => {
    const { r, state } = ring();
    fc.assert(fc.property(junk.filter((v) => v !== undefined), (v) => refused(t, () => dirtyRingEntryCheck(v as never, 0), { param: 'ring', state })), RUNS);
    fc.assert(fc.property(badInt(-1, 4095), (v) => refused(t, () => dirtyRingEntryCheck(r, v as number), { param: 'vcpu', value: v, state })), RUNS);
  });
});

describe('HostMemory', () => {
  it('MAXPHYADDR, RAM ranges, backing copies, marks, table frames', () => {
    const h = new HostMemory(46);
    h.allocRam(0x100, 0x10);
    const table = h.allocTable();
    const state = () => JSON.stringify([h.ramMark(), h.tableFrames]);
    // MAXPHYADDR 32..52 (SDM Vol. 3A 4.1.4).
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => new HostMemory(v as number), { param: 'maxPhyAddr', value: v })), FC);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => {
      refused(t, () => h.allocRam(v as number, 1), { param: 'baseGfn', value: v, state });
      refused(t, () => h.allocRamBackings(v as number, 1, 1), { param: 'baseGfn', value: v, state });
      refused(t, () => h.isTableFrame(v as number), { param: 'pfn', value: v, state });
    }), RUNS);
    fc.assert(fc.property(badInt(1, GFN_MAX + 1), (v) => refused(t, () => h.allocRam(0, v as number), { param: 'npages', value: v, state })), RUNS);
    fc.assert(fc.property(badInt(1, 2), (v) => refused(t, () => h.allocRamBackings(0, 1, v as number), { param: 'copies', value: v, state })), RUNS);
    fc.assert(fc.property(fc.oneof(badInt(0x100, h.ramMark()), fc.constant(h.ramMark() + 1)), (v) => refused(t, () => h.releaseRam(v as number), { param: 'mark', value: v, state })), RUNS);
    fc.assert(fc.property(fc.oneof(badInt(table, table), fc.constantFrom(table + 1, 0x100)), (v) => refused(t, () => h.freeTable(v as number), { param: 'pfn', value: v, state })), RUNS);
  });
});

describe('hardware TDP exits', () => {
  it('EPT/NPF exits: GPAs below 2^52, PFERR masks, RWX 0..7, booleans, 7.3 extras', () => {
    fc.assert(fc.property(badBigint({ max: (1n << 52n) - 1n }), (v) => {
      refused(t, () => hardwareEptExit(v as bigint, 2, 7, true, false), { param: 'gpa', value: v });
      refused(t, () => hardwareNpfExit(v as bigint, 2, true, false), { param: 'gpa', value: v });
      refused(t, () => hardwarePdpteLoadExit(v as bigint, 7, false), { param: 'gpa', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, U32), (v) => {
      refused(t, () => hardwareEptExit(0x1000n, v as number, 7, true, false), { param: 'access', value: v });
      refused(t, () => hardwareNpfExit(0x1000n, v as number, true, false), { param: 'errorCode', value: v });
      refused(t, () => eptViolationErrorCode(v as number), { param: 'qual', value: v });
      refused(t, () => eptViolationErrorCode73(v as number, false), { param: 'qual', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, 7), (v) => {
      refused(t, () => hardwareEptExit(0x1000n, 2, v as number, true, false), { param: 'rwx', value: v });
      refused(t, () => hardwarePdpteLoadExit(0x1000n, v as number, false), { param: 'rwx', value: v });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => hardwareEptExit(0x1000n, 2, 7, v as boolean, false), { param: 'final', value: v });
      refused(t, () => hardwareEptExit(0x1000n, 2, 7, true, v as boolean), { param: 'misconfig', value: v });
      refused(t, () => hardwareNpfExit(0x1000n, 2, true, v as boolean), { param: 'reserved', value: v });
      refused(t, () => eptViolationErrorCode73(0, v as boolean), { param: 'mbec', value: v });
      refused(t, () => ept73Exit('7.3', v as boolean, false, 0), { param: 'mbec', value: v });
      refused(t, () => ept73Exit('7.3', false, v as boolean, 0), { param: 'xu', value: v });
      refused(t, () => hardwareEptExit(0x1000n, 2, 7, true, false, { mbec: v as boolean, xu: false, guestLinear: 0 }), { param: 'v73.mbec', value: v });
      refused(t, () => hardwarePdpteLoadExit(0x1000n, 7, v as boolean), { param: 'misconfig', value: v });
      refused(t, () => hardwarePdpteLoadExit(0x1000n, 7, false, { mbec: false, xu: v as boolean, guestLinear: 0 }), { param: 'v73.xu', value: v });
    }), FC);
    fc.assert(fc.property(badEnum(['6.16', '7.3']), (v) => refused(t, () => ept73Exit(v as never, false, false, 0), { param: 'kvm', value: v })), FC);
    // Qualification bits 11:9 (SDM Vol. 3C Table 28-7): at most 0xe00.
    fc.assert(fc.property(badInt(0, 0xe00), (v) => refused(t, () => ept73Exit('7.3', false, false, v as number), { param: 'guestLinear', value: v })), FC);
  });
});

describe('memslot arithmetic, NX recovery, register writes', () => {
  it('memslotPfn / memslotPrivatePfn / lpageIndex / maxMappingLevel / makeLpageInfo', () => {
    const f = fixture({ flavour: 'ept' }, '2M');
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ ...f.ram, baseGfn: -1 }, { ...f.ram, npages: 0 })), (v) => {
      refused(t, () => memslotPfn(v as never, 0x200), { param: 'slot', state });
      refused(t, () => memslotPrivatePfn(v as never, 0x200), { param: 'slot', state });
      refused(t, () => lpageIndex(v as never, 0x200, 2), { param: 'slot', state });
      refused(t, () => maxMappingLevel(v as never, 0x200, 3, 3), { param: 'slot', state });
    }), RUNS);
    // RAM is [0, 1 GiB): gfns 0 .. 0x3ffff.
    fc.assert(fc.property(badInt(0, 0x3_ffff), (v) => {
      refused(t, () => memslotPfn(f.ram, v as number), { param: 'gfn', value: v, state });
      refused(t, () => lpageIndex(f.ram, v as number, 2), { param: 'gfn', value: v, state });
      refused(t, () => maxMappingLevel(f.ram, v as number, 3, 3), { param: 'gfn', value: v, state });
    }), RUNS);
    // A slot without guest_memfd has no private pages (kvm_gmem_get_pfn).
    refused(t, () => memslotPrivatePfn(f.ram, 0x200), { param: 'slot', value: 'ram', state });
    // lpage_info exists for 2M and 1G (KVM_NR_PAGE_SIZES - 1 levels above 4K).
    fc.assert(fc.property(badInt(2, 3), (v) => refused(t, () => lpageIndex(f.ram, 0x200, v as number), { param: 'level', value: v, state })), RUNS);
    fc.assert(fc.property(badInt(1, 5), (v) => refused(t, () => maxMappingLevel(f.ram, 0x200, v as number, 3), { param: 'maxLevel', value: v, state })), RUNS);
    fc.assert(fc.property(badInt(1, 3), (v) => refused(t, () => maxMappingLevel(f.ram, 0x200, 3, v as number), { param: 'maxHugePageLevel', value: v, state })), RUNS);
    fc.assert(fc.property(badInt(0, GFN_MAX), (v) => refused(t, () => makeLpageInfo(v as number, 1), { param: 'baseGfn', value: v })), RUNS);
    fc.assert(fc.property(badInt(1, GFN_MAX + 1), (v) => refused(t, () => makeLpageInfo(0, v as number), { param: 'npages', value: v })), RUNS);
  });

  it('recoverNxHugePages: the VM parts, a u32 ratio, a vCPU index', () => {
    const f = fixture({ flavour: 'ept' }, '2M');
    const state = () => vmFingerprint(f.vm);
    fc.assert(fc.property(junk, (v) => refused(t, () => recoverNxHugePages(v as never, 1), { param: 'vm', state })), RUNS);
    // nx_huge_pages_recovery_ratio: a uint module parameter (mmu.c).
    fc.assert(fc.property(badInt(0, U32), (v) => refused(t, () => recoverNxHugePages(f.vm as never, v as number), { param: 'ratio', value: v, state })), RUNS);
    fc.assert(fc.property(badInt(-1, 4095), (v) => refused(t, () => recoverNxHugePages(f.vm as never, 1, v as number), { param: 'vcpu', value: v, state })), RUNS);
  });

  it('registerWriteEffects: register sets and a boolean', () => {
    const regs = { ...LONG_MODE, cr3: 0x1000n };
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...regs, cr0: 1 }), fc.constant({ ...regs, cr4: -1n })), (v) => {
      refused(t, () => registerWriteEffects(v as never, regs, true), { param: 'old' });
      refused(t, () => registerWriteEffects(regs, v as never, true), { param: 'regs' });
    }), RUNS);
    fc.assert(fc.property(badBool, (v) => refused(t, () => registerWriteEffects(regs, regs, v as boolean), { param: 'tdpEnabled', value: v })), RUNS);
  });
});
