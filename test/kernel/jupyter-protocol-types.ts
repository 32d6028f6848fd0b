/**
 * The message types of the Rust `jupyter-protocol` crate (runtimed, crates/jupyter-protocol), written
 * out as a checker: `checkMessage(msg)` lists why serde would refuse to deserialize a message, []
 * when it would accept it. Clients built on that crate (runtimed's kernel-testbed, Rust front ends)
 * drop a kernel whose messages do not deserialize, and it is stricter than jupyter_client.
 *
 * Each rule cites the Rust type it comes from, in crates/jupyter-protocol/src/messaging.rs unless
 * another file is named (read at runtimed commit 033fab8027d06ea58249c3a00335ced8542e4c86;
 * media/mod.rs at 18c7b39e57d8e989e90e9a92f80e1dd302f2e019, execution_count.rs at
 * 3d078a2cdc6ecdabae68d0242eb54205971c8613). serde's rules that matter here: a field of a struct
 * without `#[serde(default)]` must be present, except an `Option<…>`, which may be missing or null;
 * unknown fields are ignored; `#[serde(flatten)] error: Option<ReplyError>` accepts a reply with or
 * without the three error fields.
 */

type Json = unknown;
type Check = (v: Json, at: string, out: string[]) => void;

const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

const str: Check = (v, at, out) => {
  if (typeof v !== 'string') out.push(`${at}: expected a string, got ${JSON.stringify(v)}`);
};
const bool: Check = (v, at, out) => {
  if (typeof v !== 'boolean') out.push(`${at}: expected a bool, got ${JSON.stringify(v)}`);
};
/** `usize`: a non-negative integer. */
const usize: Check = (v, at, out) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) out.push(`${at}: expected a usize (integer ≥ 0), got ${JSON.stringify(v)}`);
};
const any: Check = () => undefined;
/** `serde_json::Map<String, Value>`: an object. */
const map: Check = (v, at, out) => {
  if (!isObj(v)) out.push(`${at}: expected an object, got ${JSON.stringify(v)}`);
};
const oneOf =
  (...values: string[]): Check =>
  (v, at, out) => {
    if (typeof v !== 'string' || !values.includes(v)) out.push(`${at}: expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  };
const vec =
  (item: Check): Check =>
  (v, at, out) => {
    if (!Array.isArray(v)) out.push(`${at}: expected an array, got ${JSON.stringify(v)}`);
    else v.forEach((x, i) => item(x, `${at}[${i}]`, out));
  };
const optional =
  (c: Check): Check =>
  (v, at, out) => {
    if (v !== undefined && v !== null) c(v, at, out);
  };
/** `HashMap<String, T>`. */
const mapOf =
  (item: Check): Check =>
  (v, at, out) => {
    if (!isObj(v)) out.push(`${at}: expected an object, got ${JSON.stringify(v)}`);
    else for (const [k, x] of Object.entries(v)) item(x, `${at}.${k}`, out);
  };
/** An untagged enum: the first variant that matches. */
const untagged =
  (...variants: Check[]): Check =>
  (v, at, out) => {
    const attempts = variants.map((c) => {
      const o: string[] = [];
      c(v, at, o);
      return o;
    });
    if (!attempts.some((o) => o.length === 0)) out.push(`${at}: matches no variant (${attempts.map((o) => o.join('; ')).join(' | ')})`);
  };
/** A struct: every field listed; `Option` fields wrapped in `optional`. */
const struct =
  (fields: Record<string, Check>): Check =>
  (v, at, out) => {
    if (!isObj(v)) {
      out.push(`${at}: expected an object, got ${JSON.stringify(v)}`);
      return;
    }
    for (const [k, c] of Object.entries(fields)) {
      if (v[k] === undefined && !isOptional(c)) out.push(`${at}.${k}: missing field`);
      else c(v[k], `${at}.${k}`, out);
    }
  };
const optionals = new WeakSet<Check>();
function isOptional(c: Check): boolean {
  return optionals.has(c);
}
function opt(c: Check): Check {
  const o = optional(c);
  optionals.add(o);
  return o;
}
function withDefault(c: Check): Check {
  const o: Check = (v, at, out) => {
    if (v !== undefined) c(v, at, out);
  };
  optionals.add(o);
  return o;
}

/** `enum ReplyStatus { Ok, Error, Aborted }`, `rename_all = "lowercase"`. */
const replyStatus = oneOf('ok', 'error', 'aborted');
/**
 * Replies end with `#[serde(flatten, skip_serializing_if = "Option::is_none")] error:
 * Option<Box<ReplyError>>`: a flattened Option is None when its fields are absent or do not
 * deserialize, so the error fields never make a reply fail; the other fields must hold.
 */
const withReplyError = (fields: Record<string, Check>): Check => struct(fields);
/** media/mod.rs `deserialize_media`: a map; text-like types are a string or a list of strings. */
const TEXT_MEDIA = ['text/plain', 'text/html', 'text/latex', 'application/javascript', 'text/markdown', 'image/svg+xml', 'image/png', 'image/jpeg', 'image/gif'];
const media: Check = (v, at, out) => {
  if (!isObj(v)) {
    out.push(`${at}: expected a MIME bundle object, got ${JSON.stringify(v)}`);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (TEXT_MEDIA.includes(k) && typeof x !== 'string' && !(Array.isArray(x) && x.every((e) => typeof e === 'string'))) out.push(`${at}.${k}: text-based media must be a string or list of strings`);
  }
};
/** execution_count.rs: `struct ExecutionCount(pub usize)`. */
const executionCount = usize;
/** `struct Transient { display_id: Option<String> }`. */
const transient = struct({ display_id: opt(str) });
/** `enum CodeMirrorMode { Simple(String), CustomMode { name: String, version: usize } }`, untagged. */
const codemirrorMode = untagged(str, struct({ name: str, version: usize }));
/** `struct LanguageInfo`: every field required. */
const languageInfo = struct({ name: str, version: str, mimetype: str, file_extension: str, pygments_lexer: str, codemirror_mode: codemirrorMode, nbconvert_exporter: str });
/** `enum HistoryEntry { Input(usize, usize, String), InputOutput(usize, usize, (String, String)) }`, untagged. */
const tuple =
  (...items: Check[]): Check =>
  (v, at, out) => {
    if (!Array.isArray(v) || v.length !== items.length) out.push(`${at}: expected a ${items.length}-tuple, got ${JSON.stringify(v)}`);
    else items.forEach((c, i) => c(v[i], `${at}[${i}]`, out));
  };
const historyEntry = untagged(tuple(usize, usize, str), tuple(usize, usize, tuple(str, str)));

/** Content types by msg_type (`JupyterMessageContent::from_type_and_content`); unknown types are `UnknownMessage` (any). */
export const CONTENT: Record<string, Check> = {
  /** `struct KernelInfoReply` */
  kernel_info_reply: withReplyError({ status: replyStatus, protocol_version: str, implementation: str, implementation_version: str, language_info: languageInfo, banner: str, help_links: vec(struct({ text: str, url: str })), debugger: withDefault(bool) }),
  /** `struct ExecuteReply` (`payload` has `#[serde(default)]`) */
  execute_reply: withReplyError({ status: replyStatus, execution_count: executionCount, payload: withDefault(vec(map)), user_expressions: opt(mapOf(any)) }),
  /** `struct CompleteReply` */
  complete_reply: withReplyError({ matches: vec(str), cursor_start: usize, cursor_end: usize, metadata: map, status: replyStatus }),
  /** `struct InspectReply` */
  inspect_reply: withReplyError({ found: bool, data: media, metadata: map, status: replyStatus }),
  /** `struct IsCompleteReply { status: IsCompleteReplyStatus, indent: String }` (snake_case statuses) */
  is_complete_reply: struct({ status: oneOf('incomplete', 'complete', 'invalid', 'unknown'), indent: str }),
  /** `struct HistoryReply` */
  history_reply: withReplyError({ history: vec(historyEntry), status: replyStatus }),
  /** `struct CommInfoReply { status, comms: HashMap<CommId, CommInfo { target_name }> }` */
  comm_info_reply: withReplyError({ status: replyStatus, comms: mapOf(struct({ target_name: str })) }),
  /** `struct ShutdownReply { restart: bool, status }` */
  shutdown_reply: withReplyError({ restart: bool, status: replyStatus }),
  /** `struct InterruptReply { status }` */
  interrupt_reply: withReplyError({ status: replyStatus }),
  /** `struct DebugReply { #[serde(flatten)] content: Value }` */
  debug_reply: any,
  /** `struct InputRequest { prompt: String, password: bool }` */
  input_request: struct({ prompt: str, password: bool }),
  /** `struct Status { execution_state: ExecutionState }`, `enum ExecutionState { Busy, Idle }` lowercase */
  status: struct({ execution_state: oneOf('busy', 'idle') }),
  /** `struct StreamContent { name: Stdio, text: String }`, `enum Stdio` renamed stdout / stderr */
  stream: struct({ name: oneOf('stdout', 'stderr'), text: str }),
  /** `struct ExecuteInput { code, execution_count }` */
  execute_input: struct({ code: str, execution_count: executionCount }),
  /** `struct ExecuteResult { execution_count, data: Media, metadata: Map, transient: Option<Transient> }` */
  execute_result: struct({ execution_count: executionCount, data: media, metadata: map, transient: opt(transient) }),
  /** `struct DisplayData { data, metadata, #[serde(default)] transient: Option<Transient> }` */
  display_data: struct({ data: media, metadata: map, transient: opt(transient) }),
  /** `struct UpdateDisplayData { data, metadata, transient: Transient }` (required) */
  update_display_data: struct({ data: media, metadata: map, transient }),
  /** `struct ErrorOutput { ename, evalue, traceback }` */
  error: struct({ ename: str, evalue: str, traceback: vec(str) }),
  /** `struct ClearOutput { wait: bool }` */
  clear_output: struct({ wait: bool }),
  /** `struct CommOpen { comm_id: CommId(String), target_name, data: Map }` */
  comm_open: struct({ comm_id: str, target_name: str, data: map }),
  /** `struct CommMsg { comm_id, data }` */
  comm_msg: struct({ comm_id: str, data: map }),
  /** `struct CommClose { comm_id, data }` */
  comm_close: struct({ comm_id: str, data: map }),
};

/** `struct Header`: all six fields; `date: DateTime<Utc>` (RFC 3339). */
const header: Check = (v, at, out) => {
  struct({ msg_id: str, username: str, session: str, date: str, msg_type: str, version: str })(v, at, out);
  if (isObj(v) && typeof v.date === 'string' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v.date)) out.push(`${at}.date: not an RFC 3339 date-time: ${v.date}`);
};

export interface WireMessage {
  header: Json;
  parent_header: Json;
  metadata: Json;
  content: Json;
}

/**
 * Why `JupyterMessage::from_value` would refuse `msg` ([] when it accepts it). `parent_header` is
 * `Option<Header>`; an empty object stands for None on the wire (`serialize_parent_header` writes
 * `{}` for None).
 */
export function checkMessage(msg: WireMessage): string[] {
  const out: string[] = [];
  header(msg.header, 'header', out);
  if (!(isObj(msg.parent_header) && Object.keys(msg.parent_header).length === 0)) header(msg.parent_header, 'parent_header', out);
  if (msg.metadata === undefined) out.push('metadata: missing field');
  const type = isObj(msg.header) && typeof msg.header.msg_type === 'string' ? msg.header.msg_type : '';
  const c = CONTENT[type];
  if (c) c(msg.content, `${type}.content`, out);
  return out;
}
