/**
 * Argument checks of the shadow MMU's public entry points (ShadowMmu, ShadowPage, Rmap, the
 * free functions over a ShadowMmu and a ShadowContext). The engine's own loops call the
 * `…Unchecked` twins (their pages, indices and SPTEs are the MMU's own); a cell or test that calls
 * the public names gets these checks, so a page of another VM, an index of 512 or a number where an
 * SPTE goes is refused before anything is written.
 */
import { InvalidArgumentError, PageSizeError } from '../errors';
import { checkArray, checkBigint, checkBool, checkEnum, checkInt, checkObject, optBool, refuse } from '../validate/checks';
import { checkRegisterTypes } from '../cpu/check-registers';
import type { PagingRegisters } from '../cpu/registers';
import { checkKvmVersion } from '../kvm-version';
import type { GuestMemory } from '../memory/guest-memory';
import { GvaWalker } from '../walker/gva-walker';
import { ShadowContext } from './shadow-context';
import { GFN_MAX, MAX_VCPU_INDEX, checkGfn } from '../vm/vm-args';
import { checkInveptArgs, checkNestedEntry } from '../vm/vcpu-args';
import { Counters } from '../events/stats';
import type { Memslot } from '../vm/memslot';
import { PageRole } from '../role/page-role';
import { ShadowPage } from './shadow-page';

export { GFN_MAX, checkArray, checkBigint, checkBool, checkGfn, checkInt, checkObject, refuse };

/** A shadow page holds 512 SPTEs (`SPTE_ENT_PER_PAGE`, mmu.h). */
export function checkSpteIndex(name: string, v: unknown): number {
  return checkInt(name, v, { max: 511 });
}

/** The vCPU an operation is done for: an index below KVM_MAX_VCPUS, or -1 for the VM itself. */
export function checkVcpuArg(name: string, v: unknown): number {
  return checkInt(name, v, { min: -1, max: MAX_VCPU_INDEX });
}

/** An SPTE value: a u64 bigint. */
export function checkSpteValue(name: string, v: unknown): bigint {
  return checkBigint(name, v);
}

/** A shadow page (any, for questions whose answer does not touch the MMU's tables). */
export function checkShadowPage(name: string, v: unknown): ShadowPage {
  if (!(v instanceof ShadowPage)) refuse(name, 'shadow-page', 'must be a ShadowPage', v);
  return v;
}

/** A shadow page allocated by this MMU and not yet freed (`pages` maps host frame → page). */
export function checkOwnPage(name: string, v: unknown, pages: ReadonlyMap<number, ShadowPage>): ShadowPage {
  const sp = checkShadowPage(name, v);
  if (pages.get(sp.pfn) !== sp) refuse(name, 'shadow-page-unknown', 'is not a live shadow page of this MMU (freed, or made outside it)', v);
  return sp;
}

/** A page level of the shadow MMU: 1 (4K) .. 5 (PML5). */
export function checkPageLevel(name: string, v: unknown, min = 1, max = 5): number {
  return checkInt(name, v, { min, max, cls: PageSizeError });
}

/** An ACC value of the VM's version: ACC_ALL (7 in 6.16, 0xf in 7.3) has every lower bit set, so at most ACC_ALL is a subset of it. */
export function checkAccess(name: string, v: unknown, all: number): number {
  return checkInt(name, v, { max: all });
}

/** A page role of the VM's KVM version. */
export function checkRole(name: string, v: unknown, kvm: string): PageRole {
  if (!(v instanceof PageRole)) refuse(name, 'page-role', 'must be a PageRole', v);
  if (v.kvm !== kvm) refuse(name, 'page-role-version', `must be a role of KVM ${kvm} (the VM's version)`, v.kvm);
  checkPageLevel(`${name}.level`, v.level);
  return v;
}

/** A list of shadow pages (`invalid_list`): each a live page of this MMU, none twice. */
export function checkPageList(name: string, v: unknown, pages: ReadonlyMap<number, ShadowPage>): ShadowPage[] {
  const l = checkArray(name, v) as ShadowPage[];
  for (let i = 0; i < l.length; i++) {
    checkOwnPage(`${name}[${i}]`, l[i], pages);
    if (l.indexOf(l[i]!) !== i) refuse(`${name}[${i}]`, 'duplicate-page', 'is listed twice', l[i]);
  }
  return l;
}

/** A GFN range [start, end): frame numbers, end not below start, at most 2^40. */
export function checkGfnRange(start: unknown, end: unknown): void {
  const a = checkGfn('start', start);
  const b = checkInt('end', end, { max: GFN_MAX + 1 });
  if (b < a) refuse('end', 'range-order', `must not be below start (0x${a.toString(16)})`, end);
}

/** The slot must be the VM's own memslot object (a copy would be zapped by numbers that may be stale). */
export function checkVmSlot(name: string, v: unknown, slotOfGfn: (gfn: number) => Memslot | undefined): Memslot {
  const s = checkObject<Memslot>(name, v);
  const base = s.baseGfn;
  // The VM's slotOfGfn refuses a bad gfn itself, naming `gfn`: a base that is none is refused here as `slot`.
  if (!Number.isSafeInteger(base) || base < 0 || base > GFN_MAX || slotOfGfn(base) !== s) {
    refuse(name, 'memslot-unknown', 'is not a memslot of this VM (pass the object addMemslot returned, not a copy)', v, InvalidArgumentError);
  }
  return s;
}

