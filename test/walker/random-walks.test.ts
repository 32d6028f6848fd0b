/**
 * Randomized (seeded, reproducible) differential test of the GVA walker against the SDM model:
 * random trees of 4K/2M/4M/1G mappings at random (canonical, including kernel-half) addresses,
 * random bit flips in the entries of the walked path (flags, reserved bits, protection keys,
 * address bits — which send the walk to another table or outside memory), random registers and
 * PKRU, and random accesses, for every paging mode and several MAXPHYADDRs. Complements the
 * structured sweeps with combinations nobody enumerated.
 */
import { describe, it, expect } from 'vitest';
import { GuestMemory, GvaWalker, InvalidRegisterStateError, KVM_VERSIONS, PageTableBuilder, gpa, gva, type KvmVersion } from '../../src';
import { describeErrorCode, modelWalk, type ModelAccess, type ModelCpu, type PagingMode } from '../model/sdm-paging-model';
import { compareKvmExtras, compareOutcome, decodeEntry, describeAccess, describeCpu, hex, memReader, regsFor } from './model-compare';

/** xorshift128+ on two 32-bit halves: deterministic and fast. */
class Rng {
  private a: number;
  private b: number;
  constructor(seed: number) {
    this.a = seed >>> 0 || 1;
    this.b = (seed * 2654435761) >>> 0 || 7;
  }
  u32(): number {
    let x = this.a;
    const y = this.b;
    this.a = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.b = x >>> 0;
    return (this.a + this.b) >>> 0;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  bool(p = 0.5): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  big(bits: number): bigint {
    let v = 0n;
    for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(this.u32());
    return BigInt.asUintN(bits, v);
  }
}

type Size = '4K' | '2M' | '4M' | '1G';
const SPAN: Record<Size, bigint> = { '4K': 1n << 12n, '2M': 1n << 21n, '4M': 1n << 22n, '1G': 1n << 30n };

interface Mapping {
  va: bigint;
  size: Size;
}

interface World {
  mode: PagingMode;
  M: number;
  mem: GuestMemory;
  b: PageTableBuilder;
  root: bigint;
  size: 4 | 8;
  maps: Mapping[];
}

function canonical(v: bigint, bits: number): bigint {
  return BigInt.asUintN(64, BigInt.asIntN(bits, v));
}

/** A random address for a mapping of `size`, kept in a per-size region so mappings never overlap. */
function randomVa(rng: Rng, mode: PagingMode, size: Size): bigint {
  if (mode === 'paging32') {
    // PD index < 512 for 4K pages, >= 512 for 4M pages
    const pdi = BigInt(size === '4K' ? rng.int(512) : 512 + rng.int(512));
    return (pdi << 22n) | (size === '4K' ? BigInt(rng.int(1024)) << 12n : 0n);
  }
  if (mode === 'pae') {
    const pdpti = BigInt(size === '4K' ? rng.int(2) : 2 + rng.int(2));
    const pdi = BigInt(rng.int(512));
    return (pdpti << 30n) | (pdi << 21n) | (size === '4K' ? BigInt(rng.int(512)) << 12n : 0n);
  }
  const bits = mode === 'paging5' ? 57 : 48;
  // PDPT index: 4K in [0,256), 2M in [256,448), 1G in [448,512)
  const pdpti = BigInt(size === '4K' ? rng.int(256) : size === '2M' ? 256 + rng.int(192) : 448 + rng.int(64));
  const upper = rng.big(bits - 39) << 39n; // PML5/PML4 indexes (and the sign bit)
  let v = upper | (pdpti << 30n);
  if (size !== '1G') v |= BigInt(rng.int(512)) << 21n;
  if (size === '4K') v |= BigInt(rng.int(512)) << 12n;
  return canonical(v, bits);
}

function makeWorld(rng: Rng, mode: PagingMode, M: number): World {
  const mem = new GuestMemory({ maxPhyAddr: M });
  mem.addSlot({ base: gpa(0n), size: 1n << 32n });
  const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x100000n), size: 0x800000n } });
  const sizes: Size[] = mode === 'paging32' ? ['4K', '4M'] : mode === 'pae' ? ['4K', '2M'] : ['4K', '2M', '1G'];
  const maps: Mapping[] = [];
  const seen = new Set<bigint>();
  const long = mode === 'paging4' || mode === 'paging5';
  for (let i = 0; i < 48; i++) {
    const size = sizes[i % sizes.length]!;
    const va = randomVa(rng, mode, size);
    if (seen.has(va)) continue;
    seen.add(va);
    // target frame: somewhere in the 4 GiB slot, aligned to the page size
    const pa = (BigInt(rng.u32()) & ~(SPAN[size] - 1n)) & 0xffff_ffffn;
    b.map(gva(va), gpa(pa), {
      size,
      flags: {
        writable: rng.bool(0.7),
        user: rng.bool(0.7),
        ...(mode === 'paging32' ? {} : { nx: rng.bool(0.3) }),
        ...(long ? { pkey: rng.bool(0.5) ? rng.int(16) : 0 } : {}),
        accessed: rng.bool(0.3),
        dirty: rng.bool(0.3),
      },
    });
    maps.push({ va, size });
  }
  return { mode, M, mem, b, root: BigInt(b.root), size: mode === 'paging32' ? 4 : 8, maps };
}

