/** Encoding of leaf entries from named flags (SDM Vol. 3A tables 4-4..4-20; EPT §6.2 of the reference). */
import { PageTableBuildError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { GEOMETRY, type TableGeometry } from './table-mode';
import { checkObject } from '../validate/checks';
import { checkGeometry, checkLevel } from './check-geometry';

const KNOWN: readonly TableGeometry[] = Object.freeze(Object.values(GEOMETRY));

export interface X86Flags {
  writable?: boolean;
  user?: boolean;
  /** XD (bit 63); not in 32-bit paging. */
  nx?: boolean;
  /** Protection key 0..15 (bits 62:59); 4/5-level paging only. */
  pkey?: number;
  pwt?: boolean;
  pcd?: boolean;
  pat?: boolean;
  global?: boolean;
  accessed?: boolean;
  dirty?: boolean;
  /** Clear P: write a non-present entry that still carries the other bits. */
  notPresent?: boolean;
}

export interface EptFlags {
  read?: boolean;
  write?: boolean;
  exec?: boolean;
  /** Memory type 0..7 (bits 5:3), default 6 (WB). */
  memType?: number;
  ipat?: boolean;
  accessed?: boolean;
  dirty?: boolean;
  /** Bit 10: user-mode execute with MBEC. */
  userExec?: boolean;
  suppressVe?: boolean;
}

export type EntryFlags = X86Flags | EptFlags;

function fail(rule: string, msg: string, v: unknown): never {
  throw new PageTableBuildError(rule, msg, describeValue(v));
}

/** Every named flag is a boolean (a truthy 'yes' is not a flag value); `numeric` ones are checked by their own rule. */
function checkFlagTypes(flags: object, numeric: string): void {
  for (const [k, v] of Object.entries(flags)) {
    if (k !== numeric && v !== undefined && typeof v !== 'boolean') fail('flag-type', `flags.${k} must be true or false`, v);
  }
}

/** The flag bits of a leaf entry at `level` (without the address), as halves [lo, hi]. */
export function leafFlagBits(g: TableGeometry, level: number, flags: EntryFlags): [number, number] {
  checkLevel('level', level, checkGeometry('g', g, KNOWN));
  checkObject('flags', flags);
  let lo = 0;
  let hi = 0;
  if (g.ept) {
    const f = flags as EptFlags;
    for (const k of Object.keys(f)) {
      if (!['read', 'write', 'exec', 'memType', 'ipat', 'accessed', 'dirty', 'userExec', 'suppressVe'].includes(k)) {
        fail('flag-for-format', `flag "${k}" does not exist in EPT entries`, k);
      }
    }
    checkFlagTypes(f, 'memType');
    const mt = f.memType ?? 6;
    if (!Number.isInteger(mt) || mt < 0 || mt > 7) fail('ept-memtype', 'flags.memType (the EPT memory type) is 0..7', mt);
    if (f.read ?? true) lo |= 1;
    if (f.write ?? true) lo |= 2;
    if (f.exec ?? true) lo |= 4;
    lo |= mt << 3;
    if (f.ipat) lo |= 1 << 6;
    if (level > 1) lo |= 1 << 7;
    if (f.accessed) lo |= 1 << 8;
    if (f.dirty) lo |= 1 << 9;
    if (f.userExec) lo |= 1 << 10;
    if (f.suppressVe) hi |= 1 << 31;
    return [lo >>> 0, hi >>> 0];
  }
  const f = flags as X86Flags;
  for (const k of Object.keys(f)) {
    if (!['writable', 'user', 'nx', 'pkey', 'pwt', 'pcd', 'pat', 'global', 'accessed', 'dirty', 'notPresent'].includes(k)) {
      fail('flag-for-format', `flag "${k}" does not exist in x86 paging entries`, k);
    }
  }
  checkFlagTypes(f, 'pkey');
  if (!f.notPresent) lo |= 1;
  if (f.writable) lo |= 2;
  if (f.user) lo |= 4;
  if (f.pwt) lo |= 8;
  if (f.pcd) lo |= 16;
  if (f.accessed) lo |= 32;
  if (f.dirty) lo |= 64;
  if (level > 1) lo |= 128;
  if (f.global) lo |= 256;
  if (f.pat) lo |= level > 1 ? 1 << 12 : 128;
  if (f.nx) {
    if (g.entryBytes === 4) fail('nx-in-32-bit', '32-bit paging entries have no XD bit', 'nx');
    hi |= 1 << 31;
  }
  const pk = f.pkey ?? 0;
  if (!Number.isInteger(pk) || pk < 0 || pk > 15) fail('pkey-range', 'flags.pkey (a protection key) is 0..15', pk);
  if (pk !== 0) {
    if (g.levels < 4) fail('pkey-mode', 'protection keys exist only in 4- and 5-level paging', g.mode);
    hi |= pk << 27;
  }
  return [lo >>> 0, hi >>> 0];
}
