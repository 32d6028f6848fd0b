/**
 * Bad input to the workload generators (src/workload/generators.ts, nx-exec-mix.ts): counts that
 * are negative, fractional, NaN, bigints or strings, fractions outside [0, 1], option values such
 * as 'toString', and sizes whose trace would pass MAX_TRACE_OPS (it is built whole: 10^9
 * accesses used to exhaust memory) are refused with the library's error naming the parameter.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  xorshift, sequentialScan, uniformRandom, strided, hotCold, ptChurn, forkStorm, addressSpaces, invlpgPattern, tdMix,
  nxExecPages, nxExecMix, MAX_TRACE_OPS, MAX_PAGES_PER_TRACE_OP,
} from '../../src';
import { FC, Tally, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('generators');
const badCount = badInt(0, MAX_TRACE_OPS);
const badPages = fc.oneof(badInt(1, MAX_PAGES_PER_TRACE_OP), fc.constant(0));
const badFraction = fc.oneof(fc.constantFrom(-0.1, 1.5, NaN, Infinity, '0.5', 1n), junk.filter((v) => typeof v !== 'number' && v !== undefined));
const badSeed = fc.oneof(fc.constantFrom(1.5, NaN, Infinity, '7', 7n, 2 ** 60), junk.filter((v) => v !== undefined));
const R = { ...FC, numRuns: 12 };

/** Every generator with a valid parameter set. */
const GEN = {
  sequentialScan: [sequentialScan, { pages: 8, passes: 1, seed: 1 }],
  uniformRandom: [uniformRandom, { pages: 8, accesses: 10, seed: 1 }],
  strided: [strided, { pages: 8, stride: 3, accesses: 10 }],
  hotCold: [hotCold, { pages: 8, accesses: 10, seed: 1 }],
  ptChurn: [ptChurn, { windows: 2, pagesPerWindow: 4, rounds: 3, seed: 1 }],
  forkStorm: [forkStorm, { pages: 8, forks: 2, writesPerFork: 3, seed: 1 }],
  addressSpaces: [addressSpaces, { spaces: 2, pagesPerSpace: 4, slices: 3, accessesPerSlice: 2, seed: 1 }],
  invlpgPattern: [invlpgPattern, { pages: 8, rounds: 3, seed: 1 }],
  tdMix: [tdMix, { pages: 8, accesses: 10, conversions: 1, seed: 1 }],
  nxExecMix: [nxExecMix, { regions: 1, execShare: 0.5, seed: 1 }],
} as const;
type Gen = (p: object) => unknown;

