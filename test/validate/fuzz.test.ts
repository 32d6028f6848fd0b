/** Bad input to the fuzzer (src/fuzz): typed, named refusals before any machine runs; bounded op counts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FUZZ_CONFIGS, FuzzRun, MAX_FUZZ_OPS, fuzzConfig, runFuzz, LimitExceededError, type FuzzOptions } from '../../src';
import { FC, Tally, badEnum, badInt, junk, refused, refusedRule } from './support';

const t = new Tally('fuzz');
const ok = (): FuzzOptions => ({ config: 'ept-ad', seed: 1, ops: 10 });
const notFn = junk.filter((v) => v !== undefined && typeof v !== 'function');

describe('fuzzConfig / FuzzRun / runFuzz refuse bad options up front', () => {
  it('fuzzConfig: "toString", "__proto__", near misses (the message names the argument)', () => {
    fc.assert(fc.property(badEnum(FUZZ_CONFIGS), (v) => refused(t, () => fuzzConfig(v as string), { param: 'config', value: v })), FC);
  });

  it('FuzzRun and runFuzz: options, config, seed, ops, keep, progressEvery, callbacks', () => {
    for (const make of [(o: FuzzOptions) => new FuzzRun(o), (o: FuzzOptions) => runFuzz(o)]) {
      fc.assert(fc.property(junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), (v) => refused(t, () => make(v as FuzzOptions), { param: 'options', value: v })), FC);
      fc.assert(fc.property(badEnum(FUZZ_CONFIGS), (v) => refused(t, () => make({ ...ok(), config: v as 'npt' }), { param: 'config', value: v })), FC);
      fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => make({ ...ok(), seed: v as number }), { param: 'options.seed', value: v })), FC);
      fc.assert(fc.property(badInt(0, MAX_FUZZ_OPS).filter((v) => !(typeof v === 'number' && Number.isSafeInteger(v) && v > MAX_FUZZ_OPS)), (v) => refused(t, () => make({ ...ok(), ops: v as number }), { param: 'options.ops', value: v })), FC);
      fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => make({ ...ok(), keep: v as number }), { param: 'options.keep', value: v })), FC);
      fc.assert(fc.property(fc.oneof(badInt(1, Number.MAX_SAFE_INTEGER), fc.constant(0)), (v) => refused(t, () => make({ ...ok(), progressEvery: v as number }), { param: 'options.progressEvery', value: v })), FC);
      fc.assert(fc.property(notFn, (v) => {
        refused(t, () => make({ ...ok(), onProgress: v as () => void }), { param: 'options.onProgress', value: v });
        refused(t, () => make({ ...ok(), shouldStop: v as () => boolean }), { param: 'options.shouldStop', value: v });
      }), FC);
    }
  });

  it('an op count of 10^9 or 2^40 is refused (LimitExceededError) before any operation runs', () => {
    let progress = 0;
    for (const ops of [MAX_FUZZ_OPS + 1, 1e9, 2 ** 40]) {
      const e = refusedRule(t, () => runFuzz({ ...ok(), ops, onProgress: () => progress++ }), LimitExceededError, 'limit');
      expect(e.message).toContain(String(MAX_FUZZ_OPS));
      refusedRule(t, () => new FuzzRun({ ...ok(), ops }), LimitExceededError, 'limit');
    }
    expect(progress).toBe(0);
  });

  it('FuzzRun.step: bad counts (was: "3" ran, 1.5 ran two ops), nothing runs', () => {
    const run = new FuzzRun({ ...ok(), ops: 50 });
    run.step(3);
    const state = () => JSON.stringify(run.snapshot());
    fc.assert(fc.property(fc.oneof(badInt(0, MAX_FUZZ_OPS), fc.constant(1e9)), (v) => refused(t, () => run.step(v as number), { param: 'n', value: v, state })), FC);
    expect(run.summary.ops).toBe(3);
  });
});
