/**
 * The in-process notebook runner: executes a notebook's code cells with the kernel's runtime (no
 * Jupyter), and returns the notebook with fresh outputs. Outputs are deterministic: execution
 * counts from 1, display ids derived from the cell, no clocks, no absolute paths.
 *
 * Parameters work as papermill's: the cell tagged `parameters` holds defaults; overrides go in a
 * cell tagged `injected-parameters` inserted after it, and the notebook's metadata records the
 * values it ran with (`metadata.mmulab.parameters`).
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ts from 'typescript';
import { jsonReplacer, plainText, setCurrentOutput, type DisplayContent, type OutputSink } from './display';
import { cellTags, joinSource, type Cell, type CodeCell, type Notebook, type Output } from './notebook';
import { kernelspecMetadata, languageInfo, type Runtime } from './runtime';

export const PARAMETERS_TAG = 'parameters';
export const INJECTED_TAG = 'injected-parameters';

/** A cell failed where errors are not allowed. */
export class CellExecutionError extends Error {
  constructor(
    readonly file: string,
    readonly cellIndex: number,
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: string[],
    /** The notebook as far as it ran: outputs up to and including the failed cell. */
    readonly partial?: Notebook,
  ) {
    super(`${file}, cell ${cellIndex}: ${ename}: ${evalue}\n${traceback.join('\n')}`);
    this.name = 'CellExecutionError';
  }
}

/** A parameter override that cannot be applied. */
export class ParameterError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ParameterError';
  }
}

/**
 * A cell tried to end the process (`process.exit`, `process.abort`, a terminating signal to
 * itself). In the notes runner that would end the run with nothing written and, for
 * `process.exit(0)`, exit status 0: a stale note would pass `--check`. It is refused instead, and
 * the notebook fails naming the cell.
 */
export class ProcessExitError extends Error {
  constructor(
    readonly file: string,
    readonly cellIndex: number,
    readonly how: string,
  ) {
    super(`${file}, cell ${cellIndex}: the cell tried to end the process (${how}); a cell may not end the notes runner`);
    this.name = 'ProcessExitError';
  }
}

/** Signals whose default action ends the process. */
const TERMINATING = new Set<string | number>(['SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT', 'SIGABRT', 'SIGALRM', 'SIGUSR1', 'SIGUSR2', 1, 3, 6, 9, 10, 12, 14, 15]);

/**
 * While a notebook runs, the ways a cell can end the process throw instead (so the cell fails
 * with an error) and are remembered (so a cell that catches the error still fails, and so does a
 * timer that calls them after its cell ended). `restore` puts the real functions back.
 */
function guardProcessExit(): { attempt: () => string | undefined; restore: () => void } {
  const proc = process as NodeJS.Process & { reallyExit?: (code?: number) => never };
  const saved = { exit: proc.exit, reallyExit: proc.reallyExit, abort: proc.abort, kill: proc.kill };
  let attempt: string | undefined;
  const refuse = (how: string): never => {
    attempt ??= how;
    throw new Error(`${how} refused: a cell may not end the notes runner`);
  };
  proc.exit = ((code?: number | string) => refuse(`process.exit(${code === undefined ? '' : String(code)})`)) as typeof process.exit;
  proc.reallyExit = ((code?: number) => refuse(`process.reallyExit(${code === undefined ? '' : String(code)})`)) as (code?: number) => never;
  proc.abort = (() => refuse('process.abort()')) as typeof process.abort;
  proc.kill = ((pid: number, signal?: string | number) => {
    if ((pid === process.pid || pid === 0) && TERMINATING.has(signal ?? 'SIGTERM')) refuse(`process.kill(${pid === 0 ? '0' : 'process.pid'}, ${String(signal ?? 'SIGTERM')})`);
    return saved.kill.call(process, pid, signal);
  }) as typeof process.kill;
  return {
    attempt: () => attempt,
    restore: () => {
      proc.exit = saved.exit;
      proc.reallyExit = saved.reallyExit;
      proc.abort = saved.abort;
      proc.kill = saved.kill;
    },
  };
}

/** The run was interrupted from outside (Ctrl-C): nothing is to be written. */
export class RunInterrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'RunInterrupted';
  }
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

export interface ParameterDecl {
  name: string;
  keyword: 'const' | 'let' | 'var';
  type?: string;
}

