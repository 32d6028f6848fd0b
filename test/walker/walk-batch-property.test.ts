/**
 * Property: GvaWalker.walkRawBatch (src/walker/walk-batch.ts interleaves the read-only walks of a
 * group level by level) equals calling walkRaw for each address in order. Two identical guests are
 * built from one seed; one is walked with walkRawBatch, the other one walk at a time. For every
 * case the stop codes, the GFNs, the memory afterwards (A/D writes: a walk that sets A or D runs the
 * full walk at its turn, and the walks after it see the bits set), lastGfn / lastErrorCode and the
 * record of the last walk (recordLast) are equal.
 *
 * The tables are random and shared: a few table frames per level, each with random entries at
 * indices 0-3 pointing at the next level's frames, so walks in one batch cross the same entries
 * and an A/D update by one changes what a later one reads. Entries are biased to present with A/D
 * set; some have A or D clear (A/D updates, a write to a clean leaf), PS at levels 3 and 2 (1 GiB
 * and 2 MiB pages, some with reserved frame bits), reserved bits at or above MAXPHYADDR, NX, U/S,
 * R/W and protection keys; some point at a table frame never written (a not-present read) or
 * outside every slot, and sometimes CR3 does. Table frames sit below and above 4 GiB (GFN high
 * bits set). 4- and 5-level paging, both KVM versions, random CR0.WP / CR4.SMEP / SMAP / PKE / EFER.NXE and PKRU, every
 * access kind with and without U, EFLAGS.AC and implicit; batch lengths 0-70 (groups of 16 cut
 * anywhere). Paging off and PAE take the one-by-one path and are checked the same way.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, gpa, gva, encodeAccess, CR0, CR4, EFER, DEFAULT_FEATURES, type Access } from '../../src';
import { xorshift } from '../../src/workload/generators';
import { memFingerprint } from '../validate/support';

const ACCESSES: Access[] = [
  { kind: 'read' }, { kind: 'read', user: true }, { kind: 'write' }, { kind: 'write', user: true },
  { kind: 'fetch' }, { kind: 'fetch', user: true }, { kind: 'read', ac: true }, { kind: 'write', ac: true },
  { kind: 'read', implicit: true }, { kind: 'write', implicit: true, ac: true },
];
const MAXPHY = 46;
/** Table frames of level L: POOL per level, alternately below and above 4 GiB. */
const POOL = 3;
function tableGfn(level: number, k: number): number {
  return (k % 2 === 0 ? 0x100 : 0x100100) + level * 16 + k;
}
/** A frame in a slot that no entry's table write touches (reads as zeros: every entry not present). */
const UNWRITTEN = 0x3000;
/** A frame outside every slot. */
const NOSLOT = 0x2000_0000;

type Mode = 'paging4' | 'paging5' | 'pae' | 'off';

interface Case {
  mode: Mode;
  kvm: '7.3' | '6.16';
  regs: { cr0: bigint; cr3: bigint; cr4: bigint; efer: bigint; pkru: number };
  /** [gpa, lo, hi] of every entry written. */
  writes: [number, number, number][];
  his: Uint32Array;
  los: Uint32Array;
  access: number;
}

function entry(r: () => number, level: number, root: number): [number, number] {
  const chance = (n: number): boolean => r() % 100 < n;
  let lo = (r() & 0xfff) & ~0x80;
  if (chance(95)) lo |= 1;
  if (chance(78)) lo |= 0x20; // A
  if (chance(70)) lo |= 0x40; // D
  if (chance(80)) lo |= 2; // R/W
  if (chance(80)) lo |= 4; // U/S
  const large = (level === 2 || level === 3) && chance(25);
  const leafLevel = level === 1 || large;
  if (large || (level === 1 && chance(50))) lo |= 0x80; // PS, or PAT at level 1
  if (level > 3 && chance(3)) lo |= 0x80; // PS at 4/5: reserved
  let f: number;
  if (leafLevel) {
    f = 0x200000 + (r() % 0x40000);
    if (large && chance(70)) f -= f % (level === 2 ? 512 : 262144); // aligned
  } else {
    const pick = r() % 100;
    f = pick < 4 ? UNWRITTEN : pick < 6 ? NOSLOT : tableGfn(level - 1, r() % POOL);
  }
  if (level === root && !leafLevel && chance(2)) f = UNWRITTEN;
  let hi = Math.floor(f / 0x100000);
  lo = (lo | ((f % 0x100000) << 12)) >>> 0;
  if (chance(25)) hi |= 0x8000_0000; // NX (reserved without EFER.NXE)
  if (chance(40)) hi |= (r() % 16) << 27; // protection key
  if (chance(4)) hi |= 1 << (MAXPHY - 32 + (r() % 4)); // at or above MAXPHYADDR
  if (large && chance(5)) lo |= 1 << (13 + (r() % 8)); // reserved low frame bits of a large page
  return [lo >>> 0, hi >>> 0];
}

