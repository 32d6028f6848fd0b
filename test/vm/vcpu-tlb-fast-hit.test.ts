/**
 * The vCPU's TLB-hit fast path (vcpu.ts `accessChecked`) against the full access path. Two VMs built
 * alike run the same seeded operations; in one of them the vCPU's fast path is switched off (the
 * instance's `accessChecked` hands every access to `accessFull`), so its L1 hits take `accessFull` →
 * `tlbAccess` → `tlbLookup` as before the fast path existed. After every operation the two must agree on the
 * result or the error, every counter (TLB, vCPU, VM), the cost totals, the event log and the TLB's
 * contents with their LRU marks. The configurations vary what the fast path decides on: paging
 * mode (32-bit, PAE, 4- and 5-level, canonical and non-canonical addresses), EPT/NPT, PCIDs and
 * MOV CR3 without flush, CR0.WP/CR4.SMEP/SMAP/PKE/PKRU (the cached rights), user/supervisor,
 * read/write/fetch, global and large pages, TLB geometry (set counts that are no power of two, no
 * STLB), VPIDs, a priced L1 hit, events on/off; the operations include stale translations (tables
 * changed without INVLPG), INVLPG, INVPCID, zap-all (an invalidated root) and a dead VM.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, EFER, type Vcpu, type TlbConfigSpec } from '../../src';

type Mode = 'paging32' | 'pae' | 'paging4' | 'paging5';

/** mulberry32: a small seeded generator, so each seed is one reproducible configuration. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Config {
  mode: Mode;
  flavour: 'ept' | 'npt';
  tlb: TlbConfigSpec;
  l1HitCycles: number;
  events: boolean;
  cr0: bigint;
  cr4: bigint;
  efer: bigint;
  pkru: number;
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function config(r: () => number): Config {
  const mode = pick(r, ['paging32', 'pae', 'paging4', 'paging5'] as const);
  const long = mode === 'paging4' || mode === 'paging5';
  const bit = (b: bigint): bigint => (r() < 0.5 ? b : 0n);
  const cr0 = CR0.PE | CR0.PG | bit(CR0.WP);
  let cr4 = bit(CR4.SMEP) | bit(CR4.SMAP) | bit(CR4.PGE);
  if (mode !== 'paging32') cr4 |= CR4.PAE;
  if (long) cr4 |= bit(CR4.PCIDE) | bit(CR4.PKE);
  if (mode === 'paging5') cr4 |= CR4.LA57;
  return {
    mode,
    flavour: pick(r, ['ept', 'npt'] as const),
    tlb: {
      vpid: r() < 0.75,
      dtlb4k: pick(r, [{ entries: 64, ways: 4 }, { entries: 6, ways: 2 }, { entries: 4, ways: 4 }, { entries: 3, ways: 1 }]),
      dtlb2m: pick(r, [{ entries: 32, ways: 4 }, { entries: 3, ways: 3 }, { entries: 0, ways: 1 }]),
      itlb4k: pick(r, [{ entries: 128, ways: 8 }, { entries: 5, ways: 1 }]),
      stlb: pick(r, [{ entries: 1536, ways: 12 }, { entries: 12, ways: 3 }, { entries: 0, ways: 1 }]),
    },
    l1HitCycles: pick(r, [0, 0, 2, 0.5]),
    events: r() < 0.5,
    cr0,
    cr4,
    efer: long ? EFER.LME | EFER.LMA | EFER.NXE : mode === 'pae' ? bit(EFER.NXE) : 0n,
    pkru: pick(r, [0, 0, 0x0000_000c, 0x5555_5554, 0xffff_fffc]),
  };
}

/** Where the test maps pages in each mode: a low and a high (kernel-half) base, and a non-canonical / too-wide address. */
const BASES: Record<Mode, { lo: bigint; hi: bigint; bad: bigint }> = {
  paging32: { lo: 0x4000_0000n, hi: 0xc000_0000n, bad: 0x1_0000_0000n },
  pae: { lo: 0x4000_0000n, hi: 0xc000_0000n, bad: 0x1_0000_0000n },
  paging4: { lo: 0x7f00_0000_0000n, hi: 0xffff_8000_0000_0000n, bad: 0x8000_0000_0000n },
  paging5: { lo: 0x00ff_0000_0000_0000n, hi: 0xff00_0000_0000_0000n, bad: 0x0100_0000_0000_0000n },
};

interface Machine {
  vm: Vm;
  v: Vcpu;
  pt: PageTableBuilder;
}

