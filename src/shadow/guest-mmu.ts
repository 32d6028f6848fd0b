/**
 * Nested TDP with EPT (reference §10): while L2 runs, `vcpu->arch.mmu` is guest_mmu, whose shadow
 * pages (EPT02) shadow L1's EPT12 — roles from `kvm_calc_shadow_ept_root_page_role` (level and
 * A/D from EPTP12, guest_mode, execute-only from L1's capabilities), built by the same machinery
 * as shadow paging (`ept_page_fault` = FNAME(page_fault) with PTTYPE_EPT). The hardware walks L2's
 * own tables with EPT02 as the second stage; an EPT violation on an nGPA goes to KVM, which either
 * fixes EPT02 (EPT12 maps it) or reflects an EPT violation / misconfiguration to L1 (EPT12 does
 * not). INVEPT frees guest_mmu roots; L2 entry switches to guest_mmu (`kvm_mmu_new_pgd(EPTP12)`
 * reuses a cached root), L2 exit back to root_mmu, keeping guest_mmu's roots.
 *
 * NPT12 shadowing (`kvm_init_shadow_npt_mmu`) is in guest-mmu-npt.ts.
 */
import { type Gva, type Ngpa } from '../address/address';
import { DEFAULT_FEATURES, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { eptFormat } from '../format/ept';
import { PFERR } from '../format/acc';
import type { Counters, VcpuStatName } from '../events/stats';
import { InvalidArgumentError, hex } from '../errors';
import type { EptCapabilities } from '../nested/ept-capabilities';
import { NgpaWalker } from '../nested/ngpa-walker';
import { isPaePaging, vmcs12Pdptes } from '../nested/vmcs12-pdptes';
import { isMmioSpte, mmioGenerationMatches } from '../spte/spte';
import { RET_PF, type RetPf } from '../tdp/ret-pf';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { GvaWalker } from '../walker/gva-walker';
import { encodeAccess, type Access } from '../walker/access';
import { walkTables } from '../walker/walk';
import { WalkStop } from '../walker/walk-scratch';
import type { AccessResult, ExitRecord } from '../vm/access-result';
import type { KvmMmu } from '../vm/kvm-mmu';
import type { PageRole } from '../role/page-role';
import { ept73Exit, hardwareEptExit, hardwarePdpteLoadExit } from '../vm/exit';
import type { NestedDuring } from '../nested/nested-during';
import type { NestedExit } from '../nested/nested-exit';
import { EPT_QUAL_GUEST_MASK, guestLinearBits } from '../nested/exit-qualification';
import { walkedEptRights } from '../nested/walked-ept-rights';
import type { KvmVersion } from '../kvm-version';
import { ShadowContext, type ContextSetup } from './shadow-context';
import { checkInveptArgs, checkEntered, checkLinear, checkNestedEntry, checkNestedMmuArgs, checkReason } from './check-shadow-args';
import { shadowPageFaultUnchecked } from './shadow-fault';
import { finishNestedFault, finishedResult, recordNestedExit, stoppedResult, type NestedFaultOutcome } from './nested-access';
import { freeObsoleteRootsUnchecked, freeRootsUnchecked, mmuLoadUnchecked, newPgdUnchecked } from './roots';
import { checkRegisterTypes } from '../cpu/check-registers';
import { checkEnum } from '../validate/checks';
import { L2_PDPTE_SOURCES, l2PdptesThroughNgpa, readPdptesUnchecked } from './l2-pdptes';
import { invalidateAddrInRootUnchecked, shadowPathUnchecked } from './sync';
import { hostPfnToGfnUnchecked, type ShadowVcpuVm } from './shadow-vcpu';

const MAX_ATTEMPTS = 8;
const EPTP_PA_MASK = ((1n << 52n) - 1n) & ~0xfffn;

export interface NestedEptEntry {
  /** EPTP12 from vmcs12. */
  eptp: bigint;
  /** L1's EPT capabilities (default: everything). */
  caps?: EptCapabilities;
  /** L2's paging registers (guestMode is forced on). */
  l2: PagingRegisters;
  features?: CpuFeatures;
  /**
   * vmcs12 secondary execution control bit 22, mode-based execute control for EPT (kvm-7x.md
   * §1.1; kvm-unit-tests `CPU_MODE_BASED_EPT_EXEC = 1ul << 22`). KVM 7.3 only. Default false.
   */
  mbec?: boolean;
  /**
   * vmcs12's VIRTUAL_PROCESSOR_ID with "enable VPID" set (0 or absent: VPID off in vmcs12). Only
   * the TLB model reads it: L2 then runs with vpid02 and the transitions flush nothing unless
   * vpid12 changed (`nested_vmx_transition_tlb_flush`, vmx/nested.c:1200-1255).
   */
  vpid?: number;
  /**
   * vmcs12's GUEST_PDPTR0-3: L2's PDPTE registers when L2 has PAE paging (then required; ignored
   * otherwise). With EPT the CPU uses them and never reads the PDPT at L2's CR3 (vmcs12-pdptes.ts).
   */
  pdptes?: readonly bigint[];
}

/** vmcs12 secondary processor-based execution control bit 22 (kvm-unit-tests x86/vmx.h `CPU_MODE_BASED_EPT_EXEC`). */
export const SECONDARY_EXEC_MODE_BASED_EPT_EXEC = 1 << 22;

export interface NestedVmContext extends ShadowVcpuVm {
  readonly config: { readonly adEnabled: boolean; readonly execOnly: boolean; readonly maxHugePageLevel: number; readonly hostMaxPhyAddr: number; readonly flavour: string; readonly kvm: KvmVersion };
}

/**
 * What an L2 register write on guest_mmu did besides the write: the exits of the CPU's PDPTE load
 * (MOV to CR3, PAE L2 under EPT), and the EPT12 fault reflected to L1 when the load could not
 * complete (the write did not happen; the vCPU is back in L1).
 */
export interface L2RegisterWrite {
  exits: ExitRecord[];
  reflected: NestedExit | undefined;
}

export class NestedEptMmu implements KvmMmu {
  readonly name = 'guest_mmu';
  readonly vm: NestedVmContext;
  readonly index: number;
  readonly stats: Counters<VcpuStatName>;
  /** guest_mmu: kept across L2 entries and exits, like KVM's. */
  ctx: ShadowContext | undefined;
  ngpa: NgpaWalker | undefined;
  l2Walker: GvaWalker | undefined;
  /** L2's paging registers (guestMode set): from the last entry, then L2's own writes (`writeL2Registers`). */
  l2Regs: Readonly<PagingRegisters> | undefined;
  /** The CPUID L2's walker was made with at the entry. */
  private l2Features: CpuFeatures | undefined;
  eptp = 0n;
  /** L2 is running (vcpu->arch.mmu == &guest_mmu). */
  active = false;
  private pendingExit: { ngpa: bigint; final: boolean; stop: number; acc: number; rwx: number; xu: boolean; guestLinear: number } | undefined;
  /** Bits 11:9 of the current hardware exit, which 7.3 copies into L1's qualification (a0efd8cb221f). */
  private curGuestLinear = 0;
  private curFinal = 0;
  private curTable = 0;
  private curGva = 0n;
  private readonly stage = (gfn: number, final: boolean, entryOffset?: number): number => this.secondStage(gfn, final, entryOffset ?? 0);
  /** With EPT02 A/D off, the CPU's A/D write to an L2 entry is a separate write through EPT02. */
  private readonly adWrite = (gfn: number, entryOffset: number): boolean => this.ept02Walk(gfn, false, PFERR.WRITE, entryOffset) >= 0;

  constructor(vm: NestedVmContext, index: number, stats: Counters<VcpuStatName>) {
    checkNestedMmuArgs(vm, index, stats);
    this.vm = vm;
    this.index = index;
    this.stats = stats;
  }

  /** `guest_mmu.root_role` (`kvm_calc_shadow_ept_root_page_role`); set by the first entry. */
  get rootRole(): PageRole {
    return this.ctx!.rootRole;
  }

  /** Nested VM entry with EPT: `nested_ept_init_mmu_context` + `kvm_init_shadow_ept_mmu` + L2's CR3. */
  enter(e: NestedEptEntry): void {
    checkNestedEntry(e, 'eptp');
    if (this.vm.config.flavour !== 'ept') throw new InvalidArgumentError('nested-ept-needs-ept', 'nested EPT needs an EPT host (this VM uses NPT or shadow paging)', this.vm.config.flavour);
    const mem = this.vm.shadow.vm.guestMem;
    const kvm = this.vm.config.kvm;
    const cfg: { eptp: bigint; caps?: EptCapabilities; kvm: KvmVersion; mbec?: boolean } = { eptp: e.eptp, kvm };
    if (e.caps !== undefined) cfg.caps = e.caps;
    if (e.mbec !== undefined) cfg.mbec = e.mbec;
    const ngpa = NgpaWalker.ept(mem, cfg); // validates EPTP12 (and MBEC's version) first
    const features = e.features ?? { ...DEFAULT_FEATURES, maxPhyAddr: mem.maxPhyAddr };
    const h = this.vm.config;
    const pdptes = vmcs12Pdptes(e.l2, e.pdptes, h.hostMaxPhyAddr); // the hardware's entry check, before any change
    const l2Regs = Object.freeze({ ...e.l2, guestMode: true });
    const l2Walker = new GvaWalker(mem, l2Regs, features, pdptes, kvm);
    const cpuRole = ngpa.role;
    const setup: ContextSetup = {
      cpuRole,
      rootRole: cpuRole.base,
      gptFormat: ngpa.format,
      walkInputs: { mem, format: ngpa.format, rootGfn: Number((ngpa.root as bigint) >> 12n), pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: false },
      pdptrs: undefined,
      // vmcs02 enables MBEC when vmcs12 does (a6b7b6b2050c "VMX: enable use of MBEC"; INFERRED):
      // EPT02 is walked as L1 asked, with XS/XU.
      hwFormat: eptFormat({ level: ngpa.levels, maxPhyAddr: h.hostMaxPhyAddr, adEnabled: h.adEnabled && ngpa.format.hasAd, execonly: h.execOnly, hugePageLevel: h.maxHugePageLevel, kvm, mbec: ngpa.mbec }),
      isPae: false,
    };
    if (this.ctx === undefined) {
      this.ctx = new ShadowContext('guest_mmu', this.index, this.stats, mem, setup);
      this.ctx.obsoleteSeen = this.vm.shadow.freeObsoleteRootsRequest;
    } else this.ctx.configureUnchecked(setup);
    this.ngpa = ngpa;
    this.l2Walker = l2Walker;
    this.l2Regs = l2Regs;
    this.l2Features = features;
    this.eptp = e.eptp;
    newPgdUnchecked(this.vm.shadow, this.ctx, e.eptp);
    this.active = true;
    this.vm.shadow.vm.events.recordUnchecked({ kind: 'nested_exit', vcpu: this.index, gpa: e.eptp, outcome: 'L2 entry: vcpu->arch.mmu = guest_mmu' });
  }

  /**
   * L2 writes its own CR0/CR3/CR4/EFER without an exit to L1. What changes is nested_mmu, the walk
   * of L2's tables: `kvm_init_mmu` picks `init_kvm_nested_mmu` while L2 runs (mmu.c:5846-5847),
   * which sets nested_mmu's cpu_role and gva_to_gpa from L2's registers (mmu.c:5802-5838).
   * guest_mmu's cpu_role and root_role come from EPTP12 (`kvm_init_shadow_ept_mmu`, at the entry)
   * and do not change; its roots are freed only by `freeAllRoots` (kvm_mmu_unload).
   *
   * `pdptes` (PAE L2 only): 'keep' the PDPTE registers; 'mov-cr3': the CPU loads them, as MOV to
   * CR3 with EPT does without a VM exit to L0 (vmx.c:4477-4481 clears CR3-load exiting with EPT),
   * through EPT02 (`loadPdptesByMovCr3`): an EPT02 miss is an EPT violation to L0, which fixes
   * EPT02 and lets L2 retry or, when EPT12 does not map the PDPT, reflects it to L1 — then the MOV
   * did not complete and nothing of L2's state changed (returned: `reflected`); a present PDPTE
   * with a reserved bit makes the MOV #GP (SDM Vol. 3A §4.4.1). 'load-pdptrs': KVM's
   * `load_pdptrs` on nested_mmu for a CR0/CR4 write it handles (x86.c:1158-1161, 1351-1354; W|U
   * translation, x86.c:1047-1048; failure is #GP, x86.c:1049-1050, 1058-1062). A #GP and bad input
   * are refused before anything changes (typed errors).
   */
  writeL2Registers(regs: PagingRegisters, pdptes: 'keep' | 'mov-cr3' | 'load-pdptrs'): L2RegisterWrite {
    checkRegisterTypes('regs', regs);
    checkEnum('pdptes', pdptes, L2_PDPTE_SOURCES);
    checkEntered(this.l2Walker);
    const next = Object.freeze({ ...regs, guestMode: true });
    const mem = this.vm.shadow.vm.guestMem;
    const kvm = this.vm.config.kvm;
    let kept: readonly bigint[] | undefined = pdptes === 'keep' ? this.l2Walker!.pdptrs : undefined;
    // (kept is undefined only if L2 had no PAE paging, and entering it changes CR0.PG: never 'keep'.)
    const pae = isPaePaging(next) && (pdptes !== 'keep' || kept === undefined);
    if (pae && pdptes === 'mov-cr3') {
      // The checks, before anything changes: L2's new state (zero PDPTEs stand in for the ones
      // the load gives), then what the CPU will read once EPT02 maps the PDPT as EPT12 does
      // (reserved bits: #GP; outside L1's memory: not modelled). An unmapped PDPT is no error.
      new GvaWalker(mem, next, this.l2Features!, [0n, 0n, 0n, 0n], kvm); // throws on bad L2 state
      this.checkPdptForMovCr3(next.cr3);
      const load = this.loadPdptesByMovCr3(next.cr3);
      if (load.reflected !== undefined) return load;
      this.l2Walker = new GvaWalker(mem, next, this.l2Features!, load.pdptes, kvm);
      this.l2Regs = next;
      return load;
    }
    if (pae) {
      kept = l2PdptesThroughNgpa(this.ngpa!, next.cr3, {
        pfec: PFERR.WRITE | PFERR.USER, table: 'EPT12', unmapped: 'load_pdptrs fails and KVM injects #GP (x86.c:1049-1050)', reserved: 'load_pdptrs fails and KVM injects #GP (x86.c:1058-1062)',
      });
    }
    const walker = new GvaWalker(mem, next, this.l2Features!, kept, kvm); // throws on bad L2 state
    this.l2Walker = walker;
    this.l2Regs = next;
    return { exits: [], reflected: undefined };
  }

  /**
   * The PDPT a PAE L2's MOV to CR3 will read, as EPT12 maps it (EPT02 shadows EPT12, so once L0
   * has fixed EPT02 the CPU reads this): a present PDPTE with a reserved bit is the MOV's #GP
   * (SDM Vol. 3A §4.4.1), typed 'l2-pdpte-reserved'; a PDPT EPT12 maps outside L1's memory is not
   * modelled ('l2-pdpt-outside-l1-memory'). Unmapped: nothing to check (the load exits to L1).
   */
  private checkPdptForMovCr3(cr3: bigint): void {
    const base = cr3 & 0xffffffe0n;
    const g = this.ngpa!.peekFrame(Number(base >> 12n), this.readPfec());
    if (g < 0) return;
    l2PdptesThroughNgpa(this.ngpa!, cr3, { pfec: this.readPfec(), table: 'EPT12', unmapped: '', reserved: 'the MOV to CR3 #GPs (SDM Vol. 3A §4.4.1)' });
  }

  /** A data read in the EPT walks: PFERR_USER ("readable") in v6.16; 7.3 reads are neither W nor F (kvm-7x.md §1.3). */
  private readPfec(): number {
    return this.vm.config.kvm === '7.3' ? 0 : PFERR.USER;
  }

  /**
   * The CPU's PDPTE load of a PAE L2's MOV to CR3 under EPT: a read of the four PDPTEs at
   * CR3[31:5], an nGPA, through EPT02 (SDM Vol. 3C §28.2.3 and its footnote). When EPT02 does not
   * allow it, an EPT violation (or misconfiguration) exits to L0 with no guest linear address
   * (`hardwarePdpteLoadExit`); L0's `kvm_mmu_page_fault` on guest_mmu walks EPT12
   * (`ept_page_fault`) and either fixes EPT02 — L2 re-executes the MOV — or injects the EPT12
   * fault into L1 (`nested_ept_inject_page_fault`, vmx/nested.c:409-461: the qualification's bits
   * 7/8 are copied from the real exit's, :442-445, so L1 sees bit 7 clear too; the address is the
   * nGPA, :461). The reported address is the PDPT's base CR3[31:5] (ASSUMPTION: the SDM does not
   * say which of the four PDPTE addresses a failed load reports; all lie in one page, so every
   * frame-level effect is the same). With the TLB model the caller applies the exits' invalidations.
   */
  private loadPdptesByMovCr3(cr3: bigint): L2RegisterWrite & { pdptes: readonly bigint[] } {
    const ctx = this.ctx!;
    const mmu = this.vm.shadow;
    const base = cr3 & 0xffffffe0n;
    const ngfn = Number(base >> 12n);
    const exits: ExitRecord[] = [];
    const read = this.readPfec();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      this.load();
      const s = ctx.hwScratch;
      const stop = walkTables(this.hwInputs(), s, Math.floor(ngfn / 0x100000), (ngfn % 0x100000) * 4096, read);
      if (stop === WalkStop.Ok) {
        const g = hostPfnToGfnUnchecked(this.vm.memslots, s.gfn);
        if (g < 0) throw new InvariantViolation('ept02-target', 'an EPT02 leaf maps a frame no memslot backs', hex(s.gfn));
        return { pdptes: readPdptesUnchecked(mmu.vm.guestMem, BigInt(g) * 4096n + (base & 0xfffn)), exits, reflected: undefined };
      }
      const rights = walkedEptRights(s.lo, s.maxLevel, s.level);
      const rwx = rights & 7;
      const xu = rights >>> 3;
      const misconfig = stop === WalkStop.Reserved;
      const hw = hardwarePdpteLoadExit(base, rwx, misconfig, ept73Exit(this.vm.config.kvm, this.ngpa!.mbec, xu === 1, 0));
      this.curGuestLinear = 0;
      this.stats.inc('exits');
      this.stats.inc(misconfig ? 'ept_misconfigs' : 'ept_violations');
      mmu.vm.events.recordUnchecked({ kind: misconfig ? 'ept_misconfig' : 'ept_violation', vcpu: this.index, gpa: base, code: hw.info, outcome: "L2 MOV to CR3: PDPTE load through EPT02 (shadow of EPT12)" });
      const h = this.pageFault(base, Number(hw.errorCode), misconfig, 'none');
      recordNestedExit(this.vm, mmu, this.index, exits, hw, h);
      if (h.reflected !== undefined) {
        this.exit('EPT12 fault of the PDPTE load reflected to L1');
        return { pdptes: [], exits, reflected: h.reflected };
      }
      // checkPdptForMovCr3 refused a PDPT outside L1's memory, so nothing is emulated here.
      if (h.ret === RET_PF.EMULATE) throw new InvariantViolation('pdpte-load-emulated', "KVM emulated the PDPTE load of L2's MOV to CR3", hex(base));
    }
    throw new InvariantViolation('no-progress', `the PDPTE load of L2's MOV to CR3 made no progress after ${MAX_ATTEMPTS} exits`, hex(base));
  }

  /** `kvm_mmu_unload`'s half for guest_mmu: `kvm_mmu_free_roots(.., KVM_MMU_ROOTS_ALL)` (mmu.c:5931); the next entry loads a root for EPTP12. */
  freeAllRoots(): void {
    const ctx = this.ctx!;
    freeRootsUnchecked(this.vm.shadow, ctx, { current: true, prev: ctx.prevRoots.map((_, i) => i) });
  }

  /** Nested VM exit: back to root_mmu; guest_mmu keeps its roots. */
  exit(why = 'L2 exit'): void {
    checkReason('why', why);
    this.active = false;
    this.vm.shadow.vm.events.recordUnchecked({ kind: 'nested_exit', vcpu: this.index, outcome: `${why}: vcpu->arch.mmu = root_mmu` });
  }

  /** INVEPT single-context (by EP4TA) or global: free the matching guest_mmu roots. */
  invept(type: 'single' | 'global', eptp?: bigint): number {
    checkInveptArgs(type, eptp);
    const ctx = this.ctx!; // set by the entry that made this guest_mmu reachable (Vcpu.nested)
    const match = (pgd: bigint, hpa: number) => hpa >= 0 && (type === 'global' || (pgd & EPTP_PA_MASK) === (eptp! & EPTP_PA_MASK));
    const prev: number[] = [];
    ctx.prevRoots.forEach((r, i) => {
      if (match(r.pgd, r.hpa)) prev.push(i);
    });
    const current = match(ctx.root.pgd, ctx.root.hpa);
    freeRootsUnchecked(this.vm.shadow, ctx, { current, prev });
    const n = prev.length + (current ? 1 : 0);
    this.vm.shadow.vm.events.recordUnchecked({ kind: 'invept', vcpu: this.index, gpa: eptp ?? null, outcome: `${type}: ${n} root(s) freed` });
    this.vm.afterOperation();
    return n;
  }

  /** Before each L2 entry: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, then `kvm_mmu_reload` (a root for EPTP12). */
  load(): void {
    const ctx = this.ctx!;
    freeObsoleteRootsUnchecked(this.vm.shadow, ctx);
    mmuLoadUnchecked(this.vm.shadow, ctx, this.eptp); // kvm_mmu_reload: nothing to do with a valid root (mmuLoad returns)
  }

  private hwInputs() {
    return this.ctx!.hwInputsUnchecked(this.vm.shadow.vm.host.frames);
  }

  /** The hardware EPT02 walk of one nGPA frame: the L1 frame, or -1 with an exit pending. */
  private secondStage(ngfn: number, final: boolean, entryOffset: number): number {
    // 7.3: the final access carries PFERR_USER for a user-mode linear address, which selects XU
    // under MBEC (the hardware's choice, kvm-7x.md §1.1).
    const user = final && this.vm.config.kvm === '7.3' && this.l2Walker!.stagedUserLinear ? PFERR.USER : 0;
    return this.ept02Walk(ngfn, final, final ? this.curFinal | user : this.curTable, entryOffset);
  }

  /** `entryOffset`: for a table access, the byte offset in frame `ngfn` of the L2 entry read or written. */
  private ept02Walk(ngfn: number, final: boolean, acc: number, entryOffset: number): number {
    const s = this.ctx!.hwScratch;
    const stop = walkTables(this.hwInputs(), s, Math.floor(ngfn / 0x100000), (ngfn % 0x100000) * 4096, acc);
    if (stop === WalkStop.Ok) {
      const g = hostPfnToGfnUnchecked(this.vm.memslots, s.gfn);
      if (g < 0) throw new InvariantViolation('ept02-target', 'an EPT02 leaf maps a frame no memslot backs', hex(s.gfn));
      return g;
    }
    const rights = walkedEptRights(s.lo, s.maxLevel, s.level);
    const rwx = rights & 7;
    const xu = rights >>> 3;
    const g = final ? this.l2Walker!.stagedGuestRights : undefined;
    const guestLinear = g === undefined ? 0 : guestLinearBits(g.user, g.writable, g.executeDisable);
    // The guest-physical-address field: on an access to one of L2's table entries (a read, or
    // the CPU's A/D write) the entry's own nGPA, as for L1 (Vcpu.makeExit; SDM Vol. 3C §28.2.1).
    // L0 walks EPT12 with exactly that address (handle_ept_violation → kvm_mmu_page_fault →
    // FNAME(page_fault)'s walk_addr(fault->addr), paging_tmpl.h:777), a fault found there keeps it
    // (`walker->fault.address = addr`, :516) and L1 gets it in vmcs12
    // (`vmcs12->guest_physical_address = fault->address`, vmx/nested.c:461).
    this.pendingExit = { ngpa: BigInt(ngfn) * 4096n + (final ? this.curGva & 0xfffn : BigInt(entryOffset)), final, stop, acc, rwx, xu: xu === 1, guestLinear };
    return -1;
  }

  /** `kvm_mmu_page_fault` with vcpu->arch.mmu = guest_mmu. */
  private pageFault(ngpa: bigint, ec: number, misconfig: boolean, during: NestedDuring, finalAcc?: number): NestedFaultOutcome {
    const mmu = this.vm.shadow;
    const ctx = this.ctx!;
    let r: RetPf = RET_PF.INVALID;
    if (misconfig) {
      // handle_mmio_page_fault(direct=false); the MMIO cache is never used while nested.
      // The hardware walk ran on a loaded root, so the path holds the root's entry at least; the
      // SPTE it stops at is one with reserved bits, i.e. an MMIO SPTE (get_mmio_spte's WARN on a
      // present one, mmu.c:4291-4327 and mmu.c:4341-4342, is a KVM bug).
      const last = shadowPathUnchecked(mmu, ctx, ctx.root.hpa, ngpa).at(-1)!;
      const spte = mmu.readSpteUnchecked(last.sp, last.idx);
      if (isMmioSpte(mmu.config, spte)) r = mmioGenerationMatches(mmu.config, spte, this.vm.mmioGeneration) ? RET_PF.EMULATE : RET_PF.INVALID;
      else r = RET_PF.RETRY;
      if (r === RET_PF.EMULATE) return this.emulatorCheck(ngpa, finalAcc) ?? { ret: r, mmio: true };
      if (r === RET_PF.RETRY) return { ret: r, mmio: false };
    }
    this.stats.inc('pf_taken');
    const res = shadowPageFaultUnchecked(mmu, ctx, ngpa, ec & ~PFERR.RSVD, 0);
    // A misconfiguration's error code is PFERR_RSVD_MASK alone (vmx.c:5803): with a stale MMIO
    // SPTE the walk above checked a read (7.3; 6.16: nothing, mmu.c:5394-5396 with pfec 0), made
    // a new MMIO SPTE and emulates; the emulator then checks the real access through EPT12 as
    // after a cached one. v6.16 after an EPT violation too: the emulator's walk differs from the
    // fault's by the PFERR_USER translate_nested_gpa adds (see emulatorCheck).
    const emulated = res.ret === RET_PF.EMULATE && res.walkFault === undefined;
    if (emulated && (misconfig || (res.mmio && this.vm.config.kvm === '6.16'))) {
      const refused = this.emulatorCheck(ngpa, finalAcc);
      if (refused !== undefined) return refused;
    }
    return this.injected(finishNestedFault(mmu, ctx, this.stats, this.ngpa!, 'EPT12', ngpa, ec, during, res, this.rewalkUser(ec), this.curGuestLinear), ngpa);
  }

  /**
   * `nested_ept_inject_page_fault` (vmx/nested.c:409-461): before the exit, an EPT violation
   * reflected to L1 also syncs the nGPA in every previous root of vmcs12's EP4TA
   * (`nested_ept_invalidate_addr`, vmx/nested.c:389-407, called at :456-457), because the TLB tags
   * mappings by EP4TA, not by the whole EPTP; the current root was synced before, by
   * kvm_inject_emulated_page_fault for a present fault (finishNestedFault). A misconfiguration
   * (PFERR_RSVD, vmx/nested.c:438-440) skips that branch: no root is synced. (The PML-full exit is
   * not modelled.)
   */
  private injected(out: NestedFaultOutcome, ngpa: bigint): NestedFaultOutcome {
    if (out.reflected === undefined || out.reflected.kind !== 'ept-violation') return out;
    const ctx = this.ctx!;
    for (const r of ctx.prevRoots) {
      if (r.hpa >= 0 && (r.pgd & EPTP_PA_MASK) === (this.eptp & EPTP_PA_MASK)) invalidateAddrInRootUnchecked(this.vm.shadow, ctx, r.hpa, ngpa);
    }
    return out;
  }

  /**
   * Whether KVM's re-walk of EPT12 for L1's exit is a "user" access. v6.16: reads are user
   * accesses ("readable" in EPT terms). 7.3: PFERR_USER is the user-mode linear address (from
   * qualification bit 9), reads are "neither W nor F" (kvm-7x.md §1.3).
   */
  private rewalkUser(ec: number): (kind: 'read' | 'write' | 'fetch') => boolean {
    const user = (ec & PFERR.USER) !== 0;
    return this.vm.config.kvm === '7.3' ? () => user : (kind) => user || kind === 'read';
  }

  /**
   * The emulator translates L2's access through EPT12 (x86.c:7899 gva_to_gpa of nested_mmu →
   * kvm_translate_gpa → guest_mmu's EPT walk): the cached MMIO info never matches while nested
   * (x86.h:327 mmio_gva = 0), so EPT12's permissions are always checked, and a violation goes to
   * L1 (`rewalkUser`: which accesses walk as "user"). v6.16: the emulator reaches EPT12 through
   * kvm_translate_gpa (paging_tmpl.h:448, mmu.h:302-304) → translate_nested_gpa, which ORs in
   * PFERR_USER_MASK (x86.c:7643), i.e. "readable" for EPT (mmu.c:5394): an instruction fetch
   * (kvm_fetch_guest_virt, x86.c:7722) from an execute-only EPT12 page is refused, and the fault
   * is injected into L1 (x86.c:9248). 7.3: U no longer means readable (kvm-7x.md §1.3 item 1;
   * a fetch checks X, or XS/XU by the user-mode linear address under MBEC, §1.5), so the access
   * is checked as the hardware gave it.
   * Undefined: the access may be emulated.
   */
  private emulatorCheck(ngpa: bigint, hwAcc: number | undefined): NestedFaultOutcome | undefined {
    if (hwAcc === undefined) return undefined;
    const finalAcc = this.vm.config.kvm === '6.16' ? hwAcc | PFERR.USER : hwAcc;
    const mmu = this.vm.shadow;
    const ctx = this.ctx!;
    const s = ctx.walkScratch;
    const stop = walkTables(ctx.walkInputs!, s, Number(ngpa >> 32n), Number(ngpa & 0xffffffffn), finalAcc);
    if (stop === WalkStop.Ok) return undefined;
    const res = { ret: RET_PF.RETRY, walkFault: { errorCode: s.errorCode, stop }, mmio: false };
    return this.injected(finishNestedFault(mmu, ctx, this.stats, this.ngpa!, 'EPT12', ngpa, finalAcc, 'final', res, this.rewalkUser(finalAcc), this.curGuestLinear), ngpa);
  }

  /** One L2 access: hardware 2D walk with EPT02 as the second stage. */
  access(address: Gva | bigint, access: Access): AccessResult {
    checkEntered(this.l2Walker);
    const w = this.l2Walker!;
    const ctx = this.ctx!;
    const mmu = this.vm.shadow;
    const a = w.checkAddress(checkLinear('address', address));
    const enc = encodeAccess(access);
    const vlo = Number(a & 0xffffffffn);
    const vhi = Number(a >> 32n);
    const exits: ExitRecord[] = [];
    this.stats.inc('guest_accesses');
    const kindBits = enc & (PFERR.WRITE | PFERR.FETCH);
    // v6.16 EPT: a read is PFERR_USER ("readable"); 7.3: neither W nor F (kvm-7x.md §1.3).
    const read = this.vm.config.kvm === '7.3' ? 0 : PFERR.USER;
    this.curFinal = kindBits === 0 ? read : kindBits;
    // The CPU writes guest A/D bits through EPT02 only when EPTP02 enables A/D.
    this.curTable = ctx.hwFormat.hasAd ? PFERR.WRITE : read;
    this.curGva = a;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      this.load();
      this.pendingExit = undefined;
      const stop = w.walkRawStagedUnchecked(vhi, vlo, enc, this.stage, ctx.hwFormat.hasAd ? undefined : this.adWrite);
      if (stop === WalkStop.SecondStage) {
        const p = this.pendingExit!;
        const misconfig = p.stop === WalkStop.Reserved;
        const hw = hardwareEptExit(p.ngpa, p.acc, p.rwx, p.final, misconfig, ept73Exit(this.vm.config.kvm, this.ngpa!.mbec, p.xu, p.guestLinear));
        const q = hw.info;
        this.curGuestLinear = Number(q) & EPT_QUAL_GUEST_MASK;
        const ec = hw.errorCode;
        this.stats.inc('exits');
        this.stats.inc(misconfig ? 'ept_misconfigs' : 'ept_violations');
        mmu.vm.events.recordUnchecked({ kind: misconfig ? 'ept_misconfig' : 'ept_violation', vcpu: this.index, gva: a, gpa: p.ngpa, code: q, outcome: 'L2: EPT02 (shadow of EPT12)' });
        const h = this.pageFault(p.ngpa, Number(ec), misconfig, p.final ? 'final' : 'paging-structure', p.final ? p.acc : undefined);
        recordNestedExit(this.vm, mmu, this.index, exits, hw, h);
        if (h.reflected !== undefined) this.exit('EPT12 fault reflected to L1');
        const stopped = stoppedResult(w, stop, a, access, exits, attempt, h);
        if (stopped !== undefined) return stopped;
        continue;
      }
      return finishedResult(this.vm, mmu, this.index, w, stop, a, access, exits, attempt);
    }
    throw new InvariantViolation('no-progress', `the L2 access made no progress after ${MAX_ATTEMPTS} exits`, hex(a));
  }
}

export type { Ngpa };
