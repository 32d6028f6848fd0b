/**
 * ngpa walk: L1's EPT12 or NPT12 tables, nGPA (L2's guest-physical address) → GPA (L1's), over
 * L1's guest memory — the tables live there. In v6.16 this is `guest_mmu` walked by
 * `ept_walk_addr` / `paging64_walk_addr` (`paging32_*` for a 32-bit NPT12); KVM 2026 calls it the
 * ngpa walk. It is the generic walk (walker/walk.ts) with:
 *  - EPT12: the EPT format from EPTP12 (level from bits 5:3, A/D from bit 6) and L1's EPT
 *    capabilities (execute-only, largest page) — `nested_ept_new_eptp`;
 *  - NPT12: the x86 format of L1's own CR4/EFER with CR0 = PG only, so WP is off, and CR4.PKE
 *    cleared — `kvm_init_shadow_npt_mmu(vcpu, X86_CR0_PG, hsave cr4, hsave efer, nCR3)`.
 *
 * Accesses are PFERR bits, as KVM passes them: EPT reuses U as "read" (a hardware exit's READ
 * bit becomes U), W is write, FETCH is fetch; every NPT access is a user access. A fault becomes
 * the exit L1 sees (nested-exit.ts): EPT violation or misconfiguration, or NPF.
 */
