/** Geometry of each table format the builder can write. */
import { PageSizeError } from '../errors';
import { checkEnum } from '../validate/checks';
import { checkGeometry, checkLevel } from './check-geometry';

export type TableMode = 'paging32' | 'pae' | 'paging4' | 'paging5' | 'ept4' | 'ept5';
export type PageSize = '4K' | '2M' | '4M' | '1G';
export const PAGE_SIZES: readonly PageSize[] = Object.freeze(['4K', '2M', '4M', '1G']);

export interface TableGeometry {
  mode: TableMode;
  /** Levels, counting the PAE PDPT as level 3. */
  levels: number;
  entryBytes: 4 | 8;
  indexBits: 9 | 10;
  ept: boolean;
  /** Width of the translated address: 32 (32-bit/PAE), 48, 57, or EPT 48/57. */
  vaBits: number;
  /** Which leaf levels exist. */
  sizes: Partial<Record<PageSize, number>>;
}

export const GEOMETRY: Readonly<Record<TableMode, TableGeometry>> = Object.freeze({
  paging32: { mode: 'paging32', levels: 2, entryBytes: 4, indexBits: 10, ept: false, vaBits: 32, sizes: { '4K': 1, '4M': 2 } },
  pae: { mode: 'pae', levels: 3, entryBytes: 8, indexBits: 9, ept: false, vaBits: 32, sizes: { '4K': 1, '2M': 2 } },
  paging4: { mode: 'paging4', levels: 4, entryBytes: 8, indexBits: 9, ept: false, vaBits: 48, sizes: { '4K': 1, '2M': 2, '1G': 3 } },
  paging5: { mode: 'paging5', levels: 5, entryBytes: 8, indexBits: 9, ept: false, vaBits: 57, sizes: { '4K': 1, '2M': 2, '1G': 3 } },
  ept4: { mode: 'ept4', levels: 4, entryBytes: 8, indexBits: 9, ept: true, vaBits: 48, sizes: { '4K': 1, '2M': 2, '1G': 3 } },
  ept5: { mode: 'ept5', levels: 5, entryBytes: 8, indexBits: 9, ept: true, vaBits: 57, sizes: { '4K': 1, '2M': 2, '1G': 3 } },
});

const KNOWN: readonly TableGeometry[] = Object.freeze(Object.values(GEOMETRY));

/** The level of a leaf of `size` in `g` (PageSizeError when the mode has no such pages). */
export function leafLevelOf(g: TableGeometry, size: PageSize): number {
  checkGeometry('g', g, KNOWN);
  // Own membership first: `g.sizes['toString']` is Object.prototype's function, not a level.
  checkEnum('size', size, PAGE_SIZES);
  const l = Object.prototype.hasOwnProperty.call(g.sizes, size) ? g.sizes[size] : undefined;
  if (l === undefined) {
    throw new PageSizeError(
      'page-size-for-mode',
      `${g.mode} has no ${size} pages (it has ${Object.keys(g.sizes).join(', ')})`,
      size,
    );
  }
  return l;
}

/** Bytes covered by one entry at a level. */
export function levelSpan(g: TableGeometry, level: number): number {
  checkLevel('level', level, checkGeometry('g', g, KNOWN));
  return 2 ** (12 + g.indexBits * (level - 1));
}
