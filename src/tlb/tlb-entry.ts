/**
 * The shapes of TLB entries and tags, apart from the TLB itself so that the argument checks
 * (check-tlb-args.ts) can name them without importing the TLB that imports them.
 */
import type { GpaKind } from '../memory/guest-memory';
import type { Tagged } from './set-assoc';

/** The translation context an access runs in. */
export interface TlbTag {
  /** VPID (Intel) or ASID (AMD); 0 when VPIDs are off. */
  vpid: number;
  /** CR3[11:0] with CR4.PCIDE=1, else 0. */
  pcid: number;
  /** EP4TA (EPTP's table frame) of combined mappings; −1 for linear mappings (no EPT). */
  eptp: number;
}

/** Page size index: 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB. */
export type SizeIndex = 0 | 1 | 2;

export interface TlbEntry extends Tagged, TlbTag {
  /** `index` is the page number in units of this entry's page size. */
  size: SizeIndex;
  global: boolean;
  /** Host frame (4 KiB units) of the page's first byte. */
  hostFrame: number;
  /** Guest-physical frame (4 KiB units) of the page's first byte. */
  guestFrame: number;
  /** Guest ACC (exec 1, write 2, user 4; write only if the leaf was dirty, as `protect_clean_gpte`). */
  acc: number;
  pkey: number;
  /** Second-dimension rights: read 1, write 2 (only if dirty when A/D is on), exec 4; 7 for linear mappings. */
  tdpAcc: number;
  /** What the guest-physical page is (RAM or ROM), for the access result of a hit. */
  gpaKind?: GpaKind;
}

/** A paging-structure-cache entry: a cached non-leaf entry of `level` for a VA prefix (`index`). */
export interface PscEntry extends Tagged, TlbTag {
  level: number;
}

/** A guest-physical mapping or nested PSC entry: tagged by EP4TA (and ASID on AMD, else −1). */
export interface NestedEntry extends Tagged {
  eptp: number;
  asid: number;
  /** Nested TLB: page size index; nested PSC: the cached entry's level. */
  level: number;
  hostFrame: number;
}

export type TlbHitLevel = 'l1' | 'stlb';

/** What a fill caches: an entry's fields, with the 4 KiB page number of the access. */
export type TlbFill = Omit<TlbEntry, 'used' | 'index'> & { vpn: number };

