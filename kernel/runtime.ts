/**
 * The runtime shared by the kernel and the in-process notebook runner: tslab's converter and
 * executor, the prelude, preloaded ES modules, output capture, results, errors with positions in
 * the cell, completion, inspection and interruption.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createConverter, isCompleteCode, type Converter, type ConvertResult, type Diagnostic } from 'tslab/dist/converter';
import { createExecutor, type Executor } from 'tslab/dist/executor';
import { printQuickInfo } from 'tslab/dist/inspect';
import { CellOutput, NO_RESULT, setCurrentOutput, currentOutput, toBundle, isPromiseLike, loadVega, loadedVega, plainText, type MimeBundle, type OutputSink } from './display';
import { buildPrelude, type Prelude } from './prelude';
import { expandShorthands, originalPosition, type Expanded } from './shorthand';
import { installTypesShim } from './types-shim';
import { extractInlineMaps, mapPosition, type CellMaps } from './sourcemap';

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

export type Outcome =
  | { status: 'ok'; result?: MimeBundle }
  | ({ status: 'error'; interrupted: boolean } & CellError);

export interface ExecuteContext {
  sink: OutputSink;
  /** How tracebacks name this cell, e.g. `cell 3` (the execution count). */
  label: string;
  /** Prefix of the display ids made in this cell. */
  idPrefix: string;
}

export interface RuntimeOptions {
  /** The project root: where `dist/`, `node_modules/` and local `.ts` imports are resolved. */
  root?: string;
  /** Diagnostics of the runtime itself (never a cell's output). */
  log?: (message: string) => void;
}

export const KERNEL_NAME = 'mmulab';
export const DISPLAY_NAME = 'TypeScript (mmulab)';

/** The project root of this installation (`dist/kernel/..` → the package). */
export function defaultRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

