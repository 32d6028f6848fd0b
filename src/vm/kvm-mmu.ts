/**
 * One of a vCPU's MMUs, as `struct kvm_mmu` after the 7.3 "chainsaw" split (reference kvm-7x.md
 * §4.1–4.2): `vcpu->arch.mmu` points at `root_mmu` or `guest_mmu`, and the access pipeline calls
 * through that pointer instead of testing which mode the vCPU is in. Implemented by the TDP
 * root_mmu (in Vcpu), the shadow-paging root_mmu (ShadowVcpu; it also serves L2 with guest_mode
 * roles when L1 shadows L2 itself), and guest_mmu shadowing EPT12 (NestedEptMmu) or NPT12
 * (NestedNptMmu).
 */
import type { Gva } from '../address/address';
import type { PageRole } from '../role/page-role';
import type { Access } from '../walker/access';
import type { AccessResult } from './access-result';

export interface KvmMmu {
  /** Which of the vCPU's two MMUs this is. */
  readonly name: 'root_mmu' | 'guest_mmu';
  /** `mmu->root_role`. */
  readonly rootRole: PageRole;
  /**
   * One access by the guest this MMU serves: the hardware walk of its tables, each exit and
   * KVM's handling of it (`kvm_mmu_page_fault` → `mmu->page_fault`), and the retries.
   */
  access(address: Gva | bigint, access: Access): AccessResult;
  /** INVLPG handled by this MMU (`kvm_mmu_invlpg`); absent: nothing of KVM's to invalidate. */
  invlpg?(address: Gva | bigint): void;
  /** KVM_REQ_TLB_FLUSH_GUEST served by this MMU (shadow roots are synced); absent: TLB only. */
  flushGuestTlb?(): void;
}
