/**
 * Walk2D's successful record (walk-2d.ts), made by a constructor on the records' prototype: `new`
 * costs what an object literal costs, where `asNestedRecord`'s setPrototypeOf on a finished object
 * was a tenth of a 2D record walk (V8 gives the object a new map). The fields are assigned in the
 * order `{ ...base, ngpa, nestedPageFault, ...info }` gives, all in the constructor: V8 then sizes
 * the object for all twenty, where an empty constructor's object held ten and grew a property
 * array for the others. The result is the same: an own field per key, in that order, on
 * NESTED_RECORD_PROTO. A module of its own, not exported by src/index.ts: walk-2d.ts and
 * bench/record-floor-2d.ts (which makes its records as walk() does, on the same map) use it.
 */
import type { Gfn, Gpa, Gva, Ngpa } from '../address/address';
import type { Access } from '../walker/access';
import type { WalkStep } from '../walker/walk-result';
import { NESTED_RECORD_PROTO } from './ngpa-walk-result';
import type { MemRef2D, Walk2DOk } from './walk-2d-result';

export type Walk2DOkFields = [Gva, Access, WalkStep[], Gpa, Gfn, number, number, number, number, Walk2DOk['gpaKind'], number, Ngpa, number, number, readonly MemRef2D[], number, readonly Ngpa[]];
export const OkRecord = function OkRecord(
  this: Walk2DOk, address: Gva, access: Access, trace: WalkStep[], gpa: Gpa, gfn: Gfn, level: number, pageSize: number, pteAccess: number, pkey: number,
  gpaKind: Walk2DOk['gpaKind'], adUpdates: number, ngpa: Ngpa, guestLevels: number, nestedLevels: number, refs: readonly MemRef2D[], refCount: number, dirtyLogged: readonly Ngpa[],
): void {
  this.status = 'ok';
  this.stage = 'gva_walk';
  this.address = address;
  this.access = access;
  this.trace = trace;
  this.gpa = gpa;
  this.gfn = gfn;
  this.level = level;
  this.pageSize = pageSize;
  this.pteAccess = pteAccess;
  this.pkey = pkey;
  this.gpaKind = gpaKind;
  this.adUpdates = adUpdates;
  this.ngpa = ngpa;
  this.nestedPageFault = false;
  this.guestLevels = guestLevels;
  this.nestedLevels = nestedLevels;
  this.refs = refs;
  this.refCount = refCount;
  this.dirtyLogged = dirtyLogged;
} as unknown as new (...f: Walk2DOkFields) => Walk2DOk;
OkRecord.prototype = NESTED_RECORD_PROTO;
