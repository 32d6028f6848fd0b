/**
 * A vCPU: per-vCPU state — registers, cpu_role, the gva walker, its MMUs, statistics and the MMIO
 * cache. As in KVM 7.3 (reference kvm-7x.md §4.2) it holds `mmu`, the MMU that serves the running
 * guest (`root_mmu`, or `guest_mmu` while L2 runs on nested EPT/NPT), and `access()` calls
 * through it. The TDP root_mmu lives here: the hardware 2D walk (guest tables, each table GPA and
 * the final GPA through the TDP tables), an EPT violation / misconfiguration / NPF exit when the
 * TDP walk fails, KVM's `kvm_mmu_page_fault` and its RET_PF_* outcome, and the retry.
 */
import { registerWriteEffects } from './register-write';
import { type Gfn, type Gva, type Gpa, type Hpa, gva as mkGva, hpa as mkHpa } from '../address/address';
import type { PagingRegisters } from '../cpu/registers';
import { InvalidRegisterStateError, hex } from '../errors';
import { PFERR } from '../format/acc';
import { Counters, VCPU_STAT_NAMES, VM_STAT_NAMES, counterSlot, type VcpuStatName } from '../events/stats';
import type { CpuRole } from '../role/cpu-role';
import { PageRole } from '../role/page-role';
import { GvaWalker } from '../walker/gva-walker';
import { encodeAccess, type Access } from '../walker/access';
import { walkTables, type WalkInputs } from '../walker/walk';
import { WalkScratch, WalkStop } from '../walker/walk-scratch';
import type { WalkOk } from '../walker/walk-result';
import { isMmioSpte, isRsvdSpte, isShadowPresent, mmioGenerationMatches } from '../spte/spte';
import { newPageFault } from '../tdp/page-fault';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { RET_PF, RET_PF_NAMES, type RetPf } from '../tdp/ret-pf';
import type { TdpPage } from '../tdp/tdp-page';
import { memslotPfn } from './memslot';
import { ept73Exit, hardwareEptExit, hardwareNpfExit, type TdpExit } from './exit';
import { NPF_GUEST_PAGE } from '../nested/npf-error-code';
import { guestLinearBits } from '../nested/exit-qualification';
import { walkedEptRights } from '../nested/walked-ept-rights';
import type { AccessResult, ExitRecord } from './access-result';
import type { VcpuVm } from './vcpu-vm';
import type { KvmMmu } from './kvm-mmu';
import type { NgpaWalker } from '../nested/ngpa-walker';
import type { NestedExit } from '../nested/nested-exit';
import { checkSvmCrIntercepts, checkVmxCrIntercepts, l2CrWriteExitUnchecked, type CheckedCrIntercepts, type L2CrExit, type SvmCrIntercepts, type VmxCrIntercepts } from '../nested/l2-cr-intercept';
import { CR0_PDPTR_BITS, CR3_PCID_MASK, CR4, CR4_PDPTR_BITS, CR0 } from '../cpu/registers';

const CR0_PG = CR0.PG;
import { gpa as mkGpa } from '../address/address';
import { InvalidArgumentError } from '../errors';
import { checkAddressArg, checkInveptArgs, checkInvpcidAddress, checkNestedEntry, checkStoreArgs, checkTdpExit, checkUserArg, checkVcpuArgs } from './vcpu-args';
import { checkString } from '../validate/checks';
import { checkRegisterTypes } from '../cpu/check-registers';
import { ShadowVcpu } from '../shadow/shadow-vcpu';
import { NestedEptMmu, type NestedEptEntry } from '../shadow/guest-mmu';
import { NestedNptMmu, type NestedNptEntry } from '../shadow/guest-mmu-npt';
import { kvmMmuTrackWriteUnchecked } from '../shadow/track-write';
import { tdxPageFault } from '../tdx/tdx-page-fault';
import { isGfnAlias } from '../tdx/td-config';
import { KVM_EFAULT, KVM_EIO, type MemoryFaultExit } from '../tdx/memory-fault';
import { PFERR_PRIVATE_ACCESS, faultinPrivate } from '../tdx/private-fault';
import { pendingPageAccess, tdgMemPageAccept, type AcceptResult } from '../tdx/td-accept';
import { DirtyRing, dirtyRingEntryCheck } from './dirty-ring';
import {
  checkL1Intercepts, cr3LoadExit, invlpgExit, isPageFaultVmexit, pageFaultExit, type InvlpgExit, type L1Intercepts,
} from '../nested/l1-intercept';
import { Tlb, checkInvpcid, type TlbHitLevel, type TlbTag } from '../tlb/tlb';
import { accessCostUnchecked, kvmHandlingCycles, type AccessCost } from '../cost/cost-model';
import { HitAddresses, NO_EXITS, NO_STEPS, PAGE_BYTES, isCanonicalFast, vpnOfHalves, rightsPermit, tlbFill, tlbHitResult, tlbPermits, tlbTag, vcpuVpid, vcpuVpid02, walkRefs } from './vcpu-tlb';
import { nestedMiss, shadowMiss } from './vcpu-tlb-shadow';

/**
 * The access objects of `read`/`write`/`fetch` (supervisor, user): frozen, one per kind and mode
 * for every call rather than a literal per call (a result keeps its access object, which no
 * caller can then change for another). The pairs holding them are module-private and not frozen:
 * V8 compiles an element load from a frozen array as a generic keyed-load call (~6 ns, twice per
 * access), from a plain one as an inline load; `as const` keeps them read-only to the compiler.
 */
const KIND_ACCESS = Object.freeze({
  read: [Object.freeze({ kind: 'read', user: false }), Object.freeze({ kind: 'read', user: true })] as const,
  write: [Object.freeze({ kind: 'write', user: false }), Object.freeze({ kind: 'write', user: true })] as const,
  fetch: [Object.freeze({ kind: 'fetch', user: false }), Object.freeze({ kind: 'fetch', user: true })] as const,
});
/** `encodeAccess` of each KIND_ACCESS object: read/write/fetch pass valid access objects, so they skip its checks. */
const KIND_ENC = Object.freeze({
  read: [encodeAccess(KIND_ACCESS.read[0]), encodeAccess(KIND_ACCESS.read[1])] as const,
  write: [encodeAccess(KIND_ACCESS.write[0]), encodeAccess(KIND_ACCESS.write[1])] as const,
  fetch: [encodeAccess(KIND_ACCESS.fetch[0]), encodeAccess(KIND_ACCESS.fetch[1])] as const,
});

/**
 * What a register write did: the role and root changes (`setRegisters`), and for an L2 on guest_mmu
 * the exits to L0 of a PAE L2's MOV to CR3 under EPT (its PDPTE load through EPT02), present only
 * when there were some, and the nested VM exit when L0 reflected one to L1 (the MOV did not
 * complete; the vCPU is back in L1). `l1Exit`: L1 intercepted the write itself (CR_ACCESS under
 * VMX, SVM_EXIT_WRITE_CRn / CR0_SEL_WRITE under SVM; l2-cr-intercept.ts): nothing was written
 * and the vCPU is back in L1.
 */
export interface RegisterWriteResult {
  roleChanged: boolean;
  rootChanged: boolean;
  exits?: ExitRecord[];
  nestedExit?: NestedExit;
  l1Exit?: L2CrExit;
}

/** A nested EPT entry with vmcs12's CR write controls (default: none intercepted). */
export type NestedEptEntryWithIntercepts = NestedEptEntry & { intercepts?: VmxCrIntercepts };
/** A nested NPT entry (VMRUN) with vmcb12's CR write intercepts (default: none). */
export type NestedNptEntryWithIntercepts = NestedNptEntry & { intercepts?: SvmCrIntercepts };

/** Exits after which an access that still has not completed is a model bug (no progress). */
const MAX_ATTEMPTS = 8;
const GUEST_ACCESSES = counterSlot(VCPU_STAT_NAMES, 'guest_accesses');
const REMOTE_TLB_FLUSH = counterSlot(VM_STAT_NAMES, 'remote_tlb_flush');

/** `Vcpu.hitCtx`: what the TLB-hit path in `accessChecked` decides on and reads (see there). */
interface HitContext {
  readonly root: TdpPage;
  readonly role: PageRole;
  readonly regs: PagingRegisters;
  readonly tag: TlbTag;
  readonly tlb: Tlb;
  /** The walker's `baseLevel`. */
  readonly level: number;
  /** The walker's format's `permissions[]` (undefined: paging off), PKRU mask and PKRU: `rightsPermit`'s inputs. */
  readonly perms: Uint16Array | undefined;
  readonly pkruMask: number;
  readonly pkru: number;
  /** The priced L1 hit (`hitCostOf('l1')`). */
  readonly cost: Readonly<AccessCost>;
}

/** Entries of the PML buffer page (vmx.h:275 `PML_LOG_NR_ENTRIES`). */
const PML_LOG_NR_ENTRIES = 512;

export class Vcpu {
  readonly vm: VcpuVm;
  readonly index: number;
  readonly stats = new Counters<VcpuStatName>(VCPU_STAT_NAMES);
  /** `vcpu->dirty_ring` when the VM enabled KVM_CAP_DIRTY_LOG_RING before creating it (kvm_main.c:4199-4201). */
  readonly dirtyRing: DirtyRing | undefined;
  private regsValue: PagingRegisters;
  private walkerValue: GvaWalker;
  /** `root_mmu.root_role` for TDP (`kvm_calc_tdp_mmu_root_page_role`). */
  private rootRoleValue: PageRole;
  private root: TdpPage | null = null;
  /** The vCPU's last-MMIO cache (`vcpu->arch.mmio_gfn` + generation). */
  private mmioCache: { gfn: number; gen: number } | undefined;
  private readonly tdpScratch = new WalkScratch();
  private tdpInputs: WalkInputs | undefined;
  private pendingExit: TdpExit | undefined;
  /** PML buffer entries used since the last VM exit, and the `exits` count they were logged at. */
  private pmlLogged = 0;
  private pmlExitsSeen = -1;
  /** TD: the walk stopped at a PENDING private page (its natural gfn), not at a missing entry. */
  private pendingPageGfn = -1;
  private curFinalAccess = 0;
  private curTableAccess = 0;
  private curGva = 0n;
  /** Memory references of the current attempt's 2D walk (see secondStage). */
  private attemptRefs = 0;
  private finalPfn = 0;
  private readonly stage = (gfn: number, final: boolean, entryOffset?: number): number => this.secondStage(gfn, final, entryOffset);
  /** The byte offset of the guest entry the current table access is for (secondStage's third argument, adWrite's second). */
  private curEntryOffset = 0;
  /**
   * EPT with A/D off: the CPU reads guest entries, then writes A/D as a separate write through
   * EPT (kvm-unit-tests x86/vmx_tests.c:3287-3292), which a write-protected SPTE turns into an
   * EPT violation — dirty logging then marks the page-table page dirty (`fast_pf_fix_direct_spte`,
   * mmu.c:3544). The violation reports the written entry's own GPA (makeExit).
   */
  private readonly adWrite = (gfn: number, entryOffset: number): boolean => {
    this.curEntryOffset = entryOffset;
    return this.tdpWalk(gfn, false, PFERR.WRITE) >= 0;
  };
  /** Whether CR3 was ever loaded: an access with paging on before that is an error. */
  private cr3Loaded: boolean;
  /** Shadow paging (VM without TDP): the vCPU's root_mmu. */
  private shadowVcpu: ShadowVcpu | undefined;
  /** Nested EPT: guest_mmu, active while L2 runs. */
  private nestedEpt: NestedEptMmu | undefined;
  /** Nested NPT: guest_mmu shadowing NPT12, active while L2 runs. */
  private nestedNptMmu: NestedNptMmu | undefined;
  /** The CR3 write in progress had PCID no-flush (bit 63). */
  private noFlush = false;
  /** TD: `mirror_root_hpa` (never loaded into hardware). */
  private mirrorRoot: TdpPage | null = null;
  /** TD: the CPU's walk of private GPAs, through the S-EPT the TDX module owns. */
  private septInputs: WalkInputs | undefined;
  /** root_mmu with TDP: the TDP MMU path of this class. */
  private readonly tdpRootMmu: KvmMmu;
  /** `vcpu->arch.mmu`. */
  private mmuValue: KvmMmu;
  /** L2 runs on root_mmu (L1 shadows L2 itself): L1's registers, restored by the nested exit. */
  private l1State: { regs: PagingRegisters; cr3Loaded: boolean; intercepts: Readonly<Required<L1Intercepts>> } | undefined;
  /** The hardware TLB of this vCPU (undefined: the TLB model is off). */
  private readonly tlbModel: Tlb | undefined;
  /** The root the TLB last saw loaded (a newly loaded one is flushed: kvm_mmu_load, mmu.c:5919). */
  private tlbRoot: TdpPage | null = null;
  /**
   * What `accessChecked`'s TLB hit relies on, as `tlbAccess` last found it on the TDP root_mmu outside a TD:
   * the loaded root, synced with the TLB and valid with this `role` (roles are frozen, and
   * invalidating a root replaces its role: tdp-mmu.ts, so the same role object means still valid),
   * the registers, and the tag accesses ran under. There the tag is a function of the registers
   * (PCID) and the root (EPTP) alone: the VPID is vpid01 (`currentVpid` off guest_mmu).
   * With them, what the hit reads that stays the same while they do, so that a hit loads each with
   * one load: the TLB, the walker's base level and the rights `rightsPermit` checks (the walker
   * is replaced with the registers, and every register write makes a new frozen `regsValue`, so
   * the same `regs` means the same walker), and the priced L1 hit (the VM's cost model is immutable).
   */
  private hitCtx: HitContext | undefined;
  /** Nested EPT: vmcs12's VPID (0: VPID off in vmcs12) and `vmx->nested.last_vpid`. */
  private vpid12 = 0;
  /** L1's intercepts of L2's CR writes on guest_mmu, from the entry (undefined: none). */
  private l2CrIntercepts: CheckedCrIntercepts | undefined;
  private lastVpid12 = 0;
  /** L2's PCID on guest_mmu (CR3[11:0] with L2's CR4.PCIDE), the tag of its combined mappings. */
  private l2Pcid = 0;
  private l2Cr4 = 0n;
  private tlbTagCache: { regs: PagingRegisters; root: TdpPage | null; mmu: KvmMmu; nested: NestedEptMmu | undefined; vpid12: number; tlb: Tlb; tag: TlbTag } | undefined;
  /** Modelled cycles of every access so far, by part (remote flushes included). */
  readonly cycles: AccessCost = { cycles: 0, tlb: 0, walk: 0, exits: 0, kvm: 0, emulation: 0, userspace: 0, remoteFlush: 0 };
  /** The cost of an L1 / STLB hit under the VM's (immutable) cost model, once computed. */
  private readonly hitCost: (Readonly<AccessCost> | undefined)[] = [undefined, undefined];
  private readonly hitAddrs = new HitAddresses();

