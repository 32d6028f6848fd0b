/** Predicates and constructors on SPTEs (spte.h / spte.c, reference §7.3–§7.7). */
import {
  FROZEN_SPTE, PT_PAGE_SIZE_MASK, PT_WRITABLE_MASK, SHADOW_NONPRESENT_VALUE, SPTE_BASE_ADDR_MASK, SPTE_MMU_PRESENT_MASK,
  SPTE_TDP_AD_ENABLED, type SpteConfig,
} from './spte-config';

export function isShadowPresent(spte: bigint): boolean {
  return (spte & SPTE_MMU_PRESENT_MASK) !== 0n;
}
export function isLargePte(spte: bigint): boolean {
  return (spte & PT_PAGE_SIZE_MASK) !== 0n;
}
export function isLastSpte(spte: bigint, level: number): boolean {
  return level === 1 || isLargePte(spte);
}
export function isFrozen(c: SpteConfig, spte: bigint): boolean {
  return spte === c.layout.frozenSpte;
}
export function spteToPfn(spte: bigint): number {
  return Number((spte & SPTE_BASE_ADDR_MASK) >> 12n);
}
export function isWritable(spte: bigint): boolean {
  return (spte & PT_WRITABLE_MASK) !== 0n;
}
export function isMmuWritable(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.mmuWritableMask) !== 0n;
}
export function isHostWritable(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.hostWritableMask) !== 0n;
}
export function spteAdEnabled(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.layout.adMask) !== c.layout.adDisabled;
}
/** `spte_ad_need_write_protect`: dirty state is tracked by write protection (A/D disabled or WRPROT_ONLY). */
export function spteAdNeedWriteProtect(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.layout.adMask) !== SPTE_TDP_AD_ENABLED;
}
/**
 * `is_accessed_spte` (spte.h:348, v6.13+; kvm-7x.md §5.2): the Accessed bit alone. With EPT A/D
 * disabled, bit 8 is a software flag `make_spte` sets and `mark_spte_for_access_track` clears.
 */
export function isAccessed(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.accessedMask) !== 0n;
}
export function isDirty(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.dirtyMask) !== 0n;
}
export function isAccessTrack(c: SpteConfig, spte: bigint): boolean {
  return !spteAdEnabled(c, spte) && (spte & c.accTrackMask) === 0n;
}
export function isExecutable(c: SpteConfig, spte: bigint): boolean {
  return (spte & (c.xMask | c.nxMask)) === c.xMask;
}
export function isMmioSpte(c: SpteConfig, spte: bigint): boolean {
  return c.mmioEnabled && (spte & c.mmioMask) === c.mmioValue;
}

/** `is_rsvd_spte(shadow_zero_check, spte, level)` (§7.6): a KVM bug if ever true for a present SPTE. */
export function isRsvdSpte(c: SpteConfig, spte: bigint, level: number): boolean {
  const large = Number((spte >> 7n) & 1n);
  if ((spte & c.zeroCheck[large]![level - 1]!) !== 0n) return true;
  return ((c.zeroCheckBadMtXwr >> (spte & 63n)) & 1n) === 1n;
}

/**
 * `mark_spte_for_access_track` (spte.c:365-384): clear A with A/D; otherwise save R/X (7.2+:
 * R/X/XU, kvm-7x.md §5.2) and clear RWX (|XU) and the software Accessed bit.
 */
export function markSpteForAccessTrack(c: SpteConfig, spte: bigint): bigint {
  if (spteAdEnabled(c, spte)) return spte & ~c.accessedMask;
  if (isAccessTrack(c, spte)) return spte;
  const { savedBitsMask: m, savedBitsShift: sh } = c.layout;
  const saved = (spte & m) << sh;
  return (spte & ~(c.accTrackMask | c.accessedMask) & ~(m << sh)) | saved;
}

/**
 * `leaf_spte_change_needs_tlb_flush` (spte.h:507-510, v6.13+; kvm-7x.md §5.1): a change of a
 * shadow-present leaf needs a remote flush only when it clears MMU-writable. Clearing W for dirty
 * logging, A for aging or D never flushes here (dirty logging flushes in `kvm_mmu_slot_apply_flags`
 * and when dirty entries are reaped).
 */
