/**
 * Compiles cells with the project's TypeScript (not tslab's bundled 5.0): each cell is type
 * checked, then emitted as CommonJS for the executor, in one program per cell that reuses every
 * unchanged source file (libraries, @types/node, the engine's declarations, earlier cells) of the
 * program before it. A cell with errors is not emitted, so it never runs.
 *
 * How names of earlier cells reach a cell:
 * - Each cell that declares names leaves a declaration file `__cell_<n>.d.ts` (its declaration
 *   emit). The scope maps every name to the file that declared it last.
 * - The checked text is one header line, then the cell, then `export { <the cell's names> }`.
 *   The header imports the names the cell mentions from the files that declared them (only those:
 *   a cell that names nothing of earlier cells is checked against the libraries alone). Variables
 *   declared with `let`/`var` are declared instead (`declare let x: typeof m.x`) so the cell may
 *   assign them. Names the cell declares again are left out (the new declaration shadows them).
 * - The emit drops the header and rewrites every reference to a header name into `exports.<name>`:
 *   the executor's namespace object, where every cell's exports live.
 * Keeping the header to one line keeps the cell's line numbers (minus one) in diagnostics and in
 * the emitted source map.
 */
import * as path from 'node:path';
import * as ts from 'typescript';

export interface Position {
  offset: number;
  line: number;
  character: number;
}

export interface Diagnostic {
  start: Position;
  end: Position;
  messageText: string;
  category: number;
  code: number;
  /** Set when the diagnostic is in another file (relative to the root). */
  fileName?: string;
}

interface Binding {
  /** Module specifier of the declaration file that declared the name last. */
  module: string;
  /** `let`/`var` variables are assignable from later cells. */
  assignable: boolean;
}

/** Names in scope after a cell; immutable (a failed cell's scope is simply dropped). */
export type Scope = ReadonlyMap<string, Binding>;

export interface Compiled {
  diagnostics: Diagnostic[];
  /** CommonJS for the executor (absent when there are diagnostics). */
  output?: string;
  /** The source map of `output` (JSON), to the checked text (line 0 is the header). */
  map?: string;
  hasToplevelAwait: boolean;
  /** Where the executor finds the value of the cell's last expression. */
  lastExpressionVar?: string;
  /** The scope after this cell: commit it once the cell ran. */
  scope: Scope;
  /** The cell's declaration file (when it declares names), to add with the scope. */
  decl?: { file: string; text: string } | undefined;
}

export interface Completion {
  start: number;
  end: number;
  candidates: string[];
}

/** Diagnostics of top-level await under CommonJS: allowed in cells (they run in an async function). */
const TOP_LEVEL_AWAIT = new Set([1375, 1378, 1431, 1432]);
const LAST_EXPR = 'tsLastExpr';
/** Compiles remembered for cells run again unchanged (bounded: a long session stays flat). */
const CACHE_SIZE = 256;
/**
 * Cells checked with one program's checker before a new program is made: the checker keeps what it
 * learnt of each (node links, literal types, diagnostics), so it is dropped after this many.
 */
const REUSE_LIMIT = 500;
/** The prelude's module specifier (kernel/runtime.ts adds its declarations as `__prelude`). */
const PRELUDE = './__prelude';

type CachedCompile = Omit<Compiled, 'scope' | 'decl'>;

/** The program's (internal) lookup of a file's module resolutions, which its checker calls. */
type ResolvedModuleLookup = (file: ts.SourceFile & { path: string }, name: string, mode: ts.ResolutionMode) => ts.ResolvedModuleWithFailedLookupLocations | undefined;

/** The compiler options of tslab's cells, with the project's TypeScript. */
function compilerOptions(): ts.CompilerOptions {
  return {
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022,
    // Node 20 has ES2023's library (toSorted, findLast, …).
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    esModuleInterop: true,
    experimentalDecorators: true,
    resolveJsonModule: true,
    jsx: ts.JsxEmit.React,
    skipLibCheck: true,
    sourceMap: true,
    newLine: ts.NewLineKind.LineFeed,
    noEmitOnError: false,
  };
}

