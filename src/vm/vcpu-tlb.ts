/**
 * The vCPU's hardware TLB in the access pipeline (TDP root_mmu): the tag an access runs under,
 * the permission check a TLB hit makes with the cached rights, the result of a hit, the fill
 * after a walk, and the walk's memory references with the paging-structure and nested caches.
 * Kept apart from vcpu.ts so the pipeline there only calls in.
 */
import type { Gfn, Gpa, Gva, Hpa } from '../address/address';
import { CR4 } from '../cpu/registers';
import { PFERR } from '../format/acc';
import type { PagingRegisters } from '../cpu/registers';
import type { GvaWalker } from '../walker/gva-walker';
import type { WalkOk, WalkStep } from '../walker/walk-result';
import type { PageFormat } from '../format/page-format';
import type { Access } from '../walker/access';
import type { TdpPage } from '../tdp/tdp-page';
import { vpnOfUnchecked, type Tlb, type TlbEntry, type TlbHitLevel, type TlbTag, type SizeIndex } from '../tlb/tlb';
import type { AccessResult, ExitRecord } from './access-result';
import type { AccessCost } from '../cost/cost-model';
import type { VcpuVm } from './vcpu-vm';
import { isGfnAlias } from '../tdx/td-config';
import { U64View } from '../u64-view';

/** What the helpers read of the vCPU. */
export interface TlbVcpu {
  readonly vm: VcpuVm;
  readonly index: number;
  /**
   * The running guest's registers and root_mmu's walker. The helpers serve the TDP root_mmu only,
   * where both describe the guest running on it (L1, or an L2 L1 shadows itself).
   */
  readonly regs: PagingRegisters;
  readonly walker: GvaWalker;
  readonly currentRoot: TdpPage | null;
  readonly currentMirrorRoot: TdpPage | null;
  /** `vmx_get_current_vpid` (vmx.c:3234-3239): vpid02 while L2 runs with a vmcs12 VPID, else vpid01. */
  readonly currentVpid: number;
}

/**
 * KVM gives each vCPU its own VPID (`vmx.c: allocate_vpid`, from 1: VPID 0 is the host's) or,
 * on AMD, an ASID; with VPIDs off everything runs as VPID 0.
 */
export function vcpuVpid(v: { readonly index: number }, tlb: Tlb): number {
  return tlb.config.vpid ? v.index + 1 : 0;
}

/**
 * vpid02, the VPID KVM runs L2 with when vmcs12 enables VPID (`vmx->nested.vpid02`, allocated
 * by `allocate_vpid` in `vmx_create_vcpu`; vmx/nested.c `prepare_vmcs02_early_rare` writes it).
 * KVM takes the next free bit of `vmx_vpid_bitmap`; the model numbers them after every vpid01
 * (0x8000 + index: any VPID no vpid01 uses gives the same tagging).
 */
export function vcpuVpid02(v: { readonly index: number }, tlb: Tlb): number {
  return tlb.config.vpid ? 0x8000 + v.index : 0;
}

/**
 * The EPTP part of the tag (SDM Vol. 3A §4.10.2.4: combined mappings are tagged by EP4TA).
 * NPT has no EPTP tag (the ASID is the tag, kvm_mmu_load flushes it on a new nCR3), so its
 * entries are tagged like linear ones (-1). A TD's shared and private mappings are both tagged by
 * the private EPTP ("shared EPT uses private EPTP as its ASID for TLB invalidation",
 * tdx.c:2836-2839): the S-EPT root the TDX module walks — not KVM's mirror root, which no CPU
 * walks, nor the shared EPTP (SHARED_EPT_POINTER, tdx.c:1590), whose replacement is flushed by
 * INVEPT global instead (tdx_flush_tlb_current, tdx.c:2844).
 */
export function tlbTagEptp(v: Pick<TlbVcpu, 'vm' | 'currentRoot'>): number {
  const td = v.vm.td;
  if (td !== undefined) return td.sept.rootPfn;
  return v.vm.config.flavour === 'ept' && v.currentRoot !== null ? v.currentRoot.pfn : -1;
}

export function tlbTag(v: TlbVcpu): TlbTag {
  const r = v.regs;
  const pcid = (r.cr4 & CR4.PCIDE) !== 0n ? Number(r.cr3 & 0xfffn) : 0;
  return { vpid: v.currentVpid, pcid, eptp: tlbTagEptp(v) };
}

