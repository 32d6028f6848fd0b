/**
 * Seeded workload generators. Each returns a complete trace (set-up included); the same seed and
 * parameters give the same trace on every machine.
 */
import type { Trace, TraceOp } from './trace';
import { checkInt } from '../validate/checks';
import { addressSpacesParams, forkStormParams, hotColdParams, invlpgParams, ptChurnParams, sequentialParams, stridedParams, tdMixParams, uniformParams } from './generator-params';

export { MAX_ADDRESS_SPACES } from './generator-params';

const PAGE = 4096;
/** Workloads map their data at this GVA (the lower canonical half, away from 0). */
export const WORKLOAD_VA = 0x4000_0000_00;
/** Page tables live in the first 16 MiB of guest memory; data GPAs start after them. */
export const DATA_PA = 0x100_0000;

/** xorshift32, the same generator the benchmarks use. */
export function xorshift(seed: number): () => number {
  checkInt('seed', seed, { min: Number.MIN_SAFE_INTEGER });
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function memoryFor(pages: number): number {
  const bytes = DATA_PA + pages * PAGE;
  return Math.ceil(bytes / 0x20_0000) * 0x20_0000;
}

function setup(pages: number, opts: { shared?: boolean } = {}): TraceOp[] {
  return [{ t: 'map', va: WORKLOAD_VA, pa: DATA_PA, n: pages, w: true, u: true, ...(opts.shared ? { s: true } : {}) }];
}

const va = (page: number, off = 0) => WORKLOAD_VA + page * PAGE + off;

export function sequentialScan(p: { pages: number; passes?: number; write?: boolean; seed?: number }): Trace {
  const { passes } = sequentialParams(p);
  const ops = setup(p.pages);
  for (let k = 0; k < passes; k++) for (let i = 0; i < p.pages; i++) ops.push({ t: p.write ? 'w' : 'r', va: va(i) });
  return { name: 'sequential', seed: p.seed ?? 0, params: { pages: p.pages, passes, write: !!p.write }, spaces: 1, memory: memoryFor(p.pages), ops };
}

export function uniformRandom(p: { pages: number; accesses: number; writeFraction?: number; seed: number }): Trace {
  const { writeFraction: wf, seed } = uniformParams(p);
  const r = xorshift(seed);
  const ops = setup(p.pages);
  for (let i = 0; i < p.accesses; i++) ops.push({ t: r() / 2 ** 32 < wf ? 'w' : 'r', va: va(r() % p.pages, (r() % 512) * 8) });
  return { name: 'uniform', seed: p.seed, params: { pages: p.pages, accesses: p.accesses, writeFraction: wf }, spaces: 1, memory: memoryFor(p.pages), ops };
}

export function strided(p: { pages: number; stride: number; accesses: number; seed?: number }): Trace {
  stridedParams(p);
  const ops = setup(p.pages);
  for (let i = 0; i < p.accesses; i++) ops.push({ t: 'r', va: va((i * p.stride) % p.pages) });
  return { name: 'strided', seed: p.seed ?? 0, params: { pages: p.pages, stride: p.stride, accesses: p.accesses }, spaces: 1, memory: memoryFor(p.pages), ops };
}

export function hotCold(p: { pages: number; accesses: number; hotFraction?: number; hotProbability?: number; seed: number }): Trace {
  const { hotFraction: hf, hotProbability: hp, seed } = hotColdParams(p);
  const r = xorshift(seed);
  const hot = Math.max(1, Math.floor(p.pages * hf));
  const ops = setup(p.pages);
  for (let i = 0; i < p.accesses; i++) {
    const page = r() / 2 ** 32 < hp ? r() % hot : hot + (r() % Math.max(1, p.pages - hot));
    ops.push({ t: r() % 4 === 0 ? 'w' : 'r', va: va(page) });
  }
  return { name: 'hot-cold', seed: p.seed, params: { pages: p.pages, accesses: p.accesses, hotFraction: hf, hotProbability: hp }, spaces: 1, memory: memoryFor(p.pages), ops };
}

/** Page-table churn: map and unmap windows (mmap/munmap), touching each window, then flushing. */
export function ptChurn(p: { windows: number; pagesPerWindow: number; rounds: number; seed: number }): Trace {
  const r = xorshift(ptChurnParams(p).seed);
  const pages = p.windows * p.pagesPerWindow;
  const ops: TraceOp[] = [];
  for (let k = 0; k < p.rounds; k++) {
    const w = r() % p.windows;
    const base = w * p.pagesPerWindow;
    const target = (r() % p.windows) * p.pagesPerWindow;
    ops.push({ t: 'map', va: va(base), pa: DATA_PA + target * PAGE, n: p.pagesPerWindow, w: true, u: true });
    for (let i = 0; i < p.pagesPerWindow; i++) ops.push({ t: 'w', va: va(base + i) });
    ops.push({ t: 'unmap', va: va(base), n: p.pagesPerWindow });
    for (let i = 0; i < p.pagesPerWindow; i++) ops.push({ t: 'invlpg', va: va(base + i) });
  }
  return { name: 'pt-churn', seed: p.seed, params: { windows: p.windows, pagesPerWindow: p.pagesPerWindow, rounds: p.rounds }, spaces: 1, memory: memoryFor(pages), ops };
}

/** Fork-like write-protection storms: write-protect everything, flush, then copy-on-write faults. */
export function forkStorm(p: { pages: number; forks: number; writesPerFork: number; seed: number }): Trace {
  const r = xorshift(forkStormParams(p).seed);
  const ops = setup(p.pages * 2);
  for (let i = 0; i < p.pages; i++) ops.push({ t: 'w', va: va(i) });
  for (let f = 0; f < p.forks; f++) {
    ops.push({ t: 'wp', va: va(0), n: p.pages }, { t: 'flush' });
    for (let i = 0; i < p.writesPerFork; i++) {
      const page = r() % p.pages;
      // The guest's COW handler: a private copy for this page, remapped writable, then the write.
      ops.push({ t: 'map', va: va(page), pa: DATA_PA + (p.pages + page) * PAGE, w: true, u: true }, { t: 'invlpg', va: va(page) }, { t: 'w', va: va(page) });
    }
  }
  return { name: 'fork-storm', seed: p.seed, params: { pages: p.pages, forks: p.forks, writesPerFork: p.writesPerFork }, spaces: 1, memory: memoryFor(p.pages * 2), ops };
}

/** Address-space switches: several processes, each with its own tables, scheduled round-robin. */
export function addressSpaces(p: { spaces: number; pagesPerSpace: number; slices: number; accessesPerSlice: number; seed: number }): Trace {
  const r = xorshift(addressSpacesParams(p).seed);
  const ops: TraceOp[] = [];
  for (let s = 0; s < p.spaces; s++) {
    ops.push({ t: 'cr3', as: s }, { t: 'map', va: WORKLOAD_VA, pa: DATA_PA + s * p.pagesPerSpace * PAGE, n: p.pagesPerSpace, w: true, u: true });
  }
  for (let k = 0; k < p.slices; k++) {
    ops.push({ t: 'cr3', as: k % p.spaces });
    for (let i = 0; i < p.accessesPerSlice; i++) ops.push({ t: r() % 3 === 0 ? 'w' : 'r', va: va(r() % p.pagesPerSpace), u: true });
  }
  return { name: 'address-spaces', seed: p.seed, params: { spaces: p.spaces, pagesPerSpace: p.pagesPerSpace, slices: p.slices, accessesPerSlice: p.accessesPerSlice }, spaces: p.spaces, memory: memoryFor(p.spaces * p.pagesPerSpace), ops };
}

/** INVLPG patterns: remap pages one by one, invalidating each, and touch them. */
export function invlpgPattern(p: { pages: number; rounds: number; seed: number }): Trace {
  const r = xorshift(invlpgParams(p).seed);
  const ops = setup(p.pages * 2);
  for (let k = 0; k < p.rounds; k++) {
    const page = r() % p.pages;
    ops.push({ t: 'map', va: va(page), pa: DATA_PA + (p.pages + (r() % p.pages)) * PAGE, w: true, u: true }, { t: 'invlpg', va: va(page) }, { t: 'r', va: va(page) });
  }
  return { name: 'invlpg', seed: p.seed, params: { pages: p.pages, rounds: p.rounds }, spaces: 1, memory: memoryFor(p.pages * 2), ops };
}

/** A TD's mix of private and shared memory, with conversions between them. */
export function tdMix(p: { pages: number; accesses: number; sharedFraction?: number; conversions?: number; seed: number }): Trace {
  const { sharedFraction: sf, shared, seed } = tdMixParams(p);
  const r = xorshift(seed);
  const ops: TraceOp[] = [
    { t: 'map', va: WORKLOAD_VA, pa: DATA_PA, n: p.pages - shared, w: true, u: true },
    ...(shared > 0 ? [{ t: 'map' as const, va: va(p.pages - shared), pa: DATA_PA + (p.pages - shared) * PAGE, n: shared, w: true, u: true, s: true }] : []),
  ];
  const conv = p.conversions ?? 0;
  const every = conv > 0 ? Math.floor(p.accesses / (conv + 1)) : Infinity;
  for (let i = 0; i < p.accesses; i++) {
    ops.push({ t: r() % 4 === 0 ? 'w' : 'r', va: va(r() % p.pages) });
    if ((i + 1) % every === 0) {
      const page = r() % (p.pages - shared);
      ops.push({ t: 'convert', gpa: DATA_PA + page * PAGE, to: 'shared' });
      ops.push({ t: 'map', va: va(page), pa: DATA_PA + page * PAGE, w: true, u: true, s: true }, { t: 'invlpg', va: va(page) });
    }
  }
  return { name: 'td-mix', seed: p.seed, params: { pages: p.pages, accesses: p.accesses, sharedFraction: sf, conversions: conv }, spaces: 1, memory: memoryFor(p.pages), ops };
}
