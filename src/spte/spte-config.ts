/**
 * The SPTE format of a VM, chosen once at VM creation and passed around as frozen configuration
 * (KVM's global `shadow_*_mask` variables from `kvm_mmu_set_ept_masks` /
 * `kvm_mmu_reset_all_pte_masks`, reference §7.1). Masks are bigint: they are used when building
 * SPTEs (per fault), never in the hardware-walk loop, which reads raw halves.
 */
import { bit, rsvdBits } from '../bits';
import { InvalidArgumentError } from '../errors';
import { eptFormat } from '../format/ept';
import { nptFormat } from '../format/npt';
import { resetRsvdsBitsMask, resetRsvdsBitsMaskEpt, type RsvdBitsMask } from '../format/rsvd-bits-mask';
import type { PageFormat } from '../format/page-format';
import { kvmMmuGetTdpLevel } from './tdp-level';
import { DEFAULT_KVM_VERSION, KVM_VERSIONS, type KvmVersion } from '../kvm-version';
import { checkEnum, checkObject, optBool } from '../validate/checks';
import { describeValue } from '../validate/describe-value';
import { accEncoding, type AccEncoding } from '../format/acc';

export type SpteFlavour = 'ept' | 'npt';

export interface SpteConfigSpec {
  flavour: SpteFlavour;
  /** Host MAXPHYADDR (32..52). */
  hostMaxPhyAddr?: number;
  /**
   * The host's largest TDP root level, 4 or 5 (`max_tdp_level`: VMX `vmx_get_max_ept_level`, i.e.
   * 5-level EPT support; SVM `get_npt_level`, i.e. host LA57). The root level itself is derived
   * by `kvm_mmu_get_tdp_level` from it and the guest MAXPHYADDR (`tdpLevel` in the result).
   */
  maxTdpLevel?: 4 | 5;
  /** @deprecated Older name of `maxTdpLevel` (it never forced the root level in KVM). */
  tdpLevel?: 4 | 5;
  /**
   * Guest MAXPHYADDR (`cpuid_maxphyaddr`; a TD's GPAW) for `kvm_mmu_get_tdp_level`. The VM passes
   * its guest CPUID value; default: the host's.
   */
  guestMaxPhyAddr?: number;
  /**
   * `KVM_X86_QUIRK_IGNORE_GUEST_PAT` enabled (the default, as KVM's quirks are): RAM is mapped WB
   * with IPAT unless non-coherent DMA is attached (`vmx.c: vmx_ignore_guest_pat`). EPT only.
   */
  ignoreGuestPatQuirk?: boolean;
  /** `kvm_arch_has_noncoherent_dma`: a device doing non-coherent DMA is assigned to the VM. */
  noncoherentDma?: boolean;
  /** EPT accessed/dirty bits supported and enabled (`enable_ept_ad_bits`). NPT always has A/D. */
  adEnabled?: boolean;
  /** The CPU supports execute-only EPT entries. */
  execOnly?: boolean;
  /** Largest huge page TDP may use: 1 (4K), 2 (2M), 3 (1G). */
  maxHugePageLevel?: number;
  /** The iTLB-multihit mitigation (`nx_huge_pages`): executable huge pages are not allowed. */
  nxHugePages?: boolean;
  /** Page-modification logging (EPT with A/D only): dirty logging clears D instead of W. */
  pml?: boolean;
  /** Which KVM's SPTE layout and ACC encoding. Default DEFAULT_KVM_VERSION ('7.3'). */
  kvm?: KvmVersion;
  /**
   * EPT, KVM 7.3: L0 runs L1 with mode-based execute control on (secondary control bit 22 in
   * vmcs01, a6b7b6b2050c "VMX: enable use of MBEC"), so L1's TDP root has `cr4_smep` set ("EPT MBEC
   * enabled (TDP or shadow EPT)", kvm-7x.md §3.1), the hardware checks XS or XU by the L1 linear
   * address, and an EPT violation reports the AND of XU in qualification bit 6 (§1.2).
   * ASSUMPTION: whether 7.x turns this on whenever the CPU has MBEC is not in the references (only
   * the commit title); default off, a host that runs L1 without it. Default false.
   */
  mbec?: boolean;
}

