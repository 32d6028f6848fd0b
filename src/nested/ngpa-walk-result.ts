/** Records of an ngpa walk (L1's EPT12/NPT12, nGPA → GPA): a WalkResult with the nested exit. */
import type { Ngpa } from '../address/address';
import { refuse } from '../validate/checks';
import type { WalkFault, WalkOk } from '../walker/walk-result';
import type { NestedExit } from './nested-exit';
import type { NestedDuring } from './nested-during';

export interface NgpaWalkOk extends WalkOk {
  stage: 'ngpa_walk';
  address: Ngpa;
  tdp: 'ept' | 'npt';
  /** EPT A/D: the walk set D in the leaf, so KVM called `write_log_dirty` (L1's emulated PML). */
  dirtyLogged: boolean;
  /** EPT12/NPT12 entries read from memory. */
  reads: number;
}

export interface NgpaWalkFault extends WalkFault {
  stage: 'ngpa_walk';
  address: Ngpa;
  tdp: 'ept' | 'npt';
  /** `fault.nested_page_fault`: the fault goes to L1 as a VM exit, not to L2. */
  nestedPageFault: true;
  /** EPT misconfiguration (the RSVD path, including bad_mt_xwr), or an NPF with RSVD. */
  misconfig: boolean;
  during: NestedDuring;
  exit: NestedExit;
  reads: number;
}

export type NgpaWalkResult = NgpaWalkOk | NgpaWalkFault;

/**
 * Prototype of ngpa-walk and 2D-walk records. Display code installs the Jupyter.display method on
 * it (display/nested-view.ts), as display/rich.ts does for classes, so records stay plain data.
 */
export const NESTED_RECORD_PROTO: object = {};

/** Give a record the shared prototype (setPrototypeOf: ~7x cheaper than copying onto Object.create). */
export function asNestedRecord<T extends object>(o: T): T {
  if (typeof o !== 'object' || o === null) refuse('o', 'object-type', 'must be a record object', o);
  return Object.setPrototypeOf(o, NESTED_RECORD_PROTO) as T;
}