/** The top-level variables a parameters cell declares (in order). */
export function parameterDecls(source: string): ParameterDecl[] {
  const sf = ts.createSourceFile('parameters.ts', source, ts.ScriptTarget.Latest, true);
  const out: ParameterDecl[] = [];
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    const flags = st.declarationList.flags;
    const keyword = flags & ts.NodeFlags.Const ? 'const' : flags & ts.NodeFlags.Let ? 'let' : 'var';
    for (const d of st.declarationList.declarations) {
      if (!ts.isIdentifier(d.name)) continue;
      out.push({ name: d.name.text, keyword, ...(d.type ? { type: d.type.getText(sf) } : {}) });
    }
  }
  return out;
}

/** A command-line value as TypeScript source: numbers, bigints, booleans, null and JSON as written; anything else as a string. */
export function parameterLiteral(value: string): string {
  const v = value.trim();
  if (/^-?(\d[\d_]*(\.\d+)?([eE][+-]?\d+)?|0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+)n?$/.test(v)) return v;
  if (v === 'true' || v === 'false' || v === 'null' || v === 'undefined') return v;
  if (/^["[{]/.test(v)) {
    try {
      JSON.parse(v);
      return v;
    } catch {
      // not JSON: a plain string
    }
  }
  return JSON.stringify(value);
}

/** Parses `name=value` (as given to `-p`). */
export function parseParameterArg(arg: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new Error(`parameter "${arg}" is not name=value`);
  const name = arg.slice(0, eq).trim();
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`parameter name "${name}" is not an identifier`);
  return [name, arg.slice(eq + 1)];
}

function injectedSource(decls: ParameterDecl[], values: Record<string, string>): string {
  const lines = ['// Parameters injected by the notebook runner (npm run notes -- -p name=value).'];
  for (const [name, value] of Object.entries(values)) {
    const d = decls.find((x) => x.name === name)!;
    lines.push(`${d.keyword} ${name}${d.type ? `: ${d.type}` : ''} = ${parameterLiteral(value)};`);
  }
  return lines.join('\n');
}

/**
 * Applies overrides: replaces any earlier injected-parameters cell with one for `values`, right
 * after the parameters cell. Without overrides the notebook is left as it is (so a notebook run
 * with parameters re-runs with them); `reset` removes an injected cell.
 */
export function injectParameters(nb: Notebook, file: string, values: Record<string, string>, reset = false): Notebook {
  const names = Object.keys(values);
  if (!names.length && !reset) return nb;
  const cells = nb.cells.filter((c) => !cellTags(c).includes(INJECTED_TAG));
  if (!names.length) return { ...nb, cells };
  const at = cells.findIndex((c) => c.cell_type === 'code' && cellTags(c).includes(PARAMETERS_TAG));
  if (at < 0) throw new ParameterError(file, `no cell is tagged "${PARAMETERS_TAG}", so parameters (${names.join(', ')}) cannot be set`);
  const decls = parameterDecls(joinSource(cells[at]!.source));
  const unknown = names.filter((n) => !decls.some((d) => d.name === n));
  if (unknown.length) {
    throw new ParameterError(file, `unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (the parameters cell declares: ${decls.map((d) => d.name).join(', ') || 'nothing'})`);
  }
  const cell: CodeCell = {
    cell_type: 'code',
    execution_count: null,
    metadata: { tags: [INJECTED_TAG] },
    outputs: [],
    source: injectedSource(decls, values),
    ...(nb.nbformat_minor >= 5 ? { id: INJECTED_TAG } : {}),
  };
  return { ...nb, cells: [...cells.slice(0, at + 1), cell, ...cells.slice(at + 1)] };
}

