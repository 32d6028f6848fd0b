/**
 * The `kvm_x86_ops` hooks through which the TDP MMU reflects mirror-root changes into an external
 * page table (reference §11.4). The TDP MMU calls them only from its one SPTE-change path, so the
 * external table cannot drift from the mirror.
 *
 * The two hooks that make a mirror SPTE present return what KVM's do: 0, or a negative errno when
 * the external table refused the change (tdx.c:1736-1742: -EBUSY for TDX_OPERAND_BUSY, -EIO after
 * a KVM_BUG_ON). The TDP MMU then puts the old SPTE back and the fault is RET_PF_RETRY
 * (tdp_mmu.c:548-549, 1172-1173, 1297-1299). A hook that throws reports a bug of the model; the
 * caller restores the SPTE it froze and lets the error escape.
 */
export interface ExternalPageTableHooks {
  /** `link_external_spt`: a new non-leaf mirror SPTE at `level` covering `gfn` (TDH.MEM.SEPT.ADD). 0 or -errno. */
  linkExternalSpt(gfn: number, level: number, vcpu: number): number;
  /** `set_external_spte`: a new leaf mirror SPTE (TDH.MEM.PAGE.AUG); 4K only in v6.16. 0 or -errno. */
  setExternalSpte(gfn: number, level: number, pfn: number, vcpu: number): number;
  /** `remove_external_spte`: a zapped leaf mirror SPTE (BLOCK → TRACK → PAGE.REMOVE). */
  removeExternalSpte(gfn: number, level: number, oldPfn: number, vcpu: number): void;
  /** `free_external_spt`: a removed mirror table's S-EPT page goes away. */
  freeExternalSpt(gfn: number, level: number, vcpu: number): void;
}
