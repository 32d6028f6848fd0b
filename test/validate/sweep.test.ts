/** Bad input to sweeps (src/sweep): typed, named refusals before any job runs; bounded expansion. */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveSweep, loadSweep, mergeSweeps, sweepJobs, sweep, MAX_SWEEP_JOBS, MAX_TRACE_OPS, LimitExceededError, SweepError, OperationAbortedError, type SweepSpec } from '../../src';
import { FC, Tally, badEnum, junk, refused, refusedRule } from './support';

const t = new Tally('sweep');
const ok = (): SweepSpec => ({ configs: ['tdp-ept'], workloads: [{ generator: 'sequential', params: { pages: [8] } }], seeds: [1] });

describe('sweepJobs refuses bad sweeps up front', () => {
  it('configs, generators ("toString", "__proto__"), params and seeds', () => {
    fc.assert(fc.property(badEnum(['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow', 'td']), (v) => refused(t, () => sweepJobs({ ...ok(), configs: [v as 'td'] }), { param: 'config', value: v })), FC);
    fc.assert(fc.property(badEnum(['sequential', 'uniform', 'strided', 'hot-cold', 'pt-churn', 'fork-storm', 'address-spaces', 'invlpg', 'td-mix']), (v) => {
      refused(t, () => sweepJobs({ ...ok(), workloads: [{ generator: v as string, params: {} }] }), { param: 'workload.generator', value: v });
    }), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant([]), fc.constant([1.5]), fc.constant(['x'])), (v) => refused(t, () => sweepJobs({ ...ok(), seeds: v as number[] }), { param: 'spec.seeds' })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant([]), fc.constant([NaN]), fc.constant(['8'])), (v) => {
      refused(t, () => sweepJobs({ ...ok(), workloads: [{ generator: 'sequential', params: { pages: v as number[] } }] }), { param: 'sequential' });
    }), FC);
    for (const v of [null, 5, 'spec']) refused(t, () => sweepJobs(v as never), { param: 'spec', value: v });
  });

  it('a TD-only workload paired with a non-TD configuration is refused before any job runs', () => {
    const spec: SweepSpec = { configs: ['td', 'tdp-ept'], workloads: [{ generator: 'td-mix', params: { pages: [16], accesses: [8] } }], seeds: [1] };
    const err = refusedRule(t, () => sweepJobs(spec), SweepError, 'sweep-td-only-workload');
    expect(err.message).toContain('tdp-ept');
    expect(sweepJobs({ ...spec, configs: ['td'] })).toHaveLength(1);
  });

  it('10^9 accesses and a grid of 10^9 jobs are refused without generating anything', () => {
    const big: SweepSpec = { ...ok(), workloads: [{ generator: 'uniform', params: { pages: [8], accesses: [1e9] } }] };
    expect(() => sweepJobs(big)).toThrow(LimitExceededError);
    expect(() => sweepJobs(big)).toThrow(String(MAX_TRACE_OPS));
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    const grid: SweepSpec = { ...ok(), workloads: [{ generator: 'uniform', params: { pages: values, accesses: values, writeFraction: values } }] };
    expect(() => sweepJobs(grid)).toThrow(LimitExceededError);
    expect(() => sweepJobs(grid)).toThrow(String(MAX_SWEEP_JOBS));
    t.inputs += 2;
    t.classes.set('LimitExceededError', (t.classes.get('LimitExceededError') ?? 0) + 2);
  });

  it('an aborted sweep stops before its next job', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sweep({ ...ok(), workers: 1, signal: ac.signal })).rejects.toBeInstanceOf(OperationAbortedError);
  });
});

describe('saveSweep / loadSweep / mergeSweeps refuse bad tables, files and options', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bad3-sweep-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = () => fs.readdirSync(dir).join(',');

  it('tables that are not arquero tables, paths that are not non-empty strings; nothing is written', async () => {
    const table = await sweep({ ...ok(), workers: 1 });
    fc.assert(fc.property(junk, (v) => refused(t, () => saveSweep(v as typeof table, path.join(dir, 'x.arrow')), { param: 'table', value: v, state: files })), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => saveSweep(table, v as string), { param: 'file', value: v, state: files })), FC);
    refused(t, () => saveSweep(table, ''), { param: 'file', value: '', state: files });
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => loadSweep(v as string), { param: 'file', value: v })), FC);
    // A missing file and a file that is not Arrow IPC (was an ENOENT / arrow Error).
    refused(t, () => loadSweep(path.join(dir, 'missing.arrow')), { param: 'file', value: path.join(dir, 'missing.arrow') });
    fs.writeFileSync(path.join(dir, 'junk.arrow'), 'not arrow');
    refused(t, () => loadSweep(path.join(dir, 'junk.arrow')), { param: 'file', value: path.join(dir, 'junk.arrow') });
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => mergeSweeps(v as []), { param: 'parts', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => mergeSweeps([table, v as typeof table]), { param: 'parts[1]', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))), (v) => refused(t, () => mergeSweeps([table], v as object), { param: 'opts', value: v })), FC);
  });
});
