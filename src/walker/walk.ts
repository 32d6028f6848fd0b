/**
 * One generic walker over every page format: the semantics of `paging_tmpl.h:
 * FNAME(walk_addr_generic)` (reference §5.1) for PTTYPE 32, 64 and EPT, with the permission check
 * of `mmu.h: permission_fault` (§4.4) and the A/D update of `FNAME(update_accessed_dirty_bits)`
 * (§5.3). It works on plain numbers only: entries as 32-bit halves, the address as (hi, lo),
 * frame numbers as doubles (≤ 40 bits). It allocates nothing.
 *
 * Order at each level, as KVM: read the entry (a table outside every slot ends the walk with
 * error code 0), accumulate access, present?, reserved bits (+ EPT bad_mt_xwr)?, leaf? Then
 * permissions on the accumulated rights, then A/D — which is never touched on a faulting walk.
 */
import { GuestMemory } from '../memory/guest-memory';
import type { PageFormat } from '../format/page-format';
import { PFERR } from '../format/acc';
import { ACCESS_AC, ACCESS_IMPLICIT } from './access';
import { WalkScratch, WalkStop } from './walk-scratch';

const TWO20 = 0x100000;

export interface WalkInputs {
  readonly mem: GuestMemory;
  readonly format: PageFormat;
  /** Root table frame (from CR3 / EPTP / nCR3). For PAE, unused: PDPTE registers are. */
  readonly rootGfn: number;
  /** PAE PDPTE registers as halves [lo0, hi0, lo1, hi1, …]. */
  readonly pdptrs: Uint32Array | undefined;
  /** PAE: GPA the PDPTE registers were loaded from (CR3[31:5]), for traces. */
  readonly pdptBase: number;
  readonly pkru: number;
  /** `is_efer_nx(mmu) || is_cr4_smep(mmu)`: whether a fetch sets I/D in the error code. */
  readonly fetchSetsId: boolean;
  /**
   * `kvm_translate_gpa`: a second translation stage for every table frame before it is read
   * (`final` false) and for the final frame (`final` true). Returns the frame to use, or -1 when
   * the second stage faulted (the callee keeps the details); the walk then stops with
   * WalkStop.SecondStage. Absent for a plain one-dimensional walk. For a table frame the third
   * argument is the byte offset in it of the entry the walk reads (the faulting access's address
   * within the page, which an NPF reports in EXITINFO2 and an EPT violation or misconfiguration
   * in the guest-physical-address field).
   */
  readonly translate?: (gfn: number, final: boolean, entryOffset?: number) => number;
  /**
   * The CPU's write of a guest entry's A/D bits as a separate access through the second stage
   * (EPT with A/D disabled: the entry is read, then written "as a read+write" only when A/D must
   * be set — kvm-unit-tests x86/vmx_tests.c:3287-3292). Gets the table frame before translation
   * and the byte offset in it of the entry written (the address an EPT violation on that write
   * reports); false = the second stage faulted: the walk stops with WalkStop.SecondStage, the
   * entries above keep the A bits already written. Absent: the A/D write needs no second look.
   */
  readonly translateAdWrite?: (gfn: number, entryOffset: number) => boolean;
  /**
   * PAE: `pdptrs` may hold a present PDPTE with reserved bits, and a walk through it is a #PF with
   * RSVD. Only SVM with nested paging: L2's PDPTEs are read from memory with no reserved-bit check
   * at VMRUN, and the CPU faults when L2 walks through such an entry (kvm-unit-tests
   * x86/svm_tests.c:3779-3782, 3806-3818 at 1da1819e49fc). Absent: the PDPTE registers were
   * checked when loaded (load_pdptrs, vmcs12's at VM entry), so none has a reserved bit.
   */
  readonly pdpteRsvdFault?: boolean;
  /**
   * PAE with a second stage (`translate`): the PDPTE is not taken from a register but read from
   * the PDPT at `pdptBase` through the second stage as part of the walk, a paging-structure access
   * (`translate(.., false)`; failure: WalkStop.SecondStage at level 3); the value read is stored
   * into `pdptrs`. SVM nested paging: the CPU loads no PDPTE registers for a PAE guest (APM Vol. 2
   * §15.25.10; KVM re-reads them from memory after every exit, svm.c:1665-1671, svm.h:423-430,
   * svm.c:4524). Absent or without `translate`: the registers are used.
   */
  readonly pdptesFromMemory?: boolean;
  /**
   * With `pdptesFromMemory`: a walk without a second stage reads the PDPTE from `mem` at
   * `pdptBase` too, as a table read like any other (no slot: WalkStop.TableNoSlot, error code 0).
   * Set when the walk's own addresses are `mem`'s GPAs — L1 on an SVM host with NPT, whose PDPT
   * KVM reads from guest memory whenever it needs the PDPTEs (svm.c:1665-1671 `svm_cache_reg` →
   * `load_pdptrs(vcpu, kvm_read_cr3(vcpu))`, stale after every exit, svm.c:4524) — not for a PAE
   * L2, whose CR3 is an nGPA that only the second stage turns into an address of `mem`.
   */
  readonly pdptesUnstaged?: boolean;
}

