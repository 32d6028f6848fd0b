/** Predicates and constructors on SPTEs (spte.h / spte.c, reference §7.3–§7.7). */
import { ACC_EXEC, ACC_USER, ACC_WRITE } from '../format/acc';
import {
  ACC_TRACK_SAVED_BITS_MASK, ACC_TRACK_SAVED_BITS_SHIFT, FROZEN_SPTE, MMIO_SPTE_GEN_MASK, PT_PAGE_SIZE_MASK,
  PT_WRITABLE_MASK, SHADOW_NONPRESENT_VALUE, SPTE_BASE_ADDR_MASK, SPTE_MMU_PRESENT_MASK, SPTE_TDP_AD_DISABLED,
  SPTE_TDP_AD_MASK, SPTE_TDP_AD_WRPROT_ONLY, type SpteConfig,
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
export function isFrozen(spte: bigint): boolean {
  return spte === FROZEN_SPTE;
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
export function spteAdEnabled(spte: bigint): boolean {
  return (spte & SPTE_TDP_AD_MASK) !== SPTE_TDP_AD_DISABLED;
}
export function isAccessed(c: SpteConfig, spte: bigint): boolean {
  return spteAdEnabled(spte) ? (spte & c.accessedMask) !== 0n : !isAccessTrack(c, spte);
}
export function isDirty(c: SpteConfig, spte: bigint): boolean {
  return (spte & c.dirtyMask) !== 0n;
}
export function isAccessTrack(c: SpteConfig, spte: bigint): boolean {
  return !spteAdEnabled(spte) && (spte & c.accTrackMask) === 0n;
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

/** `mark_spte_for_access_track`: clear A with A/D; otherwise save R/X and clear RWX. */
export function markSpteForAccessTrack(c: SpteConfig, spte: bigint): bigint {
  if (spteAdEnabled(spte)) return spte & ~c.accessedMask;
  if (isAccessTrack(c, spte)) return spte;
  const saved = (spte & ACC_TRACK_SAVED_BITS_MASK) << ACC_TRACK_SAVED_BITS_SHIFT;
  return (spte & ~c.accTrackMask & ~(ACC_TRACK_SAVED_BITS_MASK << ACC_TRACK_SAVED_BITS_SHIFT)) | saved;
}

export function restoreAccTrackSpte(spte: bigint): bigint {
  const saved = (spte >> ACC_TRACK_SAVED_BITS_SHIFT) & ACC_TRACK_SAVED_BITS_MASK;
  return (spte & ~(ACC_TRACK_SAVED_BITS_MASK << ACC_TRACK_SAVED_BITS_SHIFT)) | saved;
}

/** `make_nonleaf_spte(child_pt, ad_disabled)`: non-leaf SPTEs grant everything. */
export function makeNonleafSpte(c: SpteConfig, childPfn: number, adDisabled: boolean): bigint {
  let s = SPTE_MMU_PRESENT_MASK | (BigInt(childPfn) << 12n) | c.presentMask | PT_WRITABLE_MASK | c.userMask | c.xMask;
  s |= adDisabled ? SPTE_TDP_AD_DISABLED : c.accessedMask;
  return s;
}

export interface MakeSpteInput {
  level: number;
  /** sp.role.ad_disabled */
  adDisabled: boolean;
  /** PML with guest_mode SPs: dirty logging by write protection. */
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

/** `make_spte` (§7.4), minus the side effects (the caller marks dirty and counts). */
export function makeSpte(c: SpteConfig, i: MakeSpteInput): { spte: bigint; wrprot: boolean } {
  let pteAccess = i.pteAccess;
  let s = SPTE_MMU_PRESENT_MASK;
  if (i.adDisabled) s |= SPTE_TDP_AD_DISABLED;
  else if (i.adNeedWriteProtect) s |= SPTE_TDP_AD_WRPROT_ONLY;
  s |= c.presentMask;
  if (!i.prefetch || i.synchronizing) s |= c.accessedMask;
  // iTLB multihit: no executable huge pages.
  if (i.level > 1 && (pteAccess & ACC_EXEC) !== 0 && c.nxHugePages) pteAccess &= ~ACC_EXEC;
  s |= (pteAccess & ACC_EXEC) !== 0 ? c.xMask : c.nxMask;
  if ((pteAccess & ACC_USER) !== 0) s |= c.userMask;
  if (i.level > 1) s |= PT_PAGE_SIZE_MASK;
  // Memory type (VMX): MMIO → UC, RAM → WB; SVM leaves the type to the guest PAT.
  if (c.flavour === 'ept') s |= i.isMmioPfn ? 0n : 6n << 3n;
  if (i.hostWritable) s |= c.hostWritableMask;
  else pteAccess &= ~ACC_WRITE;
  s |= BigInt(i.pfn) << 12n;
  let wrprot = false;
  if ((pteAccess & ACC_WRITE) !== 0) {
    if (i.mustWriteProtect) wrprot = true;
    else s |= PT_WRITABLE_MASK | c.mmuWritableMask | c.dirtyMask;
  }
  if (i.prefetch && !i.synchronizing) s = markSpteForAccessTrack(c, s);
  return { spte: s, wrprot };
}

/** `make_mmio_spte(vcpu, gfn, access)` (§7.7), without the L1TF relocation (mask 0 here). */
export function makeMmioSpte(c: SpteConfig, gfn: number, access: number, generation: number): bigint {
  const gen = BigInt(generation & MMIO_SPTE_GEN_MASK);
  let s = ((gen & 0xffn) << 3n) | ((gen >> 8n) << 52n);
  s |= c.mmioValue | (BigInt(access) & c.mmioAccessMask);
  s |= BigInt(gfn) << 12n;
  return s;
}

export function mmioSpteGeneration(spte: bigint): number {
  return Number(((spte >> 3n) & 0xffn) | (((spte >> 52n) & 0x7ffn) << 8n));
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
