/** Bad input to trace runs (src/workload): typed, named refusals before anything is built; bounded ops; abort. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runTrace, createRun, sequentialScan, MAX_PAGES_PER_TRACE_OP, OperationAbortedError, LimitExceededError, type Trace, type ConfigSpec } from '../../src';
import { FC, Tally, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('workload');
const CONFIGS = ['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow', 'td'];
const base = (): Trace => sequentialScan({ pages: 8, passes: 1 });

describe('runTrace/createRun refuse bad configurations, traces and options before building anything', () => {
  it('configurations: name "toString", td "yes", hostPageSize "toString", nxHugePages 1', () => {
    fc.assert(fc.property(badEnum(CONFIGS), (v) => refused(t, () => runTrace(v as 'shadow', base()), { param: 'config', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => runTrace({ name: 'tdp-ept', td: v } as ConfigSpec, base()), { param: 'config.td', value: v })), FC);
    fc.assert(fc.property(badEnum(['4K', '2M']), (v) => refused(t, () => runTrace({ name: 'tdp-ept', hostPageSize: v } as ConfigSpec, base()), { param: 'config.hostPageSize', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => runTrace({ name: 'tdp-ept', nxHugePages: v } as ConfigSpec, base()), { param: 'config.nxHugePages', value: v })), FC);
  });

  it('traces: bad fields, bad ops, unmap/wp counts of -1, NaN, 10^9 and 2^40', () => {
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => runTrace('tdp-ept', { ...base(), name: v }), { param: 'trace.name', value: v })), FC);
    fc.assert(fc.property(badInt(1, 64), (v) => refused(t, () => runTrace('tdp-ept', { ...base(), spaces: v }), { param: 'trace.spaces', value: v })), FC);
    fc.assert(fc.property(badInt(1, 2 ** 40), (v) => refused(t, () => runTrace('tdp-ept', { ...base(), memory: v }), { param: 'trace.memory', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => runTrace('tdp-ept', { ...base(), ops: v }), { param: 'trace.ops', value: v })), FC);
    for (const kind of ['unmap', 'wp'] as const) {
      for (const n of [-1, NaN, 0, 1.5, '4', 1e9, 2 ** 40]) {
        const tr = base();
        tr.ops.push({ t: kind, va: 0x4000_0000_00, n: n as number });
        refused(t, () => runTrace('tdp-ept', tr), { param: `trace op ${tr.ops.length - 1}` });
      }
    }
    fc.assert(fc.property(badEnum(['r', 'w', 'x', 'map', 'unmap', 'wp', 'cr3', 'invlpg', 'flush', 'convert', 'nxrecover']), (v) => {
      refused(t, () => runTrace('tdp-ept', { ...base(), ops: [{ t: v, va: 0 }] }), { param: 'trace op 0' });
    }), FC);
    fc.assert(fc.property(badInt(0, 2 ** 47 - 1), (v) => refused(t, () => runTrace('tdp-ept', { ...base(), ops: [{ t: 'r', va: v }] }), { param: 'trace op 0' })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => runTrace('tdp-ept', { ...base(), ops: [{ t: 'r', va: 0, u: v }] }), { param: 'trace op 0' })), FC);
    for (const v of [null, 'trace', 5]) refused(t, () => runTrace('tdp-ept', v), { param: 'trace', value: v });
  });

  it('the per-op page limit is a LimitExceededError naming the limit', () => {
    const tr = base();
    tr.ops.push({ t: 'unmap', va: 0x4000_0000_00, n: MAX_PAGES_PER_TRACE_OP + 1 });
    let err: unknown;
    try {
      createRun('shadow', tr);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as Error).message).toContain(String(MAX_PAGES_PER_TRACE_OP));
  });

  it('options: sampleEvery, signal and onProgress of the wrong type; step(n) with a bad n leaves the run where it was', () => {
    fc.assert(fc.property(badInt(1, 2 ** 40).filter((v) => v !== undefined), (v) => refused(t, () => createRun('tdp-ept', base(), { sampleEvery: v as number }), { param: 'sampleEvery' })), FC);
    fc.assert(fc.property(fc.constantFrom(5, 'x', {}, true), (v) => refused(t, () => createRun('tdp-ept', base(), { signal: v as never }), { param: 'options.signal', value: v })), FC);
    fc.assert(fc.property(fc.constantFrom(5, 'x', {}, true), (v) => refused(t, () => createRun('tdp-ept', base(), { onProgress: v as never }), { param: 'options.onProgress', value: v })), FC);
    const run = createRun('tdp-ept', base());
    run.step(3);
    fc.assert(fc.property(fc.oneof(fc.constant(-1), fc.constant(NaN), fc.constant(1.5), fc.constant('2'), fc.constant(2n)), (v) => refused(t, () => run.step(v as number), { param: 'step(n)', value: v, state: () => `${run.position}` })), FC);
  });

  it('a run stops when its signal is aborted, and reports progress', () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const run = createRun('tdp-ept', sequentialScan({ pages: 64, passes: 40 }), { signal: ac.signal, sampleEvery: 512, onProgress: (d) => seen.push(d) });
    run.step(1024);
    ac.abort();
    expect(() => run.step()).toThrow(OperationAbortedError);
    expect(run.position).toBe(1024); // the check runs every 1024 ops: nothing after the abort
    expect(seen).toEqual([512, 1024]);
  });
});
