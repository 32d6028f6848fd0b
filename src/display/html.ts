/** Minimal, deterministic HTML building (no ids, no clocks) for rich views. */
import { checkArray, checkBigint, checkString, refuse } from '../validate/checks';

export type MimeBundle = Record<string, unknown>;

/** Deno's and our kernel's display protocol: `obj[JUPYTER_DISPLAY]()` returns a MIME bundle. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display') as never;

export function esc(s: string): string {
  checkString('s', s);
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** A table's headers (strings), rows (arrays of strings or numbers) and optional caption (a string). */
function checkTable(headers: unknown, rows: unknown, caption?: unknown): void {
  checkArray('headers', headers).forEach((h, i) => checkString(`headers[${i}]`, h));
  checkArray('rows', rows).forEach((r, i) => {
    checkArray(`rows[${i}]`, r).forEach((c, j) => {
      if (typeof c !== 'string' && typeof c !== 'number') refuse(`rows[${i}][${j}]`, 'cell-type', 'must be a string or a number', c);
    });
  });
  if (caption !== undefined) checkString('caption', caption);
}

export function table(headers: string[], rows: (string | number)[][], caption?: string): string {
  checkTable(headers, rows, caption);
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' ? c : c}</td>`).join('')}</tr>`).join('');
  return `<table class="mmulab">${caption ? `<caption>${caption}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Plain-text table with padded columns. */
export function textTable(headers: string[], rows: (string | number)[][]): string {
  checkTable(headers, rows);
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const w = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

/** A u64 as 16 hex digits: a number, a negative or a wider bigint would print a wrong width. */
export function hex64(v: bigint): string {
  checkBigint('v', v);
  return '0x' + v.toString(16).padStart(16, '0');
}
