/**
 * The mmulab Jupyter kernel: the messaging protocol over ZeroMQ, around the shared runtime.
 *
 * - Every incoming message is verified (HMAC with the connection file's key and scheme); anything
 *   unsigned, wrongly signed or replayed is logged and dropped, never executed.
 * - Sockets bind only to the transport and address of the connection file.
 * - Shell requests run one at a time in arrival order; each execute request gets its own output
 *   sink (parent header) when it starts. Control requests (interrupt, shutdown, kernel_info) are
 *   answered at once.
 * - `stop_on_error`: after an error, the execute requests already queued are aborted only when
 *   the failed request asked for it.
 * - Every message it sends deserializes under the types of the Rust `jupyter-protocol` crate
 *   (runtimed crates/jupyter-protocol/src/messaging.rs), which are stricter than jupyter_client:
 *   every reply has `status`, `execution_count` even when aborted, `is_complete_reply` has
 *   `indent`, statuses are only `busy`/`idle` (test/kernel/jupyter-protocol-types.ts checks them).
 * - Malformed input (bad JSON, missing header fields, oversized frames, unknown types) is refused
 *   with a log line, or an error reply where there is a request to answer; it never stops the kernel.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as Zmq from 'zeromq';
import { Decoder, encode, endpoint, newHeader, Signer, PROTOCOL_VERSION, type ConnectionInfo, type Message } from './protocol';
// Only the leaf module `info` is loaded up front: kernel_info is answered before the runtime (the
// display module, vega's loader, the executor) and TypeScript are loaded.
import { defaultRoot, DISPLAY_NAME, languageInfo, logToStderr, packageVersion, typescriptVersion } from './info';
import type { Outcome, Runtime, RuntimeOptions } from './runtime';
import type { DisplayContent, OutputSink } from './display';

/** How long after an error (with stop_on_error) arriving execute requests are still aborted. */
export const ABORT_WINDOW_MS = 100;
/** How long the front end must be quiet (no request, no heartbeat) before the compiler loads unasked. */
const WARM_QUIET_MS = 200;

interface Queued {
  msg: Message;
  channel: 'shell' | 'control';
  seq: number;
}

/** Serialised sends on one socket (ZeroMQ allows one pending send at a time). */
class Sender {
  private tail: Promise<void> = Promise.resolve();
  constructor(
    private readonly socket: { send(frames: Buffer[]): Promise<void> },
    private readonly log: (m: string) => void,
  ) {}
  send(frames: Buffer[]): Promise<void> {
    this.tail = this.tail.then(
      () => this.socket.send(frames),
      () => this.socket.send(frames),
    );
    this.tail.catch((e: unknown) => this.log(`send failed: ${String(e)}`));
    return this.tail;
  }
}

export interface KernelOptions extends RuntimeOptions {
  connection: ConnectionInfo;
  /** Show errors that escape cells in the running cell (the kernel process; not in tests that embed it). */
  processHandlers?: boolean;
}

export class Kernel {
  private readonly signer: Signer;
  private readonly decoder: Decoder;
  private readonly session = randomUUID();
  private readonly log: (m: string) => void;
  private zmq!: typeof Zmq;
  private sockets!: { shell: Zmq.Router; control: Zmq.Router; stdin: Zmq.Router; iopub: Zmq.XPublisher };
  /** The heartbeat's thread (kernel/heartbeat.ts). */
  private heartbeatWorker: Worker | undefined;
  private senders!: Record<'shell' | 'control' | 'stdin' | 'iopub', Sender>;
  private runtime: Promise<Runtime> | undefined;
  private runtimeReady: Runtime | undefined;
  private executionCount = 0;
  private queue: Queued[] = [];
  private wake: (() => void) | undefined;
  private received = 0;
  /** When the last request or heartbeat arrived (ms). */
  private lastActivity = 0;
  private abortThrough = 0;
  private executing = false;
  private closing = false;
  private runSeq = 0;
  private readonly version: string;
  /** The session's cells (store_history), for history_request: count, source, result text. */
  private readonly history: { count: number; code: string; output: string }[] = [];
  /** The input_request waiting for its input_reply (one at a time, as the protocol has it). */
  private pendingInput: { resolve: (v: string) => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly options: KernelOptions) {
    this.signer = new Signer(options.connection.key, options.connection.signature_scheme);
    this.decoder = new Decoder(this.signer);
    this.log = options.log ?? ((m) => logToStderr(`[mmulab] ${m}`));
    this.version = packageVersion(options.root ?? defaultRoot());
    if (!this.signer.enabled) this.log('warning: the connection file has an empty key: messages are not authenticated');
  }

