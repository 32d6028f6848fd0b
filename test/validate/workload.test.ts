/** Bad input to trace runs (src/workload): typed, named refusals before anything is built; bounded ops; abort. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  runTrace, createRun, sequentialScan, MAX_PAGES_PER_TRACE_OP, OperationAbortedError, LimitExceededError, TraceMachine, TraceRun, resolveConfig,
  configLabel, validateTrace, refsModel, literatureRefs, faultsByKindChart, cumulativeFaultsChart, exitsPerThousandChart, memoryRefsChart,
  type Trace, type ConfigSpec, type ResolvedConfig, type AccessResult, type TraceResult,
} from '../../src';
import { FC, Tally, badBool, badEnum, badInt, junk, refused, vmFingerprint } from './support';

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

describe('TraceMachine, configs, results and charts refuse bad input (the machine and its VM unchanged)', () => {
  const tr = (): Trace => ({ ...base(), spaces: 2 });
  const mem = tr().memory;
  const m = new TraceMachine(resolveConfig('tdp-ept'), tr());
  const map0 = tr().ops[0] as { va: number; pa: number };
  const VA = map0.va;
  m.map(VA, map0.pa, 4, true, true);
  const ok = m.access('r', VA, true);
  const state = () => vmFingerprint(m.vm);
  const badVa = fc.oneof(badInt(0, 2 ** 47 - 1), fc.constant(2 ** 47));

  it('constructor: a config resolveConfig did not give, a malformed trace', () => {
    fc.assert(fc.property(junk, (v) => refused(t, () => new TraceMachine(v as ResolvedConfig, tr()), { param: 'config' })), FC);
    refused(t, () => new TraceMachine({ ...resolveConfig('shadow'), paging: 'ept' }, tr()), { param: 'config.paging', value: 'ept' });
    fc.assert(fc.property(fc.constantFrom(null, 5, {}, { ...tr(), spaces: 0 }, { ...tr(), memory: 4096 }), (v) => refused(t, () => new TraceMachine(resolveConfig('tdp-ept'), v as Trace), { param: 'trace' })), FC);
  });

  it('access / invlpg / map / unmap / wp / cr3 / convert / nxRecover: every argument', () => {
    fc.assert(fc.property(badEnum(['r', 'w', 'x']), (v) => refused(t, () => m.access(v as 'r', VA, false), { param: 'kind', value: v, state })), FC);
    fc.assert(fc.property(badVa, (v) => {
      refused(t, () => m.access('r', v as number, false), { param: 'va', value: v, state });
      refused(t, () => m.invlpg(v as number), { param: 'va', value: v, state });
      refused(t, () => m.map(v as number, 0, 1, true, true), { param: 'va', value: v, state });
      refused(t, () => m.unmap(v as number, 1), { param: 'va', value: v, state });
      refused(t, () => m.wp(v as number, 1), { param: 'va', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => m.access('r', VA, v as boolean), { param: 'user', value: v, state })), FC);
    // Misaligned, and a page count of -1, NaN, 10^9, 2^40 or past the VA space / trace memory.
    for (const f of [(v: number) => m.map(VA + 1, 0, v, true, true), (v: number) => m.unmap(VA + 1, v), (v: number) => m.wp(VA + 1, v)]) refused(t, () => f(1), { param: 'va', value: VA + 1, state });
    fc.assert(fc.property(fc.oneof(badInt(1, 2 ** 24), fc.constant(0), fc.constant(1e9)), (v) => {
      refused(t, () => m.map(VA, 0, v as number, true, true), { param: 'n', value: v, state });
      refused(t, () => m.unmap(VA, v as number), { param: 'n', value: v, state });
      refused(t, () => m.wp(VA, v as number), { param: 'n', value: v, state });
    }), FC);
    refused(t, () => m.unmap(2 ** 47 - 4096, 2), { param: 'n', value: 2, state });
    // A page the trace named no op for has no PTE to store to (was a TypeError from storePte).
    refused(t, () => m.unmap(VA + 64 * 4096, 1), { param: 'va', value: VA + 64 * 4096, state });
    refused(t, () => m.map(VA + 64 * 4096, map0.pa, 1, true, true), { param: 'va', value: VA + 64 * 4096, state });
    refused(t, () => m.map(VA, mem - 0x1000, 2, true, true), { param: 'n', value: 2, state });
    fc.assert(fc.property(fc.oneof(badInt(0, mem - 1), fc.constant(mem), fc.constant(0x1001)), (v) => refused(t, () => m.map(VA, v as number, 1, true, true), { param: 'pa', value: v, state })), FC);
    for (const [i, k] of [[3, 'w'], [4, 'u'], [5, 's']] as const) {
      fc.assert(fc.property(badBool, (v) => {
        const args: unknown[] = [VA, 0, 1, true, true, false];
        args[i] = v;
        refused(t, () => m.map(...(args as Parameters<TraceMachine['map']>)), { param: k, value: v, state });
      }), { ...FC, numRuns: 10 });
    }
    fc.assert(fc.property(fc.oneof(badInt(0, 1), fc.constant(2)), (v) => refused(t, () => m.cr3(v as number), { param: 'space', value: v, state })), FC);
    refused(t, () => m.convert(0, 1, 'shared'), { param: 'convert', value: 'tdp-ept', state });
    fc.assert(fc.property(badInt(0, 0xffff_ffff).filter((v) => v !== undefined), (v) => refused(t, () => m.nxRecover(v as number), { param: 'ratio', value: v, state })), FC);
  });

  it('resolveConfig / configLabel / validateTrace / new TraceRun', () => {
    fc.assert(fc.property(badEnum(CONFIGS), (v) => {
      refused(t, () => resolveConfig(v as 'td'), { param: 'config', value: v });
      refused(t, () => configLabel(v as 'td'), { param: 'config', value: v });
      refused(t, () => new TraceRun(v as 'td', base()), { param: 'config', value: v });
    }), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => configLabel({ name: 'shadow', tlb: v as boolean }), { param: 'config.tlb', value: v })), FC);
    fc.assert(fc.property(fc.constantFrom(null, 5, 'trace'), (v) => refused(t, () => validateTrace(v), { param: 'trace', value: v })), FC);
    fc.assert(fc.property(badInt(1, 64), (v) => refused(t, () => validateTrace({ ...base(), spaces: v }), { param: 'trace.spaces', value: v })), FC);
  });

  it('refsModel / literatureRefs', () => {
    fc.assert(fc.property(junk, (v) => refused(t, () => refsModel(v as TraceMachine, ok), { param: 'm', state })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...ok, status: 'guest-pf' })), (v) => refused(t, () => refsModel(m, v as AccessResult), { param: 'r', state })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => literatureRefs(v as ResolvedConfig), { param: 'c' })), FC);
    fc.assert(fc.property(badEnum(['ept', 'npt', 'shadow']), (v) => refused(t, () => literatureRefs({ ...resolveConfig('shadow'), paging: v as 'ept' }), { param: 'c.paging', value: v })), FC);
    fc.assert(fc.property(badInt(0, 5).filter((v) => v !== undefined), (v) => refused(t, () => literatureRefs(resolveConfig('shadow'), v as number), { param: 'guestLevels', value: v })), FC);
    fc.assert(fc.property(badInt(1, 5).filter((v) => v !== undefined), (v) => refused(t, () => literatureRefs(resolveConfig('shadow'), 4, v as number), { param: 'tdpLevels', value: v })), FC);
  });

  it('the four fault charts: results that are not runTrace results, a title that is not a string', () => {
    const r = runTrace('tdp-ept', base());
    for (const chart of [faultsByKindChart, cumulativeFaultsChart, exitsPerThousandChart, memoryRefsChart]) {
      fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => chart(v as TraceResult[]), { param: 'rs', value: v })), { ...FC, numRuns: 10 });
      fc.assert(fc.property(fc.constantFrom(null, 5, {}, { ...r, series: 5 }), (v) => refused(t, () => chart([r, v as TraceResult]), { param: 'rs[1]' })), { ...FC, numRuns: 4 });
      fc.assert(fc.property(junk.filter((v) => typeof v !== 'string' && v !== undefined), (v) => refused(t, () => chart([r], v as string), { param: 'title', value: v })), { ...FC, numRuns: 10 });
    }
  });
});
