/**
 * Walk2D.walk's fast record path (src/nested/walk-2d-fast-traced.ts: the traced read-only walk, and the record made
 * from its trace) against the full walk through the translate hook, the path every record took
 * before. Two copies of one L1 evolve in step: on copy A the walker as shipped; on copy B the same
 * walker with its read-only fast path removed, so that every walk (walk() and walkRaw()) runs
 * walkTables with the nested walks in the hook. Random L2 tables (4 KiB, 2 MiB and 1 GiB pages)
 * over random EPT12/NPT12 (4 KiB and 2 MiB pages, holes, missing rights, memory types), entries
 * corrupted in both dimensions (present, rights, A, D, reserved bits), A/D bits clear at first and
 * set by the walks (a warm-up sets most), SMEP/SMAP/PKE in L2. Each record of A must equal B's (every key and value in
 * order, the prototype), the ngpa walkers must say the same of their last walk, and the two
 * memories must end equal (the same A/D writes). The tally
 * checks that the fast path's cases (a success with nothing to update) and the others are reached.
 */
import { describe, expect, it } from 'vitest';
import {
  GuestMemory, NgpaWalker, PageTableBuilder, Walk2D, makeEptp, CR0, CR4, EFER, DEFAULT_FEATURES, DEFAULT_EPT_CAPS, gpa, gva, ngpa,
  type Access, type PagingRegisters, type Walk2DResult,
} from '../../src';
import { xorshift } from '../../src/workload/generators';
import { DATA_N as SETUP_DATA_N, L2_POOL as SETUP_L2_POOL, l1RegsFor, NPT_MODE, twoDSetup, type L2Mode, type NestedKind } from './support';

const NESTED_POOL = 0x0100_0000n; // EPT12/NPT12 tables (GPA)
const L2_POOL = 0x1000_0000n; // L2 tables, identity-mapped by the nested tables: the builder writes them in place
const DATA_N = 0x2000_0000n; // L2 data (nGPA), 4 KiB and 2 MiB L2 pages
const HUGE_N = 0x4000_0000n; // a 1 GiB L2 page's nGPA
const DATA_G = 0x5000_0000n;
const PAGES = 1024;

type Nk = 'ept4' | 'ept5' | 'npt4' | 'npt5';
type L2 = 'pae' | 'paging4' | 'paging5';

