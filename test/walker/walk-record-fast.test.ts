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
import { walkRecordFast } from '../../src/walker/walk-record-fast';
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
    const vhi = Number(va >> 32n);
    const vlo = Number(va & 0xffff_ffffn);
    const enc = encodeAccess(a);
    const fast = walkRecordFast(inputs, scratch, vhi, vlo, enc, gva(va), a);
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
