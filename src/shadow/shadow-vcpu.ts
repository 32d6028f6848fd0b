/**
 * A vCPU under shadow paging (no TDP): the hardware walks KVM's shadow tables, GVA → HPA (an x86
 * format of the host, with CR0.WP forced on and the guest's SMEP/SMAP; a PAE root's four entries
 * are loaded as PDPTE registers); a fault there is a #PF intercept → `kvm_mmu_page_fault(cr2,
 * error code)` → `FNAME(page_fault)` or the MMIO path → a #PF injected into the guest, an
 * emulation, or a retry. Also the guest operations that shadow paging intercepts: MOV CR3 (with
 * PCID no-flush), INVLPG, guest TLB flushes, and emulated writes (`kvm_mmu_track_write`).
 */
import { dirtyRingEntryCheck, type DirtyRing } from '../vm/dirty-ring';
import { type Gpa, type Gva, type Hpa, gfn as mkGfn, gva as mkGva, hpa as mkHpa } from '../address/address';
import { rsvdBits } from '../bits';
import { CR4, type PagingRegisters } from '../cpu/registers';
import { PFERR } from '../format/acc';
import { paeFormat } from '../format/pae';
import { paging4Format } from '../format/paging4';
import { paging5Format } from '../format/paging5';
import type { X86FormatParams } from '../format/x86-params';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';
import type { VcpuStatName } from '../events/stats';
import { isMmioSpte, isRsvdSpte, isShadowPresent, isLastSpte, mmioGenerationMatches, mmioSpteGfn } from '../spte/spte';
import { RET_PF, RET_PF_NAMES, type RetPf } from '../tdp/ret-pf';
import { InvariantViolation } from '../tdp/tdp-mmu';
import type { GvaWalker } from '../walker/gva-walker';
import { ACCESS_AC, ACCESS_IMPLICIT, encodeAccess, type Access } from '../walker/access';
import { walkTables, type WalkInputs } from '../walker/walk';
import { WalkStop } from '../walker/walk-scratch';
import { buildRecord } from '../walker/walk-record';
import type { WalkResult } from '../walker/walk-result';
import type { AccessResult, ExitRecord } from '../vm/access-result';
import type { KvmMmu } from '../vm/kvm-mmu';
import type { PageRole } from '../role/page-role';
import type { Memslot } from '../vm/memslot';
import { ShadowContext, type ContextSetup } from './shadow-context';
import { directPageFaultUnchecked, shadowPageFaultUnchecked, type ShadowFaultResult } from './shadow-fault';
import { freeAllRootsUnchecked, freeObsoleteRootsUnchecked, invalidatePcidUnchecked, mmuLoadUnchecked, newPgdUnchecked, pcidOfUnchecked, syncPrevRootsUnchecked, syncRootsUnchecked, freeRootsUnchecked } from './roots';
import { invalidateAddrInRootUnchecked, shadowPathUnchecked } from './sync';
import { ShadowMmu } from './shadow-mmu';
import { Counters } from '../events/stats';
import { GFN_MAX, checkArray, checkBool, checkEnum, checkGfn, checkInt, checkKvmVersion, checkLinear, checkMaxPhyAddr, checkObject, checkRegs, checkVcpuArg, checkWalker, refuse } from './check-shadow-args';

const MAX_ATTEMPTS = 8;
/** VMX exit reason of a #PF intercept (EXCEPTION_NMI) and SVM's (EXCP_BASE + 14). */
export const EXIT_REASON_EXCEPTION_NMI = 0;
export const SVM_EXIT_EXCP_PF = 0x4e;

/** What the vCPU side of the shadow MMU needs from its VM. */
export interface ShadowVcpuVm {
  readonly shadow: ShadowMmu;
  /** The running vCPU's dirty ring, checked at each guest entry. */
  readonly runningRing: DirtyRing | undefined;
  readonly memslots: readonly Memslot[];
  readonly mmioGeneration: number;
  afterOperation(): void;
}