function l1(seed: number, nk: Nk, l2Mode: L2, ad: boolean) {
  const r = xorshift(seed);
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 2n << 30n });
  const ept = nk.startsWith('ept');
  const nLevel = Number(nk[3]) as 4 | 5;
  const nb = new PageTableBuilder(mem, { mode: ept ? (nLevel === 5 ? 'ept5' : 'ept4') : NPT_MODE[nLevel], pool: { base: gpa(NESTED_POOL), size: 16n << 20n } });
  const rw = ept ? {} : { writable: true, user: true };
  nb.map(L2_POOL, gpa(L2_POOL), { count: (4 << 20) / 4096, flags: rw });
  // L2 data: runs with random rights, some holes; one 2 MiB nested page; the start of the 1 GiB L2 page.
  const nFlags = () => {
    const k = r() % 8;
    if (ept) return k === 0 ? { write: false } : k === 1 ? { exec: false } : k === 2 ? { read: false, write: false } : {};
    return k === 0 ? { writable: false, user: true } : k === 1 ? { writable: true, user: true, nx: true } : rw;
  };
  for (let p = 0; p < PAGES; ) {
    const run = 1 + (r() % 24);
    if (r() % 6 !== 0) nb.map(DATA_N + BigInt(p) * 4096n, gpa(DATA_G + BigInt(p) * 4096n), { count: Math.min(run, PAGES - p), flags: nFlags() });
    p += run;
  }
  nb.map(DATA_N + 0x60_0000n, gpa(DATA_G + 0x60_0000n), { size: '2M', flags: nFlags() });
  nb.map(HUGE_N, gpa(DATA_G + 0x100_0000n), { count: 16, flags: nFlags() });

  const l2 = new PageTableBuilder(mem, { mode: l2Mode, pool: { base: gpa(L2_POOL), size: 4n << 20n } });
  const base = l2Mode === 'pae' ? 0x4000_0000n : 0x7f00_0000_0000n;
  const vas: bigint[] = [];
  for (let p = 0; p < PAGES; ) {
    const run = 1 + (r() % 24);
    const k = r() % 8;
    if (k !== 0) {
      const flags = { writable: (k & 1) !== 0, user: (k & 2) !== 0, ...(r() % 5 === 0 ? { nx: true } : {}), ...(l2Mode !== 'pae' && r() % 4 === 0 ? { pkey: r() % 4 } : {}) };
      l2.map(base + BigInt(p) * 4096n, DATA_N + BigInt(p) * 4096n, { count: Math.min(run, PAGES - p), flags });
      vas.push(base + BigInt(p) * 4096n);
    }
    p += run;
  }
  l2.map(base + 0x60_0000n, DATA_N + 0x60_0000n, { size: '2M', flags: { writable: true, user: true } });
  vas.push(base + 0x60_0000n, base + 0x7f_f000n);
  if (l2Mode !== 'pae') {
    l2.map(base + 0x4000_0000n, HUGE_N, { size: '1G', flags: { writable: true, user: true } });
    vas.push(base + 0x4000_0000n, base + 0x4000_f000n);
  }
  // Corrupt a few entries in each dimension: present, rights, A, D, memory type, reserved bits.
  // (PAE: not the PDPTEs, which load at construction; nested: levels 2 and 1, the upper entries
  // also map L2's tables.) One at any level, the others in leaves: an upper entry's fault covers
  // most walks. A path through an entry corrupted earlier may end outside memory: skipped.
  const corrupt = (seed2: number): void => {
    const q = xorshift(seed2);
    const any = <T>(xs: readonly T[]): T => xs[q() % xs.length]!;
    for (let i = 0; i < 6; i++) {
      const va = any(vas) + BigInt(q() % 4) * 4096n;
      try {
        const path = l2.path(va);
        const e = i === 0 ? any(path.filter((x) => l2Mode !== 'pae' || x.level <= 2)) : path[path.length - 1]!;
        l2.setEntry(va, e.level, e.value ^ (1n << any([0n, 1n, 2n, 5n, 6n, 7n, 51n, 63n])));
      } catch {
        /* skipped */
      }
    }
    for (let i = 0; i < 6; i++) {
      // The nGPA of a page the walks use (4 KiB runs start at `base` ↔ DATA_N).
      const v = any(vas);
      const n = v - base < BigInt(PAGES) * 4096n ? DATA_N + (v - base) + BigInt(q() % 4) * 4096n : v - base - 0x4000_0000n + HUGE_N;
      try {
        const path = nb.path(n);
        const e = i === 0 ? any(path.filter((x) => x.level <= 2)) : path[path.length - 1]!;
        nb.setEntry(n, e.level, e.value ^ (1n << any(ept ? [0n, 1n, 2n, 3n, 4n, 8n, 9n, 51n] : [0n, 1n, 2n, 5n, 6n, 51n, 63n])));
      } catch {
        /* skipped */
      }
    }
  };
  corrupt(seed + 1);
  const nested = () =>
    ept
      ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: nb.root, level: nLevel, adEnabled: ad }), caps: DEFAULT_EPT_CAPS })
      : NgpaWalker.npt(mem, { ncr3: nb.root, l1: l1RegsFor(nLevel, true), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' } });
  const cr4 = (l2Mode === 'pae' ? CR4.PAE : l2Mode === 'paging5' ? CR4.PAE | CR4.LA57 : CR4.PAE) | (seed & 1 ? CR4.SMEP | CR4.SMAP : 0n) | (l2Mode !== 'pae' && seed & 2 ? CR4.PKE : 0n);
  const regs: PagingRegisters = {
    // Seed 2: CR0.WP off, so that the warm-up's supervisor writes set D in pages whose key
    // write-disables user writes (a fault there, with every A/D bit set, is the fast path's to see).
    cr0: CR0.PE | CR0.PG | (seed === 2 ? 0n : CR0.WP),
    cr3: l2.root,
    cr4,
    efer: l2Mode === 'pae' ? EFER.NXE : EFER.LME | EFER.LMA | EFER.NXE,
    ...(cr4 & CR4.PKE ? { pkru: (1 << 3) | (1 << 5) | (1 << 6) } : {}), // keys 1 and 2 write-disabled, key 3 access-disabled
  };
  return { mem, vas, corrupt, make: () => new Walk2D(nested(), { regs }) };
}

const ACCESSES: Access[] = [
  { kind: 'read' }, { kind: 'write' }, { kind: 'fetch' }, { kind: 'read', user: true }, { kind: 'write', user: true },
  { kind: 'fetch', user: true }, { kind: 'read', ac: true }, { kind: 'write', ac: true, implicit: true },
];

/**
 * The walker with its read-only fast paths removed: the full hooked walk for every walk. `fast` is
 * walkRaw's (walk-2d-fast.ts), `tracedFast` walk()'s traced walk (walk-2d-fast-traced.ts).
 */
function fullWalkOnly(w: Walk2D): Walk2D {
  const i = w as unknown as { fast: unknown; tracedFast: unknown };
  // The fields this test removes (undefined already where the fast paths do not apply: PAE L2).
  expect(Object.keys(i)).toEqual(expect.arrayContaining(['fast', 'tracedFast']));
  i.fast = undefined;
  i.tracedFast = undefined;
  return w;
}

/**
 * Memory order inside one record: the nested walks of one 2D walk read the same upper EPT12/NPT12
 * entries, and each nested walk sets its A/D bits before the next one reads (paging_tmpl.h: every
 * translate_nested_gpa is a whole walk). So a nested reference to an entry an earlier nested
 * reference read sees that reference's update, if any; and after the walk memory holds, at every
 * referenced GPA, what the last reference there left (its update, else the value read).
 */
function checkMemoryOrder(r: Walk2DResult, mem: GuestMemory): void {
  const seen = new Map<bigint, bigint>();
  for (const x of r.refs) {
    if (x.kind === 'nested' && seen.has(x.gpa)) expect(x.value, `reference ${x.seq}`).toBe(seen.get(x.gpa));
    if (x.kind === 'nested') seen.set(x.gpa, x.updated ?? x.value);
  }
  const last = new Map<bigint, bigint>();
  for (const x of r.refs) last.set(x.gpa, x.updated ?? x.value);
  for (const [at, v] of last) expect(mem.read64(gpa(at)), `memory at 0x${at.toString(16)}`).toBe(v);
}

/** A success with no A/D update and no dirty page logged: the records the traced fast walk makes. */
function fastCase(r: Walk2DResult): boolean {
  return r.status === 'ok' && r.adUpdates === 0 && r.dirtyLogged.length === 0 && r.refs.every((x) => x.updated === undefined);
}

describe('2D record walk: the fast path (walk-2d-fast-traced) against the full hooked walk', () => {
  const configs: [Nk, L2, boolean][] = [
    ['ept4', 'paging4', true], ['ept4', 'paging4', false], ['ept5', 'paging5', true], ['ept4', 'paging5', true], ['ept5', 'paging4', false],
    ['npt4', 'paging4', true], ['npt5', 'paging5', true], ['npt4', 'pae', true], ['ept4', 'pae', true],
  ];
  for (const [nk, l2Mode, ad] of configs) {
    it(`${l2Mode} on ${nk}${nk.startsWith('ept') ? (ad ? ' with A/D' : ' without A/D') : ''}: every record equals the full walk's, memory too`, () => {
      const tally = { fast: 0, other: 0 };
      for (const seed of [1, 2, 3, 0x2d2d]) {
        const a = l1(seed, nk, l2Mode, ad);
        const b = l1(seed, nk, l2Mode, ad);
        const wa = a.make();
        const wb = fullWalkOnly(b.make());
        const r = xorshift(seed * 31 + 7);
        // A warm-up that sets A/D where a supervisor write or read may (a faulting walk sets
        // none), then random accesses, each twice: the second finds the A/D bits the first set.
        const walks: [bigint, Access, number][] = [];
        for (const v of a.vas) for (let p = 0n; p < 4n; p++) walks.push([v + p * 4096n, { kind: 'write' }, 1], [v + p * 4096n, { kind: 'read' }, 1]);
        for (let i = 0; i < 200; i++) walks.push([a.vas[r() % a.vas.length]! + BigInt(r() % 4) * 4096n + BigInt(r() & 0xfff), ACCESSES[r() % ACCESSES.length]!, 2]);
        let n = 0;
        for (const [va, acc, times] of walks) {
          // After the warm-up, more corrupted entries: faults in entries whose A/D bits are set.
          if (n++ === walks.length - 200) {
            a.corrupt(seed * 7);
            b.corrupt(seed * 7);
          }
          for (let k = 0; k < times; k++) {
            const got = wa.walk(gva(va), acc);
            const want = wb.walk(gva(va), acc);
            expect(got).toEqual(want);
            checkMemoryOrder(got, a.mem);
            expect(Object.keys(got)).toEqual(Object.keys(want));
            expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(want));
            expect([wa.lastRefCount, wa.lastGfn, wa.lastErrorCode]).toEqual([wb.lastRefCount, wb.lastGfn, wb.lastErrorCode]);
            // The ngpa walker's last walk (the final translation after a success) as the full walk leaves it.
            const [na, nw] = [wa.nested, wb.nested];
            expect([na.lastGfn, na.lastStopReason, na.lastPfec, na.lastErrorCode, na.lastDirtyLogged, na.lastReads]).toEqual([nw.lastGfn, nw.lastStopReason, nw.lastPfec, nw.lastErrorCode, nw.lastDirtyLogged, nw.lastReads]);
            expect(na.lastEntries()).toEqual(nw.lastEntries());
            expect(na.lastRecord(ngpa(0x1234_5000n), 'final')).toEqual(nw.lastRecord(ngpa(0x1234_5000n), 'final'));
            tally[fastCase(got) ? 'fast' : 'other']++;
          }
        }
        expect(Buffer.compare(Buffer.from(a.mem.words.buffer), Buffer.from(b.mem.words.buffer))).toBe(0);
      }
      // Both paths are exercised (for PAE L2 and PAE NPT12 the fast path gives up, and the records
      // it would have made come from the full walk on both copies).
      expect(tally.fast).toBeGreaterThan(100);
      expect(tally.other).toBeGreaterThan(50);
    });
  }
});