/** Top-level names a cell declares, and whether each is an assignable variable. */
export function declaredNames(sf: ts.SourceFile): { names: Map<string, boolean>; exported: Set<string> } {
  const names = new Map<string, boolean>();
  const exported = new Set<string>();
  const binding = (n: ts.BindingName, assignable: boolean): void => {
    if (ts.isIdentifier(n)) names.set(n.text, assignable);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) binding(e.name, assignable);
  };
  for (const st of sf.statements) {
    const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined;
    const isExported = !!mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const before = new Set(names.keys());
    if (ts.isVariableStatement(st)) {
      const assignable = !(st.declarationList.flags & (ts.NodeFlags.Const | ts.NodeFlags.Using | ts.NodeFlags.AwaitUsing));
      for (const d of st.declarationList.declarations) binding(d.name, assignable);
    } else if (
      (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || ts.isEnumDeclaration(st)) &&
      st.name
    ) {
      names.set(st.name.text, false);
    } else if (ts.isModuleDeclaration(st) && ts.isIdentifier(st.name)) {
      names.set(st.name.text, false);
    } else if (ts.isImportDeclaration(st) && st.importClause) {
      const c = st.importClause;
      if (c.name) names.set(c.name.text, false);
      if (c.namedBindings) {
        if (ts.isNamespaceImport(c.namedBindings)) names.set(c.namedBindings.name.text, false);
        else for (const e of c.namedBindings.elements) names.set(e.name.text, false);
      }
    } else if (ts.isImportEqualsDeclaration(st)) {
      names.set(st.name.text, false);
    }
    if (isExported) for (const n of names.keys()) if (!before.has(n)) exported.add(n);
  }
  return { names, exported };
}

const IDENT = /[A-Za-z_$\u00a0-\uffff][\w$\u00a0-\uffff]*/g;

export class CellCompiler {
  private readonly options = compilerOptions();
  private readonly checkFile: string;
  private readonly files = new Map<string, ts.SourceFile>();
  /** Declaration files of cells (virtual, next to the check file). */
  private readonly decls = new Map<string, string>();
  private readonly host: ts.CompilerHost;
  private readonly resolutionCache: ts.ModuleResolutionCache;
  private program: ts.Program | undefined;
  private checkText = '';
  private cellSeq = 0;
  private service: ts.LanguageService | undefined;
  /**
   * By checked text: a cell run again in the same scope (same header) gives the same diagnostics
   * and code, so it is not checked again. Only cells that declare nothing (or fail) are kept: a
   * declaring cell gives a new declaration file each time.
   */
  private readonly cache = new Map<string, CachedCompile>();
  private serviceVersion = 0;
  /** Cells checked with the checker of `program` since it was made. */
  private reused = 0;
  /** Programs made, and cells checked with the checker of an earlier cell's program (for tests and tuning). */
  readonly stats = { programs: 0, reusedChecker: 0 };
  private checkSeq = 0;
  /** Module resolutions of the cell being checked by `reuse`, by its file name. */
  private readonly lent = new Map<string, ReadonlyMap<string, ts.ResolvedModuleWithFailedLookupLocations>>();

  /**
   * @param root where packages and local imports resolve (the project root)
   * @param aliases bare specifiers resolved as if imported from the root by another name
   *   (`mmulab` → `./dist/index`), whatever the working directory
   */
  constructor(
    private readonly root: string,
    private readonly aliases: ReadonlyMap<string, string> = new Map(),
  ) {
    this.checkFile = path.join(root, '__cell.ts').split(path.sep).join('/');
    const base = ts.createCompilerHost(this.options);
    const isVirtual = (f: string): boolean => f === this.checkFile || this.decls.has(f);
    this.resolutionCache = ts.createModuleResolutionCache(root, (f) => f, this.options);
    this.host = {
      ...base,
      getCurrentDirectory: () => root,
      fileExists: (f) => isVirtual(f) || ts.sys.fileExists(f),
      readFile: (f) => (f === this.checkFile ? this.checkText : (this.decls.get(f) ?? ts.sys.readFile(f))),
      directoryExists: (d) => ts.sys.directoryExists(d),
      getDirectories: (d) => ts.sys.getDirectories(d),
      realpath: ts.sys.realpath ? (p) => (isVirtual(p) ? p : ts.sys.realpath!(p)) : undefined,
      writeFile: () => undefined,
      getSourceFile: (f, languageVersion) => {
        if (f === this.checkFile) return ts.createSourceFile(f, this.checkText, languageVersion, true);
        // Libraries, packages and cells' declarations do not change while the kernel runs.
        let sf = this.files.get(f);
        if (!sf) {
          const text = this.decls.get(f) ?? ts.sys.readFile(f);
          if (text === undefined) return undefined;
          sf = ts.createSourceFile(f, text, languageVersion, false);
          this.files.set(f, sf);
        }
        return sf;
      },
      // Shares package.json lookups (implied module formats) between the programs of all cells.
      getModuleResolutionCache: () => this.resolutionCache,
      resolveModuleNameLiterals: (literals, containingFile, redirected, options) =>
        literals.map((lit) => {
          const alias = this.aliases.get(lit.text);
          const name = alias ?? lit.text;
          const from = alias ? this.checkFile : containingFile;
          return ts.resolveModuleName(name, from, options, this.host, this.resolutionCache, redirected);
        }),
    };
  }

