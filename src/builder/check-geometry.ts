/**
 * Argument checks shared by the table-geometry helpers (table-mode.ts, entry-flags.ts). Generic
 * over the geometry type, so this file needs no import from table-mode.ts (which imports it).
 */
import { refuse, checkInt } from '../validate/checks';

/**
 * `g` must be one of the frozen geometries (GEOMETRY's values), by identity: a look-alike object
 * could carry any `sizes` or `levels`, and `sizes['toString']` is a function on every object.
 */
export function checkGeometry<G>(name: string, g: unknown, known: readonly G[]): G {
  if (!known.includes(g as G)) refuse(name, 'table-geometry', 'must be one of GEOMETRY\'s values (a table mode\'s geometry)', g);
  return g as G;
}

/** A table level of `g`: 1 (the leaf tables) up to its root level. */
export function checkLevel(name: string, level: unknown, g: { readonly levels: number }): number {
  return checkInt(name, level, { min: 1, max: g.levels });
}