function randomCpu(rng: Rng, mode: PagingMode, M: number, gbpages: boolean): ModelCpu {
  const long = mode === 'paging4' || mode === 'paging5';
  return {
    mode,
    maxPhyAddr: M,
    gbpages,
    vendor: rng.bool(0.2) ? 'amd' : 'intel',
    cr0WP: rng.bool(),
    cr4PSE: mode === 'paging32' ? rng.bool(0.8) : rng.bool(),
    cr4SMEP: rng.bool(),
    cr4SMAP: rng.bool(),
    cr4PKE: long && rng.bool(0.6),
    eferNXE: rng.bool(0.7),
    // PKRU: mostly sparse so that some keys are enabled
    pkru: rng.bool(0.3) ? rng.u32() : (rng.u32() & rng.u32() & rng.u32()) >>> 0,
  };
}

function randomAccess(rng: Rng): ModelAccess {
  const kind = rng.pick(['read', 'write', 'fetch'] as const);
  const user = rng.bool();
  const implicit = !user && kind !== 'fetch' && rng.bool(0.25);
  return { kind, user, implicit, ac: rng.bool() };
}

/** Bits worth flipping, with their weights: flags, PK, reserved regions, a few address bits. */
function flipBit(rng: Rng, size: 4 | 8, M: number): number {
  if (size === 4) return rng.pick([0, 1, 2, 5, 6, 7, 7, 8, 12, 13, 14, 16, 17, 20, 21, 21, 22, 30, 31]);
  const r = rng.int(10);
  if (r < 4) return rng.pick([0, 1, 2, 5, 6, 7, 63]);
  if (r < 5) return 59 + rng.int(4); // protection key
  if (r < 7) return M <= 51 ? M + rng.int(52 - M) : 52 + rng.int(7); // bits 51:M (or ignored 58:52)
  if (r < 8) return 13 + rng.int(17); // 29:13 (huge-page reserved bits / address)
  if (r < 9) return 52 + rng.int(11); // 62:52
  return 12 + rng.int(Math.min(M, 40) - 12); // an address bit
}

interface Stats {
  count: number;
  mismatches: number;
  first: string[];
  keys: Map<string, number>;
  outcomes: Map<string, number>;
}