  /** Adds a declaration file of the scope (the prelude's, or a cell's once it ran). */
  addDeclarations(decl: { file: string; text: string }): void {
    this.decls.set(decl.file, decl.text);
  }

  /** Module specifier (from the root) of a cell declaration file. */
  private specifier(file: string): string {
    return './' + path.posix.basename(file).replace(/\.d\.ts$/, '');
  }

  /** A virtual declaration file next to the check file. */
  declarationFile(name: string): string {
    return path.posix.join(path.posix.dirname(this.checkFile), `${name}.d.ts`);
  }

  /** The scope that a declaration file gives to `names`. */
  static extend(scope: Scope, module: string, names: ReadonlyMap<string, boolean>): Scope {
    const next = new Map(scope);
    for (const [n, assignable] of names) next.set(n, { module, assignable });
    return next;
  }

  /** The header line and the names it brings in. */
  private header(code: string, scope: Scope, declared: ReadonlyMap<string, boolean>, everything = false): string {
    // Completion needs every name; checking only those the cell mentions (a smaller program).
    const used = everything ? new Set(scope.keys()) : new Set(code.match(IDENT) ?? []);
    const imports = new Map<string, string[]>();
    const lets: [string, string][] = [];
    for (const name of used) {
      const b = scope.get(name);
      if (!b || declared.has(name)) continue;
      if (b.assignable) lets.push([name, b.module]);
      else {
        const list = imports.get(b.module) ?? [];
        list.push(name);
        imports.set(b.module, list);
      }
    }
    const parts: string[] = [];
    for (const [m, names] of imports) parts.push(`import { ${names.join(', ')} } from ${JSON.stringify(m)};`);
    const namespaces = new Map<string, string>();
    for (const [name, m] of lets) {
      let ns = namespaces.get(m);
      if (!ns) {
        ns = `__scope${namespaces.size}__`;
        namespaces.set(m, ns);
        parts.push(`import * as ${ns} from ${JSON.stringify(m)};`);
      }
      parts.push(`declare let ${name}: typeof ${ns}.${name};`);
    }
    parts.push('export {};');
    return parts.join(' ');
  }

  private update(text: string): { program: ts.Program; sf: ts.SourceFile } {
    this.checkText = text;
    this.serviceVersion++;
    const program = ts.createProgram({ rootNames: [this.checkFile], options: this.options, host: this.host, ...(this.program ? { oldProgram: this.program } : {}) });
    this.program = program;
    this.reused = 0;
    this.stats.programs++;
    // Cells checked against this program's checker (`reuse`) are not in the program: the checker
    // asks the program for their imports' resolutions, which `reuse` lends it.
    const internal = program as ts.Program & { getResolvedModule: ResolvedModuleLookup };
    const resolved = internal.getResolvedModule.bind(program);
    internal.getResolvedModule = (file, name, mode) => this.lent.get(file.path)?.get(name) ?? resolved(file, name, mode);
    return { program, sf: program.getSourceFile(this.checkFile)! };
  }

