/**
 * Property: the 2D walk equals the gva walk over L2's tables composed with the ngpa walk.
 *
 * L2's tables are built in an "L2 view" memory addressed by nGPA (one slot covering all of it),
 * where a plain GvaWalker walks them. Random EPT12/NPT12 tables map L2's pages injectively to L1
 * frames (some not at all, some outside L1's slots, with random rights, memory types and reserved
 * bits), and every L2 table page they map into L1 RAM is copied there. The reference walks L2's
 * tables in the L2 view and, before each table it reads, translates that table's page with the
 * ngpa walker (W|U, as KVM's nested_access), then translates the final nGPA with the access | U.
 * A/D updates differ between the two copies but never change an outcome.
 */
import { xorshift } from '../../src/workload/generators';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GuestMemory, GvaWalker, NgpaWalker, encodeAccess, PageTableBuilder, Walk2D, makeEptp, gpa, gva as mkGva, PFERR, DEFAULT_FEATURES, DEFAULT_EPT_CAPS,
  type Access, type NestedExit, type PagingRegisters, type Walk2DResult, type EptFlags, type X86Flags, type TableMode,
} from '../../src';
import { l1RegsFor, l2Regs, NPT_MODE, type L2Mode, type NestedKind } from './support';

const POOL_N = 0x0020_0000n; // L2 table pool (nGPA)
const POOL_FRAMES = 128;
const DATA_N = 0x0100_0000n; // L2 data (nGPA), 256 pages
const DATA_PAGES = 256;
const NESTED_POOL = 0x0100_0000n; // EPT12/NPT12 tables (GPA)
const COPY_G = 0x0400_0000n; // where L2 table pages land in L1
const DATA_G = 0x0800_0000n; // where L2 data pages land in L1
const NOSLOT_G = 0xc000_0000n; // outside every L1 slot, below 4 GiB so that a 32-bit NPT12 can point there


interface Cfg {
  nk: NestedKind;
  l2: L2Mode;
  ad: boolean;
  executeOnly: boolean;
  pages2m: boolean;
  pages1g: boolean;
  nx: boolean;
  l2Max: number;
  seed: number;
}

type Outcome =
  | { kind: 'ok'; gpa: bigint; ngpa: bigint; refs: number }
  | { kind: 'pf'; errorCode: number; reason: string; level: number; refs: number }
  | { kind: 'exit'; during: string; guestLevel: number; ngpa: bigint; exit: Omit<NestedExit, 'guestLinearAddress'>; refs: number };

const LEVELS: Record<L2Mode, number> = { off: 0, paging32: 2, pae: 3, paging4: 4, paging5: 5 };
const REGION: Record<L2Mode, bigint[]> = {
  off: [],
  paging32: [0x0040_0000n, 0x8000_0000n, 0xffc0_0000n],
  pae: [0x0040_0000n, 0x8000_0000n, 0xc020_0000n],
  paging4: [0x0040_0000n, 0x7fff_c000_0000n, 0xffff_8000_0000_0000n],
  paging5: [0x0040_0000n, 0x00ff_8000_0000_0000n, 0xff00_0000_0000_0000n],
};

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[r() % xs.length]!;
}