/**
 * `pdptesFromMemory`: PDPTE `i` read at `pdptBase` through the second stage (directly without one:
 * `pdptesUnstaged`) into `w.pdptrs`. WalkStop.Ok when read (an unwritten frame reads as zeros),
 * SecondStage when the translation failed, TableNoSlot when it leads to a frame no slot covers (as
 * for any table, error code 0).
 */
function readPdpteThroughStage(w: WalkInputs, s: WalkScratch, i: number): number {
  const base = w.pdptBase;
  const guestGfn = Math.floor(base / 4096);
  s.guestTableGfn[3] = guestGfn;
  // The record shows the step at the PDPTE's own GPA (pdptBase + 8i), as for a register.
  s.usedPdptr = true;
  s.index[3] = i;
  const g = w.translate === undefined ? guestGfn : w.translate(guestGfn, false, (base % 4096) + i * 8);
  if (g < 0) {
    s.level = 3;
    s.maxLevel = 3;
    s.lo[3] = 0;
    s.hi[3] = 0;
    s.errorCode = 0;
    return WalkStop.SecondStage;
  }
  const mem = w.mem;
  const f = mem.frameOfUnchecked(g);
  let lo = 0;
  let hi = 0;
  if (f >= 0) {
    const wi = GuestMemory.wordBaseUnchecked(f) + (base % 4096) / 4 + i * 2;
    lo = mem.words[wi]!;
    hi = mem.words[wi + 1]!;
  } else if (g >= 2 ** (mem.maxPhyAddr - 12) || mem.slotOfUnchecked(g) === undefined) {
    s.lo[3] = 0;
    s.hi[3] = 0;
    s.acc[3] = 0;
    s.level = 3;
    s.maxLevel = 3;
    s.noSlot = true;
    s.errorCode = 0;
    return WalkStop.TableNoSlot;
  }
  w.pdptrs![i * 2] = lo;
  w.pdptrs![i * 2 + 1] = hi;
  return WalkStop.Ok;
}

/** Index of the entry for level L of address (hi, lo). */
function indexOf(fmt: PageFormat, vhi: number, vlo: number, level: number): number {
  if (fmt.indexBits === 10) return level === 1 ? (vlo >>> 12) & 1023 : vlo >>> 22;
  switch (level) {
    case 1: return (vlo >>> 12) & 511;
    case 2: return (vlo >>> 21) & 511;
    case 3: return ((vlo >>> 30) | (vhi << 2)) & 511;
    case 4: return (vhi >>> 7) & 511;
    default: return (vhi >>> 16) & 511;
  }
}

/**
 * Walk. Returns WalkStop.Ok (0) on success with s.gfn/s.pteAccess/s.level set, or the stop reason
 * with s.errorCode set. `access` is encodeAccess()'s packed form.
 */
