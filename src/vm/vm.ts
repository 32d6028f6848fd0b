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
import { TdpMmu, type NxRecovery, type TdpVmContext } from '../tdp/tdp-mmu';
import { HostMemory } from './host-memory';
import { makeLpageInfo, type Memslot } from './memslot';
import { Vcpu } from './vcpu';
import { ShadowMmu } from '../shadow/shadow-mmu';
import { mmuTryToUnsyncPages } from '../shadow/unsync';
import { checkShadowInvariants } from '../shadow/shadow-invariants';
import { ImpossibleConfigurationError, makeTdConfig } from '../tdx/td-config';
import { Td, type MemoryAttribute } from '../tdx/td';
import { checkTdxInvariants } from '../tdx/tdx-invariants';
import { KVM_DIRECT_ROOTS, KVM_INVALID_ROOTS, KVM_VALID_ROOTS, filterToRootTypes, type GfnRangeFilter } from '../tdp/root-types';
import type { ExternalPageTableHooks } from '../tdp/external-hooks';

export interface VmOptions {
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
  /** KVM_X86_TDX_VM: a TD (EPT and the TDP MMU only; mirror roots reflected into the S-EPT). */
  type?: 'default' | 'tdx';
  /** A TD's guest physical address width: 48 (shared bit 47, 4-level) or 52 (bit 51, 5-level). Default 48. */
  gpaw?: number;
  /**
   * KVM_CAP_VM_DISABLE_NX_HUGE_PAGES (x86.c: kvm_vm_ioctl_enable_cap): this VM ignores the
   * `spte.nxHugePages` mitigation. KVM accepts the cap only before the first vCPU, so it is an
   * option of the VM here.
   */
  disableNxHugePages?: boolean;
  /** The `nx_huge_pages_recovery_ratio` module parameter `recoverNxHugePages` uses. Default 60 (mmu.c:70). */
  nxHugePagesRecoveryRatio?: number;
}

