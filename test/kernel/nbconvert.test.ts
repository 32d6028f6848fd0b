/**
 * Notebooks executed by Jupyter itself (`jupyter nbconvert --to notebook --execute`, Debian's
 * nbclient) through the installed kernelspec, compared with the in-process runner.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeCells, copyFixture, installKernel, JUPYTER, jupyterEnv, normalizedOutputs, notebookOf, notesCli, readNb, run, tempDir, writeNb, type Nb } from './helpers';

let env: NodeJS.ProcessEnv;
let work: string;

async function nbconvert(file: string, extra: string[] = []): Promise<Nb> {
  const out = path.join(work, 'out');
  const r = await run(JUPYTER, ['nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.kernel_name=mmulab', '--output-dir', out, ...extra, file], { env, cwd: work, limitMs: 600_000 });
  if (r.code !== 0) throw new Error(`nbconvert failed (${r.code}):\n${r.stderr}`);
  return readNb(path.join(out, path.basename(file)));
}

async function runner(file: string, extra: string[] = []): Promise<Nb> {
  const copy = path.join(work, 'runner', path.basename(file));
  fs.mkdirSync(path.dirname(copy), { recursive: true });
  fs.copyFileSync(file, copy);
  const r = await notesCli([copy, '--no-report', ...extra]);
  if (r.code !== 0) throw new Error(`notes failed (${r.code}):\n${r.stderr}`);
  return readNb(copy);
}

function outputsOf(nb: Nb): unknown[] {
  return codeCells(nb).map((c) => ({ execution_count: c.execution_count, outputs: normalizedOutputs(c) }));
}

beforeAll(async () => {
  work = tempDir('nbconvert');
  env = jupyterEnv(work);
  await installKernel(env);
});

describe('jupyter nbconvert --execute with the mmulab kernelspec', () => {
  it('lists the kernelspec', async () => {
    const r = await run(JUPYTER, ['kernelspec', 'list', '--json'], { env });
    const specs = (JSON.parse(r.stdout) as { kernelspecs: Record<string, { resource_dir: string; spec: { display_name: string; language: string; interrupt_mode: string } }> }).kernelspecs;
    expect(specs.mmulab!.spec).toMatchObject({ display_name: 'TypeScript (mmulab)', language: 'typescript', interrupt_mode: 'signal' });
    expect(specs.mmulab!.resource_dir).toBe(path.join(env.JUPYTER_DATA_DIR!, 'kernels', 'mmulab'));
  });

  for (const fixture of ['basic.ipynb', 'params.ipynb']) {
    it(`gives the same outputs as the in-process runner: ${fixture}`, async () => {
      const file = copyFixture(fixture, work);
      const [jupyter, ours] = await Promise.all([nbconvert(file), runner(file)]);
      expect(outputsOf(jupyter)).toEqual(outputsOf(ours));
      expect(jupyter.metadata.language_info).toEqual(ours.metadata.language_info);
    });
  }

  it('with --allow-errors, an error cell yields an error output and later cells run, with right counts', async () => {
    const file = path.join(work, 'errors.ipynb');
    writeNb(file, notebookOf(['const a = 41;', "throw new TypeError('bad input');", "let q: number = 'text';", 'a + 1']));
    const nb = await nbconvert(file, ['--allow-errors']);
    const cells = codeCells(nb);
    expect(cells.map((c) => c.execution_count)).toEqual([1, 2, 3, 4]);
    expect(cells[0]!.outputs).toEqual([]);
    expect(cells[1]!.outputs).toEqual([{ output_type: 'error', ename: 'TypeError', evalue: 'bad input', traceback: ['TypeError: bad input', '    at cell 2:1:7'] }]);
    expect(cells[2]!.outputs![0]).toMatchObject({ output_type: 'error', ename: 'CompileError', evalue: "TS2322: Type 'string' is not assignable to type 'number'." });
    expect(normalizedOutputs(cells[3]!)).toEqual([{ output_type: 'execute_result', execution_count: 4, data: { 'text/plain': '42' }, metadata: {} }]);
    expect(outputsOf(nb)).toEqual(outputsOf(await runner(file, ['--allow-errors'])));
  });

  it('interrupts a busy loop and a hung await on timeout; later cells run', async () => {
    const file = path.join(work, 'hangs.ipynb');
    writeNb(file, notebookOf(['1', 'while (true) {}', 'await new Promise(() => {})', "'after'"]));
    const nb = await nbconvert(file, ['--allow-errors', '--ExecutePreprocessor.timeout=15', '--ExecutePreprocessor.interrupt_on_timeout=True']);
    const cells = codeCells(nb);
    expect(cells.map((c) => c.execution_count)).toEqual([1, 2, 3, 4]);
    expect(cells[1]!.outputs![0]).toMatchObject({ output_type: 'error', ename: 'Interrupted' });
    expect(cells[2]!.outputs![0]).toMatchObject({ output_type: 'error', ename: 'Interrupted' });
    expect(normalizedOutputs(cells[3]!)).toEqual([{ output_type: 'execute_result', execution_count: 4, data: { 'text/plain': "'after'" }, metadata: {} }]);
  });
});
