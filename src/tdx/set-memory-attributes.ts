/**
 * KVM_SET_MEMORY_ATTRIBUTES (`kvm_main.c: kvm_vm_ioctl_set_mem_attributes` →
 * `kvm_vm_set_mem_attributes`) for any VM with private memory: validated first (page-aligned,
 * non-empty: kvm_main.c:2605-2608), then `kvm_arch_pre_set_memory_attributes` (mmu.c:7751-7756)
 * unmaps the alias that stops being valid — converting to private zaps with KVM_FILTER_SHARED,
 * to shared with KVM_FILTER_PRIVATE; a VM without mirrored TDP has direct roots only, so a
 * KVM_X86_SW_PROTECTED_VM zaps its direct roots either way — and the attributes change.
 */
import { MisalignedError, hex } from '../errors';
import { KVM_INVALID_ROOTS, filterToRootTypes, type RootTypes } from '../tdp/root-types';
import { MemoryAttributes } from './memory-attributes';
import { TdpMmu } from '../tdp/tdp-mmu';
import { checkBigint, checkBool, checkObject, refuse } from '../validate/checks';
import { checkGfnRange } from '../tdp/check-tdp-args';

export type MemoryAttribute = 'private' | 'shared';

export interface AttributeChange {
  start: number;
  end: number;
  toPrivate: boolean;
}

/** Check a request without changing anything; returns the gfn range. */
export function checkAttributeRange(start: bigint, end: bigint, attr: unknown): AttributeChange {
  // GPAs below 2^52 (MAXPHYADDR <= 52): the gfns fit the attribute array's 40-bit index.
  checkBigint('start', start, { max: (1n << 52n) - 1n });
  checkBigint('end', end, { max: 1n << 52n });
  if ((start & 0xfffn) !== 0n || (end & 0xfffn) !== 0n || end <= start) {
    throw new MisalignedError('mem-attr-range', 'memory attributes are set on a non-empty, 4 KiB aligned GPA range', `${hex(start)}..${hex(end)}`);
  }
  if (attr !== 'private' && attr !== 'shared') throw new MisalignedError('mem-attr-value', 'a memory attribute is private or shared', String(attr));
  return { start: Number(start >> 12n), end: Number(end >> 12n), toPrivate: attr === 'private' };
}

/** Zap the old alias, then set the attributes. Returns the leaves zapped, the gfns changed and the root types walked. */
export function applyAttributeChange(tdp: TdpMmu, attrs: MemoryAttributes, mirrored: boolean, c: AttributeChange): { zapped: number; changed: number; types: RootTypes } {
  if (!(tdp instanceof TdpMmu)) refuse('tdp', 'tdp-mmu', 'must be the VM\'s TdpMmu', tdp);
  if (!(attrs instanceof MemoryAttributes)) refuse('attrs', 'memory-attributes', 'must be the VM\'s MemoryAttributes', attrs);
  checkBool('mirrored', mirrored);
  checkObject('c', c);
  checkGfnRange(c.start, c.end, 'c.');
  checkBool('c.toPrivate', c.toPrivate);
  const types = filterToRootTypes(mirrored, c.toPrivate ? 'shared' : 'private') | KVM_INVALID_ROOTS;
  const zapped = tdp.zapLeafs(c.start, c.end, -1, `convert to ${c.toPrivate ? 'private' : 'shared'}`, types);
  const changed = attrs.set(c.start, c.end, c.toPrivate);
  return { zapped, changed, types };
}
