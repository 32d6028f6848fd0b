/**
 * The Jupyter messaging protocol on the wire: connection files, message frames, HMAC signatures.
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html#the-wire-protocol
 */
import { createHmac, getHashes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';

export const PROTOCOL_VERSION = '5.3';
export const DELIMITER = Buffer.from('<IDS|MSG>');

export interface ConnectionInfo {
  transport: 'tcp' | 'ipc';
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export class ConnectionFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ConnectionFileError';
  }
}

export function readConnectionFile(file: string): ConnectionInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConnectionFileError(file, `cannot read a JSON connection file (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) throw new ConnectionFileError(file, 'not a JSON object');
  const c = raw as Record<string, unknown>;
  const transport = c.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ipc') throw new ConnectionFileError(file, `unsupported transport ${JSON.stringify(transport)}`);
  if (typeof c.ip !== 'string' || !c.ip) throw new ConnectionFileError(file, 'missing "ip"');
  const ports = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const;
  for (const p of ports) {
    if (typeof c[p] !== 'number' || !Number.isInteger(c[p]) || (c[p] as number) <= 0) throw new ConnectionFileError(file, `missing or invalid "${p}"`);
  }
  const key = c.key ?? '';
  if (typeof key !== 'string') throw new ConnectionFileError(file, '"key" must be a string');
  const scheme = c.signature_scheme ?? 'hmac-sha256';
  if (typeof scheme !== 'string') throw new ConnectionFileError(file, '"signature_scheme" must be a string');
  return {
    transport,
    ip: c.ip,
    shell_port: c.shell_port as number,
    iopub_port: c.iopub_port as number,
    stdin_port: c.stdin_port as number,
    control_port: c.control_port as number,
    hb_port: c.hb_port as number,
    key,
    signature_scheme: scheme,
    ...(typeof c.kernel_name === 'string' ? { kernel_name: c.kernel_name } : {}),
  };
}

/** The address a channel binds to: only what the connection file names. */
export function endpoint(c: ConnectionInfo, port: number): string {
  return c.transport === 'tcp' ? `tcp://${c.ip}:${port}` : `ipc://${c.ip}-${port}`;
}

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message<C = Record<string, unknown>> {
  /** ZeroMQ routing identities (ROUTER sockets). */
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

/** HMAC signatures with the connection file's key and scheme (`hmac-sha256`, …). Empty key: unsigned. */
export class Signer {
  private readonly algorithm: string;
  private readonly key: Buffer;
  constructor(key: string, scheme: string) {
    const m = /^hmac-([a-z0-9-]+)$/i.exec(scheme);
    const algorithm = m?.[1]?.toLowerCase();
    if (!algorithm || !getHashes().includes(algorithm)) throw new Error(`unsupported signature_scheme ${JSON.stringify(scheme)}`);
    this.algorithm = algorithm;
    this.key = Buffer.from(key, 'utf8');
  }
  get enabled(): boolean {
    return this.key.length > 0;
  }
  sign(parts: readonly Buffer[]): string {
    if (!this.enabled) return '';
    const h = createHmac(this.algorithm, this.key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  }
  verify(signature: string, parts: readonly Buffer[]): boolean {
    if (!this.enabled) return true;
    const want = Buffer.from(this.sign(parts), 'utf8');
    const got = Buffer.from(signature, 'utf8');
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

export type Decoded = { ok: true; msg: Message } | { ok: false; reason: string };

/**
 * Parses and verifies one multipart message. Anything unsigned, wrongly signed, replayed (a
 * signature seen before) or malformed is refused with a reason, never returned.
 */
/** Largest message accepted (all frames): a cell's source is far smaller; anything bigger is refused. */
export const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

/** Header fields a message must carry for the kernel to act on it and answer it. */
const REQUIRED_HEADER_FIELDS = ['msg_id', 'msg_type', 'session'] as const;

export class Decoder {
  private seen = new Set<string>();
  private order: string[] = [];
  constructor(
    private readonly signer: Signer,
    private readonly historySize = 10_000,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
  ) {}

  decode(frames: readonly Buffer[]): Decoded {
    const size = frames.reduce((n, f) => n + f.length, 0);
    if (size > this.maxBytes) return { ok: false, reason: `oversized message (${size} bytes; the limit is ${this.maxBytes})` };
    const d = frames.findIndex((f) => f.equals(DELIMITER));
    if (d < 0) return { ok: false, reason: 'no <IDS|MSG> delimiter' };
    if (frames.length < d + 6) return { ok: false, reason: 'too few frames' };
    const signature = frames[d + 1]!.toString('utf8');
    const parts = frames.slice(d + 2, d + 6);
    if (this.signer.enabled) {
      if (!signature) return { ok: false, reason: 'missing signature' };
      if (!this.signer.verify(signature, parts)) return { ok: false, reason: 'invalid signature' };
      if (this.seen.has(signature)) return { ok: false, reason: 'duplicate signature (replayed message)' };
      this.remember(signature);
    }
    try {
      const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString('utf8')) as unknown);
      if (!isPlainObject(header)) return { ok: false, reason: 'malformed header (not a JSON object)' };
      const missing = REQUIRED_HEADER_FIELDS.filter((k) => typeof header[k] !== 'string' || !header[k]);
      if (missing.length) return { ok: false, reason: `malformed header: missing ${missing.join(', ')}` };
      if (content !== null && content !== undefined && !isPlainObject(content)) return { ok: false, reason: 'malformed content (not a JSON object)' };
      if (parent !== null && parent !== undefined && !isPlainObject(parent)) return { ok: false, reason: 'malformed parent_header (not a JSON object)' };
      return {
        ok: true,
        msg: {
          identities: frames.slice(0, d),
          header: header as unknown as Header,
          parent_header: (parent ?? {}) as Partial<Header>,
          metadata: (metadata ?? {}) as Record<string, unknown>,
          content: (content ?? {}) as Record<string, unknown>,
          buffers: frames.slice(d + 6),
        },
      };
    } catch (e) {
      return { ok: false, reason: `malformed JSON (${(e as Error).message})` };
    }
  }

  private remember(sig: string): void {
    this.seen.add(sig);
    this.order.push(sig);
    if (this.order.length > this.historySize) this.seen.delete(this.order.shift()!);
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Frames of a message, signed. */
export function encode(signer: Signer, msg: Omit<Message, 'buffers'> & { buffers?: Buffer[] }): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map((x) => Buffer.from(JSON.stringify(x, bigintSafe), 'utf8'));
  return [...msg.identities, DELIMITER, Buffer.from(signer.sign(parts), 'utf8'), ...parts, ...(msg.buffers ?? [])];
}

export function newHeader(msgType: string, session: string, username = 'kernel'): Header {
  return { msg_id: randomUUID(), session, username, date: new Date().toISOString(), msg_type: msgType, version: PROTOCOL_VERSION };
}