/**
 * Whether the cached rights allow the access (SDM Vol. 3A §4.10.2.2: a TLB entry holds the
 * combined R/W, U/S and XD rights, the dirty state and the protection key; they are checked
 * against the current CR0.WP/CR4.SMEP/SMAP/PKRU, as `permission_fault` does). A write through an
 * entry made by a read of a clean page needs a walk to set D (SDM §4.8), so the W right is only
 * cached for a dirty leaf (the walker's `protect_clean_gpte`). Not allowed ⇒ the CPU walks.
 */
export function tlbPermits(w: { readonly format: PageFormat | undefined; readonly pkru: number }, e: TlbEntry, enc: number): boolean {
  const fmt = w.format;
  return fmt === undefined ? rightsPermit(undefined, 0, 0, e, enc) : rightsPermit(fmt.hot.permissions, fmt.pkruMask, w.pkru, e, enc);
}

/**
 * `tlbPermits` on what it reads of the walker: its format's `permissions[]` (undefined: paging
 * off, no guest rights), PKRU mask, and PKRU. The vCPU's TLB-hit path keeps these three with its
 * hit context (they are the walker's, which changes only with the registers), so a hit reads
 * them with one load each instead of through the walker, its format and the format's hot part.
 */
export function rightsPermit(perms: Uint16Array | undefined, pkruMask: number, pkru: number, e: TlbEntry, enc: number): boolean {
  // `enc` is the encoded access (encodeAccess): its W and F bits say the kind. The constants are
  // literals (PFERR.WRITE, .FETCH, .USER, .RSVD, ACCESS_AC, ACCESS_IMPLICIT) to keep this small
  // enough to be inlined into the hit path.
  // The right the kind needs: write 2 (W, bit 1), fetch 4 (F, bit 4, moved to bit 2), read 1 (an
  // access has one kind, so W and F are never both set).
  const wf = (enc & 0x2) | ((enc & 0x10) >>> 2);
  if ((e.tdpAcc & (wf === 0 ? 1 : wf)) === 0) return false;
  if (perms === undefined) return true; // paging off: no guest rights
  const pfec = enc & 0x16; // W | U | F
  const pidx = ((enc & 0x3_0000) === 0x2_0000 ? pfec | 0x8 : pfec) >>> 1; // AC (ACCESS_AC) without implicit (ACCESS_IMPLICIT): RSVD marks "SMAP off"
  if (((perms[pidx]! >>> e.acc) & 1) !== 0) return false;
  return pkruMask === 0 || pkeyPermits(pkruMask, pkru, e, pfec);
}

/** The protection-key part of `tlbPermits` (only with a PKRU mask: CR4.PKE or PKS). */
function pkeyPermits(pkruMask: number, pkru: number, e: TlbEntry, pfec: number): boolean {
  const pk = ((pkru >>> (e.pkey * 2)) & 3) & (pkruMask >>> ((pfec & ~1) | ((e.acc & 4) !== 0 ? PFERR.RSVD : 0)));
  return pk === 0;
}

const SIZE_BYTES = [4096n, 2097152n, 1073741824n] as const;

/**
 * Whether u64 `a` passes the address rule of a walker of base level `level` (GvaWalker's
 * `checkAddressUnchecked`: canonical with 4-level paging, 32 bits below it) — the answer for the
 * usual modes without a call. False means "ask `checkAddressUnchecked`": 5-level paging is left
 * to it, as is every address it refuses.
 */
export function isCanonicalFast(a: bigint, level: number): boolean {
  return level === 4 ? a < 0x8000_0000_0000n || a >= 0xffff_8000_0000_0000n : level < 4 && a <= 0xffff_ffffn;
}

/** Bytes of a page by size index (4 KiB, 2 MiB, 1 GiB). */
export const PAGE_BYTES = [4096, 2097152, 1073741824] as const;

/**
 * The vCPU's scratch for the addresses of a TLB hit: the GVA's halves (`split`, then `lo`/`hi`)
 * and the GPA/HPA bigints (`makeNum`) go through a U64View (inline typed-array accesses, where
 * `Number(a)` and `BigInt(n)` are runtime calls). Nothing is remembered between hits: every hit
 * converts its own address, so a loop over many addresses costs what a loop over one does.
 */
export class HitAddresses extends U64View {
  /** Bits 29:0 of the last address `split`: its offset in a page of any size (a small integer). */
  get low(): number {
    return this.lo & 0x3fff_ffff;
  }
}

/**
 * The 4 KiB page number (bits 56:12, as `vpnOfUnchecked`) of the u64 whose halves are `hi` and
 * `lo`. A function of its arguments, with no property load: under V8's small-function size (27
 * bytes of bytecode), which V8 inlines whatever is left of the caller's inlining budget (the TLB
 * hit spends its budget on the lookup and the result).
 */
