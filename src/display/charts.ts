/**
 * Vega-lite specs (v5 schema) for the built-in charts. Pure data: the kernel renders them (SVG on
 * the server plus the spec for JupyterLab). Row order and values are deterministic.
 */
import type { PageFormat } from '../format/page-format';
import { decodeAcc } from '../format/acc';
import type { WalkResult } from '../walker/walk-result';
import { accessIndexName } from './format-view';
import { checkShown, isPageFormat, isWalkResult } from './record-shapes';

/** A chart's page format: one makePageFormat made (an eptFormat, paging4Format, …). */
function checkFormat(f: unknown): void {
  checkShown('f', f, isPageFormat(f), 'a page format (eptFormat, paging4Format, …)');
}

export const VEGA_LITE_V5_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
export type VegaLiteSpec = Record<string, unknown>;

const LEVEL_NAMES: Record<number, string> = { 1: 'PTE', 2: 'PDE', 3: 'PDPTE', 4: 'PML4E', 5: 'PML5E' };

/** Reserved-bit matrix: bits 0–63 × (level, large), one cell per bit. */
export function reservedBitsChart(f: PageFormat): VegaLiteSpec {
  checkFormat(f);
  const values: { bit: number; entry: string; reserved: string }[] = [];
  const order: string[] = [];
  for (let level = f.rootLevel; level >= 1; level--) {
    for (const large of [0, 1]) {
      const entry = `[${large}][${level - 1}] ${LEVEL_NAMES[level]}${large ? ' PS=1' : ''}`;
      order.push(entry);
      const m = f.rsvdBitsMask[large]![level - 1]!;
      for (let bit = 0; bit < 64; bit++) values.push({ bit, entry, reserved: (m >> BigInt(bit)) & 1n ? 'reserved' : 'allowed' });
    }
  }
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: `Reserved bits: ${f.name}`,
    data: { values },
    mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
    width: 640,
    height: order.length * 16,
    encoding: {
      x: { field: 'bit', type: 'ordinal', sort: 'descending', title: 'bit (63 … 0)', axis: { labelExpr: 'datum.value % 4 == 0 ? datum.value : ""' } },
      y: { field: 'entry', type: 'nominal', sort: order, title: 'rsvd_bits_mask index', axis: { labelLimit: 0 } },
      color: { field: 'reserved', type: 'nominal', scale: { domain: ['allowed', 'reserved'], range: ['#e8eef4', '#c0392b'] }, title: null },
      tooltip: [{ field: 'entry' }, { field: 'bit' }, { field: 'reserved' }],
    },
  };
}

/** Permission matrix: 16 error-code indices × 8 ACC values; red = faults. */
export function permissionsChart(f: PageFormat): VegaLiteSpec {
  checkFormat(f);
  const values: { index: string; acc: string; fault: string }[] = [];
  const order: string[] = [];
  const accOrder: string[] = [];
  const n = f.acc.values; // 8 ACC values in v6.16, 16 in 7.3 (kvm-7x.md §1.4)
  for (let a = 0; a < n; a++) accOrder.push(`${a} ${decodeAcc(a, f.ptType === 'ept', f.kvm)}`);
  f.permissions.forEach((p, idx) => {
    const index = `${String(idx).padStart(2, ' ')} ${accessIndexName(idx)}`;
    order.push(index);
    for (let a = 0; a < n; a++) values.push({ index, acc: accOrder[a]!, fault: (p >> a) & 1 ? 'fault' : 'allowed' });
  });
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: `permissions[16]: ${f.name}`,
    data: { values },
    mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
    width: 320,
    height: 16 * 18,
    encoding: {
      x: { field: 'acc', type: 'nominal', sort: accOrder, title: f.kvm === '7.3' ? 'page ACC (R W U X)' : 'page ACC (U/R W X)', axis: { labelAngle: -45, labelLimit: 0 } },
      y: { field: 'index', type: 'nominal', sort: order, title: 'access (error-code bits 4:1)', axis: { labelLimit: 0 } },
      color: { field: 'fault', type: 'nominal', scale: { domain: ['allowed', 'fault'], range: ['#dff0d8', '#c0392b'] }, title: null },
      tooltip: [{ field: 'index' }, { field: 'acc' }, { field: 'fault' }],
    },
  };
}

/** A walk drawn level by level: which rights survive each level, and where it stopped. */
export function walkTraceChart(r: WalkResult): VegaLiteSpec {
  checkShown('r', r, isWalkResult(r), 'a walk record (GvaWalker.walk, NgpaWalker.walk)');
  const ept = r.stage === 'ngpa_walk';
  const rights = ept ? ['R', 'W', 'X'] : ['U', 'W', 'X'];
  const bitOf: Record<string, number> = { U: 4, R: 4, W: 2, X: 1 };
  const values: { level: string; right: string; state: string }[] = [];
  const order: string[] = [];
  for (const s of r.trace) {
    const level = `L${s.level} ${s.source === 'pdptr-register' ? 'PDPTE reg' : LEVEL_NAMES[s.level] ?? ''}${s.leaf ? ' (leaf)' : ''}`;
    order.push(level);
    for (const right of rights) {
      values.push({ level, right, state: !s.present ? 'not present' : s.access & bitOf[right]! ? 'granted' : 'denied' });
    }
  }
  const title = r.status === 'ok' ? `walk ok → GPA 0x${(r.gpa as bigint).toString(16)}` : `walk fault ${r.errorCodeText} at level ${r.level}`;
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title,
    data: { values },
    mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
    width: 180,
    height: Math.max(1, order.length) * 24,
    encoding: {
      x: { field: 'right', type: 'nominal', sort: rights, title: 'accumulated right' },
      y: { field: 'level', type: 'nominal', sort: order, title: null, axis: { labelLimit: 0 } },
      color: { field: 'state', type: 'nominal', scale: { domain: ['granted', 'denied', 'not present'], range: ['#5cb85c', '#f0ad4e', '#c0392b'] }, title: null },
    },
  };
}
