/**
 * Argument checks shared by the public SPTE functions (spte-checked.ts, huge-page-spte-checked.ts).
 * The engine calls the unchecked functions of spte.ts directly: its SPTEs and configs are its own.
 */
import { PageSizeError } from '../errors';
import { checkBigint, checkBool, checkInt, checkObject, refuse } from '../validate/checks';
import type { SpteConfig } from './spte-config';

/**
 * A config made by `makeSpteConfig` (or a spread copy of one): the fields the SPTE functions read
 * have their types. A plain object with a `flavour` is not enough: a missing mask would make every
 * bigint operation below throw a TypeError.
 */
export function checkSpteConfig(v: unknown): SpteConfig {
  const c = checkObject<SpteConfig>('config', v);
  const bigints = ['presentMask', 'userMask', 'xMask', 'xuMask', 'nxMask', 'accessedMask', 'dirtyMask', 'accTrackMask', 'hostWritableMask', 'mmuWritableMask', 'mmioValue', 'mmioMask', 'mmioAccessMask', 'zeroCheckBadMtXwr'] as const;
  const ok =
    (c.flavour === 'ept' || c.flavour === 'npt') && (c.kvm === '7.3' || c.kvm === '6.16') &&
    bigints.every((k) => typeof c[k] === 'bigint') && typeof c.layout === 'object' && c.layout !== null &&
    typeof c.layout.adMask === 'bigint' && typeof c.acc === 'object' && c.acc !== null && Array.isArray(c.zeroCheck) &&
    Number.isInteger(c.hostMaxPhyAddr) && Number.isInteger(c.maxHugePageLevel);
  if (!ok) refuse('config', 'spte-config', 'must be an SPTE config made by makeSpteConfig', v);
  return c;
}

/** An SPTE: a u64 bigint. */
export function checkSpte(name: string, v: unknown): bigint {
  return checkBigint(name, v);
}

/** A paging level of an SPTE (1 = 4 KiB … 5 = a PML5 entry). */
export function checkSpteLevel(name: string, v: unknown, max = 5, min = 1): number {
  return checkInt(name, v, { min, max, cls: PageSizeError });
}

/** A host frame number the config's MAXPHYADDR can address. */
export function checkHostPfn(c: SpteConfig, name: string, v: unknown): number {
  return checkInt(name, v, { max: 2 ** (c.hostMaxPhyAddr - 12) - 1 });
}

/** An ACC value of the config's encoding (6.16: 0..7, 7.3: 0..0xf). */
export function checkAcc(c: SpteConfig, name: string, v: unknown): number {
  return checkInt(name, v, { max: c.acc.ALL });
}

export { checkBool };
