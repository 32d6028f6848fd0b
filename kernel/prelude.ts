/**
 * The prelude: what every cell starts with in scope. Its types are a declaration file of `import`s
 * that the compiler treats as the first cell's declarations (completion, inspection and checking
 * see the names like any declaration of an earlier cell); its values are loaded on first use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as TS from 'typescript';

/** The compiler, loaded when names are listed (the constants here are needed earlier, at start). */
function typescript(): typeof TS {
  return require('typescript') as typeof TS;
}

/** Names the display module gives every cell. They win over engine exports of the same name. */
export const DISPLAY_HELPERS = ['display', 'chart', 'vegaLite', 'progress', 'html', 'markdown', 'svg', 'clearOutput', 'input', 'prompt', 'confirm'] as const;
/** Namespaces every cell has. */
export const NAMESPACES = ['aq', 'vl'] as const;

function resolveDts(fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(fromFile), spec).replace(/\.js$/, '');
  for (const c of [`${base}.d.ts`, path.join(base, 'index.d.ts')]) {
    if (fs.existsSync(c)) return c;
  }
  return undefined;
}

function hasExport(ts: typeof TS, node: TS.Node): boolean {
  const mods = ts.canHaveModifiers(node) ? ts.getModifiers(node) : undefined;
  return !!mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) && !mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
}

/**
 * Every name a declaration file exports, following `export *` and `export {…} from` into the files
 * they name. Syntax only (no type checker): fast, and enough for the engine's generated .d.ts.
 */
export function exportedNames(dtsFile: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (seen.has(dtsFile)) return names;
  seen.add(dtsFile);
  const ts = typescript();
  const sf = ts.createSourceFile(dtsFile, fs.readFileSync(dtsFile, 'utf8'), ts.ScriptTarget.Latest, false);
  for (const st of sf.statements) {
    if (ts.isExportDeclaration(st)) {
      const from = st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) ? st.moduleSpecifier.text : undefined;
      if (!st.exportClause) {
        const target = from ? resolveDts(dtsFile, from) : undefined;
        if (target) for (const n of exportedNames(target, seen)) names.add(n);
      } else if (ts.isNamespaceExport(st.exportClause)) {
        names.add(st.exportClause.name.text);
      } else {
        for (const el of st.exportClause.elements) names.add(el.name.text);
      }
      continue;
    }
    if (!hasExport(ts, st)) continue;
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) names.add(d.name.text);
    } else if (
      (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || ts.isEnumDeclaration(st)) &&
      st.name
    ) {
      names.add(st.name.text);
    } else if (ts.isModuleDeclaration(st) && ts.isIdentifier(st.name)) {
      names.add(st.name.text);
    }
  }
  return names;
}

function posix(p: string): string {
  return p.split(path.sep).join('/');
}

function relImport(root: string, file: string): string {
  const rel = posix(path.relative(root, file)).replace(/(\.d)?\.(ts|js)$/, '');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

export interface Prelude {
  /** The prelude as a declaration file: what every cell has in scope, with types. */
  declarations: string;
  /** Every name the prelude gives (engine exports, namespaces, display helpers). */
  names: string[];
  engineNames: string[];
}

/**
 * The prelude's declarations, with the engine's exports from `<root>/dist/index.d.ts` when it is
 * built (`withEngine`). Values are not loaded here: the runtime loads each on first use.
 */
export function buildPrelude(root: string, displayModule: string, withEngine = true): Prelude {
  const lines: string[] = [];
  let engineNames: string[] = [];
  const engineDts = path.join(root, 'dist', 'index.d.ts');
  if (withEngine && fs.existsSync(engineDts)) {
    const reserved = new Set<string>([...DISPLAY_HELPERS, ...NAMESPACES]);
    engineNames = [...exportedNames(engineDts)].filter((n) => !reserved.has(n) && !n.startsWith('__')).sort();
    if (engineNames.length) lines.push(`import { ${engineNames.join(', ')} } from ${JSON.stringify(relImport(root, engineDts))};`);
  }
  lines.push('import * as aq from "arquero";');
  lines.push('import * as vl from "vega-lite/build/index";');
  lines.push(`import { ${DISPLAY_HELPERS.join(', ')} } from ${JSON.stringify(relImport(root, displayModule))};`);
  const names = [...engineNames, ...NAMESPACES, ...DISPLAY_HELPERS];
  lines.push(`export { ${names.join(', ')} };`);
  return { declarations: lines.join('\n') + '\n', names, engineNames };
}
