/**
 * Nested TDP with NPT (reference §2.5, §6.6, §6.8, §8.3, §10.1, §10.2): while L2 runs on an AMD
 * host, `vcpu->arch.mmu` is guest_mmu, whose shadow pages (NPT02) shadow L1's NPT12 — set up by
 * `nested_svm_init_mmu_context` → `kvm_init_shadow_npt_mmu(cr0 = PG, vmcb01 CR4, vmcb01 EFER,
 * nCR3)`. The NPT12 format is L1's own paging mode (2, 3, 4 or 5 levels, CR0.WP off, PKE
 * cleared); root_role is that cpu_role with the host NPT level, `passthrough` when a 5-level host
 * shadows a 4-level NPT12, and special roots (pml4_root/pml5_root over pae_root) when a 4/5-level
 * host shadows a 32-bit/PAE NPT12. The hardware walks L2's tables with NPT02 (host x86 format) as
 * the second stage; every nested access is a user access and L2's table accesses are writes. An
 * NPF on an nGPA goes to KVM (`npf_interception` → `kvm_mmu_page_fault` with guest_mmu =
 * FNAME(page_fault) with PTTYPE 64/32), which fixes NPT02 when NPT12 allows the access, or
 * reflects an NPF to L1 (`nested_svm_inject_npf_exit`). Unlike nested EPT, every VMRUN and
 * #VMEXIT requests KVM_REQ_MMU_SYNC (`nested_svm_transition_tlb_flush`), so L1's edits of NPT12
 * become visible to L2 at the next entry without any invalidation instruction.
 *
 * Not modelled: INVLPGA (SVM's nested single-address flush) and ASID handling; the TLB flush half
 * of the transition request (the model keeps no TLB beyond the shadow tables).
 */
