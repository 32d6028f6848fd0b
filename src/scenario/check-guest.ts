/**
 * The scenario helpers' argument checks (issue 12 item 1): a `Guest` that `guest()` (or a scenario)
 * made, and the counts and addresses the helpers loop over, refused before any access runs.
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { Vm } from '../vm/vm';
import { Vcpu } from '../vm/vcpu';
import { checkBigint, checkInt, checkObject, refuse } from '../validate/checks';
import type { Guest } from './guest';

/** Largest page count or loop count a scenario helper takes in one call (2^20 pages = 4 GiB). */
export const MAX_SCENARIO_COUNT = 1 << 20;

/** A guest: an object holding the Vm, its vCPU and the guest's page-table builder. */
export function checkGuest(name: string, g: unknown): Guest {
  const o = checkObject<Partial<Guest>>(name, g);
  if (!(o.vm instanceof Vm) || !(o.vcpu instanceof Vcpu) || !(o.pt instanceof PageTableBuilder)) refuse(name, 'guest', 'must be a guest() result (vm, vcpu, pt)', g);
  return o as Guest;
}

/** A scenario count in [min, MAX_SCENARIO_COUNT]. */
export function checkCount(name: string, v: unknown, min = 0, max = MAX_SCENARIO_COUNT): number {
  return checkInt(name, v, { min, max });
}

/** A linear address: a u64 bigint below 2^57 (5-level paging), page aligned. */
export function checkVa(name: string, v: unknown): bigint {
  return checkBigint(name, v, { max: (1n << 57n) - 1n, align: 0x1000n });
}