export function leafSpteChangeNeedsTlbFlush(c: SpteConfig, old: bigint, next: bigint): boolean {
  return isMmuWritable(c, old) && !isMmuWritable(c, next);
}

/**
 * `vmx.c: vmx_get_mt_mask` (7829-7843): host MMIO is UC (no IPAT); RAM is WB with IPAT when the guest
 * PAT is ignored (`vmx_ignore_guest_pat`), else WB honouring the guest PAT. SVM has no memory-type
 * bits in its SPTEs (the static call returns 0).
 */
export function getMtMask(c: SpteConfig, isMmioPfn: boolean): bigint {
  if (c.flavour !== 'ept') return 0n;
  if (isMmioPfn) return MTRR_TYPE_UNCACHABLE << VMX_EPT_MT_EPTE_SHIFT;
  if (c.ignoreGuestPat) return (MTRR_TYPE_WRBACK << VMX_EPT_MT_EPTE_SHIFT) | VMX_EPT_IPAT_BIT;
  return MTRR_TYPE_WRBACK << VMX_EPT_MT_EPTE_SHIFT;
}

const MTRR_TYPE_UNCACHABLE = 0n;
const MTRR_TYPE_WRBACK = 6n;
const VMX_EPT_MT_EPTE_SHIFT = 3n;
export const VMX_EPT_IPAT_BIT = 1n << 6n;

export function restoreAccTrackSpte(c: SpteConfig, spte: bigint): bigint {
  const { savedBitsMask: m, savedBitsShift: sh } = c.layout;
  const saved = (spte >> sh) & m;
  return (spte & ~(m << sh)) | saved;
}

/**
 * `make_nonleaf_spte(child_pt, ad_disabled)`: non-leaf SPTEs grant everything. 7.3 adds P/R
 * (bit 0, no longer in the EPT present mask) and XU (kvm-7x.md §1.6).
 */
export function makeNonleafSpte(c: SpteConfig, childPfn: number, adDisabled: boolean): bigint {
  let s = SPTE_MMU_PRESENT_MASK | (BigInt(childPfn) << 12n) | c.presentMask | PT_WRITABLE_MASK | c.userMask | c.xMask;
  if (c.kvm === '7.3') s |= 1n | c.xuMask;
  s |= adDisabled ? c.layout.adDisabled : c.accessedMask;
  return s;
}

/**
 * `kvm_mmu_page_ad_need_write_protect` (mmu_internal.h:190-202): with PML (cpu_dirty_log_size != 0)
 * an L2 page (role.guest_mode) logs dirty pages by write protection, since PML would log L2 GPAs.
 */
export function kvmMmuPageAdNeedWriteProtect(c: SpteConfig, guestMode: boolean): boolean {
  return c.pml && guestMode;
}

export interface MakeSpteInput {
  level: number;
  /** sp.role.ad_disabled */
  adDisabled: boolean;
  /** `kvm_mmu_page_ad_need_write_protect(kvm, sp)`: PML with a guest_mode SP (see `adNeedWriteProtect`). */
  adNeedWriteProtect: boolean;
  pteAccess: number;
  pfn: number;
  isMmioPfn: boolean;
  prefetch: boolean;
  synchronizing: boolean;
  hostWritable: boolean;
  /** Result of `mmu_try_to_unsync_pages` when the SPTE would be writable: true → keep read-only. */
  mustWriteProtect: boolean;
}

/**
 * `make_spte` (§7.4), minus the side effects (the caller marks dirty and counts). `pteAccess` is in
 * the config's ACC encoding. 7.3 (kvm-7x.md §1.6 pseudo-code): R/P from ACC_READ; with an NX mask
 * (NPT, shadow) NX from !EXEC and U from USER; otherwise (EPT) XS from EXEC and XU from USER_EXEC.
 */
