/**
 * Rich display for the mmulab kernel and the in-process notebook runner.
 *
 * The protocol is Deno's: any object with a method under `Symbol.for('Jupyter.display')` that
 * returns a MIME bundle (or a promise of one) is shown with that bundle, as a cell's result or
 * through `display(obj)`. arquero tables show as HTML tables; vega-lite specs become charts with
 * the spec for JupyterLab, an SVG rendered here, on the server, for trusted front ends and the
 * report, and a PNG of that SVG for untrusted notebooks (classic Notebook, GitHub's viewer show
 * neither the spec nor SVG of an untrusted notebook, but they show PNG).
 *
 * Outputs of one cell go through an ordered queue: a chart whose SVG is still rendering holds back
 * the outputs that follow it, so what a cell prints and shows lands in the order it was asked for,
 * and the cell is not finished until its queue is drained.
 */
import { inspect } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as VegaNs from 'vega';
import type * as VegaLiteNs from 'vega-lite/build/index';

export type MimeBundle = Record<string, unknown>;

/** The display protocol's method name, shared with Deno's Jupyter kernel. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display') as never;
/** Objects carrying this symbol are not shown when they are a cell's last value (e.g. display handles). */
export const NO_RESULT: unique symbol = Symbol.for('mmulab.noResult') as never;
/** Engine functions carrying this symbol (`claim`) have their result shown when they are called. */
export const DISPLAY_ON_CALL: unique symbol = Symbol.for('mmulab.displayOnCall') as never;

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | Promise<MimeBundle>;
}

/** The content of a display_data / update_display_data message. */
export interface DisplayContent {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

/** Where a cell's outputs go: ZeroMQ messages in the kernel, nbformat outputs in the runner. */
export interface OutputSink {
  stream(name: 'stdout' | 'stderr', text: string): void;
  display(content: DisplayContent, update: boolean): void;
  clear(wait: boolean): void;
  /** A line of input from the front end (the kernel's stdin channel); absent where nobody can answer. */
  input?(prompt: string, password: boolean): Promise<string>;
}

export const VEGA_LITE_V5_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
export const VEGA_LITE_MIME = 'application/vnd.vegalite.v5+json';

// ---------------------------------------------------------------------------------------------
// Per-cell output context
// ---------------------------------------------------------------------------------------------

/**
 * The most output one cell may make: stream text and display data together, in UTF-8 bytes (the
 * JSON of a display's data). Past it the cell's output is cut with a notice and the rest dropped,
 * so a runaway cell cannot send one 50 MB iopub message or write it into a notebook. Updates of a
 * display (progress bars) replace an output and do not count.
 */
export const CELL_OUTPUT_LIMIT = 10 * 1024 * 1024;

/** The line a truncated cell's stderr ends with. */
export function truncationNotice(limit: number): string {
  const size = limit % (1024 * 1024) === 0 ? `${limit / (1024 * 1024)} MiB` : `${limit} bytes`;
  return `\n[mmulab: this cell's output reached the ${size} limit per cell; the rest was dropped]\n`;
}

/**
 * The outputs of one execution, in order. Synchronous outputs are emitted at once while nothing
 * is pending; once an asynchronous output (a chart being rendered) is queued, everything after it
 * waits its turn.
 */
export class CellOutput {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private seq = 0;
  private failure: { error: unknown } | undefined;
  /** display ids of progress bars, by label. */
  readonly progress = new Map<string, { id: string; key: string }>();
  /** Output bytes counted against `limit` so far, and whether the limit was reached. */
  private used = 0;
  private truncated = false;

  constructor(
    readonly sink: OutputSink,
    /** Display ids are `${idPrefix}-${n}`: deterministic, derived from the cell. */
    readonly idPrefix: string,
    /** This cell's output limit in bytes (CELL_OUTPUT_LIMIT). */
    readonly limit: number = CELL_OUTPUT_LIMIT,
  ) {}