  constructor(vm: VcpuVm, index: number, initial: Partial<PagingRegisters> = {}) {
    checkVcpuArgs(vm, index);
    checkRegisterTypes('regs', initial, true);
    this.vm = vm;
    this.index = index;
    this.cr3Loaded = initial.cr3 !== undefined;
    this.dirtyRing = vm.dirtyRingSize > 0 ? new DirtyRing(vm.dirtyRingSize, vm.dirtyRingRsvdEntries) : undefined;
    // Reset state: paging off (CR0.PG=0), no CR4/EFER bits.
    const regs: PagingRegisters = { cr0: 0n, cr3: 0n, cr4: 0n, efer: 0n, ...initial };
    // KVM_SET_SREGS ignores a failed load_pdptrs (x86.c: __set_sregs_common): no check with NPT,
    // where the walks read the PDPT; the PDPTE registers of an EPT or shadow vCPU are loaded here.
    this.walkerValue = this.l1Walker(regs, false);
    this.regsValue = Object.freeze({ ...regs });
    this.rootRoleValue = this.calcRootRole(this.walkerValue.role);
    if (!vm.tdpEnabled) this.shadowVcpu = new ShadowVcpu(vm, index, this.stats, this.walkerValue, this.regsValue);
    const roleOf = () => this.rootRoleValue;
    this.tdpRootMmu = { name: 'root_mmu', get rootRole() { return roleOf(); }, access: (a, acc) => this.tdpAccess(a, acc) };
    this.mmuValue = this.rootMmu;
    if (vm.tlbSpec !== undefined) {
      this.tlbModel = new Tlb(vm.tlbSpec);
      this.tlbModel.vcpu = index;
      this.tlbModel.sink = (e) => vm.events.recordUnchecked(e);
    }
  }

  /**
   * Whether the CPU walks this vCPU's (root_mmu's) PAE tables without PDPTE registers: an SVM host
   * with NPT (flavour 'npt', TDP on). With nested paging the CPU reads PDPTE[VA[31:30]] from the
   * PDPT at CR3[31:5] as part of each walk, through the NPT like every other guest table access
   * (APM Vol. 2 §15.25.10 "Legacy PAE Mode"; KVM holds no PDPTE values either: with npt_enabled
   * `svm_cache_reg` re-reads them from memory, svm.c:1665-1671, and they are marked stale after
   * every exit, svm.h:427 SVM_REGS_LAZY_LOAD_SET, svm.c:4524). So MOV to CR3, which KVM does not
   * intercept with NPT (svm.c:1336-1337), loads and checks nothing; a store to a PDPTE is seen by
   * the next walk; a present PDPTE with a reserved bit is a #PF with P|RSVD at the walk through it
   * (kvm-unit-tests x86/svm_tests.c:3806-3835 for L2 under NPT, the same hardware rule). EPT hosts
   * keep PDPTE registers: the CPU loads them at MOV to CR3 (SDM Vol. 3C §28.2.3) and VM entry
   * (§26.3.2.4), KVM checks them at the writes it intercepts (`l1Walker`); shadow paging keeps
   * KVM's own (svm.c:1667-1669: "When !npt_enabled, mmu->pdptrs[] is already available since it
   * is always updated per SDM when moving to CRs").
   * Not modelled: KVM's software walk (`walker.walk`, emulation) gets the PDPTE through
   * `load_pdptrs`, which on a present PDPTE with a reserved bit returns before its memcpy
   * (x86.c:1061, 1072) and so leaves the previous mmu->pdptrs in use, unchecked
   * (paging_tmpl.h:332-336); here that walk reads memory and faults as the CPU does.
   */
  private get pdptesInMemory(): boolean {
    return this.vm.tdpEnabled && this.vm.config.flavour === 'npt';
  }

  /**
   * A walker of root_mmu's tables for `regs`. `load`: KVM runs `load_pdptrs` for this write
   * (x86.c:1034-1074; MOV to CR3 it intercepts, a PDPTR-bit CR0/CR4 write, a nested VM entry or
   * exit) — its failure (PDPT in no slot, a present PDPTE with a reserved bit) throws the #GP /
   * failed-VMRUN error before anything changes. `kept`: PDPTE registers the write keeps (no load).
   * With NPT (`pdptesInMemory`) the load is only KVM's check: the walker keeps no PDPTE values and
   * every walk reads the PDPT (GvaWalker's `ownPdpt`).
   */
  private l1Walker(regs: PagingRegisters, load: boolean, kept?: readonly bigint[]): GvaWalker {
    const vm = this.vm;
    if (!this.pdptesInMemory) return new GvaWalker(vm.guestMem, regs, vm.features, load ? undefined : kept, vm.config.kvm);
    if (load) new GvaWalker(vm.guestMem, regs, vm.features, undefined, vm.config.kvm); // load_pdptrs's checks; its values are not kept
    return new GvaWalker(vm.guestMem, regs, vm.features, undefined, vm.config.kvm, true, true);
  }

  /** The vCPU's TLB model, or undefined when the VM runs without one. */
  get tlb(): Tlb | undefined {
    return this.tlbModel;
  }

  /** `vmx_get_current_vpid` (vmx.c:3234-3239): vpid02 while L2 runs on guest_mmu with a vmcs12 VPID, else vpid01 (0 without a TLB model or VPIDs). */
  get currentVpid(): number {
    const tlb = this.tlbModel;
    if (tlb === undefined) return 0;
    return this.mmuValue === this.nestedEpt && this.vpid12 !== 0 ? vcpuVpid02(this, tlb) : vcpuVpid(this, tlb);
  }

  /** `vcpu->arch.mmu`: the MMU that serves the running guest's accesses. */
  get mmu(): KvmMmu {
    return this.mmuValue;
  }

  /** `vcpu->arch.root_mmu`: TDP, or shadow paging without TDP. */
  get rootMmu(): KvmMmu {
    return this.shadowVcpu ?? this.tdpRootMmu;
  }

  /** `vcpu->arch.guest_mmu` (shadowing EPT12 or NPT12), once L2 was entered with nested TDP. */
  get guestMmu(): KvmMmu | undefined {
    return this.nestedEpt ?? this.nestedNptMmu;
  }

  /** guest_mmu when it is the current MMU (`mmu_is_nested`), with its walkers. */
  private get currentGuestMmu(): NestedEptMmu | NestedNptMmu | undefined {
    const m = this.mmuValue;
    return m === this.nestedEpt || m === this.nestedNptMmu ? (m as NestedEptMmu | NestedNptMmu) : undefined;
  }

  /** `vcpu->arch.gva_walk`: the walker of the running guest's own tables (L2's while L2 runs). */
  get gvaWalk(): GvaWalker {
    return this.currentGuestMmu?.l2Walker ?? this.walkerValue;
  }

  /** `vcpu->arch.ngpa_walk`: nGPA → GPA over EPT12/NPT12 while guest_mmu is current, else undefined. */
  get ngpaWalk(): NgpaWalker | undefined {
    return this.currentGuestMmu?.ngpa;
  }

  /** The shadow-paging side of this vCPU (undefined with TDP). */
  get shadow(): ShadowVcpu | undefined {
    return this.shadowVcpu;
  }

  /** guest_mmu (nested EPT), once L2 was entered. */
  get nested(): NestedEptMmu | undefined {
    return this.nestedEpt;
  }

  /** guest_mmu (nested NPT), once L2 was entered with NPT. */
  get nestedNpt(): NestedNptMmu | undefined {
    return this.nestedNptMmu;
  }

  /**
   * The running guest's paging registers, as `vcpu->arch.cr0/cr3/cr4/efer` hold them: L2's while
   * L2 runs — with nested EPT/NPT too, where KVM loads L2's (`prepare_vmcs02`: vmx_set_cr0/cr4,
   * `vcpu->arch.efer`, vmx/nested.c:2715-2723, then `nested_vmx_load_cr3` sets `vcpu->arch.cr3`,
   * :2741, :1166; `nested_vmcb02_prepare_save`, svm/nested.c:574-577, then `nested_svm_load_cr3`,
   * :850, :521) and L2's own writes change them (`setRegisters`) — and L1's again after the nested
   * VM exit (`load_vmcs12_host_state`, vmx/nested.c:4692-4724; `nested_svm_vmexit`,
   * svm/nested.c:1152-1175). L1's while L2 runs: `l1Regs`.
   */
  get regs(): PagingRegisters {
    return this.currentGuestMmu?.l2Regs ?? this.regsValue;
  }
  /**
   * L1's paging registers: `regs` while L1 runs; while L2 runs, what the nested VM exit restores
   * (vmcs12's host state / vmcb01's save area). With nested EPT/NPT they are also what root_mmu's
   * roles are computed from (`rootMmuWalker`).
   */
  get l1Regs(): PagingRegisters {
    return this.l1State?.regs ?? this.regsValue;
  }
  /** Whether L2 runs (`is_guest_mode`): on guest_mmu (nested EPT/NPT) or on root_mmu (`enterNested`). */
  get guestMode(): boolean {
    return this.l1State !== undefined || this.currentGuestMmu !== undefined;
  }
  /**
   * The running guest's cpu_role, `vcpu->arch.walk_mmu->cpu_role`: root_mmu's, or while L2 runs on
   * guest_mmu nested_mmu's, computed from L2's registers (`kvm_init_mmu` → `init_kvm_nested_mmu`,
   * mmu.c:5806-5838, 5846-5847). The role of `gvaWalk`.
   */
  get role(): CpuRole {
    return this.gvaWalk.role;
  }
  /**
   * `vcpu->arch.root_mmu.root_role`: the TDP role with TDP; without it the shadow MMU's
   * (`mmu.c: kvm_init_shadow_mmu`: cpu_role.base, level at least PAE, efer_nx forced).
   */
  get rootRole(): PageRole {
    return this.shadowVcpu?.ctx.rootRole ?? this.rootRoleValue;
  }
  /**
   * root_mmu's walker (its cpu_role is `root_mmu.cpu_role`): the running guest's except while L2
   * runs on guest_mmu, when root_mmu keeps L1's role until the nested VM exit (`kvm_init_mmu`
   * re-initialises nested_mmu then, mmu.c:5846-5847) — L1's tables. The running guest's walker
   * is `gvaWalk`.
   */
  get walker(): GvaWalker {
    return this.walkerValue;
  }
  get currentRoot(): TdpPage | null {
    return this.root;
  }
  /** TD: the mirror root (`mirror_root_hpa`), or null. */
  get currentMirrorRoot(): TdpPage | null {
    return this.mirrorRoot;
  }
  /** Host frame of the root the hardware walks (the EPTP; for a TD the shared EPTP), if loaded. */
  get loadedRootPfn(): number | undefined {
    return this.tdpInputs?.rootGfn;
  }

  /**
   * `kvm_calc_tdp_mmu_root_page_role`, in the VM's KVM version: 7.3's ACC_ALL is 0xF in the 4-bit
   * access field, so every TDP leaf and non-leaf SPTE of an EPT VM carries XS (bit 2) and XU (bit
   * 10) — make_spte writes XU whenever ACC_USER_EXEC is set, "for TDP roots because access =
   * ACC_ALL" (kvm-7x.md §1.6, INFERRED there) — and an NPT VM's carry U and no NX (xs = xu = 0).
   * base.cr4_smep of a TDP root means "EPT MBEC enabled" (kvm-7x.md §3.1, the 2026 kvm_host.h
   * comment): set when L0 runs L1 with MBEC (`spte.mbec`), so `mmu_has_mbec(root_mmu)` holds (§1.6)
   * and the root is keyed apart from a non-MBEC one. The ext role (has_pferr_fetch) is a cpu_role
   * field (§3.2): a page role, as root_role is, has none.
   * ASSUMPTIONS (tested in test/tdp/tdp-root-mbec.test.ts): (1) whether 7.x enables MBEC for L1
   * whenever the CPU has it is not in the references (only the title of a6b7b6b2050c), so it is a
   * host option, default off; (2) NPT: fe080f58dec2 "SVM: enable GMET and set it in MMU role" says
   * L0 may use GMET for its own NPT (§2.2), but the SPTE encoding ("kernel-executable pages need to
   * have U=0") and GMET's rule for user-mode accesses are UNVERIFIED (§2.1): ACC_ALL leaves (U=1)
   * under GMET would trap every L1 supervisor fetch, so the NPT root keeps cr4_smep clear.
   */
  private calcRootRole(cpu: CpuRole): PageRole {
    return PageRole.pack({
      access: this.vm.config.acc.ALL,
      cr0Wp: true,
      eferNx: true,
      smm: cpu.base.smm,
      guestMode: cpu.base.guestMode,
      adDisabled: !this.vm.config.adEnabled,
      level: this.vm.config.tdpLevel,
      direct: true,
      hasFourByteGpte: false,
      cr4Smep: this.vm.config.mbec,
    }, this.vm.config.kvm);
  }

