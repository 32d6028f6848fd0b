/**
 * Dependencies point down the pipeline (tdx → vm): nothing the vCPU's fault path calls may import
 * the VM or the vCPU back. Checked on the import graph of `src/` (type-only imports included: the
 * layering is about names as much as about code).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** module (path relative to src, without .ts) → the modules it imports. */
function importGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const re = /(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/g;
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(re)) {
      let target = resolve(dirname(file), m[1]!);
      try {
        if (statSync(target).isDirectory()) target = join(target, 'index');
      } catch {
        /* a file path without extension */
      }
      deps.push(relative(SRC, target).replace(/\.ts$/, ''));
    }
    g.set(relative(SRC, file).replace(/\.ts$/, ''), deps);
  }
  return g;
}

function reaches(g: Map<string, string[]>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [...(g.get(from) ?? [])];
  while (stack.length > 0) {
    const m = stack.pop()!;
    if (m === to) return true;
    if (seen.has(m)) continue;
    seen.add(m);
    stack.push(...(g.get(m) ?? []));
  }
  return false;
}

describe('import layering', () => {
  const g = importGraph();

  it('the graph was read (the vCPU imports the TD fault path)', () => {
    expect(g.get('vm/vcpu')).toContain('tdx/tdx-page-fault');
  });

  it('no module of src/tdx reaches vm/vm or vm/vcpu (the cycle vm/vcpu ↔ tdx/tdx-page-fault ↔ vm/vm is gone)', () => {
    const up = [...g.keys()].filter((m) => m.startsWith('tdx/') && (reaches(g, m, 'vm/vm') || reaches(g, m, 'vm/vcpu')));
    expect(up).toEqual([]);
  });

  it('vm/vcpu and vm/vm are on no import cycle', () => {
    expect(reaches(g, 'vm/vcpu', 'vm/vcpu')).toBe(false);
    expect(reaches(g, 'vm/vm', 'vm/vm')).toBe(false);
  });
});
