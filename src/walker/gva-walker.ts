/**
 * gva walk: the running guest's CR3 tables, GVA → GPA (KVM 2026: `vcpu->arch.gva_walk`; v6.16:
 * `walk_mmu`, i.e. root_mmu or nested_mmu). It snapshots the registers into a cpu_role once and
 * reads only the role afterwards; the page format follows from the role and CPUID. For PAE it
 * loads the four PDPTE registers as MOV CR3 does (`x86.c: load_pdptrs`): later writes to the PDPT
 * are not seen until `reloadPdptrs()`, exactly as on hardware — except under SVM nested paging,
 * which keeps no PDPTE registers (the constructor's `pdpteRsvdFault` and `ownPdpt`).
 */
import { type Gpa, type Gva, gfn as mkGfn, gva as mkGva } from '../address/address';
import { assertCanonical } from '../address/canonical';
import { hex, InvalidRegisterStateError, NonCanonicalAddressError } from '../errors';
import { DEFAULT_FEATURES, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { calcCpuRole } from '../role/calc-cpu-role';
import { accEncoding } from '../format/acc';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';
import type { CpuRole } from '../role/cpu-role';
import { formatForCpuRole } from '../format/format-for-role';
import type { PageFormat } from '../format/page-format';
import { rsvdBits } from '../bits';
import { GuestMemory } from '../memory/guest-memory';
import { RAW_ACCESS_BITS, encodeAccess, type Access } from './access';
import { checkBool, checkNoOverlap, checkRawWalk, checkTypedArray, refuse } from '../validate/checks';
import { walkTables, type WalkInputs } from './walk';
import { ensureTrace, makeFastWalk, makePagingOffWalk, SLOW, type FastWalk } from './walk-fast';
import { makeBatchWalk, type BatchWalk } from './walk-batch';
import { makeHotBatchWalk } from './walk-batch-hot';
import { WalkScratch, WalkStop } from './walk-scratch';
import type { WalkResult } from './walk-result';
import { buildRecord } from './walk-record';
import { makeRecordFastWalk, type RecordFastWalk } from './walk-record-fast';
import { U64View } from '../u64-view';

// walkRaw's constants as module-local bindings: an imported binding compiles (CommonJS) to a
// property load on the other module's object at each use, which V8 does not fold in the caller's
// loop that walkRaw is inlined into.
const ACCESS_MASK = RAW_ACCESS_BITS;
const FAST_SLOW = SLOW;
const OK = WalkStop.Ok;

/** A linear address's rights with CR0.PG = 0 (SDM Vol. 3C Table 28-7 bits 9-11). */
const PAGING_OFF_RIGHTS = Object.freeze({ user: true, writable: true, executeDisable: false });

export class GvaWalker {
  readonly mem: GuestMemory;
  readonly role: CpuRole;
  /** `role.base.level` (0: paging off), decoded once: every access's address check reads it. */
  readonly baseLevel: number;
  readonly features: Readonly<CpuFeatures>;
  /** undefined when CR0.PG=0. */
  readonly format: PageFormat | undefined;
  readonly cr3: bigint;
  readonly pkru: number;
  private readonly inputs: WalkInputs | undefined;
  private readonly pdptrHalves: Uint32Array | undefined;
  /** PAE with the constructor's `ownPdpt`: no PDPTE registers, every walk reads the PDPT. */
  private readonly ownPdpt: boolean;
  private readonly scratch = new WalkScratch();
  /** walkRaw's read-only walk of `inputs` into `scratch`, specialized to them (walk-fast.ts); with paging off, makePagingOffWalk's. */
  private readonly fast: FastWalk;
  /**
   * walk()'s record walk of `inputs` for walks that only read, specialized to them
   * (walk-record-fast.ts); made by the first walk(): it holds a step cache (85 KB), and the vCPU
   * makes a walker at every paging register write.
   */
  private recordFast: RecordFastWalk | undefined = undefined;
  /** walkRawBatch's loop over `inputs` (walk-batch-hot.ts, else walk-batch.ts's interleaved groups), or undefined: walk one by one. */
  private readonly batch: BatchWalk | undefined;
  /** The same inputs with a second stage installed (created on first use). */
  private staged: { inputs: WalkInputs; fn: (gfn: number, final: boolean, entryOffset?: number) => number; ad: ((gfn: number, entryOffset: number) => boolean) | undefined } | undefined;
  /** walk()'s address split (bigint → halves). */
  private readonly view = new U64View();
  /**
   * walk(): the last walk was one the record fast path hands on (a fault or an A/D update), so the
   * next one goes to the full walk first: a run of faulting walks then reads each path once, not
   * twice. A walk the fast path would have taken turns it back on. Speed only: both give the same
   * record.
   */
  private fullFirst = false;

  /**
   * `keptPdptrs`: PAE only — the PDPTE registers to keep instead of loading them from memory, for a
   * register write that does not reload them (`x86.c: kvm_set_cr0` / `kvm_set_cr4`).
   * `kvm` picks the modelled KVM's role layout and ACC encoding (default DEFAULT_KVM_VERSION, '7.3').
   * `pdpteRsvdFault` (PAE): the kept PDPTEs are unchecked, and a walk through a present one with a
   * reserved bit is a #PF with RSVD (SVM nested paging; WalkInputs.pdpteRsvdFault); a staged walk
   * (walkRawStaged) then reads the PDPTE from memory through its second stage instead of the
   * register, since nested paging keeps no PDPTE registers (WalkInputs.pdptesFromMemory).
   * `ownPdpt` (with `pdpteRsvdFault`): CR3 is an address of `mem` itself (L1 on an SVM host with
   * NPT, not an L2 whose CR3 is an nGPA), so an unstaged walk reads the PDPTE from `mem` too
   * (WalkInputs.pdptesUnstaged) and `pdptrs` shows the PDPT as memory holds it now; without
   * `keptPdptrs` nothing is loaded or checked (the CPU's MOV to CR3 loads no PDPTE under nested
   * paging: the walk through a bad PDPTE faults instead).
   */
  constructor(
    mem: GuestMemory, regs: PagingRegisters, features: CpuFeatures = DEFAULT_FEATURES, keptPdptrs?: readonly bigint[], kvm: KvmVersion = DEFAULT_KVM_VERSION,
    pdpteRsvdFault = false, ownPdpt = false,
  ) {
    checkBool('pdpteRsvdFault', pdpteRsvdFault);
    checkBool('ownPdpt', ownPdpt);
    if (ownPdpt && !pdpteRsvdFault) refuse('ownPdpt', 'own-pdpt-needs-rsvd-fault', 'reads the PDPTEs from memory on each walk, which only nested paging does: needs pdpteRsvdFault', ownPdpt);
    if (features.maxPhyAddr !== mem.maxPhyAddr) {
      throw new InvalidRegisterStateError(
        'maxphyaddr-mismatch',
        `CPUID MAXPHYADDR ${features.maxPhyAddr} differs from the guest memory's ${mem.maxPhyAddr}`,
        String(features.maxPhyAddr),
      );
    }
    this.role = calcCpuRole(regs, features, kvm); // validates, or throws before anything is kept
    this.baseLevel = this.role.base.level;
    this.mem = mem;
    this.features = Object.freeze({ ...features });
    this.format = formatForCpuRole(this.role, features);
    this.cr3 = regs.cr3;
    const pkru = regs.pkru ?? 0;
    if (!Number.isInteger(pkru) || pkru < 0 || pkru > 0xffffffff) {
      throw new InvalidRegisterStateError('pkru-range', 'PKRU is a 32-bit register', String(pkru));
    }
    this.pkru = pkru >>> 0;
    this.fast = makePagingOffWalk(this.scratch);
    this.batch = undefined;
    this.ownPdpt = ownPdpt && this.format !== undefined && this.role.base.level === 3;
    if (this.format === undefined) return;
    if (this.role.base.level === 3) {
      this.pdptrHalves = new Uint32Array(8);
      if (ownPdpt && keptPdptrs === undefined) this.peekPdptesInto(this.pdptrHalves);
      else if (keptPdptrs === undefined) this.loadPdptrsInto(this.pdptrHalves);
      else keptPdptrs.forEach((v, i) => {
        this.pdptrHalves![i * 2] = Number(v & 0xffffffffn);
        this.pdptrHalves![i * 2 + 1] = Number(v >> 32n);
      });
    }
    // The table root: CR3 bits 51:12 (31:12 outside long mode; PCID bits 11:0 are not an address).
    const rootMask = this.role.base.level >= 4 ? rsvdBits(12, 51) : rsvdBits(12, 31);
    this.inputs = {
      mem,
      format: this.format,
      rootGfn: Number((regs.cr3 & rootMask) >> 12n),
      pdptrs: this.pdptrHalves,
      pdptBase: Number(regs.cr3 & 0xffffffe0n),
      pkru: this.pkru,
      fetchSetsId: this.role.hasPferrFetch,
      ...(pdpteRsvdFault && this.pdptrHalves !== undefined ? { pdpteRsvdFault: true, pdptesFromMemory: true, ...(ownPdpt ? { pdptesUnstaged: true } : {}) } : {}),
    };
    this.fast = makeFastWalk(this.inputs, this.scratch);
    this.batch = makeHotBatchWalk(this.inputs) ?? makeBatchWalk(this.inputs);
  }

  /**
   * PAE: the PDPTE registers as loaded. With `ownPdpt` there are none: the four PDPTEs as memory
   * holds them now, which is what the next walk reads (0 where no slot backs them).
   */
  get pdptrs(): readonly bigint[] | undefined {
    const h = this.pdptrHalves;
    if (h === undefined) return undefined;
    if (this.ownPdpt) this.peekPdptesInto(h);
    return [0, 1, 2, 3].map((i) => (BigInt(h[i * 2 + 1]!) << 32n) | BigInt(h[i * 2]!));
  }

  /** Re-read the PDPTEs from memory (what MOV CR3 / a paging-bit CR0/CR4 write does). */
  reloadPdptrs(): void {
    if (this.pdptrHalves === undefined) return;
    const next = new Uint32Array(8);
    this.loadPdptrsInto(next); // throws before changing the registers
    this.pdptrHalves.set(next);
  }

  /** The PDPT at CR3[31:5] as memory holds it, unchecked; zeros where no slot backs it (ownPdpt). */
  private peekPdptesInto(out: Uint32Array): void {
    const base = Number(this.cr3 & 0xffffffe0n);
    const f = this.mem.frameOfUnchecked(Math.floor(base / 4096));
    if (f < 0) {
      out.fill(0); // a frame never written, or outside every slot
      return;
    }
    const wi = GuestMemory.wordBaseUnchecked(f) + (base % 4096) / 4;
    out.set(this.mem.words.subarray(wi, wi + 8));
  }

  private loadPdptrsInto(out: Uint32Array): void {
    // x86.c: load_pdptrs — a 32-byte aligned table at CR3[31:5]; a present PDPTE with reserved
    // bits (beyond MAXPHYADDR, 8:5, 2:1, or XD) makes the MOV fail with #GP.
    const base = this.cr3 & 0xffffffe0n;
    const bad = rsvdBits(this.features.maxPhyAddr, 63) | rsvdBits(5, 8) | rsvdBits(1, 2);
    for (let i = 0; i < 4; i++) {
      const a = (base + BigInt(i * 8)) as Gpa;
      if (this.mem.kindOf(a) === 'noslot') {
        throw new InvalidRegisterStateError('pdpt-outside-memory', 'the PAE PDPT that CR3 points to is in no memory slot (#GP)', hex(a));
      }
      const v = this.mem.read64(a);
      if ((v & 1n) !== 0n && (v & bad) !== 0n) {
        throw new InvalidRegisterStateError(
          'pdpte-reserved',
          `PDPTE${i} has reserved bits ${hex(v & bad)} set: loading CR3 would #GP`,
          hex(v),
        );
      }
      out[i * 2] = Number(v & 0xffffffffn);
      out[i * 2 + 1] = Number(v >> 32n);
    }
  }

  /** The linear-address rule of the current mode, checked at the API edge. */
  checkAddress(v: bigint): Gva {
    return this.checkAddressUnchecked(mkGva(v));
  }

  /** Whether an address with bits 63:32 `hi` meets the mode's rule (checkAddressUnchecked's, on the upper half). */
  private upperOk(hi: number): boolean {
    const level = this.baseLevel;
    // Canonical: bits 63:47 (63:56 with LA57) all equal; outside long mode: 32 bits wide.
    if (level >= 4) return level === 5 ? hi < 0x0100_0000 || hi >= 0xff00_0000 : hi < 0x8000 || hi >= 0xffff_8000;
    return hi === 0;
  }

  /**
   * @internal `checkAddress` for a value already checked to be a u64 bigint (the access pipeline,
   * after `checkAddressArg`): the mode's rule only, not the type and range check again.
   */
  checkAddressUnchecked(v: bigint): Gva {
    const a = v as Gva;
    const level = this.baseLevel;
    if (level >= 4) assertCanonical(a, level === 5 ? 57 : 48);
    else if (a < 0n || a > 0xffff_ffffn) {
      throw new NonCanonicalAddressError(
        'linear-address-32-bit',
        `outside long mode linear addresses are 32 bits wide (paging mode: ${this.role.pagingMode})`,
        hex(a),
      );
    }
    return a;
  }

  /**
   * Hot path: walk with (hi, lo) halves of the GVA and an encoded access. Returns 0 on success
   * (gfn in `lastGfn`) or a WalkStop reason. No allocation, no canonical check; the halves and the
   * access are checked to be 32-bit integers and known access bits (checkRawWalk).
   */
  walkRaw(vhi: number, vlo: number, access: number): number {
    checkRawWalk('vhi', vhi, 'vlo', vlo, 'access', access, ACCESS_MASK);
    // `| 0`: the fast walk reads the halves only through shifts, where a signed half is the same
    // address; as int32 they reach it untagged, where a half above 2^31 was boxed in a new heap
    // number per call. With paging off it is makePagingOffWalk's, which never gives up.
    if (this.fast(vhi | 0, vlo | 0, access) !== FAST_SLOW) return OK;
    const inputs = this.inputs;
    return inputs === undefined ? OK : walkTables(inputs, this.scratch, vhi, vlo, access);
  }

  /**
   * Raw walks of many addresses for one encoded access: walk i is (his[i], los[i]); `outStop[i]`
   * gets its WalkStop code and `outGfn[i]` its GFN (-1 when it stopped). The same as calling
   * walkRaw for i = 0, 1, … in order — the same outcomes, the same A/D writes, and afterwards
   * lastGfn / lastErrorCode / recordLast describe the last walk — but the walks that only read
   * run in one loop with no call per walk: for 4- and 5-level paging with the root below GFN
   * 2^32 and no protection key that can fault (walk-batch-hot.ts), the hot walk's tests written out
   * 8 walks at a time (walk-batch-lanes.ts), stopping at a table outside the memory's affine run;
   * else (a root above 2^32, protection keys) groups interleaved level by level (walk-batch.ts). A walk that
   * faults or sets A/D bits runs the full walk at its turn, and the walks after it read memory as
   * it left it. Every argument is checked before the first walk.
   */
  walkRawBatch(his: Uint32Array, los: Uint32Array, access: number, outGfn: Float64Array, outStop: Uint8Array): void {
    checkTypedArray('his', his, Uint32Array, 0);
    const n = his.length;
    checkTypedArray('los', los, Uint32Array, n);
    if (los.length !== n) refuse('los', 'array-length', `must have as many elements as his (${n}, has ${los.length})`, los);
    checkRawWalk('vhi', 0, 'vlo', 0, 'access', access, RAW_ACCESS_BITS);
    checkTypedArray('outGfn', outGfn, Float64Array, n);
    checkTypedArray('outStop', outStop, Uint8Array, n);
    checkNoOverlap('outGfn', outGfn, 'his', his);
    checkNoOverlap('outGfn', outGfn, 'los', los);
    checkNoOverlap('outStop', outStop, 'his', his);
    checkNoOverlap('outStop', outStop, 'los', los);
    checkNoOverlap('outStop', outStop, 'outGfn', outGfn);
    const batch = this.batch;
    const inputs = this.inputs;
    if (batch === undefined || inputs === undefined) {
      for (let i = 0; i < n; i++) {
        const stop = this.walkRaw(his[i]!, los[i]!, access);
        outStop[i] = stop;
        outGfn[i] = stop === WalkStop.Ok ? this.scratch.gfn : -1;
      }
      return;
    }
    let i = 0;
    while (i < n) {
      const k = batch(his, los, i, n, access, outGfn);
      outStop.fill(WalkStop.Ok, i, k);
      if (k === n) {
        // The scratch as walkRaw leaves it: the last walk only read, so walking it again reads the same.
        this.fast(his[n - 1]! | 0, los[n - 1]! | 0, access);
        return;
      }
      // Walk k is one the batch loop does not finish (and the walks before it wrote nothing): it
      // goes as walkRaw takes it — the fast walk (walk-batch-hot.ts's loop stops at 2 MiB and 1 GiB
      // leaves, which it finishes; when it gives up it writes nothing), else walkTables, which may
      // write A/D bits. A fault there leaves some of the scratch as the walk before left it
      // (lastGfn, …), so that walk is first replayed into it.
      let stop: number = WalkStop.Ok;
      if (this.fast(his[k]! | 0, los[k]! | 0, access) === FAST_SLOW) {
        if (k > i) this.fast(his[k - 1]! | 0, los[k - 1]! | 0, access);
        stop = walkTables(inputs, this.scratch, his[k]!, los[k]!, access);
      }
      outStop[k] = stop;
      outGfn[k] = stop === WalkStop.Ok ? this.scratch.gfn : -1;
      i = k + 1;
    }
  }

  get lastGfn(): number {
    return this.scratch.gfn;
  }

  get lastErrorCode(): number {
    return this.scratch.errorCode;
  }

  /** Walk a GVA for an access and return the full record. */
  walk(address: Gva | bigint, access: Access): WalkResult {
    // The halves through the view, and the mode's rule on the upper half (no bigint compare or
    // conversion). Anything else — a number, a value outside u64, an address the rule refuses —
    // goes through checkAddress, which converts it or throws its typed error.
    const view = this.view;
    let a: Gva;
    if (typeof address === 'bigint' && view.split(address) && this.upperOk(view.hi)) a = address as Gva;
    else {
      a = this.checkAddress(address);
      view.split(a);
    }
    const vhi = view.hi;
    const vlo = view.lo;
    const enc = encodeAccess(access);
    if (this.inputs === undefined) {
      return {
        status: 'ok',
        stage: 'gva_walk',
        address: a,
        access,
        trace: [],
        gpa: a as bigint as Gpa,
        gfn: mkGfn(Number(a >> 12n)),
        level: 1,
        pageSize: 4096,
        pteAccess: accEncoding(this.role.kvm).ALL,
        pkey: 0,
        gpaKind: this.mem.kindOf(a as bigint as Gpa),
        adUpdates: 0,
      };
    }
    // The common case (a walk that only reads) in one pass; anything else: the full walk and its trace.
    // `| 0` as in walkRaw: the record walk reads the halves only through shifts and masks, and a
    // half at or above 2^31 passed as is would be boxed in a new heap number per call.
    if (!this.fullFirst) {
      const fast = (this.recordFast ??= makeRecordFastWalk(this.inputs))(this.scratch, vhi | 0, vlo | 0, enc, a, access);
      if (fast !== undefined) return fast;
    }
    const stop = walkTables(this.inputs, this.scratch, vhi, vlo, enc);
    const r = buildRecord(this.inputs, this.scratch, stop, a, access, this.role, 'gva_walk', vlo & 0xfff);
    this.fullFirst = r.status === 'fault' || r.adUpdates !== 0;
    return r;
  }

  /**
   * Walk with a second translation stage (`kvm_translate_gpa`): `stage(gfn, final)` sees every
   * guest table frame before it is read and the final frame, and returns the frame to use or -1
   * to stop the walk (reason 'second-stage'). Used for the hardware 2D walk under TDP and for L2.
   * Returns the raw WalkStop code; `recordLast` turns the scratch into a record. `adWrite`, when
   * given, is the second stage of the CPU's A/D writes to guest entries (`translateAdWrite`).
   */
  walkRawStaged(vhi: number, vlo: number, access: number, stage: (gfn: number, final: boolean, entryOffset?: number) => number, adWrite?: (gfn: number, entryOffset: number) => boolean): number {
    checkRawWalk('vhi', vhi, 'vlo', vlo, 'access', access, RAW_ACCESS_BITS);
    if (typeof stage !== 'function') refuse('stage', 'function-type', 'must be a function (gfn, final) => frame or -1', stage);
    if (adWrite !== undefined && typeof adWrite !== 'function') refuse('adWrite', 'function-type', 'must be a function (gfn, entryOffset) => boolean, or undefined', adWrite);
    return this.walkRawStagedUnchecked(vhi, vlo, access, stage, adWrite);
  }

  /** @internal walkRawStaged without the argument checks: the engine's own callers (vcpu, guest_mmu) pass valid numbers. */
  walkRawStagedUnchecked(vhi: number, vlo: number, access: number, stage: (gfn: number, final: boolean, entryOffset?: number) => number, adWrite?: (gfn: number, entryOffset: number) => boolean): number {
    if (this.inputs === undefined) {
      const g = (vhi * 0x1_0000_0000 + (vlo >>> 0) - (vlo & 0xfff)) / 4096;
      const t = stage(g, true);
      this.scratch.level = 0;
      this.scratch.guestGfn = g;
      if (t < 0) return WalkStop.SecondStage;
      this.scratch.gfn = t;
      return WalkStop.Ok;
    }
    if (this.staged === undefined || this.staged.fn !== stage || this.staged.ad !== adWrite) {
      const inputs: WalkInputs = adWrite === undefined ? { ...this.inputs, translate: stage } : { ...this.inputs, translate: stage, translateAdWrite: adWrite };
      this.staged = { inputs, fn: stage, ad: adWrite };
    }
    return walkTables(this.staged.inputs, this.scratch, vhi, vlo, access);
  }

  /**
   * Inside a staged walk's final stage: whether the guest linear address is user-mode (U = 1 in
   * every guest paging-structure entry, the guest ACC_USER). With paging off it is: "If CR0.PG = 0,
   * the translation of every linear address is a user-mode linear address" (SDM Vol. 3C Table 28-7
   * bit 9). The hardware picks EPT XU or XS by it under MBEC (kvm-7x.md §1.1) and reports it in
   * qualification bit 9.
   */
  get stagedUserLinear(): boolean {
    return this.inputs === undefined || (this.scratch.pteAccess & 4) !== 0;
  }

  /**
   * At the final second-stage translation of a staged walk: the guest rights accumulated over every
   * guest paging-structure entry, as the hardware reports them in the EPT-violation qualification's
   * advanced information (kvm-7x.md §1.2 bits 9-11): user-mode, writable (R/W=1 at every level) and
   * execute-disable (XD=1 at some level, i.e. the version's ACC_EXEC clear). With paging off the
   * SDM fixes them (Vol. 3C Table 28-7 bits 9-11, "If CR0.PG = 0"): user-mode, read/write, and
   * executable. (With CR4.PAE = 0 or EFER.NXE = 0 no XD bit can be set — it is reserved or absent —
   * so execute-disable stays 0 as the table says.)
   */
  get stagedGuestRights(): { user: boolean; writable: boolean; executeDisable: boolean } {
    if (this.inputs === undefined) return PAGING_OFF_RIGHTS;
    const e = accEncoding(this.role.kvm);
    const a = this.scratch.pteAccess;
    return { user: (a & e.USER) !== 0, writable: (a & e.WRITE) !== 0, executeDisable: (a & e.EXEC) === 0 };
  }

  /** The record of the last raw walk (for callers that walked with walkRaw/walkRawStaged). */
  recordLast(stop: number, address: Gva, access: Access): WalkResult {
    // The record of a walk that happened: a WalkStop code, the walked address (a u64 bigint) and
    // its access. Checked here (once per fault record, never in the raw walk).
    if (typeof stop !== 'number' || !Number.isInteger(stop) || stop < WalkStop.Ok || stop > WalkStop.SecondStage) {
      refuse('stop', 'walk-stop', `must be a WalkStop code, an integer in [${WalkStop.Ok}, ${WalkStop.SecondStage}]`, stop);
    }
    if (typeof address !== 'bigint' || address < 0n || address > 0xffff_ffff_ffff_ffffn) refuse('address', 'bigint-range', 'must be a u64 bigint GVA', address);
    encodeAccess(access);
    if (this.inputs === undefined) {
      const ok = stop === WalkStop.Ok;
      if (!ok) {
        return {
          status: 'fault', stage: 'gva_walk', address, access, trace: [], errorCode: 0, errorCodeText: '0',
          reason: 'second-stage', detail: 'the second translation stage faulted on the access (paging off)', level: 0,
        };
      }
      return {
        status: 'ok', stage: 'gva_walk', address, access, trace: [], gpa: address as bigint as Gpa,
        gfn: mkGfn(Number((address as bigint) >> 12n)), level: 1, pageSize: 4096, pteAccess: accEncoding(this.role.kvm).ALL, pkey: 0,
        gpaKind: this.mem.kindOf(address as bigint as Gpa), adUpdates: 0,
      };
    }
    // A fast walkRaw left the trace unwritten: fill it from the unstaged inputs it walked with.
    ensureTrace(this.inputs, this.scratch);
    const r = buildRecord(this.staged?.inputs ?? this.inputs, this.scratch, stop, address, access, this.role, 'gva_walk');
    // With a second stage the scratch's gfn is the translated frame; the record reports the GPA.
    if (r.status === 'ok' && this.staged !== undefined && stop === WalkStop.Ok) {
      const g = this.scratch.guestGfn;
      return { ...r, gfn: mkGfn(g), gpa: (BigInt(g) * 4096n + ((address as bigint) & 0xfffn)) as Gpa, gpaKind: this.mem.kindOf((BigInt(g) * 4096n) as Gpa) };
    }
    return r;
  }

  /** GVA → GPA, or undefined if the walk faults (like `kvm_mmu_gva_to_gpa_*`). */
  translate(address: Gva | bigint, access: Access): Gpa | undefined {
    const r = this.walk(address, access);
    return r.status === 'ok' ? r.gpa : undefined;
  }
}
