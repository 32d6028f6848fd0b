/**
 * Reverse maps (reference §8.6): for each (gfn, level), the leaf SPTEs that map it. KVM keeps one
 * array of heads per memslot and level; here one map per VM keyed by (gfn rounded to the level,
 * level) — the same sets, found the same way (`gfn_to_rmap`). Kept exact by the SPTE-change
 * function, which is the only caller of add/remove.
 */
import type { SptePtr } from './shadow-page';
import { checkGfn, checkObject, checkPageLevel, checkShadowPage, checkSpteIndex } from './check-shadow-args';

/** Leaves, so rmaps, exist at levels 1-3 (KVM_MAX_HUGEPAGE_LEVEL). */
function checkKey(gfn: unknown, level: unknown): void {
  checkGfn('gfn', gfn);
  checkPageLevel('level', level, 1, 3);
}

function checkPtr(p: unknown): SptePtr {
  const o = checkObject<SptePtr>('p', p);
  checkShadowPage('p.sp', o.sp);
  checkSpteIndex('p.idx', o.idx);
  return o;
}

function key(gfn: number, level: number): number {
  const span = 2 ** (9 * (level - 1));
  return (gfn - (gfn % span)) * 4 + level;
}

export class Rmap {
  private readonly heads = new Map<number, SptePtr[]>();

  add(gfn: number, level: number, p: SptePtr): number {
    checkKey(gfn, level);
    return this.addUnchecked(gfn, level, checkPtr(p));
  }

  addUnchecked(gfn: number, level: number, p: SptePtr): number {
    const k = key(gfn, level);
    let l = this.heads.get(k);
    if (l === undefined) {
      l = [];
      this.heads.set(k, l);
    }
    l.push(p);
    return l.length;
  }

  /** Remove one pointer; false if it was not there (a model bug the caller reports). */
  remove(gfn: number, level: number, p: SptePtr): boolean {
    checkKey(gfn, level);
    return this.removeUnchecked(gfn, level, checkPtr(p));
  }

  removeUnchecked(gfn: number, level: number, p: SptePtr): boolean {
    const k = key(gfn, level);
    const l = this.heads.get(k);
    if (l === undefined) return false;
    const i = l.findIndex((q) => q.sp === p.sp && q.idx === p.idx);
    if (i < 0) return false;
    l.splice(i, 1);
    if (l.length === 0) this.heads.delete(k);
    return true;
  }

  /** The SPTEs mapping `gfn` at `level` (a copy: callers change SPTEs while iterating). */
  get(gfn: number, level: number): SptePtr[] {
    checkKey(gfn, level);
    return this.getUnchecked(gfn, level);
  }

  getUnchecked(gfn: number, level: number): SptePtr[] {
    const l = this.heads.get(key(gfn, level));
    return l === undefined ? [] : [...l];
  }

  /** Every (gfn, level, ptr), for invariant checks. */
  *entries(): IterableIterator<[number, number, SptePtr]> {
    for (const [k, l] of this.heads) {
      const level = k % 4;
      const gfn = (k - level) / 4;
      for (const p of l) yield [gfn, level, p];
    }
  }
}
