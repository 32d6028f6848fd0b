/**
 * A cell checked with the checker of an earlier cell's program (kernel/compiler.ts `reuse`, the
 * fast path of every cell whose imports the program has) gives what a program made for that cell
 * alone gives: the same diagnostics (positions, messages, codes), the same code, the same
 * declarations for later cells.
 */
import { describe, expect, it } from 'vitest';
import { CellCompiler, type Compiled, type Scope } from '../../kernel/compiler';
import { ROOT } from './helpers';

const CELLS = [
  "const a = 1;\nlet b = 'x';",
  'b = b + a;\nb',
  'a.toFixed(2)',
  'const s: string = a;',
  'function f(x: number) {\n  return x * a;\n}\nf(2)',
  'await Promise.resolve(f(3))',
  'interface P { x: number }\nconst p: P = { x: a };\n({ p, b })',
  "import * as fs from 'node:fs';\ntypeof fs.readFileSync",
  'undefinedName + 1',
  "// @ts-ignore\nconst z: number = 'q';\nz",
  'let late = f(1);\nlate = late + p.x;\nlate',
  '1 +',
  'Math.max(a, late, p.x)',
];

/** What a compile gives, without what names the file (the source map's file and sources). */
function comparable(c: Compiled): unknown {
  return {
    diagnostics: c.diagnostics,
    output: c.output,
    mappings: c.map === undefined ? undefined : (JSON.parse(c.map) as { mappings: string }).mappings,
    hasToplevelAwait: c.hasToplevelAwait,
    lastExpressionVar: c.lastExpressionVar,
    decl: c.decl?.text,
  };
}

describe('checking a cell with the checker of an earlier program', () => {
  it('gives the diagnostics, code and declarations of a program made for the cell', () => {
    const reusing = new CellCompiler(ROOT);
    const decls: { file: string; text: string }[] = [];
    let scope: Scope = new Map();
    for (const [i, code] of CELLS.entries()) {
      const fresh = new CellCompiler(ROOT);
      for (const d of decls) fresh.addDeclarations(d);
      const expected = fresh.compile(code, scope);
      fresh.close();
      const got = reusing.compile(code, scope);
      expect(comparable(got), `cell ${i + 1}: ${code}`).toEqual(comparable(expected));
      if (got.diagnostics.length) continue;
      // As the runtime does once a cell ran: its declarations, then the program for the next cell.
      if (got.decl) {
        reusing.addDeclarations(got.decl);
        decls.push(got.decl);
      }
      scope = got.scope;
      reusing.refresh(scope);
    }
    // The check with an earlier checker did happen: most cells made no program of their own (the
    // first cell, the cells after a declaring cell's refresh, the import and the @ts-ignore did).
    expect(reusing.stats.reusedChecker).toBeGreaterThanOrEqual(6);
    expect(reusing.stats.programs + reusing.stats.reusedChecker).toBeGreaterThanOrEqual(CELLS.length);
  });
});
