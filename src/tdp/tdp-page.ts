/** A TDP MMU shadow page (`struct kvm_mmu_page` with `tdp_mmu_page = true`). Its table lives in a host frame. */
import type { PageRole } from '../role/page-role';

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
  return 2 ** (9 * (level - 1));
}

export function spteIndex(gfn: number, level: number): number {
  return Math.floor(gfn / pagesPerEntry(level)) % 512;
}