export function packageVersion(root: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The TypeScript version that compiles cells (tslab's bundled compiler). */
export function typescriptVersion(): string {
  return (require('@tslab/typescript-for-tslab') as { version: string }).version;
}

/** language_info of kernel_info_reply; the runner writes the same into notebooks. */
export function languageInfo(): Record<string, unknown> {
  return {
    name: 'typescript',
    version: typescriptVersion(),
    mimetype: 'text/x.typescript',
    file_extension: '.ts',
    pygments_lexer: 'typescript',
    // A string or `{name, version: <integer>}` for clients built on the Rust jupyter-protocol crate
    // (runtimed crates/jupyter-protocol/src/messaging.rs: `enum CodeMirrorMode`); classic Notebook
    // and JupyterLab find TypeScript highlighting by this name.
    codemirror_mode: 'typescript',
    // Required by the same crate (`struct LanguageInfo`): nbconvert's exporter for the language.
    nbconvert_exporter: 'script',
  };
}

export function kernelspecMetadata(): Record<string, unknown> {
  return { name: KERNEL_NAME, display_name: DISPLAY_NAME, language: 'typescript' };
}

class InterruptedError extends Error {
  constructor() {
    super('Execution interrupted');
    this.name = 'Interrupted';
  }
}

function isInterruption(e: unknown): boolean {
  if (e instanceof InterruptedError) return true;
  const err = e as { code?: unknown; message?: unknown } | null;
  return !!err && (err.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' || err.message === 'Interrupted asynchronously');
}

interface Deferred {
  promise: Promise<never>;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let reject!: (e: unknown) => void;
  const promise = new Promise<never>((_, rej) => {
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, reject };
}

/**
 * A stand-in for an ES module namespace that is still loading: what a cell's `require` returns,
 * forwarding to the namespace once it is there (cells run only after it is).
 */
function lazyNamespace(name: string, get: () => object | undefined): object {
  const ns = (): Record<string | symbol, unknown> => {
    const m = get();
    if (!m) throw new Error(`${name} is still loading`);
    return m as Record<string | symbol, unknown>;
  };
  return new Proxy(Object.create(null) as object, {
    get: (_t, p) => (p === '__esModule' ? true : ns()[p]),
    has: (_t, p) => p in ns(),
    ownKeys: () => Reflect.ownKeys(ns()),
    getOwnPropertyDescriptor: (_t, p) => {
      const d = Reflect.getOwnPropertyDescriptor(ns(), p);
      return d ? { ...d, configurable: true } : undefined;
    },
  });
}

/** Code points (Jupyter's cursor unit) ↔ UTF-16 offsets (JavaScript's). */
export function codePointToOffset(s: string, cp: number): number {
  let off = 0;
  for (let i = 0; i < cp && off < s.length; i++) {
    const c = s.codePointAt(off)!;
    off += c > 0xffff ? 2 : 1;
  }
  return off;
}

export function offsetToCodePoint(s: string, off: number): number {
  return [...s.slice(0, off)].length;
}

/** Scripts compiled from cells: their names in stack traces, labels and source maps. */
interface ScriptInfo {
  label: string;
  maps: CellMaps;
  /** Length of tslab's wrapper before the code on the first line. */
  wrap: number;
  /** Lines of the cell: frames mapped past them are tslab's wrapper. */
  lines: number;
  /** Lines of the compiled code: frames past them are the call of tslab's wrapper. */
  codeLines: number;
  /** The cell as written, and as compiled (shorthand properties written out). */
  original: string;
  expanded: Expanded;
}

const SCRIPT_PREFIX = 'mmulab-cell-';
const DECL_MAP = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]*)/g;

/**
 * Removes map comments from declaration output. tslab appends more declarations right after the
 * comment (no newline), and they may start with base64 letters (`import …`): the comment ends
 * where its base64 decodes to a whole JSON object.
 */
export function stripDeclMaps(decl: string): string {
  return decl.replace(DECL_MAP, (_m, b64: string) => {
    // Padding ends the base64 for sure (and Node's decoder would ignore what follows it).
    const eq = b64.indexOf('=');
    if (eq >= 0) {
      let end = eq;
      while (b64[end] === '=') end++;
      return '\n' + b64.slice(end);
    }
    // Unpadded: the shortest prefix that decodes to a whole JSON object.
    for (let k = 4; k <= b64.length; k += 4) {
      if (!Buffer.from(b64.slice(k - 4, k), 'base64').toString('latin1').endsWith('}')) continue;
      try {
        JSON.parse(Buffer.from(b64.slice(0, k), 'base64').toString('utf8'));
        return '\n' + b64.slice(k);
      } catch {
        // not yet the end of the map
      }
    }
    return '\n' + b64;
  });
}

const FRAME = new RegExp(`^\\s*at (?:async )?(?:(.*?) \\()?${SCRIPT_PREFIX}(\\d+):(\\d+):(\\d+)\\)?\\s*$`);
/** tslab wraps the CommonJS of a cell as `(function(exports, require) { …` on its first line. */
const WRAP_PREFIX = { sync: '(function(exports, require) { '.length, async: '(async function(exports, require) { '.length };

let streamsHooked = false;
const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr);

/** Writes to the real stderr, bypassing cell capture (the kernel's own log). */
export function logToStderr(message: string): void {
  realStderrWrite(message.endsWith('\n') ? message : message + '\n');
}

/** Writes to the real stdout, bypassing cell capture. */
export function logToStdout(message: string): void {
  realStdoutWrite(message.endsWith('\n') ? message : message + '\n');
}

/** Routes process.stdout/stderr writes to the running cell's output; the real streams otherwise. */
function hookStreams(): void {
  if (streamsHooked) return;
  streamsHooked = true;
  const hook = (name: 'stdout' | 'stderr', real: typeof realStdoutWrite) =>
    function write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      const out = currentOutput();
      if (!out) return (real as (...a: unknown[]) => boolean)(chunk, encoding, cb);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      out.emit(() => out.sink.stream(name, text));
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    };
  process.stdout.write = hook('stdout', realStdoutWrite) as typeof process.stdout.write;
  process.stderr.write = hook('stderr', realStderrWrite) as typeof process.stderr.write;
}

/**
 * Errors that escape a cell (a rejected promise nobody awaited, a throw in a timer) are shown in
 * the running (or last) cell's stderr instead of ending the process, as in other kernels.
 */
export function installProcessHandlers(): void {
  if (processHandlers) return;
  processHandlers = true;
  Error.stackTraceLimit = Math.max(Error.stackTraceLimit, 30);
  const report = (kind: string) => (e: unknown) => {
    const text = `${kind}: ${e instanceof Error ? `${e.name}: ${e.message}` : plainText(e)}\n`;
    const out = currentOutput();
    if (out) out.emit(() => out.sink.stream('stderr', text));
    else logToStderr(text);
  };
  process.on('unhandledRejection', report('Unhandled promise rejection'));
  process.on('uncaughtException', report('Uncaught exception'));
}
let processHandlers = false;

