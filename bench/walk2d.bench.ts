/**
 * 2D walk cost: an L2 access through L2's 4-level tables and L1's 4-level EPT12 (24 memory
 * references), random 4 KiB pages over 1 Mi mapped pages, on a warm guest (every A/D bit already
 * set), against the one-dimensional 4-level walk of the very same L2 tables.
 */
import { GuestMemory, PageTableBuilder, GvaWalker, NgpaWalker, Walk2D, makeEptp, CR0, CR4, EFER, encodeAccess, gpa, DEFAULT_FEATURES } from '../src';
import { rng, nsPerOp, pairedNsPerOp, type BenchResult } from './harness';
import type { NativePairing } from './native.bench';
import { makeRecordFloor2D } from './record-floor-2d';
import type { Gva } from '../src/address/address';

const PAGES = 1 << 20;
const EPT_POOL = 0x0n; // EPT12 tables, GPA
const L2_POOL = 0x1_0000_0000n; // L2 tables: nGPA = GPA (identity-mapped), so the builder writes them in place
const DATA_N = 0x2_0000_0000n; // L2 data, nGPA
const DATA_G = 0x3_0000_0000n; // where EPT12 puts it
const GVA_BASE = 0x7f00_0000_0000n;

function setup() {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 16n << 30n });
  const ept = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(EPT_POOL), size: 64n << 20n } });
  ept.map(L2_POOL, L2_POOL, { count: (64 << 20) / 4096 });
  ept.map(DATA_N, DATA_G, { count: PAGES });
  const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(L2_POOL), size: 64n << 20n } });
  l2.map(GVA_BASE, DATA_N, { count: PAGES, flags: { writable: true, user: true } });
  const nested = NgpaWalker.ept(mem, { eptp: makeEptp({ root: ept.root, adEnabled: true }) });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
  const w2 = new Walk2D(nested, { regs, features: DEFAULT_FEATURES });
  // The same tables walked in one dimension (their nGPAs are GPAs here).
  const w1 = new GvaWalker(mem, regs, DEFAULT_FEATURES);
  return { w1, w2 };
}

/** `pairNative`: the C walker's paired rounds (native.bench.ts), run on the raw 2D walk's own body. */
export function walk2dBench(pairNative?: NativePairing): BenchResult[] {
  const { w1, w2 } = setup();
  const N = 1 << 20;
  const r = rng(2024);
  const his = new Uint32Array(N);
  const los = new Uint32Array(N);
  for (let i = 0; i < N; i++) {
    const va = GVA_BASE + BigInt(r() % PAGES) * 4096n + BigInt(r() & 0xfff);
    his[i] = Number(va >> 32n);
    los[i] = Number(va & 0xffffffffn);
  }
  const acc = encodeAccess({ kind: 'write', user: true });
  // Warm: the first pass sets every L2 and EPT12 A/D bit, as a guest touching its memory would.
  let refs = 0;
  for (let i = 0; i < N; i++) {
    w2.walkRaw(his[i]!, los[i]!, acc);
    w1.walkRaw(his[i]!, los[i]!, acc);
  }
  for (let i = 0; i < 1000; i++) {
    if (w2.walkRaw(his[i]!, los[i]!, acc) !== 0) throw new Error('walk2d bench: a warm walk faulted');
    refs += w2.lastRefCount;
  }
  let sink = 0;
  const raw2 = (n: number): void => {
    let t = 0; // a local, as walk.c's TIME: a captured `sink` boxes a new heap number per walk
    for (let i = 0; i < n; i++) t += w2.walkRaw(his[i]!, los[i]!, acc) + w2.lastGfn;
    sink += t;
  };
  const ns2 = nsPerOp(N, 7, raw2);
  // The same body and walks as the rounds above (walk.c uses the same seed and layout).
  const pairedC = pairNative ? pairNative('2d', raw2, N) : [];
  const ns1 = nsPerOp(N, 7, (n) => {
    let t = 0; // a local, as walk.c's TIME: a captured `sink` boxes a new heap number per walk
    for (let i = 0; i < n; i++) t += w1.walkRaw(his[i]!, los[i]!, acc) + w1.lastGfn;
    sink += t;
  });
  const M = N;
  const vas: bigint[] = [];
  for (let i = 0; i < M; i++) vas.push((BigInt(his[i]!) << 32n) | BigInt(los[i]!));
  const a = { kind: 'write' as const, user: true };
  // The same 1 Mi walks a round as the raw 2D walk's rounds it alternates with (harness.ts:
  // pairedNsPerOp; walk.bench.ts says why rounds of equal length), the record/raw ratio taken round
  // by round; 11 rounds, as a round of records takes about a second.
  const pair = pairedNsPerOp(N, (n) => {
    let t = 0;
    for (let i = 0; i < n; i++) t += w2.walkRaw(his[i]!, los[i]!, acc) + w2.lastGfn;
    sink += t;
  }, M, (n) => {
    let t = 0; // a local, as in the raw loops
    for (let i = 0; i < n; i++) t += w2.walk(vas[i]!, a).refCount;
    sink += t;
  }, 11);
  // The floor of any 2D record walk with this record's shape (record-floor-2d.ts): the raw walk,
  // then the record's objects and bigints, nothing looked up. Paired with the raw walk as above.
  const floor = makeRecordFloor2D(w2);
  const pf = pairedNsPerOp(N, (n) => {
    let t = 0;
    for (let i = 0; i < n; i++) t += w2.walkRaw(his[i]!, los[i]!, acc) + w2.lastGfn;
    sink += t;
  }, M, (n) => {
    let t = 0;
    for (let i = 0; i < n; i++) t += floor(his[i]!, los[i]!, acc, vas[i]! as Gva, a)!.refCount;
    sink += t;
  }, 11);
  if (sink === -1) console.log(sink);
  return [
    { name: 'walk2d.4x4.random4k.raw', value: ns2, unit: 'ns/walk', note: `median of 7 rounds, 1 Mi walks; ${refs / 1000} memory refs/walk` },
    { name: 'walk2d.4x4.random4k.record', value: pair.b, unit: 'ns/walk', note: 'walk() with the 24-reference trace; median of 11 rounds of 1 Mi walks, alternating with rounds of the same 1 Mi raw walks' },
    { name: 'walk2d.4x4.random4k.record_over_raw', value: pair.ratio, unit: 'x', note: `median of the 11 rounds' record/raw (raw ${pair.a.toFixed(1)} ns/walk in those rounds)` },
    { name: 'walk2d.4x4.random4k.record_floor', value: pf.b, unit: 'ns/walk', note: 'walkRaw, then the objects and bigints of the record (record-floor-2d.ts): no record walk with this record shape takes less; 11 rounds as record' },
    { name: 'walk2d.4x4.random4k.record_floor_over_raw', value: pf.ratio, unit: 'x', note: `median of the 11 rounds' floor/raw (raw ${pf.a.toFixed(1)} ns/walk in those rounds)` },
    { name: 'walk1d.4level.random4k.raw', value: ns1, unit: 'ns/walk', note: 'same L2 tables, one dimension (4 refs)' },
    { name: 'walk2d.4x4.vs.1d', value: ns2 / ns1, unit: 'x', note: 'raw 2D walk / raw 1D walk' },
    ...pairedC,
  ];
}