  /** Count `bytes` against the limit: true if they fit; else the limit is reached (notice once). */
  private fits(bytes: number): boolean {
    if (this.truncated) return false;
    if (this.used + bytes <= this.limit) {
      this.used += bytes;
      return true;
    }
    return false;
  }

  private truncate(): void {
    this.truncated = true;
    this.used = this.limit;
    const notice = truncationNotice(this.limit);
    this.emit(() => this.sink.stream('stderr', notice));
  }

  /** Stream text, within the cell's output limit (cut at a character boundary when it passes it). */
  stream(name: 'stdout' | 'stderr', text: string): void {
    if (this.truncated) return;
    const bytes = Buffer.byteLength(text);
    if (this.fits(bytes)) {
      this.emit(() => this.sink.stream(name, text));
      return;
    }
    const buf = Buffer.from(text);
    let cut = this.limit - this.used;
    while (cut > 0 && (buf[cut]! & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
    const head = buf.subarray(0, cut).toString();
    if (head) this.emit(() => this.sink.stream(name, head));
    this.truncate();
  }

  /** A display output, within the limit (an update replaces an output and is not counted). */
  display(content: DisplayContent, update: boolean): void {
    if (this.truncated) return;
    if (update || this.fits(Buffer.byteLength(JSON.stringify(content.data, jsonReplacer) ?? ''))) this.sink.display(content, update);
    else this.truncate();
  }

  newDisplayId(): string {
    return `${this.idPrefix}-${++this.seq}`;
  }

  /** Emit an output now, or after everything already queued. */
  emit(action: () => void): void {
    if (this.queued === 0) {
      action();
      return;
    }
    this.chain(Promise.resolve(), () => action());
  }

  /** Emit an output whose content is still being computed, in its turn. */
  emitAsync<T>(value: Promise<T>, action: (v: T) => void): void {
    // Attach a handler now so a rejection is never reported as unhandled.
    value.catch(() => undefined);
    this.chain(value, action);
  }

  private chain<T>(value: Promise<T>, action: (v: T) => void): void {
    this.queued++;
    this.tail = this.tail
      .then(() => value)
      .then(
        (v) => {
          if (!this.failure) action(v);
        },
        (error: unknown) => {
          if (!this.failure) this.failure = { error };
        },
      )
      .finally(() => {
        this.queued--;
      });
  }

  /** Resolves when every queued output has been emitted; rejects with the first failure. */
  async drain(): Promise<void> {
    for (;;) {
      const t = this.tail;
      await t;
      if (t === this.tail) break;
    }
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      throw error;
    }
  }

  get pending(): boolean {
    return this.queued > 0;
  }
}

let current: CellOutput | undefined;

/** Installed by the runtime when a request starts; outputs made later (timers) go to the last one. */
export function setCurrentOutput(out: CellOutput | undefined): void {
  current = out;
}

export function currentOutput(): CellOutput | undefined {
  return current;
}

function requireOutput(what: string): CellOutput {
  if (!current) throw new Error(`${what}: no cell is running (use it inside the mmulab kernel or notebook runner)`);
  return current;
}

// ---------------------------------------------------------------------------------------------
// Input (stdin)
// ---------------------------------------------------------------------------------------------

/** Input was asked for where no front end can answer (allow_stdin false, the notebook runner). */
export class StdinNotAllowedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StdinNotAllowedError';
  }
}

/**
 * Asks the front end for a line of text (an `input_request` on the kernel's stdin channel) and
 * resolves to what the user typed. Fails with StdinNotAllowedError when the front end does not
 * accept input (its execute_request has `allow_stdin: false`, e.g. nbconvert) or no front end is
 * attached (the notebook runner).
 */
export function input(prompt = '', options: { password?: boolean } = {}): Promise<string> {
  const out = requireOutput('input()');
  const sink = out.sink;
  if (!sink.input) return Promise.reject(new StdinNotAllowedError(`input(${JSON.stringify(prompt)}): no front end can answer here (the notebook runner has no stdin)`));
  return sink.input(prompt, options.password === true);
}

