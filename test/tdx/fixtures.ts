/**
 * A TD with 1 GiB of guest_memfd-backed RAM that userspace made private (attributes default to
 * shared, include/linux/kvm_host.h:2533), 4-level guest tables (in private memory) and one vCPU.
 */
import { Vm, PageTableBuilder, type Vcpu, type Memslot } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

export interface TdFixture {
  vm: Vm;
  ram: Memslot;
  pt: PageTableBuilder;
  v: Vcpu;
  /** The shared bit as a GPA mask, spelled from the rule (not read from the code). */
  shared: bigint;
}

export function tdFixture(gpaw: 48 | 52 = 48): TdFixture {
  const vm = new Vm({ type: 'tdx', gpaw, checkInvariants: true });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M', guestMemfd: true });
  vm.setMemoryAttributes(0n, 1n << 30n, 'private');
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  return { vm, ram, pt, v, shared: gpaw === 48 ? 0x8000_0000_0000n : 0x8_0000_0000_0000n };
}