  /** Binds the sockets, then starts the runtime (kernel_info is answered while it loads). */
  async start(): Promise<void> {
    this.zmq = require('zeromq') as typeof Zmq;
    const z = this.zmq;
    const c = this.options.connection;
    // iopub is an XPUB socket: it sees subscriptions and answers each with iopub_welcome (JEP 65).
    this.sockets = { shell: new z.Router(), control: new z.Router(), stdin: new z.Router(), iopub: new z.XPublisher() };
    this.sockets.iopub.verbosity = 'allSubs';
    for (const s of Object.values(this.sockets)) s.linger = 1000;
    await Promise.all([
      this.sockets.shell.bind(endpoint(c, c.shell_port)),
      this.sockets.control.bind(endpoint(c, c.control_port)),
      this.sockets.stdin.bind(endpoint(c, c.stdin_port)),
      this.sockets.iopub.bind(endpoint(c, c.iopub_port)),
    ]);
    this.senders = {
      shell: new Sender(this.sockets.shell, this.log),
      control: new Sender(this.sockets.control, this.log),
      stdin: new Sender(this.sockets.stdin, this.log),
      iopub: new Sender(this.sockets.iopub, this.log),
    };
    void this.receiveLoop('shell', this.sockets.shell);
    void this.receiveLoop('control', this.sockets.control);
    void this.receiveLoop('stdin', this.sockets.stdin);
    this.heartbeat();
    void this.welcome();
    void this.processShell();
    // No `starting` status: the jupyter-protocol crate's ExecutionState has only busy and idle
    // (messaging.rs: `enum ExecutionState`), and jupyter_client does not need it.
    // The runtime loads after the first kernel_info_reply (warmSoon), on the first request that
    // needs it, or a second after start for a client that never asks for kernel_info.
    setTimeout(() => this.warmSoon(), 1000).unref();
  }

