/**
 * The cost model as a table: each parameter's cycles, what it prices, where the number comes
 * from and how sure that source is ('measured' = a published measurement checked; 'recalled' =
 * a published figure not re-checked; 'assumption' = a placeholder to override).
 */
import { costModelRows, type CostModel } from '../cost/cost-model';
import { TLB_DEFAULT_SOURCES, type TlbConfig } from '../tlb/tlb-config';
import { esc, table, textTable, type MimeBundle } from './html';
import { checkShown } from './record-shapes';

/** A TLB geometry as makeTlbConfig makes it: every array with integer entries and ways, vpid a boolean. */
function isTlbConfig(x: unknown): x is TlbConfig {
  const o = x as Record<string, { entries?: unknown; ways?: unknown } | undefined> | null;
  return typeof o === 'object' && o !== null && typeof (o as { vpid?: unknown }).vpid === 'boolean' &&
    Object.keys(TLB_DEFAULT_SOURCES).every((k) => typeof o[k] === 'object' && o[k] !== null && Number.isSafeInteger(o[k]!.entries) && Number.isSafeInteger(o[k]!.ways));
}

export function isCostModel(x: unknown): x is CostModel {
  const o = x as Partial<CostModel> | null;
  return typeof o === 'object' && o !== null && typeof o.walkRefLevel === 'string' && typeof o.params === 'object' && o.params !== null && 'vmExitEntry' in o.params;
}

export function costModelBundle(m: CostModel): MimeBundle {
  const headers = ['parameter', 'cycles', 'what', 'status', 'source'];
  const rows = costModelRows(m).map((r) => [r.name, r.cycles, r.what, r.status, r.source]);
  const caption = 'Cost model (cycles); status: measured = published measurement checked, recalled = published figure not re-checked, assumption = placeholder to override';
  return {
    'text/plain': `${caption}\n${textTable(headers, rows)}`,
    'text/html': table(headers, rows.map((r) => r.map((c) => (typeof c === 'number' ? c : esc(c)))), esc(caption)),
  };
}

/** The TLB geometry with the source of each default. */
export function tlbConfigBundle(c: Readonly<TlbConfig>): MimeBundle {
  checkShown('c', c, isTlbConfig(c), 'a TLB configuration (makeTlbConfig)');
  const headers = ['array', 'entries', 'ways', 'what', 'source'];
  const rows = (Object.keys(TLB_DEFAULT_SOURCES) as (keyof typeof TLB_DEFAULT_SOURCES)[]).map((k) => [k, c[k].entries, c[k].ways, TLB_DEFAULT_SOURCES[k].what, TLB_DEFAULT_SOURCES[k].source]);
  const caption = `TLB geometry (VPIDs ${c.vpid ? 'on' : 'off'})`;
  return {
    'text/plain': `${caption}\n${textTable(headers, rows)}`,
    'text/html': table(headers, rows.map((r) => r.map((x) => (typeof x === 'number' ? x : esc(x)))), esc(caption)),
  };
}
