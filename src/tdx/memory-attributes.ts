/**
 * Per-gfn memory attributes (`kvm->mem_attr_array`, KVM_SET_MEMORY_ATTRIBUTES) of a VM with private
 * memory (a TD or a KVM_X86_SW_PROTECTED_VM). A gfn is private only once userspace set
 * KVM_MEMORY_ATTRIBUTE_PRIVATE on it: the array starts empty, so every gfn starts shared
 * (include/linux/kvm_host.h:2533 `kvm_mem_is_private` tests the PRIVATE bit of the stored
 * attributes, which are 0 until set). A huge mapping needs a block whose gfns all have the same
 * attribute (KVM's KVM_LPAGE_MIXED_FLAG in lpage_info), so the store is per 2M block: its count of
 * private gfns, plus a bitmap only while the block is mixed, and per 1G block the sum of those
 * counts. A VMM makes all of a TD's RAM private at once (1 GiB = 262144 gfns); a whole block costs
 * one step, not 512, and a lookup stays O(1).
 */
import { checkGfn, checkGfnRange } from '../tdp/check-tdp-args';
import { checkBool } from '../validate/checks';

/** Gfns per 2M block, and 2M blocks per 1G block. */
const SPAN = 512;
/** 32-bit words in a 2M block's bitmap. */
const WORDS = SPAN / 32;

export class MemoryAttributes {
  /** Private gfns per 2M block (absent: none). */
  private readonly count2m = new Map<number, number>();
  /** Private gfns per 1G block (absent: none). */
  private readonly count1g = new Map<number, number>();
  /** The private gfns of each mixed 2M block (0 < count < 512), a bit per gfn. */
  private readonly mixed = new Map<number, Uint32Array>();
  private total = 0;

  /** `kvm_mem_is_private`. */
  isPrivate(gfn: number): boolean {
    return this.isPrivateUnchecked(checkGfn('gfn', gfn));
  }

  /** @internal isPrivate without the argument check, for the engine's fault path (a gfn it computed, an integer ≥ 0). */
  isPrivateUnchecked(gfn: number): boolean {
    const b = Math.floor(gfn / SPAN);
    const n = this.count2m.get(b) ?? 0;
    if (n === 0 || n === SPAN) return n === SPAN;
    const i = gfn - b * SPAN;
    return (this.mixed.get(b)![i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Set gfns [start, end) private or shared; returns how many changed. */
  set(start: number, end: number, isPrivate: boolean): number {
    checkGfnRange(start, end);
    checkBool('isPrivate', isPrivate);
    let changed = 0;
    for (let g = start; g < end; ) {
      const b = Math.floor(g / SPAN);
      const hi = Math.min(end - b * SPAN, SPAN);
      changed += this.setInBlock(b, g - b * SPAN, hi, isPrivate);
      g = b * SPAN + hi;
    }
    return changed;
  }

  /** Set gfns [lo, hi) of 2M block b. */
  private setInBlock(b: number, lo: number, hi: number, isPrivate: boolean): number {
    const before = this.count2m.get(b) ?? 0;
    let after = isPrivate ? SPAN : 0;
    if (before === after) return 0;
    if (lo !== 0 || hi !== SPAN) {
      let bits = this.mixed.get(b);
      if (bits === undefined) {
        bits = new Uint32Array(WORDS).fill(before === SPAN ? 0xffff_ffff : 0);
        this.mixed.set(b, bits);
      }
      after = before;
      for (let i = lo; i < hi; i++) {
        const m = 1 << (i & 31);
        if (((bits[i >>> 5]! & m) !== 0) === isPrivate) continue;
        bits[i >>> 5] = bits[i >>> 5]! ^ m;
        after += isPrivate ? 1 : -1;
      }
    }
    if (after === 0 || after === SPAN) this.mixed.delete(b);
    const delta = after - before;
    setCount(this.count2m, b, after);
    const g1 = Math.floor(b / SPAN);
    setCount(this.count1g, g1, (this.count1g.get(g1) ?? 0) + delta);
    this.total += delta;
    return Math.abs(delta);
  }

  /** The largest level (1 = 4K, 2 = 2M, 3 = 1G) whose aligned block around gfn has one attribute, that of gfn. */
  uniformLevel(gfn: number): number {
    return this.uniformLevelUnchecked(checkGfn('gfn', gfn));
  }

  /** @internal uniformLevel without the argument check, for the engine's fault path (a gfn it computed, an integer ≥ 0). */
  uniformLevelUnchecked(gfn: number): number {
    const b = Math.floor(gfn / SPAN);
    const n = this.count2m.get(b) ?? 0;
    if (n !== 0 && n !== SPAN) return 1;
    const n1 = this.count1g.get(Math.floor(b / SPAN)) ?? 0;
    return n1 === (n === 0 ? 0 : SPAN * SPAN) ? 3 : 2;
  }

  get privateCount(): number {
    return this.total;
  }
}

function setCount(m: Map<number, number>, k: number, n: number): void {
  if (n === 0) m.delete(k);
  else m.set(k, n);
}