  /**
   * Change registers (MOV CR0/CR3/CR4, WRMSR EFER). The role is recomputed; the MMU is reset only
   * when a role bit changed (`kvm_post_set_cr0/cr4`), and a WP-only change with TDP just re-inits.
   * Validated fully before anything changes; a write KVM refuses with #GP (`kvm_set_cr0/cr3/cr4`
   * returning 1) throws InvalidRegisterStateError and leaves the vCPU as it was.
   *
   * PAE paging: the PDPTE registers are reloaded from memory only by a CR3 write or a change of
   * X86_CR0_PDPTR_BITS / X86_CR4_PDPTR_BITS (`x86.c: kvm_set_cr3, kvm_set_cr0, kvm_set_cr4` →
   * `load_pdptrs`); any other write keeps the PDPTEs loaded before, whatever the PDPT now holds.
   * With NPT (`pdptesInMemory`) there are no PDPTE registers: every walk reads the PDPT, a CR3
   * write checks nothing, and a PDPTR-bit CR0/CR4 write, which KVM intercepts, still fails with
   * #GP where load_pdptrs would.
   * An update naming several registers is checked as one write of each (the union of the rules).
   */
  setRegisters(update: Partial<PagingRegisters>): RegisterWriteResult {
    this.vm.checkAliveUnchecked('KVM_SET_SREGS', this.index);
    checkRegisterTypes('update', update, true);
    const l2 = this.currentGuestMmu;
    if (l2 !== undefined) return this.setL2Registers(l2, update);
    const regs = { ...this.regsValue, ...update };
    const old = this.regsValue;
    // kvm_set_cr4: PCIDE 0→1 needs CR3[11:0] = 0 (long mode is checked with the state, in
    // calcCpuRole); else return 1 → #GP.
    if ((regs.cr4 & CR4.PCIDE) !== 0n && (old.cr4 & CR4.PCIDE) === 0n && (regs.cr3 & CR3_PCID_MASK) !== 0n) {
      throw new InvalidRegisterStateError('pcide-with-cr3-pcid', 'setting CR4.PCIDE needs CR3[11:0] = 0 (KVM injects #GP)', hex(regs.cr3));
    }
    // kvm_set_cr0 / kvm_set_cr4 load the PDPTEs on a PDPTR-bit change (x86.c:1158-1161,
    // 1355-1358): with NPT too, where SVM intercepts every CR4 write (INTERCEPT_CR4_WRITE,
    // svm.c:1246, never cleared) and a CR0 write changing PG, CD or NW (the selective CR0 write
    // intercept, svm.c:1272, fires on any bit but TS and MP; the full CR0 intercept is cleared
    // only while the host CR0 equals the guest's, svm.c:1947-1954) → cr_interception
    // (svm.c:3372-3375, 2710-2721). kvm_set_cr3 loads them for a MOV to CR3 KVM intercepts
    // (x86.c:1440-1441): not with NPT (svm.c:1337; `pdptesInMemory`).
    const pdptrBits = ((old.cr0 ^ regs.cr0) & CR0_PDPTR_BITS) !== 0n || ((old.cr4 ^ regs.cr4) & CR4_PDPTR_BITS) !== 0n;
    const reloadPdptrs = pdptrBits || (update.cr3 !== undefined && !this.pdptesInMemory);
    const walker = this.l1Walker(regs, reloadPdptrs, this.walkerValue.pdptrs); // throws on bad input
    const oldRegs = old;
    const oldRole = this.walkerValue.role;
    const roleChanged = !walker.role.equals(oldRole);
    const rootRole = this.calcRootRole(walker.role);
    const oldRoot = this.rootRole;
    let rootChanged = rootRole.word !== this.rootRoleValue.word;
    this.walkerValue = walker;
    this.regsValue = Object.freeze(regs);
    if (update.cr3 !== undefined) this.cr3Loaded = true;
    if (this.tlbModel !== undefined) this.tlbOnRegisters(old, regs, update.cr3 !== undefined);
    if (roleChanged) {
      const wpOnly = oldRole.base.with({ cr0Wp: walker.role.base.cr0Wp }).word === walker.role.base.word && oldRole.ext === walker.role.ext && walker.role.isCr0Pg;
      // kvm_mmu_reset_context unloads the roots; a CR0.WP-only change with TDP does not.
      if (!wpOnly || rootChanged) this.unload();
      this.vm.events.recordUnchecked({ kind: 'role_change', vcpu: this.index, outcome: `${oldRole.toString()} → ${walker.role.toString()}${wpOnly ? ' (WP only: no unload)' : ''}` });
    }
    this.rootRoleValue = rootRole;
    // kvm_post_set_cr0/cr4, kvm_set_efer: a role *bit* that changed resets the context even when
    // the role did not (CR4.LA57 before long mode); shadow paging unloads on CR4.PCIDE 0→1.
    const fx = registerWriteEffects(oldRegs, this.regsValue, this.vm.tdpEnabled);
    if (fx.resetContext || fx.unload) {
      if (!roleChanged) this.unload();
      this.vm.events.recordUnchecked({ kind: 'mmu_reset', vcpu: this.index, outcome: `${fx.resetContext ? 'kvm_mmu_reset_context' : 'kvm_mmu_unload'} (${fx.why.join(', ')})` });
    }
    if (this.shadowVcpu !== undefined) {
      this.shadowVcpu.afterSetRegisters(oldRegs, this.regsValue, walker, update.cr3 !== undefined, this.noFlush, fx.resetContext || fx.unload);
      rootChanged = this.rootRole.word !== oldRoot.word;
    }
    return { roleChanged, rootChanged };
  }

  /**
   * `setRegisters` while L2 runs on guest_mmu (nested EPT/NPT): L2 writes its own registers. A
   * MOV to CR0/CR3/CR4 L1 intercepts (the entry's `intercepts`, l2-cr-intercept.ts) is a nested
   * VM exit instead, before any check of the value: nothing of L2's changes, no PDPTE load, and
   * the vCPU is back in L1 (`l1Exit`). Otherwise, in KVM the registers are L2's and `mmu_is_nested` holds, so
   * `kvm_init_mmu` re-initialises nested_mmu — the walk of L2's tables — from them
   * (mmu.c:5846-5847 → `init_kvm_nested_mmu`, mmu.c:5802-5838); guest_mmu's roles (from EPTP12, or
   * L1's state and nCR3) and L1's registers, walker and root_role do not change.
   *
   * MOV to CR3 is not intercepted by L0 with EPT/NPT (vmx.c:4477-4481, svm.c:1337): the CPU loads
   * CR3 (and, under EPT, a PAE L2's PDPTEs) and KVM does nothing, not even `kvm_mmu_new_pgd` (guest_mmu's
   * pgd is EPTP12/nCR3). A CR0/CR4/EFER write KVM handles goes through `kvm_set_cr0/cr4`
   * (load_pdptrs on nested_mmu for a PDPTR-bit change of a PAE L2) and `kvm_post_set_cr0/cr4`
   * (registerWriteEffects): a role-bit change is `kvm_mmu_reset_context` (mmu.c:5884-5888), whose
   * `kvm_mmu_unload` frees every root of root_mmu and of guest_mmu (mmu.c:5925-5934); the next
   * L2 entry loads a guest_mmu root for the same EPTP12/nCR3 (`kvm_mmu_load`, which flushes the
   * current context, mmu.c:5919), and the return to L1 a root_mmu root. A CR0.WP-only change with
   * TDP is `kvm_init_mmu` alone (x86.c:1107-1114). The TLB sees the architectural invalidations
   * of the write under L2's tag (`tlbOnRegisters`).
   * A PAE L2's MOV to CR3 under EPT loads the PDPTEs through EPT02 (NestedEptMmu.writeL2Registers):
   * its EPT violations are exits to L0 (`exits`), and one L0 reflects to L1 is a nested VM exit
   * (`nestedExit`) before the MOV completed, so nothing of L2's changes and the vCPU is back in L1.
   * Under NPT the MOV loads no PDPTE (APM Vol. 2 §15.25.10): L2's walks read them through NPT02,
   * so an unmapped PDPT is an NPF at L2's next access, never an exit of the MOV.
   * Returns roleChanged = nested_mmu's cpu_role changed, rootChanged = false (guest_mmu's
   * root_role does not depend on L2's registers).
   */
  private setL2Registers(g: NestedEptMmu | NestedNptMmu, update: Partial<PagingRegisters>): RegisterWriteResult {
    if (update.guestMode === false) {
      throw new InvalidRegisterStateError('l2-guest-mode', 'L2 runs on guest_mmu in guest mode; leave it with exitNested, not by clearing guestMode', 'false');
    }
    const old = g.l2Regs!;
    // L1's intercept comes before any check of the value (SDM Vol. 3C §26.1.1): the write does
    // not happen, and the nested VM exit is as for a reflected EPT fault below.
    const cx = this.l2CrIntercepts;
    const l1Exit = cx === undefined ? undefined : l2CrWriteExitUnchecked(cx, old, update);
    if (l1Exit !== undefined) {
      g.exit(l1Exit.kind === 'cr-access' ? 'L2 MOV to CR: VM exit to L1 (CR_ACCESS)' : `L2 MOV to CR: #VMEXIT to L1 (exit code 0x${l1Exit.exitCode.toString(16)})`);
      this.backToL1();
      this.vm.afterOperation();
      return { roleChanged: false, rootChanged: false, l1Exit };
    }
    const regs: PagingRegisters = { ...old, ...update, guestMode: true };
    // kvm_set_cr4 (x86.c:1360-1364): PCIDE 0→1 needs CR3[11:0] = 0, else #GP.
    if ((regs.cr4 & CR4.PCIDE) !== 0n && (old.cr4 & CR4.PCIDE) === 0n && (regs.cr3 & CR3_PCID_MASK) !== 0n) {
      throw new InvalidRegisterStateError('pcide-with-cr3-pcid', 'setting CR4.PCIDE needs CR3[11:0] = 0 (KVM injects #GP)', hex(regs.cr3));
    }
    const cr3Written = update.cr3 !== undefined;
    const pdptrBits = ((old.cr0 ^ regs.cr0) & CR0_PDPTR_BITS) !== 0n || ((old.cr4 ^ regs.cr4) & CR4_PDPTR_BITS) !== 0n;
    const oldRole = g.l2Walker!.role;
    const out = g.writeL2Registers(regs, cr3Written ? 'mov-cr3' : pdptrBits ? 'load-pdptrs' : 'keep'); // throws before any change
    const exits = out === undefined ? [] : out.exits;
    if (exits.length > 0) this.afterL2RegisterExits(g, exits);
    if (out?.reflected !== undefined) {
      // The nested VM exit: vcpu->arch.mmu = root_mmu (nested_ept_uninit_mmu_context), as accessFull does.
      this.backToL1();
      this.vm.afterOperation();
      return { roleChanged: false, rootChanged: false, exits, nestedExit: out.reflected };
    }
    const next = g.l2Regs!;
    const role = g.l2Walker!.role;
    const roleChanged = !role.equals(oldRole);
    if (this.tlbModel !== undefined) this.tlbOnRegisters(old, next, cr3Written);
    this.l2Pcid = (next.cr4 & CR4.PCIDE) !== 0n ? Number(next.cr3 & 0xfffn) : 0;
    this.l2Cr4 = next.cr4;
    if (roleChanged) this.vm.events.recordUnchecked({ kind: 'role_change', vcpu: this.index, outcome: `nested_mmu (L2): ${oldRole.toString()} → ${role.toString()}` });
    const fx = registerWriteEffects(old, next, true);
    if (fx.resetContext) {
      this.unload(); // the next root_mmu load is kvm_mmu_load's, which flushes (mmu.c:5919)
      g.freeAllRoots();
      this.vm.events.recordUnchecked({ kind: 'mmu_reset', vcpu: this.index, outcome: `kvm_mmu_reset_context in L2 (${fx.why.join(', ')}): root_mmu and guest_mmu roots unloaded` });
    }
    this.vm.afterOperation();
    return exits.length > 0 ? { roleChanged, rootChanged: false, exits } : { roleChanged, rootChanged: false };
  }

  /**
   * The exits an L2 register write took on guest_mmu (the PDPTE load of a MOV to CR3): with the TLB
   * model, the flush the root load requested and each EPT violation's invalidations (SDM Vol. 3C
   * §28.3.3.1), under L2's tag from before the write (the MOV had not completed); without VPIDs a
   * VM exit and entry flush everything (`vmTransitionNoVpid`). Each exit is priced as an access's
   * are: the round trip plus KVM's handling by its RET_PF_* outcome.
   */
  private afterL2RegisterExits(g: NestedEptMmu | NestedNptMmu, exits: readonly ExitRecord[]): void {
    const tlb = this.tlbModel;
    const ctx = g.ctx!;
    if (tlb !== undefined) {
      this.serveFlushCurrent(tlb, ctx);
      const tag = { vpid: this.currentVpid, pcid: this.l2Pcid, eptp: g === this.nestedEpt ? ctx.root.hpa : -1 };
      for (const e of exits) tlb.eptViolation(tag, Number(e.gpa >> 12n), undefined);
      if (!tlb.config.vpid) tlb.vmTransitionNoVpid();
    }
    for (const e of exits) this.priceExits(1, kvmHandlingCycles(this.vm.costModel, e));
  }

  /**
   * The invalidations of MOV to CR0/CR3/CR4 (SDM Vol. 3A §4.10.4.1), which KVM's own requests
   * mirror when it intercepts the write (`kvm_post_set_cr4`, x86.c:1320-1340; `kvm_set_cr3` →
   * `kvm_invalidate_pcid`, x86.c:1462): CR4 first (PGE, PCIDE 1→0, PAE, SMEP 0→1), then PG 1→0,
   * then the CR3 load (no-flush bit 63 honoured with PCIDE).
   */
  private tlbOnRegisters(old: PagingRegisters, regs: PagingRegisters, cr3Written: boolean): void {
    const tlb = this.tlbModel!;
    const oldTag = { vpid: this.currentVpid, pcid: (old.cr4 & CR4.PCIDE) !== 0n ? Number(old.cr3 & 0xfffn) : 0, eptp: -1 };
    tlb.movCr4(oldTag, old.cr4, regs.cr4, { pge: CR4.PGE, pcide: CR4.PCIDE, pae: CR4.PAE, smep: CR4.SMEP });
    if ((old.cr0 & CR0_PG) !== 0n && (regs.cr0 & CR0_PG) === 0n) tlb.pagingOff(oldTag);
    if (cr3Written) tlb.movCr3(oldTag, (regs.cr4 & CR4.PCIDE) !== 0n, Number(regs.cr3 & 0xfffn), this.noFlush);
  }

