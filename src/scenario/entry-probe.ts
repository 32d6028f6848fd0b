/**
 * Probing one guest paging-structure entry: set bits in it, run something (a walk, an access),
 * put the entry back. Reserved-bit and permission experiments need the table intact afterwards,
 * so the restore runs even when the probe throws.
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { checkBigint, refuse } from '../validate/checks';
import type { Gva } from '../address/address';

export function withEntryBits<T>(b: PageTableBuilder, va: Gva | bigint, level: number, bits: bigint, probe: () => T): T {
  // The builder checks va and level (getEntry); bits and the probe are checked before the entry changes.
  if (!(b instanceof PageTableBuilder)) refuse('b', 'builder', 'must be a PageTableBuilder', b);
  checkBigint('bits', bits);
  if (typeof probe !== 'function') refuse('probe', 'function-type', 'must be a function', probe);
  const orig = b.getEntry(va, level).value;
  b.setEntry(va, level, orig | bits);
  try {
    return probe();
  } finally {
    b.setEntry(va, level, orig);
  }
}
