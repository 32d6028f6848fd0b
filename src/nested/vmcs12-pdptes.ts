/**
 * vmcs12's GUEST_PDPTR0-3 for a nested VM entry with EPT. With PAE paging and EPT both on, the
 * CPU takes L2's PDPTE registers from the VMCS and never dereferences CR3 (vmx/nested.c:1157-1163
 * `nested_vmx_load_cr3` skips `load_pdptrs` when nested_ept; :2755-2762 `prepare_vmcs02` copies
 * vmcs12's fields into vmcs02). KVM's own consistency checks do not look at them
 * (`nested_vmx_check_guest_state`, vmx/nested.c:3146-3210): the hardware entry into vmcs02 does
 * (SDM Vol. 3C "Checks on Guest Page-Directory-Pointer-Table Entries"), and its failure
 * (EXIT_REASON_INVALID_STATE with the failed-VM-entry bit) is always L1's (vmx/nested.c:6514-6515),
 * with exit qualification ENTRY_FAIL_PDPTE = 2 (asm/vmx.h:576; kvm-unit-tests x86/vmx_tests.c:
 * 5906-5912 expects it for bits 52-63 of each PDPTE, :5916-5919 no failure for the ignored bits 9-11).
 */
import { hex, InvalidArgumentError, InvalidRegisterStateError } from '../errors';
import { rsvdBits } from '../bits';
import { CR0, CR4, EFER, type PagingRegisters } from '../cpu/registers';
import { refuse } from '../validate/checks';

/** `is_pae_paging`: CR0.PG, CR4.PAE, not long mode. */
export function isPaePaging(r: PagingRegisters): boolean {
  return (r.cr0 & CR0.PG) !== 0n && (r.cr4 & CR4.PAE) !== 0n && (r.efer & EFER.LMA) === 0n;
}

/** `pdptr_rsvd_bits`: a present PAE PDPTE's reserved bits (63:MAXPHYADDR, 8:5, 2:1). */
export function pdpteRsvdBits(maxPhyAddr: number): bigint {
  return rsvdBits(maxPhyAddr, 63) | rsvdBits(5, 8) | rsvdBits(1, 2);
}

/**
 * The PDPTE registers L2 starts with, or undefined when L2 has no PAE paging (vmcs12's fields are
 * then unused: vmx/nested.c:2756-2757). A PAE L2 needs them; a present one with a reserved bit
 * (2:1, 8:5, or at/above the processor's MAXPHYADDR, which includes 63) fails the VM entry.
 */
export function vmcs12Pdptes(l2: PagingRegisters, pdptes: unknown, hostMaxPhyAddr: number): readonly bigint[] | undefined {
  if (pdptes !== undefined) {
    if (!Array.isArray(pdptes) || pdptes.length !== 4) refuse('entry.pdptes', 'pdptes-four', 'must be an array of the four vmcs12 GUEST_PDPTRn values', pdptes);
    (pdptes as unknown[]).forEach((v, i) => {
      if (typeof v !== 'bigint' || v >> 64n !== 0n) refuse(`entry.pdptes[${i}]`, 'pdpte-u64', 'must be a u64 bigint', v);
    });
  }
  if (!isPaePaging(l2)) return undefined;
  if (pdptes === undefined) {
    throw new InvalidArgumentError('pdptes-needed', 'entry.pdptes: a PAE L2 entered with EPT takes its PDPTEs from vmcs12 GUEST_PDPTR0-3, not from CR3 (vmx/nested.c:1157-1163)', 'undefined');
  }
  const p = pdptes as readonly bigint[];
  const bad = pdpteRsvdBits(hostMaxPhyAddr);
  p.forEach((v, i) => {
    if ((v & 1n) !== 0n && (v & bad) !== 0n) {
      throw new InvalidRegisterStateError(
        'vmcs12-pdpte-reserved',
        `vmcs12 GUEST_PDPTR${i} has reserved bits ${hex(v & bad)} set: the VM entry fails (exit reason 0x80000021, qualification 2 = ENTRY_FAIL_PDPTE) and L1 goes on`,
        hex(v),
      );
    }
  });
  return Object.freeze([...p]);
}
