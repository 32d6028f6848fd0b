/**
 * The kernel under a real Jupyter client: Debian's jupyter_client (KernelManager and
 * BlockingKernelClient) starts it from the installed kernelspec and drives it (probe.py).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installKernel, jupyterEnv, outputs, probe as runProbe, tempDir, type Executed } from './helpers';

let env: NodeJS.ProcessEnv;

async function probe(steps: Record<string, unknown>[]): Promise<unknown[]> {
  return (await runProbe(env, steps)).results;
}

beforeAll(async () => {
  env = jupyterEnv(tempDir('client'));
  await installKernel(env);
});

describe('kernel protocol with jupyter_client', () => {
  let results: unknown[];
  const marker = path.join(tempDir('marker'), 'executed');

  beforeAll(async () => {
    results = await probe([
      { op: 'kernel_info' },
      { op: 'execute', code: "console.log('out'); 6 * 7" },
      { op: 'execute', code: 'const mem = new GuestMemory();\ntypeof mem' },
      { op: 'complete', code: 'GuestMe', cursor_pos: 7 },
      { op: 'complete', code: 'aq.tab', cursor_pos: 6 },
      { op: 'inspect', code: 'GuestMemory', cursor_pos: 3 },
      { op: 'execute', code: 'const g: number = gva(0n)' },
      { op: 'execute', code: 'function f(n: number): number {\n  if (n > 1) throw new RangeError(`too big: ${n}`);\n  return n;\n}\nf(2)' },
      { op: 'bad_signature', key: 'not-the-key', code: `require('fs').writeFileSync(${JSON.stringify(marker)}, 'wrong key')` },
      { op: 'bad_signature', key: '', code: `require('fs').writeFileSync(${JSON.stringify(marker)}, 'unsigned')` },
      { op: 'replay', code: 'globalThis.replayed = (globalThis.replayed ?? 0) + 1' },
      { op: 'execute', code: 'globalThis.replayed' },
      { op: 'execute_many', cells: [{ code: "throw new Error('first')" }, { code: "console.log('queued')" }, { code: '2' }] },
      { op: 'execute_many', cells: [{ code: "throw new Error('again')", stop_on_error: false }, { code: "console.log('runs')" }, { code: '3' }] },
      { op: 'execute_many', cells: [{ code: "console.log('a')" }, { code: "await new Promise((r) => setTimeout(r, 200));\nconsole.log('b')" }, { code: "console.log('c')" }] },
      { op: 'is_complete', code: 'function f() {' },
      { op: 'execute', code: "display(chart({ data: { values: [{ x: 1, y: 2 }] }, mark: 'point', encoding: { x: { field: 'x', type: 'quantitative' } } }));\nconsole.log('after chart');" },
    ]);
  });

  it('answers kernel_info with the language of the kernel', () => {
    const info = results[0] as Record<string, unknown>;
    expect(info).toMatchObject({ status: 'ok', protocol_version: '5.3', implementation: 'mmulab' });
    expect(info.language_info).toMatchObject({ name: 'typescript', file_extension: '.ts', mimetype: 'text/x.typescript' });
    expect((info.language_info as { version: string }).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('publishes execute_input, streams and the last value as execute_result, with counts', () => {
    const e = results[1] as Executed;
    expect(e.reply).toMatchObject({ status: 'ok', execution_count: 1 });
    expect(outputs(e)).toEqual([
      { msg_type: 'execute_input', content: { code: "console.log('out'); 6 * 7", execution_count: 1 }, parent: e.msg_id },
      { msg_type: 'stream', content: { name: 'stdout', text: 'out\n' }, parent: e.msg_id },
      { msg_type: 'execute_result', content: { execution_count: 1, data: { 'text/plain': '42' }, metadata: {} }, parent: e.msg_id },
    ]);
    expect(e.iopub[0]).toMatchObject({ msg_type: 'status', content: { execution_state: 'busy' } });
    expect(e.iopub[e.iopub.length - 1]).toMatchObject({ msg_type: 'status', content: { execution_state: 'idle' } });
  });

  it('has the engine in scope, with types for completion, inspection and checking', () => {
    expect((results[2] as Executed).reply).toMatchObject({ status: 'ok', execution_count: 2 });
    expect(results[3]).toMatchObject({ status: 'ok', matches: ['GuestMemory'], cursor_start: 0, cursor_end: 7 });
    expect((results[4] as { matches: string[] }).matches).toContain('table');
    expect((results[5] as { found: boolean; data: Record<string, string> }).found).toBe(true);
    expect((results[5] as { data: Record<string, string> }).data['text/plain']).toContain('class GuestMemory');
    const typeError = results[6] as Executed;
    expect(typeError.reply).toMatchObject({ status: 'error', ename: 'CompileError', evalue: "TS2322: Type 'Gva' is not assignable to type 'number'.", execution_count: 3 });
    expect((typeError.reply.traceback as string[])[0]).toBe("cell 3:1:7 - error TS2322: Type 'Gva' is not assignable to type 'number'.");
    expect(outputs(typeError).map((m) => m.msg_type)).toEqual(['execute_input', 'error']);
  });

  it('reports runtime errors with a traceback trimmed to the cell, with line and column', () => {
    const e = results[7] as Executed;
    expect(e.reply).toMatchObject({ status: 'error', ename: 'RangeError', evalue: 'too big: 2' });
    expect(e.reply.traceback).toEqual(['RangeError: too big: 2', '    at f (cell 4:2:20)', '    at cell 4:5:1']);
    expect(outputs(e).find((m) => m.msg_type === 'error')!.content).toEqual({ ename: 'RangeError', evalue: 'too big: 2', traceback: e.reply.traceback });
  });

  it('drops messages signed with a wrong key or unsigned, and replayed messages, without executing them', () => {
    expect(fs.existsSync(marker)).toBe(false);
    const replay = results[10] as { reply: Record<string, unknown> };
    expect(replay.reply).toMatchObject({ status: 'ok', execution_count: 5 });
    // The replayed copy was not executed: the counter is 1 and the next count is 6.
    expect((results[11] as Executed).reply).toMatchObject({ status: 'ok', execution_count: 6 });
    expect(outputs(results[11] as Executed)[1]!.content).toMatchObject({ data: { 'text/plain': '1' } });
  });

  it('aborts queued cells after an error only when stop_on_error is set', () => {
    const stop = results[12] as Executed[];
    expect(stop.map((e) => e.reply.status)).toEqual(['error', 'aborted', 'aborted']);
    expect(stop.slice(1).every((e) => outputs(e).length === 0)).toBe(true);
    const go = results[13] as Executed[];
    expect(go.map((e) => e.reply.status)).toEqual(['error', 'ok', 'ok']);
    expect(go.map((e) => e.reply.execution_count)).toEqual([8, 9, 10]);
  });

  it('gives each queued request its own outputs', () => {
    const queued = results[14] as Executed[];
    expect(queued.map((e) => outputs(e).filter((m) => m.msg_type === 'stream').map((m) => m.content.text))).toEqual([['a\n'], ['b\n'], ['c\n']]);
    for (const e of queued) expect(e.iopub.every((m) => m.parent === e.msg_id)).toBe(true);
  });

  it('answers is_complete', () => {
    expect(results[15]).toMatchObject({ status: 'incomplete' });
  });

  it('shows a chart as one display_data (vega-lite v5, SVG, PNG, text), in order with later output', () => {
    const e = results[16] as Executed;
    const outs = outputs(e);
    expect(outs.map((m) => m.msg_type)).toEqual(['execute_input', 'display_data', 'stream']);
    const data = outs[1]!.content.data as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(['application/vnd.vegalite.v5+json', 'image/png', 'image/svg+xml', 'text/plain']);
    expect(data['image/svg+xml']).toMatch(/^<svg/);
  });
});

describe('interrupt, restart and shutdown', () => {
  it('interrupts a busy loop and a hung await; the kernel goes on', async () => {
    const dir = tempDir('interrupt');
    const mark = (name: string): string => `require('fs').writeFileSync(${JSON.stringify(path.join(dir, name))}, '');\n`;
    const [busy, hung, after] = (await probe([
      { op: 'interrupt_after', code: `${mark('busy')}let spins = 0;\nwhile (true) { spins++; }`, marker: path.join(dir, 'busy') },
      { op: 'interrupt_after', code: `${mark('hung')}await new Promise(() => {})`, marker: path.join(dir, 'hung') },
      { op: 'execute', code: "'still alive'" },
    ])) as Executed[];
    expect(busy!.reply).toMatchObject({ status: 'error', ename: 'Interrupted' });
    expect(hung!.reply).toMatchObject({ status: 'error', ename: 'Interrupted' });
    expect(after!.reply).toMatchObject({ status: 'ok', execution_count: 3 });
    expect(outputs(after!)[1]!.content).toMatchObject({ data: { 'text/plain': "'still alive'" } });
  });

  it('restarts into a fresh process and shuts down cleanly', async () => {
    const [, restart, fresh, shutdown] = (await probe([
      { op: 'execute', code: '(globalThis as any).kept = 1' },
      { op: 'restart' },
      { op: 'execute', code: 'typeof (globalThis as any).kept' },
      { op: 'shutdown' },
    ])) as [Executed, { old_pid: number; new_pid: number }, Executed, { returncode: number; alive: boolean }];
    expect(restart.new_pid).not.toBe(restart.old_pid);
    expect(fresh.reply).toMatchObject({ status: 'ok', execution_count: 1 });
    expect(outputs(fresh)[1]!.content).toMatchObject({ data: { 'text/plain': "'undefined'" } });
    expect(shutdown).toEqual({ returncode: 0, alive: false });
  });
});
