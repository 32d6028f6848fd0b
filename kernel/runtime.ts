/**
 * The runtime shared by the kernel and the in-process notebook runner: the cell compiler (the
 * project's TypeScript, loaded on the first compile), the executor, the prelude (loaded name by
 * name on first use), output capture, results, errors with positions in the cell, completion,
 * inspection and interruption.
 */
import * as fs from 'node:fs';
import { SourceMap } from 'node:module';
import * as path from 'node:path';
import { printQuickInfo } from 'tslab/dist/inspect';
import type { CellCompiler, Diagnostic, Scope } from './compiler';
import { CellOutput, display, DISPLAY_ON_CALL, NO_RESULT, setCurrentOutput, currentOutput, toBundle, isPromiseLike, loadVega, loadedVega, plainText, type MimeBundle, type OutputSink } from './display';
import { Executor, WRAP_PREFIX } from './executor';
import { DISPLAY_HELPERS, type Prelude } from './prelude';
import { defaultRoot, logToStderr, realStderrWrite, realStdoutWrite } from './info';

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

export { KERNEL_NAME, DISPLAY_NAME, defaultRoot, packageVersion, typescriptVersion, languageInfo, kernelspecMetadata, logToStderr, logToStdout } from './info';

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

/**
 * Maps a zero-based position in a cell's compiled code to the checked text (one-based line: the
 * header is line 0; zero-based column). Undefined when the map has no entry there.
 */
function mapPosition(info: ScriptInfo, line: number, column: number): { line: number; column: number } | undefined {
  if (!info.map) return undefined;
  if (typeof info.map === 'string') {
    try {
      info.map = new SourceMap(JSON.parse(info.map) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      info.map = undefined;
      return undefined;
    }
  }
  const e = info.map.findEntry(line, column) as Partial<{ originalLine: number; originalColumn: number }>;
  if (typeof e.originalLine !== 'number' || typeof e.originalColumn !== 'number') return undefined;
  return { line: e.originalLine, column: e.originalColumn };
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
  /** The source map (JSON until a traceback needs it), to the checked text: line 0 is its header. */
  map: string | SourceMap | undefined;
  /** Length of the executor's wrapper before the code on the first line. */
  wrap: number;
  /** Lines of the cell: frames mapped past them are the export of the cell's names. */
  lines: number;
  /** Lines of the compiled code: frames past them are the call of the wrapper. */
  codeLines: number;
}

/**
 * Whether code of a cell can still run after the cell ended (a function, class, method or
 * callback): only then is its source map kept for later tracebacks, so that a long session of
 * plain statements does not grow.
 */
const DEFINES_CODE = /=>|\bfunction\b|\bclass\b|\)\s*\{|\bget\b|\bset\b/;

const SCRIPT_PREFIX = 'mmulab-cell-';

const FRAME = new RegExp(`^\\s*at (?:async )?(?:(.*?) \\()?${SCRIPT_PREFIX}(\\d+):(\\d+):(\\d+)\\)?\\s*$`);

let streamsHooked = false;
/** Routes process.stdout/stderr writes to the running cell's output; the real streams otherwise. */
function hookStreams(): void {
  if (streamsHooked) return;
  streamsHooked = true;
  const hook = (name: 'stdout' | 'stderr', real: typeof realStdoutWrite) =>
    function write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      const out = currentOutput();
      if (!out) return (real as (...a: unknown[]) => boolean)(chunk, encoding, cb);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      out.stream(name, text);
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
    if (out) out.stream('stderr', text);
    else logToStderr(text);
  };
  process.on('unhandledRejection', report('Unhandled promise rejection'));
  process.on('uncaughtException', report('Uncaught exception'));
}
let processHandlers = false;

export class Runtime {
  readonly root: string;
  private readonly log: (message: string) => void;
  private compiler: CellCompiler | undefined;
  private executor!: Executor;
  /** Names loaded on first use (the prelude), shared with the executor's namespace. */
  private readonly lazy = new Map<string, () => unknown>();
  private readonly modules = new Map<string, unknown>();
  private prelude: (Prelude & { problem?: string }) | undefined;
  private preludeScope: Scope | undefined;
  /** Names in scope after the last cell that ran (undefined: the prelude's). */
  private scope: Scope | undefined;
  private preludeWarned = false;
  private scripts = new Map<number, ScriptInfo>();
  private scriptSeq = 0;
  private interruptSignal: Deferred | undefined;
  private busy = false;
  private readonly displayModule = path.join(__dirname, 'display');

