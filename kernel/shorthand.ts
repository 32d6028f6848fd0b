/**
 * Works around a tslab bug: a shorthand property (`{ a }`) naming a variable of an earlier cell
 * compiles to a reference to an undefined local (tslab rewrites earlier cells' names to
 * `exports.a`, but not in shorthand properties), so `{ a }` fails with "a is not defined".
 *
 * Before a cell is compiled, every shorthand property is written out (`{ a: a }`, which means
 * the same). The insertions are recorded so that positions in errors map back to what the user
 * wrote.
 */
import * as ts from '@tslab/typescript-for-tslab';

export interface Insertion {
  /** Offset in the original text where text was inserted. */
  at: number;
  length: number;
}

export interface Expanded {
  code: string;
  insertions: Insertion[];
}

export function expandShorthands(code: string): Expanded {
  if (!code.includes('{')) return { code, insertions: [] };
  const sf = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const points: { at: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) points.push({ at: node.name.end, text: `: ${node.name.text}` });
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (!points.length) return { code, insertions: [] };
  points.sort((a, b) => a.at - b.at);
  let out = '';
  let last = 0;
  for (const p of points) {
    out += code.slice(last, p.at) + p.text;
    last = p.at;
  }
  out += code.slice(last);
  return { code: out, insertions: points.map((p) => ({ at: p.at, length: p.text.length })) };
}

/** An offset in the expanded text → the offset in the original (inserted text maps to its point). */
export function originalOffset(insertions: readonly Insertion[], offset: number): number {
  let shift = 0;
  for (const ins of insertions) {
    const start = ins.at + shift;
    if (offset < start) break;
    if (offset < start + ins.length) return ins.at;
    shift += ins.length;
  }
  return offset - shift;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** Zero-based (line, column) in the expanded text → zero-based (line, column) in the original. */
export function originalPosition(e: Expanded, original: string, line: number, column: number): { line: number; column: number } {
  if (!e.insertions.length) return { line, column };
  const exp = lineStarts(e.code);
  const off = originalOffset(e.insertions, (exp[Math.min(line, exp.length - 1)] ?? 0) + column);
  const orig = lineStarts(original);
  let l = 0;
  while (l + 1 < orig.length && orig[l + 1]! <= off) l++;
  return { line: l, column: off - orig[l]! };
}
