/**
 * Port of tools/testing/selftests/kvm/x86/private_mem_kvm_exits_test.c (Linux v6.16.1): the MMU
 * side of its two scenarios on a KVM_X86_SW_PROTECTED_VM (private_mem_kvm_exits_test.c:42-45).
 * The selftest's guest reads EXITS_TEST_GVA in a loop (:20-28); here each run is one read.
 * KVM_RUN returning -EFAULT with exit_reason KVM_EXIT_MEMORY_FAULT (:34-38) is the access status
 * 'memory-fault' with the exit's `ret` '-EFAULT'.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, KVM_MEMORY_EXIT_FLAG_PRIVATE, type Vcpu } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

const EXITS_TEST_GVA = 0xc000_0000n; // private_mem_kvm_exits_test.c:14
const EXITS_TEST_GPA = EXITS_TEST_GVA; // :15
const EXITS_TEST_NPAGES = 1n; // :16
const EXITS_TEST_SIZE = EXITS_TEST_NPAGES * 4096n; // :17

/** vm_create_shape_with_one_vcpu(protected_vm_shape, …) (:55-56, :91-92): slot 0 holds the guest's page tables (no guest_memfd). */
function protectedVmWithOneVcpu(): { vm: Vm; pt: PageTableBuilder; vcpu: Vcpu } {
  const vm = new Vm({ type: 'sw-protected', checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 0x100_0000n, name: 'slot0' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  const vcpu = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  return { vm, pt, vcpu };
}

function expectPrivateMemoryFault(r: ReturnType<Vcpu['read']>): void {
  expect(r.status).toBe('memory-fault'); // exit_reason == KVM_EXIT_MEMORY_FAULT (:77, :106)
  expect(r.exits.at(-1)!.ret).toBe('-EFAULT'); // KVM_RUN fails with EFAULT (:36)
  expect(r.memoryFault!.flags).toBe(KVM_MEMORY_EXIT_FLAG_PRIVATE); // :78, :107
  expect(r.memoryFault!.gpa).toBe(EXITS_TEST_GPA); // :79, :108
  expect(r.memoryFault!.size).toBe(EXITS_TEST_SIZE); // :80, :109
}

describe('private_mem_kvm_exits_test', () => {
  // test_private_access_memslot_deleted (:47-83). The selftest deletes the slot while the vCPU
  // thread runs (:68-72), so the read may come before or after the deletion; both orders end in
  // the same exit once the slot is gone.
  for (const order of ['deleted before the first read', 'deleted after the guest read the page'] as const) {
    it(`test_private_access_memslot_deleted: ${order}`, () => {
      const { vm, pt, vcpu } = protectedVmWithOneVcpu();
      const slot10 = vm.addMemslot({ base: EXITS_TEST_GPA, size: EXITS_TEST_SIZE, name: 'slot10', guestMemfd: true }); // :58-61
      pt.map(EXITS_TEST_GVA, EXITS_TEST_GPA, { count: Number(EXITS_TEST_NPAGES) }); // :63
      vm.setMemoryAttributes(EXITS_TEST_GPA, EXITS_TEST_GPA + EXITS_TEST_SIZE, 'private'); // :66
      if (order === 'deleted after the guest read the page') {
        expect(vcpu.read(EXITS_TEST_GVA).status).toBe('ok'); // a private fault served from guest_memfd
      }
      vm.deleteMemslot(slot10); // :72
      // No slot: kvm_handle_noslot_fault refuses a private fault (mmu.c:3431-3433).
      expectPrivateMemoryFault(vcpu.read(EXITS_TEST_GVA));
    });
  }

  it('test_private_access_memslot_not_private', () => {
    // :85-112
    const { vm, pt, vcpu } = protectedVmWithOneVcpu();
    vm.addMemslot({ base: EXITS_TEST_GPA, size: EXITS_TEST_SIZE, name: 'slot10' }); // flags = 0 (:94-97)
    pt.map(EXITS_TEST_GVA, EXITS_TEST_GPA, { count: Number(EXITS_TEST_NPAGES) }); // :99
    vm.setMemoryAttributes(EXITS_TEST_GPA, EXITS_TEST_GPA + EXITS_TEST_SIZE, 'private'); // :102
    // kvm_mmu_faultin_pfn_private: no guest_memfd → memory-fault exit (mmu.c:4501-4503).
    expectPrivateMemoryFault(vcpu.read(EXITS_TEST_GVA)); // :104-109
  });
});
