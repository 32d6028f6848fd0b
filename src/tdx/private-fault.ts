/**
 * The private-memory half of `mmu.c: kvm_mmu_faultin_pfn`, shared by TDs and
 * KVM_X86_SW_PROTECTED_VMs, in KVM's order:
 *   1. the fault's kind must match the gfn's attribute (mmu.c:4587-4590);
 *   2. no memslot: a private fault cannot become MMIO (`kvm_handle_noslot_fault`, mmu.c:3431-3433);
 *   3. a private fault needs a guest_memfd-backed slot (`kvm_mmu_faultin_pfn_private`,
 *      mmu.c:4501-4503); the page then comes from guest_memfd, always writable (a guest_memfd slot
 *      is never read-only, kvm_main.c:1598-1605), at 4K: guest_memfd hands out order-0 folios in
 *      v6.16 (guest_memfd.c:599-600), and `kvm_max_private_mapping_level` caps the level by that
 *      order.
 * Every failure is KVM_EXIT_MEMORY_FAULT (`kvm_mmu_prepare_memory_fault_exit`: the gfn's page,
 * 4096 bytes, KVM_MEMORY_EXIT_FLAG_PRIVATE iff the fault was private).
 */
import { memslotPrivatePfn, type Memslot } from '../vm/memslot';
import { KVM_MEMORY_EXIT_FLAG_PRIVATE, type MemoryFaultExit } from './memory-fault';
import { MemoryAttributes } from './memory-attributes';
import { checkGfn } from '../tdp/check-tdp-args';
import { checkBool, checkString, refuse } from '../validate/checks';

/** `PFERR_PRIVATE_ACCESS` (bit 49 of the 64-bit fault error code). */
export const PFERR_PRIVATE_ACCESS = 1n << 49n;

export type PrivateFaultin =
  /** Shared fault with a slot or without one (MMIO): the caller goes on as for any VM. */
  | { kind: 'shared' }
  | { kind: 'private'; pfn: number; maxLevel: 1 }
  | { kind: 'memory-fault'; exit: MemoryFaultExit };

export function faultinPrivate(attrs: MemoryAttributes, slot: Memslot | undefined, gfn: number, isPrivate: boolean): PrivateFaultin {
  if (!(attrs instanceof MemoryAttributes)) refuse('attrs', 'memory-attributes', 'must be the VM\'s MemoryAttributes', attrs);
  checkGfn('gfn', gfn);
  checkBool('isPrivate', isPrivate);
  // A memslot holds gfn (kvm_vcpu_gfn_to_memslot found it), or undefined (no slot).
  if (slot !== undefined && (typeof slot !== 'object' || slot === null || typeof slot.baseGfn !== 'number' || typeof slot.npages !== 'number' || gfn < slot.baseGfn || gfn >= slot.baseGfn + slot.npages)) {
    refuse('slot', 'memslot', 'must be undefined or the memslot holding gfn', slot);
  }
  if (isPrivate !== attrs.isPrivateUnchecked(gfn)) {
    return memoryFault(gfn, isPrivate, `${isPrivate ? 'private' : 'shared'} access to a ${isPrivate ? 'shared' : 'private'} gfn`);
  }
  if (!isPrivate) return { kind: 'shared' };
  if (slot === undefined) return memoryFault(gfn, true, 'no memslot backs the private gfn');
  if (!slot.guestMemfd) return memoryFault(gfn, true, 'the memslot has no guest_memfd to back the private gfn');
  return { kind: 'private', pfn: memslotPrivatePfn(slot, gfn), maxLevel: 1 };
}

export function memoryFault(gfn: number, isPrivate: boolean, reason: string): { kind: 'memory-fault'; exit: MemoryFaultExit } {
  checkGfn('gfn', gfn);
  checkBool('isPrivate', isPrivate);
  checkString('reason', reason);
  return { kind: 'memory-fault', exit: { gpa: BigInt(gfn) << 12n, size: 4096n, flags: isPrivate ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0n, isPrivate, reason } };
}
