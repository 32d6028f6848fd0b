/**
 * Rich views of the nested side: an ngpa walk (with the exit L1 sees), a 2D walk (every memory
 * reference in order), the walkers themselves, and the classic 2D-walk grid as a Vega-Lite spec.
 * Records answer the Jupyter.display protocol through their shared prototype, installed here so
 * that records stay plain data and display code stays in display/ (as rich.ts does for classes).
 */
import { decodeAcc } from '../format/acc';
import { describeAccess } from '../walker/access';
import type { WalkStep } from '../walker/walk-result';
import { describeNestedExit } from '../nested/nested-exit';
import { NgpaWalker } from '../nested/ngpa-walker';
import { NESTED_RECORD_PROTO, type NgpaWalkResult } from '../nested/ngpa-walk-result';
import { refs2d } from '../nested/refs-2d';
import { Walk2D } from '../nested/walk-2d';
import type { MemRef2D, Walk2DResult } from '../nested/walk-2d-result';
import { VEGA_LITE_V5_SCHEMA, type VegaLiteSpec } from './charts';
import { esc, hex64, table, textTable, type MimeBundle } from './html';
import { checkShown, isNgpaWalkResult, isWalk2DResult } from './record-shapes';

/** The argument of an ngpa-walk view: a record NgpaWalker.walk made. */
function checkNgpaRecord(r: unknown): void {
  checkShown('r', r, isNgpaWalkResult(r), 'an ngpa walk record (NgpaWalker.walk)');
}

/** The argument of a 2D-walk view: a record Walk2D.walk made. */
function check2dRecord(r: unknown): void {
  checkShown('r', r, isWalk2DResult(r), 'a 2D walk record (Walk2D.walk)');
}

const hx = (v: bigint): string => '0x' + v.toString(16);
const LEVEL_NAMES: Record<number, string> = { 1: 'PTE', 2: 'PDE', 3: 'PDPTE', 4: 'PML4E', 5: 'PML5E' };

function pageSizeText(n: number): string {
  return n >= 1 << 30 ? `${n / (1 << 30)} GiB` : n >= 1 << 20 ? `${n / (1 << 20)} MiB` : '4 KiB';
}

function stepRows(trace: readonly WalkStep[], ept: boolean): string[][] {
  return trace.map((s) => [
    String(s.level),
    s.source === 'pdptr-register' ? 'PDPTE reg' : hx(s.entryGpa),
    hex64(s.value),
    s.present ? (s.leaf ? 'leaf' : 'table') : s.source === 'no-memory' ? 'no memory' : 'not present',
    decodeAcc(s.access, ept),
    s.updated === undefined ? '' : `→ ${hex64(s.updated)}`,
  ]);
}

/** One line: what the ngpa walk did. */
export function ngpaVerdict(r: NgpaWalkResult): string {
  checkNgpaRecord(r);
  const tables = r.tdp === 'ept' ? 'EPT12' : 'NPT12';
  const a = `${r.access.kind}${r.access.user ? ' (U)' : ''} at nGPA ${hx(r.address)}`;
  if (r.status === 'ok') {
    return `ngpa_walk (${tables}): ${a} → GPA ${hx(r.gpa)} (${pageSizeText(r.pageSize)} page, ${r.gpaKind}, access ${decodeAcc(r.pteAccess, r.tdp === 'ept')}${r.dirtyLogged ? ', D set → write_log_dirty' : ''})`;
  }
  return `ngpa_walk (${tables}): ${a} → ${describeNestedExit(r.exit)} at level ${r.level}: ${r.detail}`;
}

export function ngpaWalkBundle(r: NgpaWalkResult): MimeBundle {
  checkNgpaRecord(r);
  const headers = ['level', 'entry GPA', 'value', 'kind', 'access so far', 'A/D update'];
  const rows = stepRows(r.trace, r.tdp === 'ept');
  return {
    'text/plain': `${ngpaVerdict(r)}\n${textTable(headers, rows)}`,
    'text/html': `<div class="mmulab-ngpa-walk"><p><b>${r.status}</b> ${esc(ngpaVerdict(r))}</p>${table(headers, rows.map((x) => x.map(esc)))}</div>`,
  };
}

/** One line: what the 2D walk did, and its reference count against (n+1)(m+1)−1. */
export function walk2dVerdict(r: Walk2DResult): string {
  check2dRecord(r);
  const a = `${describeAccess(r.access)} at GVA ${hx(r.address)}`;
  const full = refs2d(r.guestLevels, r.nestedLevels);
  const count = `${r.refCount} memory reference${r.refCount === 1 ? '' : 's'} (full depth n=${r.guestLevels}, m=${r.nestedLevels}: ${full})`;
  if (r.status === 'ok') return `2D walk: ${a} → nGPA ${hx(r.ngpa)} → GPA ${hx(r.gpa)} (${pageSizeText(r.pageSize)} L2 page, ${r.gpaKind}); ${count}`;
  if (r.stage === 'ngpa_walk') {
    return `2D walk: ${a} → ${describeNestedExit(r.exit)} to L1 (${r.during === 'final' ? 'final translation' : `L2 level-${r.guestLevel} table`}); ${count}`;
  }
  return `2D walk: ${a} → #PF to L2, error code 0x${r.errorCode.toString(16)} (${r.errorCodeText}) at level ${r.level}: ${r.detail}; ${count}`;
}

function refWhat(m: MemRef2D): string {
  const target = m.guestLevel === 0 ? 'final nGPA' : `L2 ${LEVEL_NAMES[m.guestLevel] ?? ''} table`;
  return m.kind === 'nested' ? `nested L${m.level} → ${target}` : `gPTE L${m.level} (${LEVEL_NAMES[m.level] ?? ''})`;
}