describe('2D record walk: a fault in an entry whose A/D bits are set (the fast path must give up there)', () => {
  // After a warm walk every entry on the path has A (and the leaves D), so the fast path's own
  // checks decide: each entry of each dimension on the path of the data and of the table pages
  // gets one bit flipped (present, W, U/R, X/NX, a reserved bit, EPT memory type), on both copies.
  const cases: [NestedKind, L2Mode, boolean][] = [['ept4', 'paging4', true], ['ept4', 'paging4', false], ['ept5', 'paging5', true], ['npt4', 'paging4', true], ['npt5', 'paging5', true]];
  for (const [nk, l2Mode, ad] of cases) {
    it(`${l2Mode} on ${nk}${nk.startsWith('ept') ? (ad ? ' with A/D' : ' without A/D') : ''}`, () => {
      const ept = nk.startsWith('ept');
      const a = twoDSetup(l2Mode, nk, { ad });
      const b = twoDSetup(l2Mode, nk, { ad });
      fullWalkOnly(b.w2);
      const va = a.gva + 0x2345n;
      // (D: a clean writable leaf is read through the fast path, which must still report the
      // protect_clean_gpte access in the ngpa walker's last record.)
      const bits = ept ? [0n, 1n, 2n, 3n, 5n, 7n, 9n, 51n] : [0n, 1n, 2n, 6n, 7n, 51n, 63n];
      const sameNested = (): void => {
        expect(a.w2.nested.lastRecord(ngpa(0x1234_5000n), 'final')).toEqual(b.w2.nested.lastRecord(ngpa(0x1234_5000n), 'final'));
      };
      const cmp = (acc: Access): void => {
        const got = a.w2.walk(gva(va), acc);
        expect(got).toEqual(b.w2.walk(gva(va), acc));
        checkMemoryOrder(got, a.mem);
        expect(Buffer.compare(Buffer.from(a.mem.words.buffer), Buffer.from(b.mem.words.buffer))).toBe(0);
      };
      const warm = (): void => {
        for (const acc of [{ kind: 'write', user: true }, { kind: 'read', user: true }] as Access[]) cmp(acc);
      };
      warm();
      // Entries: the nested path of the data page and of every L2 table page, and L2's own path.
      const targets: { builder: 'nested' | 'l2'; addr: bigint; level: number }[] = [];
      for (const e of a.b.path(DATA_N)) targets.push({ builder: 'nested', addr: DATA_N, level: e.level });
      for (const e of a.l2b!.path(gva(va))) {
        targets.push({ builder: 'l2', addr: va, level: e.level });
        const page = e.gpa & ~0xfffn; // identity-mapped: the table's nGPA
        for (const n of a.b.path(page)) targets.push({ builder: 'nested', addr: page, level: n.level });
      }
      let faults = 0;
      for (const t of targets) {
        for (const bit of bits) {
          for (const s of [a, b]) {
            const bld = t.builder === 'nested' ? s.b : s.l2b!;
            bld.setEntry(t.addr, t.level, bld.getEntry(t.addr, t.level).value ^ (1n << bit));
          }
          for (const acc of [{ kind: 'read', user: true }, { kind: 'write' }, { kind: 'fetch', user: true }, { kind: 'read' }] as Access[]) {
            const got = a.w2.walk(gva(va), acc);
            expect(got, `${t.builder} level ${t.level} bit ${bit} ${acc.kind}`).toEqual(b.w2.walk(gva(va), acc));
            sameNested();
            if (got.status === 'fault') faults++;
          }
          for (const s of [a, b]) {
            const bld = t.builder === 'nested' ? s.b : s.l2b!;
            bld.setEntry(t.addr, t.level, bld.getEntry(t.addr, t.level).value ^ (1n << bit));
          }
          warm();
        }
      }
      expect(faults).toBeGreaterThan(targets.length * 4);
    });
  }
});