/** The host x86 format the hardware walks shadow tables with (`root_role.level`: 3 = PAE, 4, 5). */
export function shadowHardwareFormat(hostMaxPhyAddr: number, rootLevel: number, smep: boolean, smap: boolean, kvm: KvmVersion = DEFAULT_KVM_VERSION) {
  checkMaxPhyAddr('hostMaxPhyAddr', hostMaxPhyAddr);
  // root_role.level: 3 (PAE root), 4 or 5; anything else used to give a 4-level format.
  checkEnum('rootLevel', rootLevel, [3, 4, 5]);
  checkBool('smep', smep);
  checkBool('smap', smap);
  checkKvmVersion(kvm);
  return hardwareFormat(hostMaxPhyAddr, rootLevel, smep, smap, kvm);
}

function hardwareFormat(hostMaxPhyAddr: number, rootLevel: number, smep: boolean, smap: boolean, kvm: KvmVersion) {
  const p: X86FormatParams = { maxPhyAddr: hostMaxPhyAddr, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: smep, cr4Smap: smap, cr4Pke: false, kvm };
  return rootLevel === 3 ? paeFormat(p) : rootLevel === 5 ? paging5Format(p) : paging4Format(p);
}

/** `kvm_init_shadow_mmu`'s roles and KVM's walker over the guest's CR3 tables. */
export function rootMmuSetup(walker: GvaWalker, regs: PagingRegisters, guestMem: WalkInputs['mem'], hostMaxPhyAddr: number): ContextSetup {
  checkWalker('walker', walker);
  checkRegs('regs', regs);
  if (walker.mem !== guestMem) refuse('guestMem', 'guest-memory', 'must be the memory the walker walks', guestMem);
  checkMaxPhyAddr('hostMaxPhyAddr', hostMaxPhyAddr);
  return rootMmuSetupUnchecked(walker, regs, guestMem, hostMaxPhyAddr);
}

export function rootMmuSetupUnchecked(walker: GvaWalker, regs: PagingRegisters, guestMem: WalkInputs['mem'], hostMaxPhyAddr: number): ContextSetup {
  const cpuRole = walker.role;
  const rootRole = cpuRole.base.with({ level: Math.max(cpuRole.base.level, 3), eferNx: true });
  const fmt = walker.format;
  let walkInputs: WalkInputs | undefined;
  let pdptrs: readonly bigint[] | undefined;
  if (fmt !== undefined) {
    const rootMask = cpuRole.base.level >= 4 ? rsvdBits(12, 51) : rsvdBits(12, 31);
    pdptrs = walker.pdptrs;
    let halves: Uint32Array | undefined;
    if (pdptrs !== undefined) {
      halves = new Uint32Array(8);
      pdptrs.forEach((v, i) => {
        halves![i * 2] = Number(v & 0xffffffffn);
        halves![i * 2 + 1] = Number(v >> 32n);
      });
    }
    walkInputs = {
      mem: guestMem, format: fmt, rootGfn: Number((regs.cr3 & rootMask) >> 12n), pdptrs: halves,
      pdptBase: Number(regs.cr3 & 0xffffffe0n), pkru: walker.pkru, fetchSetsId: cpuRole.hasPferrFetch,
    };
  }
  return {
    cpuRole, rootRole, gptFormat: fmt, walkInputs, pdptrs,
    hwFormat: hardwareFormat(hostMaxPhyAddr, rootRole.level, cpuRole.isCr4Smep, cpuRole.isCr4Smap, cpuRole.kvm),
    isPae: (regs.cr4 & CR4.PAE) !== 0n,
  };
}

/** Host frame → guest frame (the inverse of the memslots' backing), or -1. */
export function hostPfnToGfn(slots: readonly Memslot[], pfn: number): number {
  checkArray('slots', slots).forEach((s, i) => {
    const o = checkObject<Memslot>(`slots[${i}]`, s);
    checkGfn(`slots[${i}].baseGfn`, o.baseGfn);
    checkGfn(`slots[${i}].pfnBase`, o.pfnBase);
    checkInt(`slots[${i}].npages`, o.npages, { min: 1, max: GFN_MAX });
  });
  return hostPfnToGfnUnchecked(slots, checkInt('pfn', pfn, { min: -1, max: GFN_MAX }));
}

export function hostPfnToGfnUnchecked(slots: readonly Memslot[], pfn: number): number {
  for (const s of slots) if (pfn >= s.pfnBase && pfn < s.pfnBase + s.npages) return s.baseGfn + (pfn - s.pfnBase);
  return -1;
}

