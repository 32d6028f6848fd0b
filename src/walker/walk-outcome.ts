/**
 * A walk's outcome in one table cell: `ok`, or the #PF error code KVM would inject (`P|W|U`, …),
 * optionally with the level and reason. Notes and reports tabulate walks by this text, so it is
 * one function instead of the same ternary retyped in every cell.
 */
import type { WalkResult } from './walk-result';
import { checkObject, optBool, optObject, refuse } from '../validate/checks';

export function walkOutcome(r: WalkResult, opts: { where?: boolean } = {}): string {
  const o = checkObject<Record<string, unknown>>('r', r);
  if (o.status !== 'ok' && (o.status !== 'fault' || typeof o.errorCodeText !== 'string')) refuse('r', 'walk-record', 'must be a walk record (status ok, or fault with its error code)', r);
  optBool('opts.where', optObject<{ where?: boolean }>('opts', opts).where, false);
  if (r.status === 'ok') return 'ok';
  return opts.where ? `${r.errorCodeText} at level ${r.level}: ${r.detail}` : r.errorCodeText;
}
