/**
 * Records of a 2D walk (an L2 access through L2's own tables and L1's EPT12/NPT12): the outcome,
 * and every memory reference in the order it happened.
 */
import type { Gpa, Gva, Ngpa } from '../address/address';
import type { WalkFault, WalkOk } from '../walker/walk-result';
import type { NestedExit } from './nested-exit';
import type { NgpaWalkFault } from './ngpa-walk-result';

export interface MemRef2D {
  /** 1-based position in the walk. */
  seq: number;
  /** 'nested': an EPT12/NPT12 entry read by ngpa walk; 'guest': one of L2's own entries. */
  kind: 'nested' | 'guest';
  /** The L2 level whose table this reference reaches or reads (n..1), or 0 for the final translation. */
  guestLevel: number;
  /** Level of the entry read: nested level for 'nested', L2 level for 'guest'. */
  level: number;
  /** Where the read went: the L1 GPA of the entry. */
  gpa: Gpa;
  /** 'guest': the entry's nGPA (L2's view of it); 'nested': the nGPA being translated. */
  ngpa: Ngpa;
  value: bigint;
  /** The value after the walker set A/D. */
  updated?: bigint;
}

export interface Walk2DInfo {
  /** n: L2 levels read from memory (PAE: 2; paging off: 0). */
  guestLevels: number;
  /** m: nested levels (PAE NPT12: 3, its PDPTEs are read from memory). */
  nestedLevels: number;
  refs: readonly MemRef2D[];
  refCount: number;
  /** nGPA pages passed to `write_log_dirty` by the EPT12 A/D updates of this walk. */
  dirtyLogged: readonly Ngpa[];
}

/** Success: `gpa` is L1's GPA of the data, `ngpa` L2's; `trace` has L2's levels (entry GPAs in L1). */
export interface Walk2DOk extends WalkOk, Walk2DInfo {
  stage: 'gva_walk';
  address: Gva;
  ngpa: Ngpa;
  nestedPageFault: false;
}

/** A #PF for L2 from its own tables (`nested_page_fault` = false). */
export interface Walk2DGuestFault extends WalkFault, Walk2DInfo {
  stage: 'gva_walk';
  address: Gva;
  nestedPageFault: false;
}

/**
 * The ngpa walk faulted: an EPT violation/misconfiguration or NPF exit to L1. The WalkFault fields
 * (error code, reason, detail, level, trace) are the nested walk's.
 */
export interface Walk2DNestedFault extends WalkFault, Walk2DInfo {
  stage: 'ngpa_walk';
  address: Gva;
  nestedPageFault: true;
  /** A guest paging-structure access (L2 table) or the final translation of the data. */
  during: 'paging-structure' | 'final';
  /** L2 level whose table could not be reached, 0 for the final translation. */
  guestLevel: number;
  /** The nGPA the nested walk translated (page-aligned, as KVM passes it). */
  ngpa: Ngpa;
  misconfig: boolean;
  exit: NestedExit;
  nested: NgpaWalkFault;
}

export type Walk2DFault = Walk2DGuestFault | Walk2DNestedFault;
export type Walk2DResult = Walk2DOk | Walk2DFault;
