/**
 * Argument checks of the VM's public methods, kept apart from vm.ts so that each method gains one
 * line. Options are matched against own entries (`Map`, arrays), never plain-object lookups, so
 * `hostPageSize: 'toString'` is refused here instead of surfacing later as an InvariantViolation.
 */
import { InvalidArgumentError } from '../errors';
import { checkBigint, checkBool, checkEnum, checkInt, checkObject, checkString, lookup, optBool, optObject, refuse } from '../validate/checks';
import { checkCpuFeatures } from '../cpu/check-registers';
import type { Memslot } from './memslot';

/**
 * Types of the VM options (their combinations are the constructor's rules). `known` is the list of
 * option names, which vm.ts derives from `VmOptions` so that a new option cannot be forgotten here.
 */
export function checkVmOptions(opts: unknown, known: readonly string[]): void {
  const o = optObject<Record<string, unknown>>('options', opts);
  for (const k of Object.keys(o)) if (!known.includes(k)) refuse(`options.${k}`, 'option-name', `is not a VM option (known: ${known.join(', ')})`, o[k]);
  if (o.spte !== undefined) checkObject('options.spte', o.spte);
  if (o.features !== undefined) checkCpuFeatures('options.features', o.features);
  // disableNxHugePages keeps its own rule in the constructor (disable-nx-huge-pages).
  for (const k of ['checkInvariants', 'tdp', 'septVeDisable', 'slotZapAllQuirk', 'unsync']) optBool(`options.${k}`, o[k], false);
  if (o.mmu !== undefined) checkEnum('options.mmu', o.mmu, ['tdp', 'shadow']);
  if (o.type !== undefined) checkEnum('options.type', o.type, ['default', 'tdx', 'sw-protected'], 'vm-type');
  if (o.maxMmuPages !== undefined) checkInt('options.maxMmuPages', o.maxMmuPages, { min: 64 }); // x86.c:6417-6418: -EINVAL below 64
  if (o.gpaw !== undefined) checkInt('options.gpaw', o.gpaw);
}

export const HOST_PAGE_LEVEL: ReadonlyMap<string, number> = new Map([['4K', 1], ['2M', 2], ['1G', 3]]);

/** A memslot spec's types; returns the host mapping level of `hostPageSize`. */
export function checkMemslotSpec(spec: unknown): number {
  const s = checkObject<Record<string, unknown>>('spec', spec);
  checkBigint('spec.base', s.base);
  checkBigint('spec.size', s.size, { number: true, min: 1n });
  optBool('spec.readonly', s.readonly, false);
  optBool('spec.guestMemfd', s.guestMemfd, false);
  if (s.name !== undefined) checkString('spec.name', s.name);
  return lookup('spec.hostPageSize', s.hostPageSize ?? '2M', HOST_PAGE_LEVEL);
}

/** A GPA range [start, end) of a VM operation: bigints, start <= end, below 2^52. */
export function checkGpaRange(start: unknown, end: unknown, ordered = true): void {
  const a = checkBigint('start', start, { max: 1n << 52n });
  const b = checkBigint('end', end, { max: 1n << 52n });
  if (ordered && b < a) refuse('end', 'range-order', `must not be below start (${'0x' + a.toString(16)})`, end);
}

/** The slot must be one of the VM's own memslot objects: a copy would look right and never be logged. */
export function checkOwnMemslot(list: readonly Memslot[], slot: unknown): number {
  const i = list.indexOf(slot as Memslot);
  if (i < 0) refuse('slot', 'memslot-unknown', 'is not a memslot of this VM (pass the object addMemslot/moveMemslot returned, not a copy)', slot, InvalidArgumentError);
  return i;
}

export { checkBool, checkBigint, checkInt, optBool, optObject };

/** The largest frame number of a 52-bit GPA (MAXPHYADDR is at most 52). */
export const GFN_MAX = 2 ** 40 - 1;

/** A guest frame number: a safe integer in [0, 2^40). The fast path is a few compares (fault paths call this). */
export function checkGfn(name: string, v: unknown): number {
  if (typeof v === 'number' && v >= 0 && v <= GFN_MAX && Number.isInteger(v)) return v;
  return checkInt(name, v, { max: GFN_MAX });
}

/** vCPU indexes are below KVM_MAX_VCPUS: CONFIG_KVM_MAX_NR_VCPUS, at most 4096 (arch/x86/include/asm/kvm_host.h:54, arch/x86/kvm/Kconfig). */
export const MAX_VCPU_INDEX = 4095;

/** A reason or ioctl name for VM death bookkeeping, and the vCPU index (-1: the VM itself). */
export function checkDeathArgs(textName: string, text: unknown, vcpu: unknown): void {
  // Fast path: every vCPU ioctl passes here (the -EIO check).
  if (typeof text === 'string' && (vcpu === -1 || (typeof vcpu === 'number' && vcpu >= 0 && vcpu <= MAX_VCPU_INDEX && Number.isInteger(vcpu)))) return;
  checkString(textName, text);
  checkInt('vcpu', vcpu, { min: -1, max: MAX_VCPU_INDEX });
}