describe('2D record walk: the bigints the fast path keeps across walks follow the entries', () => {
  // walk-2d-fast-traced.ts keeps, per reference position, the bigints of the references near the
  // roots (the nested walks of L2's tables above level 2, L2's entries above level 3). Walks under
  // other L2 PML4Es (and PML5Es) read other tables at those positions, and a changed entry (an
  // ignored bit flipped, so the walk still succeeds) has another value: every record must still
  // equal the full walk's.
  const cases: [NestedKind, L2Mode, boolean][] = [['ept4', 'paging4', true], ['ept5', 'paging5', false], ['npt4', 'paging4', true], ['npt5', 'paging5', true]];
  for (const [nk, l2Mode, ad] of cases) {
    it(`${l2Mode} on ${nk}`, () => {
      const a = twoDSetup(l2Mode, nk, { ad });
      const b = twoDSetup(l2Mode, nk, { ad });
      fullWalkOnly(b.w2);
      const five = l2Mode === 'paging5';
      const vas = [a.gva, a.gva + (1n << 39n), a.gva + (3n << 39n), ...(five ? [a.gva + (1n << 48n), a.gva + (1n << 48n) + (1n << 39n)] : [])];
      vas.slice(1).forEach((v, k) => {
        for (const s of [a, b]) s.l2b!.map(v, SETUP_DATA_N + BigInt(k + 1) * 4096n, { count: 1, flags: { writable: true, user: true } });
      });
      const top = five ? 5 : 4;
      const r = xorshift(nk.length * 131 + top);
      let fast = 0;
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 3 * vas.length; i++) {
          const va = vas[r() % vas.length]! + BigInt(r() & 0xfff);
          for (const acc of [{ kind: 'read', user: true }, { kind: 'write', user: true }, { kind: 'read', user: true }] as Access[]) {
            const got = a.w2.walk(gva(va), acc);
            expect(got, `round ${round} va 0x${va.toString(16)}`).toEqual(b.w2.walk(gva(va), acc));
            if (fastCase(got)) fast++;
          }
        }
        // Ignored bits of L2's top entries and of the nested entries that map L2's tables.
        const v = vas[round % vas.length]!;
        for (const s of [a, b]) {
          for (let l = top; l >= 3; l--) s.l2b!.setEntry(v, l, s.l2b!.getEntry(v, l).value ^ (1n << (52n + BigInt(round % 4))));
          for (const e of s.b.path(SETUP_L2_POOL)) s.b.setEntry(SETUP_L2_POOL, e.level, e.value ^ (1n << 11n));
        }
      }
      expect(fast).toBeGreaterThan(vas.length * 20);
    });
  }
});

