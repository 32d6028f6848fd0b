/** A small VM with 1 GiB of RAM, a 1 MiB ROM, 4-level guest tables and one vCPU. */
import { Vm, PageTableBuilder, CR0, CR4, EFER, type SpteConfigSpec, type Vcpu, type Memslot } from '../../src';

export interface Fixture {
  vm: Vm;
  ram: Memslot;
  rom: Memslot;
  pt: PageTableBuilder;
  v: Vcpu;
}

export const LONG_MODE = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };

export function fixture(spte: SpteConfigSpec = { flavour: 'ept' }, hostPageSize: '4K' | '2M' | '1G' = '2M'): Fixture {
  const vm = new Vm({ spte, checkInvariants: true });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize });
  const rom = vm.addMemslot({ base: 0x4000_0000n, size: 0x10_0000n, readonly: true, name: 'rom' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  return { vm, ram, rom, pt, v };
}
