/**
 * The notes runner when a cell ends the process or floods its output, and its temporary files on
 * every exit path (issue 12, items 6 and 7). Driven through the command line, as a user does.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeCells, notebookOf, notesCli, readNb, ROOT, src, tempDir, writeNb, NODE } from './helpers';

describe('notes runner: a cell that ends the process', () => {
  it('fails its notebook with a message naming notebook and cell, writes nothing, and fails --check', async () => {
    const d = tempDir('exit');
    const cases: Record<string, string[]> = {
      'exit0.ipynb': ['"first"', 'process.exit(0)', '"never"'],
      'caught.ipynb': ['try { process.exit(0); } catch { /* swallowed */ }\n"went on"'],
      'kill.ipynb': ['"first"', "process.kill(process.pid, 'SIGTERM')"],
      'timer.ipynb': ['setTimeout(() => process.exit(0), 0);\n"armed"', 'await new Promise((r) => setTimeout(r, 100));\n"later"'],
    };
    const before = new Map<string, Buffer>();
    for (const [name, cells] of Object.entries(cases)) {
      writeNb(path.join(d, name), notebookOf(cells));
      before.set(name, fs.readFileSync(path.join(d, name)));
    }
    const r = await notesCli([d, '--no-report']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exit0.ipynb: FAILED, not written');
    expect(r.stderr).toContain('exit0.ipynb, cell 1: the cell tried to end the process (process.exit(0))');
    expect(r.stderr).toContain('caught.ipynb, cell 0: the cell tried to end the process (process.exit(0))');
    expect(r.stderr).toContain('kill.ipynb, cell 1: the cell tried to end the process (process.kill(process.pid, SIGTERM))');
    expect(r.stderr).toMatch(/timer\.ipynb, cell 1: the cell tried to end the process \(process\.exit\(0\)/);
    for (const [name, bytes] of before) expect(fs.readFileSync(path.join(d, name)).equals(bytes), name).toBe(true);
    expect(fs.readdirSync(d).sort()).toEqual(Object.keys(cases).sort());
    const check = await notesCli([path.join(d, 'exit0.ipynb'), '--check']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('exit0.ipynb, cell 1: the cell tried to end the process (process.exit(0))');
  });
});

describe('cell output limit', () => {
  it('cuts a cell that writes 50 MB at 10 MiB with a notice; the next cell has its own budget', async () => {
    const d = tempDir('flood');
    const file = path.join(d, 'flood.ipynb');
    writeNb(file, notebookOf(["process.stdout.write('x'.repeat(50 * 1024 * 1024));\nconsole.log('dropped');\n'after'", 'console.log("next cell")']));
    const r = await notesCli([file, '--no-report']);
    expect(r.code).toBe(0);
    const [flood, next] = codeCells(readNb(file));
    const outs = flood!.outputs!;
    expect(outs.map((o) => [o.output_type, o.name])).toEqual([['stream', 'stdout'], ['stream', 'stderr'], ['execute_result', undefined]]);
    // kernel/display.ts CELL_OUTPUT_LIMIT: 10 MiB of output per cell.
    expect(src(outs[0]!.text)).toBe('x'.repeat(10 * 1024 * 1024));
    expect(src(outs[1]!.text)).toBe("\n[mmulab: this cell's output reached the 10 MiB limit per cell; the rest was dropped]\n");
    expect(src(next!.outputs![0]!.text)).toBe('next cell\n');
    expect(fs.statSync(file).size).toBeLessThan(11 * 1024 * 1024);
  });
});

describe('cell output limit in the kernel runtime (what the kernel sends on iopub)', () => {
  it('a 50 MB write arrives as 10 MiB and a notice; an 11 MiB display becomes the notice', async () => {
    // The built runtime (global setup builds it): it loads its compiler lazily by require.
    const { Runtime } = (await import(path.join(ROOT, 'dist', 'kernel', 'runtime.js'))) as typeof import('../../kernel/runtime');
    const rt = await Runtime.create({ root: ROOT });
    try {
      const got: [string, string, number][] = [];
      const sink = {
        stream: (name: string, text: string) => void got.push(['stream', name, text.length]),
        display: (c: { data: Record<string, unknown> }) => void got.push(['display', Object.keys(c.data).join(','), JSON.stringify(c.data).length]),
        clear: () => undefined,
      };
      const flood = await rt.execute("process.stdout.write('y'.repeat(50 * 1024 * 1024));\nprocess.stdout.write('more');\n1", { sink, label: 'cell 1', idPrefix: 'c1' });
      expect(flood.status).toBe('ok');
      const notice = "\n[mmulab: this cell's output reached the 10 MiB limit per cell; the rest was dropped]\n";
      expect(got).toEqual([['stream', 'stdout', 10 * 1024 * 1024], ['stream', 'stderr', notice.length]]);
      got.length = 0;
      await rt.execute("display({ 'text/html': 'z'.repeat(11 * 1024 * 1024) }, { raw: true });\ndisplay('small')", { sink, label: 'cell 2', idPrefix: 'c2' });
      expect(got).toEqual([['stream', 'stderr', notice.length]]);
    } finally {
      rt.close();
    }
  });
});

describe('notes runner: temporary files', () => {
  it('a run killed between writing its temporary file and the rename leaves it; the next run removes it', async () => {
    const d = tempDir('held');
    const file = path.join(d, 'note.ipynb');
    writeNb(file, notebookOf(['1 + 1']));
    const before = fs.readFileSync(file);
    const marker = path.join(tempDir('marker'), 'held');
    const child = spawn(NODE, [path.join(ROOT, 'dist', 'kernel', 'notes.js'), file, '--no-report'], {
      cwd: ROOT, stdio: 'ignore', env: { ...process.env, MMULAB_TEST_HOLD_BEFORE_RENAME: marker },
    });
    const closed = new Promise((r) => child.on('close', r));
    await new Promise<void>((resolve, reject) => {
      const poll = (): void => {
        if (fs.existsSync(marker)) resolve();
        else if (child.exitCode !== null) reject(new Error(`the runner exited (${child.exitCode}) before holding its write`));
        else setTimeout(poll, 50);
      };
      poll();
    });
    child.kill('SIGKILL');
    await closed;
    const leftover = `.note.ipynb.tmp-${child.pid}`;
    expect(fs.readdirSync(d).sort()).toEqual([leftover, 'note.ipynb']);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    // A live writer's temporary file (this process's pid) is not touched.
    const live = path.join(d, `.note.ipynb.tmp-${process.pid}`);
    fs.writeFileSync(live, 'in progress');
    const r = await notesCli([file, '--no-report']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`removed ${path.relative(ROOT, path.join(d, leftover)).split(path.sep).join('/')}, left by a run killed before its rename`);
    expect(fs.readdirSync(d).sort()).toEqual([path.basename(live), 'note.ipynb']);
    expect(codeCells(readNb(file))[0]!.execution_count).toBe(1);
    fs.rmSync(live);
  });

  it('a write that fails removes its temporary file', async () => {
    const d = tempDir('readonly-dir');
    const file = path.join(d, 'note.ipynb');
    writeNb(file, notebookOf(['2 + 2']));
    // The notebook's path is a directory's name for the rename: renameSync fails (EISDIR-like).
    const { writeFileAtomic } = await import('../../kernel/notebook');
    const target = path.join(d, 'sub');
    fs.mkdirSync(path.join(target, 'x'), { recursive: true });
    expect(() => writeFileAtomic(target, 'content')).toThrow();
    expect(fs.readdirSync(d).sort()).toEqual(['note.ipynb', 'sub']);
  });
});