/** The browser's `prompt`, asynchronous: `await prompt('Name: ')`. An empty answer gives `defaultValue` when there is one. */
export async function prompt(message = '', defaultValue?: string): Promise<string> {
  const v = await input(message);
  return v === '' && defaultValue !== undefined ? defaultValue : v;
}

/** The browser's `confirm`, asynchronous: true when the answer is y or yes (any case). */
export async function confirm(message = ''): Promise<boolean> {
  const v = await input(`${message} [y/N] `);
  return /^\s*y(es)?\s*$/i.test(v);
}

// ---------------------------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------------------------

function isObjectLike(x: unknown): x is object {
  return (typeof x === 'object' && x !== null) || typeof x === 'function';
}

export function isPromiseLike(x: unknown): x is PromiseLike<unknown> {
  return isObjectLike(x) && typeof (x as { then?: unknown }).then === 'function';
}

/** A duck-typed arquero table (ColumnTable). */
export interface TableLike {
  numRows(): number;
  numCols(): number;
  columnNames(): string[];
  objects(options?: { limit?: number }): Record<string, unknown>[];
  toHTML(options?: { limit?: number }): string;
}

export function isTable(x: unknown): x is TableLike {
  if (!isObjectLike(x)) return false;
  const t = x as Partial<Record<keyof TableLike, unknown>>;
  return typeof t.numRows === 'function' && typeof t.columnNames === 'function' && typeof t.toHTML === 'function' && typeof t.objects === 'function';
}

/** How values are shown as text: Node's inspect, without colours (stable across terminals). */
export function plainText(value: unknown): string {
  return inspect(value, { colors: false, depth: 4, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 });
}

function cellText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (v === undefined) return '';
  return typeof v === 'object' && v !== null ? plainText(v) : String(v);
}

/** Rows shown for a table: enough to read, bounded so a notebook stays small. */
export const TABLE_ROW_LIMIT = 50;

export function tableText(t: TableLike, limit = TABLE_ROW_LIMIT): string {
  const names = t.columnNames();
  const rows = t.objects({ limit }).map((r) => names.map((n) => cellText(r[n])));
  const cells = [names, ...rows];
  const widths = names.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const lines = cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const n = t.numRows();
  const more = n > limit ? `, first ${limit} shown` : '';
  lines.push(`(${n} row${n === 1 ? '' : 's'} × ${names.length} column${names.length === 1 ? '' : 's'}${more})`);
  return lines.join('\n');
}

export function tableBundle(t: TableLike, limit = TABLE_ROW_LIMIT): MimeBundle {
  const n = t.numRows();
  const note = n > limit ? `<p><small>${n} rows, first ${limit} shown</small></p>` : '';
  return { 'text/html': t.toHTML({ limit }) + note, 'text/plain': tableText(t, limit) };
}

export function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

/** JSON.stringify replacer: bigints as numbers when exact, else as hex strings. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v !== 'bigint') return v;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`;
}

/**
 * A bundle as it is sent and stored: a snapshot (later mutation of the value does not change an
 * output), JSON types as plain JSON, every other type as a string (bytes as base64), text/plain
 * always present.
 */
function checkBundle(b: unknown, value: unknown): MimeBundle {
  if (!isObjectLike(b) || Array.isArray(b)) {
    throw new TypeError(`[Symbol.for('Jupyter.display')]() must return a MIME bundle object, got ${plainText(b)}`);
  }
  const bundle: MimeBundle = {};
  for (const [mime, v] of Object.entries(b as MimeBundle)) {
    if (v === undefined) continue;
    if (isJsonMime(mime)) bundle[mime] = JSON.parse(JSON.stringify(v, jsonReplacer) ?? 'null') as unknown;
    else if (typeof v === 'string') bundle[mime] = v;
    else if (v instanceof Uint8Array) bundle[mime] = Buffer.from(v).toString('base64');
    else bundle[mime] = String(v);
  }
  if (typeof bundle['text/plain'] !== 'string') bundle['text/plain'] = plainText(value);
  return bundle;
}