  /** `kvm_vcpu_flush_tlb_all` (x86.c:3627): `vmx_flush_tlb_all` = INVEPT global with EPT (vmx.c:3211-3230); SVM flushes the ASID. */
  flushTlbAll(): void {
    const tlb = this.tlbModel;
    if (tlb === undefined) return;
    tlb.stats.inc('flush_all');
    if (this.vm.tdpEnabled && this.vm.config.flavour === 'ept') tlb.invept(2);
    // EPT off, VPIDs on: vpid_sync_vcpu_global, INVVPID all-context (vmx.c:3224-3226): vpid01 and vpid02.
    else if (!this.vm.tdpEnabled && tlb.config.vpid) tlb.invvpid(2, 0);
    else this.flushVpidOrAsid(tlb);
  }

  /**
   * `kvm_vcpu_flush_tlb_current` → `vmx_flush_tlb_current` (vmx.c:3241-3254): INVEPT single-context
   * of the current MMU's root (EPTP02 while L2 runs on guest_mmu); without EPT the current VPID
   * (shadow paging: every PCID, globals too); a TD: INVEPT global (`tdx_flush_tlb_current`,
   * tdx.c:2844).
   */
  private flushTlbCurrent(tlb: Tlb): void {
    tlb.stats.inc('flush_current');
    if (this.vm.td !== undefined) tlb.invept(2);
    else if (this.vm.tdpEnabled && this.vm.config.flavour === 'ept') {
      const guestRoot = this.mmuValue === this.nestedEpt ? this.nestedEpt!.ctx!.root.hpa : undefined;
      if (guestRoot !== undefined) {
        if (guestRoot >= 0) tlb.invept(1, guestRoot);
      } else if (this.root !== null) tlb.invept(1, this.root.pfn);
    } else this.flushVpidOrAsid(tlb);
  }

  /** `kvm_vcpu_flush_tlb_guest` → `vmx_flush_tlb_guest` (vmx.c:3266-3276): `vpid_sync_context` (a no-op for VPID 0, whose entries VM entry flushes); SVM flushes the ASID. */
  private flushTlbGuest(): void {
    const tlb = this.tlbModel;
    if (tlb === undefined) return;
    tlb.stats.inc('flush_guest');
    this.flushVpidOrAsid(tlb);
  }

  private flushVpidOrAsid(tlb: Tlb): void {
    const vpid = this.currentVpid;
    // SVM with NPT: svm_flush_tlb_current/_all flush the ASID (svm.c:4151-4179). Without TDP the
    // SPTE flavour is always NPT's masks (vm.ts), and shadow paging is modelled on VMX.
    if (this.vm.config.flavour === 'npt' && this.vm.tdpEnabled) tlb.flushAsid(vpid);
    else if (vpid !== 0) tlb.invvpid(1, vpid);
    else tlb.vmTransitionNoVpid();
  }

  /**
   * INVPCID executed by the guest (not intercepted with EPT and `enable_invpcid`): the SDM rule
   * in `Tlb.invpcid`. #GP cases throw InvalidArgumentError and change nothing. Without a TLB
   * model there is nothing to invalidate.
   */
  invpcid(type: number, pcid: number, address: Gva | bigint = 0n): void {
    this.vm.checkAliveUnchecked('INVPCID (KVM_RUN)', this.index);
    // The running guest's mode: L2's while L2 runs on guest_mmu (setL2Registers).
    const addr = type === 0 ? checkInvpcidAddress(address, this.gvaWalk.role.base.level === 5 ? 57 : 48) : checkAddressArg('address', address);
    const tlb = this.tlbModel;
    const pcide = (this.regs.cr4 & CR4.PCIDE) !== 0n;
    checkInvpcid(type, pcid, pcide);
    if (tlb === undefined) return;
    tlb.invpcid({ vpid: this.currentVpid, pcid: 0, eptp: -1 }, type, pcid, addr, pcide);
  }

  /** KVM loads a root before entering the guest and flushes the new root's context (`kvm_mmu_load`, mmu.c:5919). */
  private tlbSyncRoot(tlb: Tlb): void {
    // By identity, not frame: a new root may reuse a freed root's frame (flush on alloc covers it).
    if (this.root !== this.tlbRoot) {
      this.tlbRoot = this.root;
      if (this.root !== null) this.flushTlbCurrent(tlb);
    }
  }

  /**
   * The tag accesses run under now (`tlbTag`), made again only when one of its inputs changed, so
   * a TLB hit does no BigInt work for it. The inputs are compared by identity: the registers (the
   * PCID; they are replaced, never mutated), the root (its frame is the EPTP tag; a TD's tag is
   * its S-EPT root, fixed for the TD's life: vcpu-tlb.ts tlbTagEptp), the MMU, the nested EPT MMU
   * and vmcs12's VPID (which pick vpid01 or vpid02: `currentVpid`), and the TLB.
   */
  private currentTlbTag(tlb: Tlb): TlbTag {
    const c = this.tlbTagCache;
    if (c !== undefined && c.regs === this.regsValue && c.root === this.root && c.mmu === this.mmuValue && c.nested === this.nestedEpt && c.vpid12 === this.vpid12 && c.tlb === tlb) return c.tag;
    return this.newTlbTag(tlb);
  }

  private newTlbTag(tlb: Tlb): TlbTag {
    const tag = tlbTag(this);
    this.tlbTagCache = { regs: this.regsValue, root: this.root, mmu: this.mmuValue, nested: this.nestedEpt, vpid12: this.vpid12, tlb, tag };
    return tag;
  }

  /**
   * The TLB lookup before a walk: a hit whose cached rights allow the access is the access's result
   * (counted, and an event); otherwise the miss is counted and the caller walks.
   */
  private tlbLookup(tlb: Tlb, tag: TlbTag, a: bigint, enc: number, access: Access, rights: Parameters<typeof tlbPermits>[0]): AccessResult | undefined {
    const h = this.hitAddrs;
    // The address's halves give the VPN and the hit's offset (no BigInt → double conversion).
    h.splitUnchecked(a); // `a` passed the API edge's check (checkAddressArg): a u64
    const e = tlb.findUnchecked(tag, vpnOfHalves(h.hi, h.lo), access.kind === 'fetch');
    if (e !== undefined && tlbPermits(rights, e, enc)) {
      const level = tlb.lastHitLevel;
      tlb.hit(level);
      this.stats.add(GUEST_ACCESSES);
      if (this.vm.events.enabled) this.recordTlbHit(a, level);
      return tlbHitResult(a as Gva, access, e, level, h, this.hitCostOf(level)); // `a` passed the mode's address check
    }
    tlb.miss();
    return undefined;
  }

  private recordTlbHit(a: bigint, level: TlbHitLevel): void {
    this.vm.events.recordUnchecked({ kind: 'tlb_hit', vcpu: this.index, gva: a, outcome: level });
  }

  /**
   * A TDP access through the vCPU's TLB: hit → the cached translation, else the 2D walk, then fill.
   * The hit path is kept small and its rare branches are calls, so that V8 compiles it as one
   * function (its inlining budget is bytecode size).
   */
  private tlbAccess(tlb: Tlb, address: bigint, access: Access, enc: number): AccessResult {
    // access() passed it through checkAddressArg (a u64 bigint): the mode's rule, the usual pass
    // decided here and anything else left to checkAddressUnchecked (which throws).
    const w = this.walkerValue;
    const a = (isCanonicalFast(address, w.baseLevel) ? address : w.checkAddressUnchecked(address)) as Gva;
    // ensureRoot and tlbSyncRoot do nothing while the root stays loaded, valid and synced.
    const root = this.root;
    if (root === null || root !== this.tlbRoot || this.vm.td !== undefined || root.role.invalid) {
      this.ensureRoot();
      this.tlbSyncRoot(tlb);
    }
    const tag = this.currentTlbTag(tlb);
    this.noteHitContext(tag);
    return this.tlbLookup(tlb, tag, a, enc, access, w) ?? this.tlbWalk(tlb, tag, address, a, access);
  }

  /** Record `tag` and what it was made from for `accessChecked`'s TLB hit (`hitCtx`); nothing is made while they stay the same. */
  private noteHitContext(tag: TlbTag): void {
    const root = this.root;
    const hc = this.hitCtx;
    if (hc !== undefined && hc.root === root && hc.role === root.role && hc.regs === this.regsValue && hc.tag === tag) return;
    const tlb = this.tlbModel;
    const usable = tlb !== undefined && root !== null && root === this.tlbRoot && !root.role.invalid && this.vm.td === undefined && this.mmuValue === this.tdpRootMmu;
    if (!usable) {
      this.hitCtx = undefined;
      return;
    }
    const w = this.walkerValue;
    const fmt = w.format;
    this.hitCtx = {
      root, role: root.role, regs: this.regsValue, tag, tlb, level: w.baseLevel,
      perms: fmt === undefined ? undefined : fmt.hot.permissions, pkruMask: fmt === undefined ? 0 : fmt.pkruMask, pkru: w.pkru,
      cost: this.hitCostOf('l1'),
    };
  }

  /** `tlbAccess` after a miss: the 2D walk, the invalidations its faults make, then the fill. */
  private tlbWalk(tlb: Tlb, tag: TlbTag, address: bigint, a: Gva, access: Access): AccessResult {
    const r = this.tdpAccess(address, access);
    // Invalidations the walk's own faults make (SDM Vol. 3A §4.10.4.1, Vol. 3C §28.3.3.1).
    for (const e of r.exits) tlb.eptViolation(tag, Number(e.gpa >> 12n), e.onGuestTable ? undefined : a);
    if (r.status === 'guest-pf') tlb.pageFault(tag, a);
    if (!tlb.config.vpid && r.exits.length > 0) tlb.vmTransitionNoVpid();
    this.tlbSyncRoot(tlb); // a zap during the access may have loaded a new root
    const t2 = this.currentTlbTag(tlb);
    r.tlb = 'miss';
    r.walkRefs = walkRefs(this, tlb, t2, r);
    this.vm.events.recordUnchecked({ kind: 'tlb_miss', vcpu: this.index, gva: a, outcome: `${r.walkRefs} walk references` });
    tlbFill(this, tlb, t2, r);
    return r;
  }

  /** Serve a KVM_REQ_TLB_FLUSH_CURRENT a shadow-type MMU context requested (roots.ts: mmuLoad, invalidatePcid). */
  private serveFlushCurrent(tlb: Tlb, ctx: { tlbFlushCurrent: boolean }): void {
    if (!ctx.tlbFlushCurrent) return;
    ctx.tlbFlushCurrent = false;
    this.flushTlbCurrent(tlb);
  }

  /**
   * An access through the TLB on a shadow-type MMU: shadow paging's root_mmu (linear mappings of
   * the shadow tables, tagged VPID + PCID) or guest_mmu (combined mappings of L2's tables through
   * EPT02/NPT02, tagged by EPTP02 and vpid02/vpid01, or the ASID). KVM reloads roots and serves
   * the flush requests before the entry (`vcpu_enter_guest` → `kvm_mmu_reload`, mmu.c:5891-5919);
   * then a hit uses the cached translation however the guest's tables changed since.
   */
  private tlbShadowAccess(tlb: Tlb, address: Gva | bigint, access: Access): AccessResult {
    const m = this.mmuValue;
    const sv = m === this.shadowVcpu ? this.shadowVcpu : undefined;
    const nested = sv === undefined ? this.currentGuestMmu : undefined;
    if (sv === undefined && nested === undefined) return m.access(address, access); // no other MMU exists
    const w = nested?.l2Walker ?? this.walkerValue;
    const a = w.checkAddress(BigInt(address));
    const enc = encodeAccess(access);
    const fetch = access.kind === 'fetch';
    (sv ?? nested!).load();
    const ctx = (sv ?? nested!).ctx!;
    this.serveFlushCurrent(tlb, ctx);
    const ept = nested === this.nestedEpt && nested !== undefined;
    const tagOf = () => ({
      vpid: this.currentVpid,
      pcid: nested !== undefined ? this.l2Pcid : (this.regsValue.cr4 & CR4.PCIDE) !== 0n ? Number(this.regsValue.cr3 & 0xfffn) : 0,
      eptp: ept ? ctx.root.hpa : -1,
    });
    const tag = tagOf();
    // Shadow: the cached rights are the shadow SPTEs', checked as the hardware format checks them.
    const hit = this.tlbLookup(tlb, tag, a, enc, access, sv !== undefined ? { format: ctx.hwFormat, pkru: 0 } : w);
    if (hit !== undefined) return hit;
    const r = m.access(address, access);
    for (const e of r.exits) {
      // A #PF intercept: the #PF invalidated the address (SDM Vol. 3A §4.10.4.1); an EPT
      // violation the nGPA's guest-physical and the address's combined mappings (Vol. 3C §28.3.3.1).
      if (e.kind === 'pf_intercept') tlb.pageFault(tag, a);
      else tlb.eptViolation(tag, Number(e.gpa >> 12n), e.onGuestTable ? undefined : a);
    }
    if (r.status === 'guest-pf') tlb.pageFault(tag, a);
    if (!tlb.config.vpid && r.exits.length > 0) tlb.vmTransitionNoVpid();
    r.tlb = 'miss';
    if (r.status === 'l1-exit') return r;
    this.serveFlushCurrent(tlb, ctx); // a root loaded during the access
    const t2 = tagOf();
    const refs = sv !== undefined
      ? shadowMiss(tlb, this.vm.shadow, ctx, t2, r, fetch)
      : nestedMiss(tlb, this.vm.shadow, ctx, t2, r, w.role.base.level, ept, (this.l2Cr4 & CR4.PGE) !== 0n, fetch);
    if (refs !== undefined) r.walkRefs = refs;
    this.vm.events.recordUnchecked({ kind: 'tlb_miss', vcpu: this.index, gva: a, outcome: `${r.walkRefs ?? '?'} walk references` });
    return r;
  }

  /** The cost of an L1 / STLB hit: it depends on the level only, so it is priced once per vCPU and shared (frozen) by every hit. */
  private hitCostOf(level: 'l1' | 'stlb'): Readonly<AccessCost> {
    return this.hitCost[level === 'l1' ? 0 : 1] ?? this.priceHit(level);
  }

  private priceHit(level: 'l1' | 'stlb'): Readonly<AccessCost> {
    return (this.hitCost[level === 'l1' ? 0 : 1] = Object.freeze(accessCostUnchecked(this.vm.costModel, {
      tlb: level, walkRefs: 0, exits: [], emulated: false, userspaceExit: false, remoteFlushes: 0,
    })));
  }

