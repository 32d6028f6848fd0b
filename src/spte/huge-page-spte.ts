/**
 * SPTEs made from other SPTEs when a huge page is split or recovered (`spte.c: make_small_spte`,
 * `make_huge_spte`). Both keep every bit of the source SPTE but the address bits and the page
 * size; the NX huge page mitigation then adjusts execute permission, because it only forbids
 * executable *huge* pages.
 */
import { PT_PAGE_SIZE_MASK, type SpteConfig } from './spte-config';
import { isAccessTrack, isLargePte, isShadowPresent, markSpteForAccessTrack, restoreAccTrackSpte } from './spte';
import { InvalidArgumentError } from '../errors';

/**
 * `modify_spte_protections`: set and clear permission bits of an SPTE that may be access-tracked
 * (its R/X bits are then saved in the high bits: restore, change, track again).
 */
function modifySpteProtections(c: SpteConfig, spte: bigint, set: bigint, clear: bigint): bigint {
  const tracked = isAccessTrack(c, spte);
  let s = tracked ? restoreAccTrackSpte(c, spte) : spte;
  s = (s | set) & ~clear;
  return tracked ? markSpteForAccessTrack(c, s) : s;
}

/** `make_spte_executable` (7.3 `change_spte_executable(…, true)`: XS and XU together, kvm-7x.md §1.6). */
export function makeSpteExecutable(c: SpteConfig, spte: bigint): bigint {
  return modifySpteProtections(c, spte, c.xMask | c.xuMask, c.nxMask);
}

/** `make_spte_nonexecutable` (7.3 `change_spte_executable(…, false)`). */
export function makeSpteNonexecutable(c: SpteConfig, spte: bigint): bigint {
  return modifySpteProtections(c, spte, c.nxMask, c.xMask | c.xuMask);
}

/** 4 KiB pages one entry at `level` covers (`KVM_PAGES_PER_HPAGE`). */
function pagesPerHpage(level: number): number {
  return 2 ** (9 * (level - 1));
}

/** KVM_BUG_ON in KVM: callers pass present SPTEs only (and huge ones to a split). */
function requirePresent(spte: bigint, fn: string, huge: boolean): void {
  if (isShadowPresent(spte) && (!huge || isLargePte(spte))) return;
  throw new InvalidArgumentError('spte-not-huge', `${fn} needs a present${huge ? ' huge' : ''} SPTE`, '0x' + spte.toString(16));
}

/**
 * `make_small_spte(kvm, huge_spte, role, index)`: the SPTE of entry `index` of the table that
 * replaces `huge` (`role` is the child table's: level and access). A 4 KiB child of a table whose
 * role allows execution is made executable when the NX huge page mitigation is on: the huge SPTE
 * had X cleared only because it was huge (spte.c:316-323).
 */
export function makeSmallSpte(c: SpteConfig, huge: bigint, role: { level: number; access: number }, index: number): bigint {
  requirePresent(huge, 'make_small_spte', true);
  let s = huge | (BigInt(index * pagesPerHpage(role.level)) << 12n);
  if (role.level === 1) {
    s &= ~PT_PAGE_SIZE_MASK;
    if ((role.access & c.acc.EXEC) !== 0 && c.nxHugePages) s = makeSpteExecutable(c, s);
  }
  return s;
}

/**
 * `make_huge_spte(kvm, small_spte, level)`: a huge SPTE at `level` built from one of the small
 * SPTEs it replaces (address rounded down to the huge page), non-executable under the NX huge
 * page mitigation.
 */
export function makeHugeSpte(c: SpteConfig, small: bigint, level: number): bigint {
  requirePresent(small, 'make_huge_spte', false);
  if (level <= 1) throw new InvalidArgumentError('huge-spte-level', 'a huge SPTE is at level 2 or above', String(level));
  let s = small | PT_PAGE_SIZE_MASK;
  s &= ~(BigInt(pagesPerHpage(level) - 1) << 12n);
  return c.nxHugePages ? makeSpteNonexecutable(c, s) : s;
}