/** `nx_huge_pages_recovery_ratio` is a uint module parameter. */
function checkRecoveryRatio(ratio: unknown): number {
  if (typeof ratio !== 'number' || !Number.isInteger(ratio) || ratio < 0 || ratio > 0xffff_ffff) {
    throw new InvalidArgumentError('nx-recovery-ratio', 'nx_huge_pages_recovery_ratio is an unsigned 32-bit integer (0 disables recovery)', String(ratio));
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
}

export class Vm implements TdpVmContext {
  readonly config: SpteConfig;
  readonly features: Readonly<CpuFeatures>;
  readonly host: HostMemory;
  /** Guest-physical memory contents (L1's GPA space). */
  readonly guestMem: GuestMemory;
  readonly memslots: Memslot[] = [];
  readonly stats = new Counters<VmStatName>(VM_STAT_NAMES);
  readonly events = new EventLog();
  readonly tdp: TdpMmu;
  readonly vcpus: Vcpu[] = [];
  /** `tdp_enabled`: false = shadow paging. */
  readonly tdpEnabled: boolean;
  /** The shadow MMU: shadow paging without TDP, and guest_mmu (nested EPT) with it. */
  readonly shadow: ShadowMmu;
  checking: boolean;
  mmioGeneration = 0;
  /** The TDX state of a TD (undefined for other VM types). */
  readonly td: Td | undefined;
  /** TdpVmContext: the S-EPT hooks of a TD. */
  readonly external: ExternalPageTableHooks | undefined;
  /** TdpVmContext: `kvm_gfn_direct_bits` (0 unless a TD). */
  readonly gfnDirectBits: number;
  private nextSlotId = 0;
  /** The `nx_huge_pages_recovery_ratio` module parameter, as this VM sees it. */
  nxHugePagesRecoveryRatio: number;

  constructor(opts: VmOptions = {}) {
    if (opts.type !== undefined && opts.type !== 'default' && opts.type !== 'tdx') throw new InvalidArgumentError('vm-type', 'the VM type is default or tdx', String(opts.type));
    if (opts.disableNxHugePages !== undefined && typeof opts.disableNxHugePages !== 'boolean') throw new InvalidArgumentError('disable-nx-huge-pages', 'disableNxHugePages is a boolean', String(opts.disableNxHugePages));
    const ratio = checkRecoveryRatio(opts.nxHugePagesRecoveryRatio ?? 60);
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
    this.config = config;
    this.features = Object.freeze({ ...features });
    this.host = new HostMemory(config.hostMaxPhyAddr);
    this.guestMem = new GuestMemory({ maxPhyAddr: features.maxPhyAddr });
    this.checking = opts.checkInvariants ?? false;
    this.tdp = new TdpMmu(this);
    this.tdpEnabled = tdpEnabled;
    this.shadow = new ShadowMmu(this, opts.maxMmuPages);
    this.td = tdOpts === undefined ? undefined : new Td(makeTdConfig(tdOpts.gpaw), this.host, this.events);
    this.external = this.td?.sept;
    this.gfnDirectBits = this.td?.config.gfnDirectBits ?? 0;
    this.nxHugePagesRecoveryRatio = ratio;
  }

  // ---- memslots ----

  addMemslot(spec: MemslotSpec): Memslot {
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
    const hostLevel = { '4K': 1, '2M': 2, '1G': 3 }[spec.hostPageSize ?? '2M'];
    if (hostLevel === undefined) throw new InvalidArgumentError('host-page-size', 'host page size is 4K, 2M or 1G', String(spec.hostPageSize));
    const pfnBase = this.host.allocRam(baseGfn, npages); // may throw; nothing changed yet
    const id = this.nextSlotId++;
    const name = spec.name ?? `slot${id}`;
    this.guestMem.addSlot({ base: mkGpa(base), size, readonly: spec.readonly ?? false, name });
    const slot: Memslot = {
      id, name, base: mkGpa(base), baseGfn, npages, readonly: spec.readonly ?? false, pfnBase, hostLevel,
      dirtyLogging: false, dirtyBitmap: undefined, lpageDisallow: makeLpageInfo(baseGfn, npages),
    };
    this.memslots.push(slot);
    this.memslots.sort((a, b) => a.baseGfn - b.baseGfn);
    // A memslot change bumps the generation: every cached MMIO SPTE becomes stale.
    this.mmioGeneration++;
    return slot;
  }

  /** Delete a memslot: KVM's default is the fast zap-all (invalidate every TDP root). */
  deleteMemslot(slot: Memslot): void {
    const i = this.memslots.indexOf(slot);
    if (i < 0) throw new InvalidArgumentError('memslot-unknown', 'this memslot does not belong to this VM', slot.name);
    // Non-default VMs zap only the slot, both aliases (kvm_mmu_zap_memslot, PRIVATE|SHARED): the
    // S-EPT cannot be fast-zapped.
    if (this.td !== undefined) this.tdp.zapLeafs(slot.baseGfn, slot.baseGfn + slot.npages, -1, `delete slot ${slot.name}`, KVM_VALID_ROOTS);
    else this.tdp.invalidateAllRoots();
    this.shadow.zapAllFast();
    this.memslots.splice(i, 1);
    const gs = this.guestMem.slots.find((s) => s.baseGfn === slot.baseGfn)!;
    this.guestMem.removeSlot(gs);
    this.mmioGeneration++;
    this.afterOperation();
  }

  slotOfGfn(gfn: number): Memslot | undefined {
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
    return this.shadow.isWriteTracked(gfn);
  }

  /** `mmu_try_to_unsync_pages` for make_spte: true = the new SPTE must stay read-only. */
  mmuTryToUnsyncPages(gfn: number, synchronizing: boolean, prefetch: boolean): boolean {
    return mmuTryToUnsyncPages(this.shadow, gfn, synchronizing, prefetch, -1);
  }

  /** `kvm_tdp_mmu_write_protect_gfn` (account_shadowed with nested TDP). */
  tdpWriteProtectGfn(gfn: number): boolean {
    return this.tdp.writeProtectGfn(gfn);
  }

  markDirty(slot: Memslot, gfn: number): void {
    if (slot.dirtyBitmap !== undefined) slot.dirtyBitmap[gfn - slot.baseGfn] = 1;
  }

  // ---- dirty logging (§9.7; without PML: write protection) ----

  /**
   * Enable or disable dirty logging on a memslot (`kvm_mmu_slot_apply_flags`). Huge pages are
   * split eagerly by default, as KVM's `eager_page_split` module parameter (default on) does;
   * `eagerSplit: false` leaves them to be split by the first write fault instead.
   */
  setDirtyLogging(slot: Memslot, on: boolean, opts: { eagerSplit?: boolean } = {}): void {
    if (slot.readonly && on) throw new InvalidArgumentError('dirty-log-readonly', 'a read-only memslot cannot log dirty pages', slot.name);
    if (on === slot.dirtyLogging) return;
    slot.dirtyLogging = on;
    if (on) {
      slot.dirtyBitmap = new Uint8Array(slot.npages);
      const [a, b] = [slot.baseGfn, slot.baseGfn + slot.npages];
      if (opts.eagerSplit ?? true) this.tdp.splitRange(a, b);
      if (this.config.pml) {
        // kvm_mmu_slot_apply_flags with PML: clear D on 4K leaves, write-protect huge ones.
        this.tdp.clearDirtyRange(a, b);
        this.tdp.wrprotHugeRange(a, b);
      } else {
        this.tdp.wrprotRange(a, b);
      }
      this.shadow.wrprotRange(a, b);
      // x86.c:13297 (kvm_mmu_slot_apply_flags): one unconditional flush after enabling dirty logging.
      this.tdp.tlbFlush(-1, 'enable dirty logging');
    } else {
      slot.dirtyBitmap = undefined;
      // kvm_mmu_slot_apply_flags → kvm_mmu_recover_huge_pages (TDP MMU part).
      this.tdp.recoverHugePages(slot);
    }
    this.events.record({ kind: 'dirty_log', gpa: slot.base as bigint, outcome: on ? 'enabled' : 'disabled' });
    this.afterOperation();
  }

  /** KVM_GET_DIRTY_LOG (+ clear): the dirty GPAs since the last call; they are write-protected again. */
  getDirtyLog(slot: Memslot): Gpa[] {
    if (slot.dirtyBitmap === undefined) throw new InvalidArgumentError('dirty-log-off', 'dirty logging is not enabled on this memslot', slot.name);
    const out: Gpa[] = [];
    const bm = slot.dirtyBitmap;
    for (let i = 0; i < bm.length; i++) {
      if (bm[i] === 0) continue;
      bm[i] = 0;
      out.push(mkGpa(BigInt(slot.baseGfn + i) << 12n));
      // kvm_tdp_mmu_clear_dirty_pt_masked: D with PML, else W.
      if (this.config.pml) this.tdp.clearDirtyRange(slot.baseGfn + i, slot.baseGfn + i + 1);
      else this.tdp.wrprotRange(slot.baseGfn + i, slot.baseGfn + i + 1);
      this.shadow.wrprotRange(slot.baseGfn + i, slot.baseGfn + i + 1);
    }
    // kvm_main.c:2271,2282-2283 (kvm_get_dirty_log_protect): one flush when any dirty bit was reaped.
    if (out.length > 0) this.tdp.tlbFlush(-1, 'dirty log harvested');
    this.events.record({ kind: 'dirty_log', gpa: slot.base as bigint, outcome: `harvested ${out.length}` });
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
    const r = this.tdp.recoverNxHugePages(checkRecoveryRatio(ratio));
    this.afterOperation();
    return r;
  }

  zapGfnRange(start: Gpa | bigint, end: Gpa | bigint): number {
    const a = Number(BigInt(start) >> 12n);
    const b = Number((BigInt(end) + 0xfffn) >> 12n);
    const n = this.tdp.zapLeafs(a, b) + this.shadow.zapGfnRange(a, b);
    this.afterOperation();
    return n;
  }

  /** Zap every leaf of a memslot's range (`kvm_mmu_zap_memslot` for the TDP MMU). */
  zapSlot(slot: Memslot): number {
    const n = this.tdp.zapLeafs(slot.baseGfn, slot.baseGfn + slot.npages, -1, `zap slot ${slot.name}`) + this.shadow.zapSlot(slot);
    this.afterOperation();
    return n;
  }

  zapAll(): void {
    this.tdp.invalidateAllRoots();
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
    const a = Number(BigInt(start) >> 12n);
    const b = Number((BigInt(end) + 0xfffn) >> 12n);
    const types = filterToRootTypes(this.td !== undefined, filter) | KVM_INVALID_ROOTS;
    const n = this.tdp.zapLeafs(a, b, -1, `unmap (${filter})`, types);
    this.afterOperation();
    return n;
  }

  /** MMU-notifier aging over a GPA range: how many mappings were young (A cleared). */
  age(start: Gpa | bigint, end: Gpa | bigint): number {
    const n = this.tdp.ageRange(Number(BigInt(start) >> 12n), Number((BigInt(end) + 0xfffn) >> 12n));
    this.afterOperation();
    return n;
  }

  /** A new vCPU; registers default to the reset state (paging off). */
  createVcpu(regs: Partial<PagingRegisters> = {}): Vcpu {
    const v = new Vcpu(this, this.vcpus.length, regs);
    this.vcpus.push(v);
    return v;
  }

  /** Invariants after an operation, in checking mode. */
  afterOperation(): void {
    if (!this.checking) return;
    this.tdp.checkInvariants(this.shadow.leafCounts());
    checkShadowInvariants(this.shadow);
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
    if (this.td === undefined) throw new InvalidArgumentError('mem-attr-not-td', 'only a TD (type tdx) has private memory attributes in this model', 'default');
    const n = this.td.setMemoryAttributes(this.tdp, BigInt(start), BigInt(end), attr);
    this.afterOperation();
    return n;
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
