/**
 * A walk's outcome in one table cell: `ok`, or the #PF error code KVM would inject (`P|W|U`, …),
 * optionally with the level and reason. Notes and reports tabulate walks by this text, so it is
 * one function instead of the same ternary retyped in every cell.
 */
import type { WalkResult } from './walk-result';

export function walkOutcome(r: WalkResult, opts: { where?: boolean } = {}): string {
  if (r.status === 'ok') return 'ok';
  return opts.where ? `${r.errorCodeText} at level ${r.level}: ${r.detail}` : r.errorCodeText;
}
