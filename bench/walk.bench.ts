/** gva walk cost: random 4 KiB walks over a guest with 1 Mi mapped pages, 4- and 5-level. */
import { GuestMemory, PageTableBuilder, GvaWalker, CR0, CR4, EFER, encodeAccess, gpa, DEFAULT_FEATURES } from '../src';
import { rng, nsPerOp, pairedNsPerOp, type BenchResult } from './harness';
import type { NativePairing } from './native.bench';
import { walkTables, type WalkInputs } from '../src/walker/walk';
import type { WalkScratch } from '../src/walker/walk-scratch';
import type { Gpa, Gva } from '../src/address/address';
import { makeRecordFloor } from './record-floor';

const PAGES = 1 << 20;

/** The walker of the bench's guest: long mode, 4- or 5-level, with SMEP, SMAP, PKE and NXE on (every check a walk can make). */
export function benchWalker(mem: GuestMemory, root: Gpa, levels: 4 | 5): GvaWalker {
  return new GvaWalker(mem, {
    cr0: CR0.PE | CR0.PG | CR0.WP,
    cr3: root,
    cr4: CR4.PAE | CR4.SMEP | CR4.SMAP | CR4.PKE | (levels === 5 ? CR4.LA57 : 0n),
    efer: EFER.LME | EFER.LMA | EFER.NXE,
    pkru: 0,
  }, DEFAULT_FEATURES);
}

function guest(levels: 4 | 5): { w: GvaWalker; base: bigint } {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 8n << 30n });
  const b = new PageTableBuilder(mem, { mode: levels === 5 ? 'paging5' : 'paging4', pool: { base: gpa(0x1_0000_0000n), size: 64n << 20n } });
  // Spread over several top-level entries so every level does real indexing work.
  const base = levels === 5 ? 0x00ff_8000_0000_0000n : 0x7f00_0000_0000n;
  b.map(base, gpa(0x2_0000_0000n), { size: '4K', count: PAGES, flags: { writable: true, user: true } });
  return { w: benchWalker(mem, b.root, levels), base };
}

