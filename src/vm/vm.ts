/**
 * A VM: per-VM state only — memslots, host memory, the SPTE format (frozen configuration), the
 * TDP MMU with its shared roots, the MMIO generation, VM-wide statistics and the event log.
 * Per-vCPU state lives in Vcpu.
 */
import { type Gpa, gpa as mkGpa } from '../address/address';
import { DEFAULT_FEATURES, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { GpaOutsideMemoryError, InvalidArgumentError, MisalignedError, hex } from '../errors';
import { GuestMemory } from '../memory/guest-memory';
import { Counters, VM_STAT_NAMES, type VmStatName } from '../events/stats';
import { EventLog } from '../events/event-log';
import { countersTable, eventsTable } from '../events/tables';
import { makeSpteConfig, type SpteConfig, type SpteConfigSpec } from '../spte/spte-config';
import { TdpMmu, type TdpVmContext } from '../tdp/tdp-mmu';
import { PossibleNxHugePages } from '../tdp/possible-nx-huge-pages';
import type { TdpPage } from '../tdp/tdp-page';
import type { ShadowPage } from '../shadow/shadow-page';
import { recoverNxHugePages, type NxRecovery } from './recover-nx-huge-pages';
import { HostMemory } from './host-memory';
import { makeLpageInfo, memslotPrivatePfn, type Memslot } from './memslot';
import { Vcpu } from './vcpu';
import { ShadowMmu } from '../shadow/shadow-mmu';
import { mmuTryToUnsyncPagesUnchecked } from '../shadow/unsync';
import { checkShadowInvariantsUnchecked } from '../shadow/shadow-invariants';
import { ImpossibleConfigurationError, makeTdConfig } from '../tdx/td-config';
import { Td, type MemoryAttribute } from '../tdx/td';
import { checkTdxInvariants } from '../tdx/tdx-invariants';
import { KVM_DIRECT_ROOTS, KVM_INVALID_ROOTS, KVM_VALID_ROOTS, filterToRootTypes, rootTypesText, type GfnRangeFilter } from '../tdp/root-types';
import { MemoryAttributes } from '../tdx/memory-attributes';
import { applyAttributeChange, checkAttributeRange } from '../tdx/set-memory-attributes';
import type { ExternalPageTableHooks } from '../tdp/external-hooks';
import { KVM_DIRTY_GFN_SIZE, KVM_DIRTY_RING_MAX_ENTRIES, KVM_DIRTY_RING_RSVD_ENTRIES, type DirtyRing } from './dirty-ring';
import { DEFAULT_KVM_VERSION, checkKvmVersion, type KvmVersion } from '../kvm-version';
import { describeValue } from '../validate/describe-value';
import { checkBool, checkDeathArgs, checkGfn, checkGpaRange, checkInt, checkMemslotSpec, checkOwnMemslot, checkBigint, checkVmOptions, optBool, optObject } from './vm-args';
import { makeTlbConfig, type TlbConfigSpec } from '../tlb/tlb-config';
import { makeCostModel, type CostModel, type CostModelSpec } from '../cost/cost-model';
import { VmLife, type VmDeath } from './vm-death';

export interface VmOptions {
  /**
   * Which KVM the whole pipeline models (kvm-version.ts): '7.3' (default) or '6.16'. It reaches
   * every ACC consumer through `config` (roles, formats, walkers, SPTEs, nested, TDX). Giving
   * `spte.kvm` too is allowed only when it agrees.
   */
  kvm?: KvmVersion;
  /** SPTE flavour and host capabilities. Default: EPT, host MAXPHYADDR 46, 4-level, A/D on. */
  spte?: SpteConfigSpec;
  /** Guest CPUID. Its MAXPHYADDR may not exceed the host's. */
  features?: CpuFeatures;
  /** Check Appendix A invariants after every operation (tests turn this on). */
  checkInvariants?: boolean;
  /**
   * 'tdp' (default): EPT/NPT with the TDP MMU. 'shadow': no TDP (`tdp_enabled = false`): the shadow
   * MMU builds GVA → HPA tables in the legacy x86 SPTE format (the `spte` option then only supplies
   * the host MAXPHYADDR, paging level and huge-page limits).
   */
  mmu?: 'tdp' | 'shadow';
  /** Same as `mmu: 'shadow'` when false. */
  tdp?: boolean;
  /** `n_max_mmu_pages` for the shadow MMU (KVM_SET_NR_MMU_PAGES; minimum 64). Default 4096. */
  maxMmuPages?: number;
  /**
   * KVM_X86_TDX_VM ('tdx'): a TD (EPT and the TDP MMU only; mirror roots reflected into the
   * S-EPT). KVM_X86_SW_PROTECTED_VM ('sw-protected'): private memory without TDX — memory
   * attributes and guest_memfd slots, private faults served from guest_memfd through the one
   * direct root (no S-EPT, no mirror root; x86.c:12820-12821 `has_private_mem`).
   */
  type?: 'default' | 'tdx' | 'sw-protected';
  /** A TD's guest physical address width: 48 (shared bit 47, 4-level) or 52 (bit 51, 5-level). Default 48. */
  gpaw?: number;
  /**
   * TD attribute SEPT_VE_DISABLE: an access to a private page the guest has not accepted kills the
   * TD (tdx.c:1943-1947) instead of raising #VE in the guest. Default false.
   */
  septVeDisable?: boolean;
  /**
   * KVM_CAP_VM_DISABLE_NX_HUGE_PAGES (x86.c: kvm_vm_ioctl_enable_cap): this VM ignores the
   * `spte.nxHugePages` mitigation. KVM accepts the cap only before the first vCPU, so it is an
   * option of the VM here.
   */
  disableNxHugePages?: boolean;
  /** The `nx_huge_pages_recovery_ratio` module parameter `recoverNxHugePages` uses. Default 60 (mmu.c:70). */
  nxHugePagesRecoveryRatio?: number;
  /**
   * KVM_X86_QUIRK_SLOT_ZAP_ALL (default on): deleting or moving a memslot of a default VM zaps
   * everything (`kvm_mmu_zap_all_fast`); off (KVM_CAP_DISABLE_QUIRKS2), only the slot is zapped
   * (`mmu.c: kvm_arch_flush_shadow_memslot`).
   */
  slotZapAllQuirk?: boolean;
  /**
   * Whether level-1 shadow pages may go unsync (default true, as KVM). KVM has no runtime knob for
   * this; false is a what-if for design notes: `mmu_try_to_unsync_pages` then refuses for every
   * shadowed gfn, as KVM does for pages that cannot go unsync (mmu.c: mmu_try_to_unsync_pages
   * returning -EPERM), so every guest write to a shadowed page table is write-protected and emulated.
   */
  unsync?: boolean;
  /**
   * The vCPUs' hardware TLBs and paging-structure caches (src/tlb): true for the Skylake defaults,
   * or a configuration. Default off: every access walks, as before the model existed. Every MMU
   * goes through it: TDP root_mmu (TDs too), shadow paging, and L2 on guest_mmu.
   */
  tlb?: boolean | TlbConfigSpec;
  /** Cycles per modelled event (src/cost); each default is cited in the cost table. */
  cost?: CostModelSpec;
}

/** Every `VmOptions` name; `satisfies` makes the compiler refuse a missing or unknown one. */
const VM_OPTION_NAMES: readonly string[] = Object.keys({
  kvm: true, spte: true, features: true, checkInvariants: true, mmu: true, tdp: true, maxMmuPages: true, type: true, gpaw: true,
  septVeDisable: true, disableNxHugePages: true, nxHugePagesRecoveryRatio: true, slotZapAllQuirk: true, tlb: true, cost: true, unsync: true,
} satisfies Record<keyof VmOptions, true>);

/** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2's argument (`KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE`, `KVM_DIRTY_LOG_INITIALLY_SET`). */
export interface ManualDirtyLogProtect {
  enable: boolean;
  /** New dirty bitmaps start all-set and nothing is write-protected until KVM_CLEAR_DIRTY_LOG. */
  initiallySet?: boolean;
}

/** KVM_CLEAR_DIRTY_LOG's range: pages [firstPage, firstPage + numPages) of the slot, and which of them to clear. */
export interface ClearDirtyLogSpec {
  /** Multiple of 64. Default 0. */
  firstPage?: number;
  /** A multiple of 64, or running to the end of the slot. Default: to the end of the slot. */
  numPages?: number;
  /** Bit i (truthy) asks to clear page firstPage + i. Default: every page of the range. */
  bitmap?: ArrayLike<number | boolean>;
}

/** `nx_huge_pages_recovery_ratio` is a uint module parameter. */
function checkRecoveryRatio(ratio: unknown): number {
  if (typeof ratio !== 'number' || !Number.isInteger(ratio) || ratio < 0 || ratio > 0xffff_ffff) {
    throw new InvalidArgumentError('nx-recovery-ratio', 'ratio (nx_huge_pages_recovery_ratio) is an unsigned 32-bit integer (0 disables recovery)', describeValue(ratio));
  }
  return ratio;
}

/** Validate a TD's options and derive its SPTE configuration and guest CPUID; throws before anything exists. */
function tdOptions(opts: VmOptions): { spte: SpteConfigSpec; features: CpuFeatures; gpaw: number } {
  if (opts.mmu === 'shadow' || opts.tdp === false) {
    throw new ImpossibleConfigurationError('td-needs-tdp', 'a TD runs only with TDP and the TDP MMU (its private memory is mapped by the S-EPT); shadow paging cannot exist for it', String(opts.mmu ?? 'tdp: false'));
  }
  const spte = opts.spte ?? { flavour: 'ept' as const };
  if (spte.flavour !== 'ept') throw new ImpossibleConfigurationError('td-needs-ept', 'a TD needs EPT (TDX is Intel-only); NPT cannot exist for it', spte.flavour);
  // ASSUMPTION (the references are silent): kvm-7x.md describes MBEC for KVM's own EPT roots and
  // for nested EPT (§1.1, §1.7), and for TDX only the exit-qualification rework (commit 91a4e313cbc2,
  // §1.2); nothing says KVM 7.3 enables MBEC for a TD's page tables. The private ones are the
  // TDX module's S-EPT, whose VMCS controls KVM does not own, and the shared EPT shares the TD's
  // execution controls. So the combination is refused rather than modelled on a guess.
  if (spte.mbec === true) throw new ImpossibleConfigurationError('td-mbec', 'spte.mbec: MBEC for a TD\'s EPT (S-EPT and shared EPT) is not something the KVM 7.3 references describe; a TD runs without it', String(spte.mbec));
  const td = makeTdConfig(opts.gpaw ?? 48);
  // kvm_mmu_get_tdp_level (mmu.c:5594-5595) takes a TD's GPAW as its MAXPHYADDR: GPAW 52 needs a
  // host with 5-level EPT, GPAW 48 gets 4 levels either way.
  const maxTdpLevel = spte.maxTdpLevel ?? spte.tdpLevel ?? 5;
  if (maxTdpLevel < td.level) {
    throw new ImpossibleConfigurationError('td-ept-level', `GPAW ${td.gpaw} fixes the EPT depth at ${td.level} levels`, String(maxTdpLevel));
  }
  const host = spte.hostMaxPhyAddr ?? 52;
  if (host < td.gpaw) throw new ImpossibleConfigurationError('td-host-maxphyaddr', `the host MAXPHYADDR must cover GPAW ${td.gpaw}`, String(host));
  // The TDX module reports GPAW as the guest's MAXPHYADDR: the shared bit is a valid PTE bit.
  const features = opts.features ?? { ...DEFAULT_FEATURES, maxPhyAddr: td.gpaw };
  if (features.maxPhyAddr < td.gpaw) throw new ImpossibleConfigurationError('td-guest-maxphyaddr', `a TD guest's MAXPHYADDR is at least GPAW ${td.gpaw}, or it could not set the shared bit`, String(features.maxPhyAddr));
  // tdx.c:633: a TD disables KVM_X86_QUIRK_IGNORE_GUEST_PAT (its EPT leaves carry no IPAT).
  const { tdpLevel: _old, ...rest } = spte;
  return { spte: { ...rest, hostMaxPhyAddr: host, maxTdpLevel, guestMaxPhyAddr: td.gpaw, ignoreGuestPatQuirk: false }, features, gpaw: td.gpaw };
}

export interface MemslotSpec {
  base: Gpa | bigint;
  size: bigint | number;
  readonly?: boolean;
  /** How the host backs the slot: 4K pages, 2M (THP/hugetlbfs) or 1G. Default 2M. */
  hostPageSize?: '4K' | '2M' | '1G';
  name?: string;
  /**
   * KVM_MEM_GUEST_MEMFD: bind a guest_memfd that serves the slot's private pages. Only in a VM
   * with private memory, never read-only (kvm_main.c:1591-1605 `check_memory_region_flags`).
   */
  guestMemfd?: boolean;
}

export class Vm implements TdpVmContext {
  /**
   * The SPTE format and host settings both MMUs read. Frozen except for the NX huge page
   * mitigation, which `setNxHugePages` may switch (the module parameter is writable at runtime).
   */
  get config(): SpteConfig {
    return this.spteConfig;
  }
  private spteConfig: SpteConfig;
  /** The `nx_huge_pages` module parameter as this VM sees it (`is_nx_huge_page_enabled` also needs the cap off). */
  private nxHugePagesParam: boolean;
  /** KVM_CAP_VM_DISABLE_NX_HUGE_PAGES (`kvm->arch.disable_nx_huge_pages`). */
  private readonly nxHugePagesCapDisabled: boolean;
  /** The vCPUs' CPUID features: the guest CPUID given, less what KVM cannot offer (PKU without TDP). */
  readonly features: Readonly<CpuFeatures>;
  readonly host: HostMemory;
  /** Guest-physical memory contents (L1's GPA space). */
  readonly guestMem: GuestMemory;
  readonly memslots: Memslot[] = [];
  readonly stats = new Counters<VmStatName>(VM_STAT_NAMES);
  readonly events = new EventLog();
  /** `kvm->arch.possible_nx_huge_pages`: one list for the TDP MMU's and the shadow MMU's tables. */
  readonly possibleNxHugePages = new PossibleNxHugePages<TdpPage | ShadowPage>(this.stats);
  readonly tdp: TdpMmu;
  readonly vcpus: Vcpu[] = [];
  /** `tdp_enabled`: false = shadow paging. */
  readonly tdpEnabled: boolean;
  /** The shadow MMU: shadow paging without TDP, and guest_mmu (nested EPT) with it. */
  readonly shadow: ShadowMmu;
  checking: boolean;
  /**
   * The memslots generation of address space 0 (`kvm_memslots(kvm)->generation`, started at 0 by
   * kvm_main.c:1160-1162): what MMIO SPTEs and the vCPUs' MMIO caches are stamped with.
   */
  mmioGeneration = 0;
  /** `kvm->manual_dirty_log_protect` (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2). */
  private manualProtect = { enable: false, initiallySet: false };
  /** The `eager_page_split` module parameter (default on). */
  eagerPageSplit = true;
  /** The `unsync` option: false makes `mmu_try_to_unsync_pages` refuse for every shadowed gfn. */
  readonly unsyncAllowed: boolean;
  /** KVM_X86_QUIRK_SLOT_ZAP_ALL is in effect. */
  private slotZapAll: boolean;
  /** The TDX state of a TD (undefined for other VM types). */
  readonly td: Td | undefined;
  /** `kvm->vm_dead` / `kvm->vm_bugged`: once dead, every ioctl is refused (vm-death.ts). */
  private readonly life = new VmLife(this.events);
  /** TdpVmContext: the S-EPT hooks of a TD. */
  readonly external: ExternalPageTableHooks | undefined;
  /** TdpVmContext: `kvm_gfn_direct_bits` (0 unless a TD). */
  readonly gfnDirectBits: number;
  /** The VM type (KVM_CREATE_VM's `type`). */
  readonly vmType: 'default' | 'tdx' | 'sw-protected';
  /**
   * `kvm->mem_attr_array` of a VM with private memory (`kvm_arch_has_private_mem`: a TD or a
   * KVM_X86_SW_PROTECTED_VM); undefined otherwise. A TD's is its `td.attributes`.
   */
  readonly memAttributes: MemoryAttributes | undefined;
  private nextSlotId = 0;
  /** The `nx_huge_pages_recovery_ratio` module parameter, as this VM sees it. */
  nxHugePagesRecoveryRatio: number;
  /** `kvm->dirty_ring_size` (bytes; 0 = no dirty ring). */
  private dirtyRingBytes = 0;
  /** `kvm_get_running_vcpu()`'s dirty ring while a vCPU runs (set by the vCPU). */
  runningRing: DirtyRing | undefined;
  /** VcpuVm: the vCPUs' TLB configuration (undefined: no TLB model). */
  readonly tlbSpec: TlbConfigSpec | undefined;
  /** VcpuVm: the cost model. */
  readonly costModel: CostModel;

  constructor(opts: VmOptions = {}) {
    checkVmOptions(opts, VM_OPTION_NAMES);
    if (opts.type !== undefined && opts.type !== 'default' && opts.type !== 'tdx' && opts.type !== 'sw-protected') {
      throw new InvalidArgumentError('vm-type', 'the VM type is default, tdx or sw-protected', String(opts.type));
    }
    // Private faults are TDP faults (`kvm_tdp_page_fault`); KVM offers SW_PROTECTED only with the TDP MMU (x86.c:9898-9899).
    if (opts.type === 'sw-protected' && (opts.mmu === 'shadow' || opts.tdp === false)) {
      throw new ImpossibleConfigurationError('sw-protected-needs-tdp', 'a KVM_X86_SW_PROTECTED_VM needs TDP and the TDP MMU', String(opts.mmu ?? 'tdp: false'));
    }
    if (opts.disableNxHugePages !== undefined && typeof opts.disableNxHugePages !== 'boolean') throw new InvalidArgumentError('disable-nx-huge-pages', 'options.disableNxHugePages is a boolean', describeValue(opts.disableNxHugePages));
    const ratio = checkRecoveryRatio(opts.nxHugePagesRecoveryRatio ?? 60);
    const kvm = checkKvmVersion(opts.kvm ?? opts.spte?.kvm ?? DEFAULT_KVM_VERSION);
    if (opts.spte?.kvm !== undefined && opts.spte.kvm !== kvm) {
      throw new InvalidArgumentError('kvm-version-conflict', 'the VM option kvm and spte.kvm name one KVM version', `${opts.kvm} vs ${opts.spte.kvm}`);
    }
    opts = { ...opts, spte: { flavour: 'ept', ...opts.spte, kvm } };
    if (opts.tlb !== undefined && typeof opts.tlb !== 'boolean' && (typeof opts.tlb !== 'object' || opts.tlb === null)) throw new InvalidArgumentError('vm-tlb', 'tlb is a boolean or a TLB configuration', String(opts.tlb));
    this.tlbSpec = opts.tlb === true ? {} : opts.tlb === false || opts.tlb === undefined ? undefined : makeTlbConfig(opts.tlb);
    this.costModel = makeCostModel(opts.cost);
    const nxParam = opts.spte?.nxHugePages ?? false;
    // is_nx_huge_page_enabled(kvm) = nx_huge_pages && !kvm->arch.disable_nx_huge_pages.
    if (opts.disableNxHugePages === true && opts.spte !== undefined) opts = { ...opts, spte: { ...opts.spte, nxHugePages: false } };
    const tdOpts = opts.type === 'tdx' ? tdOptions(opts) : undefined;
    if (tdOpts !== undefined) opts = { ...opts, spte: tdOpts.spte, features: tdOpts.features };
    const tdpEnabled = opts.mmu !== 'shadow' && opts.tdp !== false;
    // Without TDP every SPTE uses the legacy shadow masks, which are NPT's (reference §7.1); the
    // zero check covers up to a 5-level root (a 5-level guest is shadowed with 5-level tables).
    const { tdpLevel: _t, maxTdpLevel: _m, ...shadowSpec } = opts.spte ?? {};
    const spec: SpteConfigSpec = tdpEnabled ? (opts.spte ?? { flavour: 'ept' }) : { ...shadowSpec, flavour: 'npt', adEnabled: true, pml: false, maxTdpLevel: 5 };
    const host = makeSpteConfig(spec);
    const features = opts.features ?? { ...DEFAULT_FEATURES, maxPhyAddr: Math.min(DEFAULT_FEATURES.maxPhyAddr, host.hostMaxPhyAddr) };
    // kvm_mmu_get_tdp_level: the root level follows the guest MAXPHYADDR (checked against the host below).
    const config = features.maxPhyAddr > host.hostMaxPhyAddr || spec.guestMaxPhyAddr !== undefined ? host : makeSpteConfig({ ...spec, guestMaxPhyAddr: features.maxPhyAddr });
    if (features.maxPhyAddr > config.hostMaxPhyAddr) {
      throw new InvalidArgumentError(
        'guest-maxphyaddr-above-host',
        `guest MAXPHYADDR ${features.maxPhyAddr} exceeds the host's ${config.hostMaxPhyAddr} (KVM would need allow_smaller_maxphyaddr the other way round)`,
        String(features.maxPhyAddr),
      );
    }
    this.spteConfig = config;
    this.nxHugePagesParam = nxParam;
    this.nxHugePagesCapDisabled = opts.disableNxHugePages === true;
    // What the vCPUs have (`vcpu->arch.cpu_caps` = guest CPUID ∩ kvm_cpu_caps, cpuid.c:390-396):
    // without TDP KVM clears PKU from kvm_cpu_caps (cpuid.c:936-941), so CR4.PKE is reserved.
    this.features = Object.freeze({ ...features, pku: features.pku && tdpEnabled });
    this.host = new HostMemory(config.hostMaxPhyAddr);
    this.guestMem = new GuestMemory({ maxPhyAddr: features.maxPhyAddr });
    this.checking = opts.checkInvariants ?? false;
    this.unsyncAllowed = opts.unsync ?? true;
    this.tdp = new TdpMmu(this);
    this.tdpEnabled = tdpEnabled;
    this.shadow = new ShadowMmu(this, opts.maxMmuPages);
    this.td = tdOpts === undefined ? undefined : new Td(makeTdConfig(tdOpts.gpaw), this.host, this.events, opts.septVeDisable ?? false);
    this.external = this.td?.sept;
    this.gfnDirectBits = this.td?.config.gfnDirectBits ?? 0;
    this.nxHugePagesRecoveryRatio = ratio;
    this.slotZapAll = opts.slotZapAllQuirk ?? true;
    this.vmType = opts.type ?? 'default';
    this.memAttributes = this.td?.attributes ?? (this.vmType === 'sw-protected' ? new MemoryAttributes() : undefined);
  }

  // ---- memslots ----

  addMemslot(spec: MemslotSpec): Memslot {
    this.life.check('KVM_SET_USER_MEMORY_REGION2', -1);
    const hostLevel = checkMemslotSpec(spec);
    const base = BigInt(spec.base);
    const size = BigInt(spec.size);
    if ((base & 0xfffn) !== 0n || size <= 0n || (size & 0xfffn) !== 0n) {
      throw new MisalignedError('memslot-alignment', 'a memslot is a non-empty, 4 KiB aligned GPA range', `${hex(base)}+${hex(size)}`);
    }
    const end = base + size;
    if (end > 1n << BigInt(this.config.hostMaxPhyAddr)) {
      throw new GpaOutsideMemoryError('gpa-beyond-host-maxphyaddr', `GPA range ends beyond the host MAXPHYADDR ${this.config.hostMaxPhyAddr}: TDP cannot map it`, hex(end - 1n));
    }
    if (end > 1n << BigInt(this.features.maxPhyAddr)) {
      throw new GpaOutsideMemoryError('gpa-beyond-guest-maxphyaddr', `GPA range ends beyond the guest MAXPHYADDR ${this.features.maxPhyAddr}`, hex(end - 1n));
    }
    if (this.td !== undefined && end > this.td.config.gpaSharedMask) {
      throw new GpaOutsideMemoryError('td-memslot-shared-bit', `memslots hold natural GPAs: a TD's slot must end below the shared bit ${this.td.config.sharedBit}`, hex(end - 1n));
    }
    const baseGfn = Number(base >> 12n);
    const npages = Number(size >> 12n);
    for (const s of this.memslots) {
      if (baseGfn < s.baseGfn + s.npages && s.baseGfn < baseGfn + npages) {
        throw new InvalidArgumentError('memslot-overlap', `memslot [${hex(base)}, ${hex(end)}) overlaps "${s.name}"`, hex(base));
      }
    }
    const guestMemfd = spec.guestMemfd ?? false;
    if (guestMemfd && this.memAttributes === undefined) {
      throw new InvalidArgumentError('memslot-guest-memfd', 'KVM_MEM_GUEST_MEMFD needs a VM with private memory (tdx or sw-protected) (kvm_main.c:1591)', spec.name ?? hex(base));
    }
    if (guestMemfd && (spec.readonly ?? false)) {
      throw new InvalidArgumentError('memslot-guest-memfd-readonly', 'a guest_memfd memslot cannot be read-only (kvm_main.c:1598-1605)', spec.name ?? hex(base));
    }
    // guest_memfd pages are other host frames than the shared (userspace) backing: both are
    // placed before either is taken (may throw; nothing changed yet).
    const ramMark = this.host.ramMark();
    const [pfnBase, gmemPfnBase = -1] = this.host.allocRamBackings(baseGfn, npages, guestMemfd ? 2 : 1) as [number, number?];
    const id = this.nextSlotId;
    const name = spec.name ?? `slot${id}`;
    try {
      this.guestMem.addSlot({ base: mkGpa(base), size, readonly: spec.readonly ?? false, name });
    } catch (e) {
      this.host.releaseRam(ramMark); // the last step failed: no backing stays reserved
      throw e;
    }
    this.nextSlotId++;
    const slot: Memslot = {
      id, name, base: mkGpa(base), baseGfn, npages, readonly: spec.readonly ?? false, pfnBase, hostLevel,
      dirtyLogging: false, dirtyBitmap: undefined, lpageDisallow: makeLpageInfo(baseGfn, npages), guestMemfd, gmemPfnBase,
    };
    this.memslots.push(slot);
    this.memslots.sort((a, b) => a.baseGfn - b.baseGfn);
    // kvm_create_memslot → kvm_activate_memslot: one swap; every cached MMIO SPTE becomes stale.
    this.memslotsSwapped();
    return slot;
  }

  /** KVM_CAP_DISABLE_QUIRKS2 with KVM_X86_QUIRK_SLOT_ZAP_ALL: delete/move zaps only the slot from now on. */
  disableSlotZapAllQuirk(): void {
    this.life.check('KVM_ENABLE_CAP', -1);
    this.slotZapAll = false;
  }

  /**
   * `kvm_invalidate_memslot` → `mmu.c: kvm_arch_flush_shadow_memslot` for a slot being deleted or
   * moved: a default VM with KVM_X86_QUIRK_SLOT_ZAP_ALL fast-zaps everything (every TDP root
   * invalidated, every shadow page obsolete); otherwise only the slot's mappings are zapped.
   */
  private flushShadowMemslot(slot: Memslot, why: string): void {
    if (this.td !== undefined) {
      // A TD zaps only the slot, both aliases (kvm_mmu_zap_memslot, PRIVATE|SHARED): the S-EPT
      // cannot be fast-zapped.
      this.tdp.zapLeafs(slot.baseGfn, slot.baseGfn + slot.npages, -1, `${why} slot ${slot.name}`, KVM_VALID_ROOTS);
      this.shadow.zapAllFast();
    } else if (this.slotZapAll && this.vmType === 'default') {
      // kvm_memslot_flush_zap_all (mmu.c:7260-7264): the fast zap-all is for default VMs only; a
      // SW-protected VM zaps the slot (kvm_mmu_zap_memslot).
      this.tdp.invalidateAllRoots();
      this.shadow.zapAllFast();
    } else {
      this.tdp.zapLeafs(slot.baseGfn, slot.baseGfn + slot.npages, -1, `${why} slot ${slot.name}`);
      this.shadow.zapSlot(slot);
    }
  }

  /**
   * `kvm_swap_active_memslots` (kvm_main.c:1613-1668): the generation grows by the number of
   * memslot address spaces (kvm_main.c:1664; kvm_host.h:2344: 1 with private memory, else 2 for
   * SMM), then `kvm_arch_memslots_updated` → `mmu.c: kvm_mmu_invalidate_mmio_sptes` (mmu.c:7275):
   * when the generation bits an MMIO SPTE stores wrap to 0 (the address-space bit stripped), an old
   * MMIO SPTE could match again, so everything is zapped (`kvm_mmu_zap_all_fast`).
   */
  private memslotsSwapped(): void {
    const asIds = this.memAttributes !== undefined ? 1 : 2;
    this.mmioGeneration += asIds;
    if ((this.mmioGeneration & this.config.layout.mmioGenMask & ~(asIds - 1)) !== 0) return;
    this.events.recordUnchecked({ kind: 'zap', outcome: `MMIO generation wraparound at ${this.mmioGeneration}: fast zap-all` });
    this.tdp.invalidateAllRoots(this.td !== undefined ? KVM_DIRECT_ROOTS : KVM_VALID_ROOTS);
    this.shadow.zapAllFast();
  }

  private memslotIndex(slot: Memslot): number {
    return checkOwnMemslot(this.memslots, slot);
  }

  /** Delete a memslot (KVM_MR_DELETE): zapped first (`kvm_invalidate_memslot`), then removed. */
  deleteMemslot(slot: Memslot): void {
    this.life.check('KVM_SET_USER_MEMORY_REGION2', -1);
    const i = this.memslotIndex(slot);
    this.memslotsSwapped(); // kvm_invalidate_memslot (kvm_main.c:1814), then the flush
    this.flushShadowMemslot(slot, 'delete');
    this.memslots.splice(i, 1);
    const gs = this.guestMem.slots.find((s) => s.baseGfn === slot.baseGfn)!;
    this.guestMem.removeSlot(gs);
    this.memslotsSwapped(); // kvm_delete_memslot → kvm_activate_memslot (kvm_main.c:1855)
    this.afterOperation();
  }

  /**
   * Move a memslot to a new base GPA (KVM_MR_MOVE: same size, flags and host memory, new
   * `base_gfn`). As in `kvm_main.c: kvm_set_memslot`, the old range is zapped first
   * (`kvm_invalidate_memslot` → `kvm_arch_flush_shadow_memslot`); the host pages and their
   * contents stay, so the guest sees them at the new GPAs; the dirty bitmap is kept
   * (`kvm_prepare_memory_region`) and the huge-page bookkeeping is rebuilt for the new base.
   * Returns the moved slot (a new object; the old one must no longer be used).
   */
  moveMemslot(slot: Memslot, newBase: Gpa | bigint): Memslot {
    this.life.check('KVM_SET_USER_MEMORY_REGION2', -1);
    const i = this.memslotIndex(slot);
    const base = checkBigint('newBase', newBase);
    // kvm_main.c:2071-2072: private (guest_memfd) memslots are immutable; a TD's slots are.
    if (this.td !== undefined) throw new InvalidArgumentError('memslot-move-private', 'a guest_memfd memslot cannot be moved, only deleted (KVM returns -EINVAL)', slot.name);
    if ((base & 0xfffn) !== 0n || base < 0n) throw new MisalignedError('memslot-alignment', 'a memslot is a non-empty, 4 KiB aligned GPA range', hex(base));
    const end = base + (BigInt(slot.npages) << 12n);
    if (end > 1n << BigInt(this.config.hostMaxPhyAddr)) {
      throw new GpaOutsideMemoryError('gpa-beyond-host-maxphyaddr', `GPA range ends beyond the host MAXPHYADDR ${this.config.hostMaxPhyAddr}: TDP cannot map it`, hex(end - 1n));
    }
    if (end > 1n << BigInt(this.features.maxPhyAddr)) {
      throw new GpaOutsideMemoryError('gpa-beyond-guest-maxphyaddr', `GPA range ends beyond the guest MAXPHYADDR ${this.features.maxPhyAddr}`, hex(end - 1n));
    }
    const baseGfn = Number(base >> 12n);
    if (baseGfn === slot.baseGfn) return slot; // kvm_main.c:2082-2087: nothing to change
    // kvm_main.c:2090-2092: the new range may overlap no other slot (-EEXIST); its own old range is fine.
    for (const s of this.memslots) {
      if (s !== slot && baseGfn < s.baseGfn + s.npages && s.baseGfn < baseGfn + slot.npages) {
        throw new InvalidArgumentError('memslot-overlap', `memslot [${hex(base)}, ${hex(end)}) overlaps "${s.name}"`, hex(base));
      }
    }
    this.memslotsSwapped(); // kvm_invalidate_memslot (kvm_main.c:1814), then the flush
    this.flushShadowMemslot(slot, 'move');
    const gs = this.guestMem.slots.find((s) => s.baseGfn === slot.baseGfn)!;
    this.guestMem.moveSlot(gs, mkGpa(base));
    const moved: Memslot = { ...slot, base: mkGpa(base), baseGfn, lpageDisallow: makeLpageInfo(baseGfn, slot.npages) };
    this.memslots[i] = moved;
    this.memslots.sort((a, b) => a.baseGfn - b.baseGfn);
    this.memslotsSwapped(); // kvm_move_memslot → kvm_activate_memslot (kvm_main.c:1868)
    this.afterOperation();
    return moved;
  }

  slotOfGfn(gfn: number): Memslot | undefined {
    checkGfn('gfn', gfn);
    const list = this.memslots;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = list[mid]!;
      if (gfn < s.baseGfn) hi = mid - 1;
      else if (gfn >= s.baseGfn + s.npages) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** `kvm_gfn_is_write_tracked`: an upper-level shadow page shadows this gfn. */
  isGfnWriteTracked(gfn: number): boolean {
    checkGfn('gfn', gfn);
    return this.shadow.isWriteTracked(gfn);
  }

  /** `mmu_try_to_unsync_pages` for make_spte: true = the new SPTE must stay read-only. */
  mmuTryToUnsyncPages(gfn: number, synchronizing: boolean, prefetch: boolean): boolean {
    checkGfn('gfn', gfn);
    checkBool('synchronizing', synchronizing);
    checkBool('prefetch', prefetch);
    return mmuTryToUnsyncPagesUnchecked(this.shadow, gfn, synchronizing, prefetch, -1);
  }

  /** `kvm_tdp_mmu_write_protect_gfn` (account_shadowed with nested TDP). */
  tdpWriteProtectGfn(gfn: number): boolean {
    checkGfn('gfn', gfn);
    return this.tdp.writeProtectGfn(gfn);
  }

  /**
   * `mark_page_dirty_in_slot` (kvm_main.c:3508-3530): with a dirty ring, an entry in the running
   * vCPU's ring; else a bit in the slot's bitmap.
   */
  markDirty(slot: Memslot, gfn: number): void {
    this.memslotIndex(slot);
    checkInt('gfn', gfn, { min: slot.baseGfn, max: slot.baseGfn + slot.npages - 1 });
    if (this.dirtyRingBytes > 0 && this.runningRing !== undefined) this.runningRing.push(slot.id, gfn - slot.baseGfn);
    else if (slot.dirtyBitmap !== undefined) slot.dirtyBitmap[gfn - slot.baseGfn] = 1;
  }

  // ---- the dirty ring (KVM_CAP_DIRTY_LOG_RING) ----

  /** `kvm_dirty_ring_get_rsvd_entries`: KVM_DIRTY_RING_RSVD_ENTRIES + `kvm_cpu_dirty_log_size` (PML: 512, vmx.c:7814). */
  get dirtyRingRsvdEntries(): number {
    return KVM_DIRTY_RING_RSVD_ENTRIES + (this.config.pml ? 512 : 0);
  }

  /** `kvm->dirty_ring_size` in bytes (0 without a dirty ring). */
  get dirtyRingSize(): number {
    return this.dirtyRingBytes;
  }

  /**
   * KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING, `bytes`) — `kvm_vm_ioctl_enable_dirty_log_ring`
   * (kvm_main.c:4926-4962). Each vCPU created afterwards gets a ring of `bytes / 16` entries; dirty
   * pages go to the ring of the vCPU that dirtied them instead of the slots' bitmaps.
   */
  enableDirtyRing(bytes: number): void {
    this.life.check('KVM_ENABLE_CAP', -1);
    const bad = (rule: string, why: string) => { throw new InvalidArgumentError(rule, `bytes: ${why}`, describeValue(bytes)); };
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || (bytes & (bytes - 1)) !== 0) bad('dirty-ring-size', 'the dirty ring size is a power of 2 (kvm_main.c:4934-4935: -EINVAL)');
    if (bytes < this.dirtyRingRsvdEntries * KVM_DIRTY_GFN_SIZE || bytes < 4096) bad('dirty-ring-size-min', `the dirty ring must hold ${this.dirtyRingRsvdEntries} reserved entries and a page (kvm_main.c:4938-4940: -EINVAL)`);
    if (bytes > KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_SIZE) bad('dirty-ring-size-max', `at most ${KVM_DIRTY_RING_MAX_ENTRIES} entries (kvm_main.c:4942-4944: -E2BIG)`);
    if (this.dirtyRingBytes !== 0) bad('dirty-ring-once', 'the dirty ring is enabled once (kvm_main.c:4947-4948: -EINVAL)');
    if (this.vcpus.length > 0) bad('dirty-ring-after-vcpus', 'the dirty ring is enabled before any vCPU exists (kvm_main.c:4952-4954: -EINVAL)');
    this.dirtyRingBytes = bytes;
  }

  /**
   * KVM_RESET_DIRTY_RINGS (`kvm_vm_ioctl_reset_dirty_pages`, kvm_main.c:4964-4984): recycle every
   * vCPU's harvested entries, re-protecting their pages (`kvm_reset_dirty_gfn` →
   * `kvm_arch_mmu_enable_log_dirty_pt_masked`); one remote flush if any was reset. Returns how many.
   */
  resetDirtyRings(): number {
    this.life.check('KVM_RESET_DIRTY_RINGS', -1);
    if (this.dirtyRingBytes === 0) throw new InvalidArgumentError('dirty-ring-off', 'KVM_RESET_DIRTY_RINGS needs KVM_CAP_DIRTY_LOG_RING (kvm_main.c:4970-4971: -EINVAL)', '0');
    let cleared = 0;
    for (const v of this.vcpus) {
      cleared += v.dirtyRing!.reset((id, offset, mask) => {
        // kvm_reset_dirty_gfn (dirty_ring.c:53-75): no mask, an unknown slot or an offset past its end: nothing.
        if (mask === 0n) return;
        const slot = this.memslots.find((s) => s.id === (id & 0xffff));
        if (slot === undefined || id >> 16 !== 0 || offset + mask.toString(2).length - 1 >= slot.npages) return;
        const pages: number[] = [];
        for (let b = 0; b < 64; b++) if ((mask >> BigInt(b)) & 1n) pages.push(offset + b);
        this.enableLogDirtyMasked(slot, pages);
      });
    }
    if (cleared > 0) this.tdp.tlbFlush(-1, 'dirty rings reset');
    this.events.recordUnchecked({ kind: 'dirty_log', outcome: `dirty rings reset: ${cleared}` });
    this.afterOperation();
    return cleared;
  }

  // ---- dirty logging (§9.7; without PML: write protection) ----

  /**
   * Enable or disable dirty logging on a memslot (`kvm_mmu_slot_apply_flags`). Huge pages are
   * split eagerly by default, as KVM's `eager_page_split` module parameter (default on) does;
   * `eagerSplit: false` leaves them to be split by the first write fault instead.
   */
  setDirtyLogging(slot: Memslot, on: boolean, opts: { eagerSplit?: boolean } = {}): void {
    this.life.check('KVM_SET_USER_MEMORY_REGION2', -1);
    this.memslotIndex(slot);
    checkBool('on', on);
    optBool('options.eagerSplit', optObject<{ eagerSplit?: boolean }>('options', opts).eagerSplit, true);
    if (slot.readonly && on) throw new InvalidArgumentError('dirty-log-readonly', 'a read-only memslot cannot log dirty pages', slot.name);
    if (slot.guestMemfd && on) throw new InvalidArgumentError('dirty-log-guest-memfd', 'dirty logging of a guest_memfd memslot is not supported (kvm_main.c:1594-1596)', slot.name);
    if (on === slot.dirtyLogging) return;
    slot.dirtyLogging = on;
    // kvm_update_flags_memslot → kvm_activate_memslot (kvm_main.c:1881): one swap, before
    // kvm_commit_memory_region applies the flags.
    this.memslotsSwapped();
    if (on) {
      // kvm_prepare_memory_region: a bitmap only when kvm_use_dirty_bitmap (no dirty ring).
      const bitmap = this.dirtyRingBytes > 0 ? undefined : new Uint8Array(slot.npages);
      slot.dirtyBitmap = bitmap;
      const [a, b] = [slot.baseGfn, slot.baseGfn + slot.npages];
      if (this.manualProtect.initiallySet) {
        // kvm_prepare_memory_region: the new bitmap starts all-set; kvm_mmu_slot_apply_flags then
        // protects nothing ("they're all assumed to be dirty").
        bitmap?.fill(1);
      } else {
        if (opts.eagerSplit ?? this.eagerPageSplit) this.tdp.splitRange(a, b);
        if (this.config.pml) {
          // kvm_mmu_slot_apply_flags with PML (x86.c:13249-13251): clear D on every leaf, huge
          // ones too (kvm_tdp_mmu_clear_dirty_slot), then write-protect the huge ones.
          this.tdp.clearDirtySlot(a, b);
          this.tdp.wrprotHugeRange(a, b);
        } else {
          this.tdp.wrprotRange(a, b);
        }
        this.shadow.wrprotRange(a, b);
        // x86.c:13297 (kvm_mmu_slot_apply_flags): one unconditional flush after enabling dirty logging.
        this.tdp.tlbFlush(-1, 'enable dirty logging');
      }
    } else {
      slot.dirtyBitmap = undefined;
      // kvm_mmu_slot_apply_flags → kvm_mmu_recover_huge_pages (mmu.c:7133-7145): the rmaps, then the TDP MMU.
      this.shadow.zapCollapsibleSptes(slot);
      this.tdp.recoverHugePages(slot);
    }
    this.events.recordUnchecked({ kind: 'dirty_log', gpa: slot.base as bigint, outcome: on ? 'enabled' : 'disabled' });
    this.afterOperation();
  }

  /**
   * KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): with `enable`, KVM_GET_DIRTY_LOG only reports
   * and KVM_CLEAR_DIRTY_LOG (`clearDirtyLog`) clears and re-protects; `initiallySet` needs
   * `enable` (`kvm_main.c: kvm_vm_ioctl_enable_cap_generic`, else -EINVAL).
   */
  setManualDirtyLogProtect(cap: ManualDirtyLogProtect): void {
    this.life.check('KVM_ENABLE_CAP', -1);
    checkBool('cap.enable', optObject<ManualDirtyLogProtect>('cap', cap).enable);
    optBool('cap.initiallySet', cap.initiallySet, false);
    if (cap.initiallySet === true && !cap.enable) {
      throw new InvalidArgumentError('dirty-log-initially-set-without-manual-protect', 'KVM_DIRTY_LOG_INITIALLY_SET is valid only with KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE', 'initiallySet');
    }
    this.manualProtect = { enable: cap.enable, initiallySet: cap.enable && (cap.initiallySet ?? false) };
  }

  get manualDirtyLogProtect(): Readonly<ManualDirtyLogProtect> {
    return { ...this.manualProtect };
  }

  private dirtyBitmapOf(slot: Memslot): Uint8Array {
    this.memslotIndex(slot);
    // kvm_use_dirty_bitmap false (dirty ring without KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP): -ENXIO (kvm_main.c:2165-2166, 2230-2231, 2342-2343).
    if (this.dirtyRingBytes > 0) throw new InvalidArgumentError('dirty-log-with-ring', 'KVM_GET/CLEAR_DIRTY_LOG are not available with the dirty ring (KVM returns -ENXIO)', slot.name);
    if (slot.dirtyBitmap === undefined) throw new InvalidArgumentError('dirty-log-off', 'dirty logging is not enabled on this memslot (KVM returns -ENOENT)', slot.name);
    return slot.dirtyBitmap;
  }

  /**
   * `kvm_arch_mmu_enable_log_dirty_pt_masked` (mmu.c:1419-1464) for one 64-page word (`pages`: the
   * slot pages whose bits were cleared): with INITIALLY_SET, split (eager_page_split) and
   * write-protect the huge page at the first of them, and at the last when ALIGN (rounding up)
   * puts it in another 2M region; then protect each 4K page (D with PML, else W) — 4K leaves
   * only (`clear_dirty_pt_masked`), so a huge leaf elsewhere in the word stays as it was.
   */
  private enableLogDirtyMasked(slot: Memslot, pages: readonly number[]): void {
    if (pages.length === 0) return;
    const start = slot.baseGfn + pages[0]!;
    const end = slot.baseGfn + pages[pages.length - 1]!;
    if (this.manualProtect.initiallySet) {
      if (this.eagerPageSplit) this.tdp.splitRange(start, end + 1);
      this.tdp.writeProtectGfn(start, -1, 2);
      // mmu.c:1444-1446: ALIGN(start << PAGE_SHIFT, PMD_SIZE) != ALIGN(end << PAGE_SHIFT, PMD_SIZE).
      if (Math.ceil(start / 512) !== Math.ceil(end / 512)) this.tdp.writeProtectGfn(end, -1, 2);
    }
    // The pages in runs of consecutive gfns (one walk per run; the same SPTEs change).
    for (let i = 0; i < pages.length; ) {
      let j = i + 1;
      while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
      const [a, b] = [slot.baseGfn + pages[i]!, slot.baseGfn + pages[j - 1]! + 1];
      // mmu.c:1458-1463: kvm_mmu_clear_dirty_pt_masked with PML, else kvm_mmu_write_protect_pt_masked.
      this.tdp.clearDirtyPtMasked(a, b, !this.config.pml);
      this.shadow.wrprotRange(a, b);
      i = j;
    }
  }

  /** `kvm_arch_sync_dirty_log` (x86.c:6558): with PML, kick every vCPU so its PML buffer reaches the bitmap. */
  private syncDirtyLog(): void {
    for (const v of this.vcpus) v.kickForDirtyLogSync();
  }

  /**
   * KVM_GET_DIRTY_LOG (`kvm_get_dirty_log_protect`): the dirty GPAs of the slot. Without manual
   * protect they are cleared and write-protected again; with it the bitmap is only read, and
   * pages stay dirty and writable until `clearDirtyLog`.
   */
  getDirtyLog(slot: Memslot): Gpa[] {
    this.life.check('KVM_GET_DIRTY_LOG', -1);
    const bm = this.dirtyBitmapOf(slot);
    this.syncDirtyLog(); // kvm_main.c:2181, 2245
    const out: Gpa[] = [];
    let word: number[] = [];
    for (let i = 0; i < bm.length; i++) {
      if (!this.manualProtect.enable && i % 64 === 0) {
        this.enableLogDirtyMasked(slot, word);
        word = [];
      }
      if (bm[i] === 0) continue;
      out.push(mkGpa(BigInt(slot.baseGfn + i) << 12n));
      if (this.manualProtect.enable) continue;
      bm[i] = 0;
      word.push(i);
    }
    this.enableLogDirtyMasked(slot, word);
    // kvm_main.c:2271,2282-2283 (kvm_get_dirty_log_protect): one flush when any dirty bit was
    // reaped; never with manual protect (the flush comes with KVM_CLEAR_DIRTY_LOG).
    if (!this.manualProtect.enable && out.length > 0) this.tdp.tlbFlush(-1, 'dirty log harvested');
    this.events.recordUnchecked({ kind: 'dirty_log', gpa: slot.base as bigint, outcome: `harvested ${out.length}` });
    this.afterOperation();
    return out;
  }

  /**
   * KVM_CLEAR_DIRTY_LOG (`kvm_main.c: kvm_clear_dirty_log_protect`): clear the requested bits that
   * are set and re-protect those pages. Returns the GPAs whose bits were cleared.
   */
  clearDirtyLog(slot: Memslot, spec: ClearDirtyLogSpec = {}): Gpa[] {
    this.life.check('KVM_CLEAR_DIRTY_LOG', -1);
    const bm = this.dirtyBitmapOf(slot);
    optObject('spec', spec);
    const first = spec.firstPage ?? 0;
    if (!Number.isSafeInteger(first) || first < 0 || first % 64 !== 0 || first > slot.npages) {
      throw new InvalidArgumentError('clear-dirty-log-first-page', 'spec.firstPage (first_page) must be a multiple of 64 inside the slot (KVM returns -EINVAL)', describeValue(first));
    }
    const num = spec.numPages ?? slot.npages - first;
    if (!Number.isSafeInteger(num) || num < 0 || num > slot.npages - first || (num < slot.npages - first && num % 64 !== 0)) {
      throw new InvalidArgumentError('clear-dirty-log-range', `spec.numPages (num_pages) must stay inside the slot and be a multiple of 64 unless it reaches the end (first page ${first}; KVM returns -EINVAL)`, describeValue(num));
    }
    const want = spec.bitmap;
    if (want !== undefined && (typeof want !== 'object' || want === null || typeof (want as ArrayLike<unknown>).length !== 'number')) {
      throw new InvalidArgumentError('clear-dirty-log-bitmap', 'spec.bitmap must be an array-like of bits', describeValue(want));
    }
    this.syncDirtyLog(); // kvm_main.c:2367
    const out: Gpa[] = [];
    for (let w = first; w < first + num; w += 64) {
      const word: number[] = [];
      for (let i = w; i < Math.min(w + 64, first + num); i++) {
        if (want !== undefined && !want[i - first]) continue;
        if (bm[i] === 0) continue; // only bits that really were set are cleared and protected
        bm[i] = 0;
        word.push(i);
        out.push(mkGpa(BigInt(slot.baseGfn + i) << 12n));
      }
      this.enableLogDirtyMasked(slot, word);
    }
    // kvm_main.c:2391-2400 (kvm_clear_dirty_log_protect): one flush when any bit was cleared.
    if (out.length > 0) this.tdp.tlbFlush(-1, 'dirty log cleared');
    this.events.recordUnchecked({ kind: 'dirty_log', gpa: slot.base as bigint, outcome: `cleared ${out.length}` });
    this.afterOperation();
    return out;
  }

  // ---- VM-wide MMU operations ----

  /** `kvm->nr_memslots_dirty_logging != 0`. */
  anyDirtyLogging(): boolean {
    return this.memslots.some((s) => s.dirtyLogging);
  }

  /**
   * One pass of the NX huge page recovery thread (`mmu.c: kvm_recover_nx_huge_pages`): zap
   * ⌈nx_lpage_splits / ratio⌉ of the tables the NX huge page mitigation split, oldest first.
   * `ratio` defaults to the VM's `nxHugePagesRecoveryRatio`; 0 recovers nothing.
   */
  recoverNxHugePages(ratio: number = this.nxHugePagesRecoveryRatio): NxRecovery {
    const r = recoverNxHugePages(this, checkRecoveryRatio(ratio));
    this.afterOperation();
    return r;
  }

  /**
   * A write of the `nx_huge_pages` module parameter (`mmu.c: set_nx_huge_pages`, mmu.c:7338-7384)
   * as this VM sees it: true/false ('force'/'off'; 'auto' and 'never' depend on the host CPU and
   * on the VM list, which the model lacks). A change zaps everything with `kvm_mmu_zap_all_fast`
   * (mmu.c:7369-7381) — also in a VM with KVM_CAP_VM_DISABLE_NX_HUGE_PAGES, whose own mitigation
   * stays off (`is_nx_huge_page_enabled`). Returns whether the value changed.
   */
  setNxHugePages(on: boolean): boolean {
    if (typeof on !== 'boolean') throw new InvalidArgumentError('nx-huge-pages', 'on (nx_huge_pages) is written as a boolean (off/force)', describeValue(on));
    if (on === this.nxHugePagesParam) return false;
    this.nxHugePagesParam = on;
    this.spteConfig = Object.freeze({ ...this.spteConfig, nxHugePages: on && !this.nxHugePagesCapDisabled });
    this.events.recordUnchecked({ kind: 'zap', outcome: `nx_huge_pages=${on ? 1 : 0}` });
    this.zapAllFast();
    return true;
  }

  /** The `nx_huge_pages` module parameter as this VM last saw it. */
  get nxHugePages(): boolean {
    return this.nxHugePagesParam;
  }

  zapGfnRange(start: Gpa | bigint, end: Gpa | bigint): number {
    checkGpaRange(start, end);
    const a = Number(BigInt(start) >> 12n);
    const b = Number((BigInt(end) + 0xfffn) >> 12n);
    const n = this.tdp.zapLeafs(a, b) + this.shadow.zapGfnRange(a, b);
    this.afterOperation();
    return n;
  }

  /** Zap every leaf of a memslot's range (`kvm_mmu_zap_memslot` for the TDP MMU). */
  zapSlot(slot: Memslot): number {
    this.memslotIndex(slot);
    const n = this.tdp.zapLeafs(slot.baseGfn, slot.baseGfn + slot.npages, -1, `zap slot ${slot.name}`) + this.shadow.zapSlot(slot);
    this.afterOperation();
    return n;
  }

  /**
   * `kvm_mmu_zap_all` (`kvm_arch_flush_shadow_all`). `kvm_tdp_mmu_zap_all` (tdp_mmu.c:1013-1031)
   * zaps every direct and invalid root exclusively, without invalidating any: the roots stay valid
   * and loaded, empty, and the next access faults into them again. It flushes no TLB, because KVM
   * zaps everything only when the VM is being destroyed or its VMM exited, so no vCPU runs again
   * (tdp_mmu.c:1024-1026): a model that keeps running after `zapAll` keeps the vCPUs' cached
   * translations, as KVM would. A TD's mirror roots are left alone, because an S-EPT page cannot
   * be freed while the TD lives (tdx.c:1875); `destroy` tears a TD down.
   */
  zapAll(): void {
    this.tdp.zapRoots(KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS);
    this.shadow.zapAll();
    this.afterOperation();
  }

  /**
   * Tear the VM down (`kvm_destroy_vm`). For a TD, in KVM's order: closing the guest_memfd files
   * (they hold a reference to the VM, so this comes first) invalidates their private pages
   * (`kvm_gmem_release` → unmap with KVM_FILTER_PRIVATE: BLOCK, TRACK, PAGE.REMOVE while the HKID is
   * still assigned); `kvm_arch_pre_destroy_vm` → `tdx_mmu_release_hkid`; the vCPUs drop their roots;
   * `kvm_mmu_uninit_tdp_mmu` invalidates and zaps every root, which now frees the S-EPT pages
   * (free_external_spt, legal without an HKID). The VM must not be used afterwards.
   */
  destroy(): void {
    if (this.td !== undefined) {
      for (const s of this.memslots) if (s.guestMemfd) this.tdp.zapLeafs(s.baseGfn, s.baseGfn + s.npages, -1, `guest_memfd release ${s.name}`, filterToRootTypes(true, 'private') | KVM_INVALID_ROOTS);
      this.td.sept.releaseHkid();
    }
    for (const v of this.vcpus) v.unload();
    this.tdp.invalidateAllRoots(KVM_VALID_ROOTS, false); // kvm_mmu_uninit_tdp_mmu: exclusive zap
    this.shadow.zapAll();
    this.afterOperation();
  }

  /** `kvm_mmu_zap_all_fast`: new MMU generation; every existing shadow page becomes obsolete. */
  zapAllFast(): number {
    // "External page tables don't support fast zapping": a TD invalidates its direct roots only.
    this.tdp.invalidateAllRoots(this.td !== undefined ? KVM_DIRECT_ROOTS : KVM_VALID_ROOTS);
    const n = this.shadow.zapAllFast();
    this.afterOperation();
    return n;
  }

  /**
   * `kvm_unmap_gfn_range` with an attribute filter (`kvm_tdp_mmu_unmap_gfn_range`): host MMU
   * notifiers pass 'shared', guest_memfd invalidation 'private'. Roots: the filter's kinds plus
   * invalid roots; a VM without mirrored TDP has direct roots only. Returns the leaves zapped.
   */
  unmapGfnRange(start: Gpa | bigint, end: Gpa | bigint, filter: GfnRangeFilter = 'shared'): number {
    if (filter !== 'private' && filter !== 'shared' && filter !== 'both') throw new InvalidArgumentError('gfn-range-filter', 'the attribute filter is private, shared or both', String(filter));
    checkGpaRange(start, end);
    const a = Number(BigInt(start) >> 12n);
    const b = Number((BigInt(end) + 0xfffn) >> 12n);
    const types = filterToRootTypes(this.td !== undefined, filter) | KVM_INVALID_ROOTS;
    // mmu.c: kvm_unmap_gfn_range zaps the rmaps (shadow MMU, guest_mmu) whatever the filter.
    const n = this.shadow.zapGfnRange(a, b) + this.tdp.zapLeafs(a, b, -1, `unmap (${filter})`, types);
    this.afterOperation();
    return n;
  }

  /**
   * MMU-notifier aging over a GPA range (`kvm_age_gfn`): how many mappings were young (aged now),
   * TDP MMU and rmaps (shadow MMU, guest_mmu) both.
   */
  age(start: Gpa | bigint, end: Gpa | bigint): number {
    checkGpaRange(start, end);
    const a = Number(BigInt(start) >> 12n);
    const b = Number((BigInt(end) + 0xfffn) >> 12n);
    const n = this.tdp.ageRange(a, b) + this.shadow.ageRange(a, b);
    this.afterOperation();
    return n;
  }

  /** `kvm_test_age_gfn`: is any mapping of the range young? Nothing changes. */
  testAge(start: Gpa | bigint, end: Gpa | bigint): boolean {
    checkGpaRange(start, end);
    const a = Number(BigInt(start) >> 12n);
    const b = Number((BigInt(end) + 0xfffn) >> 12n);
    for (let g = a; g < b; g++) if (this.tdp.testAge(g)) return true;
    return this.shadow.ageRange(a, b, true) > 0;
  }

  /** A new vCPU; registers default to the reset state (paging off). */
  /**
   * `kvm_flush_remote_tlbs` reached the vCPUs: KVM_REQ_TLB_FLUSH on each (kvm_main.c:309), served
   * by `kvm_vcpu_flush_tlb_all` before the next entry (x86.c:10860, 3627).
   */
  flushRemoteTlbs(): void {
    for (const v of this.vcpus) v.flushTlbAll();
  }

  createVcpu(regs: Partial<PagingRegisters> = {}): Vcpu {
    this.life.check('KVM_CREATE_VCPU', -1);
    const v = new Vcpu(this, this.vcpus.length, regs);
    this.vcpus.push(v);
    return v;
  }

  /** Why the VM died (`kvm_vm_dead` / `kvm_vm_bugged`), or undefined while it lives. */
  get dead(): VmDeath | undefined {
    return this.life.death;
  }

  /** `kvm->vm_bugged`: the reason of the KVM_BUG_ON that fired, or undefined. */
  get bugged(): string | undefined {
    const d = this.life.death;
    return d?.bugged === true ? d.reason : undefined;
  }

  /** Ioctls refused with -EIO (VmDeadError / VmBugged) since the VM died. */
  get deadRefusals(): number {
    return this.life.refused;
  }

  /** `kvm_vm_dead` (kvm_host.h:899-903). */
  kvmVmDead(reason: string, vcpu = -1): void {
    checkDeathArgs('reason', reason, vcpu);
    this.life.kill(false, reason, vcpu);
    if (this.td !== undefined) this.td.dead = true;
  }

  /** A KVM_BUG_ON that fired: `kvm_vm_bugged` (kvm_host.h:905-909), which also kills the VM. */
  kvmBugOn(reason: string, vcpu = -1): void {
    checkDeathArgs('reason', reason, vcpu);
    this.life.kill(true, reason, vcpu);
    if (this.td !== undefined) this.td.dead = true;
  }

  /** The -EIO check at the top of kvm_vm_ioctl / kvm_vcpu_ioctl (kvm_main.c:5137, 4409). */
  checkAlive(op: string, vcpu = -1): void {
    checkDeathArgs('op', op, vcpu);
    this.life.check(op, vcpu);
  }

  /** @internal checkAlive without the argument checks: for the vCPU's ioctls, whose op is a literal and vcpu its own index. */
  checkAliveUnchecked(op: string, vcpu: number): void {
    this.life.check(op, vcpu);
  }

  /** Invariants after an operation, in checking mode. */
  afterOperation(): void {
    if (!this.checking) return;
    this.tdp.checkInvariants(this.shadow.leafCounts());
    checkShadowInvariantsUnchecked(this.shadow);
    if (this.td !== undefined) {
      const loaded = this.vcpus.map((v) => v.loadedRootPfn).filter((p): p is number => p !== undefined);
      checkTdxInvariants(this.td, this.tdp, loaded, (g) => this.slotOfGfn(g));
    }
  }

  /**
   * KVM_SET_MEMORY_ATTRIBUTES for a TD: convert [start, end) (natural GPAs) to private or shared,
   * zapping the other alias. Returns the leaves zapped.
   */
  setMemoryAttributes(start: Gpa | bigint, end: Gpa | bigint, attr: MemoryAttribute): number {
    this.life.check('KVM_SET_MEMORY_ATTRIBUTES', -1);
    // KVM_MEMORY_ATTRIBUTE_PRIVATE is supported only with private memory (kvm_main.c:2422, 2603-2604).
    if (this.memAttributes === undefined) throw new InvalidArgumentError('mem-attr-no-private-mem', 'only a VM with private memory (type tdx or sw-protected) has memory attributes', this.vmType);
    checkGpaRange(start, end, false); // types only: the order is mem-attr-range's rule
    let n: number;
    if (this.td !== undefined) n = this.td.setMemoryAttributes(this.tdp, BigInt(start), BigInt(end), attr);
    else {
      const c = checkAttributeRange(BigInt(start), BigInt(end), attr);
      const r = applyAttributeChange(this.tdp, this.memAttributes, false, c);
      this.events.recordUnchecked({ kind: 'mem_attr', gpa: BigInt(start), outcome: `${hex(BigInt(start))}..${hex(BigInt(end))} → ${attr}: ${r.changed} gfns changed, ${r.zapped} leaves zapped in ${rootTypesText(r.types)} roots` });
      n = r.zapped;
    }
    this.afterOperation();
    return n;
  }

  /**
   * KVM_TDX_INIT_MEM_REGION (`tdx_vcpu_init_mem_region`, tdx.c:3223-3290) on `vcpu`: for each 4K
   * page, map the mirror (`kvm_tdp_map_page`; the S-EPT hook only counts it as premapped) and
   * TDH.MEM.PAGE.ADD the guest_memfd page (`tdx_gmem_post_populate`), so the page is usable
   * without the guest accepting it; `measure` = KVM_TDX_MEASURE_MEMORY_REGION (TDH.MR.EXTEND).
   * Validated for the whole range first (KVM stops at the first bad page, keeping earlier ones).
   */
  tdInitMemRegion(vcpu: Vcpu, gpa: Gpa | bigint, npages: number, opts: { measure?: boolean } = {}): void {
    this.life.check('KVM_TDX_INIT_MEM_REGION', -1);
    const td = this.td;
    if (td === undefined) throw new InvalidArgumentError('td-only', 'KVM_TDX_INIT_MEM_REGION exists for TDs only', this.vmType);
    if (!this.vcpus.includes(vcpu)) throw new InvalidArgumentError('vcpu-unknown', 'vcpu is not a vCPU of this VM', describeValue(vcpu));
    const a = checkBigint('gpa', gpa);
    checkInt('npages', npages, { min: 1, max: 2 ** 40 });
    optBool('opts.measure', optObject<{ measure?: boolean }>('opts', opts).measure, false);
    if (td.state === 'runnable') throw new InvalidArgumentError('td-finalized', 'KVM_TDX_INIT_MEM_REGION after KVM_TDX_FINALIZE_VM: the initial memory is fixed (tdx.c:3239)', hex(a));
    if ((a & 0xfffn) !== 0n || !Number.isInteger(npages) || npages <= 0) {
      throw new MisalignedError('td-init-mem-region', 'KVM_TDX_INIT_MEM_REGION takes a page-aligned GPA and a positive page count (tdx.c:3246-3248)', `${hex(a)}+${npages}`);
    }
    const end = a + BigInt(npages) * 4096n;
    if (end > td.config.gpaSharedMask) throw new GpaOutsideMemoryError('td-init-mem-region-shared', `the range must be private GPAs, below the shared bit ${td.config.sharedBit} (tdx.c:3249-3251)`, hex(end - 1n));
    const first = Number(a >> 12n);
    for (let g = first; g < first + npages; g++) {
      const slot = this.slotOfGfn(g);
      // kvm_gmem_populate: a guest_memfd slot (guest_memfd.c:656-657), a private gfn (:696-700), not yet populated (:684-689).
      if (slot === undefined || !slot.guestMemfd) throw new InvalidArgumentError('td-init-mem-region-gmem', 'KVM_TDX_INIT_MEM_REGION needs guest_memfd-backed memory (guest_memfd.c:656-657)', hex(BigInt(g) << 12n));
      if (!td.attributes.isPrivateUnchecked(g)) throw new InvalidArgumentError('td-init-mem-region-shared-attr', 'KVM_TDX_INIT_MEM_REGION needs gfns whose attribute is private (guest_memfd.c:696-700)', hex(BigInt(g) << 12n));
      if (td.sept.lookup(g)?.leaf === true) throw new InvalidArgumentError('td-init-mem-region-populated', 'the page was already populated (-EEXIST, guest_memfd.c:684-689)', hex(BigInt(g) << 12n));
    }
    for (let g = first; g < first + npages; g++) {
      vcpu.tdpMapPrivate(BigInt(g) << 12n);
      td.sept.pageAdd(g, memslotPrivatePfn(this.slotOfGfn(g)!, g), opts.measure ?? false, vcpu.index);
    }
    this.afterOperation();
  }

  /** KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE; the TD becomes runnable (its vCPUs may run). */
  tdFinalize(): void {
    this.life.check('KVM_TDX_FINALIZE_VM', -1);
    if (this.td === undefined) throw new InvalidArgumentError('td-only', 'KVM_TDX_FINALIZE_VM exists for TDs only', this.vmType);
    this.td.finalize();
    this.afterOperation();
  }

  statsTable(): ReturnType<typeof countersTable> {
    const scopes: Record<string, Record<string, number>> = { vm: this.stats.snapshot() };
    for (const v of this.vcpus) scopes[`vcpu${v.index}`] = v.stats.snapshot();
    return countersTable(scopes);
  }

  eventsTable(): ReturnType<typeof eventsTable> {
    return eventsTable(this.events);
  }
}