export class ShadowVcpu implements KvmMmu {
  /** Shadow paging is `root_mmu` (`init_kvm_softmmu`). */
  readonly name = 'root_mmu';
  readonly vm: ShadowVcpuVm;
  readonly index: number;
  readonly stats: Counters<VcpuStatName>;
  readonly ctx: ShadowContext;
  private regs: PagingRegisters;
  private walker: GvaWalker;

  constructor(vm: ShadowVcpuVm, index: number, stats: Counters<VcpuStatName>, walker: GvaWalker, regs: PagingRegisters) {
    const v = checkObject<ShadowVcpuVm>('vm', vm);
    if (!(v.shadow instanceof ShadowMmu)) refuse('vm.shadow', 'shadow-mmu', 'must be the VM\'s ShadowMmu', v.shadow);
    checkVcpuArg('index', index);
    if (index < 0) refuse('index', 'vcpu-index', 'must be a vCPU index (0 or more)', index);
    if (!(stats instanceof Counters)) refuse('stats', 'counters', 'must be the vCPU\'s Counters', stats);
    checkWalker('walker', walker);
    if (walker.mem !== v.shadow.vm.guestMem) refuse('walker', 'guest-memory', 'must walk this VM\'s guest memory', walker);
    checkRegs('regs', regs);
    this.vm = vm;
    this.index = index;
    this.stats = stats;
    this.walker = walker;
    this.regs = regs;
    const mmu = vm.shadow;
    this.ctx = new ShadowContext('root_mmu', index, stats, mmu.vm.guestMem, rootMmuSetupUnchecked(walker, regs, mmu.vm.guestMem, mmu.config.hostMaxPhyAddr));
    this.ctx.obsoleteSeen = mmu.freeObsoleteRootsRequest;
  }

  /** `root_mmu.root_role` (`kvm_init_shadow_mmu`). */
  get rootRole(): PageRole {
    return this.ctx.rootRole;
  }

  private get mmu(): ShadowMmu {
    return this.vm.shadow;
  }

  /**
   * After MOV CR0/CR3/CR4 or WRMSR EFER: a role change resets the MMU (with shadow paging CR0.WP
   * is a role bit that matters); a CR3 write is `kvm_set_cr3` → `kvm_mmu_new_pgd` then
   * `kvm_invalidate_pcid` unless PCID no-flush; CR4.PGE toggling or PCIDE clearing flushes the
   * guest TLB.
   */
  afterSetRegisters(old: PagingRegisters, regs: PagingRegisters, walker: GvaWalker, cr3Written: boolean, noFlush: boolean, reset: boolean): void {
    checkRegs('old', old);
    checkRegs('regs', regs);
    this.checkOwnWalker(walker);
    checkBool('cr3Written', cr3Written);
    checkBool('noFlush', noFlush);
    checkBool('reset', reset);
    const mmu = this.mmu;
    const roleChanged = !walker.role.equals(this.walker.role);
    const pdptrsChanged = String(walker.pdptrs) !== String(this.walker.pdptrs);
    this.walker = walker;
    this.regs = regs;
    // `reset`: kvm_mmu_reset_context or kvm_mmu_unload by the bits written (register-write.ts),
    // which frees every root even when the role is unchanged.
    if (roleChanged || reset) {
      freeAllRootsUnchecked(mmu, this.ctx); // kvm_mmu_reset_context → kvm_mmu_unload
      this.ctx.configureUnchecked(rootMmuSetupUnchecked(walker, regs, mmu.vm.guestMem, mmu.config.hostMaxPhyAddr));
      return;
    }
    this.ctx.configureUnchecked(rootMmuSetupUnchecked(walker, regs, mmu.vm.guestMem, mmu.config.hostMaxPhyAddr));
    const pcide = (regs.cr4 & CR4.PCIDE) !== 0n;
    // load_pdptrs (MOV CR3, or a CR0/CR4 PDPTR-bit change): changed PDPTEs without TDP mean the
    // PAE root must be rebuilt (x86.c: load_pdptrs → kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT)).
    if (pdptrsChanged && this.ctx.usesPaeRoot) freeRootsUnchecked(mmu, this.ctx, { current: true });
    if (cr3Written) {
      if (regs.cr3 !== old.cr3) newPgdUnchecked(mmu, this.ctx, regs.cr3);
      if (!noFlush) invalidatePcidUnchecked(mmu, this.ctx, pcidOfUnchecked(regs.cr3, pcide), regs.cr3, pcide);
    }
    const cr4x = old.cr4 ^ regs.cr4;
    if ((cr4x & CR4.PGE) !== 0n || ((old.cr4 & CR4.PCIDE) !== 0n && !pcide)) this.flushGuestTlb();
    this.vm.afterOperation();
  }