  /** Loads and creates the runtime (once). */
  private ensureRuntime(): Promise<Runtime> {
    if (!this.runtime) {
      const rtModule = require('./runtime') as typeof import('./runtime');
      if (this.options.processHandlers) rtModule.installProcessHandlers();
      this.runtime = rtModule.Runtime.create(this.options);
      this.runtime.then(
        (rt) => (this.runtimeReady = rt),
        (e: unknown) => this.log(`runtime failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
      );
    }
    return this.runtime;
  }

  private async receiveLoop(channel: 'shell' | 'control' | 'stdin', socket: Zmq.Router): Promise<void> {
    try {
      for await (const frames of socket) {
        this.lastActivity = Date.now();
        const d = this.decoder.decode(frames);
        if (!d.ok) {
          this.log(`dropped a message on ${channel}: ${d.reason}`);
          continue;
        }
        if (channel === 'stdin') {
          this.handleStdin(d.msg);
          continue;
        }
        const q: Queued = { msg: d.msg, channel, seq: ++this.received };
        if (channel === 'control') void this.handleControl(q);
        else {
          this.queue.push(q);
          this.wake?.();
        }
      }
    } catch (e) {
      if (!this.closing) this.log(`${channel} receive loop ended: ${String(e)}`);
    }
  }

  /** JEP 65: each new iopub subscription gets an `iopub_welcome`, so a client knows it is connected. */
  private async welcome(): Promise<void> {
    try {
      for await (const [frame] of this.sockets.iopub) {
        if (!frame || frame[0] !== 1) continue; // 1: subscribe, 0: unsubscribe
        this.publish('iopub_welcome', { subscription: frame.subarray(1).toString('utf8') }, undefined);
      }
    } catch (e) {
      if (!this.closing) this.log(`iopub subscriptions ended: ${String(e)}`);
    }
  }

  private handleStdin(msg: Message): void {
    const pending = this.pendingInput;
    if (msg.header.msg_type !== 'input_reply' || !pending) {
      this.log(`dropped ${msg.header.msg_type} on stdin: no input_request is waiting for it`);
      return;
    }
    this.pendingInput = undefined;
    const value = msg.content.value;
    if (typeof value === 'string') pending.resolve(value);
    else pending.reject(new TypeError(`input_reply without a string "value" (got ${JSON.stringify(value) ?? 'nothing'})`));
  }

  /**
   * Asks the front end for a line of input on stdin (input_request, parented to the execute
   * request). Only when that request said `allow_stdin: true`; otherwise a StdinNotAllowedError.
   */
  requestInput(parent: Message, prompt: string, password: boolean): Promise<string> {
    if (parent.content.allow_stdin !== true) {
      return Promise.reject(new (stdinError())(`input(${JSON.stringify(prompt)}): this front end does not accept input (its execute_request has allow_stdin false)`));
    }
    if (this.pendingInput) return Promise.reject(new (stdinError())(`input(${JSON.stringify(prompt)}): another input request is still waiting for its reply`));
    return new Promise<string>((resolve, reject) => {
      this.pendingInput = { resolve, reject };
      void this.send('stdin', parent, 'input_request', { prompt, password });
    });
  }

  private cancelInput(why: string): void {
    const pending = this.pendingInput;
    this.pendingInput = undefined;
    if (pending) {
      const e = new Error(why);
      e.name = 'Interrupted';
      pending.reject(e);
    }
  }

  /** Starts the heartbeat's thread; the kernel does not wait for it (kernel_info comes first). */
  private heartbeat(): void {
    const c = this.options.connection;
    const worker = new Worker(path.join(__dirname, 'heartbeat.js'), { workerData: { endpoint: endpoint(c, c.hb_port) } });
    this.heartbeatWorker = worker;
    worker.on('message', (m: { error?: string }) => m.error && this.log(`heartbeat failed: ${m.error}`));
    worker.on('error', (e) => this.log(`heartbeat thread failed: ${e.message}`));
  }

  /** Stops the heartbeat's thread and waits until it ended (at most a second). */
  private async stopHeartbeat(): Promise<void> {
    const worker = this.heartbeatWorker;
    this.heartbeatWorker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    worker.postMessage('stop');
    await exited;
  }

  // -------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------

  private send(channel: 'shell' | 'control' | 'stdin', parent: Message, msgType: string, content: Record<string, unknown>, metadata: Record<string, unknown> = {}): Promise<void> {
    const frames = encode(this.signer, {
      identities: parent.identities,
      header: newHeader(msgType, this.session),
      parent_header: parent.header,
      metadata,
      content,
    });
    return this.senders[channel].send(frames);
  }

  /** Publishes on iopub with `parent` as the parent header (undefined: none). */
  publish(msgType: string, content: Record<string, unknown>, parent: Message | undefined): void {
    const frames = encode(this.signer, {
      identities: [Buffer.from(`kernel.${this.session}.${msgType}`)],
      header: newHeader(msgType, this.session),
      parent_header: parent?.header ?? {},
      metadata: {},
      content,
    });
    void this.senders.iopub.send(frames);
  }

  private async withStatus(q: Queued, body: () => Promise<void>): Promise<void> {
    this.publish('status', { execution_state: 'busy' }, q.msg);
    try {
      await body();
    } catch (e) {
      this.log(`error handling ${q.msg.header.msg_type}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    } finally {
      this.publish('status', { execution_state: 'idle' }, q.msg);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch
  // -------------------------------------------------------------------------------------------

  private async processShell(): Promise<void> {
    while (!this.closing) {
      const q = this.queue.shift();
      if (!q) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      await this.withStatus(q, () => this.handleShell(q));
    }
  }

  private async handleShell(q: Queued): Promise<void> {
    const { msg } = q;
    switch (msg.header.msg_type) {
      case 'execute_request':
        return this.handleExecute(q);
      case 'kernel_info_request':
        // Answered at once (the runtime starts in a few milliseconds; the compiler loads on the
        // first compile). Then, while the front end is idle, the compiler warms up.
        await this.send('shell', msg, 'kernel_info_reply', this.kernelInfo());
        this.warmSoon();
        return;
      case 'complete_request':
        return this.handleComplete(q);
      case 'inspect_request':
        return this.handleInspect(q);
      case 'is_complete_request': {
        const rt = await this.rt().catch(() => undefined);
        const r = rt ? rt.isComplete(String(msg.content.code ?? '')) : { status: 'unknown' as const };
        // `indent` is required by the jupyter-protocol crate (messaging.rs: `struct IsCompleteReply`).
        return this.send('shell', msg, 'is_complete_reply', { indent: '', ...r });
      }
      case 'history_request':
        return this.send('shell', msg, 'history_reply', { status: 'ok', history: this.historyEntries(msg.content) });
      case 'comm_info_request':
        // No comm targets are registered: no comm is ever open.
        return this.send('shell', msg, 'comm_info_reply', { status: 'ok', comms: {} });
      case 'shutdown_request':
        return this.handleShutdown(q);
      case 'comm_open':
        // No comm targets (widgets): the protocol asks for an immediate comm_close on an unknown target.
        this.log(`comm_open for unknown target ${JSON.stringify(msg.content.target_name)}: closing comm ${String(msg.content.comm_id)}`);
        this.publish('comm_close', { comm_id: String(msg.content.comm_id ?? ''), data: {} }, msg);
        return;
      case 'comm_msg':
      case 'comm_close':
        this.log(`${msg.header.msg_type} for comm ${String(msg.content.comm_id)}, which is not open: ignored`);
        return;
      default:
        return this.unsupported('shell', msg);
    }
  }

  /** An unknown request gets an error reply (so a client waiting for it does not hang); anything else a log line. */
  private unsupported(channel: 'shell' | 'control', msg: Message): Promise<void> | undefined {
    const type = msg.header.msg_type;
    this.log(`unsupported ${channel} message ${type}`);
    if (!type.endsWith('_request')) return undefined;
    const evalue = `mmulab does not handle ${type}`;
    return this.send(channel, msg, type.replace(/_request$/, '_reply'), { status: 'error', ename: 'UnsupportedRequest', evalue, traceback: [`UnsupportedRequest: ${evalue}`] });
  }

  /**
   * history_reply entries from this session's cells: `[session, line, input]`, or
   * `[session, line, [input, output]]` with `output` (messaging.rs: `enum HistoryEntry`). Session 0
   * is the current session, as in history requests.
   */
  historyEntries(c: Record<string, unknown>): unknown[] {
    const withOutput = c.output === true;
    let cells = this.history;
    switch (c.hist_access_type) {
      case 'tail': {
        const n = Number(c.n ?? 10);
        cells = Number.isFinite(n) && n > 0 ? cells.slice(-Math.floor(n)) : [];
        break;
      }
      case 'range': {
        const start = Number(c.start ?? 0);
        const stop = c.stop === undefined || c.stop === null ? Infinity : Number(c.stop);
        cells = cells.filter((h) => h.count >= start && h.count < stop);
        break;
      }
      case 'search': {
        const glob = String(c.pattern ?? '*');
        const re = globToRegExp(glob);
        cells = cells.filter((h) => re.test(h.code));
        if (c.unique === true) {
          const seen = new Set<string>();
          cells = [...cells].reverse().filter((h) => !seen.has(h.code) && seen.add(h.code)).reverse();
        }
        const n = Number(c.n);
        if (Number.isFinite(n) && n > 0) cells = cells.slice(-Math.floor(n));
        break;
      }
      default:
        cells = [];
    }
    return cells.map((h) => (withOutput ? [0, h.count, [h.code, h.output]] : [0, h.count, h.code]));
  }

  private async handleControl(q: Queued): Promise<void> {
    const { msg } = q;
    await this.withStatus(q, async () => {
      switch (msg.header.msg_type) {
        case 'kernel_info_request':
          return this.send('control', msg, 'kernel_info_reply', this.kernelInfo());
        case 'interrupt_request':
          this.interrupt();
          return this.send('control', msg, 'interrupt_reply', { status: 'ok' });
        case 'shutdown_request':
          return this.handleShutdown(q);
        case 'debug_request':
          return this.send('control', msg, 'debug_reply', { status: 'error', ename: 'NotImplemented', evalue: 'no debugger', traceback: [] });
        default:
          return this.unsupported('control', msg);
      }
    });
  }

  private warmed = false;

  /**
   * Loads the runtime and the compiler once the front end has been quiet for WARM_QUIET_MS (a
   * cell that comes first loads them itself). Loading TypeScript blocks this thread for a second
   * or more: a heartbeat or request that follows kernel_info at once is answered before that.
   */
  private warmSoon(): void {
    if (this.warmed) return;
    this.warmed = true;
    const tick = (): void => {
      if (this.closing) return;
      const quietFor = Date.now() - this.lastActivity;
      if (this.executing || this.queue.length || quietFor < WARM_QUIET_MS) {
        setTimeout(tick, Math.max(10, WARM_QUIET_MS - quietFor)).unref();
        return;
      }
      this.ensureRuntime().then(
        (rt) => !this.executing && !this.queue.length && !this.closing && rt.warm(),
        () => undefined,
      );
    };
    setTimeout(tick, WARM_QUIET_MS).unref();
  }

  private rt(): Promise<Runtime> {
    return this.runtimeReady ? Promise.resolve(this.runtimeReady) : this.ensureRuntime();
  }

  /** SIGINT or interrupt_request: a hung `await` ends; a busy loop is ended by the signal itself. */
  interrupt(): void {
    if (!this.executing) return;
    this.cancelInput('Execution interrupted while waiting for input');
    this.runtimeReady?.interrupt();
  }

  kernelInfo(): Record<string, unknown> {
    return {
      status: 'ok',
      protocol_version: PROTOCOL_VERSION,
      implementation: 'mmulab',
      implementation_version: this.version,
      language_info: languageInfo(),
      banner: `${DISPLAY_NAME} ${this.version}: TypeScript ${typescriptVersion()}, Node ${process.version}`,
      help_links: [],
      debugger: false,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Execute
  // -------------------------------------------------------------------------------------------

  private async handleExecute(q: Queued): Promise<void> {
    const { msg } = q;
    const c = msg.content;
    const code = String(c.code ?? '');
    const silent = c.silent === true;
    const storeHistory = silent ? false : c.store_history !== false;
    const stopOnError = c.stop_on_error !== false;
    if (q.seq <= this.abortThrough) {
      // execution_count is required even here (messaging.rs: `struct ExecuteReply`).
      await this.send('shell', msg, 'execute_reply', { status: 'aborted', execution_count: this.executionCount, payload: [], user_expressions: {} }, { status: 'aborted' });
      return;
    }
    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    if (!silent) this.publish('execute_input', { code, execution_count: count }, msg);

    const sink = new IopubSink(this, msg, silent);
    const run = ++this.runSeq;
    this.executing = true;
    let outcome: Outcome;
    try {
      const rt = await this.rt();
      outcome = await rt.execute(code, { sink, label: `cell ${count}`, idPrefix: `run${run}` });
    } catch (e) {
      const evalue = `the mmulab runtime failed to start: ${e instanceof Error ? e.message : String(e)}`;
      outcome = { status: 'error', interrupted: false, ename: 'KernelError', evalue, traceback: [`KernelError: ${evalue}`] };
    } finally {
      this.executing = false;
      this.cancelInput('the cell finished while waiting for input');
      sink.flush();
    }
    if (storeHistory) {
      const text = outcome.status === 'ok' ? outcome.result?.['text/plain'] : undefined;
      this.history.push({ count, code, output: typeof text === 'string' ? text : '' });
    }
    if (outcome.status === 'ok') {
      if (outcome.result && !silent) this.publish('execute_result', { execution_count: count, data: outcome.result, metadata: {} }, msg);
      await this.send('shell', msg, 'execute_reply', { status: 'ok', execution_count: count, payload: [], user_expressions: {} }, { status: 'ok' });
      return;
    }
    const { ename, evalue, traceback } = outcome;
    if (!silent) this.publish('error', { ename, evalue, traceback }, msg);
    if (stopOnError) await this.abortQueued();
    await this.send('shell', msg, 'execute_reply', { status: 'error', execution_count: count, ename, evalue, traceback }, { status: 'error' });
  }

  /**
   * After an error with stop_on_error: abort the execute requests already sent (a front end's
   * "Run All" sends them all at once). Requests sent just before the error may still be on their
   * way through ZeroMQ's I/O thread: like ipykernel's stop_on_error_timeout, requests that arrive
   * within a short window are aborted too, and the socket is read until it has nothing more.
   */
  private async abortQueued(): Promise<void> {
    const until = Date.now() + ABORT_WINDOW_MS;
    while (Date.now() < until || this.sockets.shell.readable) await new Promise((r) => setTimeout(r, 5));
    this.abortThrough = this.received;
  }

  private async handleComplete(q: Queued): Promise<void> {
    const { msg } = q;
    const code = String(msg.content.code ?? '');
    const cursor = Number(msg.content.cursor_pos ?? [...code].length);
    const rt = await this.rt().catch(() => undefined);
    const r = rt ? rt.complete(code, cursor) : { matches: [], cursorStart: cursor, cursorEnd: cursor };
    await this.send('shell', msg, 'complete_reply', { status: 'ok', matches: r.matches, cursor_start: r.cursorStart, cursor_end: r.cursorEnd, metadata: {} });
  }

  private async handleInspect(q: Queued): Promise<void> {
    const { msg } = q;
    const code = String(msg.content.code ?? '');
    const cursor = Number(msg.content.cursor_pos ?? [...code].length);
    const rt = await this.rt().catch(() => undefined);
    const text = rt?.inspect(code, cursor);
    await this.send('shell', msg, 'inspect_reply', { status: 'ok', found: text !== undefined, data: text !== undefined ? { 'text/plain': text } : {}, metadata: {} });
  }

  private async handleShutdown(q: Queued): Promise<void> {
    const restart = q.msg.content.restart === true;
    const content = { status: 'ok', restart };
    await this.send(q.channel, q.msg, 'shutdown_reply', content);
    this.publish('shutdown_reply', content, q.msg);
    this.publish('status', { execution_state: 'idle' }, q.msg);
    // Give the replies a moment to leave, then close (Jupyter restarts by starting a new process).
    setTimeout(() => void this.close().then(() => process.exit(0)), 50);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wake?.();
    try {
      this.runtimeReady?.close();
    } catch {
      // closing anyway
    }
    for (const s of Object.values(this.sockets ?? {})) s.close();
    await this.stopHeartbeat();
  }
}

/** The error class of a refused input request (the display module's, loaded only then). */
function stdinError(): typeof import('./display').StdinNotAllowedError {
  return (require('./display') as typeof import('./display')).StdinNotAllowedError;
}

/** IPython's history search pattern: `*` any text, `?` one character, the rest literal. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^$(){}|[\]\\]/g, (c) => `\\${c}`).replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** A request's outputs as iopub messages. Stream text is coalesced until the next turn or output. */
class IopubSink implements OutputSink {
  private buffered: { name: 'stdout' | 'stderr'; text: string } | undefined;
  private scheduled = false;
  constructor(
    private readonly kernel: Kernel,
    private readonly parent: Message,
    private readonly silent: boolean,
  ) {}
  stream(name: 'stdout' | 'stderr', text: string): void {
    if (this.silent) return;
    if (this.buffered && this.buffered.name !== name) this.flush();
    if (this.buffered) this.buffered.text += text;
    else this.buffered = { name, text };
    if (this.buffered.text.length > 1 << 16) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }
  display(content: DisplayContent, update: boolean): void {
    if (this.silent) return;
    this.flush();
    this.kernel.publish(update ? 'update_display_data' : 'display_data', content as unknown as Record<string, unknown>, this.parent);
  }
  clear(wait: boolean): void {
    if (this.silent) return;
    this.flush();
    this.kernel.publish('clear_output', { wait }, this.parent);
  }
  input(prompt: string, password: boolean): Promise<string> {
    this.flush();
    return this.kernel.requestInput(this.parent, prompt, password);
  }
  flush(): void {
    const b = this.buffered;
    if (!b) return;
    this.buffered = undefined;
    this.kernel.publish('stream', { name: b.name, text: b.text }, this.parent);
  }
}
