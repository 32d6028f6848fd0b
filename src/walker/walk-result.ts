import type { Gfn, Gpa, Gva, Ngpa } from '../address/address';
import type { GpaKind } from '../memory/guest-memory';
import type { Access } from './access';

/** Which translation stage produced a record (later: 'ngpa_walk' for L1's EPT12/NPT12). */
export type WalkStage = 'gva_walk' | 'ngpa_walk';

/**
 * One entry of a walk's trace. Read-only: the gva record walk's fast path (walk-record-fast.ts)
 * hands the same frozen step of a level-2..5 entry to every record that walked through it (level 2:
 * while its step cache holds it).
 */
export interface WalkStep {
  readonly level: number;
  /**
   * 'pdptr-register' for the PAE PDPTE, which comes from a register loaded at MOV CR3 ('memory'
   * when the walk read it through the second stage: SVM nested paging keeps no PDPTE registers);
   * 'no-memory' when the table lies in no memory slot, so nothing could be read (value 0).
   */
  readonly source: 'memory' | 'pdptr-register' | 'no-memory';
  /** GPA of the entry (for the PDPTE register: where it was loaded from). */
  readonly entryGpa: Gpa;
  /** The entry as read. */
  readonly value: bigint;
  readonly present: boolean;
  readonly leaf: boolean;
  /** ACC bits (exec=1, write=2, user=4; EPT: user = readable) accumulated through this level. */
  readonly access: number;
  /** The value after the walker set A/D, when it changed this entry. */
  readonly updated?: bigint;
}

interface WalkCommon {
  stage: WalkStage;
  address: Gva | Ngpa;
  access: Access;
  trace: readonly WalkStep[];
}

export interface WalkOk extends WalkCommon {
  status: 'ok';
  gpa: Gpa;
  gfn: Gfn;
  /** Leaf level: 1 = 4 KiB, 2 = 2/4 MiB, 3 = 1 GiB. */
  level: number;
  pageSize: number;
  /** `walker.pte_access`: ACC after protect_clean_gpte (W dropped on a read of a clean leaf). */
  pteAccess: number;
  pkey: number;
  /** Whether the GPA is RAM, ROM, or covered by no slot (MMIO in later stages). */
  gpaKind: GpaKind;
  /** Number of entries whose A/D bits the walk set. */
  adUpdates: number;
}

export interface WalkFault extends WalkCommon {
  status: 'fault';
  /** #PF error code (P, W, U, RSVD, I/D, PK). */
  errorCode: number;
  errorCodeText: string;
  /** Short machine-readable reason. */
  reason: 'not-present' | 'reserved-bit' | 'protection' | 'table-outside-memory' | 'pdpte-not-present' | 'second-stage';
  /** The reason in words. */
  detail: string;
  /** Level where the walk stopped. */
  level: number;
}

export type WalkResult = WalkOk | WalkFault;

/** A WalkStep under construction: the record builders set `updated` after the other fields. */
export type WalkStepDraft = { -readonly [K in keyof WalkStep]: WalkStep[K] };