  /**
   * `nested_vmx_load_cr3(cr3, nested_ept = false)` at a nested VM entry or exit while L1 shadows
   * L2 itself (vmx/nested.c:1148-1177; `nested_svm_load_cr3` alike, svm/nested.c:511-529):
   * `kvm_init_mmu` → `kvm_init_shadow_mmu` (mmu.c:5685-5708) gives root_mmu the new cpu_role and
   * root_role — guest_mode set for L2 — without freeing a root (`shadow_mmu_init_context`,
   * mmu.c:5663-5683: no reset, unlike a CR0/CR4 role change); then `kvm_mmu_new_pgd(cr3)`
   * (mmu.c:5044): the current root moves to prev_roots and a cached root with this CR3 and role
   * is reused (`fast_pgd_switch`, mmu.c:5028-5042; a PAE root is freed instead).
   */
  loadCr3Nested(walker: GvaWalker, regs: PagingRegisters): void {
    this.checkOwnWalker(walker);
    checkRegs('regs', regs);
    const mmu = this.mmu;
    this.walker = walker;
    this.regs = regs;
    this.ctx.configureUnchecked(rootMmuSetupUnchecked(walker, regs, mmu.vm.guestMem, mmu.config.hostMaxPhyAddr));
    newPgdUnchecked(mmu, this.ctx, regs.cr3);
  }

  private checkOwnWalker(walker: unknown): GvaWalker {
    const w = checkWalker('walker', walker);
    if (w.mem !== this.mmu.vm.guestMem) refuse('walker', 'guest-memory', 'must walk this VM\'s guest memory', walker);
    return w;
  }

  /** KVM_REQ_TLB_FLUSH_GUEST without TDP: sync the roots, free previous roots that need a sync. */
  flushGuestTlb(): void {
    this.stats.inc('tlb_flush');
    syncRootsUnchecked(this.mmu, this.ctx);
    syncPrevRootsUnchecked(this.mmu, this.ctx);
    this.vm.afterOperation();
  }

  /** `kvm_mmu_invlpg`: every root (global mappings ignore PCID), one entry each. */
  invlpg(address: Gva | bigint): void {
    const a = this.walker.checkAddress(checkLinear('address', address));
    this.stats.inc('invlpg');
    this.mmu.vm.events.recordUnchecked({ kind: 'invlpg', vcpu: this.index, gva: a });
    invalidateAddrInRootUnchecked(this.mmu, this.ctx, this.ctx.root.hpa, a);
    for (const r of this.ctx.prevRoots) invalidateAddrInRootUnchecked(this.mmu, this.ctx, r.hpa, a);
    this.vm.afterOperation();
  }

  /** Pending requests and `kvm_mmu_reload` before entering the guest. */
  private enter(): void {
    const mmu = this.mmu;
    freeObsoleteRootsUnchecked(mmu, this.ctx);
    if (this.ctx.root.hpa < 0) mmuLoadUnchecked(mmu, this.ctx, this.regs.cr3);
    else if (this.ctx.syncRequested) syncRootsUnchecked(mmu, this.ctx);
  }

  /** Load the roots now (what the next VM entry would do). */
  load(): void {
    this.enter();
    this.vm.afterOperation();
  }

  /** The gfn of the cached MMIO SPTE the last fault emulated (`vcpu->arch.mmio_gfn`), if it did. */
  private cachedMmioGfn: number | undefined;

  /** `kvm_mmu_page_fault` for a #PF intercept. */
  pageFault(cr2: bigint, ec: number, accessFlags: number): ShadowFaultResult & { injected: boolean } {
    this.walker.checkAddress(checkLinear('cr2', cr2));
    // The #PF error code is 32 bits (SDM Vol. 3A 4.7); the access flags are EFLAGS.AC and implicit.
    checkInt('ec', ec, { max: 0xffff_ffff });
    checkInt('accessFlags', accessFlags, { max: ACCESS_AC | ACCESS_IMPLICIT });
    if ((accessFlags & ~(ACCESS_AC | ACCESS_IMPLICIT)) !== 0) refuse('accessFlags', 'access-flags', 'must be ACCESS_AC and/or ACCESS_IMPLICIT', accessFlags);
    return this.pageFaultUnchecked(cr2, ec, accessFlags);
  }