export function walkTables(w: WalkInputs, s: WalkScratch, vhi: number, vlo: number, access: number): number {
  const fmt = w.format;
  const hot = fmt.hot;
  const mem = w.mem;
  const ept = fmt.ptType === 'ept';
  const is32 = fmt.ptType === 32;
  const v73 = fmt.kvm === '7.3';
  // 7.3 EPT with MBEC: bit 10 (XU) alone makes an entry present (kvm-7x.md §1.1 "Presence").
  const eptPresent = fmt.mbec && ept ? 0x407 : 7;
  const pfec = access & (PFERR.WRITE | PFERR.USER | PFERR.FETCH);
  let level = fmt.rootLevel;
  let tgLo = 0; // table frame number = tgHi * 2^20 + tgLo
  let tgHi = 0;
  s.usedPdptr = false;
  s.noSlot = false;
  s.traced = true;
  if (s.adDirty) {
    s.updated.fill(0);
    s.adDirty = false;
  }
  let stop: number = WalkStop.Ok;

  if (level === 3 && !ept && !is32) {
    // PAE: the top level comes from the PDPTE registers, not from memory.
    const i = (vlo >>> 30) & 3;
    if (w.pdptesFromMemory === true && (w.translate !== undefined || w.pdptesUnstaged === true)) {
      const stop3 = readPdpteThroughStage(w, s, i);
      if (stop3 !== WalkStop.Ok) return stop3 === WalkStop.SecondStage ? stop3 : finishFault(w, s, pfec, stop3);
    }
    const plo = w.pdptrs![i * 2]!;
    const phi = w.pdptrs![i * 2 + 1]!;
    s.lo[3] = plo;
    s.hi[3] = phi;
    s.index[3] = i;
    s.usedPdptr = true;
    if ((plo & 1) === 0) {
      s.level = 3;
      s.maxLevel = 3;
      s.errorCode = 0;
      return finishFault(w, s, pfec, WalkStop.PdpteNotPresent);
    }
    if (w.pdpteRsvdFault === true && ((plo & hot.rsvdLo[2]!) | (phi & hot.rsvdHi[2]!)) !== 0) {
      s.level = 3;
      s.maxLevel = 3;
      s.errorCode = PFERR.RSVD | PFERR.PRESENT;
      return finishFault(w, s, pfec, WalkStop.Reserved);
    }
    tgLo = plo >>> 12;
    tgHi = phi & 0xfffff;
    level = 2;
  } else {
    tgLo = w.rootGfn % TWO20;
    tgHi = (w.rootGfn - tgLo) / TWO20;
  }
  s.maxLevel = level;

  let accLo = 0xffffffff;
  let accHiInv = 0xffffffff; // NX inverted so it ANDs like the other rights (walk_nx_mask)
  let lo = 0;
  let hi = 0;
  for (;;) {
    const idx = indexOf(fmt, vhi, vlo, level);
    let tableGfn = tgHi * TWO20 + (tgLo >>> 0);
    if (w.translate !== undefined) {
      s.guestTableGfn[level] = tableGfn;
      tableGfn = w.translate(tableGfn, false, idx * fmt.entryBytes);
      if (tableGfn < 0) {
        s.level = level;
        s.lo[level] = 0;
        s.hi[level] = 0;
        s.errorCode = 0;
        return WalkStop.SecondStage;
      }
    }
    s.tableGfn[level] = tableGfn;
    s.index[level] = idx;
    const f = mem.frameOfUnchecked(tableGfn);
    if (f >= 0) {
      const slab = mem.words;
      if (is32) {
        lo = slab[GuestMemory.wordBaseUnchecked(f) + idx]!;
        hi = 0;
      } else {
        const wi = GuestMemory.wordBaseUnchecked(f) + idx * 2;
        lo = slab[wi]!;
        hi = slab[wi + 1]!;
      }
    } else {
      lo = 0;
      hi = 0;
      if (tableGfn >= 2 ** (mem.maxPhyAddr - 12) || mem.slotOfUnchecked(tableGfn) === undefined) {
        s.lo[level] = 0;
        s.hi[level] = 0;
        s.acc[level] = 0;
        s.level = level;
        s.noSlot = true;
        s.errorCode = 0;
        return finishFault(w, s, pfec, WalkStop.TableNoSlot);
      }
    }
    s.lo[level] = lo;
    s.hi[level] = hi;
    accLo &= lo;
    accHiInv &= ~hi;
    s.acc[level] = v73 ? (ept ? eptAcc73(accLo) : x86Acc73(accLo, accHiInv)) : ept ? eptAcc(accLo) : x86Acc(accLo, accHiInv);

    if (ept ? (lo & eptPresent) === 0 : (lo & 1) === 0) {
      stop = WalkStop.NotPresent;
      s.errorCode = 0;
      break;
    }
    const ri = ((lo >>> 7) & 1) * 5 + level - 1;
    let rsvd = (lo & hot.rsvdLo[ri]!) | (hi & hot.rsvdHi[ri]!);
    if (ept) {
      // 7.3 __is_bad_mt_xwr folds XU into X before indexing bad_mt_xwr (kvm-7x.md §1.1), so an
      // XU-only entry is an execute-only entry.
      const b = (lo & 63) | (v73 && (lo & 0x400) !== 0 ? 4 : 0);
      rsvd |= (b < 32 ? hot.badMtXwrLo >>> b : hot.badMtXwrHi >>> (b - 32)) & 1;
    }
    if (rsvd !== 0) {
      stop = WalkStop.Reserved;
      s.errorCode = PFERR.RSVD | PFERR.PRESENT;
      break;
    }
    // FNAME(is_last_gpte): level 1 always ends; bit 7 ends elsewhere, except that 32-bit paging
    // honours it only at level 2 with CR4.PSE.
    if (level === 1 || ((lo & 0x80) !== 0 && (!is32 || (level === 2 && fmt.pse)))) break;
    if (is32) {
      tgLo = lo >>> 12;
      tgHi = 0;
    } else {
      tgLo = lo >>> 12;
      tgHi = hi & 0xfffff;
    }
    level--;
  }
  s.level = level;
  if (stop !== WalkStop.Ok) return finishFault(w, s, pfec, stop);

  // Permissions on the accumulated rights (permission_fault).
  const pteAccess = s.acc[level]!;
  const pkey = is32 || ept ? 0 : (hi >>> 27) & 15;
  const notSmap = (access & ACCESS_AC) !== 0 && (access & ACCESS_IMPLICIT) === 0;
  const pidx = (pfec | (notSmap ? PFERR.RSVD : 0)) >>> 1;
  let fault = (hot.permissions[pidx]! >>> pteAccess) & 1;
  let err = PFERR.PRESENT;
  if (fmt.pkruMask !== 0) {
    let pk = (w.pkru >>> (pkey * 2)) & 3;
    const off = (pfec & ~1) | ((pteAccess & 4) !== 0 ? PFERR.RSVD : 0);
    pk &= fmt.pkruMask >>> off;
    if (pk !== 0) {
      err |= PFERR.PK;
      fault = 1;
    }
  }
  if (fault !== 0) {
    s.errorCode = err;
    s.pteAccess = pteAccess;
    s.pkey = pkey;
    return finishFault(w, s, pfec, WalkStop.Permission);
  }

  // The guest frame: leaf frame at this level plus the address bits below it.
  let g: number;
  if (is32) {
    if (level === 1) g = lo >>> 12;
    else g = (lo >>> 22) * 1024 + ((vlo >>> 12) & 1023) + ((lo >>> 13) & 0xf) * TWO20; // PSE-36: PA[35:32]
  } else {
    const frame = (hi & 0xfffff) * TWO20 + (lo >>> 12);
    if (level === 1) g = frame;
    else {
      const span = level === 2 ? 512 : 262144;
      g = frame - (frame % span) + ((vlo >>> 12) % span);
    }
  }
  if (w.translate !== undefined) {
    s.guestGfn = g;
    s.pteAccess = pteAccess; // the final stage may ask whether the address is user-mode
    g = w.translate(g, true);
    if (g < 0) {
      s.pteAccess = pteAccess;
      s.errorCode = 0;
      return WalkStop.SecondStage;
    }
  }
  s.gfn = g;
  s.pkey = pkey;

  let pteAcc = pteAccess;
  if (fmt.hasAd) {
    const aBit = fmt.accessedBit;
    let adOk = (accLo >>> aBit) & 1;
    const write = (pfec & PFERR.WRITE) !== 0;
    if (!write) {
      // protect_clean_gpte: a clean leaf is mapped read-only until the first write sets D.
      if (((lo >>> fmt.dirtyBit) & 1) === 0) pteAcc &= ~2;
    } else {
      adOk &= (lo >>> fmt.dirtyBit) & 1;
    }
    if (adOk === 0 && !updateAccessedDirty(w, s, level, write)) {
      s.errorCode = 0;
      return WalkStop.SecondStage;
    }
  }
  s.pteAccess = pteAcc;
  return WalkStop.Ok;
}