  private constructor(options: RuntimeOptions) {
    this.root = path.resolve(options.root ?? defaultRoot());
    this.log = options.log ?? logToStderr;
  }

  /**
   * Creates the runtime: output capture and an empty namespace. Nothing heavy is loaded here: the
   * compiler loads on the first compile (or `warm()`), vega, arquero and the engine on first use.
   */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const rt = new Runtime(options);
    rt.init();
    return rt;
  }

  private init(): void {
    hookStreams();
    this.modules.set('vega', lazyNamespace('vega', () => loadedVega()?.vega));
    const vegaLite = lazyNamespace('vega-lite', () => loadedVega()?.vegaLite);
    for (const id of ['vega-lite', 'vega-lite/build/index', 'vega-lite/build/index.js']) this.modules.set(id, vegaLite);
    this.resetNamespace();
  }

  /** Loads the compiler and compiles a first cell, so that the first real cell does not wait for it. */
  warm(): void {
    try {
      this.compilerFor().compile('0', this.currentScope());
    } catch (e) {
      this.log(`mmulab: warming the compiler failed: ${String(e)}`);
    }
  }

  private refreshPending = false;
  /**
   * Once the cell's reply is out, lets the compiler make the program that the next cell can be
   * checked with (the new cell's names in it), unless a cell runs by then.
   */
  private refreshSoon(): void {
    if (this.refreshPending) return;
    this.refreshPending = true;
    setImmediate(() => {
      this.refreshPending = false;
      if (this.busy || !this.compiler) return;
      try {
        this.compiler.refresh(this.currentScope());
      } catch (e) {
        this.log(`mmulab: preparing the compiler failed: ${String(e)}`);
      }
    });
  }

  /** What a cell's `require(id)` returns instead of Node's resolution. */
  private resolveModule(id: string): { value: unknown } | undefined {
    if (this.modules.has(id)) return { value: this.modules.get(id) };
    if (id === 'arquero') {
      // arquero is an ES module without top-level await: Node 20.19+ requires it synchronously.
      const aq = require(require.resolve('arquero', { paths: [this.root] })) as unknown;
      this.modules.set(id, aq);
      return { value: aq };
    }
    // The project itself, by its package name, from any working directory.
    if (id === 'mmulab' || id.startsWith('mmulab/')) return { value: require(path.join(this.root, id === 'mmulab' ? 'dist/index' : id.replace(/^mmulab\//, ''))) as unknown };
    if (id === 'tslab') {
      const tslab = require('tslab') as unknown;
      // tslab's display API (`import * as tslab from "tslab"`) writes through this hook.
      const tslabJupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
      tslabJupyter.lastWriteDisplayData = (data: { data: MimeBundle; metadata?: Record<string, unknown>; transient?: { display_id?: string } }, update: boolean) => {
        const out = currentOutput();
        out?.emit(() => out.display({ data: data.data, metadata: data.metadata ?? {}, transient: data.transient ?? {} }, update));
      };
      this.modules.set(id, tslab);
      return { value: tslab };
    }
    return undefined;
  }

  /** The compiler, made on first use: loads TypeScript and the prelude's declarations. */
  private compilerFor(): CellCompiler {
    if (this.compiler) return this.compiler;
    const { CellCompiler: Compiler } = require('./compiler') as typeof import('./compiler');
    const { buildPrelude } = require('./prelude') as typeof import('./prelude');
    const { installTypesShim } = require('./types-shim') as typeof import('./types-shim');
    installTypesShim();
    (require('./compiler') as typeof import('./compiler')).registerTsRequire();
    const compiler = new Compiler(this.root, new Map([['mmulab', './dist/index']]));
    const prelude = buildPrelude(this.root, this.displayModule);
    const file = compiler.declarationFile('__prelude');
    compiler.addDeclarations({ file, text: prelude.declarations });
    this.preludeScope = Compiler.extend(new Map(), './__prelude', new Map(prelude.names.map((n) => [n, false])));
    for (const n of prelude.engineNames) this.lazy.set(n, () => this.engineValue(n));
    this.prelude = { ...prelude, ...(this.prelude?.problem ? { problem: this.prelude.problem } : {}) };
    this.compiler = compiler;
    return compiler;
  }

  /**
   * An engine export as cells see it. A function marked `Symbol.for('mmulab.displayOnCall')`
   * (the engine's `claim`) shows its result when it is called, so every claim of a cell is a line
   * of its output, in order, not only the last one.
   */
  private engineValue(name: string): unknown {
    const v = (require(path.join(this.root, 'dist', 'index')) as Record<string, unknown>)[name];
    if (typeof v !== 'function' || !(v as { [DISPLAY_ON_CALL]?: unknown })[DISPLAY_ON_CALL]) return v;
    const f = v as (...args: unknown[]) => unknown;
    return Object.assign(
      function (this: unknown, ...args: unknown[]): unknown {
        const r = f.apply(this, args);
        display(r);
        return r;
      },
      { [DISPLAY_ON_CALL]: true },
    );
  }

  private currentScope(): Scope {
    this.compilerFor();
    return this.scope ?? this.preludeScope!;
  }

  /** A fresh namespace: the prelude's names again, nothing of earlier cells (the compiler is kept). */
  resetNamespace(): void {
    this.lazy.clear();
    this.lazy.set('aq', () => this.resolveModule('arquero')!.value);
    this.lazy.set('vl', () => this.modules.get('vega-lite'));
    for (const n of DISPLAY_HELPERS) this.lazy.set(n, () => (require(this.displayModule) as Record<string, unknown>)[n]);
    if (this.prelude) {
      for (const n of this.prelude.engineNames) this.lazy.set(n, () => this.engineValue(n));
    }
    this.executor = new Executor(this.root, this.lazy, (id) => this.resolveModule(id));
    this.scope = undefined;
    this.scripts.clear();
    const engineDts = path.join(this.root, 'dist', 'index.d.ts');
    const problem = fs.existsSync(engineDts) ? undefined : `the engine is not built (${path.relative(this.root, engineDts).split(path.sep).join('/')} is missing): run \`npm run build\``;
    this.prelude = this.prelude ? { ...this.prelude, ...(problem ? { problem } : {}) } : problem ? { declarations: '', names: [], engineNames: [], problem } : undefined;
    this.preludeWarned = false;
    if (problem) this.log(`mmulab: ${problem}`);
  }

  /** Names the prelude put in scope (known once the compiler loaded), for documentation and tests. */
  get preludeInfo(): Prelude | undefined {
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
    const signal = deferred();
    this.interruptSignal = signal;
    let scriptId: number | undefined;
    // A cell awaiting what never comes must wait for its interrupt (a timeout, Ctrl-C), not let
    // the process end because nothing else is pending (the runner has no sockets).
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      if (this.prelude?.problem && !this.preludeWarned) {
        this.preludeWarned = true;
        out.emit(() => out.sink.stream('stderr', `mmulab: ${this.prelude!.problem}\n`));
      }
      // Only code that names the namespaces can need them synchronously (charts wait by themselves).
      if (!loadedVega() && /\b(vl|vega|vegaLite)\b/.test(code)) {
        await Promise.race([
          loadVega().catch((e: unknown) => this.log(`mmulab: vega could not be loaded: ${String(e)}`)),
          signal.promise,
        ]).catch(() => undefined);
      }
      const compiled = this.compilerFor().compile(code, this.currentScope());
      // A SIGINT that came during the (synchronous) compile is handled now, before the cell runs.
      if (!compiled.diagnostics.length) await new Promise((r) => setImmediate(r));
      if (compiled.diagnostics.length) return { status: 'error', interrupted: false, ...compileError(compiled.diagnostics, code, ctx.label) };
      // An interrupt that came while the cell was being compiled: it must not start running.
      if (this.interruptPending) return this.errorOutcome(new InterruptedError(), ctx.label);
      const output = compiled.output ?? '';
      scriptId = ++this.scriptSeq;
      this.scripts.set(scriptId, {
        label: ctx.label,
        map: compiled.map,
        wrap: (compiled.hasToplevelAwait ? WRAP_PREFIX.async : WRAP_PREFIX.sync).length,
        lines: code.split('\n').length,
        codeLines: output.split('\n').length,
      });
      const run = await this.executor.run(output, compiled.hasToplevelAwait, compiled.lastExpressionVar, `${SCRIPT_PREFIX}${scriptId}`);
      if (!run.ok) {
        const error = this.errorOutcome(run.error, ctx.label);
        await Promise.race([out.drain(), signal.promise]).catch(() => undefined);
        return error;
      }
      // The cell ran: its names are in scope for the next cells.
      if (compiled.decl) this.compiler!.addDeclarations(compiled.decl);
      this.scope = compiled.scope;
      this.refreshSoon();
      try {
        await Promise.race([out.drain(), signal.promise]);
        const v = run.value;
        if (!v || (typeof v.value === 'object' && v.value !== null && (v.value as { [NO_RESULT]?: unknown })[NO_RESULT])) return { status: 'ok' };
        const b = toBundle(v.value);
        const bundle = isPromiseLike(b) ? await Promise.race([b, signal.promise]) : b;
        return { status: 'ok', result: bundle };
      } catch (e) {
        return this.errorOutcome(e, ctx.label);
      }
    } finally {
      clearInterval(keepAlive);
      if (scriptId !== undefined && !DEFINES_CODE.test(code)) this.scripts.delete(scriptId);
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
      // First line: the executor's wrapper precedes the code.
      if (jsLine === 0) jsCol = Math.max(0, jsCol - info.wrap);
      const pos = mapPosition(info, jsLine, jsCol);
      // The checked text starts with the compiler's one-line header; positions past the cell's
      // last line are the export of its names or the call of the wrapper: not shown.
      if (pos && (pos.line < 1 || pos.line > info.lines)) continue;
      const where = pos ? `${info.label}:${pos.line}:${pos.column + 1}` : info.label;
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
      const info = this.compilerFor().complete(code, this.currentScope(), off);
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
      const info = this.compilerFor().inspect(code, this.currentScope(), off);
      if (!info) return undefined;
      // Names of earlier cells reach the cell as imports: show what they are, not the import.
      const text = printQuickInfo(info as Parameters<typeof printQuickInfo>[0]).replace(/^\(alias\) /, '').replace(/\nimport [\w$]+(?=\n|$)/, '');
      return text || undefined;
    } catch (e) {
      this.log(`inspect failed: ${String(e)}`);
      return undefined;
    }
  }

  isComplete(code: string): { status: 'complete' | 'incomplete'; indent?: string } {
    const r = (require('./compiler') as typeof import('./compiler')).isCompleteCode(code);
    return r.completed ? { status: 'complete' } : { status: 'incomplete', indent: r.indent ?? '' };
  }

  /** The value of a name in the cells' namespace (e.g. parameters after they ran). */
  local(name: string): { value: unknown } | undefined {
    const locals = this.executor.locals;
    return Object.prototype.hasOwnProperty.call(locals, name) ? { value: locals[name] } : undefined;
  }

  close(): void {
    setCurrentOutput(undefined);
    this.compiler?.close();
  }
}

function category(d: Diagnostic): string {
  return d.category === 0 ? 'warning' : d.category === 1 ? 'error' : 'message';
}

/** A compile error as Jupyter shows errors: each diagnostic with its position and the line. */
export function compileError(diags: Diagnostic[], code: string, label: string): CellError {
  const lines = code.split('\n');
  const traceback: string[] = [];
  const first = diags[0]!;
  for (const d of diags) {
    if (d.fileName) {
      traceback.push(`${d.fileName.split(path.sep).join('/')}:${d.start.line + 1}:${d.start.character + 1} - ${category(d)} TS${d.code}: ${d.messageText}`);
      continue;
    }
    const start = { line: d.start.line, column: d.start.character };
    const end = { line: d.end.line, column: d.end.character };
    traceback.push(`${label}:${start.line + 1}:${start.column + 1} - ${category(d)} TS${d.code}: ${d.messageText}`);
    if (start.line >= 0 && start.line < lines.length) {
      const n = String(start.line + 1);
      const src = lines[start.line]!;
      const width = end.line === start.line ? Math.max(1, end.column - start.column) : Math.max(1, src.length - start.column);
      traceback.push(`  ${n} | ${src}`, `  ${' '.repeat(n.length)} | ${' '.repeat(start.column)}${'~'.repeat(width)}`);
    }
  }
  return { ename: 'CompileError', evalue: `TS${first.code}: ${first.messageText}`, traceback };
}