/**
 * The SPTE bits whose position depends on the KVM version (kvm-7x.md §5.5 table): the TDP A/D
 * type, the access-tracking save slots, FROZEN_SPTE and the MMIO generation split.
 */
export interface SpteLayout {
  readonly adShift: bigint;
  readonly adMask: bigint;
  readonly adDisabled: bigint;
  readonly adWrprotOnly: bigint;
  /** Bits saved by `mark_spte_for_access_track` (A/D disabled) and where they go. */
  readonly savedBitsMask: bigint;
  readonly savedBitsShift: bigint;
  readonly frozenSpte: bigint;
  /** MMIO generation: the low bits sit at 3 upward, the rest at 52 upward. */
  readonly mmioGenLowBits: number;
  readonly mmioGenMask: number;
}

export interface SpteConfig {
  readonly flavour: SpteFlavour;
  readonly hostMaxPhyAddr: number;
  /** The TDP root level `kvm_mmu_get_tdp_level` chose. */
  readonly tdpLevel: 4 | 5;
  /** `max_tdp_level` of the host. */
  readonly maxTdpLevel: 4 | 5;
  /** `kvm_ad_enabled`: hardware A/D bits (EPT with A/D support; always on NPT and shadow paging). */
  readonly adEnabled: boolean;
  /** `vmx_ignore_guest_pat`: RAM leaves carry WB with IPAT (EPT only; false for NPT). */
  readonly ignoreGuestPat: boolean;
  readonly execOnly: boolean;
  readonly maxHugePageLevel: number;
  readonly nxHugePages: boolean;
  /** `cpu_dirty_log_size != 0`. */
  readonly pml: boolean;
  readonly presentMask: bigint;
  readonly userMask: bigint;
  readonly xMask: bigint;
  readonly nxMask: bigint;
  readonly accessedMask: bigint;
  readonly dirtyMask: bigint;
  readonly accTrackMask: bigint;
  readonly hostWritableMask: bigint;
  readonly mmuWritableMask: bigint;
  /** MMIO SPTE: value, mask, and which ACC bits it may carry; `mmioEnabled` false = no caching. */
  readonly mmioValue: bigint;
  readonly mmioMask: bigint;
  readonly mmioAccessMask: bigint;
  readonly mmioEnabled: boolean;
  /** `shadow_zero_check`: what KVM asserts about its own SPTEs (reference §7.6). */
  readonly zeroCheck: RsvdBitsMask;
  readonly zeroCheckBadMtXwr: bigint;
  /** The format the hardware walks TDP tables with. */
  readonly hardwareFormat: PageFormat;
  /** The modelled KVM version, its ACC encoding (for `pteAccess`) and its SPTE bit layout. */
  readonly kvm: KvmVersion;
  readonly acc: AccEncoding;
  readonly layout: SpteLayout;
  /** 7.3 `shadow_xu_mask` (EPT bit 10; 0 for NPT and for 6.16, which has no XU). */
  readonly xuMask: bigint;
  /** EPT 7.3 with MBEC on for L1 (`SpteConfigSpec.mbec`): the TDP root's `cr4_smep`, `mmu_has_mbec(root_mmu)`. */
  readonly mbec: boolean;
}

/*
 * The constants below are v6.16's (spte.h:32-36, 69-71; EPT host/MMU-writable 57/58). KVM 7.2
 * moved the EPT software bits for MBEC (kvm-7x.md §5.5: A/D type 61:60, host-/MMU-writable 53/55,
 * saved R/X/XU at 52/54/62, an 18-bit MMIO generation, FROZEN_SPTE 0x1A0): `SpteConfig.layout`
 * carries the version's values, and code reads them from there. The rules (is_accessed_spte, the
 * flush rule, vmx_get_mt_mask) are the same in 6.16 and 7.3.
 */