export function x86Acc(accLo: number, accHiInv: number): number {
  // gpte_access: keep W and U; bit 0 = P XOR NX = "executable at every level".
  return (accLo & 6) | (accHiInv >>> 31);
}

export function eptAcc(accLo: number): number {
  // W → ACC_WRITE, X → ACC_EXEC, R → ACC_USER (v6.16 reuses USER as "readable").
  return (accLo & 2) | ((accLo >>> 2) & 1) | ((accLo & 1) << 2);
}

export function x86Acc73(accLo: number, accHiInv: number): number {
  // 7.3 gpte_access (kvm-7x.md §1.4): READ = P (always 1 here), W and U kept, EXEC (8) = no NX.
  return ((accHiInv >>> 31) << 3) | (accLo & 6) | 1;
}

export function eptAcc73(accLo: number): number {
  // 7.3 EPT: R → ACC_READ 1, W → 2, XU (bit 10) → ACC_USER_EXEC 4, XS (bit 2) → ACC_EXEC 8. XU is
  // taken even with MBEC off ("sets every bit even when a check will not use it", §1.4); the
  // MBEC-off table ignores it.
  return (accLo & 3) | (((accLo >>> 10) & 1) << 2) | (((accLo >>> 2) & 1) << 3);
}

function finishFault(w: WalkInputs, s: WalkScratch, pfec: number, stop: number): number {
  // error: add the access's W and U; I/D only when NX or SMEP makes fetches distinguishable.
  let ec = s.errorCode | (pfec & (PFERR.WRITE | PFERR.USER));
  if ((pfec & PFERR.FETCH) !== 0 && w.fetchSetsId) ec |= PFERR.FETCH;
  s.errorCode = ec;
  return stop;
}

