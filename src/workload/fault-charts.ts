/**
 * Vega-lite (v5) specs for comparing configurations on one trace. Pure data in the order of the
 * results given, so the same results always give the same spec.
 */
import { VEGA_LITE_V5_SCHEMA, type VegaLiteSpec } from '../display/charts';
import { FAULT_KINDS, type TraceResult } from './trace-result';
import { NATIVE_REFS } from './memory-refs';
import { checkArray, checkObject, checkString, refuse } from '../validate/checks';

const order = (rs: TraceResult[]) => rs.map((r) => r.config);

/** Results of runTrace (config, trace, derived figures and series) and an optional title. */
function checkResults(rs: unknown, title: unknown): void {
  checkArray('rs', rs).forEach((r, i) => {
    const o = checkObject<Partial<TraceResult>>(`rs[${i}]`, r);
    if (typeof o.config !== 'string' || typeof o.derived !== 'object' || o.derived === null || !Array.isArray(o.series)) refuse(`rs[${i}]`, 'trace-result', 'must be a runTrace result (config, derived, series)', r);
  });
  if (title !== undefined) checkString('title', title);
}

/**
 * Every value stays visible: counts that span orders of magnitude go on a symlog axis (0 stays 0)
 * with the value written on each mark; lines that could coincide get a panel each. `title` states
 * the finding (default: what is plotted).
 */
export function faultsByKindChart(rs: TraceResult[], title?: string): VegaLiteSpec {
  checkResults(rs, title);
  const values = rs.flatMap((r) => FAULT_KINDS.map((kind) => ({ config: r.config, kind, faults: r.derived.faultsByKind[kind] })));
  const y = { field: 'faults', type: 'quantitative', scale: { type: 'symlog' }, title: 'faults (symlog)' };
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: title ?? `Faults by kind: ${rs[0]?.trace ?? ''}`,
    data: { values },
    encoding: {
      x: { field: 'config', type: 'nominal', sort: order(rs), title: null, axis: { labelAngle: 0, labelLimit: 0 } },
      xOffset: { field: 'kind', type: 'nominal', sort: [...FAULT_KINDS] },
      y,
      color: { field: 'kind', type: 'nominal', sort: [...FAULT_KINDS], legend: { labelLimit: 0 } },
      tooltip: [{ field: 'config' }, { field: 'kind' }, { field: 'faults' }],
    },
    layer: [{ mark: 'bar' }, { mark: { type: 'text', dy: -5, fontSize: 8 }, encoding: { text: { field: 'faults' } } }],
    width: 640,
    height: 220,
  };
}

export function cumulativeFaultsChart(rs: TraceResult[], title?: string): VegaLiteSpec {
  checkResults(rs, title);
  const values = rs.flatMap((r) => r.series.map((p) => ({ config: r.config, op: p.op, faults: p.kvmFaults + p.guestFaults, exits: p.exits })));
  const last = rs.map((r) => {
    const p = r.series[r.series.length - 1];
    return { config: r.config, op: p?.op ?? 0, faults: p ? p.kvmFaults + p.guestFaults : 0 };
  });
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: title ?? `Cumulative faults (KVM + guest #PF) over the trace: ${rs[0]?.trace ?? ''}`,
    // One panel per configuration, each with its own axis: no line hides under another.
    facet: { row: { field: 'config', type: 'nominal', sort: order(rs), title: null, header: { labelAngle: 0, labelAlign: 'left', labelLimit: 0 } } },
    data: { values: [...values.map((v) => ({ ...v, end: false })), ...last.map((v) => ({ ...v, exits: 0, end: true }))] },
    spec: {
      width: 520,
      height: 60,
      layer: [
        { transform: [{ filter: '!datum.end' }], mark: { type: 'line', interpolate: 'step-after' }, encoding: { x: { field: 'op', type: 'quantitative', title: 'trace op' }, y: { field: 'faults', type: 'quantitative', title: 'faults' }, color: { field: 'config', type: 'nominal', sort: order(rs), legend: null } } },
        { transform: [{ filter: 'datum.end' }], mark: { type: 'text', align: 'left', dx: 4 }, encoding: { x: { field: 'op', type: 'quantitative' }, y: { field: 'faults', type: 'quantitative' }, text: { field: 'faults' } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
}

export function exitsPerThousandChart(rs: TraceResult[], title?: string): VegaLiteSpec {
  checkResults(rs, title);
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: title ?? 'VM exits per 1000 accesses',
    data: { values: rs.map((r) => ({ config: r.config, exits: Math.round(r.derived.exitsPer1000) })) },
    encoding: {
      x: { field: 'config', type: 'nominal', sort: order(rs), title: null, axis: { labelAngle: 0, labelLimit: 0 } },
      y: { field: 'exits', type: 'quantitative', scale: { type: 'symlog' }, title: 'exits / 1000 accesses (symlog)' },
    },
    layer: [{ mark: 'bar' }, { mark: { type: 'text', dy: -5 }, encoding: { text: { field: 'exits' } } }],
    width: 480,
    height: 200,
  };
}

/** Measured refs per TLB-miss translation beside the literature: (n+1)(m+1)−1 = 24, shadow/native 4. */
export function memoryRefsChart(rs: TraceResult[], title?: string): VegaLiteSpec {
  checkResults(rs, title);
  const values: { config: string; source: string; refs: number }[] = [{ config: 'native', source: 'literature', refs: NATIVE_REFS }];
  for (const r of rs) {
    values.push({ config: r.config, source: 'literature', refs: r.derived.refsLiterature });
    if (r.derived.refsPerAccess !== null) values.push({ config: r.config, source: 'measured', refs: Math.round(r.derived.refsPerAccess * 100) / 100 });
  }
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: title ?? 'Memory references per access on a TLB miss (2D walk vs shadow)',
    data: { values },
    encoding: {
      x: { field: 'config', type: 'nominal', sort: ['native', ...order(rs)], title: null, axis: { labelAngle: 0, labelLimit: 0 } },
      xOffset: { field: 'source', type: 'nominal' },
      y: { field: 'refs', type: 'quantitative', title: 'memory references' },
      color: { field: 'source', type: 'nominal', scale: { domain: ['literature', 'measured'], range: ['#9ab', '#c0392b'] } },
      tooltip: [{ field: 'config' }, { field: 'source' }, { field: 'refs' }],
    },
    layer: [{ mark: 'bar' }, { mark: { type: 'text', dy: -5 }, encoding: { text: { field: 'refs' } } }],
    width: 420,
    height: 200,
  };
}
