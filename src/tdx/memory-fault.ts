/**
 * KVM_EXIT_MEMORY_FAULT (`kvm_mmu_prepare_memory_fault_exit`): the fault's private/shared kind
 * disagrees with the gfn's memory attribute (or private memory has no guest_memfd backing), so
 * `kvm_mmu_page_fault` returns -EFAULT and userspace must convert the page (or kill the TD).
 */
export const KVM_EFAULT = -14;
/** -EIO: the exit handler killed the VM (`kvm_vm_dead` / KVM_BUG_ON); KVM_RUN returns it to userspace. */
export const KVM_EIO = -5;

/** `KVM_MEMORY_EXIT_FLAG_PRIVATE`. */
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1n << 3n;

export interface MemoryFaultExit {
  /** The natural GPA of the page (alias bits stripped), as `run->memory_fault.gpa`. */
  gpa: bigint;
  size: bigint;
  /** `run->memory_fault.flags`: KVM_MEMORY_EXIT_FLAG_PRIVATE when the fault was private. */
  flags: bigint;
  isPrivate: boolean;
  /** Why (model text): attribute mismatch, no private backing, private emulation. */
  reason: string;
}
