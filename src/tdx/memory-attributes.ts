/**
 * Per-gfn memory attributes (`kvm->mem_attr_array`, KVM_SET_MEMORY_ATTRIBUTES) of a VM with private
 * memory (a TD or a KVM_X86_SW_PROTECTED_VM). A gfn is private only once userspace set
 * KVM_MEMORY_ATTRIBUTE_PRIVATE on it: the array starts empty, so every gfn starts shared
 * (include/linux/kvm_host.h:2533 `kvm_mem_is_private` tests the PRIVATE bit of the stored
 * attributes, which are 0 until set). Stored as the set of private gfns, plus per-2M and per-1G
 * counts of private gfns: a huge mapping needs a block whose gfns all have the same attribute
 * (KVM's KVM_LPAGE_MIXED_FLAG in lpage_info), and the counts answer that in O(1).
 */
import { checkGfn, checkGfnRange } from '../tdp/check-tdp-args';
import { checkBool } from '../validate/checks';

const SPANS = [512, 512 * 512] as const;

export class MemoryAttributes {
  private readonly priv = new Set<number>();
  /** Private gfns per 2M block and per 1G block. */
  private readonly counts = [new Map<number, number>(), new Map<number, number>()];

  /** `kvm_mem_is_private`. */
  isPrivate(gfn: number): boolean {
    return this.priv.has(checkGfn('gfn', gfn));
  }

  set(start: number, end: number, isPrivate: boolean): number {
    checkGfnRange(start, end);
    checkBool('isPrivate', isPrivate);
    let changed = 0;
    for (let g = start; g < end; g++) {
      if (this.priv.has(g) === isPrivate) continue;
      if (isPrivate) this.priv.add(g);
      else this.priv.delete(g);
      for (let i = 0; i < 2; i++) {
        const b = Math.floor(g / SPANS[i]!);
        this.counts[i]!.set(b, (this.counts[i]!.get(b) ?? 0) + (isPrivate ? 1 : -1));
      }
      changed++;
    }
    return changed;
  }

  /** The largest level (1 = 4K, 2 = 2M, 3 = 1G) whose aligned block around gfn has one attribute, that of gfn. */
  uniformLevel(gfn: number): number {
    const priv = this.priv.has(checkGfn('gfn', gfn));
    let level = 1;
    for (let i = 0; i < 2; i++) {
      const n = this.counts[i]!.get(Math.floor(gfn / SPANS[i]!)) ?? 0;
      if (n !== (priv ? SPANS[i]! : 0)) break;
      level = i + 2;
    }
    return level;
  }

  get privateCount(): number {
    return this.priv.size;
  }
}
