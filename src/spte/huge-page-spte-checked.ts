/** The public edge of huge-page-spte.ts: arguments checked, then the engine's functions. */
import * as u from './huge-page-spte';
import { checkAcc, checkSpte, checkSpteConfig, checkSpteLevel } from './check-spte-args';
import { checkInt, checkObject } from '../validate/checks';
import type { SpteConfig } from './spte-config';

export * from './huge-page-spte';

export function makeSpteExecutable(c: SpteConfig, spte: bigint): bigint {
  return u.makeSpteExecutable(checkSpteConfig(c), checkSpte('spte', spte));
}
export function makeSpteNonexecutable(c: SpteConfig, spte: bigint): bigint {
  return u.makeSpteNonexecutable(checkSpteConfig(c), checkSpte('spte', spte));
}
/** `role.level` is the child table's: 1 up to one below the largest huge page level. */
export function makeSmallSpte(c: SpteConfig, huge: bigint, role: { level: number; access: number }, index: number): bigint {
  const cc = checkSpteConfig(c);
  const r = checkObject<{ level: number; access: number }>('role', role);
  const level = checkSpteLevel('role.level', r.level, cc.maxHugePageLevel - 1);
  return u.makeSmallSpte(cc, checkSpte('huge', huge), { level, access: checkAcc(cc, 'role.access', r.access) }, checkInt('index', index, { max: 511 }));
}
export function makeHugeSpte(c: SpteConfig, small: bigint, level: number): bigint {
  const cc = checkSpteConfig(c);
  // Level 1 reaches make_huge_spte's own refusal (rule huge-spte-level).
  return u.makeHugeSpte(cc, checkSpte('small', small), checkSpteLevel('level', level, cc.maxHugePageLevel));
}
