/** TDX counters (model names): SEAMCALLs the S-EPT hooks issued, faults by alias, conversions. */
import { Counters } from '../events/stats';

export const TDX_STAT_NAMES = [
  'sept_add', 'page_aug', 'page_add', 'mr_extend', 'premapped', 'page_accept', 'pending_ve', 'range_block', 'mem_track', 'page_remove', 'sept_free',
  'private_faults', 'shared_faults', 'memory_fault_exits', 'attr_conversions', 'conversion_zaps',
] as const;

export type TdxStatName = (typeof TDX_STAT_NAMES)[number];

export function tdxCounters(): Counters<TdxStatName> {
  return new Counters<TdxStatName>(TDX_STAT_NAMES);
}
