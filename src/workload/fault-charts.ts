/**
 * Vega-lite (v5) specs for comparing configurations on one trace. Pure data in the order of the
 * results given, so the same results always give the same spec.
 */
import { VEGA_LITE_V5_SCHEMA, type VegaLiteSpec } from '../display/charts';
import { FAULT_KINDS, type TraceResult } from './trace-result';
import { NATIVE_REFS } from './memory-refs';

const order = (rs: TraceResult[]) => rs.map((r) => r.config);

export function faultsByKindChart(rs: TraceResult[]): VegaLiteSpec {
  const values = rs.flatMap((r) => FAULT_KINDS.map((kind) => ({ config: r.config, kind, faults: r.derived.faultsByKind[kind] })));
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: `Faults by kind: ${rs[0]?.trace ?? ''}`,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'config', type: 'nominal', sort: order(rs), title: null },
      y: { field: 'faults', type: 'quantitative', stack: 'zero' },
      color: { field: 'kind', type: 'nominal', sort: [...FAULT_KINDS] },
      tooltip: [{ field: 'config' }, { field: 'kind' }, { field: 'faults' }],
    },
  };
}

export function cumulativeFaultsChart(rs: TraceResult[]): VegaLiteSpec {
  const values = rs.flatMap((r) => r.series.map((p) => ({ config: r.config, op: p.op, faults: p.kvmFaults + p.guestFaults, exits: p.exits })));
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: `Cumulative faults (KVM + guest #PF) over the trace: ${rs[0]?.trace ?? ''}`,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'op', type: 'quantitative', title: 'trace op' },
      y: { field: 'faults', type: 'quantitative' },
      color: { field: 'config', type: 'nominal', sort: order(rs) },
    },
  };
}

export function exitsPerThousandChart(rs: TraceResult[]): VegaLiteSpec {
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: 'VM exits per 1000 accesses',
    data: { values: rs.map((r) => ({ config: r.config, exits: r.derived.exitsPer1000 })) },
    mark: 'bar',
    encoding: {
      x: { field: 'config', type: 'nominal', sort: order(rs), title: null },
      y: { field: 'exits', type: 'quantitative', title: 'exits / 1000 accesses' },
    },
  };
}

/** Measured refs per TLB-miss translation beside the literature: (n+1)(m+1)−1 = 24, shadow/native 4. */
export function memoryRefsChart(rs: TraceResult[]): VegaLiteSpec {
  const values: { config: string; source: string; refs: number }[] = [{ config: 'native', source: 'literature', refs: NATIVE_REFS }];
  for (const r of rs) {
    values.push({ config: r.config, source: 'literature', refs: r.derived.refsLiterature });
    if (r.derived.refsPerAccess !== null) values.push({ config: r.config, source: 'measured', refs: r.derived.refsPerAccess });
  }
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    title: 'Memory references per access on a TLB miss (2D walk vs shadow)',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'config', type: 'nominal', sort: ['native', ...order(rs)], title: null },
      xOffset: { field: 'source', type: 'nominal' },
      y: { field: 'refs', type: 'quantitative', title: 'memory references' },
      color: { field: 'source', type: 'nominal', scale: { domain: ['literature', 'measured'], range: ['#9ab', '#c0392b'] } },
      tooltip: [{ field: 'config' }, { field: 'source' }, { field: 'refs' }],
    },
  };
}
