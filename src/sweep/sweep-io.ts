/** Saving, reloading and merging sweep tables (Arrow IPC through arquero), for sweeps split across machines. */
import * as fs from 'node:fs';
import type * as aq from 'arquero';
import { arquero } from '../events/arquero';
import { SweepError } from './sweep-error';
import { SWEEP_KEY_COLUMNS } from './sweep-row';
import { expandJobs, type Job, type SweepSpec } from './sweep-jobs';
import { checkArray, checkString, optObject, refuse } from '../validate/checks';

/** Write the table as Arrow IPC; a temporary file then a rename, so a failed save leaves nothing half-written. */
/** An arquero table (what sweep() and loadSweep give). */
function checkTable(name: string, t: unknown): aq.ColumnTable {
  if (typeof t !== 'object' || t === null || typeof (t as aq.ColumnTable).columnNames !== 'function') refuse(name, 'sweep-table', 'must be a sweep table (an arquero table)', t);
  return t as aq.ColumnTable;
}

function checkFile(name: string, f: unknown): string {
  if (checkString(name, f).length === 0) refuse(name, 'file-name', 'must be a non-empty path', f);
  return f as string;
}

export function saveSweep(table: aq.ColumnTable, file: string): void {
  checkTable('table', table);
  checkFile('file', file);
  for (const k of SWEEP_KEY_COLUMNS) if (!table.columnNames().includes(k)) throw new SweepError('sweep-table-columns', `not a sweep table: no column ${k}`, k);
  const bytes = arquero().toArrowIPC(table);
  const tmp = `${file}.partial`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

export function loadSweep(file: string): aq.ColumnTable {
  checkFile('file', file);
  // A missing or unreadable file, or one that is not Arrow IPC, is a SweepError naming the file.
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new SweepError('sweep-load-read', `file cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, JSON.stringify(file));
  }
  try {
    return arquero().fromArrow(bytes);
  } catch (e) {
    throw new SweepError('sweep-load-format', `file is not an Arrow IPC sweep table: ${(e as Error).message.slice(0, 80)}`, JSON.stringify(file));
  }
}

const key = (t: aq.ColumnTable, i: number) => SWEEP_KEY_COLUMNS.map((k) => String(t.get(k, i))).join('\u0000');

const jobKey = (j: Job) => [j.label, j.generator, JSON.stringify(j.params), String(j.seed)].join('\u0000');
const shownKey = (k: string) => k.replace(/\u0000/g, ' | ');

export interface MergeOptions {
  /**
   * The spec the parts were run from (shards of one sweep). Then the merge checks that the parts
   * hold exactly the spec's jobs — a missing shard is an error, not a smaller table — and puts the
   * rows in job order, so the result is the table one run of the whole sweep gives, byte for byte
   * once saved.
   */
  spec?: SweepSpec;
}

/**
 * Merge sweeps run separately. Same columns required; a (config, workload, params, seed) row in
 * two parts is an error (the parts overlapped). Rows come out in job order when `spec` is given,
 * else in key order; either way the order of the parts does not matter.
 */
export function mergeSweeps(parts: aq.ColumnTable[], opts: MergeOptions = {}): aq.ColumnTable {
  checkArray('parts', parts).forEach((p, i) => checkTable(`parts[${i}]`, p));
  optObject('opts', opts);
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
  if (opts.spec === undefined) return all.orderby(...SWEEP_KEY_COLUMNS).reify();
  // The parts already ran their traces: the job order is all a merge needs, not the traces again.
  return inJobOrder(all, expandJobs(opts.spec));
}

function inJobOrder(all: aq.ColumnTable, jobs: Job[]): aq.ColumnTable {
  const rowOf = new Map<string, number>();
  for (let i = 0; i < all.numRows(); i++) rowOf.set(key(all, i), i);
  const order: number[] = [];
  const missing: string[] = [];
  for (const j of jobs) {
    const r = rowOf.get(jobKey(j));
    if (r === undefined) missing.push(jobKey(j));
    else {
      order.push(r);
      rowOf.delete(jobKey(j));
    }
  }
  if (missing.length > 0) throw new SweepError('sweep-merge-missing', `${missing.length} of the spec's ${jobs.length} jobs are in no part (is a shard missing?); first missing job`, shownKey(missing[0]!));
  const [foreign] = rowOf.keys();
  if (foreign !== undefined) throw new SweepError('sweep-merge-foreign', `${rowOf.size} rows are not jobs of the spec; first such row`, shownKey(foreign));
  // Plain arrays, as a single run builds its table, so both save to the same Arrow bytes.
  const cols: Record<string, unknown[]> = {};
  for (const c of all.columnNames()) {
    const v = all.array(c) as ArrayLike<unknown>;
    cols[c] = order.map((r) => v[r]);
  }
  return arquero().table(cols);
}