export function makeSpte(c: SpteConfig, i: MakeSpteInput): { spte: bigint; wrprot: boolean } {
  const A = c.acc;
  let pteAccess = i.pteAccess;
  let s = SPTE_MMU_PRESENT_MASK;
  if (i.adDisabled) s |= c.layout.adDisabled;
  else if (i.adNeedWriteProtect) s |= c.layout.adWrprotOnly;
  s |= c.presentMask;
  if (!i.prefetch || i.synchronizing) s |= c.accessedMask;
  // iTLB multihit: no executable huge pages.
  if (i.level > 1 && (pteAccess & A.EXEC) !== 0 && c.nxHugePages) {
    pteAccess &= ~A.EXEC;
    if (c.xuMask !== 0n) pteAccess &= ~A.USER_EXEC;
  }
  if (c.kvm === '7.3') {
    if ((pteAccess & A.READ) !== 0) s |= 1n;
    if (c.nxMask !== 0n) {
      if ((pteAccess & A.EXEC) === 0) s |= c.nxMask;
      if ((pteAccess & A.USER) !== 0) s |= c.userMask;
    } else {
      if ((pteAccess & A.EXEC) !== 0) s |= c.xMask;
      if ((pteAccess & A.USER_EXEC) !== 0) s |= c.xuMask;
    }
  } else {
    s |= (pteAccess & A.EXEC) !== 0 ? c.xMask : c.nxMask;
    if ((pteAccess & A.USER) !== 0) s |= c.userMask;
  }
  if (i.level > 1) s |= PT_PAGE_SIZE_MASK;
  s |= getMtMask(c, i.isMmioPfn);
  if (i.hostWritable) s |= c.hostWritableMask;
  else pteAccess &= ~A.WRITE;
  s |= BigInt(i.pfn) << 12n;
  let wrprot = false;
  if ((pteAccess & A.WRITE) !== 0) {
    if (i.mustWriteProtect) wrprot = true;
    else s |= PT_WRITABLE_MASK | c.mmuWritableMask | c.dirtyMask;
  }
  if (i.prefetch && !i.synchronizing) s = markSpteForAccessTrack(c, s);
  return { spte: s, wrprot };
}

/**
 * `make_mmio_spte(vcpu, gfn, access)` (§7.7), without the L1TF relocation (mask 0 here). The
 * generation's low bits go to 3 upward (6.16: 8 bits, 10:3; 7.2+: 7 bits, 9:3), the rest to 62:52.
 */
export function makeMmioSpte(c: SpteConfig, gfn: number, access: number, generation: number): bigint {
  const gen = BigInt(generation & c.layout.mmioGenMask);
  const low = BigInt(c.layout.mmioGenLowBits);
  let s = ((gen & ((1n << low) - 1n)) << 3n) | ((gen >> low) << 52n);
  s |= c.mmioValue | (BigInt(access) & c.mmioAccessMask);
  s |= BigInt(gfn) << 12n;
  return s;
}

export function mmioSpteGeneration(c: SpteConfig, spte: bigint): number {
  const low = BigInt(c.layout.mmioGenLowBits);
  return Number(((spte >> 3n) & ((1n << low) - 1n)) | (((spte >> 52n) & 0x7ffn) << low));
}

/** `check_mmio_spte`: the SPTE's generation equals the memslots' (both cut to the stored width). */
export function mmioGenerationMatches(c: SpteConfig, spte: bigint, generation: number): boolean {
  return mmioSpteGeneration(c, spte) === (generation & c.layout.mmioGenMask);
}

export function mmioSpteGfn(spte: bigint, hostMaxPhyAddr: number): number {
  const lower = ((1n << BigInt(hostMaxPhyAddr)) - 1n) & ~0xfffn;
  return Number((spte & lower) >> 12n);
}

/** `is_access_allowed(fault, spte)`: exec needs X, write needs W, a read needs bit 0. */
export function isAccessAllowed(c: SpteConfig, fault: { exec: boolean; write: boolean }, spte: bigint): boolean {
  if (fault.exec) return isExecutable(c, spte);
  if (fault.write) return isWritable(spte);
  return (spte & 1n) !== 0n;
}

export { SHADOW_NONPRESENT_VALUE, FROZEN_SPTE };
