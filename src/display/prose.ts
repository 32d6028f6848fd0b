/**
 * Numbers in a note's prose come from computed values, never typed in: `md` interpolates values
 * into Markdown, each formatted by `proseValue` (deterministic: no locale, no clock).
 */
import { JUPYTER_DISPLAY, type MimeBundle } from './html';

/** A value a claim or a prose line can cite. */
export type ProseValue = number | bigint | string | boolean;

/** Integers with thousands separators, fractions to two decimals, bigints (addresses) in hex. */
export function proseValue(v: unknown): string {
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
  if (Array.isArray(v)) return v.map(proseValue).join(', ');
  return String(v);
}

/** Markdown shown as a note's output; `text/plain` carries the same text. */
export class Prose {
  constructor(readonly markdown: string) {}
  [JUPYTER_DISPLAY](): MimeBundle {
    return { 'text/markdown': this.markdown, 'text/plain': this.markdown };
  }
  toString(): string {
    return this.markdown;
  }
}

/** Tagged template: Markdown with interpolated values, e.g. md`a TD took ${n} exits`. */
export function md(strings: TemplateStringsArray, ...values: unknown[]): Prose {
  let s = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) s += proseValue(values[i]) + (strings[i + 1] ?? '');
  return new Prose(s);
}
