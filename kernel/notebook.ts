/**
 * nbformat 4 notebooks: reading with validation (a clear, typed error naming the file and the
 * problem), writing byte-for-byte as Jupyter's own writer does (sorted keys, one-space indent,
 * multi-line strings as lists of lines), and atomic replacement of files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type MultilineString = string | string[];

export interface StreamOutput {
  output_type: 'stream';
  name: 'stdout' | 'stderr';
  text: MultilineString;
}
export interface DisplayDataOutput {
  output_type: 'display_data';
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}
export interface ExecuteResultOutput {
  output_type: 'execute_result';
  execution_count: number | null;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}
export interface ErrorOutput {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

interface BaseCell {
  id?: string;
  source: MultilineString;
  metadata: Record<string, unknown>;
  attachments?: Record<string, unknown>;
}
export interface CodeCell extends BaseCell {
  cell_type: 'code';
  execution_count: number | null;
  outputs: Output[];
}
export interface MarkdownCell extends BaseCell {
  cell_type: 'markdown';
}
export interface RawCell extends BaseCell {
  cell_type: 'raw';
}
export type Cell = CodeCell | MarkdownCell | RawCell;

export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** A notebook that cannot be read: names the file and what is wrong. */
export class NotebookFormatError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'NotebookFormatError';
  }
}

export function joinSource(s: MultilineString): string {
  return Array.isArray(s) ? s.join('') : s;
}

export function cellTags(cell: Cell): string[] {
  const t = cell.metadata.tags;
  return Array.isArray(t) ? (t.filter((x) => typeof x === 'string') as string[]) : [];
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isMultiline(x: unknown): x is MultilineString {
  return typeof x === 'string' || (Array.isArray(x) && x.every((l) => typeof l === 'string'));
}

const OUTPUT_TYPES = new Set(['stream', 'display_data', 'execute_result', 'error']);

/** Checks the structure nbformat 4 requires (the parts this project relies on), or throws. */
export function validateNotebook(raw: unknown, file: string): Notebook {
  const fail = (problem: string): never => {
    throw new NotebookFormatError(file, problem);
  };
  if (!isRecord(raw)) fail('not a notebook: the top level is not a JSON object');
  const nb = raw as Record<string, unknown>;
  if (nb.nbformat !== 4) fail(`unsupported nbformat ${JSON.stringify(nb.nbformat)} (only nbformat 4 is supported)`);
  if (typeof nb.nbformat_minor !== 'number' || !Number.isInteger(nb.nbformat_minor) || nb.nbformat_minor < 0) fail('"nbformat_minor" must be a non-negative integer');
  if (nb.metadata !== undefined && !isRecord(nb.metadata)) fail('"metadata" must be an object');
  if (!Array.isArray(nb.cells)) fail('"cells" must be a list');
  const ids = new Set<string>();
  let parameterCells = 0;
  (nb.cells as unknown[]).forEach((c, i) => {
    const where = `cell ${i}`;
    if (!isRecord(c)) fail(`${where}: not an object`);
    const cell = c as Record<string, unknown>;
    if (cell.cell_type !== 'code' && cell.cell_type !== 'markdown' && cell.cell_type !== 'raw') fail(`${where}: unknown cell_type ${JSON.stringify(cell.cell_type)}`);
    if (!isMultiline(cell.source)) fail(`${where}: "source" must be a string or a list of strings`);
    if (cell.metadata !== undefined && !isRecord(cell.metadata)) fail(`${where}: "metadata" must be an object`);
    const tags = isRecord(cell.metadata) ? cell.metadata.tags : undefined;
    if (tags !== undefined && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) fail(`${where}: "metadata.tags" must be a list of strings`);
    if (Array.isArray(tags) && tags.includes('parameters')) parameterCells++;
    if (cell.id !== undefined) {
      if (typeof cell.id !== 'string' || !/^[a-zA-Z0-9-_]{1,64}$/.test(cell.id)) fail(`${where}: invalid cell id ${JSON.stringify(cell.id)}`);
      if (ids.has(cell.id as string)) fail(`${where}: duplicate cell id ${JSON.stringify(cell.id)}`);
      ids.add(cell.id as string);
    }
    if (cell.cell_type === 'code') {
      const ec = cell.execution_count;
      if (ec !== undefined && ec !== null && !(typeof ec === 'number' && Number.isInteger(ec))) fail(`${where}: "execution_count" must be an integer or null`);
      if (cell.outputs !== undefined) {
        if (!Array.isArray(cell.outputs)) fail(`${where}: "outputs" must be a list`);
        (cell.outputs as unknown[]).forEach((o, j) => {
          if (!isRecord(o) || !OUTPUT_TYPES.has(o.output_type as string)) fail(`${where}, output ${j}: unknown output_type ${JSON.stringify(isRecord(o) ? o.output_type : o)}`);
        });
      }
    }
  });
  if (parameterCells > 1) fail(`${parameterCells} cells are tagged "parameters" (at most one may be)`);
  const cells = (nb.cells as Record<string, unknown>[]).map((c): Cell => {
    const base = { ...c, metadata: isRecord(c.metadata) ? c.metadata : {} } as Record<string, unknown>;
    if (c.cell_type === 'code') {
      base.execution_count = c.execution_count ?? null;
      base.outputs = c.outputs ?? [];
    }
    return base as unknown as Cell;
  });
  return { ...(nb as object), nbformat: 4, nbformat_minor: nb.nbformat_minor as number, metadata: isRecord(nb.metadata) ? nb.metadata : {}, cells } as Notebook;
}

export function parseNotebook(text: string, file: string): Notebook {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NotebookFormatError(file, `invalid JSON (${(e as Error).message})`);
  }
  return validateNotebook(raw, file);
}