describe('workload generators refuse bad parameters before generating', () => {
  it.each(Object.entries(GEN))('%s: p not an object; counts, fractions, flags, seed of the wrong kind', (_n, [g, good]) => {
    const f = g as Gen;
    for (const v of [null, undefined, 5, 'p', Symbol('p')]) refused(t, () => f(v as never), { param: 'p', value: v });
    for (const [k, v0] of Object.entries(good)) {
      const arb = k === 'seed' ? badSeed : k === 'execShare' ? badFraction : ['pages', 'windows', 'pagesPerWindow', 'pagesPerSpace', 'spaces', 'regions'].includes(k) ? badPages : badCount;
      fc.assert(fc.property(arb, (v) => refused(t, () => f({ ...good, [k]: v }), { param: `p.${k}` })), R);
      void v0;
    }
  });

  it('optional fractions, flags and choices', () => {
    fc.assert(fc.property(badFraction, (v) => {
      refused(t, () => uniformRandom({ pages: 8, accesses: 1, seed: 1, writeFraction: v as number }), { param: 'p.writeFraction' });
      refused(t, () => hotCold({ pages: 8, accesses: 1, seed: 1, hotFraction: v as number }), { param: 'p.hotFraction' });
      refused(t, () => hotCold({ pages: 8, accesses: 1, seed: 1, hotProbability: v as number }), { param: 'p.hotProbability' });
      refused(t, () => tdMix({ pages: 8, accesses: 1, seed: 1, sharedFraction: v as number }), { param: 'p.sharedFraction' });
    }), FC);
    // A TD mix whose shared share leaves no private page could not convert one.
    refused(t, () => tdMix({ pages: 8, accesses: 1, seed: 1, sharedFraction: 1 }), { param: 'p.sharedFraction', value: 1 });
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => sequentialScan({ pages: 8, write: v as boolean }), { param: 'p.write', value: v });
      refused(t, () => nxExecMix({ regions: 1, execShare: 0.5, seed: 1, load: v as boolean }), { param: 'p.load', value: v });
    }), FC);
    fc.assert(fc.property(badEnum(['spread', 'packed']), (v) => refused(t, () => nxExecMix({ regions: 1, execShare: 0.5, seed: 1, layout: v as 'spread' }), { param: 'p.layout', value: v })), FC);
    fc.assert(fc.property(badEnum(['read', 'exec', 'none']), (v) => refused(t, () => nxExecMix({ regions: 1, execShare: 0.5, seed: 1, after: v as 'read' }), { param: 'p.after', value: v })), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => nxExecMix({ regions: 1, execShare: 0.5, seed: 1, recoverRatio: v as number }), { param: 'p.recoverRatio', value: v })), FC);
  });

  it('sizes whose trace passes MAX_TRACE_OPS: LimitExceededError before any op is built', () => {
    refused(t, () => uniformRandom({ pages: 8, accesses: 1e9, seed: 1 }), { param: 'p' });
    refused(t, () => sequentialScan({ pages: 2 ** 20, passes: 100 }), { param: 'p' });
    refused(t, () => strided({ pages: 8, stride: 1, accesses: MAX_TRACE_OPS }), { param: 'p' });
    refused(t, () => hotCold({ pages: 8, accesses: MAX_TRACE_OPS, seed: 1 }), { param: 'p' });
    refused(t, () => ptChurn({ windows: 2, pagesPerWindow: 4096, rounds: 10_000, seed: 1 }), { param: 'p' });
    refused(t, () => forkStorm({ pages: 8, forks: 100_000, writesPerFork: 100, seed: 1 }), { param: 'p' });
    refused(t, () => addressSpaces({ spaces: 2, pagesPerSpace: 4, slices: 1_000_000, accessesPerSlice: 100, seed: 1 }), { param: 'p' });
    refused(t, () => invlpgPattern({ pages: 8, rounds: 10_000_000, seed: 1 }), { param: 'p' });
    refused(t, () => tdMix({ pages: 8, accesses: MAX_TRACE_OPS, conversions: 10, seed: 1 }), { param: 'p' });
    refused(t, () => nxExecMix({ regions: 16_000, execShare: 0.5, passes: 100, seed: 1 }), { param: 'p' });
    refused(t, () => ptChurn({ windows: 2 ** 20, pagesPerWindow: 2 ** 20, rounds: 1, seed: 1 }), { param: 'p.pagesPerWindow' });
  });

  it('xorshift and nxExecPages: seed, pages, k (at most pages), layout', () => {
    fc.assert(fc.property(badSeed, (v) => {
      refused(t, () => xorshift(v as number), { param: 'seed', value: v });
      refused(t, () => nxExecPages(8, 2, 'spread', v as number), { param: 'seed', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, MAX_PAGES_PER_TRACE_OP), (v) => refused(t, () => nxExecPages(v as number, 0, 'packed', 1), { param: 'pages', value: v })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 8), fc.constant(9)), (v) => refused(t, () => nxExecPages(8, v as number, 'spread', 1), { param: 'k', value: v })), FC);
    fc.assert(fc.property(badEnum(['spread', 'packed']), (v) => refused(t, () => nxExecPages(8, 2, v as 'spread', 1), { param: 'layout', value: v })), FC);
  });
});