  /** Price the access under the VM's cost model and add it to the vCPU's totals. */
  private price(r: AccessResult, remoteFlushes: number): void {
    // A TLB hit's result comes priced (tlbHitResult, with the vCPU's frozen hit cost): only the totals to add.
    if (r.cost !== undefined) this.addCost(r.cost);
    else this.priceWalked(r, remoteFlushes);
  }

  /** `price` for an access that did not hit the TLB. */
  private priceWalked(r: AccessResult, remoteFlushes: number): void {
    if (r.walkRefs === undefined) {
      r.tlb = 'miss';
      // Without the TLB model every access walks; the 2D walk's references are measured on the
      // live TDP tables (workload/memory-refs.ts); shadow paging walks the shadow table's levels.
      r.walkRefs = this.mmuValue === this.tdpRootMmu ? this.attemptRefs : this.rootRole.level;
    }
    const hit = r.tlb === 'l1' || r.tlb === 'stlb';
    // A TLB hit's cost depends on its level only: priced once per vCPU, shared (frozen) by every hit.
    const c = hit && r.walkRefs === 0 && r.exits.length === 0 && r.status === 'ok' && remoteFlushes === 0
      ? this.hitCostOf(r.tlb as 'l1' | 'stlb')
      : accessCostUnchecked(this.vm.costModel, {
          tlb: r.tlb ?? 'miss', walkRefs: r.walkRefs, exits: r.exits, emulated: r.status === 'emulated',
          userspaceExit: r.status === 'memory-fault' || r.status === 'vm-dead', remoteFlushes,
        });
    r.cost = c;
    r.cycles = c.cycles;
    this.addCost(c);
  }

  /**
   * Add an access's cost to the vCPU's totals. A part that is 0 is skipped: costs are finite and
   * non-negative and the totals start at 0, so adding 0 changes nothing, and each store of a
   * fractional total into the object boxes a new heap number (~6 ns a field); a TLB hit has at
   * most two non-zero parts.
   */
  private addCost(c: Readonly<AccessCost>): void {
    const t = this.cycles;
    if (c.cycles !== 0) t.cycles += c.cycles;
    if (c.tlb !== 0) t.tlb += c.tlb;
    if (c.walk !== 0) t.walk += c.walk;
    if (c.exits !== 0) t.exits += c.exits;
    if (c.kvm !== 0) t.kvm += c.kvm;
    if (c.emulation !== 0) t.emulation += c.emulation;
    if (c.userspace !== 0) t.userspace += c.userspace;
    if (c.remoteFlush !== 0) t.remoteFlush += c.remoteFlush;
  }

  /**
   * `kvm_mmu_unload`: drop the root reference; the next access reloads. That reload is
   * `kvm_mmu_load`, which flushes the current context whatever root it gets (mmu.c:5912-5919) —
   * also the same valid root back, which a TDP MMU root outlives its last vCPU reference to be
   * (tdp_mmu.c:84-89; found again by kvm_tdp_mmu_alloc_root, :271-274) — so the TLB is told the
   * loaded root is unknown (`tlbSyncRoot` compares roots by identity).
   */
  unload(): void {
    if (this.mirrorRoot !== null) {
      this.vm.tdp.putRoot(this.mirrorRoot, this.index);
      this.mirrorRoot = null;
    }
    if (this.root === null) return;
    this.vm.tdp.putRoot(this.root, this.index);
    this.root = null;
    this.tlbRoot = null;
    this.tdpInputs = undefined;
  }

  /**
   * TD roots (`mmu_alloc_direct_roots`, §11.2): the mirror root first, then the direct root, so
   * the states are both invalid, mirror valid + direct invalid, or both valid. Only the direct
   * root is loaded (`tdx_load_mmu_pgd` → SHARED_EPT_POINTER); private GPAs walk the S-EPT.
   */
  private ensureTdRoots(): TdpPage {
    const tdp = this.vm.tdp;
    if (this.mirrorRoot !== null && this.mirrorRoot.role.invalid) {
      tdp.putRoot(this.mirrorRoot, this.index);
      this.mirrorRoot = null;
    }
    if (this.root !== null && (this.root.role.invalid || this.mirrorRoot === null)) {
      tdp.putRoot(this.root, this.index); // kvm_mmu_free_obsolete_roots: the direct root only
      this.root = null;
      this.tdpInputs = undefined;
    }
    if (this.root === null) {
      if (this.mirrorRoot === null) this.mirrorRoot = tdp.getRoot(this.rootRoleValue.with({ isMirror: true }), this.index);
      this.root = tdp.getRoot(this.rootRoleValue, this.index);
      const inputs: WalkInputs = {
        mem: this.vm.host.frames, format: this.vm.config.hardwareFormat, rootGfn: this.root.pfn,
        pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: false,
      };
      this.tdpInputs = inputs;
      this.septInputs = { ...inputs, rootGfn: this.vm.td!.sept.rootPfn };
    }
    return this.root;
  }

  /** `kvm_mmu_reload` / `kvm_mmu_load`: get (or share) the root for root_role. */
  private ensureRoot(): TdpPage {
    if (this.vm.td !== undefined) return this.ensureTdRoots();
    if (this.root !== null && this.root.role.invalid) this.unload(); // obsolete root (zap-all)
    if (this.root === null) {
      this.root = this.vm.tdp.getRoot(this.rootRoleValue, this.index);
      this.tdpInputs = {
        mem: this.vm.host.frames,
        format: this.vm.config.hardwareFormat,
        rootGfn: this.root.pfn,
        pdptrs: undefined,
        pdptBase: 0,
        pkru: 0,
        fetchSetsId: this.vm.config.flavour === 'npt',
      };
    }
    return this.root;
  }

  // ---- the hardware TDP walk, as the second stage of the guest walk ----

  private secondStage(gfn: number, final: boolean, entryOffset = 0): number {
    this.curEntryOffset = entryOffset;
    // MBEC: the CPU checks XU for a user-mode linear address and XS otherwise (kvm-7x.md §1.1); the
    // hardware format's MBEC table reads that from the access's U bit.
    const xu = final && this.vm.config.mbec && this.walkerValue.stagedUserLinear ? PFERR.USER : 0;
    const t = this.tdpWalk(gfn, final, final ? this.curFinalAccess | xu : this.curTableAccess);
    if (t >= 0) {
      // Memory references of this attempt's 2D walk, counted as it happens: the guest entry read
      // after each table's translation, and each translation's TDP depth (memory-refs.ts).
      const sc = this.tdpScratch;
      this.attemptRefs += sc.maxLevel - sc.level + (final ? 1 : 2);
    }
    return t;
  }

  private tdpWalk(gfn: number, final: boolean, acc: number): number {
    let inputs = this.tdpInputs!;
    const td = this.vm.td;
    const aliasGfn = gfn;
    if (td !== undefined) {
      // Shared GPAs: the shared EPT, indexed with the shared bit. Private: the S-EPT.
      if (isGfnAlias(td.config, gfn)) gfn -= td.config.gfnDirectBits;
      else inputs = this.septInputs!;
    }
    const vlo = ((aliasGfn % 0x100000) * 4096) >>> 0;
    const vhi = Math.floor(aliasGfn / 0x100000);
    const stop = walkTables(inputs, this.tdpScratch, vhi, vlo, acc);
    if (stop === WalkStop.Ok) {
      if (final) this.finalPfn = this.tdpScratch.gfn;
      // PML: the CPU logs the GPA when it sets D in a 4K EPT leaf.
      const sc = this.tdpScratch;
      if (this.vm.config.pml && sc.level === 1 && sc.updated[1] && (sc.lo[1]! & 0x200) === 0 && (sc.newLo[1]! & 0x200) !== 0) {
        const slot = this.vm.slotOfGfn(gfn);
        if (slot?.dirtyLogging) {
          this.pmlLog(aliasGfn);
          this.vm.markDirty(slot, gfn);
        }
      }
      return gfn; // the guest walk reads guest memory by GPA
    }
    if (td !== undefined && inputs === this.septInputs && td.sept.isPending(gfn)) this.pendingPageGfn = gfn;
    this.pendingExit = this.makeExit(aliasGfn, final, stop, acc);
    return -1;
  }

  /**
   * One entry of the 512-entry PML buffer (vmx.h:275). KVM empties it on every VM exit
   * (vmx.c:6628, `vmx_flush_pml_buffer` in `__vmx_handle_exit`), so only loggings since the last
   * exit count. Out of entries, the logging is a PML-full VM exit (SDM Vol. 3C §29.3.6: before the
   * D update; `handle_pml_full` does nothing, vmx.c:5956) and the retried access logs into the
   * emptied buffer — the same D bit and dirty bit as counted here, plus the exit. Only slots
   * being logged are counted: PML is on only while some slot logs (`vmx_update_cpu_dirty_logging`),
   * and other slots' leaves keep D.
   */
  private pmlLog(gfn: number): void {
    const exits = this.stats.get('exits');
    if (exits !== this.pmlExitsSeen) this.pmlLogged = 0;
    if (this.pmlLogged === PML_LOG_NR_ENTRIES) {
      this.stats.inc('exits');
      this.stats.inc('pml_full_exits');
      this.priceBareExit();
      this.vm.events.recordUnchecked({ kind: 'pml_full', vcpu: this.index, gpa: BigInt(gfn) * 4096n, outcome: 'PML buffer full: VM exit, buffer flushed' });
      this.pmlLogged = 0;
    }
    this.pmlLogged++;
    this.pmlExitsSeen = this.stats.get('exits');
  }

  /**
   * An exit outside an access's fault path (a PML-full exit, the dirty-log kick) in the vCPU's
   * modelled cycles: the exit round trip only — `handle_pml_full` does nothing (vmx.c:5956), and
   * emptying the PML buffer (`vmx_flush_pml_buffer`) and the kick's IPI are not priced.
   */
  private priceBareExit(): void {
    this.priceExits(1, 0);
  }

  /** `n` exits outside an access (each a round trip plus `kvmCycles` of KVM handling) in the vCPU's modelled cycles. */
  private priceExits(n: number, kvmCycles: number): void {
    const x = this.vm.costModel.params.vmExitEntry.cycles;
    this.cycles.exits += n * x;
    this.cycles.kvm += n * kvmCycles;
    this.cycles.cycles += n * (x + kvmCycles);
  }

  /**
   * `kvm_vcpu_kick` from `kvm_arch_sync_dirty_log` (x86.c:6558-6575) before KVM reads a dirty
   * bitmap: with PML the vCPU — running, as a migrating guest's are — takes a VM exit, which
   * empties its PML buffer into the bitmap (vmx.c:6628).
   */
  kickForDirtyLogSync(): void {
    if (!this.vm.config.pml) return;
    this.stats.inc('exits');
    this.priceBareExit();
    this.pmlLogged = 0;
    this.pmlExitsSeen = this.stats.get('exits');
  }

  private makeExit(gfn: number, final: boolean, stop: number, acc: number): TdpExit {
    const s = this.tdpScratch;
    // The address of the access that faulted: the data byte for the final access; for a guest
    // page-table access (a read of an entry, or the CPU's A/D write to it) the entry's own
    // address, entry-granular (8 bytes; 4 for 32-bit paging).
    const gpa = BigInt(gfn) * 4096n + (final ? this.curGva & 0xfffn : BigInt(this.curEntryOffset));
    if (this.vm.config.flavour === 'npt') {
      // EXITINFO2 is the address of the faulting access (APM Vol. 2 §15.25.6): on a guest
      // page-table access the entry's own address, 8-byte granular — a PAE PDPTE's too, which
      // nested paging reads from memory like any entry — as QEMU's SVM model writes it (target/
      // i386/tcg/system/excp_helper.c: ptw_translate's `.cr2 = addr` → raise_stage2's
      // exit_info_2) and as KVM passes it on: npf_interception hands it to kvm_mmu_page_fault
      // (svm.c:2101, 2117), and a fault reflected to L1 keeps it (paging_tmpl.h:516
      // `walker->fault.address = addr` → svm/nested.c:50 `exit_info_2 = fault->address`).
      return hardwareNpfExit(gpa, s.errorCode, final, stop === WalkStop.Reserved);
    }
    // EPT: the guest-physical-address field "receives the guest-physical address that caused the
    // EPT violation or EPT misconfiguration" (SDM Vol. 3C §28.2.1; §27.2.1 in older editions).
    // Reads of guest paging structures, and the CPU's writes to them to set A/D, are accesses
    // with the entry's guest-physical address (§29.3.3.2; §28.2.3.2 in older editions), and for
    // such an exit "translation of the linear address may reference a paging-structure entry
    // whose access caused the EPT violation" (§28.2.1, guest-linear address). kvm-unit-tests
    // expects the guest PTE's address `virt_to_phys(ptep)` there (x86/vmx_tests.c:2651,
    // 2663-2664 → :2544 at 1da1819e; that PTE sits at offset 0 of its page, :2652, so the test
    // cannot tell entry from page). KVM uses the hardware's value (handle_ept_violation /
    // handle_ept_misconfig, vmx.c:5768, 5796).
    const rights = walkedEptRights(s.lo, s.maxLevel, s.level);
    const rwx = rights & 7;
    const xu = rights >>> 3;
    // mmu_has_mbec(root_mmu) = root_role.cr4_smep (7.3 mmu.h, kvm-7x.md §1.6): with MBEC the
    // qualification's bit 6 is the AND of XU (§1.2); bits 11:9 describe L1's linear address on the
    // final translation.
    const g = final ? this.walkerValue.stagedGuestRights : undefined;
    const guestLinear = g === undefined ? 0 : guestLinearBits(g.user, g.writable, g.executeDisable);
    return hardwareEptExit(gpa, acc, rwx, final, stop === WalkStop.Reserved, ept73Exit(this.vm.config.kvm, this.rootRoleValue.cr4Smep, xu === 1, guestLinear));
  }

  // ---- KVM: kvm_mmu_page_fault (§12.2) ----

