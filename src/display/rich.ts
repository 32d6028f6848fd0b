/**
 * One entry point for rich views of engine objects: `richBundle(x)` returns a MIME bundle or
 * undefined. Classes also answer `obj[Symbol.for('Jupyter.display')]()`, the protocol of Deno's
 * kernel and ours, so any front end that knows that protocol shows them.
 */
import { CpuRole } from '../role/cpu-role';
import { PageRole } from '../role/page-role';
import { walkBundle } from './walk-view';
import { formatBundle } from './format-view';
import { cpuRoleBundle, pageRoleBundle } from './role-view';
import type { MimeBundle } from './html';
import { costModelBundle, isCostModel } from './cost-view';
import { isPageFormat, isWalkResult } from './record-shapes';

export function richBundle(x: unknown): MimeBundle | undefined {
  // An object's own display method wins: records that look like walks (ngpa and 2D walks)
  // carry richer views of their own.
  const m = (x as { [k: symbol]: unknown } | null)?.[Symbol.for('Jupyter.display')];
  if (typeof m === 'function') return (m as () => MimeBundle).call(x);
  if (isWalkResult(x)) return walkBundle(x);
  if (isPageFormat(x)) return formatBundle(x);
  if (isCostModel(x)) return costModelBundle(x);
  return undefined;
}

// Classes answer the Jupyter.display protocol themselves. Defined here, not in the classes, so
// that roles stay pure data and display code stays in one place.
for (const [cls, view] of [
  [CpuRole, cpuRoleBundle],
  [PageRole, pageRoleBundle],
] as const) {
  Object.defineProperty(cls.prototype, Symbol.for('Jupyter.display'), {
    value(this: never) {
      return (view as (x: unknown) => MimeBundle)(this);
    },
    enumerable: false,
  });
}
