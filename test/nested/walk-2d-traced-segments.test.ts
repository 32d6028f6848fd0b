/**
 * The 2D record walk's segment caches (src/nested/walk-2d-fast-traced.ts: tier A, the references
 * before L2's level-2 entry, by GVA bits 47:30; tier B, L2's level-2 entry and the nested walk of
 * the page table, by GVA bits 47:21), against the full hooked walk: every record of copy A (the
 * walker as shipped) must equal copy B's (the same L1 walked with the fast paths removed). What
 * the caches do is seen in the records: a hit gives the frozen objects of the walk that filled the
 * slot (the same objects, `toBe`), a miss new ones.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, NgpaWalker, PageTableBuilder, Walk2D, makeEptp, CR0, CR4, EFER, DEFAULT_FEATURES, DEFAULT_EPT_CAPS, gpa, gva, type Access, type Walk2DResult } from '../../src';
import { l1RegsFor, NPT_MODE } from './support';

const NESTED_POOL = 0x0100_0000n;
const L2_POOL = 0x1000_0000n; // identity-mapped by the nested tables: the builder writes L2's tables in place
const DATA_N = 0x2000_0000n;
const DATA_G = 0x3000_0000n;
const BASE = 0x7000_0000_0000n;
const GIB = 1n << 30n;
const W: Access = { kind: 'write', user: true };

type Nk = 'ept4' | 'ept5' | 'npt4' | 'npt5';
type L2 = 'paging4' | 'paging5';

/**
 * An L1 whose L2 maps one 4 KiB page at each GVA of `vas` (data page i at DATA_N + i * 4096); the
 * L2 pool is mapped by 4 KiB nested pages, or by 2 MiB ones (`poolLarge`: the nested walks of L2's
 * tables end one level early, so the segments hold fewer references).
 */