/**
 * Inline source maps for the duration of a compile. tslab fixes its compiler options, so they are
 * read through a getter on Object.prototype that exists only while `convert` runs (no cell code
 * runs then). Both of tslab's compile steps see it.
 */
function withInlineSourceMaps<T>(f: () => T): T {
  const had = Object.prototype.hasOwnProperty.call(Object.prototype, 'inlineSourceMap');
  if (!had) Object.defineProperty(Object.prototype, 'inlineSourceMap', { get: () => true, configurable: true, enumerable: false });
  try {
    return f();
  } finally {
    if (!had) delete (Object.prototype as { inlineSourceMap?: unknown }).inlineSourceMap;
  }
}

export class Runtime {
  readonly root: string;
  private readonly log: (message: string) => void;
  private converter!: Converter;
  private executor!: Executor;
  private preloaded = new Map<string, unknown>();
  private prelude!: Prelude;
  private preludeWarned = false;
  private scripts = new Map<number, ScriptInfo>();
  private scriptSeq = 0;
  private currentLabel = 'prelude';
  private lastConvert: ConvertResult | undefined;
  private lastValue: { value: unknown } | undefined;
  private lastError: { error: unknown } | undefined;
  private interruptSignal: Deferred | undefined;
  private busy = false;

  private constructor(options: RuntimeOptions) {
    this.root = path.resolve(options.root ?? defaultRoot());
    this.log = options.log ?? logToStderr;
  }