/**
 * FNAME(update_accessed_dirty_bits): set A on every level used, D on the leaf for a write. False
 * when the second stage refused one of the writes (`translateAdWrite`).
 */
function updateAccessedDirty(w: WalkInputs, s: WalkScratch, leafLevel: number, write: boolean): boolean {
  const fmt = w.format;
  const aMask = 1 << fmt.accessedBit;
  const dMask = 1 << fmt.dirtyBit;
  const mem = w.mem;
  for (let level = s.maxLevel; level >= leafLevel; level--) {
    const orig = s.lo[level]!;
    let v = orig | aMask;
    if (level === leafLevel && write) v |= dMask;
    if (v === orig) continue;
    const tg = s.tableGfn[level]!;
    // A read-only slot (ROM): KVM skips the update quietly.
    if (mem.slotOfUnchecked(tg)!.readonly) continue;
    if (w.translateAdWrite !== undefined && !w.translateAdWrite(s.guestTableGfn[level]!, s.index[level]! * fmt.entryBytes)) return false;
    const f = mem.frameOfUnchecked(tg);
    const slab = mem.words;
    const wi = GuestMemory.wordBaseUnchecked(f) + s.index[level]! * (fmt.entryBytes === 4 ? 1 : 2);
    slab[wi] = v >>> 0;
    s.updated[level] = 1;
    s.adDirty = true;
    s.newLo[level] = v >>> 0;
    s.newHi[level] = s.hi[level]!;
  }
  return true;
}
