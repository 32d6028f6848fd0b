/**
 * Each generator's parameter checks, apart from the generator: the generator runs them before it
 * builds any op, and a sweep runs them for every job before any job starts, which costs
 * microseconds where generating the trace costs 0.1 s per 10^5 ops (a sweep generated every trace
 * twice: once to check it, once to run it). Each returns the values the generator derives while
 * checking (defaults applied), so the two cannot drift apart.
 *
 * The checks bound every quantity that places an op (pages, counts, fractions, address spaces),
 * so a trace built from checked parameters passes validateTrace; the sweep's job still validates
 * the trace it runs (runTrace does), so a generator that broke this would fail its job with the
 * same typed error, before the sweep's table exists.
 */
import { LimitExceededError } from '../errors';
import { checkInt, refuse } from '../validate/checks';
import { checkOpCount, checkParams, count, fraction, optCount, optFlag, pageCount, seedOf } from './check-generator-params';
import { MAX_PAGES_PER_TRACE_OP } from './trace';

/** Most address spaces a trace may switch between (each has its own page tables). */
export const MAX_ADDRESS_SPACES = 4096;

export function sequentialParams(p: { pages: number; passes?: number; write?: boolean; seed?: number }): { passes: number } {
  checkParams(p);
  pageCount('pages', p.pages);
  const passes = optCount('passes', p.passes, 2);
  optFlag('write', p.write, false);
  seedOf(p.seed, 0);
  checkOpCount(1 + passes * p.pages, p);
  return { passes };
}

export function uniformParams(p: { pages: number; accesses: number; writeFraction?: number; seed: number }): { writeFraction: number; seed: number } {
  checkParams(p);
  pageCount('pages', p.pages);
  checkOpCount(1 + count('accesses', p.accesses), p);
  const writeFraction = fraction('writeFraction', p.writeFraction, 0.3);
  return { writeFraction, seed: seedOf(p.seed) };
}

export function stridedParams(p: { pages: number; stride: number; accesses: number; seed?: number }): void {
  checkParams(p);
  pageCount('pages', p.pages);
  count('stride', p.stride);
  checkOpCount(1 + count('accesses', p.accesses), p);
  seedOf(p.seed, 0);
}

export function hotColdParams(p: { pages: number; accesses: number; hotFraction?: number; hotProbability?: number; seed: number }): { hotFraction: number; hotProbability: number; seed: number } {
  checkParams(p);
  pageCount('pages', p.pages);
  checkOpCount(1 + count('accesses', p.accesses), p);
  const hotFraction = fraction('hotFraction', p.hotFraction, 0.1);
  const hotProbability = fraction('hotProbability', p.hotProbability, 0.9);
  return { hotFraction, hotProbability, seed: seedOf(p.seed) };
}

export function ptChurnParams(p: { windows: number; pagesPerWindow: number; rounds: number; seed: number }): { seed: number } {
  checkParams(p);
  pageCount('windows', p.windows);
  pageCount('pagesPerWindow', p.pagesPerWindow);
  if (p.windows * p.pagesPerWindow > MAX_PAGES_PER_TRACE_OP) refuse('p.pagesPerWindow', 'trace-pages-limit', `times p.windows must be at most ${MAX_PAGES_PER_TRACE_OP} pages`, p.pagesPerWindow, LimitExceededError);
  checkOpCount(count('rounds', p.rounds) * (2 * p.pagesPerWindow + 2), p);
  return { seed: seedOf(p.seed) };
}

export function forkStormParams(p: { pages: number; forks: number; writesPerFork: number; seed: number }): { seed: number } {
  checkParams(p);
  // The set-up maps twice the pages (a private copy of each).
  checkInt('p.pages', p.pages, { min: 1, max: MAX_PAGES_PER_TRACE_OP / 2 });
  checkOpCount(1 + p.pages + count('forks', p.forks) * (2 + 3 * count('writesPerFork', p.writesPerFork)), p);
  return { seed: seedOf(p.seed) };
}

export function addressSpacesParams(p: { spaces: number; pagesPerSpace: number; slices: number; accessesPerSlice: number; seed: number }): { seed: number } {
  checkParams(p);
  checkInt('p.spaces', p.spaces, { min: 1, max: MAX_ADDRESS_SPACES });
  pageCount('pagesPerSpace', p.pagesPerSpace);
  if (p.spaces * p.pagesPerSpace > MAX_PAGES_PER_TRACE_OP) refuse('p.pagesPerSpace', 'trace-pages-limit', `times p.spaces must be at most ${MAX_PAGES_PER_TRACE_OP} pages`, p.pagesPerSpace, LimitExceededError);
  checkOpCount(2 * p.spaces + count('slices', p.slices) * (1 + count('accessesPerSlice', p.accessesPerSlice)), p);
  return { seed: seedOf(p.seed) };
}

export function invlpgParams(p: { pages: number; rounds: number; seed: number }): { seed: number } {
  checkParams(p);
  checkInt('p.pages', p.pages, { min: 1, max: MAX_PAGES_PER_TRACE_OP / 2 });
  checkOpCount(1 + 3 * count('rounds', p.rounds), p);
  return { seed: seedOf(p.seed) };
}

export function tdMixParams(p: { pages: number; accesses: number; sharedFraction?: number; conversions?: number; seed: number }): { sharedFraction: number; shared: number; conversions: number; seed: number } {
  checkParams(p);
  pageCount('pages', p.pages);
  const sharedFraction = fraction('sharedFraction', p.sharedFraction, 0.25);
  const shared = Math.floor(p.pages * sharedFraction);
  // Conversions pick a private page: at least one must stay private.
  if (shared >= p.pages) refuse('p.sharedFraction', 'trace-td-private', 'must leave at least one private page', sharedFraction);
  const conversions = optCount('conversions', p.conversions, 0);
  checkOpCount(2 + count('accesses', p.accesses) + 3 * Math.min(conversions, p.accesses), p);
  return { sharedFraction, shared, conversions, seed: seedOf(p.seed) };
}