  /** Handle one TDP exit. Returns the RET_PF_* value and whether the fast or MMIO path did it. */
  pageFault(exit: TdpExit): { ret: RetPf | typeof KVM_EFAULT | typeof KVM_EIO; fast: boolean; mmio: boolean; emulation?: string; memoryFault?: MemoryFaultExit } {
    checkTdpExit(exit);
    if (this.vm.td !== undefined) {
      const direct = this.ensureRoot();
      return tdxPageFault(this.vm, exit, { index: this.index, stats: this.stats, mirror: this.mirrorRoot!, direct, gva: this.curGva });
    }
    const vm = this.vm;
    // KVM loads a root on the way into the guest (kvm_mmu_reload), never in the exit handler.
    const root = this.root;
    if (root === null) {
      // kvm_mmu_page_fault: WARN_ON_ONCE(!VALID_PAGE(root.hpa)) → RET_PF_RETRY, uncounted (mmu.c:6246-6247).
      vm.events.recordUnchecked({ kind: 'page_fault', vcpu: this.index, gva: this.curGva, gpa: exit.gpa, code: exit.errorCode, outcome: 'RET_PF_RETRY (no root)' });
      return { ret: RET_PF.RETRY, fast: false, mmio: false };
    }
    let ec = exit.errorCode;
    // kvm_mmu_page_fault (mmu.c:6259-6262): a SW-protected VM's non-RSVD fault on a private gfn is private.
    const attrs = vm.memAttributes;
    const isPrivate = attrs !== undefined && (ec & BigInt(PFERR.RSVD)) === 0n && attrs.isPrivateUnchecked(Number(exit.gpa >> 12n));
    if (isPrivate) ec |= PFERR_PRIVATE_ACCESS;
    let r: RetPf = RET_PF.INVALID;
    let fast = false;
    let mmio = false;
    let emulation: string | undefined;
    if (ec & BigInt(PFERR.RSVD)) {
      r = this.handleMmioPageFault(exit.gpa, root);
      if (r === RET_PF.EMULATE) {
        mmio = true;
        emulation = 'MMIO (cached MMIO SPTE)';
      }
    }
    if (r === RET_PF.INVALID) {
      this.stats.inc('pf_taken');
      const fault = newPageFault(exit.gpa, ec);
      // kvm_tdp_mmu_page_fault: page track → fast path → faultin → map.
      if (fault.write && fault.present && !fault.rsvd && vm.isGfnWriteTracked(fault.gfn)) r = RET_PF.WRITE_PROTECTED;
      else {
        r = vm.tdp.fastPageFaultUnchecked(fault, root, this.index, this.stats);
        fast = r !== RET_PF.INVALID;
        if (!fast) {
          const slot = vm.slotOfGfn(fault.gfn);
          const pf = attrs === undefined ? undefined : faultinPrivate(attrs, slot, fault.gfn, isPrivate);
          if (pf?.kind === 'memory-fault') {
            vm.events.recordUnchecked({ kind: 'page_fault', vcpu: this.index, gva: this.curGva, gpa: exit.gpa, code: ec, outcome: '-EFAULT' });
            vm.events.recordUnchecked({ kind: 'memory_fault', vcpu: this.index, gpa: pf.exit.gpa, code: pf.exit.flags, outcome: `KVM_EXIT_MEMORY_FAULT: ${pf.exit.reason}` });
            vm.afterOperation();
            return { ret: KVM_EFAULT, fast: false, mmio: false, memoryFault: pf.exit };
          }
          // A huge page may not span gfns of both kinds (KVM_LPAGE_MIXED_FLAG).
          if (attrs !== undefined) fault.maxLevel = Math.min(fault.maxLevel, attrs.uniformLevelUnchecked(fault.gfn));
          if (pf?.kind === 'private') {
            Object.assign(fault, { slot, pfn: pf.pfn, mapWritable: true, maxLevel: pf.maxLevel });
          } else if (slot === undefined) {
            if (!vm.config.mmioEnabled) {
              // kvm_handle_noslot_fault: without MMIO caching, emulate before touching the tables.
              r = RET_PF.EMULATE;
              emulation = 'MMIO (MMIO caching disabled)';
            } else if (exit.gpa >> BigInt(vm.config.hostMaxPhyAddr) !== 0n) {
              r = RET_PF.EMULATE; // kvm_handle_noslot_fault: beyond max_gfn, no MMIO SPTE
              emulation = 'GPA beyond the host MAXPHYADDR';
            }
          } else if (slot.readonly && fault.write) {
            r = RET_PF.EMULATE; // KVM_PFN_ERR_RO_FAULT: a write to ROM is emulated (dropped)
            emulation = 'write to a read-only memslot';
          } else {
            fault.slot = slot;
            fault.pfn = memslotPfn(slot, fault.gfn);
            fault.mapWritable = !slot.readonly;
          }
          // is_page_fault_stale (mmu.c:4828-4829): an obsolete root (invalidated while the guest ran,
          // mmu.c:4688-4689) is not mapped into; the guest re-enters on a new root.
          if (r === RET_PF.INVALID && root.role.invalid) r = RET_PF.RETRY;
          if (r === RET_PF.INVALID) {
            r = vm.tdp.mapUnchecked(fault, root, this.index, this.stats);
            if (r === RET_PF.EMULATE) {
              mmio = true;
              emulation = 'MMIO (new MMIO SPTE)';
              this.mmioCache = { gfn: fault.gfn, gen: vm.mmioGeneration };
            }
          }
        }
      }
    }
    if (r === RET_PF.WRITE_PROTECTED) {
      // kvm_mmu_write_protect_fault: a direct MMU unprotects and retries only for a fault on a
      // guest paging structure (PFERR_GUEST_PAGE); otherwise the write is emulated.
      if ((ec & BigInt(NPF_GUEST_PAGE)) !== 0n && vm.shadow.unprotectGfn(Number(exit.gpa >> 12n), this.index)) r = RET_PF.RETRY;
      else {
        r = RET_PF.EMULATE;
        emulation = 'write to a write-protected gfn (shadowed page table)';
      }
    }
    if (r === RET_PF.FIXED) this.stats.inc('pf_fixed');
    else if (r === RET_PF.EMULATE) this.stats.inc('pf_emulate');
    else if (r === RET_PF.SPURIOUS) this.stats.inc('pf_spurious');
    vm.events.recordUnchecked({ kind: 'page_fault', vcpu: this.index, gva: this.curGva, gpa: exit.gpa, code: ec, outcome: RET_PF_NAMES[r]! + (fast ? ' (fast)' : '') });
    vm.afterOperation();
    return emulation === undefined ? { ret: r, fast, mmio } : { ret: r, fast, mmio, emulation };
  }

  /** `handle_mmio_page_fault` (§7.8). */
  private handleMmioPageFault(gpa: bigint, root: TdpPage): RetPf {
    const gfn = Number(gpa >> 12n);
    const c = this.mmioCache;
    if (c !== undefined && c.gfn === gfn && c.gen === this.vm.mmioGeneration) return RET_PF.EMULATE;
    const [, , level, spte] = this.vm.tdp.lastSpteUnchecked(root, gfn);
    if (isShadowPresent(spte) && isRsvdSpte(this.vm.config, spte, level)) {
      throw new InvariantViolation('mmio-rsvd-present', 'an RSVD fault found reserved bits in a present SPTE (a KVM bug)', '0x' + spte.toString(16));
    }
    if (isMmioSpte(this.vm.config, spte)) {
      if (!mmioGenerationMatches(this.vm.config, spte, this.vm.mmioGeneration)) return RET_PF.INVALID;
      this.mmioCache = { gfn, gen: this.vm.mmioGeneration };
      return RET_PF.EMULATE;
    }
    return RET_PF.RETRY;
  }

  // ---- a guest access through the whole pipeline ----

  access(address: Gva | bigint, access: Access): AccessResult {
    const addr = checkAddressArg('address', address); // a bigint (a safe-integer number converted)
    return this.accessChecked(addr, address, access, encodeAccess(access)); // checks the access object before anything runs
  }

  /**
   * `access` after its argument checks: `addr` is `address` checked (a u64 bigint), `enc` the
   * encoded `access`. The usual TLB hit is served here, decided before anything changes: the TDP
   * root_mmu with its root loaded, valid and synced (so `ensureRoot`/`tlbSyncRoot` would do
   * nothing), no TD, an address that passes the mode's rule, and an L1 entry whose cached rights
   * allow the access. Then it counts what `accessFull` counts for that hit, records its event,
   * adds its cost and returns its result; anything else goes to `accessFull` having changed
   * nothing (the peek in `Tlb.l1Unchecked`'s arrays counts and marks nothing), which runs as before.
   *
   * One function, and on purpose larger than V8 inlines (over 460 bytes of bytecode,
   * `--max-inlined-bytecode-size`): `read`/`write`/`fetch`/`access` are inlined into their
   * callers, this never is, so V8 compiles it on its own with its whole inlining budget
   * (`--max-inlined-bytecode-size-cumulative`, 920 bytes of inlined bytecode) for the helpers it
   * calls, and every loop that calls `read` runs the same code. While the hit was two smaller
   * functions, a loop compiled before them inlined them with what was left of its own budget, and
   * which helpers stayed calls depended on the loop and on the order of compilation: the same hit
   * took 79 ns in one benchmark loop and 168 ns in the next. (This also means no caller can drop a
   * hit's result allocation: a hit whose result is ignored costs what one whose result is kept costs.)
   *
   * The budget counts only what is inlined, not this function's own bytecode, and every helper
   * of the hit must fit in it: a helper left a call costs the call and, for the TLB scan, a heap
   * number for the VPN (above 2^31). So the result is built here, not by `tlbHitResult` (256 bytes
   * of bytecode, which left the 4 KiB scan `peekSized` a call), with the same fields in the same
   * order (the fast-path test compares the two on random configurations), and the scan is called
   * here, not through a TLB method (V8 considers a call nested in an inlined helper after every
   * call of the function's own). Everything the hit calls is then inlined on Node 20; on the tlb
   * benchmark's loops this took a quarter off the hit's time, with the shared empty arrays and the
   * hit context's copies of the walker's rights.
   */
  private accessChecked(addr: bigint, address: Gva | bigint, access: Access, enc: number): AccessResult {
    const hc = this.hitCtx;
    const root = this.root;
    // A hit context exists only with the TLB model, on the TDP root_mmu, outside a TD (`td` is
    // fixed at the VM's creation): no test of those here but that the MMU is still root_mmu.
    if (hc === undefined || this.mmuValue !== this.tdpRootMmu || hc.root !== root || root !== this.tlbRoot || hc.role !== root.role || hc.regs !== this.regsValue) {
      return this.accessFull(addr, address, access, enc);
    }
    const level = hc.level; // the walker's base level (the same walker while the registers are the same)
    if (level > 0 && !this.cr3Loaded) return this.accessFull(addr, address, access, enc); // which throws
    const vm = this.vm;
    vm.checkAliveUnchecked('KVM_RUN', this.index); // after the CR3 check, as in accessFull
    const h = this.hitAddrs;
    h.splitUnchecked(addr); // passed the API edge's check (checkAddressArg): a u64
    // The mode's address rule (GvaWalker's `checkAddressUnchecked`) on bits 63:32, with no BigInt
    // compare: canonical with 4-level (bits 63:47 equal) and 5-level paging (bits 63:56 equal), 32
    // bits wide below. An address it refuses goes to accessFull, which throws the mode's error.
    const hi = h.hi;
    if (level >= 4 ? (level === 5 ? hi >= 0x0100_0000 && hi < 0xff00_0000 : hi >= 0x8000 && hi < 0xffff_8000) : hi !== 0) {
      return this.accessFull(addr, address, access, enc);
    }
    const fetch = (enc & PFERR.FETCH) !== 0;
    const tlb = hc.tlb;
    const l1 = tlb.l1Unchecked(fetch);
    const vpn = vpnOfHalves(hi, h.lo);
    const e = l1[0]!.peekSized(vpn, hc.tag, 0) ?? tlb.peekL1LargeUnchecked(l1, hc.tag, vpn);
    if (e === undefined || !rightsPermit(hc.perms, hc.pkruMask, hc.pkru, e, enc)) return this.accessFull(addr, address, access, enc);
    // The hit: from here on it changes what accessFull's L1 hit changes, in the same order.
    tlb.useL1Unchecked(e, l1);
    this.stats.addUnchecked(GUEST_ACCESSES);
    if (vm.events.enabled) this.recordTlbHit(addr, 'l1');
    const cost = hc.cost;
    // tlbHitResult(addr, access, e, 'l1', h, cost), written out: see above.
    const size = PAGE_BYTES[e.size]!;
    const off = h.low & (size - 1);
    const gpa = h.makeNum(e.guestFrame * 4096 + off) as Gpa;
    const hpa = h.makeNum(e.hostFrame * 4096 + off) as Hpa;
    const guestWalk: WalkOk = {
      status: 'ok', stage: 'gva_walk', address: addr as Gva, access, trace: NO_STEPS, gpa, gfn: (e.guestFrame + (off >>> 12)) as Gfn,
      level: e.size + 1, pageSize: size, pteAccess: e.acc, pkey: e.pkey, gpaKind: e.gpaKind ?? 'ram', adUpdates: 0,
    };
    const r: AccessResult = {
      status: 'ok', gva: addr as Gva, access, gpa, hpa, guestWalk,
      exits: NO_EXITS, attempts: 1, tlb: 'l1', walkRefs: 0, cycles: cost.cycles, cost,
    };
    // Costs are non-negative and `cycles` is their sum, so 0 cycles means every part is 0 and
    // addCost would add nothing (the default L1 hit is free): no call then.
    if (cost.cycles !== 0) this.addCost(cost);
    return r;
  }