  /** pageFault for the access loop (its address was checked, its error code is the hardware walk's). */
  pageFaultUnchecked(cr2: bigint, ec: number, accessFlags: number): ShadowFaultResult & { injected: boolean } {
    const mmu = this.mmu;
    this.cachedMmioGfn = undefined;
    let r: RetPf = RET_PF.INVALID;
    let res: ShadowFaultResult = { ret: RET_PF.INVALID, mmio: false };
    let injected = false;
    if (ec & PFERR.RSVD) {
      r = this.handleMmioPageFault(cr2);
      if (r === RET_PF.EMULATE) {
        res = { ret: r, mmio: true, emulation: 'MMIO (cached MMIO SPTE)' };
        const walkFault = this.mmioGvaToGpa(cr2, ec, accessFlags);
        if (walkFault !== undefined) {
          // The emulator's walk failed (x86.c:7901-7902): kvm_inject_emulated_page_fault, which
          // also invalidates the address after a protection fault.
          res = { ret: RET_PF.EMULATE, mmio: false, walkFault };
          injected = true;
          if ((walkFault.errorCode & PFERR.PRESENT) !== 0 && (walkFault.errorCode & PFERR.RSVD) === 0) invalidateAddrInRootUnchecked(mmu, this.ctx, this.ctx.root.hpa, cr2);
        }
      }
    }
    if (r === RET_PF.INVALID) {
      this.stats.inc('pf_taken');
      // The error code goes on unchanged (mmu.c:6276): after a stale MMIO SPTE fault->rsvd is set,
      // which skips page_fault_handle_page_track (mmu.c:4369-4370); the walk ignores RSVD.
      res = this.ctx.direct ? directPageFaultUnchecked(mmu, this.ctx, cr2, ec) : shadowPageFaultUnchecked(mmu, this.ctx, cr2, ec, accessFlags);
      r = res.ret;
      if (res.walkFault !== undefined) {
        injected = true;
        const wec = res.walkFault.errorCode;
        // kvm_inject_emulated_page_fault: a protection fault also invalidates the faulting address.
        if ((wec & PFERR.PRESENT) !== 0 && (wec & PFERR.RSVD) === 0) invalidateAddrInRootUnchecked(mmu, this.ctx, this.ctx.root.hpa, cr2);
      }
    }
    if (r === RET_PF.WRITE_PROTECTED) {
      // kvm_mmu_write_protect_fault: an indirect MMU with no event to reinject emulates.
      r = RET_PF.EMULATE;
    }
    if (r === RET_PF.FIXED) this.stats.inc('pf_fixed');
    else if (r === RET_PF.EMULATE) this.stats.inc('pf_emulate');
    else if (r === RET_PF.SPURIOUS) this.stats.inc('pf_spurious');
    mmu.vm.events.recordUnchecked({ kind: 'page_fault', vcpu: this.index, gva: cr2, code: BigInt(ec), outcome: injected ? 'guest #PF injected' : RET_PF_NAMES[r]! });
    this.vm.afterOperation();
    return { ...res, ret: r, injected };
  }