export function readNotebook(file: string, displayName = file): Notebook {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new NotebookFormatError(displayName, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseNotebook(text, displayName);
}

// ---------------------------------------------------------------------------------------------
// Writing, as nbformat's writer (json.dumps(sort_keys=True, indent=1, ensure_ascii=False))
// ---------------------------------------------------------------------------------------------

/** Python's str.splitlines(keepends=True). */
export function splitLines(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let end = -1;
    if (c === 0x0d) end = s.charCodeAt(i + 1) === 0x0a ? i + 2 : i + 1;
    else if (c === 0x0a || c === 0x0b || c === 0x0c || c === 0x1c || c === 0x1d || c === 0x1e || c === 0x85 || c === 0x2028 || c === 0x2029) end = i + 1;
    if (end >= 0) {
      out.push(s.slice(start, end));
      start = end;
      i = end - 1;
    }
  }
  if (start < s.length) out.push(s.slice(start));
  return out;
}

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

/** nbformat's split_lines: multi-line strings become lists of lines (as Jupyter saves them). */
function splitForDisk(nb: Notebook): Notebook {
  const split = (s: MultilineString): string[] => splitLines(joinSource(s));
  const data = (d: Record<string, unknown>): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d)) o[k] = !isJsonMime(k) && typeof v === 'string' ? splitLines(v) : v;
    return o;
  };
  return {
    ...nb,
    cells: nb.cells.map((c) => {
      const cell = { ...c, source: split(c.source) } as Cell;
      if (cell.cell_type === 'code') {
        cell.outputs = cell.outputs.map((o) => {
          if (o.output_type === 'stream') return { ...o, text: split(o.text) };
          if (o.output_type === 'display_data' || o.output_type === 'execute_result') return { ...o, data: data(o.data) };
          return o;
        });
      }
      return cell;
    }),
  };
}

function sortKeys(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (isRecord(x)) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) if (x[k] !== undefined) o[k] = sortKeys(x[k]);
    return o;
  }
  return x;
}

/** The notebook as Jupyter writes it. */
export function serializeNotebook(nb: Notebook): string {
  return JSON.stringify(sortKeys(splitForDisk(nb)), null, 1) + '\n';
}

/** `.NAME.tmp-PID`: where `writeFileAtomic` writes NAME before renaming it over the file. */
function tempName(file: string, pid: number): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${pid}`);
}

/** Temporary files this process has on disk; removed on any exit that runs JavaScript. */
const liveTemps = new Set<string>();
let exitCleanup = false;

function removeLiveTemps(): void {
  for (const t of liveTemps) fs.rmSync(t, { force: true });
  liveTemps.clear();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what writers killed before their rename left in `dir`: `.NAME.tmp-PID` files of
 * processes that no longer exist (a live writer's file is left alone). Returns the files removed.
 */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const n of names) {
    const m = /^\..+\.tmp-(\d+)$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    fs.rmSync(path.join(dir, n), { force: true });
    removed.push(path.join(dir, n));
  }
  return removed;
}

/**
 * Writes `content` to `file` atomically: a temporary file in the same directory, fsynced, then
 * renamed over `file`. The temporary file is removed on failure and on any process exit that runs
 * JavaScript (`exit`); a kill that allows none (SIGKILL, a signal's default action) leaves it, and
 * the next run's `removeStaleTemps` removes it.
 *
 * MMULAB_TEST_HOLD_BEFORE_RENAME (tests only): the path of a marker file; the write creates it once
 * the temporary file is complete and waits (at most 60 s) until it is deleted, so a test can kill
 * the writer between the write and the rename.
 */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = tempName(file, process.pid);
  if (!exitCleanup) {
    exitCleanup = true;
    process.on('exit', removeLiveTemps);
  }
  liveTemps.add(tmp);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    holdForTest();
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
    liveTemps.delete(tmp);
  }
}

function holdForTest(): void {
  const marker = process.env.MMULAB_TEST_HOLD_BEFORE_RENAME;
  if (!marker) return;
  fs.writeFileSync(marker, '');
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 60_000 && fs.existsSync(marker); waited += 20) Atomics.wait(sleeper, 0, 0, 20);
}
