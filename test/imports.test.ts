/**
 * The dependency rule of the engine (dependencies point down the pipeline, no import cycles),
 * checked on the source: every `import`/`export … from` of a relative module in src/, type-only
 * imports included (a type-only cycle is still two modules that cannot be understood apart), is
 * resolved with the TypeScript compiler API, and the graph must have no strongly connected
 * component of more than one module and no self-import.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const SRC = path.resolve(__dirname, '..', 'src');

/** No cycle is allowed: the list is asserted exactly, so a new cycle fails with its files named. */
const KNOWN_CYCLES: string[][] = [];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** Relative module specifiers of one file's import and re-export declarations (and `import('…')` types). */
export function moduleSpecifiers(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier !== undefined && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push(n.moduleSpecifier.text);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      out.push(n.argument.literal.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out.filter((s) => s.startsWith('.'));
}

function resolve(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base + '.ts', path.join(base, 'index.ts'), base]) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  throw new Error(`${path.relative(SRC, from)}: cannot resolve '${spec}'`);
}

export function importGraph(files: readonly string[], read: (f: string) => string = (f) => fs.readFileSync(f, 'utf8')): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) g.set(f, [...new Set(moduleSpecifiers(f, read(f)).map((s) => resolve(f, s)))]);
  return g;
}

/** Tarjan's strongly connected components with more than one node, or a node importing itself. */
export function cycles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const comp: string[] = [];
    for (;;) {
      const w = stack.pop()!;
      onStack.delete(w);
      comp.push(w);
      if (w === v) break;
    }
    if (comp.length > 1 || (g.get(v) ?? []).includes(v)) out.push(comp.sort());
  };
  for (const v of g.keys()) if (!index.has(v)) strong(v);
  return out;
}

describe('import graph of src/', () => {
  it('finds a cycle when there is one (the checker itself can fail)', () => {
    const files = ['/x/a.ts', '/x/b.ts', '/x/c.ts'];
    const text: Record<string, string> = {
      '/x/a.ts': "import { b } from './b';",
      '/x/b.ts': "import type { C } from './c';\nexport { b } from './a';",
      '/x/c.ts': 'export const c = 1;',
    };
    const g = new Map(files.map((f) => [f, moduleSpecifiers(f, text[f]!).map((s) => path.resolve('/x', s) + '.ts')]));
    expect(cycles(g)).toEqual([['/x/a.ts', '/x/b.ts']]);
    expect(moduleSpecifiers('/x/d.ts', "let x: import('./e').E; import 'node:fs';")).toEqual(['./e']);
  });

  it('has no import cycles, type-only imports included', () => {
    const g = importGraph(sourceFiles(SRC));
    expect(g.size).toBeGreaterThan(100);
    const found = cycles(g).map((c) => c.map((f) => path.relative(SRC, f)));
    expect(found).toEqual(KNOWN_CYCLES);
  });
});
