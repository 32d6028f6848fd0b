/**
 * walk-batch-hot.ts's loop, LANES walks at a time: the hot walk's tests (walk-fast.ts: x86HotWalk4)
 * for walks i .. i+LANES-1 side by side, level by level — every lane's level-4 entry, then every
 * lane's level-3 entry, and so on — so that the LANES loads of one level, which do not depend on
 * each other, are all in flight at once. A walk of random pages waits on a cache miss at its
 * level-1 (and often level-2) entry; one walk after another, the CPU overlaps the next walk's
 * loads with this walk's miss only as far as its out-of-order window reaches, which on the bench's
 * guest is about one walk. Measured in one process, rounds alternated, 1 Mi random 4 KiB walks
 * over the bench's guest (1 Mi pages), against walk-batch-hot.ts's loop of one walk at a time:
 * 2 lanes 0.86-0.92x, 4 lanes 0.68-0.70x, 8 lanes 0.49-0.51x, 12 lanes 0.46x. The same walk with
 * the lanes' state in typed arrays indexed by lane (no code written per lane) took 1.07-1.27x:
 * each lane needs its own local variables, so the loop is written out per lane, from one lane's
 * template, compiled at the first loop of each root level (below), instead of by hand 8 times.
 * The loop of one walk at a time, which a group falls back to, is the same template with one lane.
 *
 * With 5-level paging every lane's level-5 entry comes first (walk-fast.ts: hotBatchTakes).
 *
 * A group stops at the first test any lane fails; the loop of one walk at a time (`seq`) then walks
 * the group's walks in order and stops at the first it cannot finish, as it would have without
 * this loop. The loop only reads, so walking a group again gives the same answers.
 */
import type { HotWalkTests } from './walk-fast';

/** Walks per group. */
export const LANES = 8;

/**
 * walk-batch-hot.ts's loop: walks `start` to `end - 1` of `his`/`los`, writing each GFN to `outGfn`,
 * until the first it cannot finish, whose index it returns (`end` when it finished them all). The
 * other arguments are the invariants the caller worked out (walk-batch-hot.ts: x86HotBatch).
 */
export type HotBatchLoop = (
  words: Uint32Array, aLo: number, span: number, aD: number, rootBase: number, row: number, write: number,
  his: Uint32Array, los: Uint32Array, start: number, end: number, outGfn: Float64Array,
) => number;

/** The invariants, then the batch: the same arguments as HotBatchLoop's. */
const ARGS = 'words, aLo, span, aD, rootBase, row, write, his, los, start, end, outGfn';

/**
 * One level of lane `x`: its entry's load at `level`, then (in `tests`, after every lane's load)
 * x86HotWalk4's tests of it; `root` is the walk's first level (4 or 5), whose table is the root
 * (`rootBase`), the others' the one the level above points to (lane `x`'s `w`).
 */
function load(x: number, level: number, root: number): string {
  const index = [
    '',
    `((vlo${x} >>> 11) & 0x3fe)`,
    `((vlo${x} >>> 20) & 0x3fe)`,
    `(((vlo${x} >>> 29) | (vhi${x} << 3)) & 0x3fe)`,
    `((vhi${x} >>> 6) & 0x3fe)`,
    `((vhi${x} >>> 15) & 0x3fe)`,
  ][level]!;
  const wi = level === root ? `rootBase | ${index}` : `w${x} | ${index}`;
  const decl = level === root ? 'let ' : '';
  return `${decl}wi${x} = ${wi}; ${decl}lo${x} = words[wi${x}]; ${decl}hi${x} = words[wi${x} | 1];\n`;
}

function tests(x: number, level: number, root: number): string {
  const decl = level === root ? 'let ' : '';
  let s = `if ((lo${x} & l${level}) !== 1 || (hi${x} & h${level}) !== 0) break lanes;\n`;
  s += level === root ? `let accLo${x} = lo${x}, nx${x} = hi${x};\n` : `accLo${x} &= lo${x}; nx${x} |= hi${x};\n`;
  if (level > 1) {
    // The next table's frame: in the affine run (the int32 test of walk-fast.ts's hot walk), as a word index.
    s += `${decl}g${x} = (lo${x} >>> 12) | (hi${x} << 20);\n`;
    s += `if ((((g${x} - aLo) | 0) ^ -0x80000000) >= span) break lanes;\n`;
    s += `${decl}w${x} = (g${x} + aD) << 10;\n`;
  } else {
    // permission_fault's row for the access, then A everywhere and D on a written leaf.
    s += `const pa${x} = (accLo${x} & 6) | ((~nx${x} >>> 31) << execShift) | readBit;\n`;
    s += `if (((row >>> pa${x}) & 1) !== 0 || (accLo${x} & 0x20) === 0 || ((lo${x} & 0x40) === 0 && write !== 0)) break lanes;\n`;
  }
  return s;
}

