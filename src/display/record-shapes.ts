/**
 * What the rich views accept: the records and objects the engine makes, recognised by shape (plain
 * records) or class. A view given anything else refuses it with an error naming the argument
 * (issue 12 item 1) instead of failing deep inside with `Cannot read properties of undefined`
 * or rendering `undefined` rows. `richBundle` uses the same predicates to pick a view.
 */
import type { PageFormat } from '../format/page-format';
import type { WalkResult } from '../walker/walk-result';
import type { NgpaWalkResult } from '../nested/ngpa-walk-result';
import type { Walk2DResult } from '../nested/walk-2d-result';
import { refuse } from '../validate/checks';

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null;
}

function isAccess(x: unknown): boolean {
  return isObj(x) && (x.kind === 'read' || x.kind === 'write' || x.kind === 'fetch');
}

/** A walk record (GvaWalker.walk, NgpaWalker.walk): stage, status, trace, address, access. */
export function isWalkResult(x: unknown): x is WalkResult {
  return isObj(x) && (x.stage === 'gva_walk' || x.stage === 'ngpa_walk') && Array.isArray(x.trace) && (x.status === 'ok' || x.status === 'fault') &&
    typeof x.address === 'bigint' && isAccess(x.access);
}

/** An ngpa walk record: a walk record of stage ngpa_walk with its tables' kind. */
export function isNgpaWalkResult(x: unknown): x is NgpaWalkResult {
  return isWalkResult(x) && x.stage === 'ngpa_walk' && ((x as unknown as Obj).tdp === 'ept' || (x as unknown as Obj).tdp === 'npt');
}

/** A 2D walk record (Walk2D.walk): references in order and the two depths. */
export function isWalk2DResult(x: unknown): x is Walk2DResult {
  return isObj(x) && Array.isArray(x.refs) && (x.status === 'ok' || x.status === 'fault') && typeof x.address === 'bigint' && isAccess(x.access) &&
    Number.isInteger(x.guestLevels) && Number.isInteger(x.nestedLevels) && Number.isInteger(x.refCount);
}

/** A page format (makePageFormat): the reserved-bit matrix, 16 permissions, PKRU mask, ACC encoding. */
export function isPageFormat(x: unknown): x is PageFormat {
  return isObj(x) && typeof x.name === 'string' && Array.isArray(x.rsvdBitsMask) && x.rsvdBitsMask.length === 2 && Array.isArray(x.permissions) &&
    x.permissions.length === 16 && typeof x.pkruMask === 'number' && Number.isInteger(x.rootLevel) && isObj(x.acc) && typeof x.badMtXwr === 'bigint';
}

/** Refuse `v` as argument `name` unless `ok`: "<name> must be <what>". */
export function checkShown(name: string, v: unknown, ok: boolean, what: string): void {
  if (!ok) refuse(name, 'display-record', `must be ${what}`, v);
}