export function vpnOfHalves(hi: number, lo: number): number {
  return (hi & 0x1ff_ffff) * 0x10_0000 + (lo >>> 12);
}

/**
 * The one empty trace and exit list every TLB hit's result holds (frozen: `WalkOk.trace` and
 * `AccessResult.exits` are read-only). A hit has no walk steps and no exits; sharing the empty
 * arrays saves two of the six objects a hit allocated (64 of about 450 bytes on Node 20 x64, and
 * about a tenth of the hit's time in the tlb benchmark).
 */
export const NO_STEPS: readonly WalkStep[] = Object.freeze([]);
export const NO_EXITS: readonly ExitRecord[] = Object.freeze([]);

/**
 * The AccessResult of a TLB hit: no walk, no exit; the guest "walk" record is the cached one.
 * `cost` is the hit's price (the vCPU prices a hit by its level only), so the result comes priced.
 * Every hit gets a fresh result and walk record the caller owns (only the frozen empty `trace`
 * and `exits` arrays and the frozen `access` and `cost` are shared; no result is shared between accesses: a
 * benchmark that repeats one address must pay what a varied one pays per hit). `addrs` holds the
 * halves of `a` (`split` by the lookup). The vCPU's L1-hit path (vcpu.ts `accessChecked`) builds
 * the same result in its own body, field for field (vcpu-tlb-fast-hit.test.ts compares the two).
 */
export function tlbHitResult(a: Gva, access: Access, e: TlbEntry, level: TlbHitLevel, addrs: HitAddresses, cost: Readonly<AccessCost>): AccessResult {
  // The offset in the page (at most 1 GiB: bits 29:0); frames are below 2^40, so frame * 4096 + offset is an exact double.
  const size = PAGE_BYTES[e.size]!;
  const off = addrs.low & (size - 1);
  const gpa = addrs.makeNum(e.guestFrame * 4096 + off) as Gpa;
  const hpa = addrs.makeNum(e.hostFrame * 4096 + off) as Hpa;
  const guestWalk: WalkOk = {
    status: 'ok', stage: 'gva_walk', address: a, access, trace: NO_STEPS, gpa, gfn: (e.guestFrame + (off >>> 12)) as Gfn,
    level: e.size + 1, pageSize: size, pteAccess: e.acc, pkey: e.pkey, gpaKind: e.gpaKind ?? 'ram', adUpdates: 0,
  };
  const r: AccessResult = {
    status: 'ok', gva: a, access, gpa, hpa, guestWalk,
    exits: NO_EXITS, attempts: 1, tlb: level, walkRefs: 0, cycles: cost.cycles, cost,
  };
  return r;
}

/**
 * The second dimension's leaf for `gfn`: its level and the SPTE (via the MMU's own lookup). A TD's
 * private GPAs are walked through the S-EPT, which the mirror root mirrors (tdx_sept_link_private_spt
 * / tdx_sept_set_private_spte keep them equal); shared ones through the direct root, at the alias.
 */
function tdpLeaf(v: TlbVcpu, gfn: number): { level: number; spte: bigint } {
  const td = v.vm.td;
  const root = td !== undefined && !isGfnAlias(td.config, gfn) && v.currentMirrorRoot !== null ? v.currentMirrorRoot : v.currentRoot!;
  const [, , level, spte] = v.vm.tdp.lastSpteUnchecked(root, gfn);
  return { level, spte };
}

/**
 * Second-dimension rights of a leaf (EPT or NPT format; TDP, EPT02 or NPT02): read 1, write 2
 * (only when dirty: with EPT A/D on, bit 9; NPT D, bit 6 — a write through a clean leaf walks to
 * set D), exec 4.
 */
export function secondRights(spte: bigint, ept: boolean, adEnabled: boolean): number {
  if (ept) {
    const w = (spte & 2n) !== 0n && (!adEnabled || (spte & 0x200n) !== 0n);
    return Number(spte & 1n) | (w ? 2 : 0) | Number(spte & 4n);
  }
  const w = (spte & 2n) !== 0n && (spte & 0x40n) !== 0n;
  return 1 | (w ? 2 : 0) | ((spte >> 63n) === 0n ? 4 : 0);
}

function tdpRights(v: TlbVcpu, spte: bigint): number {
  return secondRights(spte, v.vm.config.flavour === 'ept', v.vm.config.adEnabled);
}