function build(cfg: Cfg) {
  const r = xorshift(cfg.seed);
  // L1 RAM is [0, 2 GiB) here, so that [2 GiB, 4 GiB) is a hole even a 32-bit NPT12 can reach.
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 2n << 30n, name: 'ram' });
  const isEpt = cfg.nk.startsWith('ept');
  const nLevel = Number(cfg.nk[3]) as 2 | 3 | 4 | 5;
  const nb = new PageTableBuilder(mem, { mode: isEpt ? (`ept${nLevel}` as TableMode) : NPT_MODE[nLevel], pool: { base: gpa(NESTED_POOL), size: 0x100_0000n } });
  const caps = { ...DEFAULT_EPT_CAPS, executeOnly: cfg.executeOnly, pages2m: cfg.pages2m, pages1g: cfg.pages1g };
  const ngw = isEpt
    ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: nb.root, level: nLevel as 4 | 5, adEnabled: cfg.ad }), caps })
    : NgpaWalker.npt(mem, { ncr3: nb.root, l1: l1RegsFor(nLevel, cfg.nx), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' } });
  const l2Max = Math.min(cfg.l2Max, ngw.addressBits);
  const features = { ...DEFAULT_FEATURES, maxPhyAddr: l2Max };

  // ---- L2's tables, in the L2 view (addressed by nGPA) ----
  const view = new GuestMemory({ maxPhyAddr: l2Max });
  view.addSlot({ base: gpa(0n), size: 1n << BigInt(l2Max), name: 'l2-view' });
  const mapped: bigint[] = [];
  let l2b: PageTableBuilder | undefined;
  let regs: PagingRegisters = l2Regs('off', 0n);
  if (cfg.l2 !== 'off') {
    const mode = cfg.l2 as TableMode;
    l2b = new PageTableBuilder(view, { mode, pool: { base: gpa(POOL_N), size: BigInt(POOL_FRAMES * 4096) } });
    const hasNx = cfg.l2 !== 'paging32';
    for (let i = 0; i < 24; i++) {
      const va = pick(r, REGION[cfg.l2]) + BigInt(r() % 48) * 4096n;
      const flags: X86Flags = { writable: (r() & 1) === 1, user: (r() & 3) !== 0, ...(hasNx && r() % 4 === 0 ? { nx: true } : {}) };
      try {
        l2b.map(va, DATA_N + BigInt(r() % DATA_PAGES) * 4096n, { flags });
        mapped.push(va);
      } catch {
        // a huge page mapped earlier covers it: skip
      }
    }
    if (r() % 2 === 0) {
      const size = cfg.l2 === 'paging32' ? '4M' : cfg.l2 === 'pae' || r() % 2 === 0 ? '2M' : '1G';
      const span = size === '4M' ? 0x40_0000n : size === '2M' ? 0x20_0000n : 0x4000_0000n;
      const va = pick(r, REGION[cfg.l2]) + span * 4n;
      // The nGPA of a huge L2 page: inside the data region for 2 MiB/4 MiB, any aligned spot for 1 GiB.
      const target = size === '1G' ? 0x4000_0000n : DATA_N;
      try {
        l2b.map(va, target, { size, flags: { writable: true, user: (r() & 1) === 1 } });
        mapped.push(va + BigInt(r() % 4096) * 4096n % span);
      } catch {
        /* conflicts with a 4K table: skip */
      }
    }
    // Corrupt a few L2 entries: not present, a reserved bit, or fewer rights.
    const bitsPool = [0n, 1n, 2n, 3n, 5n, 6n, 7n, 8n, 13n, 21n, 31n, 45n, 51n, 52n, 62n, 63n];
    for (let i = 0; i < 4; i++) {
      if (mapped.length === 0) break;
      const path = l2b.path(pick(r, mapped));
      const e = pick(r, path);
      if (view.kindOf(e.gpa) === 'noslot') continue; // an earlier corruption sent the path outside L2's memory
      const bit = pick(r, bitsPool);
      let v = e.value ^ (1n << bit);
      if (l2b.geometry.entryBytes === 4) v &= 0xffff_ffffn;
      if (l2b.geometry.entryBytes === 4) view.write32(e.gpa, Number(v));
      else view.write64(e.gpa, v);
    }
    regs = l2Regs(cfg.l2, l2b.root);
  }

  // ---- EPT12/NPT12 in L1: injective maps of L2's pages to L1 frames ----
  const epFlags = (): EptFlags | X86Flags => {
    const k = r() % 20;
    if (isEpt) {
      const choices: EptFlags[] = [{ write: false }, { exec: false }, { write: false, exec: false }, { read: false, write: false }, { read: false, exec: false }, { memType: 2 }];
      return k < 13 ? {} : choices[k - 13] ?? {};
    }
    const choices: X86Flags[] = [{ user: true }, { writable: true }, ...(nLevel === 2 ? [] : [{ user: true, writable: true, nx: true } as X86Flags])];
    return k < 15 ? { user: true, writable: true } : choices[(k - 15) % choices.length]!;
  };
  const perm = [...Array(POOL_FRAMES).keys()].sort(() => (r() & 1 ? 1 : -1));
  const used = l2b?.tablesAllocated ?? 0;
  for (let i = 0; i < POOL_FRAMES; i++) {
    const n = POOL_N + BigInt(i) * 4096n;
    const k = r() % 20;
    if (k === 0) continue; // unmapped
    const target = k === 1 ? NOSLOT_G + BigInt(i) * 4096n : COPY_G + BigInt(perm[i]!) * 4096n;
    nb.map(n, target, { flags: k < 17 ? (isEpt ? {} : { user: true, writable: true }) : epFlags() });
    if (i < used && target < NOSLOT_G) {
      for (let o = 0n; o < 4096n; o += 8n) mem.write64(gpa(target + o), view.read64(gpa(n + o)));
    }
  }
  if (r() % 3 === 0 && (!isEpt || cfg.pages2m || r() % 2 === 0)) {
    // May be reserved (EPT without the 2 MiB capability): a misconfiguration.
    nb.map(DATA_N, DATA_G, { size: nLevel === 2 ? '4M' : '2M', flags: epFlags() });
  } else {
    for (let j = 0; j < DATA_PAGES; j++) {
      if (r() % 5 === 0) continue;
      nb.map(DATA_N + BigInt(j) * 4096n, DATA_G + BigInt(j) * 4096n, { flags: epFlags() });
    }
  }
  if (r() % 4 === 0) {
    // Corrupt one nested non-leaf entry on the path to the data region (shared with the table
    // pages' path at the upper levels). Only rights, ignored and reserved bits: an address or PS
    // flip would move translations away from where the L2 table pages were copied.
    const path = nb.path(DATA_N);
    const e = path[r() % Math.max(1, path.length - 1)]!;
    nb.setEntry(DATA_N, e.level, e.value ^ (1n << pick(r, [0n, 1n, 2n, 3n, 8n, 51n])));
  }

  // Accesses.
  const accesses: { va: bigint; access: Access }[] = [];
  for (let i = 0; i < 40; i++) {
    let va: bigint;
    if (cfg.l2 === 'off') va = (r() & 1 ? DATA_N + BigInt(r() % (DATA_PAGES + 8)) * 4096n : POOL_N + BigInt(r() % POOL_FRAMES) * 4096n) + BigInt(r() % 4096);
    else if (mapped.length > 0 && r() % 5 !== 0) va = pick(r, mapped) + BigInt(r() % 4096);
    else va = pick(r, REGION[cfg.l2]) + BigInt(r() % 64) * 4096n + BigInt(r() % 4096);
    accesses.push({ va, access: { kind: pick(r, ['read', 'write', 'fetch'] as const), user: (r() & 1) === 1 } });
  }
  return { mem, ngw, view, regs, features, accesses };
}

function outcomeOf(r: Walk2DResult): Outcome {
  // The traced references and the hot-path counter agree.
  expect(r.refs.length).toBe(r.refCount);
  if (r.status === 'ok') return { kind: 'ok', gpa: r.gpa, ngpa: r.ngpa, refs: r.refCount };
  if (r.stage === 'gva_walk') return { kind: 'pf', errorCode: r.errorCode, reason: r.reason, level: r.level, refs: r.refCount };
  const { guestLinearAddress: _g, ...exit } = r.exit as NestedExit & { guestLinearAddress?: bigint };
  return { kind: 'exit', during: r.during, guestLevel: r.guestLevel, ngpa: r.ngpa, exit, refs: r.refCount };
}

/** The composition, walked independently. */
function reference(ref: GvaWalker, ngw: NgpaWalker, mem: GuestMemory, paging: boolean, va: bigint, access: Access): Outcome {
  const g = ref.walk(va, access);
  const width = 2n ** BigInt(ngw.addressBits);
  let refs = 0;
  const nested = (n: bigint, kind: Access['kind'], during: 'paging-structure' | 'final', guestLevel: number): Outcome | bigint => {
    // KVM's nested walk indexes only the bits its levels cover (a 32-bit L2's PSE-36 nGPA on a
    // 32-bit/PAE NPT12); the API refuses such an address, so reduce it here.
    const res = ngw.walk(n % width, { kind, user: true, during });
    refs += res.reads;
    if (res.status === 'fault') {
      const { guestLinearAddress: _g, ...exit } = res.exit as NestedExit & { guestLinearAddress?: bigint };
      return { kind: 'exit', during, guestLevel, ngpa: n, exit: { ...exit, ...('guestPhysicalAddress' in exit ? { guestPhysicalAddress: n } : { exitInfo2: n }) } as never, refs };
    }
    return res.gpa;
  };
  const ec = (base: number): number =>
    base | (access.kind === 'write' ? PFERR.WRITE : 0) | (access.user ? PFERR.USER : 0) | (access.kind === 'fetch' && (ref.role.isEferNx || ref.role.isCr4Smep) ? PFERR.FETCH : 0);
  for (const step of g.trace) {
    if (step.source !== 'memory') continue;
    const tablePage = step.entryGpa & ~0xfffn;
    const t = nested(tablePage, 'write', 'paging-structure', step.level);
    if (typeof t !== 'bigint') return t;
    if (mem.kindOf(gpa(t)) === 'noslot') return { kind: 'pf', errorCode: ec(0), reason: 'table-outside-memory', level: step.level, refs };
    refs += 1;
  }
  if (g.status === 'fault') return { kind: 'pf', errorCode: g.errorCode, reason: g.reason, level: g.level, refs };
  const finalN = paging ? g.gpa & ~0xfffn : (g.gpa as bigint);
  const f = nested(finalN, access.kind, 'final', 0);
  if (typeof f !== 'bigint') return f;
  return { kind: 'ok', gpa: (f & ~0xfffn) + (va & 0xfffn), ngpa: g.gpa, refs };
}

const cfgArb: fc.Arbitrary<Cfg> = fc.record({
  nk: fc.constantFrom<NestedKind>('ept4', 'ept5', 'npt2', 'npt3', 'npt4', 'npt5'),
  l2: fc.constantFrom<L2Mode>('off', 'paging32', 'pae', 'paging4', 'paging5'),
  ad: fc.boolean(),
  executeOnly: fc.boolean(),
  pages2m: fc.boolean(),
  pages1g: fc.boolean(),
  nx: fc.boolean(),
  l2Max: fc.integer({ min: 32, max: 46 }),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
});

describe('2D walk = gva walk ∘ ngpa walk (property, seeded)', () => {
  it('random L2 tables, random EPT12/NPT12, random accesses', () => {
    const tally = { ok: 0, pf: 0, exit: 0, throw: 0 };
    fc.assert(
      fc.property(cfgArb, (cfg) => {
        const { mem, ngw, view, regs, features, accesses } = build(cfg);
        let ref: GvaWalker | undefined;
        let refErr: unknown;
        try {
          ref = new GvaWalker(view, regs, features);
        } catch (e) {
          refErr = e;
        }
        // PAE: the PDPT must also be reachable through the nested tables, into L1 RAM.
        let expectThrow = refErr !== undefined;
        if (!expectThrow && LEVELS[cfg.l2] === 3) {
          const page = regs.cr3 & 0xfffff000n;
          const t = ngw.walk(page, { kind: 'write', user: true });
          expectThrow = t.status === 'fault' || mem.kindOf(t.gpa) === 'noslot';
        }
        let w2: Walk2D | undefined;
        try {
          w2 = new Walk2D(ngw, { regs, features });
        } catch (e) {
          if (!expectThrow) throw e;
        }
        if (expectThrow) {
          expect(w2).toBeUndefined();
          tally.throw++;
          return;
        }
        for (const { va, access } of accesses) {
          const got = outcomeOf(w2!.walk(mkGva(va), access));
          const want = reference(ref!, ngw, mem, LEVELS[cfg.l2] > 0, va, access);
          expect(got, `${cfg.l2} on ${cfg.nk}: ${access.kind}${access.user ? ' user' : ''} at 0x${va.toString(16)}`).toEqual(want);
          // The same access again through walkRaw: with the A/D bits now set it takes the
          // read-only fast path (walk-2d-fast.ts) where it applies, and must agree.
          const stop = w2!.walkRaw(Number(BigInt(va) >> 32n), Number(BigInt(va) & 0xffffffffn), encodeAccess(access));
          expect({ ok: stop === 0, refs: w2!.lastRefCount, gfn: stop === 0 ? w2!.lastGfn : -1 }).toEqual({ ok: got.kind === 'ok', refs: got.refs, gfn: got.kind === 'ok' ? Number(got.gpa >> 12n) : -1 });
          tally[got.kind]++;
        }
      }),
      { seed: 0x2d2d, numRuns: 300 },
    );
    // The generator reaches every outcome.
    expect(tally.ok).toBeGreaterThan(200);
    expect(tally.pf).toBeGreaterThan(200);
    expect(tally.exit).toBeGreaterThan(200);
  });
});
