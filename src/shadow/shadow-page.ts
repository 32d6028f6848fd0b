/**
 * A shadow page (`struct kvm_mmu_page` of the legacy shadow MMU, reference §8.1): one host frame
 * of 512 SPTEs that shadows a guest page table (indirect) or maps a linear GFN range (direct),
 * keyed by (gfn, role). Parent links, the unsync bookkeeping and the recorded guest translation
 * of each entry live here; the SPTEs themselves live in the host frame so that the hardware walk
 * is the generic walker over host memory.
 */
import { PageRole } from '../role/page-role';
import { checkInt, refuse } from '../validate/checks';
import { GFN_MAX, checkGfn } from '../vm/vm-args';

/**
 * An entry index of a page of 512 SPTEs (check-shadow-args.ts imports this file, so the check is
 * here). Only the public accessors call it; the MMU's own paths use the …Unchecked ones.
 */
function checkEntry(name: string, v: unknown): number {
  return checkInt(name, v, { max: 511 });
}

/** A pointer to one SPTE: the page holding it and its index (KVM's `u64 *sptep`). */
export interface SptePtr {
  readonly sp: ShadowPage;
  readonly idx: number;
}

export class ShadowPage {
  role: PageRole;
  readonly gfn: number;
  /** Host frame holding the 512 SPTEs (`sp->spt`). */
  readonly pfn: number;
  /** `kvm->arch.mmu_valid_gen` at creation: a different current generation makes the page obsolete. */
  readonly mmuValidGen: number;
  unsync = false;
  /** Set bits of `unsyncChildBitmap`. */
  unsyncChildren = 0;
  readonly unsyncChildBitmap = new Uint8Array(512);
  /** `parent_ptes`: every SPTE that links to this page. */
  readonly parentPtes: SptePtr[] = [];
  /** Vcpu root references (`root_count`). */
  rootCount = 0;
  writeFloodingCount = 0;
  nxHugePageDisallowed = false;
  /**
   * `shadowed_translation`: the guest frame and ACC each entry was built from; only indirect pages
   * of level ≤ 3 keep it (above that every entry is a table link and the gfn follows from the role).
   */
  readonly translationGfn: Float64Array | undefined;
  readonly translationAccess: Uint8Array | undefined;

  constructor(role: PageRole, gfn: number, pfn: number, gen: number) {
    if (!(role instanceof PageRole)) refuse('role', 'page-role', 'must be a PageRole', role);
    checkGfn('gfn', gfn);
    checkInt('pfn', pfn, { max: GFN_MAX });
    // kvm->arch.mmu_valid_gen is flipped between 0 and 1 by the fast zap (ShadowMmu.zapAllFast).
    checkInt('gen', gen, { max: 1 });
    this.role = role;
    this.gfn = gfn;
    this.pfn = pfn;
    this.mmuValidGen = gen;
    if (!role.direct && role.level <= 3) {
      this.translationGfn = new Float64Array(512);
      this.translationAccess = new Uint8Array(512);
    }
  }

  get level(): number {
    return this.role.level;
  }

  /** `sp_has_gptes`: the page shadows a real guest table (it is write-tracked or may go unsync). */
  get hasGptes(): boolean {
    return !this.role.direct && !this.role.passthrough;
  }

  /** `kvm_mmu_page_get_gfn(sp, i)`. */
  gfnOf(i: number): number {
    return this.gfnOfUnchecked(checkEntry('i', i));
  }

  gfnOfUnchecked(i: number): number {
    if (this.role.passthrough) return this.gfn;
    if (this.translationGfn !== undefined) return this.translationGfn[i]!;
    return this.gfn + i * 2 ** (9 * (this.role.level - 1));
  }

  /** `kvm_mmu_page_get_access(sp, i)`. */
  accessOf(i: number): number {
    return this.accessOfUnchecked(checkEntry('i', i));
  }

  accessOfUnchecked(i: number): number {
    return this.translationAccess !== undefined ? this.translationAccess[i]! : this.role.access;
  }

  /** `kvm_mmu_page_set_translation`; ACC is at most 4 bits (7.3's ACC_ALL 0xf). */
  setTranslation(i: number, gfn: number, access: number): void {
    checkEntry('i', i);
    checkGfn('gfn', gfn);
    checkInt('access', access, { max: 0xf });
    this.setTranslationUnchecked(i, gfn, access);
  }

  setTranslationUnchecked(i: number, gfn: number, access: number): void {
    if (this.translationGfn !== undefined) {
      this.translationGfn[i] = gfn;
      this.translationAccess![i] = access;
    }
  }

  toString(): string {
    return `ShadowPage(gfn 0x${this.gfn.toString(16)}, level ${this.level}, role 0x${this.role.word.toString(16)}${this.unsync ? ', unsync' : ''}${this.role.invalid ? ', invalid' : ''})`;
  }
}