/** Cache the translation of a completed access (SDM §4.10.2.1: only translations without a fault). */
export function tlbFill(v: TlbVcpu, tlb: Tlb, tag: TlbTag, r: AccessResult): void {
  if (r.status !== 'ok' || r.guestWalk.status !== 'ok' || r.hpa === undefined || r.gpa === undefined || v.currentRoot === null) return;
  const g = r.guestWalk;
  const gfn = Number((r.gpa as bigint) >> 12n);
  const leaf = tdpLeaf(v, gfn);
  const size = (Math.min(g.level, leaf.level) - 1) as SizeIndex; // the smaller page (SDM Vol. 3C §28.3.1)
  const mask = SIZE_BYTES[size] - 1n;
  const lastStep = g.trace[g.trace.length - 1];
  const globalBit = lastStep !== undefined && ((lastStep.updated ?? lastStep.value) & 0x100n) !== 0n && (v.regs.cr4 & CR4.PGE) !== 0n;
  tlb.fillUnchecked({
    vpid: tag.vpid, pcid: tag.pcid, eptp: tag.eptp, vpn: vpnOfUnchecked(r.gva as bigint), size, global: globalBit,
    hostFrame: Number(((r.hpa as bigint) & ~mask) >> 12n), guestFrame: Number(((r.gpa as bigint) & ~mask) >> 12n),
    acc: g.pteAccess, pkey: g.pkey, tdpAcc: tdpRights(v, leaf.spte), gpaKind: g.gpaKind,
  }, r.access.kind === 'fetch');
}

/** The second dimension of a 2D walk, for counting its references: root, depth, and leaf level per frame. */
export interface SecondDim {
  /** Root frame (the tag of guest-physical mappings). */
  rootPfn: number;
  /** Levels of the second-dimension tables. */
  top: number;
  /** The nested-cache ASID tag (AMD), else −1. */
  asid: number;
  /** The level of the second-dimension leaf mapping guest frame `gfn`. */
  leafLevel(gfn: number): number;
}

/**
 * Memory references of a completed 2D walk (record `r.guestWalk`, `top` guest levels): the guest
 * tables read below the deepest paging-structure-cache hit, and for each of them and the final GPA
 * the nested references left after the nested TLB and nested PSCs. With `tlb` undefined nothing is
 * cached: n + Σ depth, the figure of workload/memory-refs.ts (Bhargava et al.'s 24 for 4+4 levels).
 */
export function walkRefs2d(tlb: Tlb | undefined, tag: TlbTag, r: AccessResult, top: number, second: SecondDim): number {
  const g = r.guestWalk;
  const vpn = vpnOfUnchecked(r.gva as bigint);
  const start = tlb === undefined || top < 4 ? top + 1 : tlb.pscLookupUnchecked(tag, vpn, top);
  const nested = (gfn: number): number => {
    const leaf = second.leafLevel(gfn);
    if (tlb === undefined) return second.top - leaf + 1;
    return tlb.nestedRefsUnchecked(second.rootPfn, second.asid, gfn, second.top, leaf, 0);
  };
  let guest = 0;
  let nest = 0;
  for (const s of g.trace) {
    if (s.source !== 'memory' || s.level >= start) continue;
    guest++;
    nest += nested(Number((s.entryGpa as bigint) >> 12n));
    if (tlb !== undefined && !s.leaf && s.level >= 2 && top >= 4) tlb.pscFillUnchecked(tag, vpn, s.level);
  }
  if (r.gpa !== undefined && (r.status === 'ok' || r.status === 'emulated')) nest += nested(Number((r.gpa as bigint) >> 12n));
  if (tlb !== undefined) countRefs(tlb, guest, nest);
  return guest + nest;
}

/** Count a miss's walk references (guest or linear dimension, nested dimension). */
export function countRefs(tlb: Tlb, guest: number, nest: number): void {
  tlb.stats.inc('walk_refs', guest + nest);
  tlb.stats.inc('walk_refs_guest', guest);
  tlb.stats.inc('walk_refs_nested', nest);
}

/** `walkRefs2d` for the vCPU's TDP root_mmu (the second dimension: its TDP root, or a TD's S-EPT/shared EPT). */
export function walkRefs(v: TlbVcpu, tlb: Tlb | undefined, tag: TlbTag, r: AccessResult): number {
  const root = v.currentRoot;
  if (root === null) return 0;
  return walkRefs2d(tlb, tag, r, v.walker.role.base.level, {
    rootPfn: tag.eptp >= 0 ? tag.eptp : root.pfn, top: root.level, asid: v.vm.config.flavour === 'npt' ? tag.vpid : -1,
    leafLevel: (gfn) => tdpLeaf(v, gfn).level,
  });
}