export const SPTE_MMU_PRESENT_MASK = bit(11);
export const PT_WRITABLE_MASK = bit(1);
export const PT_PAGE_SIZE_MASK = bit(7);
export const SPTE_BASE_ADDR_MASK = rsvdBits(12, 51);
/** Initial value of every entry and the value zaps write (suppress-#VE for EPT). */
export const SHADOW_NONPRESENT_VALUE = bit(63);
/** A temporarily locked non-present value (TDP MMU under the read lock). */
export const FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0n;
/** TDP A/D type in bits 53:52. */
export const SPTE_TDP_AD_SHIFT = 52n;
export const SPTE_TDP_AD_MASK = 3n << SPTE_TDP_AD_SHIFT;
export const SPTE_TDP_AD_ENABLED = 0n;
export const SPTE_TDP_AD_DISABLED = 1n << SPTE_TDP_AD_SHIFT;
export const SPTE_TDP_AD_WRPROT_ONLY = 2n << SPTE_TDP_AD_SHIFT;
/** Access tracking saves R and X at bits 54 and 56 (`SHADOW_ACC_TRACK_SAVED_BITS_SHIFT`). */
export const ACC_TRACK_SAVED_BITS_MASK = bit(0) | bit(2);
export const ACC_TRACK_SAVED_BITS_SHIFT = 54n;
/** MMIO generation: low 8 bits in 10:3, high 11 bits in 62:52; 19 bits in all. */
export const MMIO_SPTE_GEN_MASK = (1 << 19) - 1;

/** v6.16's layout (the constants above; reference §7.2). */
export const SPTE_LAYOUT_6_16: SpteLayout = Object.freeze({
  adShift: SPTE_TDP_AD_SHIFT,
  adMask: SPTE_TDP_AD_MASK,
  adDisabled: SPTE_TDP_AD_DISABLED,
  adWrprotOnly: SPTE_TDP_AD_WRPROT_ONLY,
  savedBitsMask: ACC_TRACK_SAVED_BITS_MASK,
  savedBitsShift: ACC_TRACK_SAVED_BITS_SHIFT,
  frozenSpte: FROZEN_SPTE,
  mmioGenLowBits: 8,
  mmioGenMask: MMIO_SPTE_GEN_MASK,
});

/**
 * 7.2+ (9a67ab74021b "free up bit 10 of PTEs", be4e45f360a2 "shuffle high bits of SPTEs in
 * preparation for MBEC"; kvm-7x.md §5.5, whose values are [T], from the 7.3 spte.h rewrite):
 * A/D type at 61:60 (SPTE_TDP_AD_SHIFT 60); saved R/X/XU at 52/54/62 (mask R|X|XU, shift 52);
 * FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x1A0 (bit 10 freed for XU); MMIO generation 18 bits,
 * low 7 in 9:3, high 11 in 62:52.
 */
export const SPTE_LAYOUT_7_3: SpteLayout = Object.freeze({
  adShift: 60n,
  adMask: 3n << 60n,
  adDisabled: 1n << 60n,
  adWrprotOnly: 2n << 60n,
  savedBitsMask: bit(0) | bit(2) | bit(10),
  savedBitsShift: 52n,
  frozenSpte: SHADOW_NONPRESENT_VALUE | 0x1a0n,
  mmioGenLowBits: 7,
  mmioGenMask: (1 << 18) - 1,
});

export function spteLayout(kvm: KvmVersion): SpteLayout {
  return checkEnum('kvm', kvm, KVM_VERSIONS) === '7.3' ? SPTE_LAYOUT_7_3 : SPTE_LAYOUT_6_16;
}

/** A refused spec field keeps its rule and, for a number or string, its plain value (other values described). */
function refuseSpec(rule: string, field: string, text: string, v: unknown): never {
  throw new InvalidArgumentError(rule, `spec.${field}: ${text}`, typeof v === 'number' || typeof v === 'string' ? String(v) : describeValue(v));
}

