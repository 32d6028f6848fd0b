/**
 * The `kvm_x86_ops` hooks through which the TDP MMU reflects mirror-root changes into an external
 * page table (reference §11.4). The TDP MMU calls them only from its one SPTE-change path, so the
 * external table cannot drift from the mirror. A hook that refuses throws; the caller restores the
 * SPTE it froze.
 */
export interface ExternalPageTableHooks {
  /** `link_external_spt`: a new non-leaf mirror SPTE at `level` covering `gfn` (TDH.MEM.SEPT.ADD). */
  linkExternalSpt(gfn: number, level: number, vcpu: number): void;
  /** `set_external_spte`: a new leaf mirror SPTE (TDH.MEM.PAGE.AUG); 4K only in v6.16. */
  setExternalSpte(gfn: number, level: number, pfn: number, vcpu: number): void;
  /** `remove_external_spte`: a zapped leaf mirror SPTE (BLOCK → TRACK → PAGE.REMOVE). */
  removeExternalSpte(gfn: number, level: number, oldPfn: number, vcpu: number): void;
  /** `free_external_spt`: a removed mirror table's S-EPT page goes away. */
  freeExternalSpt(gfn: number, level: number, vcpu: number): void;
}