/**
 * The engine's views of its plain records (walk results, page formats): `richBundle` from the
 * engine this kernel preloads (dist/index.js, one directory up — the same module instance the
 * cells import, so its `instanceof` checks hold). Loaded on first use; undefined without one.
 */
let engineView: ((x: unknown) => MimeBundle | undefined) | null | undefined;
function engineRichBundle(x: unknown): MimeBundle | undefined {
  if (engineView === undefined) {
    try {
      engineView = (require(path.join(__dirname, '..', 'index')) as { richBundle?: (x: unknown) => MimeBundle | undefined }).richBundle ?? null;
    } catch {
      engineView = null;
    }
  }
  return engineView ? engineView(x) : undefined;
}

/**
 * The MIME bundle for a value: its own view through the display protocol, the engine's view of
 * its records, an HTML table for an arquero table, the resolved value of a promise, otherwise
 * Node's inspect as text/plain.
 */
export function toBundle(value: unknown): MimeBundle | Promise<MimeBundle> {
  if (isObjectLike(value)) {
    const m = (value as { [JUPYTER_DISPLAY]?: unknown })[JUPYTER_DISPLAY];
    if (typeof m === 'function') {
      const b: unknown = m.call(value);
      if (isPromiseLike(b)) return Promise.resolve(b).then((r) => checkBundle(r, value));
      return checkBundle(b, value);
    }
    if (isTable(value)) return checkBundle(tableBundle(value), value);
    if (isPromiseLike(value)) return Promise.resolve(value).then((v) => toBundle(v));
    const eb = engineRichBundle(value);
    if (eb !== undefined) return checkBundle(eb, value);
  }
  return { 'text/plain': plainText(value) };
}

// ---------------------------------------------------------------------------------------------
// display()
// ---------------------------------------------------------------------------------------------

export interface DisplayOptions {
  /** The value is a MIME bundle already. */
  raw?: boolean;
  /** Metadata of the output (e.g. `{ 'image/svg+xml': { isolated: true } }`). */
  metadata?: Record<string, unknown>;
  /** Replace the output shown earlier under this display id instead of adding one. */
  update?: DisplayHandle | string;
  /** The display id of a new output (default: derived from the cell and a counter). */
  displayId?: string;
}

/** What `display` returns: the display id, and `update(value)` to replace that output in place. */
export class DisplayHandle {
  readonly [NO_RESULT] = true;
  constructor(readonly displayId: string) {}
  update(value: unknown, options: Omit<DisplayOptions, 'update'> = {}): DisplayHandle {
    return display(value, { ...options, update: this });
  }
}

/**
 * Shows `value` as one display_data output (or updates an earlier one). Works with anything
 * `toBundle` understands; a chart is rendered in the background and shown in its turn.
 */
export function display(value: unknown, options: DisplayOptions = {}): DisplayHandle {
  const out = requireOutput('display');
  const update = options.update;
  const id = update === undefined ? (options.displayId ?? out.newDisplayId()) : typeof update === 'string' ? update : update.displayId;
  const metadata = options.metadata ?? {};
  const send = (data: MimeBundle): void => out.display({ data, metadata, transient: { display_id: id } }, update !== undefined);
  const bundle = options.raw ? checkBundle(value, value) : toBundle(value);
  if (isPromiseLike(bundle)) out.emitAsync(Promise.resolve(bundle), send);
  else out.emit(() => send(bundle));
  return new DisplayHandle(id);
}

/** Clears the cell's outputs (with `wait`, just before the next output arrives). */
export function clearOutput(wait = false): void {
  const out = requireOutput('clearOutput');
  out.emit(() => out.sink.clear(wait));
}

class Rich implements Displayable {
  readonly [NO_RESULT]?: never;
  constructor(private readonly bundle: MimeBundle) {}
  [JUPYTER_DISPLAY](): MimeBundle {
    return this.bundle;
  }
  toString(): string {
    return String(this.bundle['text/plain']);
  }
}

