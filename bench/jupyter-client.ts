/**
 * Just enough of a Jupyter client to time kernels over ZeroMQ (zeromq is the package the kernel
 * itself uses): a connection file, the kernel process, signed shell requests and their replies.
 * No Jupyter needed, and any kernel (mmulab, tslab, Deno) can be driven the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zmq from 'zeromq';

const DELIM = Buffer.from('<IDS|MSG>');

export interface KernelCommand {
  name: string;
  /** The command line; `{connection_file}` is replaced by the connection file's path. */
  argv: string[];
  cwd: string;
  /** Added to the environment (a kernelspec's `env`). */
  env?: Readonly<Record<string, string>>;
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

export function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export class KernelClient {
  private readonly key = randomBytes(16).toString('hex');
  private readonly session = randomUUID();
  // Reconnect quickly: the kernel binds a few milliseconds after it starts.
  private readonly shell = new zmq.Dealer({ routingId: `bench-${randomUUID()}`, reconnectInterval: 5 });
  private proc: ChildProcess | undefined;
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmulab-bench-'));
  private stderr = '';
  /** Rejects when the kernel exits (one listener for every request). */
  private exited: Promise<never> = new Promise<never>(() => undefined);

  constructor(private readonly command: KernelCommand) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the kernel; resolves with ms from spawn to the first kernel_info_reply. */
  async start(): Promise<number> {
    const [shell, iopub, stdin, control, hb] = await freePorts(5);
    const file = path.join(this.dir, 'kernel.json');
    fs.writeFileSync(file, JSON.stringify({ transport: 'tcp', ip: '127.0.0.1', shell_port: shell, iopub_port: iopub, stdin_port: stdin, control_port: control, hb_port: hb, key: this.key, signature_scheme: 'hmac-sha256', kernel_name: this.command.name }));
    const [cmd, ...args] = this.command.argv.map((a) => a.replace('{connection_file}', file));
    const t0 = process.hrtime.bigint();
    this.proc = spawn(cmd!, args, { cwd: this.command.cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...this.command.env, NO_COLOR: '1' } });
    const proc = this.proc;
    this.exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`${this.command.name} exited (${code}); stderr:\n${this.stderr}`))));
    this.exited.catch(() => undefined);
    this.proc.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 10_000) this.stderr += d.toString();
    });
    this.shell.connect(`tcp://127.0.0.1:${shell}`);
    await this.request('kernel_info_request', {}, 'kernel_info_reply');
    return ms(t0);
  }

  private frames(msgType: string, content: object): Buffer[] {
    const header = { msg_id: randomUUID(), session: this.session, username: 'bench', date: new Date().toISOString(), msg_type: msgType, version: '5.3' };
    const parts = [header, {}, {}, content].map((x) => Buffer.from(JSON.stringify(x)));
    const h = createHmac('sha256', this.key);
    for (const p of parts) h.update(p);
    return [DELIM, Buffer.from(h.digest('hex')), ...parts];
  }

  private async request(msgType: string, content: object, replyType: string): Promise<Record<string, unknown>> {
    await this.shell.send(this.frames(msgType, content));
    for (;;) {
      const frames = await Promise.race([this.shell.receive(), this.exited]);
      const d = frames.findIndex((f) => f.equals(DELIM));
      const header = JSON.parse(frames[d + 2]!.toString()) as { msg_type: string };
      if (header.msg_type === replyType) return JSON.parse(frames[d + 5]!.toString()) as Record<string, unknown>;
    }
  }

  /** Sends an execute request and resolves with its reply's content. */
  execute(code: string): Promise<Record<string, unknown>> {
    return this.request('execute_request', { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true }, 'execute_reply');
  }

  /** Executes `code`, failing unless the reply is ok; resolves with the round trip in ms. */
  async timed(code: string): Promise<number> {
    const t0 = process.hrtime.bigint();
    const reply = await this.execute(code);
    const t = ms(t0);
    if (reply.status !== 'ok') throw new Error(`${this.command.name}: cell failed: ${JSON.stringify(reply).slice(0, 2000)}`);
    return t;
  }

  /** Resident set size of the kernel process (Linux), in MB. */
  rssMb(): number {
    const status = fs.readFileSync(`/proc/${this.proc!.pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) / 1024 : NaN;
  }

  async stop(): Promise<void> {
    this.shell.close();
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      const closed = new Promise((r) => this.proc!.on('close', r));
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc!.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