  /**
   * The emulator's translation of an access that hit a cached MMIO SPTE (`x86.c:
   * vcpu_mmio_gva_to_gpa`, x86.c:7877-7905): the access bits `mark_mmio_spte` stored from the
   * guest walk (mmu.c:4346, cached by `vcpu_cache_mmio_info`, mmu.c:4355) stand in for the walk
   * only when they permit the access (`permission_fault`, x86.c:7890-7892, pkey 0); otherwise the
   * guest tables are walked with it, and a failing walk is the guest's #PF. An instruction fetch
   * is always walked (`kvm_fetch_guest_virt`). Returns the fault, if any.
   */
  private mmioGvaToGpa(addr: bigint, ec: number, accessFlags: number): ShadowFaultResult['walkFault'] {
    const w = this.ctx.walkInputs;
    if (w === undefined) return undefined; // !is_paging(vcpu)
    const fetch = (ec & PFERR.FETCH) !== 0;
    const pfec = ec & (PFERR.USER | (fetch ? PFERR.FETCH : PFERR.WRITE));
    if (!fetch) {
      const leaf = this.leafOrMmio(addr);
      const acc = Number(leaf & this.mmu.config.mmioAccessMask); // get_mmio_spte_access (mmu.c:311-314)
      const fmt = w.format;
      const notSmap = (accessFlags & ACCESS_AC) !== 0 && (accessFlags & ACCESS_IMPLICIT) === 0;
      // No protection-key term: without TDP the guest has no PKU (cpuid.c:936-941), CR4.PKE stays 0.
      const fault = (fmt.permissions[(pfec | (notSmap ? PFERR.RSVD : 0)) >> 1]! >> acc) & 1;
      if (fault === 0) return undefined;
    }
    const s = this.ctx.walkScratch;
    const stop = walkTables(w, s, Number(addr >> 32n), Number(addr & 0xffffffffn), pfec | accessFlags);
    return stop === WalkStop.Ok ? undefined : { errorCode: s.errorCode, stop };
  }

  /** The SPTE the hardware stopped at for `addr` (the MMIO SPTE of a cached-MMIO fault). */
  private leafOrMmio(addr: bigint): bigint {
    const path = shadowPathUnchecked(this.mmu, this.ctx, this.ctx.root.hpa, addr);
    const last = path[path.length - 1]!;
    return this.mmu.readSpteUnchecked(last.sp, last.idx);
  }

  /** `handle_mmio_page_fault(addr, direct=false)`, without the per-vCPU MMIO GVA cache. */
  private handleMmioPageFault(addr: bigint): RetPf {
    const path = shadowPathUnchecked(this.mmu, this.ctx, this.ctx.root.hpa, addr);
    const last = path[path.length - 1];
    if (last === undefined) return RET_PF.RETRY;
    const spte = this.mmu.readSpteUnchecked(last.sp, last.idx);
    if (isShadowPresent(spte) && isRsvdSpte(this.mmu.config, spte, last.sp.level)) {
      throw new InvariantViolation('mmio-rsvd-present', 'an RSVD fault found reserved bits in a present shadow SPTE (a KVM bug)', '0x' + spte.toString(16));
    }
    if (isMmioSpte(this.mmu.config, spte)) {
      if (!mmioGenerationMatches(this.mmu.config, spte, this.vm.mmioGeneration)) return RET_PF.INVALID;
      // vcpu_cache_mmio_info(vcpu, addr, gfn, access) (mmu.c:4355): the emulator takes the
      // GPA from the MMIO SPTE's gfn, without walking (x86.c:7890-7896, vcpu_mmio_gva_to_gpa).
      this.cachedMmioGfn = mmioSpteGfn(spte, this.mmu.config.hostMaxPhyAddr);
      return RET_PF.EMULATE;
    }
    return RET_PF.RETRY;
  }