  /**
   * The cell checked with the checker of the program of an earlier cell, when that program has
   * every file the cell imports: a new program and checker for each cell cost 3–10 ms (the
   * checker merges the globals of every library file), checking a small cell with a made checker
   * well under one. The cell's source file is parsed, bound and checked by itself, under a name of
   * its own (the checker keeps diagnostics by file name). Undefined when the cell needs what only
   * a new program gives: an import the program does not have, a local TypeScript file (checked
   * with the cell), a global or module augmentation, triple-slash references, `@ts-` comment
   * directives (the program filters diagnostics with them), dynamic imports or import types.
   */
  private reuse(text: string, code: string): { program: ts.Program; sf: ts.SourceFile; diagnostics: readonly ts.Diagnostic[] } | undefined {
    const program = this.program;
    if (!program || this.reused >= REUSE_LIMIT || /\bimport\s*\(|@ts-/.test(code)) return undefined;
    const fileName = path.posix.join(path.posix.dirname(this.checkFile), `__cell_check_${++this.checkSeq}.ts`);
    const sf = ts.createSourceFile(fileName, text, this.options.target!, true);
    const internal = sf as ts.SourceFile & { path: string; resolvedPath: string; originalFileName: string; parseDiagnostics: ts.Diagnostic[]; bindDiagnostics?: ts.Diagnostic[] };
    if (sf.referencedFiles.length || sf.typeReferenceDirectives.length || sf.libReferenceDirectives.length) return undefined;
    const resolutions = new Map<string, ts.ResolvedModuleWithFailedLookupLocations>();
    for (const st of sf.statements) {
      let spec: ts.Expression | undefined;
      if (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) spec = st.moduleSpecifier;
      else if (ts.isImportEqualsDeclaration(st)) spec = ts.isExternalModuleReference(st.moduleReference) ? st.moduleReference.expression : undefined;
      else if (ts.isModuleDeclaration(st) && !ts.isIdentifier(st.name)) return undefined;
      else if (ts.isModuleDeclaration(st) && st.flags & ts.NodeFlags.GlobalAugmentation) return undefined;
      if (!spec) continue;
      if (!ts.isStringLiteral(spec)) return undefined;
      const alias = this.aliases.get(spec.text);
      const r = ts.resolveModuleName(alias ?? spec.text, alias ? this.checkFile : fileName, this.options, this.host, this.resolutionCache);
      const target = r.resolvedModule && program.getSourceFile(r.resolvedModule.resolvedFileName);
      if (!target || !(target.isDeclarationFile || target.fileName.includes('/node_modules/'))) return undefined;
      resolutions.set(spec.text, r);
    }
    internal.path = internal.resolvedPath = internal.originalFileName = fileName;
    (ts as unknown as { bindSourceFile(f: ts.SourceFile, o: ts.CompilerOptions): void }).bindSourceFile(sf, this.options);
    const checker = program.getTypeChecker() as ts.TypeChecker & { getDiagnostics(f: ts.SourceFile): readonly ts.Diagnostic[] };
    this.reused++;
    this.stats.reusedChecker++;
    this.lent.set(fileName, resolutions);
    return { program, sf, diagnostics: [...internal.parseDiagnostics, ...(internal.bindDiagnostics ?? []), ...checker.getDiagnostics(sf)] };
  }

  /**
   * Makes a new program (and its checker) when the next cell could not be checked with the
   * current one: a declaration file of `scope` is not in it (a cell declared names), or its
   * checker served REUSE_LIMIT cells. Its check text imports every name of the scope, so that
   * whichever names the next cell uses, their files are there. Meant for idle time.
   */
  refresh(scope: Scope): void {
    const program = this.program;
    if (!program) return;
    const has = (module: string): boolean => !!program.getSourceFile(this.moduleFile(module));
    let missing = false;
    for (const b of new Set([...scope.values()].map((b) => b.module))) if (b !== PRELUDE && !has(b)) missing = true;
    if (!missing && this.reused < REUSE_LIMIT) return;
    // The prelude's names (and the engine, vega-lite and arquero types they bring) only once a cell used one.
    const names = has(PRELUDE) ? scope : new Map([...scope].filter(([, b]) => b.module !== PRELUDE));
    this.update(`${this.header('', names, new Map(), true)}\n`).program.getTypeChecker();
  }

  /** The declaration file of a module of the scope. */
  private moduleFile(module: string): string {
    return path.posix.join(path.posix.dirname(this.checkFile), `${module.slice(2)}.d.ts`);
  }

  /** Type checks and emits one cell against `scope`. */
  compile(code: string, scope: Scope): Compiled {
    const parsed = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.ES2022, false);
    const { names: declared, exported } = declaredNames(parsed);
    const header = this.header(code, scope, declared);
    const own = [...declared.keys()].filter((n) => !exported.has(n));
    const text = `${header}\n${code}\n${own.length ? `export { ${own.join(', ')} };\n` : ''}`;
    const headerLength = header.length + 1;
    const cached = this.cache.get(text);
    if (cached) {
      this.cache.delete(text);
      this.cache.set(text, cached);
      return { ...cached, scope };
    }
    const remember = (r: CachedCompile): void => {
      this.cache.set(text, r);
      if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    };
    const reused = this.reuse(text, code);
    try {
      return this.compileIn(reused ?? this.update(text), reused?.diagnostics, scope, headerLength, declared, remember);
    } finally {
      if (reused) this.lent.delete(reused.sf.fileName);
    }
  }