  /** Creates the runtime: compiler, preloaded modules, output capture and the prelude. */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(options);
    await rt.init();
    return rt;
  }

  private async init(): Promise<void> {
    const timing = process.env.MMULAB_TIMING ? (what: string, t0: bigint) => this.log(`mmulab timing: ${what} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`) : undefined;
    let t = process.hrtime.bigint();
    // vega and vega-lite are ES modules with top-level await: a real import(), started now, ends
    // while the compiler starts and the prelude compiles (cells that use them wait for it).
    const vega = loadVega();
    installTypesShim();
    const cwd = process.cwd();
    const chdir = cwd !== this.root;
    // tslab's converter resolves packages and local imports under the working directory.
    if (chdir) process.chdir(this.root);
    try {
      const conv = createConverter({});
      const convert = conv.convert.bind(conv);
      conv.convert = (prevDecl: string, src: string): ConvertResult => this.afterConvert(withInlineSourceMaps(() => convert(prevDecl, src)), src);
      this.converter = conv;
    } finally {
      if (chdir) process.chdir(cwd);
    }
    timing?.('compiler', t);
    t = process.hrtime.bigint();
    // arquero is an ES module without top-level await: Node 20.19+ requires it synchronously.
    this.preloaded.set('arquero', require(require.resolve('arquero', { paths: [this.root] })) as unknown);
    // vega and vega-lite finish loading while the prelude compiles: the prelude binds `vl` to a
    // view of the namespace, and user cells wait for the modules before they run.
    const vegaLite = lazyNamespace('vega-lite', () => loadedVega()?.vegaLite);
    this.preloaded.set('vega', lazyNamespace('vega', () => loadedVega()?.vega));
    this.preloaded.set('vega-lite', vegaLite);
    this.preloaded.set('vega-lite/build/index', vegaLite);
    this.preloaded.set('vega-lite/build/index.js', vegaLite);
    this.vegaReady = vega.then(
      () => undefined,
      (e: unknown) => this.log(`mmulab: vega could not be loaded: ${String(e)}`),
    );

    hookStreams();
    // tslab's own display API (`import * as tslab from "tslab"`) writes through this hook.
    const tslabJupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
    tslabJupyter.lastWriteDisplayData = (data: { data: MimeBundle; metadata?: Record<string, unknown>; transient?: { display_id?: string } }, update: boolean) => {
      const out = currentOutput();
      out?.emit(() => out.sink.display({ data: data.data, metadata: data.metadata ?? {}, transient: data.transient ?? {} }, update));
    };
    await this.resetNamespace();
    timing?.('prelude', t);
  }

  /** Records each compile: diagnostics for errors, source maps and a script name for traces. */
  private afterConvert(r: ConvertResult, src: string): ConvertResult {
    this.lastConvert = r;
    // An interrupt that came while the cell was being compiled: it must not start running.
    if (this.interruptPending && r.output) r.output = 'throw new Error("Interrupted asynchronously");';
    // The declaration emit gets a map comment too, and tslab appends to it without a newline.
    if (r.declOutput) r.declOutput = stripDeclMaps(r.declOutput);
    if (r.output) {
      const { code, maps } = extractInlineMaps(r.output);
      const id = ++this.scriptSeq;
      this.scripts.set(id, { label: this.currentLabel, maps, wrap: r.hasToplevelAwait ? WRAP_PREFIX.async : WRAP_PREFIX.sync, lines: src.split('\n').length, codeLines: code.split('\n').length, ...this.source });
      r.output = `${code}\n//# sourceURL=${SCRIPT_PREFIX}${id}`;
    }
    return r;
  }

  /** A fresh namespace: a new executor, the prelude run again (the compiler is kept). */
  async resetNamespace(): Promise<void> {
    this.executor?.reset();
    this.executor = createExecutor(this.root, { node: this.converter, browser: this.converter, close: () => this.converter.close() }, {
      log: (value: unknown) => {
        this.lastValue = { value };
      },
      error: (first: unknown) => {
        // Diagnostics arrive as printf-style strings; the converter's result has them structured.
        if (typeof first === 'string' && first.startsWith('%s%d:%d')) return;
        this.lastError = { error: first };
      },
    });
    this.installRequire();
    const displayModule = path.join(__dirname, 'display');
    let prelude = buildPrelude(this.root, displayModule);
    let failure = await this.runPrelude(prelude.source);
    if (failure && prelude.engineNames.length) {
      const problem = `the engine could not be loaded: ${failure}`;
      prelude = { ...buildPrelude(this.root, displayModule, false), problem };
      failure = await this.runPrelude(prelude.source);
    }
    if (failure) throw new Error(`mmulab prelude failed: ${failure}`);
    this.prelude = prelude;
    this.preludeWarned = false;
    if (prelude.problem) this.log(`mmulab: ${prelude.problem}`);
  }

  private async runPrelude(source: string): Promise<string | undefined> {
    const sink: OutputSink = { stream: () => undefined, display: () => undefined, clear: () => undefined };
    const outcome = await this.execute(source, { sink, label: 'prelude', idPrefix: 'prelude' });
    if (outcome.status === 'ok') return undefined;
    return [outcome.evalue, ...outcome.traceback.slice(1)].join('\n');
  }

  /** Cells' `require`: ES modules loaded by the runtime are returned as they are. */
  private installRequire(): void {
    const holder = (globalThis as { __tslab__?: { require: NodeJS.Require } }).__tslab__;
    if (!holder) throw new Error('tslab executor did not install __tslab__');
    const base = holder.require;
    const preloaded = this.preloaded;
    holder.require = new Proxy(base, {
      apply(target, thisArg, args: unknown[]) {
        if (args.length === 1 && typeof args[0] === 'string' && preloaded.has(args[0])) return preloaded.get(args[0]);
        return Reflect.apply(target, thisArg, args) as unknown;
      },
    });
  }

  /** Names the prelude put in scope, for documentation and tests. */
  get preludeInfo(): Prelude {
    return this.prelude;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  /**
   * Runs one cell. Outputs go to `ctx.sink` in order; the outcome carries the result bundle of the
   * last expression (awaited when it is a promise or renders asynchronously) or the error.
   */
  async execute(code: string, ctx: ExecuteContext): Promise<Outcome> {
    const out = new CellOutput(ctx.sink, ctx.idPrefix);
    setCurrentOutput(out);
    this.busy = true;
    this.interruptPending = false;
    this.currentLabel = ctx.label;
    this.lastConvert = undefined;
    this.lastValue = undefined;
    this.lastError = undefined;
    const signal = deferred();
    this.interruptSignal = signal;
    try {
      if (this.prelude?.problem && !this.preludeWarned && ctx.label !== 'prelude') {
        this.preludeWarned = true;
        out.emit(() => out.sink.stream('stderr', `mmulab: ${this.prelude.problem}\n`));
      }
      // Only code that names the namespaces can need them synchronously (charts wait by themselves).
      if (ctx.label !== 'prelude' && !loadedVega() && /\b(vl|vega|vegaLite)\b/.test(code)) await Promise.race([this.vegaReady, signal.promise]).catch(() => undefined);
      const expanded = expandShorthands(code);
      this.source = { original: code, expanded };
      let ok: boolean;
      try {
        ok = await this.executor.execute(expanded.code);
      } catch (e) {
        ok = false;
        this.lastError = { error: e };
      }
      if (!ok) {
        const error = this.failure(code, ctx.label);
        await Promise.race([out.drain(), signal.promise]).catch(() => undefined);
        return error;
      }
      try {
        await Promise.race([out.drain(), signal.promise]);
        const v = this.lastValue as { value: unknown } | undefined;
        if (!v || (typeof v.value === 'object' && v.value !== null && (v.value as { [NO_RESULT]?: unknown })[NO_RESULT])) return { status: 'ok' };
        const b = toBundle(v.value);
        const bundle = isPromiseLike(b) ? await Promise.race([b, signal.promise]) : b;
        return { status: 'ok', result: bundle };
      } catch (e) {
        return this.errorOutcome(e, ctx.label);
      }
    } finally {
      this.busy = false;
      this.interruptPending = false;
      if (this.interruptSignal === signal) this.interruptSignal = undefined;
    }
  }

  /** Interrupts a hung `await` (a busy loop is interrupted by SIGINT itself, through vm). */
  interrupt(): void {
    if (this.busy) this.interruptPending = true;
    this.interruptSignal?.reject(new InterruptedError());
    this.executor.interrupt();
  }
  private interruptPending = false;
  /** The cell being compiled: as written and as compiled. */
  private source: { original: string; expanded: Expanded } = { original: '', expanded: { code: '', insertions: [] } };
  private vegaReady: Promise<void> = Promise.resolve();

  private failure(code: string, label: string): Outcome {
    const diags = this.lastConvert?.diagnostics ?? [];
    const { expanded } = this.source;
    const toOriginal = (line: number, column: number) => originalPosition(expanded, code, line, column);
    if (diags.length) return { status: 'error', interrupted: false, ...compileError(diags, code, label, toOriginal) };
    if (this.lastError) return this.errorOutcome(this.lastError.error, label);
    return { status: 'error', interrupted: false, ename: 'Error', evalue: 'execution failed', traceback: ['Error: execution failed'] };
  }

  private errorOutcome(e: unknown, label: string): Outcome {
    if (isInterruption(e)) {
      const frames = this.frames(e);
      return { status: 'error', interrupted: true, ename: 'Interrupted', evalue: 'Execution interrupted', traceback: ['Interrupted: Execution interrupted', ...frames] };
    }
    return { status: 'error', interrupted: false, ...this.runtimeError(e, label) };
  }

  private frames(e: unknown): string[] {
    const stack = typeof (e as { stack?: unknown })?.stack === 'string' ? (e as { stack: string }).stack : '';
    const lines: string[] = [];
    for (const line of stack.split('\n')) {
      const m = FRAME.exec(line);
      if (!m) continue;
      const [, fn, id, l, c] = m;
      const info = this.scripts.get(Number(id));
      if (!info) continue;
      const jsLine = Number(l) - 1;
      if (jsLine >= info.codeLines) continue;
      let jsCol = Number(c) - 1;
      // First line: tslab's wrapper precedes the code.
      if (jsLine === 0) jsCol = Math.max(0, jsCol - info.wrap);
      const pos = mapPosition(info.maps, jsLine, jsCol);
      // The compiled source starts with tslab's one-line `export {};` prefix; positions past the
      // cell's last line are tslab's wrapper (the call of the cell's function): not shown.
      if (pos && (pos.line < 1 || pos.line > info.lines)) continue;
      const orig = pos && originalPosition(info.expanded, info.original, pos.line - 1, pos.column);
      const where = orig ? `${info.label}:${orig.line + 1}:${orig.column + 1}` : info.label;
      const name = fn && !/^(async )?(Object\.)?<anonymous>$/.test(fn) ? fn.replace(/^Object\./, '') : undefined;
      lines.push(`    at ${name ? `${name} (${where})` : where}`);
    }
    return lines;
  }

  /** Error text without absolute paths of this machine: the project and the working directory become relative. */
  private sanitize(s: string): string {
    const dirs = [...new Set([process.cwd(), this.root])].filter((d) => d.length > 1).sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      const rel = path.relative(this.root, d).split(path.sep).join('/');
      s = s.split(d + path.sep).join(rel ? `${rel}/` : '').split(d).join(rel || '.');
    }
    return s;
  }

  private runtimeError(e: unknown, label: string): CellError {
    const r = this.rawRuntimeError(e, label);
    return { ename: r.ename, evalue: this.sanitize(r.evalue), traceback: r.traceback.map((l) => this.sanitize(l)) };
  }

  private rawRuntimeError(e: unknown, _label: string): CellError {
    if (e instanceof Error || (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string')) {
      const err = e as Error;
      let ename = typeof err.name === 'string' && err.name ? err.name : 'Error';
      const ctor = (err as { constructor?: { name?: unknown } }).constructor?.name;
      if (ename === 'Error' && typeof ctor === 'string' && ctor && ctor !== 'Error' && ctor !== 'Object') ename = ctor;
      const evalue = String(err.message);
      return { ename, evalue, traceback: [evalue ? `${ename}: ${evalue}` : ename, ...this.frames(err)] };
    }
    const evalue = plainText(e);
    return { ename: 'Thrown', evalue, traceback: [`Thrown: ${evalue}`] };
  }

  /** Completion at a cursor given in code points (Jupyter's unit). */
  complete(code: string, cursorPos: number): { matches: string[]; cursorStart: number; cursorEnd: number } {
    const off = codePointToOffset(code, cursorPos);
    try {
      const info = this.executor.complete(code, off);
      return { matches: info.candidates, cursorStart: offsetToCodePoint(code, info.start), cursorEnd: offsetToCodePoint(code, info.end) };
    } catch (e) {
      this.log(`complete failed: ${String(e)}`);
      return { matches: [], cursorStart: cursorPos, cursorEnd: cursorPos };
    }
  }

  /** Quick info (type and docs) at a cursor given in code points. */
  inspect(code: string, cursorPos: number): string | undefined {
    const off = codePointToOffset(code, cursorPos);
    try {
      const info = this.executor.inspect(code, off);
      if (!info) return undefined;
      const text = printQuickInfo(info);
      return text || undefined;
    } catch (e) {
      this.log(`inspect failed: ${String(e)}`);
      return undefined;
    }
  }

  isComplete(code: string): { status: 'complete' | 'incomplete'; indent?: string } {
    const r = isCompleteCode(code);
    return r.completed ? { status: 'complete' } : { status: 'incomplete', indent: r.indent ?? '' };
  }

  /** The value of a name in the cells' namespace (e.g. parameters after they ran). */
  local(name: string): { value: unknown } | undefined {
    const locals = this.executor.locals;
    return Object.prototype.hasOwnProperty.call(locals, name) ? { value: locals[name] } : undefined;
  }

  close(): void {
    setCurrentOutput(undefined);
    this.converter.close();
  }
}

