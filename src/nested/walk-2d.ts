/**
 * The 2D walk of an L2 access (reference §6.7, §6.8): L2's own CR3 tables walked by the generic
 * walk, with `kvm_translate_gpa` = the ngpa walk (v6.16: `nested_mmu` walking through
 * `translate_nested_gpa` into `guest_mmu`). Every L2 table nGPA is translated before the table is
 * read, with `nested_access` = W|U (L2's formats always have A/D, §5.3); the final nGPA is
 * translated with the original access, to which `translate_nested_gpa` adds U — for EPT too,
 * where U means "readable": KVM's emulated walk therefore refuses a fetch from an execute-only
 * EPT12 page that hardware would allow.
 *
 * A fault in a nested walk aborts the walk before the table is read (or, for the final
 * translation, before any A/D update) and goes to L1 as an EPT violation/misconfiguration or NPF;
 * a fault in L2's tables is a #PF for L2. Every memory reference is counted — n·(m+1) + m on a
 * full-depth walk — and, when a record is asked for, traced in order.
 */
import { type Gfn, type Gpa, type Gva, type Ngpa, gfn as mkGfn, gva as mkGva, ngpa as mkNgpa } from '../address/address';
import { assertCanonical } from '../address/canonical';
import { hex, InvalidArgumentError, InvalidRegisterStateError, NonCanonicalAddressError } from '../errors';
import { joinU64, rsvdBits } from '../bits';
import { DEFAULT_FEATURES, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { calcCpuRole } from '../role/calc-cpu-role';
import type { CpuRole } from '../role/cpu-role';
import { PFERR } from '../format/acc';
import { formatForCpuRole } from '../format/format-for-role';
import type { PageFormat } from '../format/page-format';
import type { GuestMemory } from '../memory/guest-memory';
import { RAW_ACCESS_BITS, encodeAccess, type Access } from '../walker/access';
import { checkObject, checkRawWalk, refuse } from '../validate/checks';
import { checkCpuFeatures } from '../cpu/check-registers';
import { walkTables, type WalkInputs } from '../walker/walk';
import { WalkScratch, WalkStop } from '../walker/walk-scratch';
import { makeFastWalk2D, type FastWalk2D } from './walk-2d-fast';
import { refMeta, Trace2D } from '../walker/walk-2d-traced';
import { makeTracedWalk2D, type TracedFast, type TracedParts } from './walk-2d-fast-traced';
import { buildRecord } from '../walker/walk-record';
import { U64View } from '../u64-view';
import { describeNestedExit } from './nested-exit';
import { ENTRY_NUMBERS, MAX_NESTED_ENTRIES, NgpaWalker } from './ngpa-walker';
import type { NgpaWalkFault } from './ngpa-walk-result';
import { asNestedRecord } from './ngpa-walk-result';
import { OkRecord as OkRecordCtor } from './walk-2d-ok-record';
import { guestLevelsRead } from './refs-2d';
import type { WalkStep } from '../walker/walk-result';
import type { MemRef2D, Walk2DGuestFault, Walk2DInfo, Walk2DNestedFault, Walk2DOk, Walk2DResult } from './walk-2d-result';

export interface Walk2DOptions {
  /** L2's paging registers; CR3 holds an nGPA. */
  regs: PagingRegisters;
  /** L2's CPUID. Its MAXPHYADDR may not exceed what the nested tables translate. Default DEFAULT_FEATURES. */
  features?: CpuFeatures;
  /**
   * PAE L2: the PDPTE registers (with EPT, vmcs12's guest PDPTE fields). Default: loaded as
   * `load_pdptrs` does — CR3's page translated through the ngpa walk (W|U), then read.
   */
  pdptrs?: readonly bigint[];
}

// Walk2D's successful record's constructor (walk-2d-ok-record.ts), as a module-local const: an
// imported binding compiles (CommonJS) to a property load on the module object at every use.
const OkRecord = OkRecordCtor;

/** Nested walks of one 2D walk: one per L2 table level (at most 5) and the final translation. */
const MAX_SEGMENTS = 8;


export class Walk2D {
  readonly nested: NgpaWalker;
  /** L1's guest memory: L2's tables and data live here, at the GPAs the nested tables give. */
  readonly mem: GuestMemory;
  readonly role: CpuRole;
  readonly features: Readonly<CpuFeatures>;
  /** L2's page format; undefined when L2 has paging off. */
  readonly format: PageFormat | undefined;
  readonly cr3: bigint;
  /** n: L2 levels read from memory on a full-depth walk. */
  readonly guestLevels: number;
  /** m: nested levels read on a full-depth nested walk. */
  readonly nestedLevels: number;
  private readonly inputs: WalkInputs | undefined;
  private readonly pdptHalves: Uint32Array | undefined;
  private readonly scratch = new WalkScratch();
  private readonly tableAccess: number;
  /** The read-only fast path (walk-2d-fast.ts), when it applies, and the U bit it adds to nested accesses. */
  private readonly fast: FastWalk2D | undefined;
  private readonly fastForceUser: number;
  /**
   * The fast paths' final nested access, `(access & fastFinalMask) | fastFinalOr`: the access's W
   * and F, finalUser() and fastForceUser. finalUser() is PFERR_USER on those paths except for 7.3
   * NPT with GMET, where it is the access's own U; 7.3 EPT with MBEC has no fast path.
   */
  private readonly fastFinalMask: number;
  private readonly fastFinalOr: number;
  /**
   * walk()'s read-only traced walk (walk-2d-fast-traced.ts), when its formats allow: with a
   * scratch of its own for the final nested walk, and where it leaves the references and trace.
   * Its frames are int32 as `fast`'s (walk-2d-fast.ts, NARROW): roots at or above 8 TiB leave it
   * undefined and entries addressing 8 TiB or more make it give up, and the full walk and
   * buildRecord answer.
   */
  private readonly tracedFast: TracedFast | undefined;
  /** The ngpa walker's scratch, where the traced walk leaves its final translation (NgpaWalker.fastWalkScratch). */
  private readonly nestedScratch: WalkScratch;
  // Per-walk state shared with the translate hook.
  private access = 0;
  private tableCalls = 0;
  private nestedReads = 0;
  private failLevel = 0;
  private failNgfn = 0;
  private lastStop = 0;
  private refCountValue = 0;
  private pagingOffGfn = 0;
  private recording = false;
  /**
   * The nested walks seen while recording, as parallel arrays (no object per walk): segment k
   * translated nGPA `segNgpa[k]` (page-aligned, or the whole address with L2 paging off) for L2
   * level `segGuestLevel[k]` (0: the final translation), logged a dirty page when `segLogged[k]`,
   * and its entries are `segCount[k]` groups of 7 numbers (NgpaWalker.appendLastEntries' form) in
   * `raw` from `segStart[k]`; `rawEnd` is where the next segment starts.
   * `segOfLevel[l]` is the segment of L2 level l, or -1.
   */
  private segments = 0;
  private readonly segGuestLevel = new Uint8Array(MAX_SEGMENTS);
  private readonly segNgpa = new Float64Array(MAX_SEGMENTS);
  private readonly segLogged = new Uint8Array(MAX_SEGMENTS);
  private readonly segStart = new Uint32Array(MAX_SEGMENTS);
  private readonly segCount = new Uint32Array(MAX_SEGMENTS);
  private readonly segOfLevel = new Int8Array(MAX_SEGMENTS);
  private readonly raw = new Float64Array(MAX_SEGMENTS * MAX_NESTED_ENTRIES * ENTRY_NUMBERS);
  private rawEnd = 0;
  /** The last recorded walk's references in order (the traced walk fills it, or traceFromSegments after the full walk). */
  private readonly trace2d = new Trace2D();
  /** refs(): per nested level, the index of the last nested reference at that level in this walk. */
  private readonly lastNestedAt = new Int8Array(8);
  /**
   * @internal A success record never handed out, kept so that the map of OkRecord's objects lives as long as
   * the walker. The map an object reaches through its constructor's stores is held by the objects
   * that have it (the transitions to it are weak): when a collection found no record alive — the
   * bench's rounds call gc() between rounds, a caller may drop every record — the map died with
   * them, and every function compiled with it (walk(), its caller's `.refCount`) was deoptimized
   * ("weak objects") and compiled again, once per round of bench/walk2d.bench.ts. Its fields hold
   * values of the kinds a record holds (bigints, small integers, a string, arrays), so that the
   * map's field representations are the ones records need.
   */
  readonly okMapKeeper: Walk2DOk;
  /** walk()'s address split into 32-bit halves, and the records' bigints made, through one 8-byte view. */
  private readonly u64 = new U64View();
  /**
   * checkAddress's rule on the upper half of a u64 address: canonical (or, outside long mode, 32
   * bits wide) when the half is below `hiLow` or at least `hiHigh`. walk() tests it on the half its
   * split gave, and calls checkAddress (which converts numbers and refuses with the typed errors)
   * only for the addresses that fail.
   */
  private readonly hiLow: number;
  private readonly hiHigh: number;

  constructor(nested: NgpaWalker, opts: Walk2DOptions) {
    if (!(nested instanceof NgpaWalker)) refuse('nested', 'ngpa-walker', 'must be an NgpaWalker (L1\'s EPT12/NPT12)', nested);
    checkObject('opts', opts);
    checkObject('opts.regs', opts.regs);
    if (opts.features !== undefined) checkCpuFeatures('opts.features', opts.features);
    const features = opts.features ?? DEFAULT_FEATURES;
    if (!Number.isInteger(features.maxPhyAddr) || features.maxPhyAddr > nested.addressBits) {
      throw new InvalidArgumentError(
        'l2-maxphyaddr-vs-nested-width',
        `L2's MAXPHYADDR ${features.maxPhyAddr} exceeds what the ${nested.levels}-level ${nested.tdp === 'ept' ? 'EPT12' : 'NPT12'} translates (${nested.addressBits} bits): L2 could form nGPAs no nested translation covers`,
        String(features.maxPhyAddr),
      );
    }
    // L2's role in the ngpa walker's KVM version (the walkers of one vCPU share it).
    const role = calcCpuRole({ ...opts.regs, guestMode: true }, features, nested.kvm); // validates, or throws first
    const format = formatForCpuRole(role, features);
    this.nested = nested;
    this.mem = nested.mem;
    this.role = role;
    this.features = Object.freeze({ ...features });
    this.format = format;
    this.cr3 = opts.regs.cr3;
    this.guestLevels = guestLevelsRead(role.base.level);
    // Bits 63:47 (63:56) all equal: a u64 below 2^47 (2^56) or at least 2^64 - 2^47 (2^64 - 2^56).
    const lv = role.base.level;
    this.hiLow = lv === 5 ? 0x0100_0000 : lv === 4 ? 0x8000 : 1;
    this.hiHigh = lv === 5 ? 0xff00_0000 : lv === 4 ? 0xffff_8000 : 2 ** 32;
    this.nestedLevels = nested.levels;
    this.nestedScratch = nested.fastWalkScratch();
    this.okMapKeeper = new OkRecord(0n as Gva, { kind: 'read' }, [], 0n as Gpa, 0 as Gfn, 1, 4096, 0, 0, 'ram', 0, 0n as Ngpa, this.guestLevels, this.nestedLevels, [], 0, []);
    // nested_access: (have_ad ? W : 0) | U; L2's x86 formats always have A/D (and with paging
    // off no table is read).
    this.tableAccess = PFERR.WRITE | PFERR.USER;
    // PKRU was range-checked by calcCpuRole (validatePagingRegisters).
    const pkru = opts.regs.pkru ?? 0;
    // The fast path knows the final access up front; 7.3 EPT with MBEC takes its U from the
    // guest walk (finalUser), which only the full walk has. With paging off walkRaw never takes it.
    const nf = nested.kvm === '7.3' && nested.mbec && nested.tdp === 'ept' ? undefined : nested.fastInputs();
    this.fastForceUser = nf === undefined ? 0 : nf.forceUser;
    const userOfAccess = nested.kvm === '7.3' && nested.mbec; // NPT here: EPT with MBEC has no fast path
    this.fastFinalMask = PFERR.WRITE | PFERR.FETCH | (userOfAccess ? PFERR.USER : 0);
    this.fastFinalOr = (userOfAccess ? 0 : PFERR.USER) | this.fastForceUser;
    if (format === undefined) {
      this.fast = undefined;
      this.tracedFast = undefined;
      this.inputs = undefined;
      this.pdptHalves = undefined;
      return;
    }
    if (role.base.level === 3) {
      const h = new Uint32Array(8);
      if (opts.pdptrs !== undefined) this.checkPdptrs(opts.pdptrs, h);
      else this.loadPdptrsInto(h);
      this.pdptHalves = h;
    } else {
      this.pdptHalves = undefined;
    }
    const rootMask = role.base.level >= 4 ? rsvdBits(12, 51) : rsvdBits(12, 31);
    this.inputs = {
      mem: this.mem,
      format,
      rootGfn: Number((opts.regs.cr3 & rootMask) >> 12n),
      pdptrs: this.pdptHalves,
      pdptBase: Number(opts.regs.cr3 & 0xffffffe0n),
      pkru,
      fetchSetsId: role.hasPferrFetch,
      translate: (gfn: number, final: boolean): number => this.translateNested(gfn, final),
    };
    this.fast = nf === undefined ? undefined : makeFastWalk2D(this.inputs, nf.inputs, this.tableAccess | nf.forceUser);
    this.tracedFast = nf === undefined ? undefined : makeTracedWalk2D(this.inputs, nf.inputs, this.tableAccess | nf.forceUser);
  }

  /**
   * PFERR_USER of the final nested access. v6.16: always (`translate_nested_gpa` makes every
   * nested access a user access). 7.3, with MBEC/GMET in the ngpa walk: the vendor hook passes the
   * guest leaf's access (2c89d577548e, b95b398d2e6d; kvm-7x.md §1.7, INFERRED there): for EPT,
   * U = the user-mode linear address (the guest's accumulated ACC_USER, set by the walk before the
   * final stage); for NPT with GMET, the access's own U (the CPL, as guest_mmu's NPT02 walk). Without
   * MBEC/GMET the U bit changes nothing in 7.3's EPT table, and NPT forces it.
   * With L2 paging off the address is user-mode: the SDM's rule for the hardware ("If CR0.PG = 0,
   * the translation of every linear address is a user-mode linear address", Vol. 3C Table 28-7
   * bit 9), which reaches KVM's fault path as PFERR_USER (§1.3). ASSUMPTION (no 7.x C text of
   * nonpaging_gva_to_gpa; kvm-7x.md §1.7 INFERRED): its final `pte_access` is ACC_ALL, whose
   * ACC_USER makes KVM's emulated walk pick XU as the hardware does. Tested in
   * test/nested/walk-2d-7.3.test.ts ("paging off").
   */
  private finalUser(): number {
    const n = this.nested;
    if (n.kvm !== '7.3' || !n.mbec) return PFERR.USER;
    if (n.tdp === 'npt') return this.access & PFERR.USER;
    return this.inputs === undefined || (this.scratch.pteAccess & 4) !== 0 ? PFERR.USER : 0;
  }

  /** `kvm_translate_gpa` for nested_mmu: the ngpa walk of one frame, counted and (when recording) traced. */
  private translateNested(ngfn: number, final: boolean): number {
    const lvl = final ? 0 : this.scratch.maxLevel - this.tableCalls++;
    const pfec = final ? (this.access & (PFERR.WRITE | PFERR.FETCH)) | this.finalUser() : this.tableAccess;
    const n = this.nested;
    const r = n.translateFrameUnchecked(ngfn, pfec, this.recording);
    this.nestedReads += n.lastReads;
    if (this.recording) this.recordSegment(lvl, ngfn * 4096);
    if (r < 0) {
      this.failLevel = lvl;
      this.failNgfn = ngfn;
    }
    return r;
  }

  private recordSegment(guestLevel: number, ngpaNum: number): void {
    const k = this.segments++;
    const count = this.nested.writeLastEntriesUnchecked(this.raw, this.rawEnd);
    this.segStart[k] = this.rawEnd;
    this.segCount[k] = count;
    this.rawEnd += count * ENTRY_NUMBERS;
    this.segGuestLevel[k] = guestLevel;
    this.segNgpa[k] = ngpaNum;
    this.segLogged[k] = this.nested.lastDirtyLogged ? 1 : 0;
    this.segOfLevel[guestLevel] = k;
  }

  // ---- PAE: PDPTE registers ----

  private pdpteRsvd(): bigint {
    return rsvdBits(this.features.maxPhyAddr, 63) | rsvdBits(5, 8) | rsvdBits(1, 2);
  }

  private checkPdptrs(p: readonly bigint[], out: Uint32Array): void {
    if (p.length !== 4) throw new InvalidArgumentError('pdptrs-count', 'PAE has four PDPTE registers', String(p.length));
    const bad = this.pdpteRsvd();
    p.forEach((v, i) => {
      // A negative value shifts to -1n: one test covers both ends.
      if (v >> 64n !== 0n) throw new InvalidArgumentError('pdpte-width', `PDPTE${i} must be a 64-bit value`, hex(v));
      if ((v & 1n) !== 0n && (v & bad) !== 0n) {
        throw new InvalidRegisterStateError('pdpte-reserved', `PDPTE${i} has reserved bits ${hex(v & bad)} set: the VM entry would fail`, hex(v));
      }
    });
    p.forEach((v, i) => {
      out[i * 2] = Number(v & 0xffffffffn);
      out[i * 2 + 1] = Number(v >> 32n);
    });
  }

  /**
   * `x86.c: load_pdptrs` for L2 in KVM's order: CR3's page goes through the ngpa walk with W|U
   * (x86.c:1047-1050, `kvm_translate_gpa` → `translate_nested_gpa`), then the four PDPTEs are read
   * from L1 memory (:1053-1056) and checked (:1058-1062). The translate is a real walk: when it
   * succeeds it sets the nested A bits and the leaf's D (paging_tmpl.h:465-467, 212-229; EPT12
   * only with A/D enabled), and they stay set when the read or the check then refuses the load.
   * A refused load changes nothing else: the PDPTE registers are written only on success.
   */
  private loadPdptrsInto(out: Uint32Array): void {
    const cr3 = this.cr3;
    const ngfn = Number((cr3 & 0xfffff000n) >> 12n);
    const n = this.nested;
    const g = n.translateFrameUnchecked(ngfn, PFERR.WRITE | PFERR.USER);
    if (g < 0) {
      // A faulting walk sets no A/D bit (paging_tmpl.h: the error path skips the update).
      const rec = n.lastRecordUnchecked(mkNgpa(BigInt(ngfn) * 4096n), 'none') as NgpaWalkFault;
      throw new InvalidRegisterStateError(
        'pdpt-nested-fault',
        `L2's PAE PDPT at nGPA ${hex(cr3 & 0xffffffe0n)} cannot be loaded: ${describeNestedExit(rec.exit)}`,
        hex(cr3),
      );
    }
    const base = BigInt(g) * 4096n + (cr3 & 0xfe0n);
    if (this.mem.kindOf(base as Gpa) === 'noslot') {
      throw new InvalidRegisterStateError('pdpt-outside-memory', `L2's PAE PDPT maps to GPA ${hex(base)}, which no memory slot covers`, hex(cr3));
    }
    const bad = this.pdpteRsvd();
    const vals: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      const v = this.mem.read64((base + BigInt(i * 8)) as Gpa);
      if ((v & 1n) !== 0n && (v & bad) !== 0n) {
        throw new InvalidRegisterStateError('pdpte-reserved', `PDPTE${i} has reserved bits ${hex(v & bad)} set: loading CR3 would #GP`, hex(v));
      }
      vals.push(v);
    }
    vals.forEach((v, i) => {
      out[i * 2] = Number(v & 0xffffffffn);
      out[i * 2 + 1] = Number(v >> 32n);
    });
  }

  /** PAE: the PDPTE registers as loaded. */
  get pdptrs(): readonly bigint[] | undefined {
    const h = this.pdptHalves;
    if (h === undefined) return undefined;
    return [0, 1, 2, 3].map((i) => joinU64(h[i * 2]!, h[i * 2 + 1]!));
  }

  /** PAE: reload the PDPTEs as MOV CR3 would (through the ngpa walk). */
  reloadPdptrs(): void {
    if (this.pdptHalves === undefined) return;
    const next = new Uint32Array(8);
    this.loadPdptrsInto(next);
    this.pdptHalves.set(next);
  }

  // ---- hot path ----

  /**
   * Walk GVA (hi, lo) with an encoded access. Returns WalkStop.Ok (L1 frame in `lastGfn`), a
   * guest stop reason, or WalkStop.SecondStage when a nested walk faulted. No allocation.
   */
  walkRaw(vhi: number, vlo: number, access: number): number {
    // Checked in the body, not through an unchecked twin: the only engine caller is walk(), whose
    // record building dwarfs a few compares, and one call level less keeps the raw loop as it was.
    checkRawWalk('vhi', vhi, 'vlo', vlo, 'access', access, RAW_ACCESS_BITS);
    this.access = access;
    const fast = this.fast; // defined only with paging on (inputs)
    if (fast !== undefined && !this.recording) {
      const refs = fast(this.scratch, vhi, vlo, access, (access & this.fastFinalMask) | this.fastFinalOr);
      if (refs >= 0) {
        this.lastStop = WalkStop.Ok;
        this.refCountValue = refs;
        return WalkStop.Ok;
      }
    }
    // The full walk's counters (translateNested), after the fast path, which does not use them.
    this.tableCalls = 0;
    this.nestedReads = 0;
    let stop: number;
    if (this.inputs === undefined) {
      // Paging off: nonpaging_gva_to_gpa → kvm_translate_gpa(vaddr, access), the whole address.
      const n = this.nested;
      const r = n.walkRawUnchecked(vhi, vlo, (access & (PFERR.WRITE | PFERR.FETCH)) | this.finalUser(), this.recording);
      this.nestedReads = n.lastReads;
      // Recording (walk()) means a checked address: 32 bits outside long mode, so vhi is 0.
      if (this.recording) this.recordSegment(0, vlo >>> 0);
      if (r !== WalkStop.Ok) {
        // record() names the whole address (no failNgfn with paging off).
        this.failLevel = 0;
        stop = WalkStop.SecondStage;
      } else {
        this.pagingOffGfn = n.lastGfn;
        stop = WalkStop.Ok;
      }
      this.lastStop = stop;
      this.refCountValue = this.nestedReads;
      return stop;
    }
    stop = walkTables(this.inputs, this.scratch, vhi, vlo, access);
    this.lastStop = stop;
    this.refCountValue = this.nestedReads + this.guestReads(stop);
    return stop;
  }

  /** L2 entries read from memory by the last walk. */
  private guestReads(stop: number): number {
    const s = this.scratch;
    switch (stop) {
      // A not-present PDPTE register stops at level 3 = maxLevel: no L2 entry read from memory.
      case WalkStop.PdpteNotPresent:
      case WalkStop.TableNoSlot:
        return s.maxLevel - s.level;
      case WalkStop.SecondStage:
        return this.failLevel === 0 ? s.maxLevel - s.level + 1 : s.maxLevel - this.failLevel;
      default:
        return s.maxLevel - s.level + 1;
    }
  }

  /** L1 frame of the last successful walk. */
  get lastGfn(): number {
    return this.inputs === undefined ? this.pagingOffGfn : this.scratch.gfn;
  }

  /** Memory references (nested entries + L2 entries) of the last walk. */
  get lastRefCount(): number {
    return this.refCountValue;
  }

  get lastErrorCode(): number {
    return this.lastStop === WalkStop.SecondStage ? this.nested.lastErrorCode : this.scratch.errorCode;
  }

  // ---- API edge ----

  /** The linear-address rule of L2's mode. */
  checkAddress(v: Gva | bigint): Gva {
    const a = mkGva(v);
    const level = this.role.base.level;
    if (level >= 4) assertCanonical(a, level === 5 ? 57 : 48);
    else if ((a as bigint) >> 32n !== 0n) {
      throw new NonCanonicalAddressError('linear-address-32-bit', `outside long mode linear addresses are 32 bits wide (L2 paging mode: ${this.role.pagingMode})`, hex(a));
    }
    return a;
  }

  /** Walk an L2 access and return the record with every memory reference in order. */
  walk(address: Gva | bigint, access: Access): Walk2DResult {
    // V8 inlines into this method at most 920 bytes of bytecode (encodeAccess, split, noteFastWalk,
    // fastOkRecord and OkRecord's constructor took about 890 on Node 20, `--trace-turbo-inlining`):
    // past that the record's constructor is called through the generic construct stub, which cost
    // 7-20 % of a record walk (in-process A/B). Code added on this path belongs in the traced walk or
    // out of line.
    // The halves through a 64-bit view: `Number(v >> 32n)` and `Number(v & 0xffffffffn)` each
    // made a bigint first. A bigint that split takes (in [0, 2^64)) and whose upper half passes
    // checkAddress's rule (hiLow, hiHigh) is the address checkAddress would return; anything else
    // goes through checkAddress, before the access is looked at, as before (its bigint compares
    // cost about 10 ns a walk).
    const u64 = this.u64;
    let a: Gva;
    let vhi = 0;
    if (typeof address === 'bigint' && u64.split(address) && ((vhi = u64.hi) < this.hiLow || vhi >= this.hiHigh)) a = address as Gva;
    else {
      a = this.checkAddress(address);
      u64.split(a as bigint);
      vhi = u64.hi;
    }
    const enc = encodeAccess(access);
    const vlo = u64.lo;
    const traced = this.tracedFast;
    if (traced !== undefined) {
      // The traced read-only walk (where walkRaw would take the fast walk): the same accesses, and
      // the record's data in the one pass. It changes nothing
      // when it gives up.
      this.access = enc;
      const finalPfec = (enc & this.fastFinalMask) | this.fastFinalOr;
      const refs = traced.walk(this.scratch, this.nestedScratch, vhi, vlo, enc, finalPfec, traced.parts);
      if (refs >= 0) {
        // The ngpa walker's last walk is the final translation, as after the full walk.
        this.nested.noteFastWalk(this.scratch.guestGfn, finalPfec);
        this.lastStop = WalkStop.Ok;
        this.refCountValue = refs;
        return this.fastOkRecord(a, access, vlo & 0xfff, traced.parts);
      }
    }
    this.recording = true;
    this.segments = 0;
    this.segOfLevel.fill(-1);
    this.rawEnd = 0;
    let stop: number;
    try {
      stop = this.walkRaw(vhi, vlo, enc);
    } finally {
      this.recording = false;
    }
    this.traceFromSegments();
    return this.record(stop, a, access, vlo & 0xfff);
  }

  /** GVA → L1 GPA, or undefined when the walk faults. */
  translate(address: Gva | bigint, access: Access): Gpa | undefined {
    const r = this.walk(address, access);
    return r.status === 'ok' ? r.gpa : undefined;
  }


  /**
   * Append the entries of the nested walk for L2 level `guestLevel` (if one ran) to the trace from
   * index `c`; returns the next index.
   */
  private segmentToTrace(c: number, guestLevel: number): number {
    const k = this.segOfLevel[guestLevel]!;
    if (k < 0) return c;
    const raw = this.raw;
    const t = this.trace2d;
    const ngpa = this.segNgpa[k]!;
    const end = this.segStart[k]! + this.segCount[k]! * ENTRY_NUMBERS;
    for (let i = this.segStart[k]!; i < end; i += ENTRY_NUMBERS) {
      t.meta[c] = refMeta(false, guestLevel, raw[i]!);
      t.gpa[c] = raw[i + 1]!;
      t.ngpa[c] = ngpa;
      t.lo[c] = raw[i + 2]!;
      t.hi[c] = raw[i + 3]!;
      t.updated[c] = raw[i + 4]!;
      t.newLo[c] = raw[i + 5]!;
      t.newHi[c] = raw[i + 6]!;
      c++;
    }
    return c;
  }

  /** The full (hooked) walk's references into the trace, in order: per L2 level its nested walk, then its entry; the final translation last. */
  private traceFromSegments(): void {
    const s = this.scratch;
    const t = this.trace2d;
    const top = s.maxLevel;
    const lowestRead = this.inputs === undefined ? top + 1 : top - this.guestReads(this.lastStop) + 1;
    let c = 0;
    t.anyUpdated = true;
    if (this.inputs !== undefined) {
      const bytes = this.inputs.format.entryBytes;
      for (let lvl = top; lvl >= 1; lvl--) {
        c = this.segmentToTrace(c, lvl);
        if (lvl < lowestRead) continue;
        const off = s.index[lvl]! * bytes;
        t.meta[c] = refMeta(true, lvl, lvl);
        // Frames have at most 40 bits: frame * 4096 + offset is exact as a double.
        t.gpa[c] = s.tableGfn[lvl]! * 4096 + off;
        t.ngpa[c] = s.guestTableGfn[lvl]! * 4096 + off;
        t.lo[c] = s.lo[lvl]!;
        t.hi[c] = s.hi[lvl]!;
        t.updated[c] = s.updated[lvl]!;
        t.newLo[c] = s.newLo[lvl]!;
        t.newHi[c] = s.newHi[lvl]!;
        c++;
      }
    }
    t.count = this.segmentToTrace(c, 0);
  }

  /** The last full walk's references as records, in order (from `trace2d`). */
  private refs(): MemRef2D[] {
    const t = this.trace2d;
    const n = t.count;
    // Sized once (the count is known): no growing while the references are put in order.
    const out = new Array<MemRef2D>(n);
    // The arrays in locals: read once per walk rather than once per reference.
    const tMeta = t.meta;
    const anyUpdated = t.anyUpdated;
    const tGpa = t.gpa;
    const tNgpa = t.ngpa;
    const tLo = t.lo;
    const tHi = t.hi;
    const u64 = this.u64;
    // The entries of one nested walk share their nGPA: one bigint for the run.
    let ngNum = -1;
    let ng = 0n;
    // The nested walks of one 2D walk read the same upper entries (one EPT12/NPT12 PML4E for
    // every nGPA below 512 GiB, …): a nested reference with the entry GPA, or value, of the
    // last one at its level takes that reference's bigint (the references are new objects of this
    // walk: nothing is kept across walks).
    const lastAt = this.lastNestedAt;
    lastAt.fill(-1);
    for (let i = 0; i < n; i++) {
      // Whole numbers below 2^53 (a frame times 4096 plus an offset, or a paging-off address);
      // the halves came from Uint32Arrays: unsigned, as make needs them.
      const x = tNgpa[i]!;
      if (x !== ngNum) {
        ng = u64.makeNum(x);
        ngNum = x;
      }
      const meta = tMeta[i]!;
      const guest = meta >= 0x80;
      const level = meta & 7;
      const g = tGpa[i]!;
      const lo = tLo[i]!;
      const hi = tHi[i]!;
      let gpaBig: bigint;
      let value: bigint;
      const j = guest ? -1 : lastAt[level]!;
      if (j >= 0 && tGpa[j] === g) {
        const prev = out[j]!;
        gpaBig = prev.gpa;
        value = tLo[j] === lo && tHi[j] === hi ? prev.value : u64.make(lo, hi);
      } else {
        gpaBig = u64.makeNum(g);
        value = u64.make(lo, hi);
      }
      if (!guest) lastAt[level] = i;
      const r: MemRef2D = {
        seq: i + 1,
        kind: guest ? 'guest' : 'nested',
        guestLevel: (meta >>> 3) & 7,
        level,
        gpa: gpaBig as Gpa,
        ngpa: ng as Ngpa,
        value,
      };
      if (anyUpdated && t.updated[i]) r.updated = this.u64.make(t.newLo[i]!, t.newHi[i]!);
      out[i] = r;
    }
    return out;
  }

  /**
   * The record of a traced fast walk: what `record` makes from buildRecord's success record, with
   * L2's trace made with the references (the same steps: every entry from memory, present, the
   * leaf last, no A/D update — the fast walk gives up before any) and no dirty page logged.
   */
  private fastOkRecord(a: Gva, access: Access, pageOff: number, parts: TracedParts): Walk2DOk {
    const s = this.scratch;
    const level = s.level;
    const g = s.gfn;
    const ng = s.guestGfn;
    // The bigints written out rather than through U64View.make/makeNum: walk() inlines this
    // method, and V8 stops inlining at 920 bytes of bytecode per function; the two calls took 107
    // of them, and past the limit the constructor below was called through the generic construct
    // stub and `make` ran apart from the int32 facts it relies on (BigInt() of a number through
    // the runtime). Both frames are int32 (the traced walk's NARROW): `>>> 20` and `>>> 0` are
    // their halves as U64View would take them.
    return new OkRecord(
      a,
      access,
      parts.trace,
      // The frame's halves and the page offset, as buildRecord makes it.
      BigInt.asUintN(64, (BigInt(g >>> 20) << 32n) | BigInt((((g & 0xfffff) << 12) | pageOff) >>> 0)) as Gpa,
      g as Gfn, // an int32 frame (the traced walk's NARROW): what mkGfn would return
      level,
      // 8-byte entries only (the traced walk): 4 KiB, 2 MiB, 1 GiB, 512 GiB.
      level === 1 ? 4096 : level === 2 ? 0x20_0000 : 4096 * 512 ** (level - 1),
      s.pteAccess,
      s.pkey,
      this.mem.kindOfGfnUnchecked(g),
      0,
      BigInt.asUintN(64, (BigInt(ng >>> 20) << 32n) | BigInt((((ng & 0xfffff) << 12) | pageOff) >>> 0)) as Ngpa,
      this.guestLevels,
      this.nestedLevels,
      parts.refs,
      this.refCountValue,
      [],
    );
  }

  /** nGPA pages passed to `write_log_dirty` by the nested walks of the last recorded walk, in order. */
  private dirtyLogged(): Ngpa[] {
    const out: Ngpa[] = [];
    for (let k = 0; k < this.segments; k++) {
      const n = this.segNgpa[k]!;
      if (this.segLogged[k]) out.push(mkNgpa(BigInt(n - (n % 4096))));
    }
    return out;
  }

  /** The record of the last walk, of `a` (whose bits 11:0 are `pageOff`) with `access`. */
  private record(stop: number, a: Gva, access: Access, pageOff: number): Walk2DResult {
    const refs = this.refs();
    const info: Walk2DInfo = {
      guestLevels: this.guestLevels,
      nestedLevels: this.nestedLevels,
      refs,
      refCount: this.refCountValue,
      dirtyLogged: this.dirtyLogged(),
    };
    if (stop === WalkStop.SecondStage) {
      const during = this.failLevel === 0 ? 'final' : 'paging-structure';
      // KVM's software walk translates page addresses: a table's `gfn_to_gpa(table_gfn)`
      // (paging_tmpl.h:379) and the final `gfn_to_gpa(gfn)` (:448), so a fault found in the
      // nested walk names the page (`walker->fault.address = addr`, :516, of guest_mmu's walk) —
      // unlike the hardware, whose exit for a table access names the entry and for the final
      // access the byte (SDM Vol. 3C §28.2.1, APM Vol. 2 §15.25.6; Vcpu.makeExit, guest_mmu's
      // ept02Walk, NestedNptMmu.secondStage).
      const ngpaAddr = this.inputs === undefined ? mkNgpa(a as bigint) : mkNgpa(BigInt(this.failNgfn) * 4096n);
      const nested = this.nested.lastRecordUnchecked(ngpaAddr, during, a) as NgpaWalkFault;
      const f: Walk2DNestedFault = {
        status: 'fault',
        stage: 'ngpa_walk',
        address: a,
        access,
        trace: nested.trace,
        errorCode: nested.errorCode,
        errorCodeText: nested.errorCodeText,
        reason: nested.reason,
        detail: `${during === 'final' ? 'final translation' : `L2 level-${this.failLevel} table`} at nGPA ${hex(ngpaAddr)}: ${nested.detail}`,
        level: nested.level,
        nestedPageFault: true,
        during,
        guestLevel: this.failLevel,
        ngpa: ngpaAddr,
        misconfig: nested.misconfig,
        exit: nested.exit,
        nested,
        ...info,
      };
      return asNestedRecord(f);
    }
    if (this.inputs === undefined) {
      const g = this.pagingOffGfn;
      const gpa = BigInt(g * 4096 + pageOff) as Gpa; // a frame below 2^40: exact as a double
      const ok: Walk2DOk = {
        status: 'ok',
        stage: 'gva_walk',
        address: a,
        access,
        trace: [],
        gpa,
        gfn: mkGfn(g),
        level: 1,
        pageSize: 4096,
        pteAccess: 7,
        pkey: 0,
        gpaKind: this.mem.kindOf(gpa),
        adUpdates: 0,
        ngpa: mkNgpa(a as bigint),
        nestedPageFault: false,
        ...info,
      };
      return asNestedRecord(ok);
    }
    const base = buildRecord(this.inputs, this.scratch, stop, a, access, this.role, 'gva_walk');
    if (base.status === 'ok') {
      // Field by field (object spreads took a third of a record walk's own time): OkRecord.
      return new OkRecord(
        a, base.access, base.trace as WalkStep[], base.gpa, base.gfn, base.level, base.pageSize, base.pteAccess, base.pkey, base.gpaKind, base.adUpdates,
        this.u64.makeNum(this.scratch.guestGfn * 4096 + pageOff) as Ngpa, // a frame below 2^40 plus the page offset
        info.guestLevels, info.nestedLevels, info.refs, info.refCount, info.dirtyLogged,
      );
    }
    const f: Walk2DGuestFault = { ...base, stage: 'gva_walk', address: a, nestedPageFault: false, ...info };
    return asNestedRecord(f);
  }

  toString(): string {
    return `Walk2D(L2 ${this.role.pagingMode} on ${this.nested.levels}-level ${this.nested.tdp === 'ept' ? 'EPT12' : 'NPT12'})`;
  }
}