function l1(nk: Nk, l2Mode: L2, vas: readonly bigint[], poolLarge = false) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  const ept = nk.startsWith('ept');
  const nLevel = Number(nk[3]) as 4 | 5;
  const nb = new PageTableBuilder(mem, { mode: ept ? (nLevel === 5 ? 'ept5' : 'ept4') : NPT_MODE[nLevel], pool: { base: gpa(NESTED_POOL), size: 16n << 20n } });
  const rw = ept ? {} : { writable: true, user: true };
  if (poolLarge) nb.map(L2_POOL, gpa(L2_POOL), { size: '2M', count: 4, flags: rw });
  else nb.map(L2_POOL, gpa(L2_POOL), { count: (8 << 20) / 4096, flags: rw });
  nb.map(DATA_N, gpa(DATA_G), { count: vas.length, flags: rw });
  const l2 = new PageTableBuilder(mem, { mode: l2Mode, pool: { base: gpa(L2_POOL), size: 8n << 20n } });
  vas.forEach((v, i) => l2.map(v, DATA_N + BigInt(i) * 4096n, { flags: { writable: true, user: true } }));
  const nested = ept
    ? NgpaWalker.ept(mem, { eptp: makeEptp({ root: nb.root, level: nLevel, adEnabled: true }), caps: DEFAULT_EPT_CAPS })
    : NgpaWalker.npt(mem, { ncr3: nb.root, l1: l1RegsFor(nLevel, true), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' } });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: l2Mode === 'paging5' ? CR4.PAE | CR4.LA57 : CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
  return { mem, w2: new Walk2D(nested, { regs }) };
}

/** Copy A as shipped and copy B with its fast paths removed (every walk the full hooked walk). */
function pair(nk: Nk, l2Mode: L2, vas: readonly bigint[], poolLarge = false) {
  const a = l1(nk, l2Mode, vas, poolLarge);
  const b = l1(nk, l2Mode, vas, poolLarge);
  const i = b.w2 as unknown as { fast: unknown; tracedFast: unknown };
  expect(Object.keys(i)).toEqual(expect.arrayContaining(['fast', 'tracedFast']));
  i.fast = undefined;
  i.tracedFast = undefined;
  // Warm: the first walks set every A/D bit (the fast path reads only warm paths).
  for (const v of vas) {
    a.w2.walk(gva(v), W);
    b.w2.walk(gva(v), W);
  }
  const walk = (v: bigint, acc: Access = W): Walk2DResult => {
    const got = a.w2.walk(gva(v), acc);
    expect(got).toEqual(b.w2.walk(gva(v), acc));
    expect(got.status).toBe('ok');
    // L2's levels in the walker's scratch as walkTables leaves them (the traced walk's contract;
    // a segment hit writes them from the slot).
    const [sa, sb] = [a.w2, b.w2].map((w) => (w as unknown as { scratch: Record<string, ArrayLike<number>> }).scratch);
    for (const k of ['lo', 'hi', 'tableGfn', 'guestTableGfn', 'index', 'acc']) {
      expect(Array.from(sa![k]!).slice(got.trace.at(-1)!.level, got.trace.length + 1), k).toEqual(Array.from(sb![k]!).slice(got.trace.at(-1)!.level, got.trace.length + 1));
    }
    return got;
  };
  /** Write both memories' entry at `at` (an entry GPA a record names). */
  const poke = (at: bigint, value: bigint): void => {
    a.mem.write64(gpa(at), value);
    b.mem.write64(gpa(at), value);
  };
  return { a, b, walk, poke };
}

/** References before cut A (tier A) and before cut B (tiers A and B) on 4 KiB nested pages throughout. */
function cuts(nk: Nk, l2Mode: L2, poolLarge = false): [number, number] {
  const m = Number(nk[3]);
  const n = l2Mode === 'paging5' ? 5 : 4;
  const walkLen = poolLarge ? m - 1 : m; // the nested walk of an L2 table
  const a = (n - 1) * walkLen + (n - 2);
  return [a, a + 1 + walkLen];
}

const CONFIGS: [Nk, L2, boolean][] = [
  ['ept4', 'paging4', false], ['ept5', 'paging5', false], ['ept4', 'paging5', false], ['ept5', 'paging4', false],
  ['npt4', 'paging4', false], ['npt5', 'paging5', false], ['ept4', 'paging4', true], ['npt4', 'paging5', true],
];

describe('2D record walk: the segment caches against the full walk', () => {
  for (const [nk, l2Mode, poolLarge] of CONFIGS) {
    it(`${l2Mode} on ${nk}${poolLarge ? ', L2 tables in 2 MiB nested pages' : ''}: a repeat shares the segments' frozen objects; a changed entry in either is read anew`, () => {
      const va = BASE + 5n * GIB + 0x1234_5000n;
      const { walk, poke } = pair(nk, l2Mode, [va], poolLarge);
      const [ca, cb] = cuts(nk, l2Mode, poolLarge);
      const r1 = walk(va);
      const r2 = walk(va);
      expect(r1.refs.length).toBeGreaterThan(cb);
      // Both segments hit: the same frozen references and L2 steps above level 1; the rest new.
      for (let i = 0; i < r1.refs.length; i++) {
        if (i < cb) {
          expect(r2.refs[i], `reference ${i + 1}`).toBe(r1.refs[i]);
          expect(Object.isFrozen(r2.refs[i])).toBe(true);
        } else expect(r2.refs[i], `reference ${i + 1}`).not.toBe(r1.refs[i]);
      }
      for (let i = 0; i < r1.trace.length - 1; i++) {
        expect(r2.trace[i]).toBe(r1.trace[i]);
        expect(Object.isFrozen(r2.trace[i])).toBe(true);
      }
      expect(r2.trace[r1.trace.length - 1]).not.toBe(r1.trace[r1.trace.length - 1]);
      expect(r2.refs).not.toBe(r1.refs);
      expect(r2.trace).not.toBe(r1.trace);
      // Every entry either segment read, changed (bit 11: ignored in EPT12 entries, available to
      // software in L2's and NPT12's, so the walk still succeeds; then bit 52, ignored in all
      // three, in the high half the re-read compares too), then restored.
      for (const flip of [0x800n, 1n << 52n]) for (let i = 0; i < cb; i++) {
        const ref = r1.refs[i]!;
        const before = walk(va);
        poke(ref.gpa, ref.value ^ flip);
        const got = walk(va);
        // Every reference to that entry shows the new value (upper nested entries are read by
        // several nested walks of one 2D walk).
        for (const x of got.refs) if (x.gpa === ref.gpa) expect(x.value).toBe(ref.value ^ flip);
        // The segment that read it is made anew (and a later segment built on tier A's too).
        expect(got.refs[i]).not.toBe(before.refs[i]);
        if (i < ca) expect(got.refs[ca]).not.toBe(before.refs[ca]);
        // The changed value is kept by the refill: a repeat hits again.
        const again = walk(va);
        expect(again.refs[i]).toBe(got.refs[i]);
        poke(ref.gpa, ref.value);
        const back = walk(va);
        expect(back.refs[i]!.value).toBe(ref.value);
      }
    });
  }

  it('tier A: GiBs sharing a slot (GVA bits 35:30) miss and refill; the probe turns the tier off, and on again after 65536 walks', () => {
    // Eight GiBs 64 GiB apart: one tier-A slot.
    const vas = Array.from({ length: 8 }, (_, k) => BASE + BigInt(k) * 64n * GIB + 0x20_3000n);
    const { walk, a } = pair('ept4', 'paging4', vas);
    const [ca] = cuts('ept4', 'paging4');
    // Each GiB twice in a row: the first refills the slot, the second hits.
    for (const v of vas) {
      const r1 = walk(v);
      const r2 = walk(v);
      for (let i = 0; i < ca; i++) expect(r2.refs[i]).toBe(r1.refs[i]);
    }
    // Round robin: every lookup misses (another GiB's segment), so the probe turns tier A off.
    for (let k = 0; k < 40; k++) for (const v of vas) walk(v);
    const r1 = walk(vas[0]!);
    const r2 = walk(vas[0]!);
    for (let i = 0; i < ca; i++) {
      expect(r2.refs[i]).not.toBe(r1.refs[i]);
      expect(Object.isFrozen(r2.refs[i])).toBe(false);
    }
    // Off for 65536 walks, then it probes again: the slot refills and hits.
    for (let k = 0; k < 65536; k++) a.w2.walk(gva(vas[1]!), W);
    walk(vas[1]!);
    const r3 = walk(vas[1]!);
    const r4 = walk(vas[1]!);
    for (let i = 0; i < ca; i++) expect(r4.refs[i]).toBe(r3.refs[i]);
  });

  it('tier B: page tables sharing a slot (GVA bits 32:21) in other GiBs: a slot is replaced by the 16th miss; the probe turns the tier off, and on again', () => {
    // Eight GiBs 8 GiB apart: eight tier-A slots, one tier-B slot.
    const vas = Array.from({ length: 8 }, (_, k) => BASE + BigInt(k) * 8n * GIB + 0x40_5000n);
    const { walk, a } = pair('ept4', 'paging4', vas);
    const [ca, cb] = cuts('ept4', 'paging4');
    const shared = (x: Walk2DResult, y: Walk2DResult, from: number, to: number): boolean => {
      for (let i = from; i < to; i++) if (x.refs[i] !== y.refs[i]) return false;
      return true;
    };
    // A slot of another page table is replaced at every 16th miss: vas[0] holds it after 16 walks
    // at most, then vas[1] misses, and the slot is its own after 16 such misses at most.
    for (let k = 0; k < 16; k++) walk(vas[0]!);
    expect(shared(walk(vas[0]!), walk(vas[0]!), ca, cb)).toBe(true);
    const seen: Walk2DResult[] = [];
    for (let k = 0; k < 17; k++) seen.push(walk(vas[1]!));
    expect(shared(walk(vas[1]!), walk(vas[1]!), ca, cb)).toBe(true);
    // Tier A hit all along (its slots differ).
    for (const r of seen) expect(shared(r, seen[0]!, 0, ca)).toBe(true);
    // Round robin: tier B misses at every lookup and the probe turns it off; tier A still hits.
    for (let k = 0; k < 60; k++) for (const v of vas) walk(v);
    const r1 = walk(vas[2]!);
    const r2 = walk(vas[2]!);
    expect(shared(r1, r2, 0, ca)).toBe(true);
    for (let i = ca; i < cb; i++) {
      expect(r2.refs[i]).not.toBe(r1.refs[i]);
      expect(Object.isFrozen(r2.refs[i])).toBe(false);
    }
    for (let k = 0; k < 65536; k++) a.w2.walk(gva(vas[3]!), W);
    walk(vas[3]!);
    expect(shared(walk(vas[3]!), walk(vas[3]!), ca, cb)).toBe(true);
  });

  it('a changed upper entry refills tier A; the tier-B segments of other page tables made under the old one are not used', () => {
    // Two page tables in one GiB: one tier-A slot, two tier-B slots.
    const va1 = BASE + 2n * GIB + 0x20_1000n;
    const va2 = BASE + 2n * GIB + 0x80_2000n;
    const R: Access = { kind: 'read', user: true };
    const { walk, poke } = pair('ept4', 'paging4', [va1, va2]);
    const [, cb] = cuts('ept4', 'paging4');
    const r1 = walk(va1, R);
    const again = walk(va1, R);
    for (let i = 0; i < cb; i++) expect(again.refs[i]).toBe(r1.refs[i]);
    walk(va2, R);
    walk(va2, R);
    // L2's PDPTE loses R/W: the same entries below it, but the ACC through them (the PDE's trace
    // step) and so the records change. va2's walk refills tier A (and its own tier-B slot).
    const pdpte = r1.trace.find((t) => t.level === 3)!;
    poke(pdpte.entryGpa, pdpte.value & ~2n);
    walk(va2, R);
    const got = walk(va1, R);
    expect(got.trace.find((t) => t.level === 2)!.access & 2).toBe(0);
    expect(got.refs[cb - 1]).not.toBe(r1.refs[cb - 1]);
  });

  it('memory changed under a cached segment so that the walk faults: the fault record, then the path back', () => {
    const va = BASE + 3n * GIB + 0x3f_f000n;
    const { walk, poke, a, b } = pair('ept4', 'paging4', [va]);
    const r = walk(va);
    walk(va);
    const [, cb] = cuts('ept4', 'paging4');
    for (let i = 0; i < cb; i++) {
      const ref = r.refs[i]!;
      poke(ref.gpa, ref.value & ~1n); // not present (EPT12: not readable)
      const got = a.w2.walk(gva(va), W);
      expect(got).toEqual(b.w2.walk(gva(va), W));
      expect(got.status).toBe('fault');
      poke(ref.gpa, ref.value);
      walk(va);
    }
  });
});