  /** `accessChecked` for everything but the L1 TLB hits it serves itself. */
  private accessFull(addr: bigint, address: Gva | bigint, access: Access, enc: number): AccessResult {
    if (this.walkerValue.baseLevel > 0 && !this.cr3Loaded) { // role.isCr0Pg
      throw new InvalidRegisterStateError('cr3-unset', 'paging is on but CR3 was never loaded on this vCPU', hex(this.regsValue.cr3));
    }
    this.vm.checkAliveUnchecked('KVM_RUN', this.index);
    const td = this.vm.td;
    if (td !== undefined && td.state !== 'runnable') {
      // tdx_vcpu_pre_run (tdx.c:873-878): KVM_RUN before KVM_TDX_FINALIZE_VM is -EINVAL.
      throw new InvalidArgumentError('td-not-runnable', 'KVM_RUN on a TD before KVM_TDX_FINALIZE_VM (tdx_vcpu_pre_run: -EINVAL)', td.state);
    }
    const flushes = this.vm.stats.at(REMOTE_TLB_FLUSH);
    const tlb = this.tlbModel;
    // vcpu_load … vcpu_put: kvm_get_running_vcpu() is this vCPU while it runs.
    this.vm.runningRing = this.dirtyRing;
    let r: AccessResult;
    try {
      if (tlb === undefined) r = this.mmuValue.access(address, access);
      else if (this.mmuValue === this.tdpRootMmu) r = this.tlbAccess(tlb, addr, access, enc);
      else r = this.tlbShadowAccess(tlb, address, access);
    } finally {
      this.vm.runningRing = undefined;
    }
    this.price(r, this.vm.stats.at(REMOTE_TLB_FLUSH) - flushes);
    // A fault reflected to L1 is a nested VM exit: nested_ept_uninit_mmu_context /
    // nested_svm_uninit_mmu_context point vcpu->arch.mmu back at root_mmu.
    if (r.status === 'l1-exit') {
      this.backToL1();
    }
    // L2 on root_mmu: the #PF KVM would inject into L2 is a VM exit when L1 intercepts it
    // (kvm_multiple_exception → nested_vmx_is_exception_vmexit, vmx/nested.c:506-522).
    const l1 = this.l1State;
    if (r.status === 'guest-pf' && l1 !== undefined && r.guestWalk.status === 'fault' && isPageFaultVmexit(l1.intercepts, r.guestWalk.errorCode)) {
      const l1Intercept = pageFaultExit(r.gva, r.guestWalk.errorCode);
      this.exitNested('L2 #PF: VM exit to L1 (EXCEPTION_NMI)');
      return { ...r, status: 'l1-exit', l1Intercept };
    }
    return r;
  }

