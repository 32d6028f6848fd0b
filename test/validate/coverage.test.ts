/**
 * Which public entry points have a bad-input property test (issue 12 item 5), checked rather than
 * claimed. The entry points are enumerated at run time from `src/index.ts` (every exported
 * function, every exported class's constructor, its public instance and static methods and
 * setters, and every function held by an exported object); the TypeScript compiler API tells
 * which of those members are `private`/`protected` and which take no argument.
 *
 * An entry is covered when some `refused(…)` / `refusedRule(…)` / `refusedAny(…)` call in
 * test/validate/*.test.ts has, as the outermost call of its callback, a call that the type checker
 * resolves to that entry's declaration (so `() => vm.addMemslot(bad)` covers `Vm.addMemslot`, but
 * `() => vm.addMemslot(gpa(bad))` does not cover `gpa`: only the call whose refusal is asserted).
 *
 * Every entry must be covered, take no argument (nothing to refuse), or be listed in EXEMPT with
 * the reason it needs no bad-input test, or in PENDING (not yet covered: the list may only shrink;
 * an entry listed there that a test covers fails this test until it is removed).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import * as api from '../../src';
import { EXEMPT, PENDING } from './coverage-lists';

const ROOT = path.resolve(__dirname, '..', '..');
const HERE = __dirname;
const REFUSALS = new Set(['refused', 'refusedRule', 'refusedAny']);

interface Entry {
  key: string;
  decls: ts.Declaration[];
  /** Takes no argument at all (a getter, or every signature has zero parameters). */
  noArgs: boolean;
}

function isClass(v: unknown): v is abstract new (...a: never[]) => unknown {
  return typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v));
}

function program(): ts.Program {
  const cfg = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  const files = [path.join(ROOT, 'src', 'index.ts'), ...fs.readdirSync(HERE).filter((f) => f.endsWith('.test.ts')).map((f) => path.join(HERE, f))];
  return ts.createProgram(files, { ...cfg!.options, noEmit: true });
}

function resolveAlias(c: ts.TypeChecker, s: ts.Symbol): ts.Symbol {
  return s.flags & ts.SymbolFlags.Alias ? c.getAliasedSymbol(s) : s;
}

function hidden(d: ts.Declaration): boolean {
  const name = (d as ts.NamedDeclaration).name;
  if (name !== undefined && ts.isPrivateIdentifier(name)) return true;
  return (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0;
}

/** A declaration and, for `const f = (…) => …`, the function it holds (what a call through a variable of its type resolves to). */
function withInitializer(decls: readonly ts.Declaration[] | undefined): ts.Declaration[] {
  const out = [...(decls ?? [])];
  for (const d of decls ?? []) {
    if (ts.isVariableDeclaration(d) && d.initializer !== undefined) {
      const i = unwrap(d.initializer);
      if (ts.isArrowFunction(i) || ts.isFunctionExpression(i)) out.push(i);
    }
  }
  return out;
}

function noArgSignatures(sigs: readonly ts.Signature[]): boolean {
  return sigs.length > 0 && sigs.every((s) => s.getParameters().length === 0);
}

/** Every public entry point: runtime exports, with declarations and arity from the checker. */
function entries(c: ts.TypeChecker, index: ts.SourceFile): { entries: Entry[]; constants: string[] } {
  const exports = new Map(c.getExportsOfModule(c.getSymbolAtLocation(index)!).map((s) => [s.name, resolveAlias(c, s)]));
  const out: Entry[] = [];
  const constants: string[] = [];
  const member = (key: string, owner: ts.Type, name: string): void => {
    const p = c.getPropertyOfType(owner, name);
    if (p === undefined) throw new Error(`${key}: the checker does not know this runtime member`);
    const decls = withInitializer(p.declarations);
    if (decls.length > 0 && decls.every(hidden)) return;
    const accessor = decls.every((d) => ts.isGetAccessorDeclaration(d) || ts.isSetAccessorDeclaration(d));
    if (accessor && !decls.some(ts.isSetAccessorDeclaration)) {
      out.push({ key, decls, noArgs: true });
      return;
    }
    const sigs = c.getTypeOfSymbol(p).getCallSignatures();
    out.push({ key, decls, noArgs: !accessor && noArgSignatures(sigs) });
  };
  for (const [name, value] of Object.entries(api as Record<string, unknown>)) {
    const sym = exports.get(name);
    if (sym === undefined) throw new Error(`runtime export ${name} unknown to the checker`);
    if (isClass(value)) {
      const ctorType = c.getTypeOfSymbol(sym);
      out.push({ key: name, decls: sym.declarations ?? [], noArgs: noArgSignatures(ctorType.getConstructSignatures()) });
      const inst = c.getDeclaredTypeOfSymbol(sym);
      const seen = new Set<string>(['constructor']);
      for (let p = value.prototype as object | null; p !== null && p !== Object.prototype && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
        for (const m of Object.getOwnPropertyNames(p)) {
          if (seen.has(m)) continue;
          seen.add(m);
          const d = Object.getOwnPropertyDescriptor(p, m)!;
          if (typeof d.value === 'function' || d.get !== undefined || d.set !== undefined) member(`${name}.${m}`, inst, m);
        }
      }
      for (const m of Object.getOwnPropertyNames(value)) {
        if (['length', 'name', 'prototype'].includes(m)) continue;
        if (typeof (value as unknown as Record<string, unknown>)[m] === 'function') member(`${name}::${m}`, ctorType, m);
      }
    } else if (typeof value === 'function') {
      out.push({ key: name, decls: withInitializer(sym.declarations), noArgs: noArgSignatures(c.getTypeOfSymbol(sym).getCallSignatures()) });
    } else if (typeof value === 'object' && value !== null) {
      const fns = Object.keys(value).filter((k) => typeof (value as Record<string, unknown>)[k] === 'function');
      for (const k of fns) member(`${name}.${k}`, c.getTypeOfSymbol(sym), k);
      if (fns.length === 0) constants.push(name);
    } else {
      constants.push(name);
    }
  }
  return { entries: out, constants };
}

function unwrap(e: ts.Expression): ts.Expression {
  while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isVoidExpression(e) || ts.isAwaitExpression(e)) e = e.expression;
  return e;
}

