import type { Gpa } from '../address/address';

/** A guest-physical range that exists. GPAs outside every slot are "no slot" (MMIO later). */
export interface MemSlot {
  readonly id: number;
  readonly name: string;
  /** First GFN of the slot. */
  readonly baseGfn: number;
  /** Number of 4 KiB frames. */
  readonly frames: number;
  /** Guest writes are dropped (ROM); the walker does not set A/D bits in tables here. */
  readonly readonly: boolean;
  readonly base: Gpa;
  readonly size: bigint;
}

export interface MemSlotSpec {
  base: Gpa;
  /** Size in bytes, a multiple of 4 KiB. */
  size: bigint | number;
  readonly?: boolean;
  name?: string;
}
