/** KVM_MR_MOVE (`virt/kvm/kvm_main.c: __kvm_set_memory_region`, `kvm_prepare_memory_region`, v6.16.1). */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, Vm, gpa } from '../../src';
import { fixture } from './fixtures';

describe('moveMemslot (KVM_MR_MOVE)', () => {
  it('a move onto another slot is refused (-EEXIST) and changes nothing', () => {
    const { vm, ram, rom } = fixture();
    const before = vm.memslots.map((s) => [s.name, s.baseGfn]);
    const gen = vm.mmioGeneration;
    // kvm_main.c:2090-2092: the new range may not overlap another slot.
    let err: unknown;
    try {
      vm.moveMemslot(rom, 0x3ff0_0000n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).rule).toBe('memslot-overlap');
    expect(vm.memslots.map((s) => [s.name, s.baseGfn])).toEqual(before);
    expect(vm.mmioGeneration).toBe(gen);
    expect(vm.slotOfGfn(ram.baseGfn)).toBe(ram);
  });

  it('the same base is no change (kvm_main.c:2082-2087); a moved slot keeps its dirty bitmap (kvm_main.c:1688-1689)', () => {
    const { vm, rom, ram } = fixture();
    const gen = vm.mmioGeneration;
    expect(vm.moveMemslot(rom, rom.base)).toBe(rom);
    expect(vm.mmioGeneration).toBe(gen);
    vm.setDirtyLogging(ram, true);
    vm.guestMem.write64(gpa(0x1000n), 7n);
    ram.dirtyBitmap![5] = 1;
    const moved = vm.moveMemslot(ram, 0x8000_0000n);
    expect(moved.dirtyBitmap).toBe(ram.dirtyBitmap);
    expect(moved.pfnBase).toBe(ram.pfnBase);
    // The memory behind the slot's userspace address follows it.
    expect(vm.guestMem.read64(gpa(0x8000_1000n))).toBe(7n);
    expect(vm.guestMem.kindOf(gpa(0x1000n))).toBe('noslot');
    // kvm_set_memslot: a move swaps the memslots twice (kvm_invalidate_memslot, kvm_main.c:1814;
    // kvm_move_memslot, kvm_main.c:1868), +2 each for a VM with SMM (kvm_main.c:1664, kvm_host.h:2344)
    // and two more for the flags change of setDirtyLogging (kvm_main.c:1881).
    expect(vm.mmioGeneration).toBe(gen + 6);
    expect(vm.getDirtyLog(moved)).toEqual([0x8000_5000n]);
    // The old object is no longer the VM's.
    expect(() => vm.getDirtyLog(ram)).toThrow(InvalidArgumentError);
  });

  it('a TD slot (guest_memfd) cannot be moved (kvm_main.c:2071-2072: -EINVAL)', () => {
    const vm = new Vm({ type: 'tdx' });
    const s = vm.addMemslot({ base: 0n, size: 0x20_0000n });
    expect(() => vm.moveMemslot(s, 0x40_0000n)).toThrow(InvalidArgumentError);
    expect(vm.memslots[0]).toBe(s);
  });
});