  /** One guest access: the hardware walks the shadow tables; #PF intercepts go to KVM. */
  access(address: Gva | bigint, access: Access): AccessResult {
    const a = this.walker.checkAddress(checkLinear('address', address));
    const enc = encodeAccess(access);
    const vlo = Number(a & 0xffffffffn);
    const vhi = Number(a >> 32n);
    const exits: ExitRecord[] = [];
    this.stats.inc('guest_accesses');
    const mem = this.mmu.vm.host.frames;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      dirtyRingEntryCheck(this.vm.runningRing, this.index);
      this.enter();
      const hs = this.ctx.hwScratch;
      const stop = walkTables(this.ctx.hwInputsUnchecked(mem), hs, vhi, vlo, enc);
      if (stop === WalkStop.Ok) {
        const hpa = mkHpa(BigInt(hs.gfn) * 4096n + (a & 0xfffn)) as Hpa;
        const g = hostPfnToGfnUnchecked(this.vm.memslots, hs.gfn);
        const gpa = g < 0 ? undefined : ((BigInt(g) * 4096n + (a & 0xfffn)) as Gpa);
        const guestWalk: WalkResult = {
          status: 'ok', stage: 'gva_walk', address: mkGva(a), access, trace: [], gpa: gpa ?? (0n as Gpa), gfn: mkGfn(Math.max(g, 0)),
          level: hs.level, pageSize: 4096 * 512 ** (hs.level - 1), pteAccess: hs.pteAccess, pkey: 0, gpaKind: 'ram', adUpdates: 0,
        };
        return { status: 'ok', gva: mkGva(a), access, gpa, hpa, guestWalk, exits, attempts: attempt };
      }
      const ec = hs.errorCode;
      this.stats.inc('exits');
      this.stats.inc('pf_exits');
      this.mmu.vm.events.recordUnchecked({ kind: 'pf_exit', vcpu: this.index, gva: a, code: BigInt(ec), outcome: 'page fault in the shadow tables' });
      const h = this.pageFaultUnchecked(a, ec, enc & (ACCESS_AC | ACCESS_IMPLICIT));
      exits.push({
        kind: 'pf_intercept', reason: EXIT_REASON_EXCEPTION_NMI, gpa: a, onGuestTable: false, info: BigInt(ec), errorCode: BigInt(ec),
        ret: h.injected ? 'guest #PF injected' : RET_PF_NAMES[h.ret]!, fast: false, mmio: h.mmio,
      });
      if (h.injected) {
        this.stats.inc('pf_guest');
        const guestWalk = buildRecord(this.ctx.walkInputs!, this.ctx.walkScratch, h.walkFault!.stop, mkGva(a), access, this.ctx.cpuRole, 'gva_walk');
        this.mmu.vm.events.recordUnchecked({ kind: 'guest_pf', vcpu: this.index, gva: a, code: BigInt(h.walkFault!.errorCode), outcome: guestWalk.status === 'fault' ? guestWalk.reason : '' });
        return { status: 'guest-pf', gva: mkGva(a), access, gpa: undefined, hpa: undefined, guestWalk, exits, attempts: attempt };
      }
      if (h.ret === RET_PF.EMULATE && this.cachedMmioGfn !== undefined) {
        // A cached MMIO SPTE: no walk was made, the GPA is the SPTE's.
        const gpa = (BigInt(this.cachedMmioGfn) * 4096n + (a & 0xfffn)) as Gpa;
        const guestWalk: WalkResult = { status: 'ok', stage: 'gva_walk', address: mkGva(a), access, trace: [], gpa, gfn: mkGfn(this.cachedMmioGfn), level: 1, pageSize: 4096, pteAccess: 7, pkey: 0, gpaKind: 'noslot', adUpdates: 0 };
        return { status: 'emulated', gva: mkGva(a), access, gpa, hpa: undefined, guestWalk, exits, attempts: attempt, emulation: h.emulation ?? 'emulated' };
      }
      if (h.ret === RET_PF.EMULATE) {
        const guestWalk: WalkResult = this.ctx.walkInputs === undefined
          ? { status: 'ok', stage: 'gva_walk', address: mkGva(a), access, trace: [], gpa: a as bigint as Gpa, gfn: mkGfn(Number(a >> 12n)), level: 1, pageSize: 4096, pteAccess: this.mmu.config.acc.ALL, pkey: 0, gpaKind: 'ram', adUpdates: 0 }
          : buildRecord(this.ctx.walkInputs, this.ctx.walkScratch, WalkStop.Ok, mkGva(a), access, this.ctx.cpuRole, 'gva_walk');
        const gpa = guestWalk.status === 'ok' ? guestWalk.gpa : undefined;
        return { status: 'emulated', gva: mkGva(a), access, gpa, hpa: undefined, guestWalk, exits, attempts: attempt, emulation: h.emulation ?? 'emulated' };
      }
    }
    throw new InvariantViolation('no-progress', `the access made no progress after ${MAX_ATTEMPTS} exits`, '0x' + a.toString(16));
  }

  /** The shadow leaf for a GVA in the current root: [level, spte] or undefined. */
  leafFor(address: Gva | bigint): { level: number; spte: bigint } | undefined {
    const path = shadowPathUnchecked(this.mmu, this.ctx, this.ctx.root.hpa, this.walker.checkAddress(checkLinear('address', address)));
    const last = path[path.length - 1];
    if (last === undefined) return undefined;
    const spte = this.mmu.readSpteUnchecked(last.sp, last.idx);
    return isShadowPresent(spte) && isLastSpte(spte, last.sp.level) ? { level: last.sp.level, spte } : undefined;
  }

  unload(): void {
    freeAllRootsUnchecked(this.mmu, this.ctx);
  }
}
