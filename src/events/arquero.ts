/**
 * arquero, loaded on the first table built rather than with the engine. It is most of the engine's
 * load time (about 0.35 of 0.5 s of CPU), and a sweep's worker threads load the engine once each
 * but never build a table: imported at the top, every worker paid it before its first job (the
 * serial start of a sweep). Modules take `import type` of it and call this where they build or
 * read a table; Node caches the module, so only the first call loads it.
 */
import type * as Aq from 'arquero';

export type Arquero = typeof Aq;

export function arquero(): Arquero {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('arquero') as Arquero;
}