function category(d: Diagnostic): string {
  return d.category === 0 ? 'warning' : d.category === 1 ? 'error' : 'message';
}

/** A compile error as Jupyter shows errors: each diagnostic with its position and the line. */
export function compileError(
  diags: Diagnostic[],
  code: string,
  label: string,
  toOriginal: (line: number, column: number) => { line: number; column: number } = (line, column) => ({ line, column }),
): CellError {
  const lines = code.split('\n');
  const traceback: string[] = [];
  const first = diags[0]!;
  for (const d of diags) {
    if (d.fileName) {
      traceback.push(`${d.fileName.split(path.sep).join('/')}:${d.start.line + 1}:${d.start.character + 1} - ${category(d)} TS${d.code}: ${d.messageText}`);
      continue;
    }
    const start = toOriginal(d.start.line, d.start.character);
    const end = toOriginal(d.end.line, d.end.character);
    traceback.push(`${label}:${start.line + 1}:${start.column + 1} - ${category(d)} TS${d.code}: ${d.messageText}`);
    if (start.line < lines.length) {
      const n = String(start.line + 1);
      const src = lines[start.line]!;
      const width = end.line === start.line ? Math.max(1, end.column - start.column) : Math.max(1, src.length - start.column);
      traceback.push(`  ${n} | ${src}`, `  ${' '.repeat(n.length)} | ${' '.repeat(start.column)}${'~'.repeat(width)}`);
    }
  }
  return { ename: 'CompileError', evalue: `TS${first.code}: ${first.messageText}`, traceback };
}