function stripTags(s: string): string {
  return s.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

/** A value shown as HTML (as a result, or with `display`). */
export function html(source: string, text?: string): Displayable {
  return new Rich({ 'text/html': source, 'text/plain': text ?? stripTags(source) });
}

/** A value shown as Markdown. */
export function markdown(source: string): Displayable {
  return new Rich({ 'text/markdown': source, 'text/plain': source });
}

/** A value shown as an SVG image. */
export function svg(source: string, text = '<svg image>'): Displayable {
  return new Rich({ 'image/svg+xml': source, 'text/plain': text });
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

export interface VegaModules {
  vega: typeof VegaNs;
  vegaLite: typeof VegaLiteNs;
}

let vegaModules: Promise<VegaModules> | undefined;
let vegaLoaded: VegaModules | undefined;

/**
 * vega and vega-lite are ES modules with top-level await: `require` cannot load them, and neither
 * can `import()` inside a cell. Load them once with a real `import()` from here.
 */
export function loadVega(): Promise<VegaModules> {
  if (!vegaModules) {
    // TypeScript compiles `import()` to `require()` for CommonJS output; keep a real one.
    const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;
    const url = (name: string): string => pathToFileURL(require.resolve(name, { paths: [path.join(__dirname, '..')] })).href;
    vegaModules = Promise.all([dynamicImport(url('vega')), dynamicImport(url('vega-lite'))]).then(([vega, vegaLite]) => {
      vegaLoaded = { vega: vega as typeof VegaNs, vegaLite: vegaLite as typeof VegaLiteNs };
      return vegaLoaded;
    });
  }
  return vegaModules;
}

/** The loaded modules, once `loadVega()` has resolved. */
export function loadedVega(): VegaModules | undefined {
  return vegaLoaded;
}

export type VegaLiteSpec = Record<string, unknown>;

/** JSON-safe copy of a spec: arquero tables and arrays as `data` become `{values}`; bigints become numbers or strings. */
export function normalizeSpec(spec: VegaLiteSpec): VegaLiteSpec {
  if (!isObjectLike(spec) || Array.isArray(spec)) throw new TypeError('chart(spec): spec must be a vega-lite spec object');
  const toJson = (v: unknown): unknown => {
    if (typeof v === 'bigint') return jsonReplacer('', v);
    if (isTable(v)) return v.objects().map(toJson);
    if (Array.isArray(v)) return v.map(toJson);
    if (isObjectLike(v) && typeof v !== 'function') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x !== undefined && typeof x !== 'function') o[k] = toJson(x);
      }
      return o;
    }
    return v;
  };
  const out: VegaLiteSpec = { $schema: VEGA_LITE_V5_SCHEMA, ...(toJson(spec) as VegaLiteSpec) };
  out.$schema = VEGA_LITE_V5_SCHEMA;
  const data = (spec as { data?: unknown }).data;
  if (isTable(data) || Array.isArray(data)) out.data = { values: toJson(data) };
  return pinViewSize(out);
}

/**
 * The default plot size of a view with continuous scales is 200 × 200 in vega-lite 5
 * (vega-lite 5.23 src/config.ts:97-98, `continuousWidth: 200, continuousHeight: 200`) and 300 × 300
 * in vega-lite 6 (6.4 src/config.ts:97-98). The spec declares the v5 schema and JupyterLab draws it
 * with vega-lite 5, while the server's SVG and PNG are compiled with vega-lite 6: a chart without a
 * width or height would be drawn at two sizes (with different ticks). Stating the v5 defaults in the
 * spec's config makes both compilers lay it out alike; a spec's own config wins.
 */
export const V5_VIEW_DEFAULTS = { continuousWidth: 200, continuousHeight: 200 } as const;