/** Declarations a call's callee may be: the symbol's, or (for a variable such as `f` of `it.each`) its type's. */
function calleeDecls(c: ts.TypeChecker, call: ts.CallExpression | ts.NewExpression): ts.Declaration[] {
  const callee = call.expression;
  const at = ts.isPropertyAccessExpression(callee) ? callee.name : callee;
  const s = c.getSymbolAtLocation(at);
  const out: ts.Declaration[] = [];
  if (s !== undefined) {
    const r = resolveAlias(c, s);
    const fnLike = (r.declarations ?? []).filter((d) => ts.isFunctionDeclaration(d) || ts.isMethodDeclaration(d) || ts.isClassDeclaration(d) || ts.isSetAccessorDeclaration(d) || ts.isMethodSignature(d) ||
      (ts.isVariableDeclaration(d) && withInitializer([d]).length > 1));
    out.push(...fnLike);
    if (fnLike.length > 0) return out;
  }
  const t = c.getTypeAtLocation(callee);
  for (const u of t.isUnion() ? t.types : [t]) out.push(...(u.getSymbol()?.declarations ?? []));
  // A loop or it.each variable: TypeScript merges same-signature function types into one, so the
  // functions are read from the array iterated (`for (const f of [a, b])`, `it.each(list)`).
  const d = s?.declarations?.[0];
  if (d !== undefined && ts.isIdentifier(callee)) {
    let iterated: ts.Expression | undefined;
    if (ts.isVariableDeclaration(d) && ts.isVariableDeclarationList(d.parent) && ts.isForOfStatement(d.parent.parent)) iterated = d.parent.parent.expression;
    if (ts.isParameter(d) && ts.isArrowFunction(d.parent) && ts.isCallExpression(d.parent.parent) && ts.isCallExpression(d.parent.parent.expression)) {
      const each = d.parent.parent.expression;
      if (ts.isPropertyAccessExpression(each.expression) && each.expression.name.text === 'each') iterated = each.arguments[0];
    }
    if (iterated !== undefined) out.push(...arrayFunctions(c, iterated, 0));
  }
  return out;
}

/** Function declarations listed in an array (of functions, or of tuples holding functions), through consts and .map/.filter. */
function arrayFunctions(c: ts.TypeChecker, e: ts.Expression, depth: number): ts.Declaration[] {
  if (depth > 4) return [];
  const u = unwrap(e);
  if (ts.isArrayLiteralExpression(u)) {
    return u.elements.flatMap((el) => {
      const x = unwrap(el as ts.Expression);
      if (ts.isArrayLiteralExpression(x)) return arrayFunctions(c, x, depth + 1);
      const s = ts.isIdentifier(x) ? c.getSymbolAtLocation(x) : undefined;
      return s === undefined ? [] : withInitializer(resolveAlias(c, s).declarations).filter((d) => ts.isFunctionDeclaration(d) || ts.isArrowFunction(d) || ts.isFunctionExpression(d));
    });
  }
  if (ts.isIdentifier(u)) {
    const d = c.getSymbolAtLocation(u)?.declarations?.[0];
    return d !== undefined && ts.isVariableDeclaration(d) && d.initializer !== undefined ? arrayFunctions(c, d.initializer, depth + 1) : [];
  }
  if (ts.isCallExpression(u) && ts.isPropertyAccessExpression(u.expression) && ['map', 'filter'].includes(u.expression.name.text)) return arrayFunctions(c, u.expression.expression, depth + 1);
  return [];
}