/**
 * The loop of `lanes` walks at a time for `root`-level paging. With one lane it is the loop of one
 * walk at a time, which returns the first walk it cannot finish; with more, a group any of whose
 * lanes fails a test goes to `seq` (the one-lane loop), as do the walks after the last group.
 */
function lanesSource(root: 4 | 5, lanes: number): string {
  const each = (f: (x: number) => string): string => Array.from({ length: lanes }, (_, x) => f(x)).join('');
  let group = each((x) => `const vhi${x} = his[i + ${x}] | 0, vlo${x} = los[i + ${x}] | 0;\n`);
  for (let level = root; level >= 1; level--) group += each((x) => load(x, level, root)) + each((x) => tests(x, level, root));
  group += each((x) => `outGfn[i + ${x}] = (hi${x} & 0xfffff) * 0x100000 + (lo${x} >>> 12);\n`);
  const failed = lanes === 1
    ? 'return i;'
    : `// A lane failed a test: the group one walk at a time, which stops at the first it cannot finish.
    const k = seq(${ARGS.replace('start, end', `i, i + ${lanes}`)});
    if (k !== i + ${lanes}) return k;`;
  const rest = lanes === 1 ? 'return end;' : `return seq(${ARGS.replace('start', 'i')});`;
  // Strict, as the modules TypeScript emits: an undeclared name in the template is an error, not a global.
  return `'use strict';
return function x86HotBatch${lanes === 1 ? 'Loop' : 'Lanes'}${root}(${ARGS}) {
  let i = start;
  for (; i + ${lanes} <= end; i += ${lanes}) {
    lanes: {
${group}      continue;
    }
    ${failed}
  }
  ${rest}
};`;
}

type LanesFactory = (
  l5: number, h5: number, l4: number, h4: number, l3: number, h3: number, l2: number, h2: number, l1: number, h1: number,
  execShift: number, readBit: number, seq: HotBatchLoop | undefined,
) => HotBatchLoop;

// Compiled once per root level and lane count, at its first loop (so a mutation test that activates
// its mutant after this module loads still sees the template it mutated): every walker's loop is a
// closure of one of these functions, so they share its bytecode and optimized code. The tests are
// the factory's parameters, not constants it destructures: a closure's `const` is tested for the
// temporal dead zone at every use.
const PARAMS = ['l5', 'h5', 'l4', 'h4', 'l3', 'h3', 'l2', 'h2', 'l1', 'h1', 'execShift', 'readBit', 'seq'];
const factories = new Map<string, LanesFactory>();

function loopOf(t: HotWalkTests, lanes: number, seq: HotBatchLoop | undefined): HotBatchLoop {
  const key = `${t.rootLevel}x${lanes}`;
  let factory = factories.get(key);
  if (factory === undefined) {
    factory = new Function(...PARAMS, lanesSource(t.rootLevel, lanes)) as LanesFactory;
    factories.set(key, factory);
  }
  return factory(t.l5, t.h5, t.l4, t.h4, t.l3, t.h3, t.l2, t.h2, t.l1, t.h1, t.execShift, t.readBit, seq);
}

/** walk-batch-hot.ts's loop of one walk at a time with these tests: it returns the first walk it cannot finish. */
export function makeOneWalkLoop(t: HotWalkTests): HotBatchLoop {
  return loopOf(t, 1, undefined);
}

/** walk-batch-hot.ts's loop with these tests, LANES walks at a time; `seq` is the loop of one walk at a time. */
export function makeLanesLoop(t: HotWalkTests, seq: HotBatchLoop): HotBatchLoop {
  return loopOf(t, LANES, seq);
}

/** A generated loop's source for 4- or 5-level paging (LANES lanes unless told), for tests and for reading. */
export function lanesLoopSource(root: 4 | 5, lanes = LANES): string {
  return lanesSource(root, lanes);
}
