/**
 * Every ```ts block of README.md and notebooks/overview.md, exactly as printed: type-checked by
 * the project's TypeScript (strict) with `'mmulab'` resolved to src/index.ts, as a reader's
 * project would see the package, then run, and what its comments state is asserted where it can
 * be checked:
 * - `expr;   // <literal>`: the expression's value is the literal;
 * - `// a.b === <literal>` anywhere in a comment: checked once the block has run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers';

interface Block {
  file: string;
  line: number;
  code: string;
}

function tsBlocks(rel: string): Block[] {
  const text = fs.readFileSync(path.join(ROOT, rel), 'utf8');
  const out: Block[] = [];
  for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    out.push({ file: rel, line: text.slice(0, m.index).split('\n').length + 1, code: m[1]! });
  }
  return out;
}

const BLOCKS = [...tsBlocks('README.md'), ...tsBlocks('notebooks/overview.md')];
const LITERAL = /^('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*)n?|true|false|null|undefined)$/;
const CLAUSE = /([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*) === ('(?:[^'\\]|\\.)*'|-?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*)n?|true|false|null)/g;

/** The block with its checkable comments turned into `__expect` calls (the code itself unchanged). */
function instrument(b: Block): { code: string; checks: number } {
  const sf = ts.createSourceFile('block.ts', b.code, ts.ScriptTarget.Latest, true);
  const edits: { start: number; end: number; text: string }[] = [];
  const where = (pos: number): string => `${b.file}:${b.line + sf.getLineAndCharacterOfPosition(pos).line}`;
  for (const st of sf.statements) {
    if (!ts.isExpressionStatement(st)) continue;
    const comment = ts.getTrailingCommentRanges(b.code, st.end)?.[0];
    if (!comment || comment.kind !== ts.SyntaxKind.SingleLineCommentTrivia) continue;
    const literal = b.code.slice(comment.pos + 2, comment.end).trim();
    if (!LITERAL.test(literal)) continue;
    edits.push({ start: st.getStart(sf), end: st.end, text: `__expect((${st.expression.getText(sf)}), ${literal}, ${JSON.stringify(where(st.getStart(sf)))});` });
  }
  const after: string[] = [];
  for (const c of b.code.matchAll(/\/\/[^\n]*/g)) {
    for (const m of c[0].matchAll(CLAUSE)) after.push(`__expect(${m[1]}, ${m[2]}, ${JSON.stringify(`${where(c.index!)}: ${m[0]}`)});`);
  }
  let code = b.code;
  for (const e of edits.sort((x, y) => y.start - x.start)) code = code.slice(0, e.start) + e.text + code.slice(e.end);
  return { code: `${code}\n${after.join('\n')}\n`, checks: edits.length + after.length };
}

function typeCheck(blocks: Block[]): string[] {
  const dir = tempDir('readme-blocks');
  const files = blocks.map((b, i) => {
    const f = path.join(dir, `block${i}.ts`);
    // Each block is a module of its own, as a reader's file would be.
    fs.writeFileSync(f, b.code.includes('import ') ? b.code : `${b.code}\nexport {};\n`);
    return f;
  });
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    strict: true,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules', '@types')],
    baseUrl: ROOT,
    paths: { mmulab: ['src/index.ts'] },
  };
  const program = ts.createProgram(files, options);
  return files.flatMap((f, i) =>
    ts.getPreEmitDiagnostics(program, program.getSourceFile(f)).map((d) => {
      const { line } = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : { line: 0 };
      return `${blocks[i]!.file}:${blocks[i]!.line + line}: TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    }),
  );
}

async function runBlock(b: Block): Promise<{ checks: string[]; scope: Record<string, unknown> }> {
  const engine = (await import('../../src/index')) as Record<string, unknown>;
  const { code } = instrument(b);
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
  const checks: string[] = [];
  const __expect = (actual: unknown, expected: unknown, where: string): void => {
    expect(actual, where).toEqual(expected);
    checks.push(where);
  };
  const names = [...b.code.matchAll(/^(?:const|let) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]!);
  const scope: Record<string, unknown> = {};
  const req = (s: string): unknown => (s === 'mmulab' ? engine : require(s));
  const body = `${js}\n__scope({ ${names.join(', ')} });`;
  new Function('require', 'module', 'exports', '__expect', '__scope', body)(req, { exports: {} }, {}, __expect, (s: Record<string, unknown>) => Object.assign(scope, s));
  return { checks, scope };
}

describe('README.md for a fresh clone', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  it('links and paths stay inside the repository', () => {
    // A clone has nothing beside it: no `../…` paths, no links to other sites.
    expect(readme.match(/\.\.\/[^\s`)]*/g) ?? []).toEqual([]);
    expect(readme.match(/\]\((?:https?:)?\/\/[^)]*\)/g) ?? []).toEqual([]);
    for (const m of readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) expect(fs.existsSync(path.join(ROOT, m[1]!)), m[1]).toBe(true);
  });

  it('says how to run the notebook server as root', () => {
    expect(readme).toContain('jupyter notebook --allow-root');
  });
});

describe('TypeScript blocks of README.md and notebooks/overview.md', () => {
  it('README has its examples', () => {
    expect(BLOCKS.filter((b) => b.file === 'README.md').length).toBeGreaterThanOrEqual(2);
  });

  it('type-check as printed (strict, mmulab = src/index.ts)', () => {
    expect(typeCheck(BLOCKS)).toEqual([]);
  });

  for (const b of BLOCKS) {
    it(`${b.file}:${b.line} runs as printed and does what its comments say`, async () => {
      const { checks, scope } = await runBlock(b);
      expect(checks.length).toBe(instrument(b).checks);
      if (b.file === 'README.md' && /new Vm\(/.test(b.code)) {
        // README: "r.exits: [EPT violation on the guest's page-table page → RET_PF_FIXED, EPT violation on the data page → RET_PF_FIXED]"
        const r = scope.r as { status: string; exits: { kind?: string; ret?: string }[] };
        expect(r.status).toBe('ok');
        expect(r.exits.length).toBe(2);
        expect(JSON.stringify(r.exits, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toMatch(/RET_PF_FIXED[\s\S]*RET_PF_FIXED/);
      }
    });
  }
});