import { type Gpa, type Gva, type Ngpa, ngpa as mkNgpa, gpa as mkGpa } from '../address/address';
import { GpaOutsideMemoryError, InvalidArgumentError, InvalidRegisterStateError, hex } from '../errors';
import { joinU64, rsvdBits } from '../bits';
import { CR0, CR4, EFER, DEFAULT_FEATURES, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { calcCpuRole, validatePagingRegisters } from '../role/calc-cpu-role';
import { CpuRole } from '../role/cpu-role';
import { PageRole } from '../role/page-role';
import { accEncoding, PFERR } from '../format/acc';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';
import { eptFormat } from '../format/ept';
import { nptFormat } from '../format/npt';
import type { PageFormat } from '../format/page-format';
import { GuestMemory } from '../memory/guest-memory';
import { RAW_ACCESS_BITS, type Access } from '../walker/access';
import { checkBigint, checkInt, checkRawWalk, refuse } from '../validate/checks';
import { NESTED_DURING, checkEptNgpaConfig, checkGuestLinear, checkNgpaAccess, checkNptNgpaConfig } from './check-nested-args';
import { walkTables, type WalkInputs } from '../walker/walk';
import { clearFullWalkFlags, ensureTrace, makeFastWalk, SLOW, type FastWalk } from '../walker/walk-fast';
import { WalkScratch, WalkStop } from '../walker/walk-scratch';
import { buildRecord } from '../walker/walk-record';
import type { WalkStep, WalkStepDraft } from '../walker/walk-result';
import { DEFAULT_EPT_CAPS, eptHugePageLevel, type EptCapabilities } from './ept-capabilities';
import { decodeEptp } from './eptp';
import { nestedExit } from './nested-exit';
import { EPT_QUAL_GUEST_MASK } from './exit-qualification';
import type { NestedDuring } from './nested-during';
import { asNestedRecord, type NgpaWalkFault, type NgpaWalkOk, type NgpaWalkResult } from './ngpa-walk-result';

const TWO20 = 0x100000;
/** Numbers per entry in `appendLastEntries`'s form. */
export const ENTRY_NUMBERS = 7;
/** Entries one nested walk reads at most: 5 levels and a PAE PDPTE read from memory. */
export const MAX_NESTED_ENTRIES = 6;

export type NestedTdp = 'ept' | 'npt';

export interface NgpaAccess {
  kind: 'read' | 'write' | 'fetch';
  /**
   * PFERR_USER. NPT: always set — every nested access is a user access (false is refused). EPT:
   * U means "readable is required"; a read always has it, and KVM's emulated 2D walk adds it to
   * every access (`translate_nested_gpa`). Default: true for NPT; for EPT only on reads, which is
   * what KVM's EPT-violation handler derives from a hardware exit qualification.
   */
  user?: boolean;
  /** What the access was for, as the exit reports it (qualification bits 7/8, EXITINFO1 32/33). */
  during?: NestedDuring;
  /**
   * KVM 7.3 EPT, final translation: bits 11:9 of the real EPT-violation exit (advanced VM-exit
   * information: user-mode / writable / execute-disable linear address), which KVM copies into the
   * qualification it synthesizes for L1 (a0efd8cb221f; kvm-7x.md §1.2, 7.3 walker comment [T]).
   */
  guestLinear?: number;
}

export interface EptNgpaConfig {
  /** EPTP12 from vmcs12. */
  eptp: bigint;
  /** L1's EPT capabilities (the nested IA32_VMX_EPT_VPID_CAP). */
  caps?: EptCapabilities;
  /**
   * `nested_ops->write_log_dirty`: called when the walker sets D in an EPT12 leaf, with the nGPA
   * page L1's emulated PML would log (when vmcs12 enables PML; a full log would be a PML_FULL
   * exit — not modelled).
   */
  onWriteLogDirty?: (page: Ngpa) => void;
  /** Which KVM walks EPT12 (default DEFAULT_KVM_VERSION, '7.3'; a Vm passes its own). */
  kvm?: KvmVersion;
  /**
   * vmcs12 secondary execution control bit 22, "mode-based execute control for EPT"
   * (kvm-unit-tests `CPU_MODE_BASED_EPT_EXEC = 1ul << 22`, kvm-7x.md §1.1): EPT12 entries carry
   * XS (bit 2) and XU (bit 10). 7.3 only (`kvm_init_shadow_ept_mmu(…, mbec, …)`, d220bcf026f0).
   */
  mbec?: boolean;
}

export interface NptNgpaConfig {
  /** nCR3 from vmcb12. */
  ncr3: bigint;
  /** L1's own paging registers (vmcb01 save area): CR4 and EFER select the NPT12 format. */
  l1: PagingRegisters;
  /** L1's CPUID. Default DEFAULT_FEATURES with the memory's MAXPHYADDR. */
  features?: CpuFeatures;
  /** The NPT12 level the caller means (2, 3, 4, 5); it must be the one L1's mode implies. */
  level?: number;
  /** Which KVM walks NPT12 (default DEFAULT_KVM_VERSION, '7.3'; a Vm passes its own). */
  kvm?: KvmVersion;
  /**
   * vmcb12 `nested_ctl` bit 3, `SVM_NESTED_GMET` (kvm-7x.md §2.1): guest-mode execute trap. 7.3
   * only (`kvm_init_shadow_npt_mmu(…, misc_ctl)`, ec65797ce341; nSVM 687ee95c1b6d).
   */
  gmet?: boolean;
}

interface Setup {
  tdp: NestedTdp;
  mem: GuestMemory;
  format: PageFormat;
  role: CpuRole;
  root: Gpa;
  rootGfn: number;
  /** NPT12 in PAE mode: the PDPT address (PDPTEs are read from memory on every walk). */
  pdptBase: number | undefined;
  addressBits: number;
  eptp?: bigint;
  eptCaps?: Readonly<EptCapabilities>;
  ncr3?: bigint;
  onLog?: (page: Ngpa) => void;
}

/** EPT ACC (R→ACC_USER, W→ACC_WRITE, X→ACC_EXEC) back to the raw RWX bits 2:0. */
/** The frame APIs' arguments: an nGFN (integer in [0, 2^40)) and a PFERR access. */
function checkNgfn(ngfn: unknown, pfec: unknown): void {
  if (typeof ngfn !== 'number' || !Number.isInteger(ngfn) || ngfn < 0 || ngfn >= 2 ** 40) refuse('ngfn', 'gfn', 'must be an nGFN, an integer number in [0, 2^40)', ngfn);
  checkRawWalk('nhi', 0, 'nlo', 0, 'pfec', pfec, RAW_ACCESS_BITS);
}

export function eptAccToRwx(acc: number): number {
  // An ACC value: 3 bits in v6.16, 4 in 7.3 (ACC_USER_EXEC_MASK, kvm-7x.md §1.1).
  checkInt('acc', acc, { max: 15 });
  return ((acc >>> 2) & 1) | (acc & 2) | ((acc & 1) << 2);
}

/** Setups the factories made: the constructor builds walkers from these only. */
const FACTORY_SETUPS = new WeakSet<object>();

export class NgpaWalker {
  readonly tdp: NestedTdp;
  /** L1's guest memory: the EPT12/NPT12 tables and the GPAs they produce. */
  readonly mem: GuestMemory;
  readonly format: PageFormat;
  /** `guest_mmu->cpu_role`: the shadow-EPT role, or the NPT role computed from L1's CR4/EFER. */
  readonly role: CpuRole;
  /** Nested levels m: 4/5 (EPT, long-mode NPT), 3 (PAE NPT, PDPTEs read from memory), 2 (32-bit NPT). */
  readonly levels: number;
  /** nGPAs must be below 2^addressBits: 48 (4-level), 52 (5-level, MAXPHYADDR), 32 (32-bit/PAE NPT). */
  readonly addressBits: number;
  /** Root table (PAE NPT: the PDPT). */
  readonly root: Gpa;
  readonly eptp: bigint | undefined;
  readonly eptCaps: Readonly<EptCapabilities> | undefined;
  readonly ncr3: bigint | undefined;
  /** The KVM version walking (the format's). */
  readonly kvm: KvmVersion;
  /** EPT12 with MBEC, or NPT12 with GMET (7.3): `ngpa_walk.cpu_role.base.cr4_smep`. */
  readonly mbec: boolean;
  private readonly inputs: WalkInputs;
  private readonly scratch = new WalkScratch();
  /** walkRaw's read-only walk of `inputs`, specialized to them (walk-fast.ts). */
  private readonly fast: FastWalk;
  private readonly pdptBase: number | undefined;
  private readonly pdptHalves: Uint32Array | undefined;
  private readonly logsDirty: boolean;
  private readonly onLog: ((page: Ngpa) => void) | undefined;
  private peekInputs: WalkInputs | undefined;
  private readonly peekScratch = new WalkScratch();
  /** appendLastEntries' staging array (made on first use). */
  private entriesTmp: Float64Array | undefined;
  private lastStop = 0;
  private lastPfecValue = 0;
  private lastLoggedFlag = false;
  private dirtyLogs = 0;

  private constructor(s: Setup) {
    if (typeof s !== 'object' || s === null || !FACTORY_SETUPS.has(s)) refuse('setup', 'ngpa-walker-factory', 'must come from NgpaWalker.ept or NgpaWalker.npt (the constructor is private)', s);
    this.tdp = s.tdp;
    this.mem = s.mem;
    this.format = s.format;
    this.role = s.role;
    this.levels = s.format.rootLevel;
    this.addressBits = s.addressBits;
    this.root = s.root;
    this.eptp = s.eptp;
    this.eptCaps = s.eptCaps;
    this.ncr3 = s.ncr3;
    this.kvm = s.format.kvm;
    this.mbec = s.format.mbec;
    this.pdptBase = s.pdptBase;
    this.pdptHalves = s.pdptBase === undefined ? undefined : new Uint32Array(8);
    this.logsDirty = s.tdp === 'ept' && s.format.hasAd;
    this.onLog = s.onLog;
    this.inputs = {
      mem: s.mem,
      format: s.format,
      rootGfn: s.rootGfn,
      pdptrs: this.pdptHalves,
      pdptBase: s.pdptBase ?? 0,
      pkru: 0,
      // The shadow EPT role has neither EFER.NX nor SMEP; the NPT role has L1's.
      fetchSetsId: s.role.hasPferrFetch,
    };
    this.fast = makeFastWalk(this.inputs, this.scratch);
  }

  /** L1 runs L2 with EPT: EPTP12 checked as `nested_vmx_check_eptp`, the format as `nested_ept_new_eptp`. */
  static ept(mem: GuestMemory, cfg: EptNgpaConfig): NgpaWalker {
    checkEptNgpaConfig(mem, cfg);
    const caps: Readonly<EptCapabilities> = Object.freeze({ ...(cfg.caps ?? DEFAULT_EPT_CAPS) });
    const kvm = cfg.kvm ?? DEFAULT_KVM_VERSION;
    // MBEC outside 7.3 is refused by eptFormat ('mbec-version'), before anything is built.
    const mbec = cfg.mbec ?? false;
    const f = decodeEptp(BigInt(cfg.eptp), caps, mem.maxPhyAddr);
    const format = eptFormat({
      level: f.level,
      maxPhyAddr: mem.maxPhyAddr,
      adEnabled: f.adEnabled,
      execonly: caps.executeOnly,
      hugePageLevel: eptHugePageLevel(caps),
      kvm,
      mbec,
    });
    // kvm_calc_shadow_ept_root_page_role; 7.3: base.cr4_smep = MBEC (kvm-7x.md §3.3).
    const base = PageRole.pack({ level: f.level, access: accEncoding(kvm).ALL, adDisabled: !f.adEnabled, guestMode: true, cr4Smep: mbec }, kvm);
    const role = CpuRole.of(base, { valid: true, execonly: caps.executeOnly });
    const setup: Setup = {
      tdp: 'ept',
      mem,
      format,
      role,
      root: f.root,
      rootGfn: Number((f.root as bigint) >> 12n),
      pdptBase: undefined,
      addressBits: Math.min(12 + 9 * f.level, 52),
      eptp: BigInt(cfg.eptp),
      eptCaps: caps,
    };
    if (cfg.onWriteLogDirty !== undefined) setup.onLog = cfg.onWriteLogDirty;
    FACTORY_SETUPS.add(setup);
    return new NgpaWalker(setup);
  }

  /** L1 runs L2 with NPT: the NPT12 format follows L1's CR4/EFER (`kvm_init_shadow_npt_mmu`). */
  static npt(mem: GuestMemory, cfg: NptNgpaConfig): NgpaWalker {
    checkNptNgpaConfig(mem, cfg);
    const features = cfg.features ?? { ...DEFAULT_FEATURES, maxPhyAddr: mem.maxPhyAddr };
    if (features.maxPhyAddr !== mem.maxPhyAddr) {
      throw new InvalidRegisterStateError(
        'maxphyaddr-mismatch',
        `L1's CPUID MAXPHYADDR ${features.maxPhyAddr} differs from its memory's ${mem.maxPhyAddr}`,
        String(features.maxPhyAddr),
      );
    }
    const l1 = cfg.l1;
    validatePagingRegisters(l1, features);
    if ((l1.efer & EFER.SVME) === 0n) {
      throw new InvalidRegisterStateError('npt-needs-svme', 'L1 runs L2 with VMRUN, which needs EFER.SVME=1 (#UD otherwise)', hex(l1.efer));
    }
    const kvm = cfg.kvm ?? DEFAULT_KVM_VERSION;
    // GMET outside 7.3 is refused by nptFormat ('gmet-version'), before anything is built.
    const gmet = cfg.gmet ?? false;
    // KVM passes CR0 = PG only: the NPT walk has WP off whatever L1's CR0 says, and no PKE.
    // 7.3 (kvm-7x.md §3.3): base.cr4_smep = GMET; ext.has_pferr_fetch from L1's CR4.SMEP/EFER.NXE.
    const l1Role = calcCpuRole({ cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: l1.cr4 & ~CR4.PKE, efer: l1.efer, guestMode: true }, features, kvm);
    const role = kvm === '7.3' ? CpuRole.of(l1Role.base.with({ cr4Smep: gmet }), l1Role.ext) : l1Role;
    const level = role.base.level;
    if (cfg.level !== undefined && cfg.level !== level) {
      throw new InvalidRegisterStateError(
        'npt-level-vs-l1-mode',
        `an NPT12 of level ${cfg.level} is impossible: NPT tables have the format of L1's own paging mode (CR4/EFER), here ${level}-level (${role.pagingMode})`,
        String(cfg.level),
      );
    }
    const ncr3 = BigInt(cfg.ncr3);
    // A negative nCR3 shifts to -1n: refused by the same test.
    if (ncr3 >> BigInt(mem.maxPhyAddr) !== 0n) {
      throw new InvalidRegisterStateError('ncr3-beyond-maxphyaddr', `nCR3 sets bits at or above L1's MAXPHYADDR ${mem.maxPhyAddr}`, hex(ncr3));
    }
    if (level <= 3 && ncr3 >> 32n !== 0n) {
      throw new InvalidRegisterStateError('ncr3-32-bit', `a ${level === 2 ? '32-bit' : 'PAE'} NPT12 root must be below 4 GiB: its CR3 format has 32 bits`, hex(ncr3));
    }
    const format = nptFormat({
      level,
      maxPhyAddr: mem.maxPhyAddr,
      nx: role.isEferNx,
      gbpages: features.gbpages,
      pse: role.isCr4Pse,
      cr4Smep: role.isCr4Smep,
      cr4Smap: role.isCr4Smap,
      kvm,
      gmet,
    });
    // Root: bits 51:12 (long mode) or 31:12 (32-bit). PAE: nested_svm_get_tdp_pdptr reads the
    // PDPTE at (nCR3 & ~0x1f) + 8 * index on every walk — NPT has no PDPTE registers.
    const rootMask = level >= 4 ? rsvdBits(12, 51) : rsvdBits(12, 31);
    const pdptBase = level === 3 ? Number(ncr3 & ~0x1fn) : undefined;
    const setup: Setup = {
      tdp: 'npt',
      mem,
      format,
      role,
      root: mkGpa(level === 3 ? ncr3 & ~0x1fn : ncr3 & rootMask),
      rootGfn: Number((ncr3 & rootMask) >> 12n),
      pdptBase,
      addressBits: level <= 3 ? 32 : Math.min(12 + 9 * level, 52),
      ncr3,
    };
    FACTORY_SETUPS.add(setup);
    return new NgpaWalker(setup);
  }

  /**
   * NPT: `translate_nested_gpa` makes every nested access a user access — except with GMET, where
   * SVM's vendor-specific hook (b95b398d2e6d) stops forcing PFERR_USER so that the NPT's U bit
   * works as SMEP for supervisor fetches (INFERRED in kvm-7x.md §2.2; ASSUMPTION here: under GMET
   * an access carries U only when the caller says it is a user-mode one).
   */
  private get forcesUser(): boolean {
    return this.tdp === 'npt' && !this.mbec;
  }

  /**
   * For the 2D walk's read-only fast path (walk-2d-fast.ts): this walker's tables, or
   * undefined when a walk reads more than its tables (PAE NPT12's PDPTE load). `pfec` gets U
   * where `walkRaw` would add it.
   */
  fastInputs(): { inputs: WalkInputs; forceUser: number } | undefined {
    if (this.pdptHalves !== undefined) return undefined;
    return { inputs: this.inputs, forceUser: this.forcesUser ? PFERR.USER : 0 };
  }

  /** Times the walker set D in an EPT12 leaf and called `write_log_dirty`. */
  get writeLogDirtyCount(): number {
    return this.dirtyLogs;
  }

  // ---- hot path (plain numbers) ----

  /**
   * Walk nGPA (hi, lo) for an access given as PFERR bits (NPT adds U). Returns WalkStop.Ok (0)
   * with the GPA frame in `lastGfn`, or the stop reason. No allocation unless a callback fires.
   */
  walkRaw(nhi: number, nlo: number, pfec: number): number {
    checkRawWalk('nhi', nhi, 'nlo', nlo, 'pfec', pfec, RAW_ACCESS_BITS);
    return this.walkRawUnchecked(nhi, nlo, pfec);
  }

  /** @internal walkRaw without the argument checks, for the engine's own callers (the 2D walk, guest_mmu). */
  walkRawUnchecked(nhi: number, nlo: number, pfec: number, traced = false): number {
    const a = this.forcesUser ? pfec | PFERR.USER : pfec;
    this.lastPfecValue = a;
    if (this.pdptHalves !== undefined) this.loadPdpte(this.pdptHalves, nlo);
    const s = this.scratch;
    // `traced`: the caller reads the entries next (a recording 2D walk), so walk with the trace
    // at once rather than the fast walk plus ensureTrace's second walk.
    const stop = !traced && this.fast(nhi, nlo, a) !== SLOW ? WalkStop.Ok : walkTables(this.inputs, s, nhi, nlo, a);
    this.lastStop = stop;
    this.lastLoggedFlag = false;
    // update_accessed_dirty_bits: a write that finds D clear in the EPT leaf calls
    // write_log_dirty before setting D (even when the table is in a read-only slot). An untraced
    // (fast) walk found D set: it never takes a walk that must set it.
    if (stop === WalkStop.Ok && this.logsDirty && (a & PFERR.WRITE) !== 0 && s.traced && ((s.lo[s.level]! >>> 9) & 1) === 0) {
      this.lastLoggedFlag = true;
      this.dirtyLogs++;
      if (this.onLog !== undefined) this.onLog(mkNgpa((BigInt(nhi) << 32n) | BigInt((nlo >>> 12) << 12 >>> 0)));
    }
    return stop;
  }

  /**
   * `translate_nested_gpa` for a frame, as the 2D walk needs it: L1 GFN, or -1 when the nested
   * walk faulted (its details stay in this walker until the next walk).
   */
  translateFrame(ngfn: number, pfec: number): number {
    checkNgfn(ngfn, pfec);
    return this.translateFrameUnchecked(ngfn, pfec);
  }

  /** @internal translateFrame without the argument checks. */
  translateFrameUnchecked(ngfn: number, pfec: number, traced = false): number {
    const stop = this.walkRawUnchecked(Math.floor(ngfn / TWO20), (ngfn % TWO20) * 4096, pfec, traced);
    return stop === WalkStop.Ok ? this.scratch.gfn : -1;
  }

  /**
   * @internal The scratch of this walker's last walk, for Walk2D's fast record path: its traced
   * walk writes the final translation's outcome (gfn, maxLevel, level, pkey, pteAccess) here, and
   * only when it succeeds, so noteFastWalk has no fields to copy (Walk2D.walk inlines it, and V8
   * stops inlining at 920 bytes of bytecode per function).
   */
  fastWalkScratch(): WalkScratch {
    return this.scratch;
  }

  /**
   * @internal The state a successful read-only walk of nGPA frame `ngfn` with `pfec` leaves (as
   * `walkRawUnchecked` through walkTablesRaw does), for a walk another caller ran on these tables
   * and whose outcome it wrote into fastWalkScratch() (Walk2D's fast record path, whose final
   * translation this was): the trace unwritten until asked for (ensureTrace re-walks: the walk
   * changed nothing), no dirty page logged.
   */
  noteFastWalk(ngfn: number, pfec: number): void {
    const s = this.scratch;
    this.lastPfecValue = this.forcesUser ? pfec | PFERR.USER : pfec;
    this.lastStop = WalkStop.Ok;
    this.lastLoggedFlag = false;
    clearFullWalkFlags(s);
    s.tvhi = Math.floor(ngfn / TWO20);
    // ngfn's low 20 bits by ToInt32 (modular, exact for an integer below 2^53): `%` on a double is a call to fmod.
    s.tvlo = (ngfn & 0xfffff) * 4096;
    s.tacc = this.lastPfecValue;
  }

  /** The same walk without touching A/D bits or the dirty log: for checks that must not change state. */
  peekFrame(ngfn: number, pfec: number): number {
    checkNgfn(ngfn, pfec);
    return this.peekFrameUnchecked(ngfn, pfec);
  }

  /** @internal peekFrame without the argument checks. */
  peekFrameUnchecked(ngfn: number, pfec: number): number {
    if (this.peekInputs === undefined) {
      this.peekInputs = { ...this.inputs, format: Object.freeze({ ...this.format, hasAd: false }), pdptrs: this.pdptHalves === undefined ? undefined : new Uint32Array(8) };
    }
    const a = this.forcesUser ? pfec | PFERR.USER : pfec;
    const nlo = (ngfn % TWO20) * 4096;
    if (this.peekInputs.pdptrs !== undefined) this.loadPdpte(this.peekInputs.pdptrs, nlo);
    const stop = walkTables(this.peekInputs, this.peekScratch, Math.floor(ngfn / TWO20), nlo, a);
    return stop === WalkStop.Ok ? this.peekScratch.gfn : -1;
  }

  private loadPdpte(out: Uint32Array, nlo: number): void {
    const i = (nlo >>> 30) & 3;
    const a = this.pdptBase! + i * 8;
    const f = this.mem.frameOfUnchecked(Math.floor(a / 4096));
    let lo = 0;
    let hi = 0;
    // A read that fails (no slot) gives 0, i.e. a not-present PDPTE, as in KVM.
    if (f >= 0) {
      const w = GuestMemory.wordBaseUnchecked(f) + ((a % 4096) >>> 2);
      const slab = this.mem.words;
      lo = slab[w]!;
      hi = slab[w + 1]!;
    }
    out[i * 2] = lo;
    out[i * 2 + 1] = hi;
  }

  get lastGfn(): number {
    return this.scratch.gfn;
  }

  get lastStopReason(): number {
    return this.lastStop;
  }

  /** The access bits the last walk checked (NPT: with U). */
  get lastPfec(): number {
    return this.lastPfecValue;
  }

  get lastErrorCode(): number {
    return this.scratch.errorCode;
  }

  /** Whether the last walk called write_log_dirty. */
  get lastDirtyLogged(): boolean {
    return this.lastLoggedFlag;
  }

  /** EPT12/NPT12 entries the last walk read from memory (a PAE NPT PDPTE is a memory read). */
  get lastReads(): number {
    const s = this.scratch;
    if (this.lastStop === WalkStop.PdpteNotPresent) return 1;
    let n = s.maxLevel - s.level + 1;
    if (s.usedPdptr) n += 1;
    if (s.noSlot) n -= 1;
    return n;
  }

  /** The accumulated ACC KVM's error label sees in `pte_access` (ACC_ALL before any entry). */
  private lastAcc(): number {
    const s = this.scratch;
    if (this.lastStop === WalkStop.TableNoSlot) return s.level === s.maxLevel ? this.format.acc.ALL : s.acc[s.level + 1]!;
    return s.acc[s.level]!;
  }

  /** EPT: the raw RWX AND that KVM's error label sees in `pte_access` (all ones before any entry). */
  private lastRwx(): number {
    const s = this.scratch;
    ensureTrace(this.inputs, s);
    if (this.lastStop === WalkStop.TableNoSlot) return s.level === s.maxLevel ? 7 : eptAccToRwx(s.acc[s.level + 1]!);
    return eptAccToRwx(s.acc[s.level]!);
  }

  /**
   * Append the entries the last walk read from memory, in order, to `out` as 7 numbers each:
   * level, GPA of the entry, value lo, value hi, A/D updated (0/1), new lo, new hi. Plain numbers,
   * so that a 2D walk can trace its nested walks without allocating per entry. Returns the count.
   */
  appendLastEntries(out: number[]): number {
    if (!Array.isArray(out) || Object.isFrozen(out)) refuse('out', 'array-type', 'must be an array the entries can be appended to', out);
    const tmp = (this.entriesTmp ??= new Float64Array(ENTRY_NUMBERS * MAX_NESTED_ENTRIES));
    const n = this.writeLastEntriesUnchecked(tmp, 0);
    for (let i = 0; i < n * ENTRY_NUMBERS; i++) out.push(tmp[i]!);
    return n;
  }

  /**
   * @internal `appendLastEntries` into a preallocated array from index `at` (room for 6 entries,
   * 42 numbers: 5 levels and a PAE PDPTE read from memory): the recording 2D walk's form, with no
   * array growing per walk. The halves are unsigned (read from Uint32Arrays).
   */
  writeLastEntriesUnchecked(out: Float64Array, at: number): number {
    const s = this.scratch;
    ensureTrace(this.inputs, s);
    const bytes = this.format.entryBytes;
    let i = at;
    for (let level = s.usedPdptr ? 3 : s.maxLevel; level >= s.level; level--) {
      if (s.noSlot && level === s.level) break; // nothing could be read there
      const isPdpte = s.usedPdptr && level === 3;
      out[i] = level;
      out[i + 1] = isPdpte ? this.pdptBase! + s.index[3]! * 8 : s.tableGfn[level]! * 4096 + s.index[level]! * bytes;
      out[i + 2] = s.lo[level]!;
      out[i + 3] = s.hi[level]!;
      out[i + 4] = s.updated[level]!;
      out[i + 5] = s.newLo[level]!;
      out[i + 6] = s.newHi[level]!;
      i += ENTRY_NUMBERS;
    }
    return (i - at) / ENTRY_NUMBERS;
  }

  /** The entries the last walk read from memory, in order: the trace of its record without the record. */
  lastEntries(): WalkStep[] {
    const raw: number[] = [];
    const n = this.appendLastEntries(raw);
    const s = this.scratch;
    const stop = this.lastStop;
    const ept = this.tdp === 'ept';
    const out: WalkStep[] = [];
    for (let i = 0; i < n; i++) {
      const [level, at, lo, hi, upd, nlo, nhi] = raw.slice(i * 7, i * 7 + 7) as [number, number, number, number, number, number, number];
      const step: WalkStepDraft = {
        level,
        source: 'memory',
        entryGpa: BigInt(at) as Gpa,
        value: joinU64(lo, hi),
        // As buildRecord: with MBEC an EPT entry is present if XU (bit 10) is set too (kvm-7x.md
        // §1.1), and a PAE PDPTE's access is the version's ACC_ALL (7 in v6.16, 0xF in 7.3).
        present: ept ? (lo & (this.mbec ? 0x407 : 7)) !== 0 : (lo & 1) !== 0,
        leaf: (stop === WalkStop.Ok || stop === WalkStop.Permission) && level === s.level,
        access: s.usedPdptr && level === 3 ? this.format.acc.ALL : s.acc[level]!,
      };
      if (upd) step.updated = joinU64(nlo, nhi);
      out.push(step);
    }
    return out;
  }

  private patchTrace(trace: readonly WalkStep[]): WalkStep[] {
    // NPT in PAE mode reads the PDPTE from memory: no register, whatever the generic record says.
    return this.pdptBase === undefined ? [...trace] : trace.map((t) => (t.source === 'pdptr-register' ? { ...t, source: 'memory' as const } : t));
  }

  // ---- API edge (bigint, records) ----

  checkAddress(v: Ngpa | bigint): Ngpa {
    const a = mkNgpa(v);
    if ((a as bigint) >> BigInt(this.addressBits) !== 0n) {
      throw new GpaOutsideMemoryError(
        'ngpa-beyond-width',
        `nGPA is beyond what the ${this.levels}-level ${this.tdp === 'ept' ? 'EPT12' : 'NPT12'} translates (2^${this.addressBits})`,
        hex(a),
      );
    }
    return a;
  }

  encodeAccess(a: NgpaAccess): number {
    checkNgpaAccess('access', a);
    if (a.kind !== 'read' && a.kind !== 'write' && a.kind !== 'fetch') {
      throw new InvalidArgumentError('access-kind', 'access kind must be read, write or fetch', String(a.kind));
    }
    if (a.during !== undefined && a.during !== 'none' && a.during !== 'paging-structure' && a.during !== 'final') {
      throw new InvalidArgumentError('nested-during', "during is 'none', 'paging-structure' or 'final'", String(a.during));
    }
    if (this.forcesUser && a.user === false) {
      throw new InvalidArgumentError('npt-access-is-user', 'every NPT access is a user access (translate_nested_gpa; AMD APM)', 'user: false');
    }
    const v73 = this.kvm === '7.3';
    if (!v73 && this.tdp === 'ept' && a.kind === 'read' && a.user === false) {
      throw new InvalidArgumentError('ept-read-is-user', 'an EPT read is PFERR_USER ("readable"); without it nothing is checked', 'user: false');
    }
    // 7.3 EPT: a read is "neither W nor F" and PFERR_USER means a user-mode linear address
    // (9c167cb3c14c, kvm-7x.md §1.3); NPT with GMET: U only for user-mode accesses (forcesUser).
    if (a.guestLinear !== undefined && (!Number.isSafeInteger(a.guestLinear) || a.guestLinear < 0 || a.guestLinear > EPT_QUAL_GUEST_MASK || (a.guestLinear & ~EPT_QUAL_GUEST_MASK) !== 0 || !v73 || this.tdp !== 'ept' || a.during !== 'final')) {
      throw new InvalidArgumentError('guest-linear-bits', 'guestLinear holds only qualification bits 11:9, for a KVM 7.3 EPT12 final translation', String(a.guestLinear));
    }
    const user = this.forcesUser || (!v73 && a.kind === 'read') || a.user === true;
    return (a.kind === 'write' ? PFERR.WRITE : 0) | (a.kind === 'fetch' ? PFERR.FETCH : 0) | (user ? PFERR.USER : 0);
  }

  /** Walk an nGPA and return the full record (with the exit L1 would see on a fault). */
  walk(address: Ngpa | bigint, access: NgpaAccess): NgpaWalkResult {
    const a = this.checkAddress(address);
    const pfec = this.encodeAccess(access);
    const v = a as bigint;
    this.walkRawUnchecked(Number(v >> 32n), Number(v & 0xffffffffn), pfec);
    // encodeAccess checked `during` and `guestLinear`, checkAddress the address.
    return this.lastRecordUnchecked(a, access.during ?? 'none', undefined, access.guestLinear ?? 0);
  }

  /** nGPA → GPA, or undefined on a fault. */
  translate(address: Ngpa | bigint, access: NgpaAccess): Gpa | undefined {
    const r = this.walk(address, access);
    return r.status === 'ok' ? r.gpa : undefined;
  }

  /** The record of the last walk (for the 2D walk, which runs walks through `translateFrame`). */
  lastRecord(address: Ngpa, during: NestedDuring, gva?: Gva, guestLinear = 0): NgpaWalkResult {
    // A record may be of an nGPA beyond the tables' width (the 2D walk's faulting nested access).
    checkBigint('address', address);
    if (!NESTED_DURING.includes(during)) refuse('during', 'nested-during', `must be one of ${NESTED_DURING.join(', ')}`, during);
    if (gva !== undefined) checkBigint('gva', gva);
    checkGuestLinear('guestLinear', guestLinear);
    return this.lastRecordUnchecked(address, during, gva, guestLinear);
  }

  /** @internal `lastRecord` without its argument checks: `walk` and the 2D walk, whose arguments are checked or built. */
  lastRecordUnchecked(address: Ngpa, during: NestedDuring, gva?: Gva, guestLinear = 0): NgpaWalkResult {
    const pfec = this.lastPfecValue;
    const access: Access = {
      kind: pfec & PFERR.WRITE ? 'write' : pfec & PFERR.FETCH ? 'fetch' : 'read',
      user: (pfec & PFERR.USER) !== 0,
    };
    const stop = this.lastStop;
    const base = buildRecord(this.inputs, this.scratch, stop, address, access, this.role, 'ngpa_walk');
    const trace = this.patchTrace(base.trace);
    const reads = this.lastReads;
    if (base.status === 'ok') {
      const ok: NgpaWalkOk = { ...base, stage: 'ngpa_walk', address, trace, tdp: this.tdp, dirtyLogged: this.lastLoggedFlag, reads };
      return asNestedRecord(ok);
    }
    let detail = base.detail;
    if (this.tdp === 'ept' && stop === WalkStop.Permission) detail = this.kvm === '7.3' ? eptDenial73(pfec, this.scratch.acc[this.scratch.level]!, this.mbec) : eptDenial(pfec, this.scratch.acc[this.scratch.level]!);
    else if (this.tdp === 'npt' && stop === WalkStop.Permission) detail = `NPT12 (every access is a user access): ${detail}`;
    const exitIn = {
      tdp: this.tdp, errorCode: base.errorCode, pfec, rwx: this.tdp === 'ept' ? this.lastRwx() : 0, address, during,
      ...(this.kvm === '7.3' && this.tdp === 'ept' ? { v73: { acc: this.lastAcc(), mbec: this.mbec, guestLinear } } : {}),
    };
    const fault: NgpaWalkFault = {
      ...base,
      stage: 'ngpa_walk',
      address,
      trace,
      detail,
      tdp: this.tdp,
      nestedPageFault: true,
      misconfig: (base.errorCode & PFERR.RSVD) !== 0,
      during,
      exit: nestedExit(gva === undefined ? exitIn : { ...exitIn, gva }),
      reads,
    };
    return asNestedRecord(fault);
  }

  toString(): string {
    return this.tdp === 'ept'
      ? `NgpaWalker(EPT12 ${this.levels}-level, EPTP ${hex(this.eptp!)})`
      : `NgpaWalker(NPT12 ${this.levels}-level, nCR3 ${hex(this.ncr3!)})`;
  }
}

/** Why EPT12 refuses an access: the rights ANDed over the levels lack R, W or X. */
function eptDenial(pfec: number, acc: number): string {
  const missing: string[] = [];
  if (pfec & PFERR.USER && !(acc & 4)) missing.push('not readable');
  if (pfec & PFERR.WRITE && !(acc & 2)) missing.push('not writable');
  if (pfec & PFERR.FETCH && !(acc & 1)) missing.push('not executable');
  const rwx = eptAccToRwx(acc);
  return `EPT12 entries deny it: ${missing.join(', ')} (R W X ANDed over the levels: ${rwx & 1 ? 'R' : '-'}${rwx & 2 ? 'W' : '-'}${rwx & 4 ? 'X' : '-'})`;
}

/** 7.3: why EPT12 refuses an access, from the 7.3 ACC (R 1, W 2, XU 4, XS 8; kvm-7x.md §1.4). */
function eptDenial73(pfec: number, acc: number, mbec: boolean): string {
  const w = (pfec & PFERR.WRITE) !== 0;
  const f = (pfec & PFERR.FETCH) !== 0;
  const xu = mbec && (pfec & PFERR.USER) !== 0;
  const why = f ? (xu ? 'not executable for user-mode addresses (XU)' : mbec ? 'not executable for supervisor-mode addresses (XS)' : 'not executable')
    : w ? 'not writable' : 'not readable';
  const rights = `${acc & 1 ? 'R' : '-'}${acc & 2 ? 'W' : '-'}${acc & 8 ? (mbec ? 'XS' : 'X') : '-'}${mbec ? (acc & 4 ? '+XU' : '') : ''}`;
  return `EPT12 entries deny it: ${why} (rights ANDed over the levels: ${rights})`;
}
