/**
 * Numbers in a note's prose come from computed values, never typed in: `md` interpolates values
 * into Markdown, each formatted by `proseValue` (deterministic: no locale, no clock).
 */
import { JUPYTER_DISPLAY, type MimeBundle } from './html';
import { checkArray, checkString, refuse } from '../validate/checks';

/** A value a claim or a prose line can cite. */
export type ProseValue = number | bigint | string | boolean;

/**
 * A value prose may cite: a number, bigint, string or boolean, or an array of them. `undefined`,
 * `null`, an object or a function in a sentence is a note citing a value that does not exist
 * (a misspelt field, a result of the wrong shape): refused rather than printed as "undefined".
 */
function checkProseValue(name: string, v: unknown): void {
  const t = typeof v;
  if (t === 'number' || t === 'bigint' || t === 'string' || t === 'boolean') return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkProseValue(`${name}[${i}]`, x));
    return;
  }
  refuse(name, 'prose-value', 'must be a number, bigint, string or boolean (or an array of them)', v);
}

/** Integers with thousands separators, fractions to two decimals, bigints (addresses) in hex. */
export function proseValue(v: unknown): string {
  checkProseValue('v', v);
  return proseText(v as ProseValue | ProseValue[]);
}

function proseText(v: ProseValue | ProseValue[]): string {
  if (typeof v === 'bigint') return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) {
      const s = Math.abs(v).toString();
      // Only plain integer notation gets separators (1e21 and up print in exponent form).
      const grouped = /^\d+$/.test(s) ? s.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : s;
      return v < 0 ? `-${grouped}` : grouped;
    }
    return String(Number(v.toFixed(2)));
  }
  if (Array.isArray(v)) return v.map(proseText).join(', ');
  return String(v);
}

/** Markdown shown as a note's output; `text/plain` carries the same text. */
export class Prose {
  readonly markdown: string;
  constructor(markdown: string) {
    this.markdown = checkString('markdown', markdown);
  }
  [JUPYTER_DISPLAY](): MimeBundle {
    return { 'text/markdown': this.markdown, 'text/plain': this.markdown };
  }
  toString(): string {
    return this.markdown;
  }
}

/** Tagged template: Markdown with interpolated values, e.g. md`a TD took ${n} exits`. */
export function md(strings: TemplateStringsArray, ...values: unknown[]): Prose {
  checkArray('strings', strings).forEach((x, i) => checkString(`strings[${i}]`, x));
  values.forEach((v, i) => checkProseValue(`values[${i}]`, v));
  let s = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) s += proseText(values[i] as ProseValue) + (strings[i + 1] ?? '');
  return new Prose(s);
}
