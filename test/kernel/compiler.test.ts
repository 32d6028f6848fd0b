/**
 * Cells compile with the project's TypeScript (package.json's `typescript`, 5.9), not tslab's
 * bundled 5.0; `import … from 'mmulab'` reaches the project from any working directory; a type
 * error is still reported with its caret under the cell's text, and the cell does not run.
 * Checked through the notes runner and through the kernel itself (its ZeroMQ protocol).
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KernelClient } from '../../bench/jupyter-client';
import { codeCells, NODE, normalizedOutputs, notebookOf, notesCli, readNb, ROOT, tempDir, writeNb, type Nb } from './helpers';

const TS_VERSION = (require('typescript/package.json') as { version: string }).version;

const TYPE_ERROR = "(globalThis as any).illTypedRan = true;\nconst n: number = 'four';";
const TYPE_ERROR_TRACEBACK = ["cell 3:2:7 - error TS2322: Type 'string' is not assignable to type 'number'.", "  2 | const n: number = 'four';", '    |       ~'];

describe('cells under the notes runner, started from another directory', () => {
  let nb: Nb;
  let outs: { output_type: string; data?: Record<string, string>; ename?: string; traceback?: string[] }[][];

  beforeAll(async () => {
    const cwd = tempDir('elsewhere');
    const file = path.join(cwd, 'cells.ipynb');
    writeNb(file, notebookOf([
      "import { GvaWalker, GuestMemory } from 'mmulab';\nconst mem: GuestMemory = new GuestMemory({ maxPhyAddr: 46 });\ntypeof GvaWalker",
      // Typed arrays became generic in TypeScript 5.7: tslab's 5.0 says "Type 'Uint8Array' is not generic".
      'const bytes: Uint8Array<ArrayBuffer> = new Uint8Array(4);\n[3, 1, 2].toSorted().concat(bytes.length)',
      TYPE_ERROR,
      "(globalThis as any).illTypedRan ?? 'not run'",
    ]));
    const r = await notesCli([file, '--no-report', '--allow-errors'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    nb = readNb(file);
    outs = codeCells(nb).map(normalizedOutputs) as typeof outs;
  });

  it('imports the project as mmulab', () => {
    expect(outs[0]).toEqual([{ output_type: 'execute_result', execution_count: 1, data: { 'text/plain': "'function'" }, metadata: {} }]);
  });

  it("compiles with the project's TypeScript", () => {
    expect(TS_VERSION).toMatch(/^5\.9\./);
    expect(nb.metadata.language_info).toMatchObject({ name: 'typescript', version: TS_VERSION });
    expect(outs[1]![0]!.data!['text/plain']).toBe('[ 1, 2, 3, 4 ]');
  });

  it('reports a type error with its caret, and does not run the cell', () => {
    expect(outs[2]).toEqual([{ output_type: 'error', ename: 'CompileError', evalue: "TS2322: Type 'string' is not assignable to type 'number'.", traceback: TYPE_ERROR_TRACEBACK }]);
    expect(outs[3]![0]!.data!['text/plain']).toBe("'not run'");
  });
});

describe('cells in the kernel, started from another directory', () => {
  it("imports mmulab, compiles with the project's TypeScript, reports type errors with the caret", async () => {
    const cwd = tempDir('kernel-elsewhere');
    const c = new KernelClient({ name: 'mmulab', argv: [NODE, path.join(ROOT, 'dist', 'kernel', 'main.js'), '{connection_file}'], cwd });
    try {
      await c.start();
      const imported = await c.execute("import { GvaWalker } from 'mmulab';\nif (typeof GvaWalker !== 'function') throw new Error('not the engine');");
      expect(imported).toMatchObject({ status: 'ok', execution_count: 1 });
      const typed = await c.execute('const bytes: Uint8Array<ArrayBuffer> = new Uint8Array(4);');
      expect(typed).toMatchObject({ status: 'ok', execution_count: 2 });
      const bad = await c.execute(TYPE_ERROR);
      expect(bad).toMatchObject({ status: 'error', ename: 'CompileError', traceback: TYPE_ERROR_TRACEBACK });
      const ran = await c.execute("if ((globalThis as any).illTypedRan) throw new Error('the ill-typed cell ran');");
      expect(ran).toMatchObject({ status: 'ok' });
    } finally {
      await c.stop();
    }
  });
});