  /** root_mmu with TDP: one access through the hardware 2D walk. */
  private tdpAccess(address: Gva | bigint, access: Access): AccessResult {
    const a = this.walkerValue.checkAddress(BigInt(address));
    const enc = encodeAccess(access);
    const vlo = Number(a & 0xffffffffn);
    const vhi = Number(a >> 32n);
    const exits: ExitRecord[] = [];
    this.stats.inc('guest_accesses');
    const npt = this.vm.config.flavour === 'npt';
    // The final access as the TDP tables see it; guest table accesses are writes when EPT A/D is
    // on (the CPU may set guest A/D), and always W|U for NPT (reference §5.3, §6.6).
    // 7.3 EPT: a read is an access with neither W nor F (no PFERR_USER, kvm-7x.md §1.3).
    const kindBits = enc & (PFERR.WRITE | PFERR.FETCH);
    const eptRead = this.vm.config.kvm === '7.3' ? 0 : PFERR.USER;
    this.curFinalAccess = npt ? kindBits | PFERR.USER : kindBits === 0 ? eptRead : kindBits;
    this.curTableAccess = npt ? PFERR.WRITE | PFERR.USER : this.vm.config.adEnabled ? PFERR.WRITE : eptRead;
    this.curGva = a;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      dirtyRingEntryCheck(this.dirtyRing, this.index);
      this.ensureRoot();
      this.pendingExit = undefined;
      this.pendingPageGfn = -1;
      this.attemptRefs = 0;
      const stop = this.walkerValue.walkRawStagedUnchecked(vhi, vlo, enc, this.stage, npt || this.vm.config.adEnabled ? undefined : this.adWrite);
      if (stop === WalkStop.SecondStage && this.pendingPageGfn >= 0) {
        // The TDX module, not KVM, sees the PENDING page first.
        const status = pendingPageAccess(this.vm.td!, BigInt(this.pendingPageGfn) << 12n, this.index, a, this.vm.events);
        if (status === 'vm-dead') {
          // With SEPT_VE_DISABLE the EPT violation is an exit to KVM (++vcpu->stat.exits, x86.c:11172)
          // whose handler kills the VM and returns -EIO (tdx.c:1943-1947).
          const exit = this.pendingExit!;
          this.stats.inc('exits');
          this.stats.inc('ept_violations');
          exits.push({ ...exit, ret: '-EIO', fast: false, mmio: false });
          this.vm.kvmVmDead(`a guest access to PENDING GPA ${hex(BigInt(this.pendingPageGfn) << 12n)} with SEPT_VE_DISABLE (tdx.c:1943-1947)`, this.index);
        }
        const guestWalk = this.walkerValue.recordLast(stop, mkGva(a), access);
        return { status, gva: mkGva(a), access, gpa: undefined, hpa: undefined, guestWalk, exits, attempts: attempt };
      }
      if (stop === WalkStop.SecondStage) {
        const exit = this.pendingExit!;
        this.stats.inc('exits');
        this.stats.inc(exit.kind === 'ept_violation' ? 'ept_violations' : exit.kind === 'ept_misconfig' ? 'ept_misconfigs' : 'npf_exits');
        this.vm.events.recordUnchecked({ kind: exit.kind, vcpu: this.index, gva: a, gpa: exit.gpa, code: exit.info, outcome: exit.onGuestTable ? 'guest paging-structure access' : 'final translation' });
        const h = this.pageFault(exit);
        if (h.ret === KVM_EIO) {
          // The exit handler killed the VM (tdx.c:1969-1970): KVM_RUN returns -EIO; the exit stays counted.
          exits.push({ ...exit, ret: '-EIO', fast: false, mmio: false });
          const guestWalk = this.walkerValue.recordLast(stop, mkGva(a), access);
          return { status: 'vm-dead', gva: mkGva(a), access, gpa: undefined, hpa: undefined, guestWalk, exits, attempts: attempt };
        }
        if (h.memoryFault !== undefined) {
          exits.push({ ...exit, ret: '-EFAULT', fast: false, mmio: false });
          const guestWalk = this.walkerValue.recordLast(stop, mkGva(a), access);
          return {
            status: 'memory-fault', gva: mkGva(a), access, gpa: exit.onGuestTable ? undefined : (exit.gpa as Gpa), hpa: undefined,
            guestWalk, exits, attempts: attempt, memoryFault: h.memoryFault,
          };
        }
        exits.push({ ...exit, ret: RET_PF_NAMES[h.ret]!, fast: h.fast, mmio: h.mmio });
        if (h.ret === RET_PF.EMULATE) {
          const guestWalk = this.walkerValue.recordLast(stop, mkGva(a), access);
          return {
            status: 'emulated', gva: mkGva(a), access, gpa: exit.onGuestTable ? undefined : (exit.gpa as Gpa), hpa: undefined,
            guestWalk, exits, attempts: attempt, emulation: h.emulation ?? 'emulated',
          };
        }
        continue; // RETRY / FIXED / SPURIOUS: the guest re-executes the access
      }
      const guestWalk = this.walkerValue.recordLast(stop, mkGva(a), access);
      if (stop !== WalkStop.Ok) {
        // With TDP a guest #PF is delivered by the hardware, without an exit.
        this.vm.events.recordUnchecked({ kind: 'guest_pf', vcpu: this.index, gva: a, code: BigInt(this.walkerValue.lastErrorCode), outcome: guestWalk.status === 'fault' ? guestWalk.reason : '' });
        return { status: 'guest-pf', gva: mkGva(a), access, gpa: undefined, hpa: undefined, guestWalk, exits, attempts: attempt };
      }
      const hpa = mkHpa(BigInt(this.finalPfn) * 4096n + (a & 0xfffn)) as Hpa;
      return { status: 'ok', gva: mkGva(a), access, gpa: guestWalk.status === 'ok' ? guestWalk.gpa : undefined, hpa, guestWalk, exits, attempts: attempt };
    }
    throw new InvariantViolation('no-progress', `the access made no progress after ${MAX_ATTEMPTS} exits`, hex(a));
  }

  // ---- guest operations the shadow MMU intercepts ----

  /**
   * MOV to CR3 (from RAX). With CR4.PCIDE, bit 63 (no-flush) keeps the PCID's TLB entries
   * (`kvm_set_cr3`). In an L2 whose L1 sets CR3-load exiting the load does not happen: it is a
   * CR_ACCESS exit to L1 (`l1Exit`), and the vCPU is back in L1; likewise under nested EPT / NPT
   * when L1 intercepts it (`setRegisters` → setL2Registers, l2-cr-intercept.ts).
   */
  movCr3(value: bigint): RegisterWriteResult {
    this.vm.checkAliveUnchecked('MOV to CR3 (KVM_RUN)', this.index);
    checkRegisterTypes('value', { cr3: value }, true);
    if (this.l1State?.intercepts.cr3Load === true) {
      const role = this.rootRole.word;
      const cpu = this.role;
      const l1Exit = cr3LoadExit(0);
      this.exitNested('L2 MOV to CR3: VM exit to L1 (CR_ACCESS)');
      return { roleChanged: !cpu.equals(this.role), rootChanged: role !== this.rootRole.word, l1Exit };
    }
    // The running guest's CR4.PCIDE (L2's on guest_mmu: the write is L2's, setL2Registers).
    const pcide = (this.regs.cr4 & CR4.PCIDE) !== 0n;
    const noFlush = pcide && (value >> 63n) === 1n;
    this.noFlush = noFlush;
    try {
      return this.setRegisters({ cr3: noFlush ? value & ~(1n << 63n) : value });
    } finally {
      this.noFlush = false;
    }
  }

  /**
   * INVLPG: with shadow paging, re-sync the one entry in every root (`kvm_mmu_invlpg`). In an L2
   * whose L1 sets INVLPG exiting it is an exit to L1 instead (returned; the vCPU is back in L1).
   */
  invlpg(address: Gva | bigint): InvlpgExit | undefined {
    this.vm.checkAliveUnchecked('INVLPG (KVM_RUN)', this.index);
    checkAddressArg('address', address);
    if (this.l1State?.intercepts.invlpg === true) {
      const x = invlpgExit(mkGva(this.walkerValue.checkAddress(BigInt(address))));
      this.exitNested('L2 INVLPG: VM exit to L1 (INVLPG)');
      return x;
    }
    const tlb = this.tlbModel;
    if (tlb !== undefined && this.mmuValue === this.shadowVcpu) {
      // Intercepted: kvm_mmu_invlpg → kvm_mmu_invalidate_addr, whose flush_tlb_gva (mmu.c:6379)
      // comes before the sync: vpid_sync_vcpu_addr = INVVPID individual-address, the page in
      // every PCID (vmx.c:3257-3264); a no-op for VPID 0, whose entries the intercept's exit and
      // entry flushed. Shadow paging is modelled on VMX with EPT off (SVM would INVLPGA the ASID,
      // svm.c:4182-4186, the same entries).
      const vpid = this.currentVpid;
      const va = this.walkerValue.checkAddress(BigInt(address)); // the shadow MMU's own check, first
      if (vpid !== 0) tlb.invvpid(0, vpid, va);
      else tlb.vmTransitionNoVpid();
    }
    if (this.mmuValue.invlpg !== undefined) this.mmuValue.invlpg(address);
    else this.stats.inc('invlpg');
    if (tlb === undefined || this.mmuValue === this.shadowVcpu) return;
    const vpid = this.currentVpid;
    // The CPU's INVLPG (not intercepted with EPT): SDM Vol. 3A §4.10.4.1.
    const pcid = this.mmuValue === this.rootMmu ? ((this.regsValue.cr4 & CR4.PCIDE) !== 0n ? Number(this.regsValue.cr3 & 0xfffn) : 0) : this.l2Pcid;
    tlb.invlpg({ vpid, pcid, eptp: -1 }, BigInt(address));
  }

  /** A guest TLB flush (KVM_REQ_TLB_FLUSH_GUEST): with shadow paging it syncs the roots. */
  flushGuestTlb(): void {
    this.vm.checkAliveUnchecked('guest TLB flush (KVM_RUN)', this.index);
    if (this.mmuValue.flushGuestTlb !== undefined) this.mmuValue.flushGuestTlb();
    else this.stats.inc('tlb_flush');
    this.flushTlbGuest();
  }

  /**
   * A guest store of `bytes` (1, 2, 4, 8) little-endian bytes: the access, then the memory write —
   * by the hardware when the access completed, by KVM's emulator (followed by
   * `kvm_mmu_track_write`) when it wrote to a write-protected page table. Writes to ROM and MMIO
   * are dropped, as their emulation would.
   */
  store(address: Gva | bigint, value: bigint, bytes: 1 | 2 | 4 | 8 = 8, user = false): AccessResult {
    if (![1, 2, 4, 8].includes(bytes)) throw new InvalidArgumentError('store-size', 'a store writes 1, 2, 4 or 8 bytes', String(bytes));
    checkStoreArgs(address, value, bytes, user); // before the access: a refused store changes nothing
    if (BigInt(address) % BigInt(bytes) !== 0n) throw new InvalidArgumentError('store-alignment', 'the model stores naturally aligned values only', hex(BigInt(address)));
    const r = this.access(address, { kind: 'write', user });
    const raw = r.l1Gpa ?? r.gpa;
    // A TD's two aliases name the same guest page: memory is addressed by the natural GPA.
    const target = raw !== undefined && this.vm.td !== undefined ? ((raw as bigint) & ~this.vm.td.config.gpaSharedMask) : raw;
    const wp = r.status === 'emulated' && (r.emulation ?? '').startsWith('write to a write-');
    if ((r.status === 'ok' || wp) && target !== undefined) {
      const data = Array.from({ length: bytes }, (_, i) => Number((BigInt.asUintN(64, value) >> BigInt(8 * i)) & 0xffn));
      this.vm.guestMem.writeBytes(mkGpa(target), data);
      // mmu_pte_write_fetch_gpte's is_pae(vcpu) (mmu.c:5998): the running guest's CR4.PAE, L2's while L2 runs.
      if (wp) kvmMmuTrackWriteUnchecked(this.vm.shadow, Number(target), bytes, (this.regs.cr4 & CR4.PAE) !== 0n, this.index);
      this.vm.afterOperation();
    }
    return r;
  }

  /**
   * TD guest: TDG.MEM.PAGE.ACCEPT of the private 4K page at `gpa` (natural GPA). A page not yet in
   * the S-EPT costs one EPT violation (KVM AUGs it); an accepted page reads as zeros.
   */
  tdAccept(gpa: Gpa | bigint): AcceptResult {
    const td = this.vm.td;
    const g = checkAddressArg('gpa', gpa);
    if (td === undefined) throw new InvalidArgumentError('td-only', 'TDG.MEM.PAGE.ACCEPT is a TD guest\'s TDCALL', hex(g));
    this.vm.checkAliveUnchecked('TDG.MEM.PAGE.ACCEPT (KVM_RUN)', this.index);
    if (td.state !== 'runnable') throw new InvalidArgumentError('td-not-runnable', 'the TD vCPU cannot run (tdx_vcpu_pre_run)', td.state);
    if (g < 0n || g >= td.config.gpaSharedMask) throw new InvalidArgumentError('td-accept-gpa', `TDG.MEM.PAGE.ACCEPT takes a private GPA below the shared bit ${td.config.sharedBit}`, hex(g));
    this.ensureRoot();
    const r = tdgMemPageAccept(td, g, this);
    this.stats.inc('exits', r.exits);
    this.stats.inc('ept_violations', r.exits);
    // Each is an EPT violation KVM fixes on the slow path (tdx_handle_ept_violation →
    // __vmx_handle_ept_violation → kvm_mmu_page_fault, tdx.c:1935-2009, which AUGs the page);
    // the SEAMCALLs' own cost is not modelled.
    this.priceExits(r.exits, this.vm.costModel.params.kvmFaultSlow.cycles);
    if (r.status === 'accepted') this.vm.guestMem.writeBytes(mkGpa(g & ~0xfffn), new Uint8Array(4096));
    this.vm.afterOperation();
    return r;
  }

  /** `kvm_tdp_map_page` of a private GPA for KVM_TDX_INIT_MEM_REGION (error code PFERR_GUEST_FINAL | PFERR_PRIVATE_ACCESS, tdx.c:3158). */
  tdpMapPrivate(gpa: bigint): void {
    checkAddressArg('gpa', gpa);
    this.ensureRoot();
    const exit: TdpExit = { kind: 'ept_violation', reason: 48, gpa, onGuestTable: false, info: 0n, errorCode: PFERR_PRIVATE_ACCESS };
    let h: ReturnType<Vcpu['pageFault']>;
    let tries = 0;
    // kvm_tdp_map_page (mmu.c:4861-4870) faults again while the result is RET_PF_RETRY (an S-EPT
    // hook that refused, tdp_mmu.c:1297-1299); bounded here as the access loop is.
    do {
      h = this.pageFault(exit);
      // It enters at kvm_mmu_do_page_fault, below kvm_mmu_page_fault's accounting (pf_taken:
      // mmu.c:6274): no try is a guest fault.
      this.stats.inc('pf_taken', -1);
      this.vm.td!.stats.inc('private_faults', -1);
    } while (h.ret === RET_PF.RETRY && ++tries < MAX_ATTEMPTS);
    if (h.ret !== RET_PF.FIXED) throw new InvariantViolation('td-init-mem-region-map', `kvm_tdp_map_page did not map ${hex(gpa)} (${String(h.ret)})`, hex(gpa));
    this.stats.inc('pf_fixed', -1); // mmu.c:6290, likewise
  }

  /** Nested VM entry with EPT (vmcs12 enables EPT): vcpu->arch.mmu = guest_mmu. */
  enterNestedEpt(e: NestedEptEntryWithIntercepts): void {
    this.vm.checkAliveUnchecked('VMLAUNCH (KVM_RUN)', this.index);
    checkNestedEntry(e, 'eptp');
    if (this.l1State !== undefined) throw new InvalidRegisterStateError('nested-already-in-l2', 'a nested VM entry needs the vCPU in L1', 'L2');
    const intercepts = checkVmxCrIntercepts(e.intercepts);
    // Kept only once the entry succeeded: a refused entry leaves the vCPU as it was.
    const vpid12 = e.vpid ?? 0;
    if (!Number.isInteger(vpid12) || vpid12 < 0 || vpid12 > 0xffff) throw new InvalidArgumentError('entry.vpid', 'vmcs12\'s VPID is a 16-bit integer (0: VPID off in vmcs12)', String(e.vpid));
    const mmu = this.nestedEpt ?? new NestedEptMmu(this.vm, this.index, this.stats);
    mmu.enter(e);
    this.nestedEpt = mmu;
    this.mmuValue = mmu;
    this.l2CrIntercepts = intercepts;
    this.vpid12 = vpid12;
    this.l2Pcid = (e.l2.cr4 & CR4.PCIDE) !== 0n ? Number(e.l2.cr3 & 0xfffn) : 0;
    this.l2Cr4 = e.l2.cr4;
    this.nestedTransitionTlbFlush(true);
    this.vm.afterOperation();
  }

  /**
   * VMRUN with NPT enabled in vmcb12: vcpu->arch.mmu = guest_mmu shadowing NPT12. The MMU object
   * is kept only once an entry succeeded, so a refused entry leaves the vCPU as it was.
   */
  enterNestedNpt(e: NestedNptEntryWithIntercepts): void {
    this.vm.checkAliveUnchecked('VMRUN (KVM_RUN)', this.index);
    checkNestedEntry(e, 'ncr3');
    if (this.l1State !== undefined) throw new InvalidRegisterStateError('nested-already-in-l2', 'a nested VM entry needs the vCPU in L1', 'L2');
    const intercepts = checkSvmCrIntercepts(e.intercepts);
    const mmu = this.nestedNptMmu ?? new NestedNptMmu(this.vm, this.index, this.stats);
    mmu.enter(e);
    this.nestedNptMmu = mmu;
    this.mmuValue = mmu;
    this.l2CrIntercepts = intercepts;
    this.l2Pcid = (e.l2.cr4 & CR4.PCIDE) !== 0n ? Number(e.l2.cr3 & 0xfffn) : 0;
    this.l2Cr4 = e.l2.cr4;
    this.nestedTransitionTlbFlush(true);
    // As enterNestedEpt: a VMRUN installs guest_mmu and may free roots, so checking mode checks the
    // invariants here too.
    this.vm.afterOperation();
  }

  /**
   * The TLB side of a nested VM entry/exit on guest_mmu, served against the MMU then current:
   * `nested_vmx_transition_tlb_flush` requests KVM_REQ_TLB_FLUSH_GUEST for a vmcs12 without VPID
   * (vmx/nested.c:1226-1228) and on an entry whose vpid12 changed (:1241-1245); with an unchanged
   * vpid12 and EPT (L2 has its own tag, vpid02) nothing (:1253-1254).
   * `nested_svm_transition_tlb_flush` KVM_REQ_TLB_FLUSH_CURRENT always (svm/nested.c:503-504).
   */
  private nestedTransitionTlbFlush(isEnter: boolean): void {
    const tlb = this.tlbModel;
    if (tlb === undefined) return;
    if (this.vm.config.flavour === 'npt') this.flushTlbCurrent(tlb);
    else if (this.vpid12 === 0) this.flushTlbGuest();
    else if (isEnter && this.vpid12 !== this.lastVpid12) {
      this.lastVpid12 = this.vpid12;
      this.flushTlbGuest();
    }
  }

  /**
   * Nested VM entry without nested TDP: vmcs12 without EPT (vmcb12 without NPT), so L1 runs L2 on
   * L1's own shadow tables and L2's CR3 points at them, in L1's GPA space.
   *
   * KVM 6.16 keeps `vcpu->arch.mmu = &root_mmu` for such an L2 (`nested_vmx_load_cr3(..,
   * nested_ept = false)`, vmx/nested.c:2741 → kvm_init_mmu + kvm_mmu_new_pgd, :1171-1174): root_mmu
   * takes L2's cpu_role, whose `guest_mode` bit (`kvm_calc_cpu_role`, mmu.c:5542) gives L2
   * roots and shadow pages apart from L1's. With TDP those roots map L2's GPAs (= L1's) directly;
   * without TDP root_mmu shadows L2's CR3 tables — L1's shadow tables for L2 — GVA → HPA
   * ("shadow-on-shadow", reference kvm-mmu.md §10.5). That is also the only nested paging a VM
   * without TDP has: KVM offers nested EPT to L1 only `if (enable_ept)` (vmx/nested.c:7111-7114;
   * `enterNestedEpt` refuses a shadow VM) and accepts NPT in vmcb12 only with npt_enabled
   * (`__nested_vmcb_check_controls`, svm/nested.c:269).
   *
   * So this changes no MMU pointer: it loads L2's registers (guest_mode set) into the vCPU and
   * runs `nested_vmx_load_cr3` on root_mmu; `exitNested` does the same with L1's registers
   * (`load_vmcs12_host_state`, :4724). Both transitions then request KVM_REQ_TLB_FLUSH_GUEST, as
   * `nested_vmx_transition_tlb_flush` does for a vmcs12 without VPID (:1200-1220, called at :2705
   * and :4727); without TDP that syncs the current and previous roots
   * (`kvm_vcpu_flush_tlb_guest`, x86.c:3636-3649). Modelled: VMX with vmcs12 VPID off.
   *
   * `intercepts` are L1's vmcs12 controls for what an L1 shadowing L2 needs to see
   * (src/nested/l1-intercept.ts): #PF (exception bitmap with PFEC mask/match), CR3-load exiting
   * and INVLPG exiting. An intercepted event is a nested VM exit: `access` returns 'l1-exit' with
   * `l1Intercept`, `movCr3` and `invlpg` return the exit, and the vCPU is back in L1.
   */
  enterNested(e: { l2: PagingRegisters; intercepts?: L1Intercepts }): void {
    this.vm.checkAliveUnchecked('nested VM entry (KVM_RUN)', this.index);
    checkNestedEntry(e, undefined);
    if (this.l1State !== undefined || this.mmuValue !== this.rootMmu) {
      throw new InvalidRegisterStateError('nested-already-in-l2', 'a nested VM entry needs the vCPU in L1', 'L2');
    }
    if (this.vm.td !== undefined) throw new InvalidArgumentError('nested-in-td', 'a TD does not run nested guests in this model', 'tdx');
    const intercepts = checkL1Intercepts(e.intercepts);
    const regs: PagingRegisters = { ...e.l2, guestMode: true };
    // nested_vmx_load_cr3 / nested_svm_load_cr3 without nested TDP: load_pdptrs
    // (vmx/nested.c:1158-1164, svm/nested.c:517-519 with nested_npt false).
    const walker = this.l1Walker(regs, true); // validates first
    this.l1State = { regs: this.regsValue, cr3Loaded: this.cr3Loaded, intercepts };
    this.loadNestedCr3(walker, regs, 'L2 entry (L1 shadows L2): root_mmu with guest_mode roles');
  }

  /** Both directions of `nested_vmx_load_cr3` + the transition TLB flush on root_mmu. */
  private loadNestedCr3(walker: GvaWalker, regs: PagingRegisters, why: string): void {
    this.walkerValue = walker;
    this.regsValue = Object.freeze({ ...regs });
    this.cr3Loaded = true;
    const rootRole = this.calcRootRole(walker.role);
    // A direct root_mmu: kvm_mmu_new_pgd keeps the old root; the next load finds the TDP root
    // of the new role (guest_mode) among the VM's roots.
    if (rootRole.word !== this.rootRoleValue.word) this.unload();
    this.rootRoleValue = rootRole;
    this.vm.events.recordUnchecked({ kind: 'nested_exit', vcpu: this.index, gpa: regs.cr3, outcome: why });
    if (this.shadowVcpu !== undefined) {
      this.shadowVcpu.loadCr3Nested(walker, this.regsValue);
      this.shadowVcpu.flushGuestTlb();
    } else this.stats.inc('tlb_flush');
    this.flushTlbGuest();
    this.vm.afterOperation();
  }

  /**
   * After a nested VM exit from guest_mmu (an intercepted CR write, a reflected fault): vcpu->arch.mmu
   * = root_mmu (nested_ept_uninit_mmu_context / nested_svm_uninit_mmu_context), the entry's CR
   * intercepts end with it, and the TLB flush of the transition.
   */
  private backToL1(): void {
    this.l2CrIntercepts = undefined;
    this.mmuValue = this.rootMmu;
    this.nestedTransitionTlbFlush(false);
  }

  /** Nested VM exit: back to L1 (root_mmu). */
  exitNested(why = 'L2 exit'): void {
    checkString('why', why);
    const l1 = this.l1State;
    if (l1 !== undefined) {
      // load_pdptrs on L1's CR3 (vmx/nested.c:4724 → nested_vmx_load_cr3; svm/nested.c:1175).
      const walker = this.l1Walker(l1.regs, true);
      this.l1State = undefined;
      this.loadNestedCr3(walker, l1.regs, `${why}: root_mmu with L1 roles`);
      this.cr3Loaded = l1.cr3Loaded;
      return;
    }
    const wasL2 = this.mmuValue !== this.rootMmu;
    this.l2CrIntercepts = undefined;
    this.nestedEpt?.exit();
    if (this.nestedNptMmu?.active) {
      this.nestedNptMmu.exit();
      this.vm.afterOperation();
    }
    this.mmuValue = this.rootMmu;
    if (wasL2) this.nestedTransitionTlbFlush(false);
  }

  /** INVEPT from L1. */
  invept(type: 'single' | 'global', eptp?: bigint): number {
    this.vm.checkAliveUnchecked('INVEPT (KVM_RUN)', this.index);
    checkInveptArgs(type, eptp);
    return this.nestedEpt?.invept(type, eptp) ?? 0;
  }

  read(address: Gva | bigint, user = false): AccessResult {
    const u = checkUserArg(user) ? 1 : 0;
    return this.accessChecked(checkAddressArg('address', address), address, KIND_ACCESS.read[u], KIND_ENC.read[u]);
  }
  write(address: Gva | bigint, user = false): AccessResult {
    const u = checkUserArg(user) ? 1 : 0;
    return this.accessChecked(checkAddressArg('address', address), address, KIND_ACCESS.write[u], KIND_ENC.write[u]);
  }
  fetch(address: Gva | bigint, user = false): AccessResult {
    const u = checkUserArg(user) ? 1 : 0;
    return this.accessChecked(checkAddressArg('address', address), address, KIND_ACCESS.fetch[u], KIND_ENC.fetch[u]);
  }
}