/** `pairNative`: the C walker's paired rounds (native.bench.ts), run on the 4-level raw walk's own body. */
export function walkBench(pairNative?: NativePairing): BenchResult[] {
  const out: BenchResult[] = [];
  for (const levels of [4, 5] as const) {
    const { w, base } = guest(levels);
    const N = 1 << 20;
    const r = rng(levels * 7919);
    const his = new Uint32Array(N);
    const los = new Uint32Array(N);
    for (let i = 0; i < N; i++) {
      const va = base + BigInt(r() % PAGES) * 4096n + BigInt(r() & 0xfff);
      his[i] = Number(va >> 32n);
      los[i] = Number(va & 0xffffffffn);
    }
    const acc = encodeAccess({ kind: 'write', user: true });
    // First pass sets every A/D bit (as a guest touching its memory would); the timed passes then
    // do the full permission, reserved-bit and A/D checks on a warm guest.
    for (let i = 0; i < N; i++) w.walkRaw(his[i]!, los[i]!, acc);
    let sink = 0;
    const raw = (n: number): void => {
      let t = 0; // a local, as walk.c's TIME: a captured `sink` boxes a new heap number per walk
      for (let i = 0; i < n; i++) t += w.walkRaw(his[i]!, los[i]!, acc) + w.lastGfn;
      sink += t;
    };
    const ns = nsPerOp(N, 7, raw);
    if (sink === -1) console.log(sink);
    out.push({ name: `gva_walk.${levels}level.random4k.raw`, value: ns, unit: 'ns/walk', note: 'median of 7 rounds, 1 Mi walks each' });
    // The same body and walks as the rounds above (walk.c uses the same seed and layout).
    if (levels === 4 && pairNative) out.push(...pairNative('gva', raw, N));
    // The same walks through walkRawBatch (walk-batch-hot.ts: the hot walk's tests in one loop), in
    // batches of 4096 so the outputs stay in cache; a separate figure, not the raw walk's.
    const B = 4096;
    const outGfn = new Float64Array(B);
    const outStop = new Uint8Array(B);
    const batch = (n: number): void => {
      let t = 0;
      for (let i = 0; i < n; i += B) {
        const e = Math.min(n, i + B);
        w.walkRawBatch(his.subarray(i, e), los.subarray(i, e), acc, outGfn, outStop);
        for (let j = 0; j < e - i; j++) t += outStop[j]! + outGfn[j]!;
      }
      sink += t;
    };
    const nsBatch = nsPerOp(N, 7, batch);
    out.push({ name: `gva_walk.${levels}level.random4k.batch`, value: nsBatch, unit: 'ns/walk', note: 'walkRawBatch, 4096 walks per call, outputs read; median of 7 rounds, 1 Mi walks each' });
    // The same walks as C's loop over its array of addresses: one call per 4096 walks
    // (walk-batch-hot.ts, 8 walks at a time: walk-batch-lanes.ts); then against C walking them 8 at
    // a time as well (walk.c: walk4_lanes), so the ratio is not that of two algorithms.
    if (levels === 4 && pairNative) out.push(...pairNative('gva', batch, N, 'batch'), ...pairNative('gva-lanes', batch, N, 'batch'));
    if (levels === 4) {
      // What walk-fast.ts buys: the same walks through the full walk (walkTables, per-level trace).
      const { inputs, scratch } = w as unknown as { inputs: WalkInputs; scratch: WalkScratch };
      const nsFull = nsPerOp(N, 7, (n) => {
        let t = 0; // a local, as walk.c's TIME: a captured `sink` boxes a new heap number per walk
        for (let i = 0; i < n; i++) t += walkTables(inputs, scratch, his[i]!, los[i]!, acc) + scratch.gfn;
        sink += t;
      });
      out.push({ name: 'gva_walk.4level.random4k.full', value: nsFull, unit: 'ns/walk', note: 'walkTables on the same walks (no fast path)' });
      out.push({ name: 'gva_walk.fast_over_full', value: ns / nsFull, unit: 'x', note: 'walkRaw (walk-fast.ts) / walkTables; the fast copy stays while this is clearly below 1' });
    }
    // The record-producing API (canonical check, bigint edge, per-level trace), timed in rounds that
    // alternate with rounds of the raw walk above, each round the same 1 Mi walks (harness.ts:
    // pairedNsPerOp). Equal rounds: a collection runs before every timed round and evicts the
    // tables from the cache, and a round refills them; in rounds of 200k walks the raw walk took
    // 1.33-1.50x its time in rounds of 1 Mi (in one process, alternated with 1 Mi raw rounds), so a
    // record round shorter than the raw round it is divided by pays for the refill in its ratio
    // what the raw round does not. The record/raw ratio is taken round by round, so the load the
    // rest of the machine puts on the two figures is the same.
    const M = N;
    const vas: bigint[] = [];
    for (let i = 0; i < M; i++) vas.push((BigInt(his[i]!) << 32n) | BigInt(los[i]!));
    const a = { kind: 'write' as const, user: true };
    const pair = pairedNsPerOp(N, (n) => {
      let t = 0;
      for (let i = 0; i < n; i++) t += w.walkRaw(his[i]!, los[i]!, acc) + w.lastGfn;
      sink += t;
    }, M, (n) => {
      let t = 0; // a local, as in the raw loops (a captured `sink` would box a heap number per walk)
      for (let i = 0; i < n; i++) t += w.walk(vas[i]!, a).level;
      sink += t;
    }, 21);
    out.push({ name: `gva_walk.${levels}level.random4k.record`, value: pair.b, unit: 'ns/walk', note: 'walk() with full trace record (read-only walks: walk-record-fast.ts); median of 21 rounds of 1 Mi walks, alternating with rounds of the same 1 Mi raw walks' });
    out.push({ name: `gva_walk.${levels}level.random4k.record_over_raw`, value: pair.ratio, unit: 'x', note: `median of the 21 rounds' record/raw (raw ${pair.a.toFixed(1)} ns/walk in those rounds)` });
    if (levels === 4) {
      // The floor of any record walk with this record's shape (record-floor.ts): the raw walk, then
      // the record's objects and bigints, nothing looked up. Paired with the raw walk as above.
      const floor = makeRecordFloor(w);
      const pf = pairedNsPerOp(N, (n) => {
        let t = 0;
        for (let i = 0; i < n; i++) t += w.walkRaw(his[i]!, los[i]!, acc) + w.lastGfn;
        sink += t;
      }, M, (n) => {
        let t = 0;
        for (let i = 0; i < n; i++) t += floor(his[i]!, los[i]!, acc, vas[i]! as Gva, a)!.level;
        sink += t;
      }, 21);
      out.push({ name: 'gva_walk.4level.random4k.record_floor', value: pf.b, unit: 'ns/walk', note: 'walkRaw, then the objects and bigints of a 4 KiB WalkOk (record-floor.ts): no record walk with this record shape takes less; 21 rounds as record' });
      out.push({ name: 'gva_walk.4level.random4k.record_floor_over_raw', value: pf.ratio, unit: 'x', note: `median of the 21 rounds' floor/raw (raw ${pf.a.toFixed(1)} ns/walk in those rounds)` });
    }
  }
  return out;
}
