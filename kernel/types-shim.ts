/**
 * Types for packages that declare them only in `exports` (vega-lite, vega-embed, …).
 *
 * Cells are compiled with Node10-style module resolution (kernel/compiler.ts), which ignores
 * `exports`: `import * as vl from "vega-lite"` would fail to type-check. When the compiler looks
 * for `node_modules/<pkg>/index.d.ts` and the package has no such file and no top-level `types`,
 * this serves a one-line declaration file that re-exports the types `exports["."]` names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const INDEX = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]index\.d\.ts$/;

type Exports = string | { [k: string]: Exports } | undefined;

function typesOf(entry: Exports): string | undefined {
  if (typeof entry === 'string') return entry.endsWith('.d.ts') ? entry : undefined;
  if (!entry || typeof entry !== 'object') return undefined;
  if (typeof entry.types === 'string') return entry.types;
  for (const k of ['import', 'require', 'node', 'default']) {
    const t = typesOf(entry[k]);
    if (t) return t;
  }
  return undefined;
}

const cache = new Map<string, string | null>();

/** The shim's content for a missing `node_modules/<pkg>/index.d.ts`, if the package needs one. */
export function shimFor(file: string): string | undefined {
  const cached = cache.get(file);
  if (cached !== undefined) return cached ?? undefined;
  let content: string | null = null;
  const m = INDEX.exec(file);
  if (m && !fs.existsSync(file)) {
    const dir = path.dirname(file);
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { types?: string; typings?: string; exports?: Exports };
      const exp = pkg.exports;
      const dot = exp && typeof exp === 'object' && !Array.isArray(exp) && '.' in exp ? exp['.'] : exp;
      const types = !pkg.types && !pkg.typings ? typesOf(dot) : undefined;
      if (types && fs.existsSync(path.join(dir, types))) {
        const target = './' + types.replace(/^\.\//, '').replace(/\.d\.ts$/, '');
        const text = fs.readFileSync(path.join(dir, types), 'utf8');
        const hasDefault = /\bexport\s+default\b|\bas\s+default\b/.test(text);
        content = `export * from ${JSON.stringify(target)};\n${hasDefault ? `export { default } from ${JSON.stringify(target)};\n` : ''}`;
      }
    } catch {
      content = null;
    }
  }
  cache.set(file, content);
  return content ?? undefined;
}

let installed = false;

/** Serves the shims through TypeScript's file system (the one tslab's compiler host reads). */
export function installTypesShim(): void {
  if (installed) return;
  installed = true;
  const sys = ts.sys;
  const fileExists = sys.fileExists.bind(sys);
  const readFile = sys.readFile.bind(sys);
  sys.fileExists = (p: string) => fileExists(p) || (p.endsWith('index.d.ts') && shimFor(p) !== undefined);
  sys.readFile = (p: string, encoding?: string) => {
    const r = readFile(p, encoding);
    return r !== undefined || !p.endsWith('index.d.ts') ? r : shimFor(p);
  };
}
