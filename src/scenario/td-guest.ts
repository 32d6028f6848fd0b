/**
 * A TD in one call: a TDX VM (GPAW 48) with 1 GiB of guest_memfd RAM on 2 MiB host pages, all of
 * it private, a 4-level guest whose page tables KVM_TDX_INIT_MEM_REGION added before the first
 * entry (`tdx.c: tdx_gmem_post_populate`), and its vCPU.
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { longMode } from '../cpu/paging-modes';
import type { KvmVersion } from '../kvm-version';
import type { Vcpu } from '../vm/vcpu';
import { Vm } from '../vm/vm';
import { checkEnum } from '../validate/checks';

export interface TdGuest {
  vm: Vm;
  pt: PageTableBuilder;
  vcpu: Vcpu;
}

export function tdGuest(kvm?: KvmVersion): TdGuest {
  if (kvm !== undefined) checkEnum('kvm', kvm, ['7.3', '6.16']);
  const vm = new Vm({ type: 'tdx', gpaw: 48, ...(kvm ? { kvm } : {}) });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M', guestMemfd: true });
  vm.setMemoryAttributes(0n, 1n << 30n, 'private');
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const vcpu = vm.createVcpu(longMode({ cr3: pt.root }));
  vm.tdInitMemRegion(vcpu, 0x10_0000n, pt.tablesAllocated);
  return { vm, pt, vcpu };
}
