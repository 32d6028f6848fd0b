/**
 * Seeded property test: the record walk's fast path (src/walker/walk-record-fast.ts) and the public
 * `GvaWalker.walk` that uses it, against the reference record — `walkTables` then `buildRecord`
 * on a fresh scratch, from the same memory. Random trees of 4K/2M/4M/1G mappings in every paging
 * mode (32-bit, PAE, 4- and 5-level), three MAXPHYADDRs, both KVM versions; leaves in RAM, in a
 * ROM slot and in no slot; random flips of the walked entries (P, R/W, U/S, A, D, PS, XD, reserved
 * bits, protection keys, address bits that send the walk to a zero table or out of memory); random
 * CR0.WP/CR4.PSE/SMEP/SMAP/PKE/EFER.NXE/PKRU and accesses.
 *
 * For every case: walk()'s record equals the reference field for field, with the same keys in the
 * same order (util.inspect, the kernel's text display, and JSON agree byte for byte); the entries
 * afterwards are the same (A/D updates); the walker's scratch holds the same outcome (lastGfn,
 * level, pteAccess, pkey), and `recordLast` gives the record again. The fast path alone returns
 * the reference record whenever it returns one, and returns one for every successful walk without
 * an A/D update in 4- and 5-level paging (the case it is for) — so a divergence cannot hide behind
 * its fallback. (random-walks.test.ts checks walk() against the SDM model.)
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, KVM_VERSIONS, PageTableBuilder, WalkScratch, encodeAccess, gpa, gva, type Access, type KvmVersion, type WalkResult } from '../../src';
import { walkTables, type WalkInputs } from '../../src/walker/walk';
import { buildRecord } from '../../src/walker/walk-record';
import { makeRecordFastWalk, type RecordFastWalk } from '../../src/walker/walk-record-fast';
import { xorshift } from '../../src/workload/generators';
import type { ModelCpu, PagingMode } from '../model/sdm-paging-model';
import { regsFor } from './model-compare';

type Size = '4K' | '2M' | '4M' | '1G';
const SPAN: Record<Size, bigint> = { '4K': 1n << 12n, '2M': 1n << 21n, '4M': 1n << 22n, '1G': 1n << 30n };
const LEAF: Record<Size, number> = { '4K': 1, '2M': 2, '4M': 2, '1G': 3 };
const RAM = 1n << 32n;
const ROM = { base: RAM, size: 1n << 30n }; // [4 GiB, 5 GiB): read-only; above it, no slot

const show = (r: WalkResult | undefined) => inspect(r, { depth: 4, breakLength: 100 });
const json = (r: WalkResult | undefined) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

function run(kvm: KvmVersion, mode: PagingMode, M: number, seed: number): { cases: number; fast: number; fastLarge: number; ok: number; faults: number; ad: number } {
  const r = xorshift(seed);
  const int = (n: number) => (r() >>> 0) % n;
  const bool = (p: number) => (r() >>> 0) / 2 ** 32 < p;
  const mem = new GuestMemory({ maxPhyAddr: M });
  mem.addSlot({ base: gpa(0n), size: RAM });
  mem.addSlot({ base: gpa(ROM.base), size: ROM.size, readonly: true });
  const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x100000n), size: 0x800000n } });
  const long = mode === 'paging4' || mode === 'paging5';
  const sizes: Size[] = mode === 'paging32' ? ['4K', '4M'] : mode === 'pae' ? ['4K', '2M'] : ['4K', '2M', '1G'];
  const maps: { va: bigint; size: Size }[] = [];
  for (let i = 0; i < 40; i++) {
    const size = sizes[i % sizes.length]!;
    // One top-level region per mapping index keeps mappings apart: a PD slot (32-bit), a PDPT
    // slot (PAE: 4, so few mappings), or a PDPT slot under random upper indexes.
    let va: bigint;
    if (mode === 'paging32') va = (BigInt(size === '4K' ? i : 512 + i) << 22n) | (size === '4K' ? BigInt(int(1024)) << 12n : 0n);
    else if (mode === 'pae') {
      if (i >= 4) break;
      va = (BigInt(i) << 30n) | (BigInt(int(512)) << 21n) | (size === '4K' ? BigInt(int(512)) << 12n : 0n);
    } else {
      const upper = mode === 'paging5' ? (BigInt(int(512)) << 48n) | (BigInt(int(512)) << 39n) : BigInt(int(512)) << 39n;
      va = upper | (BigInt(i) << 30n);
      if (size !== '1G') va |= BigInt(int(512)) << 21n;
      if (size === '4K') va |= BigInt(int(512)) << 12n;
      const bits = mode === 'paging5' ? 57 : 48;
      va = BigInt.asUintN(64, BigInt.asIntN(bits, va)); // canonical (kernel half included)
    }
    // The leaf's frame: RAM mostly, sometimes the ROM slot or no slot (gpaKind).
    const where = int(10);
    const frame = BigInt(r() >>> 0) << 12n;
    let pa: bigint;
    if (mode === 'paging32' || where < 8) pa = frame % RAM;
    else if (where === 8) pa = ROM.base + (frame % ROM.size);
    else pa = ROM.base + ROM.size + (frame % ((1n << BigInt(M)) - ROM.base - ROM.size));
    b.map(gva(va), gpa(pa & ~(SPAN[size] - 1n)), {
      size,
      flags: {
        writable: bool(0.7),
        user: bool(0.7),
        ...(mode === 'paging32' ? {} : { nx: bool(0.3) }),
        ...(long ? { pkey: bool(0.5) ? int(16) : 0 } : {}),
        accessed: bool(0.5),
        dirty: bool(0.5),
      },
    });
    maps.push({ va, size });
  }
  const entryBytes = mode === 'paging32' ? 4 : 8;
  const read = (a: bigint): bigint => (entryBytes === 8 ? mem.read64(gpa(a)) : BigInt(mem.read32(gpa(a)) >>> 0));
  const write = (a: bigint, v: bigint): void => (entryBytes === 8 ? mem.write64(gpa(a), v) : mem.write32(gpa(a), Number(v)));
  const walkers: GvaWalker[] = [];
  for (let i = 0; i < 24; i++) {
    const cpu: ModelCpu = {
      mode, maxPhyAddr: M, gbpages: bool(0.8), vendor: bool(0.2) ? 'amd' : 'intel',
      cr0WP: bool(0.5), cr4PSE: bool(0.8), cr4SMEP: bool(0.5), cr4SMAP: bool(0.5), cr4PKE: long && bool(0.6), eferNXE: bool(0.7),
      pkru: bool(0.3) ? r() >>> 0 : (r() & r() & r()) >>> 0,
    };
    const features = { maxPhyAddr: M, nx: cpu.eferNXE || bool(0.5), gbpages: cpu.gbpages, la57: true, smep: true, smap: true, pku: true, vendor: cpu.vendor ?? 'intel' } as const;
    walkers.push(new GvaWalker(mem, regsFor(cpu, BigInt(b.root)), features, undefined, kvm));
  }
  // Bits to flip: flags, PS, XD, protection key, reserved bits (above MAXPHYADDR, 62:52), address bits.
  const flipBit = (): number => {
    if (entryBytes === 4) return [0, 1, 2, 5, 6, 7, 7, 8, 12, 13, 14, 16, 17, 21, 22, 30, 31][int(17)]!;
    const k = int(10);
    if (k < 4) return [0, 1, 2, 5, 6, 7, 63][int(7)]!;
    if (k < 5) return 59 + int(4);
    if (k < 7) return M <= 51 ? M + int(52 - M) : 52 + int(7);
    if (k < 8) return 52 + int(11);
    return 12 + int(Math.min(M, 40) - 12);
  };

  const st = { cases: 0, fast: 0, fastLarge: 0, ok: 0, faults: 0, ad: 0 };
  // Records kept across the later walks (which change the entries and share upper-level steps
  // through the walkers' step caches): each must still read as it did when it was returned.
  const kept: { r: WalkResult; text: string; where: string }[] = [];
  const seen = new WeakSet<object>();
  for (let c = 0; c < 2500; c++) {
    const m = maps[int(maps.length)]!;
    const va = m.va | (BigInt(r() >>> 0) & (SPAN[m.size] - 1n));
    const w = walkers[int(walkers.length)]!;
    const kind = (['read', 'write', 'fetch'] as const)[int(3)]!;
    const user = bool(0.5);
    const a: Access = { kind, user, implicit: !user && kind !== 'fetch' && bool(0.25), ac: bool(0.5) };
    // Flip bits of the entries on the mapping's path (PAE: the PDPTE in memory is not the register).
    const at: bigint[] = [];
    for (let l = mode === 'paging5' ? 5 : mode === 'paging4' ? 4 : 2; l >= LEAF[m.size]; l--) at.push(BigInt(b.getEntry(gva(va), l).gpa));
    const orig = at.map(read);
    at.forEach((g, i) => {
      if (!bool(0.35)) return;
      let v = orig[i]! ^ (1n << BigInt(flipBit()));
      if (bool(0.1)) v &= ~1n;
      write(g, v);
    });
    const before = at.map(read);
    const where = `case ${c} (${mode}, M=${M}, KVM ${kvm}): ${a.kind}${a.user ? ' user' : ''} at 0x${va.toString(16)}`;

    // The fast path alone (writes nothing, so the public walk below starts from the same state).
    const { inputs, scratch } = w as unknown as { inputs: WalkInputs; scratch: WalkScratch };
    // The walker's own record walk (made by its first walk()), else one for its inputs.
    const recordFast = (w as unknown as { recordFast: RecordFastWalk | undefined }).recordFast ?? makeRecordFastWalk(inputs);
    const vhi = Number(va >> 32n);
    const vlo = Number(va & 0xffff_ffffn);
    const enc = encodeAccess(a);
    const fast = recordFast(scratch, vhi, vlo, enc, gva(va), a);
    // The halves as int32, as walk() passes them (a half at or above 2^31 negative): the same answer.
    expect(show(recordFast(scratch, vhi | 0, vlo | 0, enc, gva(va), a)), where).toBe(show(fast));
    expect(at.map(read), where).toEqual(before);

    const got = w.walk(gva(va), a);
    const gotOut = { gfn: w.lastGfn, level: scratch.level, pteAccess: scratch.pteAccess, pkey: scratch.pkey };
    const again = got.status === 'ok' ? w.recordLast(0, gva(va), a) : undefined;
    const touched = got.trace.filter((s) => s.source === 'memory').map((s) => BigInt(s.entryGpa));
    const gotAfter = touched.map(read);
    // Undo walk()'s A/D writes, then the reference walk on a fresh scratch.
    for (const s of got.trace) if (s.updated !== undefined) write(BigInt(s.entryGpa), s.value);
    expect(at.map(read), where).toEqual(before);
    const s2 = new WalkScratch();
    const stop = walkTables(inputs, s2, vhi, vlo, enc);
    const ref = buildRecord(inputs, s2, stop, gva(va), a, w.role, 'gva_walk', vlo & 0xfff);

    expect(got, where).toStrictEqual(ref);
    expect(show(got), where).toBe(show(ref));
    // A step object in two records is one of the step cache's: frozen.
    for (const step of got.trace) {
      if (seen.has(step)) expect(Object.isFrozen(step), `${where}: a shared step`).toBe(true);
      seen.add(step);
    }
    if (c % 10 === 0) kept.push({ r: got, text: show(got), where });
    expect(json(got), where).toBe(json(ref));
    expect(gotAfter, where).toEqual(touched.map(read));
    if (ref.status === 'ok') {
      expect(gotOut, where).toEqual({ gfn: s2.gfn, level: s2.level, pteAccess: s2.pteAccess, pkey: s2.pkey });
      expect(show(again), where).toBe(show(ref));
    }
    if (fast !== undefined) {
      expect(show(fast), where).toBe(show(ref));
      expect(fast, where).toStrictEqual(ref);
      st.fast++;
      if (fast.level > 1) st.fastLarge++;
    } else if (long) {
      expect(ref.status === 'ok' && ref.adUpdates === 0, `${where}: a read-only successful walk the fast path refused`).toBe(false);
    }
    st.cases++;
    if (ref.status === 'ok') st.ok++;
    else st.faults++;
    if (ref.status === 'ok' && ref.adUpdates > 0) st.ad++;
    // Undo the flips, keeping the A/D bits the walk set (as a running guest's tables keep them).
    at.forEach((g, i) => write(g, read(g) ^ (before[i]! ^ orig[i]!)));
  }
  for (const k of kept) expect(show(k.r), `${k.where}, read again after every later walk`).toBe(k.text);
  return st;
}

describe('walk() record = walkTables + buildRecord; the record fast path agrees (seeded)', () => {
  const MODES: PagingMode[] = ['paging32', 'pae', 'paging4', 'paging5'];
  for (const kvm of KVM_VERSIONS) for (const mode of MODES) {
    it(`KVM ${kvm}, ${mode}: random trees, flips, registers and accesses`, () => {
      let fast = 0;
      let fastLarge = 0;
      let ok = 0;
      let faults = 0;
      let ad = 0;
      for (const M of [36, 46, 52]) {
        const s = run(kvm, mode, M, 0xfa57 + M * 131 + MODES.indexOf(mode) * 7 + (kvm === '7.3' ? 1 : 0));
        fast += s.fast;
        fastLarge += s.fastLarge;
        ok += s.ok;
        faults += s.faults;
        ad += s.ad;
      }
      // The mix reaches every path: successes with and without A/D updates, and faults.
      expect(ok).toBeGreaterThan(1000);
      expect(faults).toBeGreaterThan(1000);
      expect(ad).toBeGreaterThan(100);
      // The fast path decides 4- and 5-level walks, 2M and 1G leaves included; never the others.
      if (mode === 'paging4' || mode === 'paging5') {
        expect(fast).toBeGreaterThan(500);
        expect(fastLarge).toBeGreaterThan(200);
      } else expect(fast).toBe(0);
    }, 120_000);
  }
});

/**
 * A walker (user-mode rights, WP, NXE, 1 GiB pages; no SMEP/SMAP/PKE) over `root`, and the record
 * the full walk and buildRecord give for a walk, which its walk() must equal.
 */
