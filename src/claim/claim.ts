/**
 * A design note's conclusion as an executed check: `claim(text, condition, values)` renders a
 * checked line with the numbers it was decided on, and throws `ClaimFailed` when the condition is
 * false, so the cell (and `npm run notes -- --check`) fails instead of the prose going stale.
 */
import { ClaimFailed, InvalidArgumentError } from '../errors';
import { JUPYTER_DISPLAY, type MimeBundle } from '../display/html';
import { proseValue, type ProseValue } from '../display/prose';

/** The MIME type of a claim's record in a notebook output: what the notes runner counts. */
export const CLAIM_MIME = 'application/vnd.mmulab.claim+json';

/** The kernel shows the result of a function carrying this symbol when it is called. */
export const DISPLAY_ON_CALL: unique symbol = Symbol.for('mmulab.displayOnCall') as never;
/** Values carrying this symbol are not shown again as a cell's last value. */
const NO_RESULT: unique symbol = Symbol.for('mmulab.noResult') as never;

export type ClaimValues = Readonly<Record<string, ProseValue>>;

/** One claim that held. */
export class Claim {
  readonly [NO_RESULT] = true;
  constructor(
    readonly text: string,
    readonly values: ClaimValues,
  ) {}
  /** `name = value, …` in the order given. */
  get valuesText(): string {
    return claimValuesText(this.values);
  }
  [JUPYTER_DISPLAY](): MimeBundle {
    const vals = Object.entries(this.values).map(([k, v]) => `\`${k}\` = ${proseValue(v)}`);
    const json: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.values)) json[k] = proseValue(v);
    return {
      'text/markdown': `✔ **claim:** ${this.text}${vals.length ? ` — ${vals.join(', ')}` : ''}`,
      'text/plain': `✔ claim: ${this.text}${vals.length ? ` [${this.valuesText}]` : ''}`,
      [CLAIM_MIME]: { text: this.text, holds: true, values: json },
    };
  }
}

export function claimValuesText(values: ClaimValues): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} = ${proseValue(v)}`)
    .join(', ');
}

function checkValues(values: unknown): ClaimValues {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new InvalidArgumentError('claim-values', 'claim values are an object of named numbers, bigints, strings or booleans', String(values));
  }
  for (const [k, v] of Object.entries(values)) {
    const t = typeof v;
    if (t !== 'number' && t !== 'bigint' && t !== 'string' && t !== 'boolean') {
      throw new InvalidArgumentError('claim-values', `claim value "${k}" is a number, bigint, string or boolean`, String(v));
    }
  }
  return Object.freeze({ ...(values as Record<string, ProseValue>) });
}

/**
 * Checks a conclusion. `condition` must be a boolean (a truthy count is not a claim); `values` are
 * the numbers it was decided on, shown with it and in the failure.
 */
function claimImpl(text: string, condition: boolean, values: ClaimValues = {}): Claim {
  if (typeof text !== 'string' || !text.trim()) throw new InvalidArgumentError('claim-text', 'a claim states its conclusion in words', String(text));
  if (typeof condition !== 'boolean') throw new InvalidArgumentError('claim-condition', 'a claim is decided by a boolean', String(condition));
  const vals = checkValues(values);
  if (!condition) throw new ClaimFailed(text, claimValuesText(vals) || 'none');
  return new Claim(text, vals);
}

export const claim: typeof claimImpl & { readonly [DISPLAY_ON_CALL]: true } = Object.assign(claimImpl, { [DISPLAY_ON_CALL]: true as const });