  private compileIn(
    { program, sf }: { program: ts.Program; sf: ts.SourceFile },
    checked: readonly ts.Diagnostic[] | undefined,
    scope: Scope,
    headerLength: number,
    declared: ReadonlyMap<string, boolean>,
    remember: (r: CachedCompile) => void,
  ): Compiled {
    let hasToplevelAwait = false;
    const raw: ts.Diagnostic[] = [];
    for (const d of checked ?? [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      if (TOP_LEVEL_AWAIT.has(d.code) && d.file === sf && isTopLevel(sf, d.start ?? 0)) {
        hasToplevelAwait = true;
        continue;
      }
      raw.push(d);
    }
    // Local TypeScript files the cell imports are checked too (they run through registerTsRequire).
    for (const f of checked ? [] : program.getSourceFiles()) {
      if (f === sf || f.isDeclarationFile || this.decls.has(f.fileName) || f.fileName.includes('/node_modules/')) continue;
      raw.push(...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f));
    }
    const diagnostics = this.convertDiagnostics(raw, sf, headerLength);
    if (diagnostics.length) {
      remember({ diagnostics, hasToplevelAwait });
      return { diagnostics, hasToplevelAwait, scope };
    }

    let lastExpressionVar: string | undefined;
    const lastName = declared.has(LAST_EXPR) ? `${LAST_EXPR}${this.cellSeq}` : LAST_EXPR;
    let output = '';
    let map: string | undefined;
    const checker = program.getTypeChecker();
    const fromHeader = (sym: ts.Symbol | undefined): boolean =>
      !!sym?.declarations?.length && sym.declarations.every((d) => d.getSourceFile() === sf && d.end < headerLength);
    const before: ts.TransformerFactory<ts.SourceFile> = (context) => (file) => {
      const f = context.factory;
      const toExports = (id: ts.Identifier): ts.Expression =>
        ts.setOriginalNode(ts.setTextRange(f.createPropertyAccessExpression(f.createIdentifier('exports'), id.text), id), id);
      const visit = (node: ts.Node): ts.Node => {
        if (ts.isTypeNode(node) && !ts.isExpressionWithTypeArguments(node)) return node;
        if (ts.isIdentifier(node)) {
          const parent = node.parent;
          if (parent && ((ts.isPropertyAccessExpression(parent) && parent.name === node) || (ts.isQualifiedName(parent) && parent.right === node))) return node;
          return fromHeader(checker.getSymbolAtLocation(node)) ? toExports(node) : node;
        }
        if (ts.isShorthandPropertyAssignment(node) && !node.objectAssignmentInitializer && fromHeader(checker.getShorthandAssignmentValueSymbol(node))) {
          return ts.setTextRange(f.createPropertyAssignment(node.name.text, toExports(node.name)), node);
        }
        return ts.visitEachChild(node, visit, context);
      };
      const statements = file.statements.filter((s) => s.end >= headerLength).map((s) => visit(s) as ts.Statement);
      // The value of the last expression statement (before the export of the cell's names).
      for (let i = statements.length - 1; i >= 0; i--) {
        const st = statements[i]!;
        if (ts.isExportDeclaration(st)) continue;
        if (ts.isExpressionStatement(st)) {
          lastExpressionVar = lastName;
          const assign = f.createExpressionStatement(f.createAssignment(f.createPropertyAccessExpression(f.createIdentifier('exports'), lastName), st.expression));
          statements[i] = ts.setTextRange(assign, st);
        }
        break;
      }
      return f.updateSourceFile(file, statements);
    };
    program.emit(
      sf,
      (name, data) => {
        if (name.endsWith('.js')) output = data;
        else if (name.endsWith('.js.map')) map = data;
      },
      undefined,
      false,
      { before: [before] },
    );
    output = output.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');

    const result: CachedCompile = { diagnostics: [], output, ...(map ? { map } : {}), hasToplevelAwait, ...(lastExpressionVar ? { lastExpressionVar } : {}) };
    if (!declared.size) {
      remember(result);
      return { ...result, scope };
    }
    let next = scope;
    let decl: Compiled['decl'];
    {
      const file = this.declarationFile(`__cell_${++this.cellSeq}`);
      let text = '';
      // forceDtsEmit (internal, what the language service's getEmitOutput uses): declarations on demand.
      const emit = program.emit.bind(program) as (...args: unknown[]) => ts.EmitResult;
      emit(sf, (name: string, data: string) => name.endsWith('.d.ts') && (text = data), undefined, true, undefined, true);
      decl = { file, text };
      next = CellCompiler.extend(scope, this.specifier(file), declared);
    }
    return { ...result, scope: next, decl };
  }