function pinViewSize(spec: VegaLiteSpec): VegaLiteSpec {
  const config = isObjectLike(spec.config) ? (spec.config as Record<string, unknown>) : {};
  const view = isObjectLike(config.view) ? (config.view as Record<string, unknown>) : {};
  return { ...spec, config: { ...config, view: { ...V5_VIEW_DEFAULTS, ...view } } };
}

/** Renders a vega-lite spec to SVG headlessly (renderer 'none': deterministic, no canvas). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  const compiled = vegaLite.compile(spec as never);
  const view = new vega.View(vega.parse(compiled.spec), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function describeSpec(spec: VegaLiteSpec): string {
  const title = spec.title;
  const t = typeof title === 'string' ? title : isObjectLike(title) && typeof (title as { text?: unknown }).text === 'string' ? (title as { text: string }).text : undefined;
  const mark = spec.mark;
  const m = typeof mark === 'string' ? mark : isObjectLike(mark) && typeof (mark as { type?: unknown }).type === 'string' ? (mark as { type: string }).type : undefined;
  const values = isObjectLike(spec.data) ? (spec.data as { values?: unknown }).values : undefined;
  const parts = [m ? `${m} chart` : 'chart', Array.isArray(values) ? `${values.length} data rows` : undefined].filter(Boolean);
  return `<VegaLite ${parts.join(', ')}${t ? `: ${t}` : ''}>`;
}

type ResvgModule = typeof import('@resvg/resvg-js');
let resvg: ResvgModule | undefined;

/** The fonts of the PNG: DejaVu Sans from an npm package, never the machine's fonts (same bytes everywhere). */
function pngFonts(): string[] {
  const dir = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json', { paths: [path.join(__dirname, '..')] })), 'ttf');
  return PNG_FONT_FACES.map((f) => path.join(dir, `${f}.ttf`));
}

const PNG_FONT_FACES = ['DejaVuSans', 'DejaVuSans-Bold', 'DejaVuSans-Oblique', 'DejaVuSans-BoldOblique'];

/**
 * What the Latin subsets of the PNG fonts (kernel/fonts, made with fontTools from the same DejaVu
 * Sans 2.37.3 files; kernel/fonts/README.md) cover, as pyftsubset's `--unicodes`. resvg shapes each
 * SVG text element with a face parsed anew from its font file, so the cost of a chart's axis labels
 * grows with the font's size: the 48 KB subsets draw the labels of a 640 px heatmap 3–5× faster than
 * the 757 KB originals, with the same glyphs, metrics and kerning, hence the same PNG bytes.
 */
export const LATIN_SUBSET_UNICODES = 'U+0020-007E,U+00A0-00FF,U+2010-2027,U+2030-203A,U+2190-2193,U+2212,U+2260,U+2264,U+2265,U+2248,U+221E';
const LATIN_SUBSET = new RegExp(
  `^[\\t\\n\\r${LATIN_SUBSET_UNICODES.split(',')
    .map((r) => r.replace(/^U\+/, '').split('-').map((h) => `\\u{${h}}`).join('-'))
    .join('')}]*$`,
  'u',
);

/** The Latin subsets when every character of every text of the SVG is in them, else the full fonts. */
function pngFontsFor(svgSource: string): string[] {
  // A character reference (`&#…;`) may stand for any character: the full fonts then.
  let latin = !svgSource.includes('&#');
  for (const m of svgSource.matchAll(/>([^<]+)</g)) if (latin && !LATIN_SUBSET.test(m[1]!)) latin = false;
  if (!latin) return pngFonts();
  const dir = [path.join(__dirname, 'fonts'), path.join(__dirname, '..', '..', 'kernel', 'fonts')].find((d) => fs.existsSync(d));
  return dir ? PNG_FONT_FACES.map((f) => path.join(dir, `${f}-Latin.ttf`)) : pngFonts();
}

/** Recently rendered charts (SVG and PNG depend on the spec alone): a chart drawn again is not rendered again. */
const RENDERED_CHARTS = 16;
const renderedCharts = new Map<string, Promise<string>>();
const renderedPngs = new Map<string, string>();

