/**
 * Per-gfn memory attributes (`kvm->mem_attr_array`, KVM_SET_MEMORY_ATTRIBUTES): a TD's memory is
 * private unless userspace converted it to shared (the guest asks with MapGPA). Stored as the set
 * of shared gfns, since private is the default and conversions are sparse, plus per-2M and per-1G
 * counts of shared gfns: a huge mapping needs a block whose gfns all have the same attribute
 * (KVM's KVM_LPAGE_MIXED_FLAG in lpage_info), and the counts answer that in O(1).
 */
const SPANS = [512, 512 * 512] as const;

export class MemoryAttributes {
  private readonly shared = new Set<number>();
  /** Shared gfns per 2M block and per 1G block. */
  private readonly counts = [new Map<number, number>(), new Map<number, number>()];

  /** `kvm_mem_is_private`. */
  isPrivate(gfn: number): boolean {
    return !this.shared.has(gfn);
  }

  set(start: number, end: number, isPrivate: boolean): number {
    let changed = 0;
    for (let g = start; g < end; g++) {
      if (this.isPrivate(g) === isPrivate) continue;
      if (isPrivate) this.shared.delete(g);
      else this.shared.add(g);
      for (let i = 0; i < 2; i++) {
        const b = Math.floor(g / SPANS[i]!);
        this.counts[i]!.set(b, (this.counts[i]!.get(b) ?? 0) + (isPrivate ? -1 : 1));
      }
      changed++;
    }
    return changed;
  }

  /** The largest level (1 = 4K, 2 = 2M, 3 = 1G) whose aligned block around gfn has one attribute, that of gfn. */
  uniformLevel(gfn: number): number {
    const priv = this.isPrivate(gfn);
    let level = 1;
    for (let i = 0; i < 2; i++) {
      const n = this.counts[i]!.get(Math.floor(gfn / SPANS[i]!)) ?? 0;
      if (n !== (priv ? 0 : SPANS[i]!)) break;
      level = i + 2;
    }
    return level;
  }

  get sharedCount(): number {
    return this.shared.size;
  }
}
