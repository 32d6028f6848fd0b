/**
 * A short, never-throwing description of any value for an error message: the message must name
 * the value a caller passed even when it is a Symbol, a Proxy or an object whose toString throws.
 */
const MAX = 60;

function clip(s: string): string {
  return s.length > MAX ? `${s.slice(0, MAX - 1)}…` : s;
}

export function describeValue(v: unknown): string {
  try {
    switch (typeof v) {
      case 'bigint':
        return v < 0n ? `-0x${(-v).toString(16)}n` : `0x${v.toString(16)}n`;
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'string':
        return clip(JSON.stringify(v));
      case 'symbol':
        return clip(v.toString());
      case 'undefined':
        return 'undefined';
      case 'boolean':
        return String(v);
      case 'function':
        return `function ${clip(v.name || '(anonymous)')}`;
      default:
        if (v === null) return 'null';
        if (Array.isArray(v)) return `array(${v.length})`;
        return clip(`object {${Object.keys(v as object).join(', ')}}`);
    }
  } catch {
    return `(${typeof v})`;
  }
}
