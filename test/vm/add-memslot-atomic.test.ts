/**
 * addMemslot is all or nothing (issue 12 item 2): a guest_memfd slot takes two host backings (the
 * userspace pages and the guest_memfd pages, kvm_gmem_bind), then the GPA-space slot; a failure
 * at any step after the first leaves the VM and its host memory as they were.
 */
import { describe, expect, it, vi } from 'vitest';
import { Vm, InvalidArgumentError } from '../../src';
import { caught } from '../tdx/fixtures';

const MiB = 1n << 20n;

/** A VM with private memory on a small host: RAM frames are the lower half (2 GiB at MAXPHYADDR 32). */
const small = (hostMaxPhyAddr = 32) => new Vm({ type: 'sw-protected', spte: { flavour: 'ept', hostMaxPhyAddr } });

describe('addMemslot with guest_memfd is atomic', () => {
  it('the second backing does not fit: refused, and the first backing is not kept', () => {
    const vm = small();
    const mark = vm.events.all.length;
    // 512 MiB twice, each aligned so that pfn ≡ gfn (mod 2^18): the first fits, the second does not.
    const e = caught(() => vm.addMemslot({ base: 0n, size: 512n * MiB, guestMemfd: true, name: 'big' }));
    expect([e.constructor, e.rule]).toEqual([InvalidArgumentError, 'host-memory-exhausted']);
    expect(vm.memslots).toEqual([]);
    expect(vm.events.all.length).toBe(mark);
    // The host memory is as in a fresh VM: the same slot without guest_memfd gets the same backing.
    const fresh = small().addMemslot({ base: 0n, size: 512n * MiB, name: 'big' });
    const s = vm.addMemslot({ base: 0n, size: 512n * MiB, name: 'big' });
    expect([s.pfnBase, s.id, s.name]).toEqual([fresh.pfnBase, fresh.id, fresh.name]);
  });

  it('a failure injected after both backings (the GPA-space slot) releases them', () => {
    const vm = small(33); // room for both backings
    const fresh = small(33).addMemslot({ base: 0n, size: 256n * MiB, guestMemfd: true });
    const spy = vi.spyOn(vm.guestMem, 'addSlot').mockImplementationOnce(() => {
      throw new InvalidArgumentError('injected', 'injected failure at the last step', 'x');
    });
    expect(caught(() => vm.addMemslot({ base: 0n, size: 256n * MiB, guestMemfd: true })).rule).toBe('injected');
    spy.mockRestore();
    expect(vm.memslots).toEqual([]);
    const s = vm.addMemslot({ base: 0n, size: 256n * MiB, guestMemfd: true });
    expect([s.pfnBase, s.gmemPfnBase, s.id, s.name]).toEqual([fresh.pfnBase, fresh.gmemPfnBase, fresh.id, fresh.name]);
  });
});