/** A VM with the guest tables `map` fills, then the vCPU (PAE loads its PDPTEs from CR3 then). */
function build(c: Config, map: (pt: PageTableBuilder) => void): Machine {
  const vm = new Vm({ spte: { flavour: c.flavour }, tlb: c.tlb, cost: { cycles: { l1TlbHit: c.l1HitCycles } } });
  vm.events.enabled = c.events;
  vm.addMemslot({ base: 0n, size: 64n << 20n });
  const pt = new PageTableBuilder(vm.guestMem, { mode: c.mode, pool: { base: 0x10_0000n, size: 0x40_0000n } });
  map(pt);
  const v = vm.createVcpu({ cr0: c.cr0, cr4: c.cr4, efer: c.efer, cr3: pt.root, pkru: c.pkru });
  return { vm, v, pt };
}

/** The pages to map (4 KiB, and 2 MiB outside 32-bit paging) with seeded flags, and the addresses to access. */
function pages(r: () => number, c: Config): { map: (pt: PageTableBuilder) => void; vas: bigint[] } {
  const { lo, hi } = BASES[c.mode];
  const x86 = c.mode !== 'paging32';
  const long = c.mode === 'paging4' || c.mode === 'paging5';
  const maps: ((pt: PageTableBuilder) => void)[] = [];
  const vas: bigint[] = [];
  for (let i = 0; i < 10; i++) {
    const va = (i < 7 ? lo : hi) + BigInt(i) * 0x1000n;
    const flags = {
      writable: r() < 0.6, user: r() < 0.6, global: r() < 0.3, accessed: r() < 0.5, dirty: r() < 0.5,
      ...(x86 ? { nx: r() < 0.3 } : {}), ...(long ? { pkey: pick(r, [0, 0, 1, 5]) } : {}),
    };
    maps.push((pt) => pt.map(va, 0x100_0000n + BigInt(i) * 0x1000n, { flags }));
    vas.push(va);
  }
  if (x86) {
    const flags = { writable: r() < 0.7, user: r() < 0.6, global: r() < 0.3 };
    maps.push((pt) => pt.map(lo + 0x20_0000n, 0x200_0000n, { size: '2M', flags }));
    vas.push(lo + 0x20_0000n, lo + 0x3f_f000n);
  }
  return { map: (pt) => maps.forEach((m) => m(pt)), vas };
}

/** An operation on one machine; `access` marks the guest accesses (the test repeats some, as programs do). */
type Op = ((m: Machine) => unknown) & { access?: true };

function makeOp(r: () => number, c: Config, vas: bigint[], late: boolean): Op {
  const { lo, bad } = BASES[c.mode];
  const long = c.mode === 'paging4' || c.mode === 'paging5';
  const p = r();
  if (p < 0.92) {
    const kind = pick(r, ['read', 'read', 'write', 'fetch'] as const);
    const user = r() < 0.4;
    const q = r();
    const va = q < 0.9 ? pick(r, vas) + BigInt(Math.floor(r() * 4096) & ~7) : q < 0.95 ? lo + 0x80_0000n : bad;
    const op: Op = r() < 0.2 ? (m) => m.v.access(va, { kind, user }) : (m) => m.v[kind](va, user);
    op.access = true;
    return op;
  }
  if (p < 0.94) {
    // A stale translation: the PTE moves to another frame (or loses P) without INVLPG.
    const va = pick(r, vas.slice(0, 10));
    const frame = 0x180_0000n + BigInt(Math.floor(r() * 16)) * 0x1000n;
    const present = r() < 0.8;
    return (m) => {
      const old = m.pt.getEntry(va, 1).value;
      m.pt.setEntry(va, 1, present ? (old & ~0x000f_ffff_ffff_f000n) | frame : old & ~1n);
    };
  }
  if (p < 0.955) {
    const va = pick(r, vas);
    return (m) => m.v.invlpg(va);
  }
  if (p < 0.975) {
    // Registers: a PCID switch (MOV CR3, sometimes without flush), WP/SMEP/SMAP, PKRU.
    const q = r();
    if (long && (c.cr4 & CR4.PCIDE) !== 0n && q < 0.5) {
      const pcid = BigInt(Math.floor(r() * 3));
      const noFlush = r() < 0.5 ? 1n << 63n : 0n;
      return (m) => m.v.setRegisters({ cr3: (m.pt.root as bigint) | pcid | noFlush });
    }
    if (q < 0.7) return (m) => m.v.setRegisters({ cr0: m.v.regs.cr0 ^ CR0.WP });
    if (q < 0.85) {
      const b = pick(r, [CR4.SMEP, CR4.SMAP]);
      return (m) => m.v.setRegisters({ cr4: m.v.regs.cr4 ^ b });
    }
    const pkru = pick(r, [0, 0x0000_000c, 0xffff_fffc]);
    return (m) => m.v.setRegisters({ pkru });
  }
  if (p < 0.985 && long) {
    const type = Math.floor(r() * 4);
    const va = pick(r, vas);
    return (m) => m.v.invpcid(type, 0, va);
  }
  if (p < 0.995 || !late) return (m) => m.vm.zapAllFast();
  return (m) => m.vm.kvmVmDead('test'); // late in the run: the remaining operations see a dead VM
}

