/**
 * Kernel figures (`npm run bench kernel`): start to first result, a chart cell, a table cell, and
 * re-executing the design notes. Uses the built kernel (dist/kernel, `npm run build`) through a
 * minimal Jupyter client over ZeroMQ, so no Jupyter is needed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { median, type BenchResult } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
const KERNEL = path.join(ROOT, 'dist', 'kernel', 'main.js');
const NOTES = path.join(ROOT, 'dist', 'kernel', 'notes.js');
const DELIM = Buffer.from('<IDS|MSG>');

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Just enough of a Jupyter client to time execute requests. */
class Client {
  private readonly key = randomBytes(16).toString('hex');
  private readonly session = randomUUID();
  private shell = new zmq.Dealer({ routingId: `bench-${randomUUID()}` });
  private iopub = new zmq.Subscriber();
  private proc: ChildProcess | undefined;
  private dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmulab-bench-'));

  async start(): Promise<void> {
    const [shell, iopub, stdin, control, hb] = await freePorts(5);
    const file = path.join(this.dir, 'kernel.json');
    fs.writeFileSync(file, JSON.stringify({ transport: 'tcp', ip: '127.0.0.1', shell_port: shell, iopub_port: iopub, stdin_port: stdin, control_port: control, hb_port: hb, key: this.key, signature_scheme: 'hmac-sha256' }));
    this.proc = spawn(process.execPath, [KERNEL, '--root', ROOT, file], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.shell.connect(`tcp://127.0.0.1:${shell}`);
    this.iopub.connect(`tcp://127.0.0.1:${iopub}`);
    this.iopub.subscribe();
  }

  private frames(msgType: string, content: object): Buffer[] {
    const header = { msg_id: randomUUID(), session: this.session, username: 'bench', date: new Date().toISOString(), msg_type: msgType, version: '5.3' };
    const parts = [header, {}, {}, content].map((x) => Buffer.from(JSON.stringify(x)));
    const h = createHmac('sha256', this.key);
    for (const p of parts) h.update(p);
    return [DELIM, Buffer.from(h.digest('hex')), ...parts];
  }

  /** Sends an execute request and resolves with its reply's content. */
  async execute(code: string): Promise<Record<string, unknown>> {
    await this.shell.send(this.frames('execute_request', { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true }));
    for (;;) {
      const frames = await this.shell.receive();
      const d = frames.findIndex((f) => f.equals(DELIM));
      const header = JSON.parse(frames[d + 2]!.toString()) as { msg_type: string };
      if (header.msg_type === 'execute_reply') return JSON.parse(frames[d + 5]!.toString()) as Record<string, unknown>;
    }
  }

  async stop(): Promise<void> {
    this.shell.close();
    this.iopub.close();
    if (this.proc && this.proc.exitCode === null) {
      const closed = new Promise((r) => this.proc!.on('close', r));
      this.proc.kill('SIGTERM');
      await closed;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const CHART = `chart({
  data: { values: Array.from({ length: 64 * 8 }, (_, i) => ({ bit: i % 64, row: \`row \${i >> 6}\`, v: (i * 7919) % 3 })) },
  mark: 'rect',
  width: 640,
  encoding: { x: { field: 'bit', type: 'ordinal' }, y: { field: 'row', type: 'nominal' }, color: { field: 'v', type: 'nominal' } },
})`;
const TABLE = `aq.table({ gfn: Array.from({ length: 1000 }, (_, i) => i), level: Array.from({ length: 1000 }, (_, i) => 1 + (i % 4)) })`;

async function timed(client: Client, code: string, rounds: number): Promise<number> {
  await client.execute(code); // warm-up: first compile of this shape
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const reply = await client.execute(code);
    per.push(ms(t0));
    if (reply.status !== 'ok') throw new Error(`bench cell failed: ${JSON.stringify(reply)}`);
  }
  return median(per);
}

export async function kernelBench(): Promise<BenchResult[]> {
  if (!fs.existsSync(KERNEL)) throw new Error('dist/kernel is missing: run `npm run build` first');
  const out: BenchResult[] = [];

  // Kernel start (process spawn) to the first result, several fresh starts.
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c = new Client();
    const t0 = process.hrtime.bigint();
    await c.start();
    const reply = await c.execute('1 + 1');
    starts.push(ms(t0));
    if (reply.status !== 'ok') throw new Error(`first cell failed: ${JSON.stringify(reply)}`);
    await c.stop();
  }
  out.push({ name: 'kernel: start to first result', value: median(starts), unit: 'ms', note: `median of 5; min ${Math.min(...starts).toFixed(0)}, max ${Math.max(...starts).toFixed(0)}; target <= 2500` });

  const c = new Client();
  await c.start();
  await c.execute('1');
  out.push({ name: 'kernel: chart cell (512-cell heatmap, SVG)', value: await timed(c, CHART, 10), unit: 'ms', note: 'median of 10; target <= 300' });
  out.push({ name: 'kernel: table cell (1000-row arquero table)', value: await timed(c, TABLE, 10), unit: 'ms', note: 'median of 10' });
  out.push({ name: 'kernel: trivial cell', value: await timed(c, '1 + 1', 10), unit: 'ms', note: 'median of 10' });
  await c.stop();

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