function remembered<V>(cache: Map<string, V>, key: string, make: () => V): V {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    if (cache.size >= RENDERED_CHARTS) cache.delete(cache.keys().next().value!);
  } else cache.delete(key);
  cache.set(key, v);
  return v;
}

/**
 * The PNG of an SVG, rasterized with resvg at its own size (zoom 1). Deterministic: resvg draws
 * without the system's fonts (`loadSystemFonts: false`), with the bundled DejaVu Sans for every
 * family, so the bytes depend only on the SVG.
 */
export function renderPng(svgSource: string): Buffer {
  resvg ??= require('@resvg/resvg-js') as ResvgModule;
  const r = new resvg.Resvg(svgSource, {
    font: { loadSystemFonts: false, fontFiles: pngFontsFor(svgSource), defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans', serifFamily: 'DejaVu Sans', monospaceFamily: 'DejaVu Sans' },
    shapeRendering: 2,
    textRendering: 1,
    imageRendering: 0,
    logLevel: 'off',
  });
  return r.render().asPng();
}

/** A vega-lite chart: shown as one display_data with the v5 spec, a server-rendered SVG, its PNG and text. */
export class VegaLiteChart implements Displayable {
  readonly spec: VegaLiteSpec;
  private svgPromise: Promise<string> | undefined;
  constructor(spec: VegaLiteSpec) {
    this.spec = normalizeSpec(spec);
  }
  /** The SVG, rendered once. */
  svg(): Promise<string> {
    if (!this.svgPromise) {
      const key = JSON.stringify(this.spec);
      const svg = remembered(renderedCharts, key, () => renderSvg(this.spec));
      // A failed render is not remembered.
      svg.catch(() => renderedCharts.get(key) === svg && renderedCharts.delete(key));
      this.svgPromise = svg;
    }
    return this.svgPromise;
  }
  async bundle(): Promise<MimeBundle> {
    const svgSource = await this.svg();
    const png = remembered(renderedPngs, svgSource, () => renderPng(svgSource).toString('base64'));
    return { [VEGA_LITE_MIME]: this.spec, 'image/svg+xml': svgSource, 'image/png': png, 'text/plain': this.toString() };
  }
  [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    return this.bundle();
  }
  toJSON(): VegaLiteSpec {
    return this.spec;
  }
  toString(): string {
    return describeSpec(this.spec);
  }
}

/** A chart from a vega-lite spec. As a cell's last value, or passed to `display`, it is shown. */
export function chart(spec: VegaLiteSpec): VegaLiteChart {
  return new VegaLiteChart(spec);
}

/** Same as `chart`. */
export const vegaLite = chart;

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

function progressBundle(done: number, total: number, label: string): MimeBundle {
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const pct = Math.floor(frac * 100);
  const width = 30;
  const filled = Math.round(frac * width);
  const text = `${label}: [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% (${done}/${total})`;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return {
    'text/html': `<div class="mmulab-progress"><label>${esc(label)}</label> <progress value="${done}" max="${total}"></progress> ${pct}% (${done}/${total})</div>`,
    'text/plain': text,
  };
}

/**
 * Shows progress of a long run as one output that is updated in place (display_id). Updates are
 * sent only when the shown text changes (at most ~100 per bar); the notebook keeps the final
 * state. Call it with the number of steps done, e.g. `progress(i + 1, n, 'walks')`.
 */
export function progress(done: number, total: number, label = 'progress'): void {
  const out = requireOutput('progress');
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const key = `${Math.floor(frac * 100)}/${total}`;
  const known = out.progress.get(label);
  if (known && known.key === key) return;
  const bundle = progressBundle(done, total, label);
  if (known) {
    known.key = key;
    display(bundle, { raw: true, update: known.id });
  } else {
    const id = out.newDisplayId();
    out.progress.set(label, { id, key });
    display(bundle, { raw: true, displayId: id });
  }
}