import { type Gva } from '../address/address';
import { DEFAULT_FEATURES, CR4, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { PFERR } from '../format/acc';
import type { PageFormat } from '../format/page-format';
import { nptFormat } from '../format/npt';
import type { KvmVersion } from '../kvm-version';
import type { Counters, VcpuStatName } from '../events/stats';
import { GpaOutsideMemoryError, InvalidArgumentError, InvalidRegisterStateError, hex } from '../errors';
import { NgpaWalker } from '../nested/ngpa-walker';
import { isPaePaging } from '../nested/vmcs12-pdptes';
import { isMmioSpte, mmioGenerationMatches } from '../spte/spte';
import { RET_PF } from '../tdp/ret-pf';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { GvaWalker } from '../walker/gva-walker';
import { encodeAccess, type Access } from '../walker/access';
import { walkTables, type WalkInputs } from '../walker/walk';
import { WalkStop } from '../walker/walk-scratch';
import type { AccessResult, ExitRecord } from '../vm/access-result';
import type { KvmMmu } from '../vm/kvm-mmu';
import type { PageRole } from '../role/page-role';
import { hardwareNpfExit } from '../vm/exit';
import { ShadowContext, type ContextSetup } from './shadow-context';
import { checkEntered, checkLinear, checkNestedEntry, checkNestedMmuArgs, checkReason } from './check-shadow-args';
import { shadowPageFaultUnchecked } from './shadow-fault';
import { finishNestedFault, finishedResult, recordNestedExit, stoppedResult, type NestedFaultOutcome } from './nested-access';
import { freeObsoleteRootsUnchecked, freeRootsUnchecked, mmuLoadUnchecked, newPgdUnchecked, syncRootsUnchecked } from './roots';
import { shadowPathUnchecked } from './sync';
import { hostPfnToGfnUnchecked, type ShadowVcpuVm } from './shadow-vcpu';
import { checkRegisterTypes } from '../cpu/check-registers';
import { checkEnum } from '../validate/checks';
import { L2_PDPTE_SOURCES, l2PdptesThroughNgpa, readPdptesUnchecked } from './l2-pdptes';

const MAX_ATTEMPTS = 8;

export interface NestedNptEntry {
  /** nCR3 from vmcb12. */
  ncr3: bigint;
  /** L1's paging registers (vmcb01 save area): CR4 and EFER select the NPT12 format. */
  l1: PagingRegisters;
  /** L2's paging registers (guestMode is forced on). */
  l2: PagingRegisters;
  /** The NPT12 level the caller means (2..5): refused unless L1's mode implies it. */
  level?: number;
  /** vmcb12 `nested_ctl` bit 3, `SVM_NESTED_GMET` (kvm-7x.md §2.1). KVM 7.3 only. Default false. */
  gmet?: boolean;
  /** L1's CPUID (default: DEFAULT_FEATURES with L1 memory's MAXPHYADDR). */
  features?: CpuFeatures;
}

export interface NestedNptVmContext extends ShadowVcpuVm {
  readonly tdpEnabled: boolean;
  readonly config: { readonly flavour: string; readonly tdpLevel: number; readonly hardwareFormat: PageFormat; readonly kvm: KvmVersion; readonly hostMaxPhyAddr: number; readonly maxHugePageLevel: number };
}

/** The host NPT format with GMET (L0's NPT02 for an L1 that enabled GMET). */
function gmetHardwareFormat(c: NestedNptVmContext['config']): PageFormat {
  return nptFormat({ level: c.tdpLevel, maxPhyAddr: c.hostMaxPhyAddr, nx: true, gbpages: c.maxHugePageLevel >= 3, pse: false, cr4Smep: false, cr4Smap: false, kvm: c.kvm, gmet: true });
}

/**
 * A PAE L2's PDPTEs under nested NPT. With nested paging the CPU keeps no PDPTE registers for a
 * legacy-PAE guest: it reads the PDPTE from the PDPT at guest CR3, an nGPA, through the nested
 * tables as part of each guest walk (APM Vol. 2 §15.25.10 "Legacy PAE Mode"; KVM's view of it:
 * with NPT the PDPTRs are not cached at MOV to CR3 but re-read from memory when needed,
 * svm.c:1665-1671 `svm_cache_reg` → `load_pdptrs`, marked stale after every exit,
 * svm.h:423-430 SVM_REGS_LAZY_LOAD_SET and svm.c:4524). So neither VMRUN (svm/nested.c:517-519
 * `nested_svm_load_cr3` skips load_pdptrs when nested_npt) nor L2's MOV to CR3 (not intercepted
 * with NPT, svm.c:1337) reads or checks them: L2's walker reads PDPTE[VA[31:30]] through NPT02 on
 * each walk (WalkInputs.pdptesFromMemory), an NPT02 miss there is an NPF on a paging-structure
 * access — fixed from NPT12 or reflected to L1 like any other — and a present PDPTE with a
 * reserved bit is a #PF with RSVD at use (kvm-unit-tests x86/svm_tests.c:3779-3782, 3806-3835
 * at 1da1819e49fc; the walker's `pdpteRsvdFault`).
 * This is only the initial register value shown by `pdptrs` before L2's first walk: the PDPT as
 * NPT12 maps it (svm_tests.c:3864-3869: the PDPTEs are L2's memory at CR3), zeros while NPT12
 * does not map it (no error: the first walk takes the NPF). A PDPT NPT12 maps outside every L1
 * memory slot is still refused ('l2-pdpt-outside-l1-memory').
 */
function l2PdptesThroughNpt12(ngpa: NgpaWalker, cr3: bigint): bigint[] {
  const pfec = PFERR.WRITE | PFERR.USER; // L2's table accesses through NPT (§6.6)
  if (ngpa.peekFrame(Number((cr3 & 0xffffffe0n) >> 12n), pfec) < 0) return [0n, 0n, 0n, 0n];
  return l2PdptesThroughNgpa(ngpa, cr3, { pfec, table: 'NPT12', unmapped: 'unreachable: checked above', reserved: undefined });
}

export class NestedNptMmu implements KvmMmu {
  readonly name = 'guest_mmu';
  readonly vm: NestedNptVmContext;
  readonly index: number;
  readonly stats: Counters<VcpuStatName>;
  /** guest_mmu: kept across L2 entries and exits, like KVM's. */
  ctx: ShadowContext | undefined;
  ngpa: NgpaWalker | undefined;
  l2Walker: GvaWalker | undefined;
  /** L2's paging registers (guestMode set): from the last VMRUN, then L2's own writes (`writeL2Registers`). */
  l2Regs: Readonly<PagingRegisters> | undefined;
  /** The CPUID L2's walker was made with at VMRUN. */
  private l2Features: CpuFeatures | undefined;
  ncr3 = 0n;
  /** L2 is running (vcpu->arch.mmu == &guest_mmu). */
  active = false;
  /** KVM's walker over NPT12 in PAE mode reads PDPTEs from memory: refreshed before each walk. */
  private pdptHalves: Uint32Array | undefined;
  private pdptBase = 0n;
  private ngpaLimitGfn = 0;
  private pendingExit: { ngpa: bigint; final: boolean; stop: number; errorCode: number } | undefined;
  private curFinal = 0;
  private curGva = 0n;
  private readonly stage = (gfn: number, final: boolean, entryOffset?: number): number => this.secondStage(gfn, final, entryOffset ?? 0);

  constructor(vm: NestedNptVmContext, index: number, stats: Counters<VcpuStatName>) {
    checkNestedMmuArgs(vm, index, stats);
    this.vm = vm;
    this.index = index;
    this.stats = stats;
  }

  /** The re-walk of NPT12 for L1's NPF: without GMET the walker's default (user); with it, the access's own U. */
  private rewalkUser(ec: number): ((kind: 'read' | 'write' | 'fetch') => boolean) | undefined {
    if (!this.ngpa!.mbec) return undefined;
    const user = (ec & PFERR.USER) !== 0;
    return () => user;
  }

  /** `guest_mmu.root_role` (`kvm_init_shadow_npt_mmu`); set by the first entry. */
  get rootRole(): PageRole {
    return this.ctx!.rootRole;
  }

  /** VMRUN with NPT enabled in vmcb12: `nested_svm_init_mmu_context`, then the transition sync. */
  enter(e: NestedNptEntry): void {
    checkNestedEntry(e, 'ncr3');
    // Everything is validated before any state changes.
    if (!this.vm.tdpEnabled || this.vm.config.flavour !== 'npt') {
      throw new InvalidArgumentError('nested-npt-needs-npt', 'nested NPT needs an NPT host (this VM uses EPT or shadow paging)', this.vm.tdpEnabled ? this.vm.config.flavour : 'shadow');
    }
    const mem = this.vm.shadow.vm.guestMem;
    const kvm = this.vm.config.kvm;
    const cfg: { ncr3: bigint; l1: PagingRegisters; features?: CpuFeatures; level?: number; kvm: KvmVersion; gmet?: boolean } = { ncr3: e.ncr3, l1: e.l1, kvm };
    if (e.gmet !== undefined) cfg.gmet = e.gmet;
    if (e.features !== undefined) cfg.features = e.features;
    if (e.level !== undefined) cfg.level = e.level;
    const ngpa = NgpaWalker.npt(mem, cfg); // L1's mode → format, level check, nCR3 width
    const hostLevel = this.vm.config.tdpLevel;
    if (ngpa.levels > hostLevel) {
      throw new InvalidRegisterStateError('npt12-deeper-than-host', `a ${ngpa.levels}-level NPT12 cannot be shadowed by ${hostLevel}-level NPT02 roots (root_role.level = host NPT level)`, String(ngpa.levels));
    }
    const rootGfn = Number((ngpa.root as bigint) >> 12n);
    if (mem.frameOfUnchecked(rootGfn) < 0) {
      throw new GpaOutsideMemoryError('ncr3-outside-l1-memory', "nCR3's root table is not in L1's memory", hex(e.ncr3));
    }
    const features = e.features ?? { ...DEFAULT_FEATURES, maxPhyAddr: mem.maxPhyAddr };
    const l2Pdptes = isPaePaging(e.l2) ? l2PdptesThroughNpt12(ngpa, e.l2.cr3) : undefined;
    const l2Regs = Object.freeze({ ...e.l2, guestMode: true });
    const l2Walker = new GvaWalker(mem, l2Regs, features, l2Pdptes, kvm, true); // throws on bad L2 state
    const cpuRole = ngpa.role;
    // kvm_init_shadow_npt_mmu: root_role = cpu_role.base with the host NPT level.
    const rootRole = cpuRole.base.with({ level: hostLevel, passthrough: hostLevel === 5 && ngpa.levels === 4 });
    const pae = ngpa.levels === 3;
    const pdptHalves = pae ? new Uint32Array(8) : undefined;
    const pdptBase = pae ? BigInt(e.ncr3) & ~0x1fn : 0n;
    const walkInputs: WalkInputs = {
      mem, format: ngpa.format, rootGfn, pdptrs: pdptHalves, pdptBase: Number(pdptBase), pkru: 0,
      fetchSetsId: cpuRole.hasPferrFetch,
    };
    const setup: ContextSetup = {
      cpuRole,
      rootRole,
      gptFormat: ngpa.format,
      walkInputs,
      pdptrs: pae ? readPdptesUnchecked(mem, pdptBase) : undefined,
      // nSVM 687ee95c1b6d: vmcb02 sets GMET when vmcb12 does (INFERRED), so NPT02 is walked with it.
      hwFormat: ngpa.mbec ? gmetHardwareFormat(this.vm.config) : this.vm.config.hardwareFormat,
      isPae: (e.l1.cr4 & CR4.PAE) !== 0n,
    };
    if (this.ctx === undefined) {
      this.ctx = new ShadowContext('guest_mmu', this.index, this.stats, mem, setup);
      this.ctx.obsoleteSeen = this.vm.shadow.freeObsoleteRootsRequest;
    } else this.ctx.configureUnchecked(setup);
    this.ngpa = ngpa;
    this.l2Walker = l2Walker;
    this.l2Regs = l2Regs;
    this.l2Features = features;
    this.ncr3 = BigInt(e.ncr3);
    this.pdptHalves = pdptHalves;
    this.pdptBase = pdptBase;
    this.ngpaLimitGfn = 2 ** (ngpa.addressBits - 12);
    newPgdUnchecked(this.vm.shadow, this.ctx, this.ncr3);
    this.active = true;
    this.vm.shadow.vm.events.recordUnchecked({ kind: 'nested_exit', vcpu: this.index, gpa: this.ncr3, outcome: 'VMRUN: vcpu->arch.mmu = guest_mmu (shadow NPT)' });
    this.transitionSync('VMRUN');
    this.vm.afterOperation();
  }

  /**
   * L2 writes its own CR0/CR3/CR4/EFER without a #VMEXIT to L1: only nested_mmu, the walk of L2's
   * tables, takes L2's new cpu_role (`kvm_init_mmu` → `init_kvm_nested_mmu`, mmu.c:5846-5847,
   * 5802-5838); guest_mmu's roles come from L1's state and nCR3 at VMRUN
   * (`kvm_init_shadow_npt_mmu`) and do not change. `pdptes` (PAE L2 only): 'keep' the PDPTEs;
   * 'mov-cr3': L2's MOV to CR3, which KVM does not intercept with NPT (svm.c:1337) and which loads
   * no PDPTE under nested paging (`l2PdptesThroughNpt12`: an unmapped PDPT is no error, L2's next
   * walk reads it through NPT02 and takes the NPF); 'load-pdptrs': KVM's `load_pdptrs` on
   * nested_mmu for a CR0/CR4 write it handles (x86.c:1158-1161, 1351-1354; failure is #GP,
   * x86.c:1049-1050, 1058-1062). Whichever, L2's walks read the PDPTEs from memory
   * (WalkInputs.pdptesFromMemory). Everything is checked before anything changes.
   */
  writeL2Registers(regs: PagingRegisters, pdptes: 'keep' | 'mov-cr3' | 'load-pdptrs'): void {
    checkRegisterTypes('regs', regs);
    checkEnum('pdptes', pdptes, L2_PDPTE_SOURCES);
    checkEntered(this.l2Walker);
    const next = Object.freeze({ ...regs, guestMode: true });
    let kept: readonly bigint[] | undefined = pdptes === 'keep' ? this.l2Walker!.pdptrs : undefined;
    // (kept is undefined only if L2 had no PAE paging, and entering it changes CR0.PG: never 'keep'.)
    if (isPaePaging(next) && (pdptes !== 'keep' || kept === undefined)) {
      kept = pdptes === 'mov-cr3' ? l2PdptesThroughNpt12(this.ngpa!, next.cr3) : l2PdptesThroughNgpa(this.ngpa!, next.cr3, {
        pfec: PFERR.WRITE | PFERR.USER, table: 'NPT12', unmapped: 'load_pdptrs fails and KVM injects #GP (x86.c:1049-1050)', reserved: 'load_pdptrs fails and KVM injects #GP (x86.c:1058-1062)',
      });
    }
    const walker = new GvaWalker(this.vm.shadow.vm.guestMem, next, this.l2Features!, kept, this.vm.config.kvm, true); // throws on bad L2 state
    this.l2Walker = walker;
    this.l2Regs = next;
  }

  /** `kvm_mmu_unload`'s half for guest_mmu: `kvm_mmu_free_roots(.., KVM_MMU_ROOTS_ALL)` (mmu.c:5931); the next entry loads a root for nCR3. */
  freeAllRoots(): void {
    const ctx = this.ctx!;
    freeRootsUnchecked(this.vm.shadow, ctx, { current: true, prev: ctx.prevRoots.map((_, i) => i) });
  }

  /** #VMEXIT: back to root_mmu; guest_mmu keeps its roots. */
  exit(why = '#VMEXIT'): void {
    checkReason('why', why);
    this.active = false;
    this.vm.shadow.vm.events.recordUnchecked({ kind: 'nested_exit', vcpu: this.index, outcome: `${why}: vcpu->arch.mmu = root_mmu` });
    this.transitionSync(why);
  }

  /**
   * `nested_svm_transition_tlb_flush`: KVM_REQ_MMU_SYNC + KVM_REQ_TLB_FLUSH_CURRENT on every
   * transition, served by the next vcpu_enter_guest against the MMU then current: guest_mmu after
   * VMRUN (its current root is synced), root_mmu after #VMEXIT (a direct TDP MMU: nothing to sync).
   */
  private transitionSync(why: string): void {
    const ctx = this.ctx!;
    ctx.syncRequested = true;
    if (this.active) {
      syncRootsUnchecked(this.vm.shadow, ctx);
      this.vm.shadow.vm.events.recordUnchecked({ kind: 'sync', vcpu: this.index, outcome: `KVM_REQ_MMU_SYNC (${why}): guest_mmu roots synced` });
    } else {
      ctx.syncRequested = false;
      this.vm.shadow.vm.events.recordUnchecked({ kind: 'sync', vcpu: this.index, outcome: `KVM_REQ_MMU_SYNC (${why}): root_mmu is direct, nothing to sync` });
    }
  }

  /** Before each L2 entry: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, then `kvm_mmu_reload` (a root for nCR3). */
  load(): void {
    const ctx = this.ctx!;
    const mmu = this.vm.shadow;
    freeObsoleteRootsUnchecked(mmu, ctx);
    if (ctx.root.hpa < 0) {
      // mmu_alloc_shadow_roots reads a PAE NPT12's PDPTEs through get_pdptr at load time.
      if (this.pdptHalves !== undefined) ctx.pdptrs = readPdptesUnchecked(ctx.guestMem, this.pdptBase);
      mmuLoadUnchecked(mmu, ctx, this.ncr3);
    }
  }

  private hwInputs() {
    return this.ctx!.hwInputsUnchecked(this.vm.shadow.vm.host.frames);
  }

  /** The hardware NPT02 walk of one nGPA frame: the L1 frame, or -1 with an NPF pending. */
  private secondStage(ngfn: number, final: boolean, entryOffset: number): number {
    if (ngfn >= this.ngpaLimitGfn) {
      // KVM would alias such an nGPA into pae_root (32-bit/PAE NPT12) and loop; refused here.
      throw new InvalidArgumentError('ngpa-beyond-npt12', `L2 used an nGPA beyond what the ${this.ngpa!.levels}-level NPT12 translates`, hex(BigInt(ngfn) * 4096n));
    }
    // L2 table accesses: W|U (§6.6); with GMET not user ("page table accesses ignore [U]", svm_npt.c).
    const acc = final ? this.curFinal : this.ngpa!.mbec ? PFERR.WRITE : PFERR.WRITE | PFERR.USER;
    const s = this.ctx!.hwScratch;
    const stop = walkTables(this.hwInputs(), s, Math.floor(ngfn / 0x100000), (ngfn % 0x100000) * 4096, acc);
    if (stop === WalkStop.Ok) {
      const g = hostPfnToGfnUnchecked(this.vm.memslots, s.gfn);
      if (g < 0) throw new InvariantViolation('npt02-target', 'an NPT02 leaf maps a frame no memslot backs', hex(s.gfn));
      return g;
    }
    // EXITINFO2: on an access to one of L2's table entries (a PAE PDPTE among them) the entry's
    // own nGPA, 8-byte granular, as for L1 (Vcpu.makeExit); L0 walks NPT12 with it and a
    // reflected NPF passes it on (paging_tmpl.h:516 → svm/nested.c:50).
    this.pendingExit = { ngpa: BigInt(ngfn) * 4096n + (final ? this.curGva & 0xfffn : BigInt(entryOffset)), final, stop, errorCode: s.errorCode };
    return -1;
  }

  /** get_pdptr = nested_svm_get_tdp_pdptr: every walk of a PAE NPT12 reads its PDPTEs from memory. */
  private refreshPdptes(): void {
    const halves = this.pdptHalves;
    if (halves === undefined) return;
    readPdptesUnchecked(this.ctx!.guestMem, this.pdptBase).forEach((v, i) => {
      halves[i * 2] = Number(v & 0xffffffffn);
      halves[i * 2 + 1] = Number(v >> 32n);
    });
  }

  /** `kvm_mmu_page_fault` with vcpu->arch.mmu = guest_mmu (paging64/32_page_fault over NPT12). */
  private pageFault(ngpa: bigint, ec: number, rsvd: boolean): NestedFaultOutcome {
    const mmu = this.vm.shadow;
    const ctx = this.ctx!;
    if (rsvd) {
      // handle_mmio_page_fault(direct=false); the MMIO cache is never used while nested.
      // The hardware walk ran on a loaded root and stopped at an entry with reserved bits below it
      // (pae_root's entries have none), so the path ends at that SPTE: an MMIO SPTE (get_mmio_spte's
      // WARN on a present one, mmu.c:4291-4327 and mmu.c:4341-4342, is a KVM bug).
      const last = shadowPathUnchecked(mmu, ctx, ctx.root.hpa, ngpa).at(-1)!;
      const spte = mmu.readSpteUnchecked(last.sp, last.idx);
      if (isMmioSpte(mmu.config, spte)) {
        if (mmioGenerationMatches(mmu.config, spte, this.vm.mmioGeneration)) return this.emulateMmio(ngpa, ec);
      } else return { ret: RET_PF.RETRY, mmio: false };
    }
    this.stats.inc('pf_taken');
    this.refreshPdptes();
    const res = shadowPageFaultUnchecked(mmu, ctx, ngpa, ec & ~PFERR.RSVD, 0);
    // Every nested NPT access is a user access already (the walker's default); with GMET, U is the access's own.
    return finishNestedFault(mmu, ctx, this.stats, this.ngpa!, 'NPT12', ngpa, ec, this.pendingExit?.final === false ? 'paging-structure' : 'final', res, this.rewalkUser(ec));
  }

  /**
   * Emulation on a cached MMIO SPTE: the emulator translates L2's access through NPT12 (x86.c:7899
   * `gva_to_gpa` of nested_mmu → guest_mmu's walk; the MMIO cache never matches while nested,
   * x86.h:327), so NPT12's permissions are checked and a violation is an NPF for L1.
   */
  private emulateMmio(ngpa: bigint, ec: number): NestedFaultOutcome {
    const ctx = this.ctx!;
    if (this.pendingExit?.final !== false) {
      this.refreshPdptes();
      const acc = ec & (PFERR.WRITE | PFERR.USER | PFERR.FETCH);
      const s = ctx.walkScratch;
      const stop = walkTables(ctx.walkInputs!, s, Number(ngpa >> 32n), Number(ngpa & 0xffffffffn), acc);
      if (stop !== WalkStop.Ok) {
        const res = { ret: RET_PF.RETRY, walkFault: { errorCode: s.errorCode, stop }, mmio: false };
        return finishNestedFault(this.vm.shadow, ctx, this.stats, this.ngpa!, 'NPT12', ngpa, acc, 'final', res, this.rewalkUser(acc));
      }
    }
    return { ret: RET_PF.EMULATE, mmio: true };
  }

  /** One L2 access: the hardware 2D walk with NPT02 as the second stage. */
  access(address: Gva | bigint, access: Access): AccessResult {
    checkEntered(this.l2Walker);
    const w = this.l2Walker!;
    const mmu = this.vm.shadow;
    const a = w.checkAddress(checkLinear('address', address));
    const enc = encodeAccess(access);
    const vlo = Number(a & 0xffffffffn);
    const vhi = Number(a >> 32n);
    const exits: ExitRecord[] = [];
    this.stats.inc('guest_accesses');
    // Every nested access is user; with GMET (7.3) only a CPL 3 fetch is (ASSUMPTION, kvm-7x.md
    // §2.1 leaves user-mode GMET UNVERIFIED: data accesses ignore the NPT U bit, svm_npt.c).
    const kind = enc & (PFERR.WRITE | PFERR.FETCH);
    this.curFinal = !this.ngpa!.mbec ? kind | PFERR.USER : kind & PFERR.FETCH ? kind | (enc & PFERR.USER) : kind;
    this.curGva = a;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      this.load();
      this.pendingExit = undefined;
      const stop = w.walkRawStagedUnchecked(vhi, vlo, enc, this.stage);
      if (stop === WalkStop.SecondStage) {
        const p = this.pendingExit!;
        const rsvd = p.stop === WalkStop.Reserved;
        const hw = hardwareNpfExit(p.ngpa, p.errorCode, p.final, rsvd);
        this.stats.inc('exits');
        this.stats.inc('npf_exits');
        mmu.vm.events.recordUnchecked({ kind: 'npf', vcpu: this.index, gva: a, gpa: p.ngpa, code: hw.info, outcome: 'L2: NPT02 (shadow of NPT12)' });
        const h = this.pageFault(p.ngpa, Number(hw.errorCode), rsvd);
        recordNestedExit(this.vm, mmu, this.index, exits, hw, h);
        if (h.reflected !== undefined) this.exit('NPT12 fault reflected to L1 (#VMEXIT NPF)');
        const stopped = stoppedResult(w, stop, a, access, exits, attempt, h);
        if (stopped !== undefined) return stopped;
        continue;
      }
      return finishedResult(this.vm, mmu, this.index, w, stop, a, access, exits, attempt);
    }
    throw new InvariantViolation('no-progress', `the L2 access made no progress after ${MAX_ATTEMPTS} NPFs`, hex(a));
  }
}
