/**
 * Protocol conformance under Debian's jupyter_client (probe.py): one kernel, every channel and
 * message type a front end uses, malformed input, and every message the kernel sent checked
 * against the Rust `jupyter-protocol` crate's types (jupyter-protocol-types.ts).
 */
import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installKernel, jupyterEnv, outputs, probe, tempDir, type Executed, type IopubMsg } from './helpers';
import { checkMessage, type WireMessage } from './jupyter-protocol-types';

const STEPS = [
  { op: 'heartbeat', payload: 'first' }, // 0
  { op: 'kernel_info' }, // 1
  { op: 'control_kernel_info' }, // 2
  { op: 'execute', code: "console.log('out');\nconsole.error('err');\n6 * 7" }, // 3
  { op: 'execute', code: "html('<b>rich</b>')" }, // 4
  { op: 'execute', code: "const h = display(markdown('first'));\nh.update(markdown('second'));" }, // 5
  { op: 'complete', code: 'GuestMe', cursor_pos: 7 }, // 6
  { op: 'inspect', code: 'GuestMemory', cursor_pos: 3 }, // 7
  { op: 'is_complete', code: 'const x = 1;' }, // 8
  { op: 'is_complete', code: 'function f() {' }, // 9
  { op: 'execute', code: "throw new Error('boom')" }, // 10
  { op: 'execute_stdin', code: "const who = await input('Name: ');\nconst sure = await confirm('Sure?');\n`${who} ${sure}`", answers: ['Ada', 'y'] }, // 11
  { op: 'execute_stdin', code: "prompt('Enter: ')", answers: ['42'] }, // 12: a promise as the last value is awaited
  { op: 'execute_stdin', code: "await input('never asked: ')", allow_stdin: false }, // 13
  { op: 'history', hist_access_type: 'tail', n: 3, output: false, raw: true }, // 14
  { op: 'history', hist_access_type: 'range', session: 0, start: 1, stop: 3, output: true, raw: true }, // 15
  { op: 'history', hist_access_type: 'search', pattern: '*input*', unique: true, output: false, raw: true }, // 16
  { op: 'comm_info' }, // 17
  { op: 'comm_lifecycle' }, // 18
  { op: 'raw', kind: 'bad_json' }, // 19
  { op: 'raw', kind: 'missing_header_fields' }, // 20
  { op: 'raw', kind: 'oversized' }, // 21
  { op: 'raw', kind: 'too_few_frames' }, // 22
  { op: 'raw', kind: 'unknown_type' }, // 23
  { op: 'raw', kind: 'unknown_type_control' }, // 24
  { op: 'execute', code: 'typeof (globalThis as any).reached' }, // 25
  { op: 'heartbeat', payload: 'second' }, // 26
  { op: 'iopub_welcome' }, // 27
  { op: 'drain_iopub' }, // 28
  { op: 'wire' }, // 29
  { op: 'shutdown_request' }, // 30
];

let r: unknown[];
let stderr: string;
let tmpLeft: string[];

const ex = (i: number): Executed => r[i] as Executed;

beforeAll(async () => {
  const env = jupyterEnv(tempDir('conformance'));
  await installKernel(env);
  ({ results: r, stderr } = await probe(env, STEPS));
  tmpLeft = fs.readdirSync(env.TMPDIR!);
});

describe('clean up', () => {
  it('after the kernel exits on shutdown_request, neither it nor the client leaves a file in TMPDIR (the connection file included)', () => {
    expect(tmpLeft).toEqual([]);
  });
});

describe('channels', () => {
  it('heartbeat echoes, before and after malformed input', () => {
    expect(r[0]).toEqual({ echo: 'ping-first' });
    expect(r[26]).toEqual({ echo: 'ping-second' });
  });

  it('kernel_info on shell and control: protocol version and language', () => {
    for (const info of [r[1], r[2]] as Record<string, unknown>[]) {
      expect(info).toMatchObject({ status: 'ok', protocol_version: '5.3', implementation: 'mmulab' });
      // messaging.rs `enum CodeMirrorMode`: a string (or {name, version: integer}).
      expect(info.language_info).toMatchObject({ name: 'typescript', file_extension: '.ts', codemirror_mode: 'typescript', nbconvert_exporter: 'script' });
    }
  });

  it('iopub_welcome greets a new iopub subscriber (JEP 65), with no parent', () => {
    expect(r[27]).toEqual({ content: { subscription: '' }, parent_header: {} });
  });
});

