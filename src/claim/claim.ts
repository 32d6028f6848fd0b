/**
 * A design note's conclusion as an executed check: `claim(text, condition, values)` renders a
 * checked line with the numbers it was decided on, and throws `ClaimFailed` when the condition is
 * false, so the cell (and `npm run notes -- --check`) fails instead of the prose going stale.
 */
import { ClaimFailed } from '../errors';
import { refuse } from '../validate/checks';
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
  readonly text: string;
  readonly values: ClaimValues;
  constructor(text: string, values: ClaimValues) {
    this.text = checkText(text);
    this.values = checkValues(values);
  }
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
  return Object.entries(checkValues(values))
    .map(([k, v]) => `${k} = ${proseValue(v)}`)
    .join(', ');
}

function checkValues(values: unknown): ClaimValues {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    refuse('values', 'claim-values', 'must be an object of named numbers, bigints, strings or booleans', values);
  }
  for (const [k, v] of Object.entries(values)) {
    const t = typeof v;
    if (t !== 'number' && t !== 'bigint' && t !== 'string' && t !== 'boolean') refuse(`values.${k}`, 'claim-values', 'must be a number, bigint, string or boolean', v);
  }
  return Object.freeze({ ...(values as Record<string, ProseValue>) });
}

/** A claim states its conclusion in words: a non-blank string. */
function checkText(text: unknown): string {
  if (typeof text !== 'string' || !text.trim()) refuse('text', 'claim-text', 'must state the conclusion in words (a non-blank string)', text);
  return text;
}

/**
 * Checks a conclusion. `condition` must be a boolean (a truthy count is not a claim); `values` are
 * the numbers it was decided on, shown with it and in the failure.
 */
export function claim(text: string, condition: boolean, values: ClaimValues = {}): Claim {
  checkText(text);
  if (typeof condition !== 'boolean') refuse('condition', 'claim-condition', 'must be a boolean (a claim is decided by a boolean, not a truthy count)', condition);
  const vals = checkValues(values);
  if (!condition) throw new ClaimFailed(text, claimValuesText(vals) || 'none');
  return new Claim(text, vals);
}

// The kernel shows a claim's result when it is called (kernel/runtime.ts reads this mark).
claim[DISPLAY_ON_CALL] = true as const;
