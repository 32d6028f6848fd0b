/**
 * Kernel figures (`npm run bench kernel`), through a minimal Jupyter client over ZeroMQ (no
 * Jupyter needed), with the built kernel (dist/kernel, `npm run build`):
 *
 * 1. mmulab, stock tslab (`tslab kernel` from node_modules) and Deno's kernel (`deno jupyter
 *    --kernel` from the `deno` package), interleaved round by round so that the machine's load
 *    falls on all three alike: kernel ready (spawn to the first kernel_info_reply), the first
 *    result, a trivial cell (`1 + 1`) and a chart cell (each kernel's way of showing a vega-lite
 *    spec; mmulab's also renders the SVG). Medians, and ratios to Deno.
 * 2. mmulab alone: a table cell, per-cell time and RSS at cells 100, 1,000 and 10,000 of a long
 *    session (each cell different, so nothing is cached), and re-executing the design notes.
 *
 * Environment: MMULAB_BENCH_ROUNDS (default 5), MMULAB_BENCH_CELLS (default 10000).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, type BenchResult } from './harness';
import { KernelClient, ms, type KernelCommand } from './jupyter-client';
import { kernelSpec } from '../kernel/install';

const ROOT = path.resolve(__dirname, '..', '..');
const KERNEL = path.join(ROOT, 'dist', 'kernel', 'main.js');
const NOTES = path.join(ROOT, 'dist', 'kernel', 'notes.js');

/** The chart cells' spec; `width` varies for charts that no kernel has drawn before. */
const spec = (width: number): string =>
  `{ data: { values: Array.from({ length: 64 * 8 }, (_, i) => ({ bit: i % 64, row: \`row \${i >> 6}\`, v: (i * 7919) % 3 })) }, mark: 'rect', width: ${width}, encoding: { x: { field: 'bit', type: 'ordinal' }, y: { field: 'row', type: 'nominal' }, color: { field: 'v', type: 'nominal' } } }`;

interface Peer {
  command: KernelCommand;
  /** A cell that shows the chart (of `spec(width)`) as this kernel can. */
  chart: (width: number) => string;
  /** Run once before the chart cells (imports). */
  chartSetup?: string;
}

function peers(): Peer[] {
  const mmulabSpec = kernelSpec(ROOT);
  const list: Peer[] = [
    {
      // As its kernelspec runs it (node flags and environment included).
      command: { name: 'mmulab', argv: mmulabSpec.argv, env: mmulabSpec.env, cwd: ROOT },
      chart: (w) => `chart(${spec(w)})`,
    },
  ];
  const tslab = path.join(ROOT, 'node_modules', 'tslab', 'bin', 'tslab');
  if (fs.existsSync(tslab)) {
    list.push({
      // tslab's own kernelspec runs `tslab kernel --config-path {connection_file}`; run from the
      // project so that its compiler finds @types/node.
      command: { name: 'tslab', argv: [process.execPath, tslab, 'kernel', '--config-path', '{connection_file}'], cwd: ROOT },
      chartSetup: "import * as tslab from 'tslab';",
      chart: (w) => `tslab.display.raw('application/vnd.vegalite.v5+json', JSON.stringify(${spec(w)}))`,
    });
  }
  // The binary itself, as Deno's kernelspec runs it: `.bin/deno` is a Node wrapper that spawns it
  // (a Node start more, and SIGTERM ends the wrapper but leaves the kernel running).
  const deno = path.join(ROOT, 'node_modules', 'deno', process.platform === 'win32' ? 'deno.exe' : 'deno');
  if (fs.existsSync(deno)) {
    list.push({
      command: { name: 'deno', argv: [deno, 'jupyter', '--kernel', '--conn', '{connection_file}'], cwd: ROOT },
      chart: (w) => `Deno.jupyter.display({ 'application/vnd.vegalite.v5+json': ${spec(w)} }, { raw: true })`,
    });
  } else {
    // npm ci does not run the deno package's install script (allowScripts), so the binary is fetched on request.
    console.error('kernel bench: no Deno binary; run `node node_modules/deno/install.cjs` once to compare with Deno\'s kernel');
  }
  return list;
}

interface PeerFigures {
  ready: number[];
  first: number[];
  trivial: number[];
  fresh: number[];
  chart: number[];
  freshChart: number[];
}

async function onePeerRound(peer: Peer, f: PeerFigures, trivialCells: number, chartCells: number): Promise<void> {
  const c = new KernelClient(peer.command);
  try {
    const t0 = process.hrtime.bigint();
    f.ready.push(await c.start());
    await c.timed('1 + 1');
    f.first.push(ms(t0));
    for (let i = 0; i < trivialCells; i++) f.trivial.push(await c.timed('1 + 1'));
    // Each different: nothing of an earlier compile can be reused.
    for (let i = 0; i < trivialCells; i++) f.fresh.push(await c.timed(`${f.fresh.length + 2} + 1`));
    if (peer.chartSetup) await c.timed(peer.chartSetup);
    await c.timed(peer.chart(640)); // warm-up: first chart loads the renderer
    for (let i = 0; i < chartCells; i++) f.chart.push(await c.timed(peer.chart(640)));
    // Each of another width: drawn anew, whatever a kernel remembers of charts it drew.
    for (let i = 0; i < chartCells; i++) f.freshChart.push(await c.timed(peer.chart(600 + f.freshChart.length)));
  } finally {
    await c.stop();
  }
}