function makeCase(seed: number): Case {
  const r = xorshift(seed);
  const bit = (p = 2): boolean => r() % p === 0;
  const mode: Mode = (['paging4', 'paging4', 'paging5', 'paging5', 'pae', 'off'] as const)[r() % 6]!;
  const kvm = bit() ? '7.3' as const : '6.16' as const;
  const root = mode === 'paging5' ? 5 : mode === 'pae' ? 3 : 4;
  const writes: [number, number, number][] = [];
  if (mode === 'pae') {
    // The PDPT at 0x1000 (32-byte aligned, below 4 GiB); PDPTEs have no A/D or R/W bits.
    for (let i = 0; i < 4; i++) writes.push([0x1000 + i * 8, bit(8) ? 0 : ((tableGfn(2, r() % POOL) % 0x100000) << 12 | 1) >>> 0, 0]);
    for (let level = 2; level >= 1; level--) {
      for (let k = 0; k < POOL; k++) {
        for (let i = 0; i < 4; i++) {
          const [lo, hi] = entry(r, level, root);
          // PAE tables must sit below 4 GiB for 32-bit CR3; keep their entries' frames there too.
          writes.push([tableGfn(level, k) % 0x100000 * 4096 + i * 8, level > 1 && (lo & 0x80) === 0 ? ((lo & 0xfff) | ((tableGfn(level - 1, r() % POOL) % 0x100000) << 12)) >>> 0 : lo, (hi & 0x8000_000f) >>> 0]);
        }
      }
    }
  } else {
    for (let level = root; level >= 1; level--) {
      for (let k = 0; k < POOL; k++) {
        for (let i = 0; i < 4; i++) {
          const [lo, hi] = entry(r, level, root);
          writes.push([tableGfn(level, k) * 4096 + i * 8, lo, hi]);
        }
      }
    }
  }
  const pae = mode === 'pae';
  const regs = {
    cr0: CR0.PE | (mode === 'off' ? 0n : CR0.PG) | (bit() ? CR0.WP : 0n),
    // Sometimes a root never written (every walk reads a zero entry).
    cr3: mode === 'pae' ? 0x1000n : BigInt(bit(40) ? UNWRITTEN : tableGfn(root, 0)) * 4096n,
    cr4: (mode === 'off' ? 0n : CR4.PAE) | (mode === 'paging5' ? CR4.LA57 : 0n) | (bit() ? CR4.SMEP : 0n) | (bit() ? CR4.SMAP : 0n) | (!pae && mode !== 'off' && bit() ? CR4.PKE : 0n),
    efer: (mode === 'paging4' || mode === 'paging5' ? EFER.LME | EFER.LMA : 0n) | (bit(4) ? 0n : EFER.NXE),
    pkru: bit() ? 0 : (r() >>> 0),
  };
  const n = r() % 71;
  const his = new Uint32Array(n);
  const los = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    // Indices 0-3 at every level (written entries) and sometimes 4 (a zero entry), shared by many walks.
    const ix = (): number => (r() % 40 === 0 ? 4 : r() % 4);
    let va: bigint;
    if (mode === 'off' || mode === 'pae') va = (BigInt(ix()) << 30n) | (BigInt(ix()) << 21n) | (BigInt(ix()) << 12n) | BigInt(r() & 0xfff);
    else {
      va = (BigInt(ix()) << 39n) | (BigInt(ix()) << 30n) | (BigInt(ix()) << 21n) | (BigInt(ix()) << 12n) | BigInt(r() & 0xfff);
      if (mode === 'paging5') va |= BigInt(ix()) << 48n;
      if (bit(4)) va |= BigInt(r() & 0x1ff) << 12n; // other 4 KiB pages below a large page
      // Canonical upper half sometimes (hi above 2^31): index bits as they are, sign-extended.
      if (bit(5)) va |= mode === 'paging5' ? 0xff00_0000_0000_0000n | (1n << 56n) : 0xffff_0000_0000_0000n | (1n << 47n);
    }
    if (j > 0 && bit(5)) va = (BigInt(his[j - 1]!) << 32n) | BigInt(los[j - 1]!); // the same address again
    his[j] = Number(va >> 32n);
    los[j] = Number(va & 0xffff_ffffn);
  }
  const access = encodeAccess(ACCESSES[r() % ACCESSES.length]!);
  return { mode, kvm, regs, writes, his, los, access };
}