/** A value recorded in metadata: JSON as is, bigints as `0x…n` strings, anything else inspected. */
function recordValue(v: unknown): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return `0x${v.toString(16)}n`;
  if (v === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(v, jsonReplacer)) as unknown;
  } catch {
    return plainText(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

/** Collects a notebook's outputs as nbclient would from the kernel's messages. */
class NotebookOutputs {
  /** Outputs shown under each display id, anywhere in the notebook (update_display_data targets them all). */
  private byDisplayId = new Map<string, Output[]>();
  sinkFor(outputs: Output[]): OutputSink {
    let clearPending = false;
    const push = (o: Output): void => {
      if (clearPending) {
        outputs.length = 0;
        clearPending = false;
      }
      outputs.push(o);
    };
    return {
      stream: (name, text) => {
        const last = outputs[outputs.length - 1];
        if (!clearPending && last?.output_type === 'stream' && last.name === name) last.text = joinSource(last.text) + text;
        else push({ output_type: 'stream', name, text });
      },
      display: (content: DisplayContent, update: boolean) => {
        const id = content.transient.display_id;
        const data = snapshot(content.data);
        const metadata = snapshot(content.metadata);
        if (update) {
          for (const o of (id && this.byDisplayId.get(id)) || []) {
            if (o.output_type === 'display_data' || o.output_type === 'execute_result') {
              o.data = data;
              o.metadata = metadata;
            }
          }
          return;
        }
        const o: Output = { output_type: 'display_data', data, metadata };
        push(o);
        if (id) this.byDisplayId.set(id, [...(this.byDisplayId.get(id) ?? []), o]);
      },
      clear: (wait) => {
        if (wait) clearPending = true;
        else outputs.length = 0;
      },
    };
  }
}

function snapshot<T>(x: T): T {
  return JSON.parse(JSON.stringify(x, jsonReplacer)) as T;
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

/**
 * A watchdog thread: a busy cell blocks the main thread, so its timer cannot fire; the watchdog
 * sends SIGINT, which stops a busy loop (vm breakOnSigint) or, through the SIGINT handler, a hung
 * await. The shared flag tells a timeout from a Ctrl-C.
 */
export class Watchdog {
  private readonly worker: Worker;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  constructor() {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const flag = new Int32Array(workerData.buffer);
      let timer;
      parentPort.on('message', (ms) => {
        clearTimeout(timer);
        if (ms > 0) timer = setTimeout(() => { Atomics.store(flag, 0, 1); process.kill(workerData.pid, 'SIGINT'); }, ms);
      });`;
    this.worker = new Worker(code, { eval: true, workerData: { buffer: this.flag.buffer, pid: process.pid } });
    this.worker.unref();
  }
  arm(ms: number): void {
    Atomics.store(this.flag, 0, 0);
    this.worker.postMessage(ms);
  }
  disarm(): void {
    this.worker.postMessage(0);
  }
  get fired(): boolean {
    return Atomics.load(this.flag, 0) === 1;
  }
  reset(): void {
    Atomics.store(this.flag, 0, 0);
  }
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

export interface RunOptions {
  /** Parameter overrides, name → value as given on the command line. */
  parameters?: Record<string, string>;
  /** Remove an injected-parameters cell (run with the defaults). */
  resetParameters?: boolean;
  /** Record errors and go on (cells tagged raises-exception always may fail). */
  allowErrors?: boolean;
  /** Per-cell timeout in ms (0: none). Needs `watchdog`. */
  timeoutMs?: number;
  watchdog?: Watchdog;
  /** Set when the user interrupted the run (checked between cells). */
  aborted?: () => boolean;
}

export interface CellFailure {
  cellIndex: number;
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface RunResult {
  notebook: Notebook;
  executed: number;
  /** Errors recorded in outputs (allowed ones). */
  errors: CellFailure[];
}

/**
 * Checks the values given with `-p` before anything runs for real: the parameters cell and the
 * cell injected for `parameters` run in a fresh namespace, and an error in the injected
 * cell (an ill-typed value) is a ParameterError. A run refused this way writes nothing at all.
 * Other cells do not run; a parameters cell that fails on its own is left to the real run.
 */
export async function checkParameters(rt: Runtime, input: Notebook, file: string, parameters: Record<string, string>, reset = false): Promise<void> {
  const nb = injectParameters(structuredClone(input), file, parameters, reset);
  const at = nb.cells.findIndex((c) => c.cell_type === 'code' && cellTags(c).includes(INJECTED_TAG));
  if (at < 0) return;
  const params = nb.cells.findIndex((c) => c.cell_type === 'code' && cellTags(c).includes(PARAMETERS_TAG));
  await rt.resetNamespace();
  const sink = { stream: () => undefined, display: () => undefined, clear: () => undefined };
  const cwd = process.cwd();
  const guard = guardProcessExit();
  try {
    process.chdir(path.dirname(path.resolve(file)));
    if (params >= 0 && params < at) {
      const own = await rt.execute(joinSource(nb.cells[params]!.source), { sink, label: 'parameters', idPrefix: 'check-parameters' });
      if (own.status !== 'ok') return;
    }
    const r = await rt.execute(joinSource(nb.cells[at]!.source), { sink, label: 'injected parameters', idPrefix: 'check-injected' });
    if (r.status !== 'ok') throw new ParameterError(file, `a -p value does not fit its parameter: ${r.ename}: ${r.evalue}`);
  } finally {
    guard.restore();
    process.chdir(cwd);
    setCurrentOutput(undefined);
  }
}

/**
 * Executes a notebook in a fresh namespace of `rt`, in the notebook's directory. Throws
 * CellExecutionError on a disallowed error, RunInterrupted on Ctrl-C; the input is not modified.
 */
export async function runNotebook(rt: Runtime, input: Notebook, file: string, options: RunOptions = {}): Promise<RunResult> {
  const nb = injectParameters(structuredClone(input), file, options.parameters ?? {}, options.resetParameters);
  await rt.resetNamespace();
  // The compiler loads now, not within the first cell's timeout.
  rt.warm();
  const outputs = new NotebookOutputs();
  const errors: CellFailure[] = [];
  const cwd = process.cwd();
  const dir = path.dirname(path.resolve(file));
  let count = 0;
  let paramNames: string[] | undefined;
  const injected = new Set<string>();
  const guard = guardProcessExit();
  let lastCell = -1;
  try {
    process.chdir(dir);
    for (let i = 0; i < nb.cells.length; i++) {
      if (options.aborted?.()) throw new RunInterrupted();
      const cell: Cell = nb.cells[i]!;
      if (nb.nbformat_minor >= 5 && cell.id === undefined) cell.id = `cell-${i}`;
      if (cell.cell_type !== 'code') continue;
      const tags = cellTags(cell);
      if (tags.includes('skip-execution')) continue;
      const code = joinSource(cell.source);
      cell.outputs = [];
      cell.execution_count = null;
      // nbclient's timestamps (record_timing): a clock in the file, never reproducible.
      if ('execution' in cell.metadata) {
        const { execution: _timing, ...rest } = cell.metadata;
        cell.metadata = rest;
      }
      if (!code.trim()) continue;
      if (tags.includes(PARAMETERS_TAG)) paramNames = parameterDecls(code).map((d) => d.name);
      if (tags.includes(INJECTED_TAG)) for (const d of parameterDecls(code)) injected.add(d.name);
      const n = ++count;
      cell.execution_count = n;
      const sink = outputs.sinkFor(cell.outputs);
      const timeout = options.timeoutMs && options.watchdog ? options.timeoutMs : 0;
      if (timeout) options.watchdog!.arm(timeout);
      let outcome;
      const before = guard.attempt();
      if (before !== undefined) throw new ProcessExitError(file, lastCell, `${before}, after the cell ended`);
      lastCell = i;
      try {
        outcome = await rt.execute(code, { sink, label: `cell ${n}`, idPrefix: `cell${i}` });
      } finally {
        if (timeout) options.watchdog!.disarm();
        // Output made after a cell has finished (timers) is not recorded: it would land by timing.
        setCurrentOutput(undefined);
      }
      const how = guard.attempt();
      if (how !== undefined) throw new ProcessExitError(file, i, how);
      if (outcome.status === 'ok') {
        if (outcome.result) cell.outputs.push({ output_type: 'execute_result', execution_count: n, data: snapshot(outcome.result), metadata: {} });
        continue;
      }
      let { ename, evalue, traceback } = outcome;
      if (outcome.interrupted) {
        if (timeout && options.watchdog!.fired) {
          options.watchdog!.reset();
          ename = 'TimeoutError';
          evalue = `the cell ran longer than ${timeout / 1000} s and was interrupted`;
          traceback = [`${ename}: ${evalue}`, ...traceback.slice(1)];
        } else {
          throw new RunInterrupted();
        }
      }
      cell.outputs.push({ output_type: 'error', ename, evalue, traceback });
      const allowed = options.allowErrors || tags.includes('raises-exception');
      if (!allowed) {
        // The cells after the failed one did not run: their old outputs are not part of this run.
        const partial = { ...nb, cells: nb.cells.map((c, j) => (j > i && c.cell_type === 'code' ? { ...c, outputs: [], execution_count: null } : c)) };
        throw new CellExecutionError(file, i, ename, evalue, traceback, partial);
      }
      errors.push({ cellIndex: i, ename, evalue, traceback });
    }
    // A timer of the last cell may still try to end the process before the notebook is written.
    await new Promise((r) => setImmediate(r));
    const late = guard.attempt();
    if (late !== undefined) throw new ProcessExitError(file, lastCell, `${late}, after the cell ended`);
  } finally {
    guard.restore();
    process.chdir(cwd);
  }
  const metadata: Record<string, unknown> = { ...nb.metadata, kernelspec: kernelspecMetadata(), language_info: languageInfo() };
  const own = typeof metadata.mmulab === 'object' && metadata.mmulab !== null ? { ...(metadata.mmulab as Record<string, unknown>) } : {};
  delete own.parameters;
  delete own.injected_parameters;
  if (paramNames) {
    const values: Record<string, unknown> = {};
    for (const name of paramNames) values[name] = recordValue(rt.local(name)?.value);
    own.parameters = values;
    if (injected.size) own.injected_parameters = [...injected];
  }
  if (Object.keys(own).length) metadata.mmulab = own;
  else delete metadata.mmulab;
  return { notebook: { ...nb, metadata }, executed: count, errors };
}
