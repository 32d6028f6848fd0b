/**
 * Runs compiled cells (CommonJS from kernel/compiler.ts) in this process's context, as tslab's
 * executor did: every cell's exports land in one namespace object (`exports` of every cell),
 * `require` resolves from the project root, a top-level await makes the cell an async function,
 * and SIGINT breaks a busy loop (vm's breakOnSigint).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

export interface RunResult {
  ok: boolean;
  /** The last expression's value, when the cell ended with one. */
  value?: { value: unknown };
  error?: unknown;
}

/** The prefix of a cell's first line (tracebacks subtract it from columns there). */
export const WRAP_PREFIX = { sync: '(function(exports, require) { ', async: '(async function(exports, require) { ' } as const;

const HOLDER = '__mmulab_cell__';

/**
 * The namespace object. Imports compile to accessors (`Object.defineProperty(exports, name, { get })`):
 * they are read once and stored as values, so a later cell may assign the name. Names of `lazy`
 * (the prelude) are loaded on first use.
 */
function createNamespace(lazy: ReadonlyMap<string, () => unknown>): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  return new Proxy(target, {
    defineProperty: (_t, prop, attrs) => {
      if (prop === '__esModule') return true;
      target[prop as string] = attrs.get ? attrs.get() : attrs.value;
      return true;
    },
    get: (_t, prop) => {
      if (typeof prop === 'string' && !(prop in target)) {
        const load = lazy.get(prop);
        if (load) target[prop] = load();
      }
      return target[prop as string];
    },
  });
}

export class Executor {
  readonly locals: Record<string, unknown>;
  private readonly require: NodeJS.Require;
  private interruptReject: ((e: unknown) => void) | undefined;

  /**
   * @param resolve maps a specifier to what a cell's `require` returns instead of loading it
   *   (preloaded ES modules, `mmulab`); undefined: Node's resolution from the root
   */
  constructor(
    root: string,
    lazy: ReadonlyMap<string, () => unknown>,
    private readonly resolve: (specifier: string, base: NodeJS.Require) => { value: unknown } | undefined,
  ) {
    this.locals = createNamespace(lazy);
    const base = createRequire(path.join(root, 'src.js'));
    const wrapped = ((id: string) => this.resolve(id, base)?.value ?? base(id)) as NodeJS.Require;
    this.require = Object.assign(wrapped, { resolve: base.resolve, cache: base.cache, main: base.main, extensions: base.extensions });
  }

  /** Runs a compiled cell; `name` names its script in stack traces. */
  async run(code: string, hasToplevelAwait: boolean, lastExpressionVar: string | undefined, name: string): Promise<RunResult> {
    (globalThis as Record<string, unknown>)[HOLDER] = { exports: this.locals, require: this.require };
    const wrapped = `${hasToplevelAwait ? WRAP_PREFIX.async : WRAP_PREFIX.sync}${code}\n})(${HOLDER}.exports, ${HOLDER}.require)\n//# sourceURL=${name}`;
    let promise: unknown;
    try {
      promise = vm.runInThisContext(wrapped, { breakOnSigint: true });
    } catch (error) {
      return { ok: false, error };
    } finally {
      delete (globalThis as Record<string, unknown>)[HOLDER];
    }
    if (hasToplevelAwait) {
      const interrupted = new Promise<never>((_, reject) => (this.interruptReject = reject));
      interrupted.catch(() => undefined);
      try {
        await Promise.race([promise, interrupted]);
      } catch (error) {
        return { ok: false, error };
      } finally {
        this.interruptReject = undefined;
      }
    }
    if (!lastExpressionVar) return { ok: true };
    const target = this.locals;
    const value = target[lastExpressionVar];
    delete target[lastExpressionVar];
    return value === undefined || value === null ? { ok: true } : { ok: true, value: { value } };
  }

  /** Ends a hung top-level await. */
  interrupt(): void {
    this.interruptReject?.(new Error('Interrupted asynchronously'));
  }
}
