/** Bad input to the sweep's job functions (src/sweep): expandJobs, checkTraces, runJob refuse with typed, named errors. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandJobs, checkTraces, checkJobParams, checkJob, runJob, sweep, profiledSweep, MAX_SWEEP_JOBS, LimitExceededError, type Job, type SweepOptions, type SweepSpec } from '../../src';
import { FC, Tally, badEnum, junk, refused, refusedRule } from './support';

const t = new Tally('sweep-edge');
const spec = (): SweepSpec => ({ configs: ['tdp-ept'], workloads: [{ generator: 'sequential', params: { pages: [8] } }], seeds: [1] });
const GENERATORS = ['sequential', 'uniform', 'strided', 'hot-cold', 'pt-churn', 'fork-storm', 'address-spaces', 'invlpg', 'td-mix'];
const notObject = junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v));

describe('expandJobs / checkTraces / runJob refuse bad specs and jobs', () => {
  it('expandJobs: spec, seeds, generators ("toString"), params; a 10^9-job grid is LimitExceededError', () => {
    fc.assert(fc.property(notObject.filter((v) => v !== undefined), (v) => refused(t, () => expandJobs(v as SweepSpec), { param: 'spec', value: v })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant([]), fc.constant([1.5])), (v) => refused(t, () => expandJobs({ ...spec(), seeds: v as number[] }), { param: 'spec.seeds' })), FC);
    fc.assert(fc.property(badEnum(GENERATORS), (v) => refused(t, () => expandJobs({ ...spec(), workloads: [{ generator: v as string, params: {} }] }), { param: 'workload.generator', value: v })), FC);
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    refusedRule(t, () => expandJobs({ ...spec(), workloads: [{ generator: 'uniform', params: { pages: values, accesses: values, writeFraction: values } }] }), LimitExceededError, 'sweep-jobs-limit');
  });

  it('checkTraces: not an array, jobs that are not jobs (was: TypeError reading null.generator), too many jobs', () => {
    const good = expandJobs(spec());
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => checkTraces(v as Job[]), { param: 'jobs', value: v })), FC);
    fc.assert(fc.property(notObject, (v) => refused(t, () => checkTraces([good[0]!, v as Job]), { param: 'jobs[1]', value: v })), FC);
    fc.assert(fc.property(badEnum(GENERATORS), (v) => refused(t, () => checkTraces([{ ...good[0]!, generator: v as string }]), { param: 'jobs[0].generator', value: v })), FC);
    const many = { length: MAX_SWEEP_JOBS + 1 } as unknown as Job[];
    refusedRule(t, () => checkTraces(Object.assign([], many)), LimitExceededError, 'limit');
    expect(() => checkTraces(good)).not.toThrow();
  });

  it('checkJobParams (the sweep\'s up-front check): the same refusals as checkTraces', () => {
    const good = expandJobs(spec());
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => checkJobParams(v as Job[]), { param: 'jobs', value: v })), FC);
    fc.assert(fc.property(notObject, (v) => refused(t, () => checkJobParams([good[0]!, v as Job]), { param: 'jobs[1]', value: v })), FC);
    fc.assert(fc.property(badEnum(GENERATORS), (v) => refused(t, () => checkJobParams([{ ...good[0]!, generator: v as string }]), { param: 'jobs[0].generator', value: v })), FC);
    fc.assert(fc.property(fc.oneof(fc.constant(0), fc.constant(-1), fc.constant(1.5), fc.constant(NaN), fc.constant(2 ** 25)), (v) => refused(t, () => checkJobParams([{ ...good[0]!, params: { pages: v } }]), { param: 'sequential' })), FC);
    const many = { length: MAX_SWEEP_JOBS + 1 } as unknown as Job[];
    refusedRule(t, () => checkJobParams(Object.assign([], many)), LimitExceededError, 'limit');
    expect(() => checkJobParams(good)).not.toThrow();
  });

  it('runJob: not a job, unknown generator ("__proto__"), params not an object, fractional seed', () => {
    const good = expandJobs(spec())[0]!;
    fc.assert(fc.property(notObject, (v) => refused(t, () => runJob(v as Job), { param: 'job', value: v })), FC);
    fc.assert(fc.property(notObject, (v) => refused(t, () => checkJob('job', v), { param: 'job', value: v })), FC);
    fc.assert(fc.property(badEnum(GENERATORS), (v) => refused(t, () => runJob({ ...good, generator: v as string }), { param: 'job.generator', value: v })), FC);
    fc.assert(fc.property(notObject, (v) => refused(t, () => runJob({ ...good, params: v as Job['params'] }), { param: 'job.params', value: v })), FC);
    fc.assert(fc.property(fc.oneof(fc.double({ noInteger: true, noNaN: true }), fc.constant(NaN), fc.constant(2 ** 60), fc.constant('1'), fc.constant(1n), fc.constant(null)), (v) => refused(t, () => runJob({ ...good, seed: v as number }), { param: 'job.seed', value: v })), FC);
  });
  it('sweep: options, workers, onProgress, signal are refused at the call, before a promise or a worker exists (was: sweep(null) a rejected TypeError)', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => sweep(v as SweepOptions), { param: 'options', value: v })), FC);
    fc.assert(fc.property(fc.oneof(fc.constant(0), fc.constant(-1), fc.constant(1.5), fc.constant(NaN), fc.constant('2'), fc.constant(2n)), (v) => refused(t, () => sweep({ ...spec(), workers: v as number }), { param: 'workers' })), FC);
    fc.assert(fc.property(junk.filter((v) => v !== undefined && typeof v !== 'function'), (v) => refused(t, () => sweep({ ...spec(), workers: 1, onProgress: v as () => void }), { param: 'options.onProgress', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => v !== undefined), (v) => refused(t, () => sweep({ ...spec(), workers: 1, signal: v as AbortSignal }), { param: 'options.signal' })), FC);
    // profiledSweep is the same call with the profile kept: the same refusals, at the call.
    fc.assert(fc.property(notObject, (v) => refused(t, () => profiledSweep(v as SweepOptions), { param: 'options', value: v })), FC);
    fc.assert(fc.property(fc.oneof(fc.constant(0), fc.constant(-1.5), fc.constant('2')), (v) => refused(t, () => profiledSweep({ ...spec(), workers: v as number }), { param: 'workers' })), FC);
  });
});