function build(c: Case): { mem: GuestMemory; w: GvaWalker } {
  const mem = new GuestMemory({ maxPhyAddr: MAXPHY });
  mem.addSlot({ base: gpa(0n), size: 8n << 30n });
  for (const [a, lo, hi] of c.writes) mem.write64(gpa(BigInt(a)), (BigInt(hi) << 32n) | BigInt(lo));
  const w = new GvaWalker(mem, c.regs, { ...DEFAULT_FEATURES, maxPhyAddr: MAXPHY }, undefined, c.kvm);
  return { mem, w };
}

/** The written entries as they are now (where A/D updates land; cheaper than memFingerprint per walk). */
function entries(mem: GuestMemory, c: Case): string {
  return c.writes.map(([a]) => mem.read64(gpa(BigInt(a))).toString(16)).join(',');
}

const CASES = 3000;

describe('walkRawBatch equals walkRaw one by one (random shared tables)', () => {
  it(`${CASES} random batches: stops, GFNs, A/D writes, last walk state`, () => {
    const stats = { walks: 0, ok: 0, full: 0, okLong: 0, modes: new Map<string, number>() };
    for (let seed = 1; seed <= CASES; seed++) {
      const c = makeCase(seed * 2654435761 >>> 0 || 1);
      const a = build(c);
      const b = build(c);
      const n = c.his.length;
      const outGfn = new Float64Array(n + 2).fill(7);
      const outStop = new Uint8Array(n + 2).fill(9);
      a.w.walkRawBatch(c.his, c.los, c.access, outGfn, outStop);
      const tag = `seed ${seed} (${c.mode}, kvm ${c.kvm})`;
      for (let i = 0; i < n; i++) {
        const before = entries(b.mem, c);
        const stop = b.w.walkRaw(c.his[i]!, c.los[i]!, c.access);
        expect(outStop[i], `${tag} walk ${i}: stop`).toBe(stop);
        expect(outGfn[i], `${tag} walk ${i}: gfn`).toBe(stop === 0 ? b.w.lastGfn : -1);
        stats.walks++;
        if (stop === 0) stats.ok++;
        if (stop === 0 && (c.mode === 'paging4' || c.mode === 'paging5')) stats.okLong++;
        if (entries(b.mem, c) !== before) stats.full++;
      }
      // Entries past n untouched.
      expect([outGfn[n], outGfn[n + 1], outStop[n], outStop[n + 1]], tag).toEqual([7, 7, 9, 9]);
      expect(memFingerprint(a.mem), `${tag}: memory (A/D writes)`).toBe(memFingerprint(b.mem));
      if (n > 0) {
        expect([a.w.lastGfn, a.w.lastErrorCode], `${tag}: last walk`).toEqual([b.w.lastGfn, b.w.lastErrorCode]);
        const last = (BigInt(c.his[n - 1]!) << 32n) | BigInt(c.los[n - 1]!);
        const acc = ACCESSES.find((x) => encodeAccess(x) === c.access)!;
        const stop = outStop[n - 1]!;
        expect(a.w.recordLast(stop, gva(last), acc), `${tag}: recordLast`).toEqual(b.w.recordLast(stop, gva(last), acc));
      }
      stats.modes.set(c.mode, (stats.modes.get(c.mode) ?? 0) + n);
    }
    console.log(`walkRawBatch: ${CASES} batches, ${stats.walks} walks, ${stats.ok} ok (${stats.okLong} with 4/5-level paging), ${stats.full} with A/D writes; walks by mode ${JSON.stringify([...stats.modes])}`);
    // The cases reach every branch: successes, faults and A/D-writing walks in numbers.
    expect(stats.ok).toBeGreaterThan(stats.walks / 10);
    expect(stats.walks - stats.ok).toBeGreaterThan(stats.walks / 10);
    expect(stats.okLong).toBeGreaterThan(stats.walks / 10);
    expect(stats.full).toBeGreaterThan(stats.walks / 100);
  });
});