function maxPhyAddrOf(field: string, v: unknown, dflt: number, who: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 32 || v > 52) refuseSpec('maxphyaddr-range', field, `${who} MAXPHYADDR must be an integer from 32 to 52`, v);
  return v;
}

/** Every field is checked before anything is built (plain-object option lookups never reach the prototype). */
export function makeSpteConfig(spec: SpteConfigSpec): SpteConfig {
  checkObject('spec', spec);
  const flavour = spec.flavour;
  if (flavour !== 'ept' && flavour !== 'npt') refuseSpec('spte-flavour', 'flavour', 'the SPTE flavour is ept or npt', flavour);
  const hostMaxPhyAddr = maxPhyAddrOf('hostMaxPhyAddr', spec.hostMaxPhyAddr, 46, 'host');
  if (spec.maxTdpLevel !== undefined && spec.tdpLevel !== undefined && spec.maxTdpLevel !== spec.tdpLevel) {
    throw new InvalidArgumentError('tdp-level', 'spec.tdpLevel: tdpLevel is the old name of maxTdpLevel; give one of them', `${describeValue(spec.tdpLevel)} vs ${describeValue(spec.maxTdpLevel)}`);
  }
  const maxTdpLevel = spec.maxTdpLevel ?? spec.tdpLevel ?? 4;
  if (maxTdpLevel !== 4 && maxTdpLevel !== 5) {
    refuseSpec('tdp-level', spec.maxTdpLevel !== undefined ? 'maxTdpLevel' : 'tdpLevel', 'the host TDP root level (max_tdp_level) is 4 or 5', maxTdpLevel);
  }
  const guestMaxPhyAddr = maxPhyAddrOf('guestMaxPhyAddr', spec.guestMaxPhyAddr, hostMaxPhyAddr, 'guest');
  const tdpLevel = kvmMmuGetTdpLevel(flavour, maxTdpLevel, guestMaxPhyAddr);
  const maxHugePageLevel = spec.maxHugePageLevel ?? 3;
  if (maxHugePageLevel !== 1 && maxHugePageLevel !== 2 && maxHugePageLevel !== 3) refuseSpec('huge-level', 'maxHugePageLevel', 'max huge page level is 1, 2 or 3', maxHugePageLevel);
  const flags = {
    adEnabled: optBool('spec.adEnabled', spec.adEnabled, true),
    execOnly: optBool('spec.execOnly', spec.execOnly, true),
    pml: optBool('spec.pml', spec.pml, false),
    nxHugePages: optBool('spec.nxHugePages', spec.nxHugePages, false),
    ignoreGuestPatQuirk: optBool('spec.ignoreGuestPatQuirk', spec.ignoreGuestPatQuirk, true),
    noncoherentDma: optBool('spec.noncoherentDma', spec.noncoherentDma, false),
  };
  const kvm = spec.kvm === undefined ? DEFAULT_KVM_VERSION : checkEnum('spec.kvm', spec.kvm, KVM_VERSIONS, 'kvm-version');
  const adEnabled = flavour === 'npt' ? true : flags.adEnabled;
  const execOnly = flavour === 'ept' ? flags.execOnly : false;
  if (flags.pml && (flavour !== 'ept' || !adEnabled)) {
    throw new InvalidArgumentError('pml-needs-ept-ad', 'spec.pml: PML exists only for EPT with accessed/dirty bits enabled', `${flavour}${adEnabled ? '' : ' without A/D'}`);
  }
  const pml = flags.pml;
  const v73 = kvm === '7.3';
  const mbec = optBool('spec.mbec', spec.mbec, false);
  if (mbec && flavour !== 'ept') throw new InvalidArgumentError('mbec-needs-ept', 'spec.mbec: MBEC is an EPT feature (VMX secondary control bit 22); NPT has GMET', flavour);
  if (mbec && !v73) throw new InvalidArgumentError('mbec-version', 'spec.mbec: MBEC exists only in the KVM 7.3 model', kvm);
  const common = { kvm, acc: accEncoding(kvm), layout: spteLayout(kvm) };
  if (flavour === 'ept') {
    const z = resetRsvdsBitsMaskEpt({ maxPhyAddr: hostMaxPhyAddr, execonly: false, hugePageLevel: maxHugePageLevel });
    return Object.freeze({
      ...common,
      flavour, hostMaxPhyAddr, tdpLevel, maxTdpLevel, adEnabled, execOnly, maxHugePageLevel,
      nxHugePages: flags.nxHugePages,
      pml,
      // vmx.c: vmx_ignore_guest_pat.
      ignoreGuestPat: flags.ignoreGuestPatQuirk && !flags.noncoherentDma,
      // 7.3 kvm_mmu_set_ept_masks(has_ad) (kvm-7x.md §1.6): present = bit 63 only (R comes from
      // ACC_READ in make_spte), user 0, xs bit 2, xu bit 10.
      presentMask: v73 ? bit(63) : (execOnly ? 0n : bit(0)) | bit(63),
      userMask: v73 ? 0n : bit(0),
      xMask: bit(2),
      xuMask: v73 ? bit(10) : 0n,
      nxMask: 0n,
      // spte.c:460-461 (kvm_mmu_set_ept_masks): bits 8/9 even without hardware A/D, where the CPU
      // ignores them and bit 8 is KVM's software Accessed flag (is_accessed_spte, kvm-7x.md §5.2).
      accessedMask: bit(8),
      dirtyMask: bit(9),
      // 7.3: acc_track RWX|XU, host-/MMU-writable bits 53/55 (kvm-7x.md §1.6, §5.5).
      accTrackMask: v73 ? 7n | bit(10) : 7n,
      hostWritableMask: v73 ? bit(53) : bit(57),
      mmuWritableMask: v73 ? bit(55) : bit(58),
      mmioValue: 0b110n,
      mmioMask: 7n | bit(63),
      mmioAccessMask: 0n,
      mmioEnabled: true,
      zeroCheck: z.rsvdBitsMask,
      zeroCheckBadMtXwr: z.badMtXwr,
      mbec,
      hardwareFormat: eptFormat({ level: tdpLevel, maxPhyAddr: hostMaxPhyAddr, adEnabled, execonly: execOnly, hugePageLevel: maxHugePageLevel, kvm, mbec }),
    });
  }
  // NPT: the x86 format of the host; MMIO SPTEs set bit 51 (reserved if MAXPHYADDR < 52) and P.
  const mmioEnabled = hostMaxPhyAddr < 52;
  return Object.freeze({
    ...common,
    flavour, hostMaxPhyAddr, tdpLevel, maxTdpLevel, adEnabled, execOnly, maxHugePageLevel,
    nxHugePages: flags.nxHugePages,
    pml,
    // SVM has no get_mt_mask: the memory type comes from the guest PAT.
    ignoreGuestPat: false,
    presentMask: bit(0),
    userMask: bit(2),
    xMask: 0n,
    xuMask: 0n,
    nxMask: bit(63),
    accessedMask: bit(5),
    dirtyMask: bit(6),
    accTrackMask: 0n,
    hostWritableMask: bit(9),
    mmuWritableMask: bit(10),
    mmioValue: mmioEnabled ? bit(51) | bit(0) : 0n,
    mmioMask: mmioEnabled ? bit(51) | bit(0) : 0n,
    mmioAccessMask: mmioEnabled ? 6n : 0n,
    mmioEnabled,
    zeroCheck: resetRsvdsBitsMask({ maxPhyAddr: hostMaxPhyAddr, level: tdpLevel, nx: true, gbpages: maxHugePageLevel >= 3, pse: false, amd: true }),
    zeroCheckBadMtXwr: 0n,
    mbec: false,
    hardwareFormat: nptFormat({ level: tdpLevel, maxPhyAddr: hostMaxPhyAddr, nx: true, gbpages: maxHugePageLevel >= 3, pse: false, cr4Smep: false, cr4Smap: false, kvm }),
  });
}