function refRows(r: Walk2DResult): string[][] {
  return r.refs.map((m) => [String(m.seq), refWhat(m), hx(m.gpa), hx(m.ngpa), hex64(m.value), m.updated === undefined ? '' : `→ ${hex64(m.updated)}`]);
}

export function walk2dBundle(r: Walk2DResult): MimeBundle {
  check2dRecord(r);
  const headers = ['#', 'reference', 'entry GPA (L1)', 'nGPA', 'value', 'A/D update'];
  const rows = refRows(r);
  return {
    'text/plain': `${walk2dVerdict(r)}\n${textTable(headers, rows)}`,
    'text/html': `<div class="mmulab-walk2d"><p><b>${r.status === 'ok' ? 'ok' : r.stage === 'ngpa_walk' ? 'exit to L1' : '#PF to L2'}</b> ${esc(walk2dVerdict(r))}</p>${table(headers, rows.map((x) => x.map(esc)))}</div>`,
  };
}

/**
 * The 2D walk as the classic grid: one row per L2 step (each table, then the final nGPA), one
 * column per nested level plus the gPTE read; each cell is numbered in reference order.
 */
export function walk2dChart(r: Walk2DResult): VegaLiteSpec {
  check2dRecord(r);
  const cols: string[] = [];
  for (let l = r.nestedLevels; l >= 1; l--) cols.push(`nested L${l}`);
  cols.push('gPTE');
  const rowOf = (g: number): string => (g === 0 ? 'final nGPA' : `L2 L${g} ${LEVEL_NAMES[g] ?? ''}`);
  const rowsOrder: string[] = [];
  for (const m of r.refs) if (!rowsOrder.includes(rowOf(m.guestLevel))) rowsOrder.push(rowOf(m.guestLevel));
  const values = r.refs.map((m) => ({
    row: rowOf(m.guestLevel),
    col: m.kind === 'guest' ? 'gPTE' : `nested L${m.level}`,
    seq: m.seq,
    kind: m.kind === 'guest' ? 'L2 gPTE' : 'EPT12/NPT12 entry',
  }));
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: `2D walk: ${r.refCount} references (n=${r.guestLevels}, m=${r.nestedLevels})`,
    data: { values },
    width: cols.length * 48,
    height: Math.max(1, rowsOrder.length) * 32,
    encoding: {
      x: { field: 'col', type: 'nominal', sort: cols, title: null },
      y: { field: 'row', type: 'nominal', sort: rowsOrder, title: null },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: { color: { field: 'kind', type: 'nominal', scale: { domain: ['EPT12/NPT12 entry', 'L2 gPTE'], range: ['#9ecae1', '#fdae6b'] }, title: null } },
      },
      { mark: { type: 'text' }, encoding: { text: { field: 'seq', type: 'quantitative' } } },
    ],
  };
}

export function ngpaWalkerBundle(w: NgpaWalker): MimeBundle {
  checkShown('w', w, w instanceof NgpaWalker, 'an NgpaWalker');
  const rows: string[][] = [
    ['tables', w.tdp === 'ept' ? 'EPT12' : 'NPT12'],
    ['levels (m)', String(w.levels)],
    ['root', hx(w.root)],
    [w.tdp === 'ept' ? 'EPTP12' : 'nCR3', hx(w.tdp === 'ept' ? w.eptp! : w.ncr3!)],
    ['nGPA width', `${w.addressBits} bits`],
    ['format', w.format.name],
    ['A/D', w.format.hasAd ? 'on' : 'off'],
    ['write_log_dirty calls', String(w.writeLogDirtyCount)],
  ];
  return { 'text/plain': `${w.toString()}\n${textTable(['field', 'value'], rows)}`, 'text/html': table(['field', 'value'], rows.map((x) => x.map(esc)), esc(w.toString())) };
}

export function walk2dWalkerBundle(w: Walk2D): MimeBundle {
  checkShown('w', w, w instanceof Walk2D, 'a Walk2D');
  const rows: string[][] = [
    ['L2 paging', w.role.pagingMode],
    ['L2 CR3 (nGPA)', hx(w.cr3)],
    ['n (L2 levels read)', String(w.guestLevels)],
    ['m (nested levels)', String(w.nestedLevels)],
    ['references, full depth', String(w.guestLevels === 0 ? w.nestedLevels : refs2d(w.guestLevels, w.nestedLevels))],
    ['nested', w.nested.toString()],
  ];
  return { 'text/plain': `${w.toString()}\n${textTable(['field', 'value'], rows)}`, 'text/html': table(['field', 'value'], rows.map((x) => x.map(esc)), esc(w.toString())) };
}

/** Dispatch for any nested record. */
export function nestedRecordBundle(r: NgpaWalkResult | Walk2DResult): MimeBundle {
  if (isWalk2DResult(r)) return walk2dBundle(r);
  checkShown('r', r, isNgpaWalkResult(r), 'an ngpa walk record (NgpaWalker.walk) or a 2D walk record (Walk2D.walk)');
  return ngpaWalkBundle(r as NgpaWalkResult);
}

for (const [target, view] of [
  [NESTED_RECORD_PROTO, nestedRecordBundle],
  [NgpaWalker.prototype, ngpaWalkerBundle],
  [Walk2D.prototype, walk2dWalkerBundle],
] as const) {
  Object.defineProperty(target, Symbol.for('Jupyter.display'), {
    value(this: never) {
      return (view as (x: unknown) => MimeBundle)(this);
    },
    enumerable: false,
  });
}
