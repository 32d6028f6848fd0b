/** Saving, reloading and merging sweep tables (Arrow IPC through arquero), for sweeps split across machines. */
import * as fs from 'node:fs';
import * as aq from 'arquero';
import { SweepError } from './sweep-error';
import { SWEEP_KEY_COLUMNS } from './sweep-row';

/** Write the table as Arrow IPC; a temporary file then a rename, so a failed save leaves nothing half-written. */
export function saveSweep(table: aq.ColumnTable, file: string): void {
  for (const k of SWEEP_KEY_COLUMNS) if (!table.columnNames().includes(k)) throw new SweepError('sweep-table-columns', `not a sweep table: no column ${k}`, k);
  const bytes = aq.toArrowIPC(table);
  const tmp = `${file}.partial`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

export function loadSweep(file: string): aq.ColumnTable {
  return aq.fromArrow(fs.readFileSync(file));
}

const key = (t: aq.ColumnTable, i: number) => SWEEP_KEY_COLUMNS.map((k) => String(t.get(k, i))).join('\u0000');

/**
 * Merge sweeps run separately. Same columns required; a (config, workload, params, seed) row in
 * two parts is an error (the parts overlapped); rows come out in key order, whatever the order
 * of the parts.
 */
export function mergeSweeps(parts: aq.ColumnTable[]): aq.ColumnTable {
  if (parts.length === 0) throw new SweepError('sweep-merge-empty', 'nothing to merge', '[]');
  const cols = parts[0]!.columnNames();
  for (const p of parts) {
    const c = p.columnNames();
    if (c.length !== cols.length || c.some((n, i) => n !== cols[i])) throw new SweepError('sweep-merge-columns', 'sweeps with different columns cannot be merged', c.join(','));
  }
  const seen = new Set<string>();
  for (const p of parts) {
    for (let i = 0; i < p.numRows(); i++) {
      const k = key(p, i);
      if (seen.has(k)) throw new SweepError('sweep-merge-duplicate', 'the same job appears in two parts', k.replace(/\u0000/g, ' | '));
      seen.add(k);
    }
  }
  const all = parts.slice(1).reduce((a, b) => a.concat(b), parts[0]!);
  return all.orderby(...SWEEP_KEY_COLUMNS).reify();
}
