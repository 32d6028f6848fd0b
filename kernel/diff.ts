/**
 * Readable differences between the outputs of two versions of a notebook, for `notes --check`.
 * Outputs are rendered as text (images as size and digest, JSON pretty-printed) and compared
 * line by line per cell.
 */
import { createHash } from 'node:crypto';
import { joinSource, serializeNotebook, type Cell, type Notebook, type Output } from './notebook';

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

function dataLines(data: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const mime of Object.keys(data).sort()) {
    const v = data[mime];
    const s = Array.isArray(v) && !isJsonMime(mime) ? v.join('') : v;
    if (mime.startsWith('image/')) {
      const text = typeof s === 'string' ? s : JSON.stringify(s);
      lines.push(`  ${mime}: ${text.length} bytes, sha256 ${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
    } else if (isJsonMime(mime)) {
      lines.push(`  ${mime}:`, ...JSON.stringify(s, null, 2).split('\n').map((l) => `    ${l}`));
    } else {
      lines.push(`  ${mime}:`, ...String(s).split('\n').map((l) => `    ${l}`));
    }
  }
  return lines;
}

export function outputLines(o: Output): string[] {
  switch (o.output_type) {
    case 'stream':
      return [`[${o.name}]`, ...joinSource(o.text).replace(/\n$/, '').split('\n').map((l) => `  ${l}`)];
    case 'error':
      return [`[error] ${o.ename}: ${o.evalue}`, ...o.traceback.flatMap((t) => t.split('\n')).map((l) => `  ${l}`)];
    case 'display_data':
      return ['[display_data]', ...dataLines(o.data)];
    case 'execute_result':
      return [`[execute_result ${o.execution_count}]`, ...dataLines(o.data)];
  }
}

function cellLines(c: Cell | undefined): string[] {
  if (!c || c.cell_type !== 'code') return [];
  return [`execution_count: ${c.execution_count}`, ...c.outputs.flatMap(outputLines)];
}

/** Line diff (LCS) with `context` lines around changes, unified style. */
export function diffLines(a: string[], b: string[], context = 3): string[] {
  if (a.length * b.length > 4_000_000) return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)];
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { t: ' ' | '-' | '+'; l: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ t: ' ', l: a[i]! });
      i++;
      j++;
    } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ t: '-', l: a[i++]! });
    else ops.push({ t: '+', l: b[j++]! });
  }
  const keep = ops.map(() => false);
  ops.forEach((op, k) => {
    if (op.t === ' ') return;
    for (let x = Math.max(0, k - context); x <= Math.min(ops.length - 1, k + context); x++) keep[x] = true;
  });
  const out: string[] = [];
  let gap = false;
  ops.forEach((op, k) => {
    if (!keep[k]) {
      gap = true;
      return;
    }
    if (gap && out.length) out.push('  …');
    gap = false;
    out.push(`${op.t} ${op.l}`);
  });
  return out;
}

/**
 * Undefined when `actual` serializes exactly as `expectedText` (the file on disk); otherwise a
 * readable report: per cell, what the committed outputs have (-) and what a run gives (+).
 */
export function notebookDiff(expectedText: string, expected: Notebook | undefined, actual: Notebook, maxLines = 400): string | undefined {
  const actualText = serializeNotebook(actual);
  if (actualText === expectedText) return undefined;
  const out: string[] = [];
  if (expected) {
    const cells = Math.max(expected.cells.length, actual.cells.length);
    for (let i = 0; i < cells; i++) {
      const e = expected.cells[i];
      const a = actual.cells[i];
      if (e && a && joinSource(e.source) !== joinSource(a.source)) {
        out.push(`cell ${i}: source differs (cells were added, removed or changed)`);
        continue;
      }
      const d = cellLines(e);
      const f = cellLines(a);
      if (d.join('\n') === f.join('\n')) continue;
      out.push(`cell ${i}${a?.cell_type === 'code' && a.execution_count !== null ? ` (In [${a.execution_count}])` : ''}:`, ...diffLines(d, f).map((l) => `  ${l}`));
    }
  }
  if (!out.length) out.push('outputs are the same; the file differs in metadata or formatting:', ...diffLines(expectedText.split('\n'), actualText.split('\n')).map((l) => `  ${l}`));
  if (out.length > maxLines) return [...out.slice(0, maxLines), `… (${out.length - maxLines} more lines)`].join('\n');
  return out.join('\n');
}
