/**
 * Positions in a cell's TypeScript for frames of its compiled JavaScript.
 *
 * tslab compiles a cell twice: TypeScript → ES module JavaScript (the type-aware program), then
 * ES module → CommonJS (`ts.transpileModule`). With inline source maps switched on for both steps,
 * the CommonJS it returns carries two `sourceMappingURL` comments: the first maps the ES module to
 * the cell, the last maps the CommonJS to the ES module. Composing them maps a stack frame back to
 * the cell's line and column.
 */
import { SourceMap } from 'node:module';

const INLINE_MAP = /^\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)[ \t]*$/gm;

export interface CellMaps {
  /** In order of application: CommonJS → ES module, then ES module → TypeScript. */
  maps: SourceMap[];
}

/** Strips inline source map comments (keeping line numbers) and decodes them. */
export function extractInlineMaps(js: string): { code: string; maps: CellMaps } {
  const found: SourceMap[] = [];
  const code = js.replace(INLINE_MAP, (_m, b64: string) => {
    try {
      found.push(new SourceMap(JSON.parse(Buffer.from(b64, 'base64').toString('utf8'))));
    } catch {
      // A malformed map only costs the position of frames.
    }
    return '';
  });
  // Found in text order: [ES module → TS, CommonJS → ES module]; apply the last first.
  return { code, maps: { maps: found.reverse() } };
}

/**
 * Maps a zero-based position in the CommonJS code to a zero-based position in the source text
 * that was compiled (the cell, after tslab's one-line prefix). Undefined when a step has no entry.
 */
export function mapPosition(maps: CellMaps, line: number, column: number): { line: number; column: number } | undefined {
  if (maps.maps.length < 2) return undefined;
  let pos = { line, column };
  for (const m of maps.maps) {
    const e = m.findEntry(pos.line, pos.column) as Partial<{ originalLine: number; originalColumn: number }>;
    if (typeof e.originalLine !== 'number' || typeof e.originalColumn !== 'number') return undefined;
    pos = { line: e.originalLine, column: e.originalColumn };
  }
  return pos;
}
