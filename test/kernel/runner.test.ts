/** The in-process runner (`npm run notes`), driven as a user does: through its command line. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeCells, copyFixture, normalizedOutputs, notebookOf, notesCli, readNb, ROOT, src, tempDir, writeNb, NODE } from './helpers';

describe('notes runner', () => {
  let dir: string;
  let basic: string;
  let params: string;
  let firstRun: { code: number | null; stderr: string };

  beforeAll(async () => {
    dir = tempDir('notes');
    basic = copyFixture('basic.ipynb', dir);
    params = copyFixture('params.ipynb', dir);
    firstRun = await notesCli([dir, '--report', path.join(dir, 'report')]);
  });

  it('executes every notebook and writes its outputs', () => {
    expect(firstRun.stderr).toContain('basic.ipynb: written');
    expect(firstRun.code).toBe(0);
    const nb = readNb(basic);
    const cells = codeCells(nb);
    expect(cells.map((c) => c.execution_count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const [hello, typeofMem, table, chartCell, displayed, progress, boom, after] = cells.map(normalizedOutputs) as Record<string, unknown>[][];
    expect(hello).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'hello from mmulab\n' },
      { output_type: 'execute_result', execution_count: 1, data: { 'text/plain': '2' }, metadata: {} },
    ]);
    expect(typeofMem![0]).toMatchObject({ data: { 'text/plain': "'function'" } });
    expect(Object.keys((table![0] as { data: object }).data).sort()).toEqual(['text/html', 'text/plain']);
    const chart = (chartCell![0] as { data: Record<string, unknown> }).data;
    expect(Object.keys(chart).sort()).toEqual(['application/vnd.vegalite.v5+json', 'image/png', 'image/svg+xml', 'text/plain']);
    expect((chart['application/vnd.vegalite.v5+json'] as { $schema: string }).$schema).toBe('https://vega.github.io/schema/vega-lite/v5.json');
    expect(chart['image/svg+xml']).toMatch(/^<svg[^>]*>/);
    expect(displayed!.map((o) => o.output_type)).toEqual(['display_data', 'stream']);
    // One progress display; only its final state is recorded.
    expect(progress).toHaveLength(1);
    expect((progress![0] as { data: Record<string, string> }).data['text/plain']).toContain('100% (20/20)');
    expect(boom![0]).toMatchObject({ output_type: 'error', ename: 'RangeError', evalue: 'boom 3', traceback: ['RangeError: boom 3', '    at boom (cell 7:2:9)', '    at cell 7:4:1'] });
    expect(after![0]).toMatchObject({ data: { 'text/plain': "'still running'" } });
    expect(nb.metadata.language_info).toMatchObject({ name: 'typescript', file_extension: '.ts', mimetype: 'text/x.typescript' });
  });

  it('writes no clock, random id or absolute path', () => {
    for (const f of [basic, params]) {
      const text = fs.readFileSync(f, 'utf8');
      expect(text).not.toContain(ROOT);
      expect(text).not.toContain(dir);
      expect(text).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
    }
  });

  it('re-executes to byte-identical notebooks, and --check agrees', async () => {
    const before = [fs.readFileSync(basic), fs.readFileSync(params)];
    const again = await notesCli([dir, '--no-report']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('basic.ipynb: unchanged');
    expect(fs.readFileSync(basic).equals(before[0]!)).toBe(true);
    expect(fs.readFileSync(params).equals(before[1]!)).toBe(true);
    const check = await notesCli([dir, '--check']);
    expect(check.stderr).toContain('basic.ipynb: up to date');
    expect(check.code).toBe(0);
  });

  it('renders an HTML report with the charts as inline SVG', () => {
    const index = fs.readFileSync(path.join(dir, 'report', 'index.html'), 'utf8');
    expect(index).toContain('href="basic.html"');
    expect(index).toContain('Fixture: basic display');
    const page = fs.readFileSync(path.join(dir, 'report', 'basic.html'), 'utf8');
    expect(page).toMatch(/<svg[^>]*class="marks"/);
    expect(page).toContain('<table>');
    expect(page).toContain('RangeError: boom 3');
  });

  it('--check fails with a readable diff when an output differs, and writes nothing', async () => {
    const d = tempDir('check');
    const file = copyFixture('params.ipynb', d);
    expect((await notesCli([file, '--no-report'])).code).toBe(0);
    const nb = readNb(file);
    const cell = codeCells(nb)[1]!;
    cell.outputs = cell.outputs!.map((o) => (o.output_type === 'execute_result' ? { ...o, data: { 'text/plain': ['9'] } } : o));
    writeNb(file, nb);
    const edited = fs.readFileSync(file);
    const check = await notesCli([file, '--check']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('params.ipynb: DIFFERS');
    expect(check.stdout).toContain('cell 2 (In [2]):');
    expect(check.stdout).toContain('-     9');
    expect(check.stdout).toContain('+     8');
    expect(fs.readFileSync(file).equals(edited)).toBe(true);
  });

  it('runs with parameters, records them, and re-runs with them', async () => {
    const d = tempDir('params');
    const file = copyFixture('params.ipynb', d);
    const r = await notesCli([file, '-p', 'levels=6', '--no-report']);
    expect(r.code).toBe(0);
    const nb = readNb(file);
    const injected = nb.cells[2]!;
    expect(injected.metadata.tags).toEqual(['injected-parameters']);
    expect(src(injected.source)).toContain('const levels: number = 6;');
    const last = normalizedOutputs(codeCells(nb)[2]!);
    expect(last).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'paging4 6\n' },
      { output_type: 'execute_result', execution_count: 3, data: { 'text/plain': '12' }, metadata: {} },
    ]);
    expect(nb.metadata.mmulab).toEqual({ parameters: { levels: 6, label: 'paging4' }, injected_parameters: ['levels'] });
    // Without -p the notebook re-runs with the values it records.
    const check = await notesCli([file, '--check']);
    expect(check.stdout + check.stderr).toContain('up to date');
    expect(check.code).toBe(0);
    // --reset-parameters goes back to the defaults.
    expect((await notesCli([file, '--reset-parameters', '--no-report'])).code).toBe(0);
    const reset = readNb(file);
    expect(reset.cells).toHaveLength(3);
    expect(reset.metadata.mmulab).toEqual({ parameters: { levels: 4, label: 'paging4' } });
  });

  it('refuses unknown parameters and ill-typed values, writing nothing', async () => {
    const d = tempDir('params-bad');
    const file = copyFixture('params.ipynb', d);
    const original = fs.readFileSync(file);
    const report = path.join(d, 'report');
    const unknown = await notesCli([file, '-p', 'level=6', '--report', report]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/ParameterError: .*params\.ipynb: unknown parameter level \(the parameters cell declares: levels, label\)/);
    const illTyped = await notesCli([file, '-p', 'levels=many', '--report', report]);
    expect(illTyped.code).toBe(2);
    expect(illTyped.stderr).toContain("CompileError: TS2322: Type 'string' is not assignable to type 'number'.");
    expect(fs.readFileSync(file).equals(original)).toBe(true);
    expect(fs.existsSync(report)).toBe(false);
  });

  it('a malformed notebook is a clear error naming the file; nothing at all is written', async () => {
    const d = tempDir('malformed');
    const good = copyFixture('params.ipynb', d);
    const bad = path.join(d, 'broken.ipynb');
    fs.writeFileSync(bad, '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}}]}');
    const before = fs.readFileSync(good);
    const r = await notesCli([d, '--report', path.join(d, 'report')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NotebookFormatError: .*broken\.ipynb: cell 0: "source" must be a string or a list of strings/);
    expect(r.stderr).toContain('nothing was written');
    expect(fs.readFileSync(good).equals(before)).toBe(true);
    expect(fs.existsSync(path.join(d, 'report'))).toBe(false);
  });

  it('a failing cell leaves the notebook as it was (no partial write, no temp file)', async () => {
    const d = tempDir('failing');
    const file = path.join(d, 'fails.ipynb');
    writeNb(file, notebookOf(['console.log("first")', '(null as any).toString()', '"never"']));
    const before = fs.readFileSync(file);
    const r = await notesCli([file, '--no-report']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('fails.ipynb: FAILED, not written');
    expect(r.stderr).toContain("TypeError: Cannot read properties of null (reading 'toString')");
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(d)).toEqual(['fails.ipynb']);
    // With --allow-errors the error is recorded and later cells run.
    const allowed = await notesCli([file, '--no-report', '--allow-errors']);
    expect(allowed.code).toBe(0);
    const nb = readNb(file);
    expect(codeCells(nb).map((c) => c.outputs!.map((o) => o.output_type))).toEqual([['stream'], ['error'], ['execute_result']]);
  });

  it('a killed run leaves the notebook untouched', async () => {
    const d = tempDir('killed');
    const file = path.join(d, 'slow.ipynb');
    const marker = path.join(tempDir('marker'), 'busy');
    writeNb(file, notebookOf([`require('fs').writeFileSync(${JSON.stringify(marker)}, '')`, 'while (true) {}']));
    const before = fs.readFileSync(file);
    const child = spawn(NODE, [path.join(ROOT, 'dist', 'kernel', 'notes.js'), file, '--no-report', '--timeout', '0'], { cwd: ROOT, stdio: 'ignore' });
    // The first cell leaves a marker: once it exists, the busy cell runs. Kill the runner then.
    await new Promise<void>((resolve, reject) => {
      const poll = (): void => {
        if (fs.existsSync(marker)) resolve();
        else if (child.exitCode !== null) reject(new Error(`the runner exited (${child.exitCode}) before the busy cell`));
        else setTimeout(poll, 50);
      };
      poll();
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(d)).toEqual(['slow.ipynb']);
  });

  it('Ctrl-C (SIGINT) stops the run without writing', async () => {
    const d = tempDir('sigint');
    const file = path.join(d, 'slow.ipynb');
    const marker = path.join(tempDir('marker'), 'busy');
    // The marker is made inside the busy cell: a SIGINT that lands just as a cell ends can be
    // swallowed by Node's vm (breakOnSigint), so signal only once the loop surely runs.
    writeNb(file, notebookOf(['"first"', `require('fs').writeFileSync(${JSON.stringify(marker)}, '');\nwhile (true) {}`, '"never"']));
    const before = fs.readFileSync(file);
    const child = spawn(NODE, [path.join(ROOT, 'dist', 'kernel', 'notes.js'), file, '--no-report'], { cwd: ROOT, stdio: 'ignore' });
    await new Promise<void>((resolve) => {
      const poll = (): void => (fs.existsSync(marker) ? resolve() : void setTimeout(poll, 50));
      poll();
    });
    const closed = new Promise((r) => child.on('close', r));
    child.kill('SIGINT');
    // Never leave a runner behind, whatever happens.
    const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still running'), 120_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    expect(code).toBe(130);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(d)).toEqual(['slow.ipynb']);
  });

  it('interrupts a cell past --timeout (busy loop and hung await) and goes on', async () => {
    const d = tempDir('timeout');
    const file = path.join(d, 'hang.ipynb');
    writeNb(file, notebookOf(['while (true) {}', 'await new Promise(() => {})', '"after"']));
    const r = await notesCli([file, '--no-report', '--allow-errors', '--timeout', '3']);
    expect(r.code).toBe(0);
    const outs = codeCells(readNb(file)).map((c) => c.outputs!);
    expect(outs[0]![0]).toMatchObject({ output_type: 'error', ename: 'TimeoutError' });
    expect(outs[1]![0]).toMatchObject({ output_type: 'error', ename: 'TimeoutError' });
    expect(outs[2]![0]).toMatchObject({ output_type: 'execute_result', data: { 'text/plain': ["'after'"] } });
  });

  it('names of earlier cells work in shorthand properties, and errors point where the user wrote', async () => {
    const d = tempDir('shorthand');
    const file = path.join(d, 'shorthand.ipynb');
    writeNb(file, notebookOf(['const levels = 4;', 'const o = { levels };\no', 'const f = () => ({ levels, x: (null as any).y });\nf()', 'const s: string = { levels }']));
    const r = await notesCli([file, '--no-report', '--allow-errors']);
    expect(r.code).toBe(0);
    const outs = codeCells(readNb(file)).map(normalizedOutputs) as { data?: Record<string, string>; traceback?: string[] }[][];
    expect(outs[1]![0]!.data!['text/plain']).toBe('{ levels: 4 }');
    expect(outs[2]![0]!.traceback).toEqual(["TypeError: Cannot read properties of null (reading 'y')", '    at f (cell 3:1:45)', '    at cell 3:2:1']);
    expect(outs[3]![0]!.traceback![0]).toBe("cell 4:1:7 - error TS2322: Type '{ levels: number; }' is not assignable to type 'string'.");
  });

  it('cells can import installed packages: CommonJS, ES modules, vega-lite with its types, tslab', async () => {
    const d = tempDir('imports');
    const file = path.join(d, 'imports.ipynb');
    writeNb(file, notebookOf([
      "import { max } from 'd3-array';\nmax([1, 5, 3])",
      "import { compile } from 'vega-lite';\nconst vg = compile({ mark: 'point', data: { values: [] } }).spec;\ntypeof vg.marks",
      "import * as tslab from 'tslab';\ntslab.display.html('<i>from tslab</i>');",
      "const l: number = compile({ mark: 'bar' })",
    ]));
    const r = await notesCli([file, '--no-report', '--allow-errors']);
    expect(r.code).toBe(0);
    const outs = codeCells(readNb(file)).map(normalizedOutputs) as { output_type: string; data?: Record<string, string>; evalue?: string }[][];
    expect(outs[0]![0]!.data!['text/plain']).toBe('5');
    expect(outs[1]![0]!.data!['text/plain']).toBe("'object'");
    expect(outs[2]![0]).toMatchObject({ output_type: 'display_data', data: { 'text/html': '<i>from tslab</i>' } });
    // Types come with the import: a wrong use is a compile error, not a runtime surprise.
    expect(outs[3]![0]).toMatchObject({ output_type: 'error', ename: 'CompileError' });
  });

  it('shows objects through the Jupyter.display protocol, as results and with display(), sync or async', async () => {
    const d = tempDir('protocol');
    const file = path.join(d, 'protocol.ipynb');
    writeNb(file, notebookOf([
      "class Level {\n  constructor(readonly n: number) {}\n  [Symbol.for('Jupyter.display')]() {\n    return { 'text/html': `<b>L${this.n}</b>`, 'text/plain': `L${this.n}` };\n  }\n}\nnew Level(4)",
      "const slow = { async [Symbol.for('Jupyter.display')]() { await new Promise((r) => setTimeout(r, 20)); return { 'text/markdown': '**slow**' }; } };\ndisplay(slow);\nconsole.log('printed after the display');\ndisplay(new Level(3));",
      "const h = display(html('<i>first</i>'));\nh.update(html('<i>second</i>'));",
    ]));
    const r = await notesCli([file, '--no-report']);
    expect(r.code).toBe(0);
    const outs = codeCells(readNb(file)).map(normalizedOutputs);
    expect(outs[0]).toEqual([{ output_type: 'execute_result', execution_count: 1, data: { 'text/html': '<b>L4</b>', 'text/plain': 'L4' }, metadata: {} }]);
    expect(outs[1]!.map((o) => (o as { output_type: string }).output_type)).toEqual(['display_data', 'stream', 'display_data']);
    expect((outs[1]![0] as { data: Record<string, string> }).data['text/markdown']).toBe('**slow**');
    expect((outs[1]![2] as { data: Record<string, string> }).data['text/html']).toBe('<b>L3</b>');
    expect(outs[2]).toEqual([{ output_type: 'display_data', data: { 'text/html': '<i>second</i>', 'text/plain': 'second' }, metadata: {} }]);
  });

  it('works with no notebooks at all', async () => {
    const root = tempDir('empty');
    fs.mkdirSync(path.join(root, 'notebooks'));
    const r = await notesCli(['--root', root]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no notebooks in notebooks/');
    expect(fs.readFileSync(path.join(root, 'artifacts', 'report', 'index.html'), 'utf8')).toContain('No notebooks yet');
    expect((await notesCli(['--root', root, '--check'])).code).toBe(0);
  });
});
