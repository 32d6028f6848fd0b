/**
 * A TD's address-width configuration (reference §11.1): the guest physical address width picks
 * the S-EPT depth and the shared bit — GPAW 48 → bit 47 (4-level), GPAW 52 → bit 51 (5-level)
 * (`TDX_SHARED_BIT_PWL_4/5`) — and `kvm->arch.gfn_direct_bits` is that bit as a gfn mask.
 */
import { InvalidArgumentError, MmulabError, hex } from '../errors';
import { checkBigint, checkInt, refuse } from '../validate/checks';
import { describeValue } from '../validate/describe-value';

/** GFNs of 52-bit GPAs have 40 bits. */
const MAX_GFN = 2 ** 40 - 1;

/** A VM configuration that cannot exist (e.g. a TD with shadow paging); nothing is created. */
export class ImpossibleConfigurationError extends MmulabError {}

export interface TdConfig {
  readonly gpaw: 48 | 52;
  /** GPA bit that selects the shared alias. */
  readonly sharedBit: 47 | 51;
  /** `kvm_gfn_direct_bits`: the shared bit as a gfn (a power of two; never combined with bitwise ops). */
  readonly gfnDirectBits: number;
  /** The shared bit as a GPA mask. */
  readonly gpaSharedMask: bigint;
  /** S-EPT / shared-EPT depth. */
  readonly level: 4 | 5;
}

export function makeTdConfig(gpaw: unknown): TdConfig {
  if (gpaw !== 48 && gpaw !== 52) {
    throw new InvalidArgumentError('td-gpaw', 'gpaw: a TD\'s guest physical address width (GPAW) is 48 (4-level S-EPT) or 52 (5-level)', describeValue(gpaw));
  }
  const sharedBit = gpaw === 48 ? 47 : 51;
  return Object.freeze({ gpaw, sharedBit, gfnDirectBits: 2 ** (sharedBit - 12), gpaSharedMask: 1n << BigInt(sharedBit), level: gpaw === 48 ? 4 : 5 });
}

/** `kvm_is_addr_direct` for a TD: direct = the shared bit is set. */
/**
 * A config made by makeTdConfig: the few compares here are all the TD paths pay (a plain object
 * or a number would otherwise end in a TypeError from bigint arithmetic).
 */
export function checkTdConfig(td: unknown, name = 'td'): TdConfig {
  const c = td as TdConfig;
  if (typeof td === 'object' && td !== null && (c.gpaw === 48 || c.gpaw === 52) && typeof c.gpaSharedMask === 'bigint' && (c.sharedBit === 47 || c.sharedBit === 51)) return c;
  return refuse(name, 'td-config', 'must be a TD config made by makeTdConfig', td);
}

export function isAddrDirect(td: TdConfig, gpa: bigint): boolean {
  checkTdConfig(td);
  checkBigint('gpa', gpa);
  return (gpa & td.gpaSharedMask) !== 0n;
}

/** `kvm_is_gfn_alias`: the gfn carries the shared bit. */
export function isGfnAlias(td: TdConfig, gfn: number): boolean {
  checkTdConfig(td);
  if (typeof gfn !== 'number' || !Number.isSafeInteger(gfn) || gfn < 0 || gfn > MAX_GFN) checkInt('gfn', gfn, { max: MAX_GFN });
  return Math.floor(gfn / td.gfnDirectBits) % 2 === 1;
}

/** The natural gfn of a GPA (`gpa_to_gfn(gpa) & ~gfn_direct_bits`), after checking it fits GPAW. */
export function naturalGfn(td: TdConfig, gpa: bigint): number {
  checkTdConfig(td);
  if (typeof gpa !== 'bigint') checkBigint('gpa', gpa);
  if (gpa < 0n || gpa >> BigInt(td.gpaw) !== 0n) {
    throw new InvalidArgumentError('td-gpa-beyond-gpaw', `gpa: a TD GPA has ${td.gpaw} bits (GPAW); bits above the shared bit ${td.sharedBit} do not exist`, hex(gpa));
  }
  return Number((gpa & ~td.gpaSharedMask) >> 12n);
}