  private convertDiagnostics(input: readonly ts.Diagnostic[], sf: ts.SourceFile, headerLength: number): Diagnostic[] {
    const out: Diagnostic[] = [];
    for (const d of input) {
      if (!d.file) continue;
      let fileName: string | undefined;
      if (d.file !== sf) {
        const rel = path.relative(this.root, d.file.fileName);
        if (rel.startsWith('..')) continue;
        fileName = rel;
      }
      const pos = (offset: number): Position => {
        const lc = d.file!.getLineAndCharacterOfPosition(offset);
        return d.file === sf ? { offset: offset - headerLength, line: lc.line - 1, character: lc.character } : { offset, line: lc.line, character: lc.character };
      };
      const start = pos(d.start ?? 0);
      const end = pos((d.start ?? 0) + (d.length ?? 0));
      // A chain is listed message by message, like tslab did.
      const walk = (m: string | ts.DiagnosticMessageChain, category: number, code: number, first: boolean): void => {
        if (typeof m === 'string') {
          out.push({ start, end, messageText: m, category, code, ...(first && fileName ? { fileName } : {}) });
          return;
        }
        out.push({ start, end, messageText: m.messageText, category: m.category, code: m.code, ...(first && fileName ? { fileName } : {}) });
        for (const n of m.next ?? []) walk(n, n.category, n.code, false);
      };
      walk(d.messageText, d.category, d.code, true);
    }
    return out;
  }