function runWorld(rng: Rng, world: World, cases: number, st: Stats, kvm: KvmVersion): void {
  const { mode, M, mem } = world;
  const read = memReader(mem);
  const rawRead = (a: bigint): bigint => (world.size === 8 ? mem.read64(gpa(a)) : BigInt(mem.read32(gpa(a)) >>> 0));
  const rawWrite = (a: bigint, v: bigint): void => {
    if (world.size === 8) mem.write64(gpa(a), v);
    else mem.write32(gpa(a), Number(v));
  };
  const inMem = (a: bigint): boolean => mem.kindOf(gpa(a)) !== 'noslot';
  // a pool of register states, each with its walker (PAE walkers are rebuilt when a PDPTE changes)
  const cpus: Array<{ cpu: ModelCpu; w: GvaWalker; nx: boolean }> = [];
  for (let i = 0; i < 48; i++) {
    const gbpages = rng.bool(0.7);
    const cpu = randomCpu(rng, mode, M, gbpages);
    const nx = cpu.eferNXE || rng.bool();
    const features = { maxPhyAddr: M, nx, gbpages, la57: true, smep: true, smap: true, pku: true, vendor: cpu.vendor ?? 'intel' } as const;
    cpus.push({ cpu, w: new GvaWalker(mem, regsFor(cpu, world.root), features, undefined, kvm), nx });
  }

  for (let i = 0; i < cases; i++) {
    const mp = rng.pick(world.maps);
    const va = mp.va | (BigInt(rng.u32()) & (SPAN[mp.size] - 1n));
    const { cpu, nx, w } = rng.pick(cpus);
    const acc = randomAccess(rng);
    // the path as it is now (the model's steps on the clean tables)
    const clean = modelWalk(cpu, world.root, va, { kind: 'read', user: false }, read);
    const mutated: Array<{ gpa: bigint; orig: bigint; level: number }> = [];
    for (const s of clean.steps) {
      if (!rng.bool(0.35)) continue;
      let v = s.value;
      const flips = 1 + rng.int(2);
      for (let k = 0; k < flips; k++) v ^= 1n << BigInt(flipBit(rng, world.size, M));
      if (rng.bool(0.15)) v &= ~1n; // sometimes not present
      else if (rng.bool(0.8)) v |= 1n; // mostly keep P so the walk goes on
      mutated.push({ gpa: s.gpa, orig: s.value, level: s.level });
      rawWrite(s.gpa, v);
    }
    const pdpteChanged = mode === 'pae' && mutated.some((x) => x.level === 3 && clean.steps.find((s) => s.gpa === x.gpa)?.pdpte);
    const m = modelWalk(cpu, world.root, va, acc, read, { idRule: 'kvm', pse36: 'kvm' });
    st.count++;
    const diffs: string[] = [];
    let r: ReturnType<GvaWalker['walk']> | undefined;
    let walker: GvaWalker | undefined = w;
    if (pdpteChanged) {
      try {
        walker = new GvaWalker(mem, regsFor(cpu, world.root), {
          maxPhyAddr: M,
          nx,
          gbpages: cpu.gbpages,
          la57: true,
          smep: true,
          smap: true,
          pku: true,
          vendor: cpu.vendor ?? 'intel',
        }, undefined, kvm);
      } catch (e) {
        walker = undefined;
        if (!(m.status === 'gp' && e instanceof InvalidRegisterStateError)) diffs.push(`engine: MOV CR3 failed (${String(e)}), model ${m.status}`);
      }
    }
    if (walker !== undefined) {
      if (m.status === 'gp') diffs.push('model: PDPTE load #GP; engine loaded the PDPTEs');
      else {
        r = walker.walk(gva(va), { kind: acc.kind, user: acc.user, implicit: acc.implicit ?? false, ac: acc.ac ?? false });
        diffs.push(...compareOutcome(m, r), ...compareKvmExtras(m, r, cpu, acc, kvm));
        for (const s of m.steps) {
          const now = rawRead(s.gpa);
          if (now !== s.final) diffs.push(`L${s.level}@${hex(s.gpa)} after the walk: expected ${hex(s.final)} got ${hex(now)}`);
        }
      }
    }
    const key = `${m.status}/${m.reason}`;
    st.outcomes.set(key, (st.outcomes.get(key) ?? 0) + 1);
    if (diffs.length) {
      st.mismatches++;
      const k = `${mode}: model ${m.status}/${m.reason}/${describeErrorCode(m.errorCode)} vs engine ${r ? `${r.status}/${r.status === 'fault' ? describeErrorCode(r.errorCode) : 'ok'}` : 'n/a'}`;
      st.keys.set(k, (st.keys.get(k) ?? 0) + 1);
      if (st.first.length < 25) {
        const path = m.steps.map((s) => `    L${s.level}@${hex(s.gpa)}: ${decodeEntry(s.value, world.size)}`).join('\n');
        st.first.push(`[${describeCpu(cpu)}] ${describeAccess(acc)} va=${hex(va)} (${mp.size} mapping)\n${path}\n    => ${diffs.join('\n    => ')}`);
      }
    }
    // restore: what the walk changed, then what we flipped
    for (const s of m.steps) if (rawRead(s.gpa) !== s.value) rawWrite(s.gpa, s.value);
    if (r) for (const t of r.trace) if (inMem(BigInt(t.entryGpa)) && rawRead(BigInt(t.entryGpa)) !== t.value) rawWrite(BigInt(t.entryGpa), t.value);
    for (let j = mutated.length - 1; j >= 0; j--) rawWrite(mutated[j]!.gpa, mutated[j]!.orig);
  }
}

const MODES: PagingMode[] = ['paging32', 'pae', 'paging4', 'paging5'];
const MAXPHYS = [36, 46, 52];
const CASES_PER_WORLD = 20_000;

describe('randomized walks against the SDM model (seeded)', () => {
  for (const kvm of KVM_VERSIONS) for (const mode of MODES) {
    it(`KVM ${kvm}, ${mode}: random trees, bit flips, registers and accesses`, () => {
      const t0 = performance.now();
      const st: Stats = { count: 0, mismatches: 0, first: [], keys: new Map(), outcomes: new Map() };
      for (const M of MAXPHYS) {
        const rng = new Rng(0x5eed0000 + M * 17 + MODES.indexOf(mode));
        const world = makeWorld(rng, mode, M);
        runWorld(rng, world, CASES_PER_WORLD, st, kvm);
      }
      const outcomes = [...st.outcomes].map(([k, n]) => `${k}=${n}`).join(' ');
      console.log(`KVM ${kvm}, ${mode}: ${st.count} random cases, ${(performance.now() - t0).toFixed(0)} ms, ${st.mismatches} mismatches; outcomes: ${outcomes}`);
      expect(st.count).toBe(MAXPHYS.length * CASES_PER_WORLD);
      // the random mix must keep reaching every kind of outcome
      for (const k of ['ok/ok', 'fault/not-present', 'fault/reserved', 'fault/protection']) {
        expect(st.outcomes.get(k) ?? 0, k).toBeGreaterThan(200);
      }
      const keys = [...st.keys.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${n} × ${k}`);
      expect(st.mismatches, `${st.mismatches} mismatches\n${keys.join('\n')}\n${st.first.join('\n')}`).toBe(0);
    }, 60_000);
  }
});
