/**
 * Issue 14, item 4: "No cell over ~15 lines" — a design note's code cell says what it means, and
 * scenario boilerplate (VMs, slots, tables, vCPUs) lives in the engine's scenario helpers
 * (src/scenario). Every code cell of every note in notebooks/ is held to MAX_CELL_LINES.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const MAX_CELL_LINES = 15;
const NOTEBOOKS = path.resolve(__dirname, '..', '..', 'notebooks');

/** Lines of a cell's source as an editor shows them (a final newline adds no line). */
export function cellLines(source: string | string[]): number {
  const s = Array.isArray(source) ? source.join('') : source;
  return s.replace(/\n$/, '').split('\n').length;
}

describe('design-note cells', () => {
  it('cellLines counts what an editor shows', () => {
    expect(cellLines(['a\n', 'b\n'])).toBe(2);
    expect(cellLines('a\nb')).toBe(2);
    expect(cellLines(Array.from({ length: 16 }, (_, i) => `l${i}\n`))).toBe(16);
  });

  const files = fs.readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb')).sort();
  it('there are notes to check', () => expect(files.length).toBeGreaterThan(20));

  for (const f of files) {
    it(`${f}: no code cell over ${MAX_CELL_LINES} lines`, () => {
      const nb = JSON.parse(fs.readFileSync(path.join(NOTEBOOKS, f), 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] };
      const long = nb.cells.flatMap((c, i) => (c.cell_type === 'code' && cellLines(c.source) > MAX_CELL_LINES ? [`cell ${i}: ${cellLines(c.source)} lines`] : []));
      expect(long, f).toEqual([]);
    });
  }
});