describe('execute', () => {
  it('busy, execute_input, stdout, stderr, execute_result, idle; reply with the count; all parented to the request', () => {
    const e = ex(3);
    expect(e.reply).toMatchObject({ status: 'ok', execution_count: 1 });
    expect(e.iopub.map((m) => m.msg_type)).toEqual(['status', 'execute_input', 'stream', 'stream', 'execute_result', 'status']);
    expect(e.iopub.map((m) => m.content.execution_state).filter(Boolean)).toEqual(['busy', 'idle']);
    expect(outputs(e).map((m) => m.content)).toEqual([
      { code: "console.log('out');\nconsole.error('err');\n6 * 7", execution_count: 1 },
      { name: 'stdout', text: 'out\n' },
      { name: 'stderr', text: 'err\n' },
      { execution_count: 1, data: { 'text/plain': '42' }, metadata: {} },
    ]);
    for (const i of [3, 4, 5, 10, 25]) for (const m of ex(i).iopub) expect(m.parent).toBe(ex(i).msg_id);
  });

  it('rich execute_result', () => {
    expect(outputs(ex(4))[1]).toMatchObject({ msg_type: 'execute_result', content: { execution_count: 2, data: { 'text/html': '<b>rich</b>' } } });
  });

  it('display_data, then update_display_data of the same display id', () => {
    const [, shown, updated] = outputs(ex(5));
    expect(shown!.msg_type).toBe('display_data');
    expect(updated!.msg_type).toBe('update_display_data');
    expect((shown!.content.data as Record<string, string>)['text/markdown']).toBe('first');
    expect((updated!.content.data as Record<string, string>)['text/markdown']).toBe('second');
    const id = (shown!.content.transient as { display_id: string }).display_id;
    expect(id).toMatch(/./);
    expect(updated!.content.transient).toEqual({ display_id: id });
  });

  it('an error: error output and an error reply with ename, evalue, traceback', () => {
    const e = ex(10);
    expect(e.reply).toMatchObject({ status: 'error', execution_count: 4, ename: 'Error', evalue: 'boom' });
    expect(outputs(e).map((m) => m.msg_type)).toEqual(['execute_input', 'error']);
  });

  it('execution counts go up by one per stored cell', () => {
    expect([3, 4, 5, 10, 11, 12, 13, 25].map((i) => ex(i).reply.execution_count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('introspection', () => {
  it('complete, inspect, is_complete (complete and incomplete)', () => {
    expect(r[6]).toMatchObject({ status: 'ok', matches: ['GuestMemory'], cursor_start: 0, cursor_end: 7 });
    expect(r[7]).toMatchObject({ status: 'ok', found: true });
    expect(r[8]).toEqual({ status: 'complete', indent: '' });
    expect(r[9]).toMatchObject({ status: 'incomplete' });
    expect(typeof (r[9] as { indent: unknown }).indent).toBe('string');
  });

  it('history answers from the session: tail, range with output, search', () => {
    expect(r[14]).toEqual({
      status: 'ok',
      history: [
        [0, 5, STEPS[11]!.code],
        [0, 6, STEPS[12]!.code],
        [0, 7, STEPS[13]!.code],
      ],
    });
    expect(r[15]).toEqual({
      status: 'ok',
      history: [
        [0, 1, [STEPS[3]!.code, '42']],
        [0, 2, [STEPS[4]!.code, (outputs(ex(4))[1]!.content.data as Record<string, string>)['text/plain']]],
      ],
    });
    expect((r[16] as { history: [number, number, string][] }).history.map((h) => h[1])).toEqual([5, 7]);
  });

  it('comm_info lists no comms; a comm the kernel has no target for is closed, its messages ignored', () => {
    expect(r[17]).toEqual({ status: 'ok', comms: {} });
    const [open, msg, close] = r[18] as IopubMsg[][];
    expect(open!.map((m) => m.msg_type)).toEqual(['status', 'comm_close', 'status']);
    expect(open![1]!.content).toEqual({ comm_id: 'c-1', data: {} });
    expect(msg!.map((m) => m.msg_type)).toEqual(['status', 'status']);
    expect(close!.map((m) => m.msg_type)).toEqual(['status', 'status']);
    expect(stderr).toContain('comm_msg for comm c-1, which is not open: ignored');
  });
});

describe('stdin', () => {
  it('input() and confirm() send input_request parented to the execute request and get the answers', () => {
    const e = ex(11);
    expect(e.input_requests).toEqual([
      { content: { prompt: 'Name: ', password: false }, parent: e.msg_id },
      { content: { prompt: 'Sure? [y/N] ', password: false }, parent: e.msg_id },
    ]);
    expect(e.reply).toMatchObject({ status: 'ok' });
    expect(outputs(e)[1]!.content.data).toEqual({ 'text/plain': "'Ada true'" });
  });

  it('prompt() too, as the browser spells it (its promise is the cell value, awaited)', () => {
    expect(ex(12).input_requests!.map((q) => q.content.prompt)).toEqual(['Enter: ']);
    expect(outputs(ex(12))[1]!.content.data).toEqual({ 'text/plain': "'42'" });
  });

  it('without allow_stdin: a clear error and no input_request', () => {
    const e = ex(13);
    expect(e.input_requests).toEqual([]);
    expect(e.reply).toMatchObject({ status: 'error', ename: 'StdinNotAllowedError' });
    expect(e.reply.evalue).toContain('this front end does not accept input (its execute_request has allow_stdin false)');
  });
});

describe('malformed input', () => {
  it('bad JSON, missing header fields, oversized and truncated messages are dropped with a log line', () => {
    expect(stderr).toMatch(/dropped a message on shell: malformed JSON/);
    expect(stderr).toContain('dropped a message on shell: malformed header: missing msg_id, session');
    expect(stderr).toMatch(/dropped a message on shell: oversized message \(\d+ bytes; the limit is 33554432\)/);
    expect(stderr).toContain('dropped a message on shell: too few frames');
  });

  it('an unknown request type gets an error reply, on shell and on control', () => {
    for (const i of [23, 24]) expect((r[i] as { reply: unknown }).reply).toMatchObject({ status: 'error', ename: 'UnsupportedRequest', evalue: 'mmulab does not handle frobnicate_request' });
  });

  it('the kernel goes on: the dropped execute_request never ran, the next one does', () => {
    expect(ex(25).reply).toMatchObject({ status: 'ok', execution_count: 8 });
    expect(outputs(ex(25))[1]!.content.data).toEqual({ 'text/plain': "'undefined'" });
  });
});

describe('jupyter-protocol types', () => {
  it('every message the kernel sent deserializes under the Rust crate types', () => {
    const wire = r[29] as (WireMessage & { channel: string })[];
    const types = new Set(wire.map((m) => (m.header as { msg_type: string }).msg_type));
    // The run covered these reply and iopub types.
    for (const t of ['kernel_info_reply', 'execute_reply', 'complete_reply', 'inspect_reply', 'is_complete_reply', 'history_reply', 'comm_info_reply', 'input_request', 'status', 'stream', 'execute_input', 'execute_result', 'display_data', 'update_display_data', 'error', 'comm_close', 'iopub_welcome']) {
      expect(types, t).toContain(t);
    }
    const problems = wire.flatMap((m) => checkMessage(m).map((p) => `${(m.header as { msg_type: string }).msg_type}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('shutdown_reply has status and restart; the process exits 0', () => {
    const s = r[30] as { reply: WireMessage['content']; returncode: number };
    expect(s.reply).toEqual({ status: 'ok', restart: false });
    expect(checkMessage({ header: { msg_id: 'a', username: 'u', session: 's', date: '2026-01-01T00:00:00Z', msg_type: 'shutdown_reply', version: '5.3' }, parent_header: {}, metadata: {}, content: s.reply })).toEqual([]);
    expect(s.returncode).toBe(0);
  });
});

describe('the jupyter-protocol type check itself', () => {
  const header = (msg_type: string) => ({ msg_id: 'm', username: 'u', session: 's', date: '2026-12-06T00:00:00.000Z', msg_type, version: '5.3' });
  const msg = (msg_type: string, content: unknown): WireMessage => ({ header: header(msg_type), parent_header: {}, metadata: {}, content });

  it('refuses what the kernel used to send (issue 11: kernel-testbed could not connect)', () => {
    const languageInfo = { name: 'typescript', version: '5.0.4', mimetype: 'text/x.typescript', file_extension: '.ts', pygments_lexer: 'typescript' };
    const oldInfo = { status: 'ok', protocol_version: '5.3', implementation: 'mmulab', implementation_version: '0.1.0', banner: 'b', help_links: [], debugger: false };
    // messaging.rs `enum CodeMirrorMode`: `{name, mode, typescript}` is neither a string nor {name, version}.
    expect(checkMessage(msg('kernel_info_reply', { ...oldInfo, language_info: { ...languageInfo, nbconvert_exporter: 'script', codemirror_mode: { name: 'javascript', mode: 'typescript', typescript: true } } }))).not.toEqual([]);
    // `struct LanguageInfo`: nbconvert_exporter is required.
    expect(checkMessage(msg('kernel_info_reply', { ...oldInfo, language_info: { ...languageInfo, codemirror_mode: 'typescript' } }))).toEqual(['kernel_info_reply.content.language_info.nbconvert_exporter: missing field']);
    // `enum ExecutionState { Busy, Idle }`.
    expect(checkMessage(msg('status', { execution_state: 'starting' }))).not.toEqual([]);
    // `struct ExecuteReply`: execution_count is not an Option.
    expect(checkMessage(msg('execute_reply', { status: 'aborted' }))).toEqual(['execute_reply.content.execution_count: missing field']);
    // `struct IsCompleteReply`: indent is not an Option.
    expect(checkMessage(msg('is_complete_reply', { status: 'complete' }))).toEqual(['is_complete_reply.content.indent: missing field']);
  });

  it('accepts what the crate itself writes', () => {
    expect(checkMessage(msg('execute_reply', { status: 'ok', execution_count: 1, payload: [], user_expressions: {} }))).toEqual([]);
    expect(checkMessage(msg('history_reply', { status: 'ok', history: [[0, 1, 'x'], [0, 2, ['y', '2']]] }))).toEqual([]);
    expect(checkMessage(msg('kernel_info_reply', { status: 'ok', protocol_version: '5.3', implementation: 'i', implementation_version: '1', banner: '', help_links: [], language_info: { name: 'python', version: '3', mimetype: 'text/x-python', file_extension: '.py', pygments_lexer: 'ipython3', codemirror_mode: { name: 'ipython', version: 3 }, nbconvert_exporter: 'python' } }))).toEqual([]);
  });
});