function fmt(xs: number[]): string {
  return `median of ${xs.length}; min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}`;
}

/** The three kernels side by side, interleaved. */
async function peerBench(rounds: number): Promise<BenchResult[]> {
  const list = peers();
  const figures = new Map<string, PeerFigures>(list.map((p) => [p.command.name, { ready: [], first: [], trivial: [], fresh: [], chart: [], freshChart: [] }]));
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so that no kernel always starts right after another one's exit.
    for (let k = 0; k < list.length; k++) {
      const peer = list[(r + k) % list.length]!;
      await onePeerRound(peer, figures.get(peer.command.name)!, 20, 5);
    }
  }
  const out: BenchResult[] = [];
  const rows: [keyof PeerFigures, string][] = [
    ['ready', 'kernel ready (spawn to kernel_info_reply)'],
    ['first', 'kernel start to first result (1 + 1)'],
    ['trivial', 'trivial cell round trip (1 + 1, run again)'],
    ['fresh', 'trivial cell round trip (n + 1, each new)'],
    ['chart', 'chart cell round trip (512-cell heatmap, run again)'],
    ['freshChart', 'chart cell round trip (512-cell heatmap, each new)'],
  ];
  const deno = figures.get('deno');
  for (const [key, label] of rows) {
    for (const [name, f] of figures) out.push({ name: `kernel: ${label}: ${name}`, value: median(f[key]), unit: 'ms', note: fmt(f[key]) });
    if (!deno) continue;
    for (const [name, f] of figures) {
      if (name === 'deno') continue;
      out.push({ name: `kernel: ${label}: ${name} / deno`, value: median(f[key]) / median(deno[key]), unit: 'x' });
    }
  }
  return out;
}

/** A long mmulab session of different trivial cells: time per cell and RSS along the way. */
async function longSession(cells: number): Promise<BenchResult[]> {
  const marks = [100, 1000, 10_000].filter((m) => m <= cells);
  const c = new KernelClient(peers()[0]!.command);
  const out: BenchResult[] = [];
  try {
    await c.start();
    const window: number[] = [];
    for (let i = 1; i <= cells; i++) {
      window.push(await c.timed(`${i} + 1`));
      if (window.length > 50) window.shift();
      if (marks.includes(i)) {
        out.push({ name: `kernel: mmulab per-cell time at cell ${i}`, value: median(window), unit: 'ms', note: 'median of the 50 cells before' });
        out.push({ name: `kernel: mmulab RSS at cell ${i}`, value: c.rssMb(), unit: 'MB' });
      }
    }
  } finally {
    await c.stop();
  }
  const at = (what: string, i: number) => out.find((r) => r.name === `kernel: mmulab ${what} at cell ${i}`)?.value;
  const last = marks[marks.length - 1]!;
  for (const what of ['per-cell time', 'RSS']) {
    const first = at(what, 100);
    const end = at(what, last);
    if (first !== undefined && end !== undefined && last !== 100) out.push({ name: `kernel: mmulab ${what}, cell ${last} / cell 100`, value: end / first, unit: 'x', note: 'target <= 1.2' });
  }
  return out;
}

const TABLE = `aq.table({ gfn: Array.from({ length: 1000 }, (_, i) => i), level: Array.from({ length: 1000 }, (_, i) => 1 + (i % 4)) })`;

export async function kernelBench(): Promise<BenchResult[]> {
  if (!fs.existsSync(KERNEL)) throw new Error('dist/kernel is missing: run `npm run build` first');
  const rounds = Number(process.env.MMULAB_BENCH_ROUNDS ?? 5);
  const cells = Number(process.env.MMULAB_BENCH_CELLS ?? 10_000);
  const out = await peerBench(rounds);

  const c = new KernelClient(peers()[0]!.command);
  await c.start();
  await c.timed(TABLE);
  const table: number[] = [];
  for (let i = 0; i < 10; i++) table.push(await c.timed(TABLE));
  out.push({ name: 'kernel: mmulab table cell (1000-row arquero table)', value: median(table), unit: 'ms', note: fmt(table) });
  await c.stop();

  out.push(...(await longSession(cells)));

  // Re-executing the design notes (a copy, so the repository is not touched).
  const notebooks = path.join(ROOT, 'notebooks');
  const names = fs.existsSync(notebooks) ? fs.readdirSync(notebooks).filter((f) => f.endsWith('.ipynb')) : [];
  const source = names.length ? notebooks : path.join(ROOT, 'test', 'kernel', 'fixtures');
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'mmulab-bench-notes-'));
  fs.cpSync(source, copy, { recursive: true });
  const count = fs.readdirSync(copy).filter((f) => f.endsWith('.ipynb')).length;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [NOTES, copy, '--no-report', '--allow-errors', '--root', ROOT], { stdio: ['ignore', 'ignore', 'pipe'] });
  const total = ms(t0);
  fs.rmSync(copy, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`notes failed: ${r.stderr.toString()}`);
  out.push({ name: `notes: re-execute ${names.length ? 'notebooks/' : 'test fixtures'} (${count} notebooks)`, value: total, unit: 'ms', note: 'one process, start included' });
  return out;
}
