import { expect, it } from 'vitest';
import { runTrace } from '../../src/workload/trace-run';
import { forkStorm } from '../../src/workload/generators';
import { faultsByKindChart, cumulativeFaultsChart, exitsPerThousandChart, memoryRefsChart } from '../../src/workload/fault-charts';
import { VEGA_LITE_V5_SCHEMA } from '../../src/display/charts';

it('charts: v5 specs whose data are the results, literature beside measured', () => {
  const t = forkStorm({ pages: 8, forks: 2, writesPerFork: 3, seed: 1 });
  const rs = (['tdp-ept', 'shadow', 'nested-ept'] as const).map((c) => runTrace(c, t));
  const specs = [faultsByKindChart(rs), cumulativeFaultsChart(rs), exitsPerThousandChart(rs), memoryRefsChart(rs)];
  for (const s of specs) expect(s.$schema).toBe(VEGA_LITE_V5_SCHEMA);
  const refs = (memoryRefsChart(rs).data as { values: { config: string; source: string; refs: number }[] }).values;
  expect(refs).toContainEqual({ config: 'native', source: 'literature', refs: 4 });
  expect(refs).toContainEqual({ config: 'tdp-ept', source: 'literature', refs: 24 });
  expect(refs).toContainEqual({ config: 'shadow', source: 'literature', refs: 4 });
  expect(refs.filter((v) => v.config === 'nested-ept' && v.source === 'measured')).toEqual([]);
  const ex = (exitsPerThousandChart(rs).data as { values: { config: string; exits: number }[] }).values;
  expect(ex.find((v) => v.config === 'shadow')!.exits).toBeGreaterThan(ex.find((v) => v.config === 'tdp-ept')!.exits);
  const kinds = (faultsByKindChart(rs).data as { values: unknown[] }).values;
  expect(kinds).toHaveLength(3 * 6);
  expect(JSON.stringify(cumulativeFaultsChart(rs))).toBe(JSON.stringify(cumulativeFaultsChart(rs.map((r) => ({ ...r })))));
});
