/**
 * Argument checks of the public TdpMmu methods (issue 12 item 1). The vCPU fault path and the
 * TDP MMU's own loops call the `…Unchecked` twins (their pages, faults and indices are their
 * own); a caller from outside enters through these, so a bad value is refused with the library's
 * error naming the argument before any SPTE, counter or event changes.
 */
import { Counters } from '../events/stats';
import { PageRole } from '../role/page-role';
import { checkBigint, checkBool, checkInt, checkObject, checkString, refuse } from '../validate/checks';
import type { PageFault } from './page-fault';
import { KVM_ALL_ROOTS, KVM_VALID_ROOTS, type RootTypes } from './root-types';

/** Frame numbers of 52-bit physical addresses have 40 bits (MAXPHYADDR <= 52, SDM Vol. 3A 4.1.4). */
export const GFN_LIMIT = 2 ** 40;

/**
 * A vCPU index, or -1 for "the VM" (zaps and flushes not caused by one vCPU). KVM_MAX_VCPUS is
 * 4096 on x86 (arch/x86/include/asm/kvm_host.h).
 */
export function checkVcpuIndex(name: string, v: unknown): number {
  return checkInt(name, v, { min: -1, max: 4095 });
}

export function checkGfn(name: string, v: unknown): number {
  return checkInt(name, v, { max: GFN_LIMIT - 1 });
}

/** A gfn range [start, end): both in [0, 2^40], start <= end. */
export function checkGfnRange(start: unknown, end: unknown, prefix = ''): void {
  const s = checkInt(`${prefix}start`, start, { max: GFN_LIMIT });
  checkInt(`${prefix}end`, end, { min: s, max: GFN_LIMIT });
}

/**
 * `enum kvm_tdp_mmu_root_types` bits; a filter must name a root kind — `tdp_mmu_root_match`
 * WARNs on a filter without KVM_VALID_ROOTS (tdp_mmu.c, v6.16).
 */
export function checkRootTypes(name: string, v: unknown): RootTypes {
  const t = checkInt(name, v, { max: KVM_ALL_ROOTS });
  if ((t & KVM_VALID_ROOTS) === 0) refuse(name, 'root-types', 'must name direct and/or mirror roots (KVM_DIRECT_ROOTS | KVM_MIRROR_ROOTS)', v);
  return t;
}

/** A TDP level: 1 = 4K … 3 = 1G (KVM_MAX_HUGEPAGE_LEVEL) for leaves. */
export function checkHugeLevel(name: string, v: unknown): number {
  return checkInt(name, v, { min: 1, max: 3 });
}

export function checkSpteValue(name: string, v: unknown): bigint {
  return checkBigint(name, v);
}

export function checkSpteIndex(name: string, v: unknown): number {
  return checkInt(name, v, { max: 511 });
}

export function checkCounters(name: string, v: unknown): void {
  if (!(v instanceof Counters)) refuse(name, 'counters', 'must be a vCPU statistics object (Counters)', v);
}

export function checkFunction(name: string, v: unknown): void {
  if (typeof v !== 'function') refuse(name, 'function-type', 'must be a function', v);
}

/** A root role for `kvm_tdp_mmu_alloc_root`: a PageRole of a 4- or 5-level root, not invalid. */
export function checkRootRole(name: string, v: unknown): PageRole {
  if (!(v instanceof PageRole)) refuse(name, 'page-role', 'must be a PageRole', v);
  if (v.level !== 4 && v.level !== 5) refuse(name, 'root-level', 'must be the role of a 4- or 5-level root', v.level);
  if (v.invalid) refuse(name, 'root-invalid', 'must not be an invalid role', v.word);
  return v;
}

/** The per-VM context a TdpMmu is built on: the members it calls, of their kinds. */
export function checkTdpVmContext(name: string, v: unknown): void {
  const c = checkObject<Record<string, unknown>>(name, v);
  for (const k of ['config', 'host', 'events', 'possibleNxHugePages']) checkObject(`${name}.${k}`, c[k]);
  checkCounters(`${name}.stats`, c['stats']);
  checkBool(`${name}.checking`, c['checking']);
  checkInt(`${name}.mmioGeneration`, c['mmioGeneration']);
  for (const k of ['slotOfGfn', 'isGfnWriteTracked', 'markDirty']) checkFunction(`${name}.${k}`, c[k]);
}

/**
 * A `struct kvm_page_fault` as `newPageFault` makes it: a u64 address whose frame is `gfn`, the
 * error code, the flags, the frame (-1: none yet) and levels 1..3. `slotOk` says whether the slot
 * field is one of the VM's memslots.
 */
export function checkPageFault(name: string, v: unknown, slotOk: (s: unknown) => boolean): PageFault {
  const f = checkObject<Record<string, unknown>>(name, v);
  const addr = checkBigint(`${name}.addr`, f['addr'], { max: (BigInt(GFN_LIMIT) << 12n) - 1n });
  const gfn = checkGfn(`${name}.gfn`, f['gfn']);
  if (BigInt(gfn) !== addr >> 12n) refuse(`${name}.gfn`, 'fault-gfn', `must be the frame of ${name}.addr (0x${(addr >> 12n).toString(16)})`, gfn);
  checkBigint(`${name}.errorCode`, f['errorCode']);
  for (const k of ['exec', 'write', 'present', 'rsvd', 'user', 'prefetch', 'mapWritable', 'hugePageDisallowed']) checkBool(`${name}.${k}`, f[k]);
  if (f['slot'] !== undefined && !slotOk(f['slot'])) refuse(`${name}.slot`, 'memslot', 'must be undefined (MMIO) or a memslot of this VM', f['slot']);
  checkInt(`${name}.pfn`, f['pfn'], { min: -1, max: GFN_LIMIT - 1 });
  for (const k of ['maxLevel', 'reqLevel', 'goalLevel']) checkHugeLevel(`${name}.${k}`, f[k]);
  return v as PageFault;
}

export { checkBool, checkString, refuse };