/** A free-text reason for an event (`tlb_flush` outcome). */
export function checkReason(name: string, v: unknown): string {
  if (typeof v !== 'string') refuse(name, 'string-type', 'must be a string', v);
  return v;
}

/** The walker over the guest's tables that a shadow vCPU is given (a GvaWalker). */
export function checkWalker(name: string, v: unknown): GvaWalker {
  if (!(v instanceof GvaWalker)) refuse(name, 'gva-walker', 'must be a GvaWalker', v);
  return v;
}

/** Paging registers: the four control registers as bigints of their widths (check-registers.ts). */
export function checkRegs(name: string, v: unknown): PagingRegisters {
  return checkRegisterTypes(name, v) as PagingRegisters;
}

/** A guest linear address or nGPA: a u64 bigint, or a safe non-negative integer (as Vcpu.access takes). */
export function checkLinear(name: string, v: unknown): bigint {
  return checkBigint(name, v, { number: true });
}

/** The host's MAXPHYADDR (CPUID 0x80000008 EAX[7:0]): 32..52 as the VM's features allow. */
export function checkMaxPhyAddr(name: string, v: unknown): number {
  return checkInt(name, v, { min: 32, max: 52 });
}

/** A shadow context of `guestMem`'s VM. */
export function checkContext(name: string, v: unknown, guestMem?: GuestMemory): ShadowContext {
  if (!(v instanceof ShadowContext) || (guestMem !== undefined && v.guestMem !== guestMem)) refuse(name, 'shadow-context', 'must be a ShadowContext of this VM', v);
  return v;
}

export { checkEnum, checkKvmVersion, optBool };

/**
 * The shadow MMU an engine function works on. sync.ts and unsync.ts see it through ShadowMmuOps
 * (ShadowMmu imports them, so they cannot import its class): the check is by what it has.
 */
export function checkMmuOps<M extends { readonly vm: unknown }>(name: string, v: unknown): M {
  const o = (typeof v === 'object' && v !== null ? v : {}) as { vm?: unknown; setSpteUnchecked?: unknown; pageAtUnchecked?: unknown };
  if (typeof o.setSpteUnchecked !== 'function' || typeof o.pageAtUnchecked !== 'function' || typeof o.vm !== 'object' || o.vm === null) {
    refuse(name, 'shadow-mmu', 'must be a ShadowMmu (a VM\'s vm.shadow)', v);
  }
  return v as M;
}

/** A live page of `mmu` (found at its frame). */
export function checkPageOf(name: string, v: unknown, mmu: { pageAtUnchecked(pfn: number): ShadowPage | undefined }): ShadowPage {
  const sp = checkShadowPage(name, v);
  if (mmu.pageAtUnchecked(sp.pfn) !== sp) refuse(name, 'shadow-page-unknown', 'is not a live shadow page of this MMU (freed, or made outside it)', v);
  return sp;
}

/** A list of live pages of `mmu`, none twice. */
export function checkPagesOf(name: string, v: unknown, mmu: { pageAtUnchecked(pfn: number): ShadowPage | undefined }): ShadowPage[] {
  const l = checkArray(name, v) as ShadowPage[];
  l.forEach((sp, i) => {
    checkPageOf(`${name}[${i}]`, sp, mmu);
    if (l.indexOf(sp) !== i) refuse(`${name}[${i}]`, 'duplicate-page', 'is listed twice', sp);
  });
  return l;
}

/** A root's host frame: -1 (INVALID_PAGE) or a frame number. */
export function checkRootHpa(name: string, v: unknown): number {
  return checkInt(name, v, { min: -1, max: GFN_MAX });
}

/** A #PF error code (32 bits, SDM Vol. 3A 4.7) and access flags that are EFLAGS.AC / implicit only. */
export function checkFaultCode(ecName: string, ec: unknown, flagsName?: string, flags?: unknown, allowed = 0): void {
  checkInt(ecName, ec, { max: 0xffff_ffff });
  if (flagsName === undefined) return;
  const f = checkInt(flagsName, flags, { max: 0xffff_ffff });
  if ((f & ~allowed) !== 0) refuse(flagsName, 'access-flags', 'must be ACCESS_AC and/or ACCESS_IMPLICIT', flags);
}

/** A guest-physical address as a number (emulated writes): below 2^52. */
export function checkGpaNumber(name: string, v: unknown): number {
  return checkInt(name, v, { max: 2 ** 52 - 1 });
}

/** A nested MMU's owner: a VM with a shadow MMU, a vCPU index, the vCPU's counters. */
export function checkNestedMmuArgs(vm: unknown, index: unknown, stats: unknown): void {
  const v = checkObject<{ shadow?: unknown }>('vm', vm);
  const s = (typeof v.shadow === 'object' && v.shadow !== null ? v.shadow : {}) as { setSpteUnchecked?: unknown };
  if (typeof s.setSpteUnchecked !== 'function') refuse('vm.shadow', 'shadow-mmu', 'must be the VM\'s ShadowMmu', v.shadow);
  checkInt('index', index, { max: MAX_VCPU_INDEX });
  if (!(stats instanceof Counters)) refuse('stats', 'counters', 'must be the vCPU\'s Counters', stats);
}

/** An L2 access needs the walker of the first nested entry (`vcpu->arch.mmu` is guest_mmu only after it). */
export function checkEntered(walker: unknown): void {
  if (walker === undefined) throw new InvalidArgumentError('nested-not-entered', 'an L2 access before the first nested entry (enter) has no L2 walker', 'undefined');
}

export { checkInveptArgs, checkNestedEntry };
