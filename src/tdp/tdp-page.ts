/** A TDP MMU shadow page (`struct kvm_mmu_page` with `tdp_mmu_page = true`). Its table lives in a host frame. */
import { PageRole } from '../role/page-role';
import { checkInt, refuse } from '../validate/checks';

/** Frame numbers of 52-bit physical addresses have 40 bits (MAXPHYADDR <= 52, SDM Vol. 3A 4.1.4). */
const FRAME_MAX = 2 ** 40 - 1;

export class TdpPage {
  role: PageRole;
  /** First GFN mapped by entry 0. */
  readonly gfn: number;
  /** Host frame holding the 512 SPTEs. */
  readonly pfn: number;
  readonly parent: TdpPage | null;
  readonly parentIndex: number;
  /** Roots: `tdp_mmu_root_count`. */
  refcount = 0;
  /** Created while a huge page was disallowed by the NX mitigation. */
  nxHugePageDisallowed = false;

  constructor(role: PageRole, gfn: number, pfn: number, parent: TdpPage | null, parentIndex: number) {
    if (!(role instanceof PageRole)) refuse('role', 'page-role', 'must be a PageRole', role);
    checkInt('gfn', gfn, { max: FRAME_MAX });
    checkInt('pfn', pfn, { max: FRAME_MAX });
    if (parent !== null && !(parent instanceof TdpPage)) refuse('parent', 'tdp-page', 'must be a TdpPage or null (a root)', parent);
    checkInt('parentIndex', parentIndex, { max: 511 });
    this.role = role;
    this.gfn = gfn;
    this.pfn = pfn;
    this.parent = parent;
    this.parentIndex = parentIndex;
  }

  get level(): number {
    return this.role.level;
  }

  get isRoot(): boolean {
    return this.parent === null;
  }
}

/** 512^(level-1): 4 KiB pages covered by one entry at `level`. */
export function pagesPerEntry(level: number): number {
  return pagesPerEntryUnchecked(checkInt('level', level, { min: 1, max: 5 }));
}

/** 512^(level-1) by level, 0..5 (level 0 as the formula gives it). */
const PAGES_PER_ENTRY: readonly number[] = [2 ** -9, 1, 512, 2 ** 18, 2 ** 27, 2 ** 36];

/**
 * `pagesPerEntry` for the TDP MMU's loops, whose levels are their tables' own. A table lookup:
 * `2 ** x` with a variable exponent is a call to the C library's pow (a fifth of a TDP sweep
 * job's CPU time went there: spteIndexUnchecked divides by this at every level of every walk).
 */
export function pagesPerEntryUnchecked(level: number): number {
  return PAGES_PER_ENTRY[level] ?? 2 ** (9 * (level - 1));
}

/** The index of `gfn`'s entry in a table at `level` (`SPTE_INDEX`); gfn below 2^40 (52-bit GPAs). */
export function spteIndex(gfn: number, level: number): number {
  return spteIndexUnchecked(checkInt('gfn', gfn, { max: FRAME_MAX }), checkInt('level', level, { min: 1, max: 5 }));
}

export function spteIndexUnchecked(gfn: number, level: number): number {
  return Math.floor(gfn / pagesPerEntryUnchecked(level)) % 512;
}