describe('2D record walk: a final nGPA above 2^44 (an ngfn of more than 32 bits)', () => {
  // NgpaWalker.noteFastWalk keeps the final nGPA's halves for a later lastRecord: its low half
  // from the ngfn's low 20 bits. An ngfn ≥ 2^32 with bits 19 and 31 set catches a low half taken
  // from the wrong bits (the signed or the truncated 32-bit value, or the high word's).
  const HIGH_N = 0x3abc_df1f_2000n; // ngfn 0x3_abcd_f1f2
  const HIGH_GVA = 0x7f12_3456_7000n;
  for (const nk of ['ept4', 'npt4'] as NestedKind[]) {
    it(`paging4 on ${nk}: the ngpa walker's last record equals the full walk's`, () => {
      const [a, b] = [twoDSetup('paging4', nk, { ad: true }), twoDSetup('paging4', nk, { ad: true })];
      fullWalkOnly(b.w2);
      for (const s of [a, b]) {
        const rw = s.tdp === 'ept' ? {} : { writable: true, user: true };
        s.b.map(HIGH_N, gpa(0x0600_0000n), { flags: rw });
        s.l2b!.map(HIGH_GVA, HIGH_N, { flags: { writable: true, user: true } });
      }
      let fast = 0;
      for (let k = 0; k < 3; k++) {
        for (const acc of [{ kind: 'write', user: true }, { kind: 'read' }] as Access[]) {
          const got = a.w2.walk(gva(HIGH_GVA + 0x8a8n), acc);
          expect(got).toEqual(b.w2.walk(gva(HIGH_GVA + 0x8a8n), acc));
          if (got.status === 'ok' && got.adUpdates === 0 && got.refs.every((x) => x.updated === undefined)) fast++;
          expect(a.w2.nested.lastRecord(ngpa(HIGH_N), 'final')).toEqual(b.w2.nested.lastRecord(ngpa(HIGH_N), 'final'));
        }
      }
      expect(fast).toBeGreaterThan(2);
    });
  }
});
