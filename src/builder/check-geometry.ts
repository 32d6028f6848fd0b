/** Argument checks shared by the table-geometry helpers (table-mode.ts, entry-flags.ts). */
import { refuse, checkInt } from '../validate/checks';
import type { TableGeometry } from './table-mode';

/**
 * `g` must be one of the frozen geometries (GEOMETRY's values), by identity: a look-alike object
 * could carry any `sizes` or `levels`, and `sizes['toString']` is a function on every object.
 */
export function checkGeometry(name: string, g: unknown, known: readonly TableGeometry[]): TableGeometry {
  if (!known.includes(g as TableGeometry)) refuse(name, 'table-geometry', 'must be one of GEOMETRY\'s values (a table mode\'s geometry)', g);
  return g as TableGeometry;
}

/** A table level of `g`: 1 (the leaf tables) up to its root level. */
export function checkLevel(name: string, level: unknown, g: TableGeometry): number {
  return checkInt(name, level, { min: 1, max: g.levels });
}
