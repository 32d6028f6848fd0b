/** Shared helpers of the kernel tests: temp dirs, subprocesses, a private Jupyter environment. */
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(__dirname, 'fixtures');
export const NODE = process.execPath;
export const PYTHON = '/usr/bin/python3';
export const JUPYTER = '/usr/bin/jupyter';

/** A fresh directory under the run's temporary folder (removed by the global teardown). */
export function tempDir(prefix: string): string {
  const base = process.env.MMULAB_TEST_TMP ?? os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${prefix}-`));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion. `limitMs` only stops a hung process (the test then fails on its
 * exit status); it is not a timing assertion.
 */
export function run(cmd: string, args: string[], options: SpawnOptions & { input?: string; limitMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin!.end(options.input ?? '');
  });
}

/** Environment with every Jupyter directory under `dir` (nothing of the machine's user is used). */
export function jupyterEnv(dir: string): NodeJS.ProcessEnv {
  const d = (n: string): string => {
    const p = path.join(dir, n);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };
  const data = d('data');
  return {
    ...process.env,
    JUPYTER_PATH: data,
    JUPYTER_DATA_DIR: data,
    JUPYTER_CONFIG_DIR: d('config'),
    JUPYTER_RUNTIME_DIR: d('runtime'),
    IPYTHONDIR: d('ipython'),
    HOME: d('home'),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
    JUPYTER_PLATFORM_DIRS: '0',
    // Temp files of the client (its connection files) and of the kernel land under `dir` too, so a
    // test can see what a run left behind, and nothing accumulates in the machine's /tmp.
    TMPDIR: d('tmp'),
  };
}

/** Installs the kernelspec into `env.JUPYTER_DATA_DIR` with the project's installer. */
export async function installKernel(env: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(NODE, [path.join(ROOT, 'dist', 'kernel', 'install.js'), '--data-dir', env.JUPYTER_DATA_DIR!], { env });
  if (r.code !== 0) throw new Error(`kernel install failed: ${r.stderr}`);
  return path.join(env.JUPYTER_DATA_DIR!, 'kernels', 'mmulab', 'kernel.json');
}

export function copyFixture(name: string, dir: string): string {
  const dst = path.join(dir, name);
  fs.copyFileSync(path.join(FIXTURES, name), dst);
  return dst;
}

export interface NbOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}
export interface NbCell {
  cell_type: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  execution_count?: number | null;
  outputs?: NbOutput[];
}
export interface Nb {
  cells: NbCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export function readNb(file: string): Nb {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Nb;
}

export function writeNb(file: string, nb: Nb): void {
  fs.writeFileSync(file, JSON.stringify(nb, null, 1) + '\n');
}

export function src(s: string | string[] | undefined): string {
  return Array.isArray(s) ? s.join('') : (s ?? '');
}

export function codeCells(nb: Nb): NbCell[] {
  return nb.cells.filter((c) => c.cell_type === 'code');
}

/** A minimal notebook of code cells (sources), tagged where asked. */
export function notebookOf(cells: (string | { source: string; tags: string[] })[]): Nb {
  return {
    nbformat: 4,
    nbformat_minor: 4,
    metadata: { kernelspec: { name: 'mmulab', display_name: 'TypeScript (mmulab)', language: 'typescript' } },
    cells: cells.map((c) => {
      const { source, tags } = typeof c === 'string' ? { source: c, tags: [] as string[] } : c;
      return { cell_type: 'code', source, metadata: tags.length ? { tags } : {}, execution_count: null, outputs: [] };
    }),
  };
}

/**
 * Outputs as a front end keeps them: consecutive stream outputs of one name merged (nbclient
 * stores one output per message), multi-line strings joined.
 */
export function normalizedOutputs(cell: NbCell): unknown[] {
  const out: NbOutput[] = [];
  for (const o of cell.outputs ?? []) {
    const last = out[out.length - 1];
    if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) {
      last.text = src(last.text) + src(o.text);
      continue;
    }
    const c: NbOutput = { ...o };
    if (c.text !== undefined) c.text = src(c.text);
    if (c.data) c.data = Object.fromEntries(Object.entries(c.data).map(([k, v]) => [k, Array.isArray(v) ? v.join('') : v]));
    out.push(c);
  }
  return out;
}

/** One iopub message as probe.py reports it: type, content and the parent's msg_id. */
export interface IopubMsg {
  msg_type: string;
  content: Record<string, unknown>;
  parent: string;
}

/** An execute request as probe.py reports it: the shell reply, its iopub messages, stdin requests. */
export interface Executed {
  reply: Record<string, unknown>;
  iopub: IopubMsg[];
  msg_id: string;
  input_requests?: { content: { prompt: string; password: boolean }; parent: string }[];
}

/** Runs probe.py (Debian's jupyter_client driving the kernel) over `steps`; the result of each step. */
export async function probe(env: NodeJS.ProcessEnv, steps: Record<string, unknown>[]): Promise<{ results: unknown[]; stderr: string }> {
  const r = await run(PYTHON, [path.join(__dirname, 'probe.py'), JSON.stringify(steps)], { env, limitMs: 600_000 });
  if (r.code !== 0 || !r.stdout.trim()) throw new Error(`probe failed (${r.code}, ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return { results: JSON.parse(r.stdout) as unknown[], stderr: r.stderr };
}

/** The iopub messages of a request other than busy/idle. */
export function outputs(e: Executed): IopubMsg[] {
  return e.iopub.filter((m) => m.msg_type !== 'status');
}

export function notesCli(args: string[], options: SpawnOptions & { limitMs?: number } = {}): Promise<RunResult> {
  return run(NODE, [path.join(ROOT, 'dist', 'kernel', 'notes.js'), ...args], { cwd: ROOT, ...options });
}

/** One textual change to a built engine file (dist/<file>): `from` must occur exactly once. */
export interface EngineMutation {
  file: string;
  from: string;
  to: string;
}

/**
 * A copy of the project root whose built engine carries `mutation`, with the one design note
 * `note` (and overview.md, which the notes link) in its notebooks/. Only the copy is changed;
 * node_modules is linked. Throws when `from` does not occur exactly once (the build changed: the
 * test must be updated, not silently pass on an unmutated engine).
 */
export function mutatedRoot(prefix: string, note: string, mutation: EngineMutation): string {
  const dir = tempDir(prefix);
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  const file = path.join(dir, 'dist', mutation.file);
  const js = fs.readFileSync(file, 'utf8');
  const n = js.split(mutation.from).length - 1;
  if (n !== 1) throw new Error(`mutation of dist/${mutation.file}: ${JSON.stringify(mutation.from)} occurs ${n} times, expected once`);
  fs.writeFileSync(file, js.replace(mutation.from, mutation.to));
  fs.mkdirSync(path.join(dir, 'notebooks'));
  for (const f of [note, 'overview.md']) fs.copyFileSync(path.join(ROOT, 'notebooks', f), path.join(dir, 'notebooks', f));
  return dir;
}