/** Declarations whose refusal some bad-input test asserts. */
function covered(p: ts.Program, c: ts.TypeChecker): Set<ts.Declaration> {
  const out = new Set<ts.Declaration>();
  const outer = (e: ts.Expression | undefined): void => {
    if (e === undefined) return;
    const u = unwrap(e);
    if (ts.isCallExpression(u) || ts.isNewExpression(u)) for (const d of calleeDecls(c, u)) out.add(d);
  };
  for (const sf of p.getSourceFiles()) {
    if (path.dirname(sf.fileName) !== HERE || !sf.fileName.endsWith('.test.ts')) continue;
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && REFUSALS.has(n.expression.text)) {
        const cb = n.arguments[1];
        if (cb !== undefined && (ts.isArrowFunction(cb) || ts.isFunctionExpression(cb))) {
          if (ts.isBlock(cb.body)) {
            for (const st of cb.body.statements) if (ts.isExpressionStatement(st) || ts.isReturnStatement(st)) outer(st.expression);
          } else outer(cb.body);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

describe('every public entry point has a bad-input property test or a reasoned exemption', () => {
  const p = program();
  const c = p.getTypeChecker();
  const { entries: all, constants } = entries(c, p.getSourceFile(path.join(ROOT, 'src', 'index.ts'))!);
  const cov = covered(p, c);
  const isCovered = (e: Entry) => e.decls.some((d) => cov.has(d));
  const byKey = new Map(all.map((e) => [e.key, e]));

  it('each entry is covered, takes no argument, or is listed (exempt with a reason, or pending)', () => {
    const missing = all.filter((e) => !isCovered(e) && !e.noArgs && !(e.key in EXEMPT) && !PENDING.includes(e.key)).map((e) => e.key);
    if (process.env['BAD_INPUT_DUMP'] !== undefined) fs.writeFileSync(process.env['BAD_INPUT_DUMP'], all.map((e) => `${isCovered(e) ? 'C' : e.noArgs ? 'N' : 'U'} ${e.key} ${e.decls[0] === undefined ? '' : path.relative(ROOT, e.decls[0].getSourceFile().fileName)}`).join('\n') + '\n');
    expect(missing, 'entries with neither a bad-input test nor a listing').toEqual([]);
  });

  it('the lists hold no stale names and no covered entry', () => {
    for (const [k, why] of Object.entries(EXEMPT)) {
      expect(byKey.has(k), `EXEMPT ${k} is no entry`).toBe(true);
      expect(why.length, `EXEMPT ${k} gives a reason`).toBeGreaterThan(10);
    }
    expect(PENDING.filter((k) => !byKey.has(k)), 'PENDING names that are no entry').toEqual([]);
    expect(PENDING.filter((k) => isCovered(byKey.get(k)!)), 'PENDING entries now covered: remove them').toEqual([]);
    expect(Object.keys(EXEMPT).filter((k) => isCovered(byKey.get(k)!) || byKey.get(k)!.noArgs), 'EXEMPT entries that are covered or take no argument').toEqual([]);
  });

  it('the scanner resolves plain calls, `new`, methods, statics and calls through for-of and it.each variables', () => {
    for (const k of ['gva', 'Vm', 'Vm.addMemslot', 'GuestMemory::wordBase', 'Vcpu.enterNestedEpt', 'isWritable', 'isFrozen']) expect(isCovered(byKey.get(k)!), k).toBe(true);
  });

  it('counts', () => {
    const n = (f: (e: Entry) => boolean) => all.filter(f).length;
    const cv = n(isCovered);
    const noArgs = n((e) => !isCovered(e) && e.noArgs);
    process.stdout.write(
      `[bad-input coverage] entries ${all.length}: covered ${cv}, no argument ${noArgs}, exempt ${Object.keys(EXEMPT).length}, ` +
      `pending ${PENDING.length}; constants (no entry) ${constants.length}\n`,
    );
    expect(cv + noArgs + Object.keys(EXEMPT).length + PENDING.length).toBe(all.length);
  });
});
