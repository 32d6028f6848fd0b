/**
 * Probing one guest paging-structure entry: set bits in it, run something (a walk, an access),
 * put the entry back. Reserved-bit and permission experiments need the table intact afterwards,
 * so the restore runs even when the probe throws.
 */
import type { PageTableBuilder } from '../builder/page-table-builder';
import type { Gva } from '../address/address';

export function withEntryBits<T>(b: PageTableBuilder, va: Gva | bigint, level: number, bits: bigint, probe: () => T): T {
  const orig = b.getEntry(va, level).value;
  b.setEntry(va, level, orig | bits);
  try {
    return probe();
  } finally {
    b.setEntry(va, level, orig);
  }
}