function walkerWithReference(mem: GuestMemory, root: bigint, mode: 'paging4' | 'paging5') {
  const cpu: ModelCpu = { mode, maxPhyAddr: 46, gbpages: true, cr0WP: true, cr4PSE: true, cr4SMEP: false, cr4SMAP: false, cr4PKE: false, eferNXE: true, pkru: 0 };
  const w = new GvaWalker(mem, regsFor(cpu, BigInt(root)), { maxPhyAddr: 46, nx: true, gbpages: true, la57: true, smep: true, smap: true, pku: true, vendor: 'intel' });
  const reference = (va: bigint, a: Access): WalkResult => {
    const { inputs } = w as unknown as { inputs: WalkInputs };
    const s2 = new WalkScratch();
    const vlo = Number(va & 0xffff_ffffn);
    const stop = walkTables(inputs, s2, Number(va >> 32n), vlo, encodeAccess(a));
    return buildRecord(inputs, s2, stop, gva(va), a, w.role, 'gva_walk', vlo & 0xfff);
  };
  return { w, reference };
}

describe('walk(): the record fast path shares its level-2..5 steps between records', () => {
  function setup() {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: RAM });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x100000n), size: 0x800000n } });
    const base = 0x7f00_0000_0000n;
    // Two 1 GiB regions (two level-3 entries under one level-4 entry), a few 4K pages in each.
    for (const off of [0n, 1n << 30n]) b.map(gva(base + off), gpa(0x4000_0000n + off / 1024n), { size: '4K', count: 4, flags: { writable: true, user: true, accessed: true, dirty: true } });
    const { w, reference } = walkerWithReference(mem, b.root, 'paging4');
    return { mem, b, w, base, reference };
  }
  const read: Access = { kind: 'read', user: true };

  it('shared steps are frozen, equal to the reference, and a kept record does not change when later walks see changed entries', () => {
    const { mem, b, w, base, reference } = setup();
    // A first pass sets the upper entries' A bits (the builder sets them on leaves only): the walks
    // below only read, the case the fast path takes (the second pass turns walk()'s fullFirst off).
    for (let k = 0; k < 2; k++) for (const va of [base + 0x1234n, base + (1n << 30n) + 0x2000n]) expect(w.walk(gva(va), read).status).toBe('ok');
    const r1 = w.walk(gva(base + 0x1234n), read);
    const r2 = w.walk(gva(base + 0x3234n), read);
    expect(r1).toStrictEqual(reference(base + 0x1234n, read));
    expect(r2).toStrictEqual(reference(base + 0x3234n, read));
    // Levels 4 to 2: the same step objects, frozen; level 1 is each record's own.
    expect(r2.trace[0]).toBe(r1.trace[0]);
    expect(r2.trace[1]).toBe(r1.trace[1]);
    expect(r2.trace[2]).toBe(r1.trace[2]);
    expect(r2.trace[3]).not.toBe(r1.trace[3]);
    for (const i of [0, 1, 2]) expect(Object.isFrozen(r1.trace[i])).toBe(true);
    expect(Object.isFrozen(r1.trace[3])).toBe(false);
    // Strict mode (ES modules): writing a shared step throws instead of changing other records.
    expect(() => { (r1.trace[0] as { access: number }).access = 0; }).toThrow(TypeError);
    const text1 = show(r1);

    // The level-4 entry loses R/W: its value and the ACC of every level change; the level-3
    // entry's value does not, but its step (ACC through it) does.
    const e4 = b.getEntry(gva(base), 4).gpa;
    const v4 = mem.read64(gpa(BigInt(e4)));
    mem.write64(gpa(BigInt(e4)), v4 & ~2n);
    const r3 = w.walk(gva(base + 0x1234n), read);
    expect(r3).toStrictEqual(reference(base + 0x1234n, read));
    expect(r3.trace[0]!.access).not.toBe(r1.trace[0]!.access);
    expect(r3.trace[1]!.value).toBe(r1.trace[1]!.value);
    expect(r3.trace[1]!.access).not.toBe(r1.trace[1]!.access);
    // A level-3 entry's value changes (a software-available bit): a new step for it.
    const e3 = b.getEntry(gva(base), 3).gpa;
    mem.write64(gpa(BigInt(e3)), mem.read64(gpa(BigInt(e3))) ^ (1n << 9n));
    const r4 = w.walk(gva(base + 0x1234n), read);
    expect(r4).toStrictEqual(reference(base + 0x1234n, read));
    expect(r4.trace[1]!.value).not.toBe(r3.trace[1]!.value);
    // Back to the first tables: the walk's record equals the first one again; r1 never changed.
    mem.write64(gpa(BigInt(e3)), mem.read64(gpa(BigInt(e3))) ^ (1n << 9n));
    mem.write64(gpa(BigInt(e4)), v4);
    const r5 = w.walk(gva(base + 0x1234n), read);
    expect(r5).toStrictEqual(r1);
    expect(show(r1)).toBe(text1);
    // The other 1 GiB region's level-3 entry has its own step; the level-4 step is shared.
    const r6 = w.walk(gva(base + (1n << 30n) + 0x2000n), read);
    expect(r6).toStrictEqual(reference(base + (1n << 30n) + 0x2000n, read));
    expect(r6.trace[0]).toBe(r5.trace[0]);
    expect(r6.trace[1]).not.toBe(r5.trace[1]);
    expect(show(r1)).toBe(text1);
  });
});

