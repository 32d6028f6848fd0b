/**
 * `kvm->arch.possible_nx_huge_pages` (kvm_host.h:1371, mmu.c:779-836): the per-VM list of tables
 * that exist only because the NX huge page mitigation refused an executable huge page, TDP MMU
 * and shadow MMU tables on the one list (v6.16.1 has a single list; `kvm_recover_nx_huge_pages`
 * tells them apart with `is_tdp_mmu_page`). Oldest first: a Set iterates in insertion order, as
 * `list_add_tail` + `list_first_entry`. Its size is the `nx_lpage_splits` stat.
 */
import { Counters, type VmStatName } from '../events/stats';
import { checkBool, checkInt, refuse } from '../validate/checks';

/** A table the list can hold: an object with the NX flag and a frame number (a TdpPage or ShadowPage). */
function checkSplitPage(name: string, v: unknown): void {
  if (typeof v !== 'object' || v === null) refuse(name, 'nx-split-page', 'must be a TDP or shadow page', v);
  checkBool(`${name}.nxHugePageDisallowed`, (v as NxSplitPage).nxHugePageDisallowed);
  checkInt(`${name}.gfn`, (v as NxSplitPage).gfn, { max: 2 ** 40 - 1 });
}

/** What the list needs of a table (`struct kvm_mmu_page`). */
export interface NxSplitPage {
  nxHugePageDisallowed: boolean;
  readonly gfn: number;
}

export class PossibleNxHugePages<P extends NxSplitPage = NxSplitPage> implements Iterable<P> {
  private readonly list = new Set<P>();

  constructor(private readonly stats: Counters<VmStatName>) {
    if (!(stats instanceof Counters)) refuse('stats', 'counters', 'must be the VM statistics (Counters)', stats);
  }

  /** `track_possible_nx_huge_page`: once per table, however often it is linked (mmu.c:789-790). */
  track(sp: P): void {
    checkSplitPage('sp', sp);
    if (this.list.has(sp)) return;
    this.stats.inc('nx_lpage_splits');
    this.list.add(sp);
  }

  /** `untrack_possible_nx_huge_page`. */
  untrack(sp: P): void {
    checkSplitPage('sp', sp);
    if (!this.list.delete(sp)) return;
    this.stats.inc('nx_lpage_splits', -1);
  }

  /** `unaccount_nx_huge_page` (mmu.c:831-836). */
  unaccount(sp: P): void {
    checkSplitPage('sp', sp);
    sp.nxHugePageDisallowed = false;
    this.untrack(sp);
  }

  /** `list_first_entry`, or undefined when empty. */
  first(): P | undefined {
    return this.list.values().next().value;
  }

  has(sp: P): boolean {
    checkSplitPage('sp', sp);
    return this.list.has(sp);
  }

  get size(): number {
    return this.list.size;
  }

  [Symbol.iterator](): Iterator<P> {
    return this.list.values();
  }
}
