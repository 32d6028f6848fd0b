/**
 * `walkTables` as the public API exports it: the inputs and the (hi, lo, access) numbers checked
 * first, so a bad value is a typed refusal naming it, never a TypeError from inside the walk or a
 * walk of garbage. The engine's own callers import the unchecked `walkTables` from ./walk.
 */
import { GuestMemory } from '../memory/guest-memory';
import { checkBool, checkInt, checkObject, checkRawWalk, refuse } from '../validate/checks';
import { RAW_ACCESS_BITS } from './access';
import { walkTables, type WalkInputs } from './walk';
import { WalkScratch } from './walk-scratch';

export function walkTablesChecked(w: WalkInputs, s: WalkScratch, vhi: number, vlo: number, access: number): number {
  checkObject('inputs', w);
  if (!(w.mem instanceof GuestMemory)) refuse('inputs.mem', 'guest-memory', 'must be a GuestMemory', w.mem);
  const f = checkObject<WalkInputs['format']>('inputs.format', w.format);
  if (typeof f.rootLevel !== 'number' || f.hot === undefined || (f.indexBits !== 9 && f.indexBits !== 10)) refuse('inputs.format', 'page-format', 'must be a PageFormat (from formatForCpuRole, eptFormat, …)', w.format);
  checkInt('inputs.rootGfn', w.rootGfn, { max: 2 ** 40 - 1 });
  if (w.pdptrs !== undefined && !(w.pdptrs instanceof Uint32Array && w.pdptrs.length === 8)) refuse('inputs.pdptrs', 'pdptrs', 'must be undefined or a Uint32Array of 8 halves', w.pdptrs);
  checkInt('inputs.pdptBase', w.pdptBase, { max: 2 ** 52 - 1 });
  checkInt('inputs.pkru', w.pkru, { max: 0xffff_ffff });
  checkBool('inputs.fetchSetsId', w.fetchSetsId);
  if (w.translate !== undefined && typeof w.translate !== 'function') refuse('inputs.translate', 'function-type', 'must be a function or undefined', w.translate);
  if (w.translateAdWrite !== undefined && typeof w.translateAdWrite !== 'function') refuse('inputs.translateAdWrite', 'function-type', 'must be a function or undefined', w.translateAdWrite);
  for (const k of ['pdpteRsvdFault', 'pdptesFromMemory', 'pdptesUnstaged'] as const) if (w[k] !== undefined) checkBool(`inputs.${k}`, w[k]);
  // The PDPTE read from memory lands in the registers' halves.
  if (w.pdptesFromMemory === true && w.pdptrs === undefined) refuse('inputs.pdptrs', 'pdptrs', 'must be a Uint32Array of 8 halves when pdptesFromMemory is set', w.pdptrs);
  if (!(s instanceof WalkScratch)) refuse('scratch', 'walk-scratch', 'must be a WalkScratch', s);
  checkRawWalk('vhi', vhi, 'vlo', vlo, 'access', access, RAW_ACCESS_BITS);
  return walkTables(w, s, vhi, vlo, access);
}