describe('walk(): the record fast path with 5-level paging and large leaves (steps shared from the top down to the leaf level)', () => {
  const read: Access = { kind: 'read', user: true };
  const write: Access = { kind: 'write', user: true };
  function setup(mode: 'paging4' | 'paging5') {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: RAM });
    const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x100000n), size: 0x800000n } });
    const base = mode === 'paging5' ? 0x00ff_8000_0000_0000n : 0x7f00_0000_0000n;
    const flags = { writable: true, user: true, accessed: true, dirty: true };
    // One 1 GiB region of 4K pages, one of 2M pages, one 1G page (three level-3 entries).
    b.map(gva(base), gpa(0x4000_0000n), { size: '4K', count: 4, flags });
    b.map(gva(base + (1n << 30n)), gpa(0x8000_0000n), { size: '2M', count: 2, flags });
    b.map(gva(base + (2n << 30n)), gpa(0xc000_0000n), { size: '1G', count: 1, flags });
    const { w, reference } = walkerWithReference(mem, b.root, mode);
    const walk = (va: bigint, a: Access): WalkResult => {
      const r = w.walk(gva(va), a);
      expect(r, `0x${va.toString(16)}`).toStrictEqual(reference(va, a));
      expect(show(r)).toBe(show(reference(va, a)));
      return r;
    };
    // A first pass sets the upper entries' A bits; the second turns walk()'s fullFirst off.
    const vas = [base + 0x1234n, base + 0x3ff8n, base + (1n << 30n) + 0x1234n, base + (1n << 30n) + (2n << 20n) + 0x10n, base + (2n << 30n) + 0x12345678n];
    for (let k = 0; k < 2; k++) for (const va of vas) w.walk(gva(va), read);
    return { mem, b, w, base, walk };
  }

  for (const mode of ['paging4', 'paging5'] as const) {
    it(`${mode}: 4K, 2M and 1G leaves give the reference record; the levels above 2 share steps`, () => {
      const { mem, b, base, walk } = setup(mode);
      const top = mode === 'paging5' ? 2 : 1; // steps above level 3
      const k4a = walk(base + 0x1234n, read);
      const k4b = walk(base + 0x3ff8n, write);
      const k2a = walk(base + (1n << 30n) + 0x1234n, read);
      const k2b = walk(base + (1n << 30n) + (2n << 20n) + 0x10n, write);
      const k1 = walk(base + (2n << 30n) + 0x12345678n, read);
      expect([k4a, k4b, k2a, k2b, k1].map((r) => r.trace.length)).toEqual([top + 3, top + 3, top + 2, top + 2, top + 1]);
      expect([k4a, k2a, k1].map((r) => (r.status === 'ok' ? r.pageSize : 0))).toEqual([4096, 2 << 20, 1 << 30]);
      // Levels 5 and 4: one step object for all five walks.
      for (let i = 0; i < top; i++) for (const r of [k4b, k2a, k2b, k1]) expect(r.trace[i]).toBe(k4a.trace[i]);
      // Level 3: shared within each 1 GiB region; the 1G leaf's level-3 step is a leaf.
      expect(k4b.trace[top]).toBe(k4a.trace[top]);
      expect(k2b.trace[top]).toBe(k2a.trace[top]);
      expect(k2a.trace[top]).not.toBe(k4a.trace[top]);
      expect(k1.trace[top]!.leaf).toBe(true);
      expect(Object.isFrozen(k1.trace[top])).toBe(true);
      // Level 2: shared through one entry (the 2M leaves are two entries); level 1: each record's own.
      expect(k4b.trace[top + 1]).toBe(k4a.trace[top + 1]);
      expect(k4b.trace[top + 2]).not.toBe(k4a.trace[top + 2]);
      expect(k2b.trace[top + 1]).not.toBe(k2a.trace[top + 1]);
      expect(k2b.trace[top + 1]!.leaf).toBe(true);
      expect(Object.isFrozen(k2b.trace[top + 1])).toBe(true);
      const text = [k4a, k4b, k2a, k2b, k1].map(show);

      // The 1G entry turned into a table pointer (PS cleared, to a table of zeros: the walk faults
      // at level 2), then back: the leaf step is made again and equals the first.
      const e3 = BigInt(b.getEntry(gva(base + (2n << 30n)), 3).gpa);
      const v3 = mem.read64(gpa(e3));
      mem.write64(gpa(e3), v3 & ~0x80n);
      expect(walk(base + (2n << 30n) + 0x12345678n, read).status).toBe('fault');
      mem.write64(gpa(e3), v3);
      const k1again = walk(base + (2n << 30n) + 0x12345678n, read);
      walk(base + (2n << 30n) + 0x12345678n, read);
      expect(k1again).toStrictEqual(k1);
      // The top entry loses U/S: every level's ACC changes, so no step is shared with the old records.
      const eTop = BigInt(b.getEntry(gva(base), mode === 'paging5' ? 5 : 4).gpa);
      const vTop = mem.read64(gpa(eTop));
      mem.write64(gpa(eTop), vTop & ~4n);
      const sup: Access = { kind: 'read' };
      const n4 = walk(base + 0x1234n, sup);
      const n4b = walk(base + 0x1234n, sup);
      for (let i = 0; i < n4.trace.length; i++) expect(n4.trace[i]).not.toBe(k4a.trace[i]);
      for (let i = 0; i <= top; i++) expect(n4b.trace[i]).toBe(n4.trace[i]);
      mem.write64(gpa(eTop), vTop);
      // Records returned earlier read as they did.
      expect([k4a, k4b, k2a, k2b, k1].map(show)).toEqual(text);
    });
  }
});