/** The vCPU's private access entry points the test hooks. */
interface Hooks {
  accessChecked: (...a: unknown[]) => unknown;
  accessFull: (...a: unknown[]) => unknown;
}

/** Switch `v`'s fast path off: every access goes straight to `accessFull`, as before the fast path existed. */
function noFastPath(v: Vcpu): void {
  const h = v as unknown as Hooks;
  h.accessChecked = function (this: Hooks, ...a: unknown[]) {
    return this.accessFull(...a);
  };
}

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (e) {
    return { threw: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
}

function counters(c: { names: readonly string[]; get(n: never): number }): Record<string, number> {
  return Object.fromEntries(c.names.map((n) => [n, c.get(n as never)]));
}

/** The counters and cost totals; with `all`, also the event log and the TLB's entries (with their LRU marks). */
function state(m: Machine, all: boolean): unknown {
  const s = { tlb: counters(m.v.tlb!.stats), vcpu: counters(m.v.stats), vm: counters(m.vm.stats), cycles: { ...m.v.cycles } };
  return all ? { ...s, events: m.vm.events.all, snapshot: m.v.tlb!.snapshot() } : s;
}

describe('TLB-hit fast path = the full access path', () => {
  it('same results, errors, counters, costs, events and TLB contents on seeded configurations and operations', () => {
    let fastHits = 0;
    let l1Hits = 0;
    for (let seed = 1; seed <= 48; seed++) {
      const r = prng(seed);
      const c = config(r);
      const { map, vas } = pages(r, c);
      const fast = build(c, map);
      const full = build(c, map);
      noFastPath(full.v);
      // The fast path served an access when accessChecked returned without calling accessFull.
      const hook = fast.v as unknown as Hooks;
      const { accessChecked, accessFull } = hook;
      let declined = false;
      hook.accessFull = function (this: Hooks, ...a: unknown[]) {
        declined = true;
        return accessFull.apply(this, a);
      };
      hook.accessChecked = function (this: Hooks, ...a: unknown[]) {
        declined = false;
        const r = accessChecked.apply(this, a);
        if (!declined) fastHits++;
        return r;
      };
      let last: Op | undefined;
      for (let i = 0; i < 200; i++) {
        const op = last !== undefined && r() < 0.5 ? last : makeOp(r, c, vas, i >= 140);
        if (op.access) last = op;
        const a = outcome(() => op(fast));
        const b = outcome(() => op(full));
        expect(a, `seed ${seed} op ${i}`).toEqual(b);
        expect(state(fast, i % 20 === 19), `seed ${seed} op ${i}`).toEqual(state(full, i % 20 === 19));
      }
      expect(state(fast, true), `seed ${seed}`).toEqual(state(full, true));
      l1Hits += fast.v.tlb!.stats.get('l1_hits');
    }
    // The comparison means something only if the fast path served the L1 hits, and many of them.
    // (An L1 hit right after the registers or the root changed takes the full path, which records the new context.)
    expect([fastHits > 2000, fastHits >= 0.95 * l1Hits]).toEqual([true, true]);
  });

  it('a result served by the fast path is a fresh object equal to the full path\'s (sharing only the frozen empty arrays)', () => {
    const r = prng(7);
    const c = { ...config(r), mode: 'paging4' as const, cr4: CR4.PAE, cr0: CR0.PE | CR0.PG, efer: EFER.LME | EFER.LMA | EFER.NXE, events: true };
    const map = (pt: PageTableBuilder): void => pt.map(BASES.paging4.lo, 0x100_0000n, { flags: { writable: true, dirty: true, accessed: true } });
    const fast = build(c, map);
    const full = build(c, map);
    noFastPath(full.v);
    const va = BASES.paging4.lo + 0x123n;
    for (const m of [fast, full]) expect(m.v.read(va).tlb).toBe('miss');
    const h1 = fast.v.read(va);
    const h2 = fast.v.read(va);
    const f1 = full.v.read(va);
    const f2 = full.v.read(va);
    expect([h1, h2]).toEqual([f1, f2]);
    // Fresh result and walk record; the empty exits and trace are one frozen array each, on both paths.
    expect([h1.tlb, h1 === h2, h1.guestWalk === h2.guestWalk, Object.isFrozen(h1), Object.isFrozen(h1.guestWalk)]).toEqual(['l1', false, false, false, false]);
    expect([h1.exits === f1.exits, h1.guestWalk.trace === f1.guestWalk.trace, Object.isFrozen(h1.exits), Object.isFrozen(h1.guestWalk.trace)]).toEqual([true, true, true, true]);
    // The fast path writes tlbHitResult's literals out: the same keys in the same order (one hidden class for both).
    expect([Object.keys(h1), Object.keys(h1.guestWalk)]).toEqual([Object.keys(f1), Object.keys(f1.guestWalk)]);
    expect(state(fast, true)).toEqual(state(full, true));
  });
});