  /** A language service over the same files, for completion and inspection (made on first use). */
  private languageService(): ts.LanguageService {
    if (this.service) return this.service;
    const host: ts.LanguageServiceHost = {
      getCompilationSettings: () => this.options,
      getScriptFileNames: () => [this.checkFile],
      getScriptVersion: (f) => (f === this.checkFile ? String(this.serviceVersion) : '1'),
      getScriptSnapshot: (f) => {
        const text = this.host.readFile(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => this.root,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => this.host.fileExists(f),
      readFile: (f) => this.host.readFile(f),
      directoryExists: (d) => ts.sys.directoryExists(d),
      getDirectories: (d) => ts.sys.getDirectories(d),
      resolveModuleNameLiterals: this.host.resolveModuleNameLiterals!,
    };
    this.service = ts.createLanguageService(host, ts.createDocumentRegistry());
    return this.service;
  }

  private prepare(code: string, scope: Scope): number {
    const parsed = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.ES2022, false);
    const header = this.header(code, scope, declaredNames(parsed).names, true);
    this.checkText = `${header}\n${code}\n`;
    this.serviceVersion++;
    return header.length + 1;
  }

  /** Quick info at an offset of the cell. */
  inspect(code: string, scope: Scope, position: number): ts.QuickInfo | undefined {
    const shift = this.prepare(code, scope);
    const info = this.languageService().getQuickInfoAtPosition(this.checkFile, position + shift);
    if (info) info.textSpan.start -= shift;
    return info;
  }

  /** Completions at an offset of the cell: names that start with (or contain) the word at the cursor first. */
  complete(code: string, scope: Scope, position: number): Completion {
    const shift = this.prepare(code, scope);
    const ls = this.languageService();
    const pos = position + shift;
    const info = ls.getCompletionsAtPosition(this.checkFile, pos, {});
    const sf = ls.getProgram()!.getSourceFile(this.checkFile)!;
    const entries = info?.entries ?? [];
    const token = nodeAt(sf, Math.max(shift, pos - 1));
    if (ts.isIdentifier(token) && token.getStart(sf) <= pos && pos <= token.end) {
      const name = token.text.slice(0, pos - token.getStart(sf));
      const lower = name.toLowerCase();
      const ranked = entries
        .map((e, index) => {
          const l = e.name.toLowerCase();
          const key = e.name.startsWith(name) ? '0' : l.startsWith(lower) ? '1' : l.includes(lower) ? '2' : '';
          return key ? { name: e.name, sortKey: key + e.sortText, index } : undefined;
        })
        .filter((e): e is { name: string; sortKey: string; index: number } => !!e)
        .sort((a, b) => a.sortKey.localeCompare(b.sortKey) || a.index - b.index);
      return { start: token.getStart(sf) - shift, end: token.end - shift, candidates: ranked.map((e) => e.name) };
    }
    const sorted = [...entries].sort((a, b) => a.sortText.localeCompare(b.sortText) || a.name.localeCompare(b.name));
    return { start: position, end: position, candidates: sorted.map((e) => e.name) };
  }

  close(): void {
    this.service?.dispose();
    this.service = undefined;
    this.program = undefined;
  }
}

/** The innermost node that contains `pos`. */
function nodeAt(sf: ts.SourceFile, pos: number): ts.Node {
  let node: ts.Node = sf;
  for (;;) {
    const child: ts.Node | undefined = ts.forEachChild(node, (c) => (c.getStart(sf) <= pos && pos < c.end ? c : undefined));
    if (!child) return node;
    node = child;
  }
}

/** Whether the `await` (or `for await`) at `pos` is outside every function and class. */
function isTopLevel(sf: ts.SourceFile, pos: number): boolean {
  let node: ts.Node | undefined = nodeAt(sf, pos);
  while (node && node !== sf) {
    if (ts.isFunctionLike(node) || ts.isClassLike(node) || ts.isModuleDeclaration(node)) return false;
    node = node.parent;
  }
  return true;
}

let tsRequire = false;

/**
 * Lets cells import local TypeScript modules (`import { f } from './helpers'`), as tslab did: a
 * `.ts` file is transpiled to CommonJS when it is required (its types were checked with the cell).
 */
export function registerTsRequire(): void {
  if (tsRequire) return;
  tsRequire = true;
  const extensions = require.extensions as Record<string, (m: NodeJS.Module, filename: string) => void>;
  if (extensions['.ts']) return;
  extensions['.ts'] = (m, filename) => {
    const { outputText } = ts.transpileModule(ts.sys.readFile(filename) ?? '', {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, inlineSourceMap: true },
    });
    (m as NodeJS.Module & { _compile(code: string, filename: string): void })._compile(outputText, filename);
  };
}

/** Whether a cell is complete (Jupyter's is_complete), as tslab decides it. */
export function isCompleteCode(content: string): { completed: boolean; indent?: string } {
  if (/(^|\n)\s*\n\s*$/.test(content)) return { completed: true };
  const sf = ts.createSourceFile('tmp.ts', content, ts.ScriptTarget.Latest, undefined, ts.ScriptKind.TSX);
  const diags = (sf as unknown as { parseDiagnostics?: ts.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  for (const d of diags) {
    if (d.start !== content.length || d.length !== 0 || typeof d.messageText !== 'string') continue;
    if (d.messageText.endsWith(' expected.')) return { completed: false, indent: indentOnEnter(content) };
  }
  return { completed: true };
}

function indentOnEnter(src: string): string {
  const line = /[^\n]*$/.exec(src)![0];
  const current = /^\s*/.exec(line)![0];
  if (/^((?!.*?\/\*).*\*\/)?\s*[}\]].*$/.test(line)) {
    if (current.endsWith('  ')) return current.slice(0, -2);
    if (current.endsWith('\t') || current.endsWith(' ')) return current.slice(0, -1);
    return current;
  }
  if (/^((?!\/\/).)*(\{[^}"'`]*|\([^)"'`]*|\[[^\]"'`]*)$/.test(line)) return current + '  ';
  return current;
}