describe('walk(): the level-2 step cache (a slot per entry GPA bits 14:3)', () => {
  /** A 4-level guest with an empty page-table pool at 1 MiB: the tests map what they need. */
  function level2Guest() {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: RAM });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x100000n), size: 0x800000n } });
    return { mem, b, base: 0x7f00_0000_0000n, flags: { writable: true, user: true, accessed: true, dirty: true } };
  }
  /** User reads through the record walk, each checked against walkTables + buildRecord. */
  function checkedReadWalker(mem: GuestMemory, root: bigint) {
    const { w, reference } = walkerWithReference(mem, root, 'paging4');
    const read: Access = { kind: 'read', user: true };
    const walk = (va: bigint): WalkResult => {
      const r = w.walk(gva(va), read);
      expect(r, `0x${va.toString(16)}`).toStrictEqual(reference(va, read));
      return r;
    };
    return { w, read, walk };
  }
  /**
   * One 4K page at the same 2 MiB index in each of 16 1 GiB regions (a page directory each), and
   * two of those pages whose level-2 entries share a slot of the cache.
   */
  function twoPdesInOneSlot() {
    const { mem, b, base, flags } = level2Guest();
    const vas: bigint[] = [];
    for (let i = 0n; i < 16n; i++) {
      const va = base + (i << 30n) + (5n << 21n);
      b.map(gva(va), gpa(0x4000_0000n + (i << 21n)), { size: '4K', count: 1, flags });
      vas.push(va);
    }
    const slotOf = (va: bigint): number => Number((BigInt(b.getEntry(gva(va), 2).gpa) >> 3n) & 4095n);
    const j = vas.findIndex((v, i) => i > 0 && slotOf(v) === slotOf(vas[0]!));
    expect(j).toBeGreaterThan(0);
    return { mem, b, pageA: vas[0]!, pageB: vas[j]! };
  }
  it('two level-2 entries in one slot: records equal the reference; the slot keeps one entry\'s frozen step, the other gets its own until it replaces it; a changed entry gets a new step', () => {
    const { mem, b, pageA, pageB } = twoPdesInOneSlot();
    const A = pageA + 0x123n;
    const B = pageB + 0x456n;
    const { w, read, walk } = checkedReadWalker(mem, b.root);
    // The first pass (the full walk) sets the upper entries' A bits; then A's step takes the slot.
    for (let k = 0; k < 2; k++) for (const va of [A, B]) w.walk(gva(va), read);
    const a1 = walk(A);
    const a2 = walk(A);
    expect(a2.trace[2]).toBe(a1.trace[2]);
    expect(Object.isFrozen(a1.trace[2])).toBe(true);
    // B misses: a step of its own, not frozen, not shared; A keeps the slot for a while.
    const b1 = walk(B);
    const b2 = walk(B);
    expect(b2.trace[2]).not.toBe(b1.trace[2]);
    expect(Object.isFrozen(b1.trace[2])).toBe(false);
    expect(walk(A).trace[2]).toBe(a1.trace[2]);
    // Within 64 misses B's step replaces A's; then B's records share it and A misses.
    let n = 0;
    let prev = walk(B);
    for (;;) {
      const next = walk(B);
      if (next.trace[2] === prev.trace[2]) break;
      prev = next;
      expect(++n).toBeLessThan(64);
    }
    expect(Object.isFrozen(prev.trace[2])).toBe(true);
    expect(walk(A).trace[2]).not.toBe(a1.trace[2]);
    const textA = show(a1);
    // B's level-2 entry changes (an ignored bit, 9): a new step with the new value, frozen once
    // it takes the slot again; the records returned earlier read as they did.
    const e2 = BigInt(b.getEntry(gva(B), 2).gpa);
    const v2 = mem.read64(gpa(e2));
    mem.write64(gpa(e2), v2 ^ (1n << 9n));
    const c1 = walk(B);
    expect(c1.trace[2]!.value).toBe(v2 ^ (1n << 9n));
    expect(c1.trace[2]).not.toBe(prev.trace[2]);
    expect(prev.trace[2]!.value).toBe(v2);
    mem.write64(gpa(e2), v2);
    expect(walk(B).trace[2]!.value).toBe(v2);
    expect(show(a1)).toBe(textA);
  });
  it('a hit needs the same entry GPA, ACC through it and high half: a PDE equal to another in its slot, an ignored high bit, an ACC change above', () => {
    const { mem, b, pageA: A, pageB: B } = twoPdesInOneSlot();
    const e = (va: bigint, level: number) => gpa(BigInt(b.getEntry(gva(va), level).gpa));
    const { w, read, walk } = checkedReadWalker(mem, b.root);
    for (let k = 0; k < 2; k++) for (const va of [A, B]) w.walk(gva(va), read);
    walk(A);
    // B's PDE names A's page table (PDEs may share one): the same value in A's slot, at another
    // GPA, so B's step is not A's (its entryGpa differs).
    mem.write64(e(B, 2), mem.read64(e(A, 2)));
    walk(A);
    walk(B);
    // An ignored bit of A's PDE's high half (bit 52; SDM Vol. 3A Table 4-17): only `hi` changes.
    mem.write64(e(A, 2), mem.read64(e(A, 2)) | (1n << 52n));
    walk(A);
    walk(A);
    // A's PDPTE loses R/W: the PDE is unchanged, the ACC through it is not (no W).
    mem.write64(e(A, 3), mem.read64(e(A, 3)) & ~2n);
    expect(walk(A).trace[2]!.access & 2).toBe(0);
  });
  it('turns itself off after a probe of 256 lookups that hit less than half the time, for 65536 walks, then probes again; records equal the reference throughout', () => {
    const { mem, b, base, flags } = level2Guest();
    // 300 pages, each under its own level-2 entry of one page directory (300 slots).
    const vas: bigint[] = [];
    for (let i = 0n; i < 300n; i++) {
      b.map(gva(base + (i << 21n)), gpa(0x4000_0000n + (i << 12n)), { size: '4K', count: 1, flags });
      vas.push(base + (i << 21n) + 0x88n);
    }
    const { w, read, walk } = checkedReadWalker(mem, b.root);
    // The upper entries' A bits set here, so that every walk takes the fast path (one lookup each).
    for (const va of vas) for (const l of [4, 3, 2]) {
      const e = BigInt(b.getEntry(gva(va), l).gpa);
      mem.write64(gpa(e), mem.read64(gpa(e)) | 0x20n);
    }
    // A's first lookup keeps its step (an empty slot); the next two share it.
    const A = vas[0]!;
    walk(A);
    const a1 = walk(A);
    expect(walk(A).trace[2]).toBe(a1.trace[2]);
    // 253 lookups of other entries (each new: a miss) end the probe with 2 hits of 256: off.
    for (let i = 1; i <= 253; i++) walk(vas[i]!);
    const off1 = walk(A);
    const off2 = walk(A);
    expect(off2.trace[2]).not.toBe(off1.trace[2]);
    expect(off1.trace[2]).not.toBe(a1.trace[2]);
    expect(Object.isFrozen(off1.trace[2])).toBe(false);
    expect(off1.trace[2]).toStrictEqual(a1.trace[2]);
    // Off for 65536 walks through a level-2 entry in all (2 above), then on again: A's kept step.
    for (let i = 0; i < 65536 - 3; i++) w.walk(gva(vas[i % 300]!), read);
    expect(walk(A).trace[2]).not.toBe(a1.trace[2]);
    expect(walk(A).trace[2]).toBe(a1.trace[2]);
  });
});
