// Internal to the engine (not re-exported from src/index.ts): callers pass a walk scratch's own arrays.
/**
 * The AND over the entries an EPT walk read (levels `maxLevel` down to `level` of `lo`, a walk
 * scratch's low halves) of their raw R/W/X bits (bits 2:0) and of XU (bit 10): what an EPT
 * violation's qualification reports (`rwx` for rwxToProt, XU for bit 6 under MBEC). Packed as
 * `rwx | xu << 3`.
 */
export function walkedEptRights(lo: Uint32Array, maxLevel: number, level: number): number {
  let rwx = 7;
  let xu = 1;
  for (let l = maxLevel; l >= level; l--) {
    rwx &= lo[l]! & 7;
    xu &= (lo[l]! >>> 10) & 1;
  }
  return rwx | (xu << 3);
}
