/**
 * Property: the specialized fast walk (src/walker/walk-fast.ts: makeFastWalk — the unrolled x86
 * walk for 4/5-level paging and NPT, the table-driven loop for EPT) decides exactly as the full
 * walk `walkTables` on random tables. For every random case:
 *  - the fast walk writes nothing to memory;
 *  - it returns SLOW exactly when `walkTables` faults or writes (an A/D update), so the full walk
 *    never has to be skipped and the fast one never hides a side effect;
 *  - otherwise gfn, level, maxLevel, pkey and pteAccess equal the full walk's, and the trace that
 *    ensureTrace fills equals the full walk's.
 * `walkTables` is the reference because test/walker/access-sweep.test.ts checks it against the
 * SDM model. Entries are random bit patterns biased towards present entries with A/D set (so that
 * many walks reach the fast path's own checks): R/W/U/X, PS at every level, NX, protection keys,
 * EPT memory types, XU (bit 10), reserved bits above MAXPHYADDR and in large-page frames, tables
 * never written and frames outside every slot; PKRU random; every access kind with and without
 * U, EFLAGS.AC and implicit; 4- and 5-level x86 (both KVM versions, NX/SMEP/SMAP/PKE/WP/GBPAGES),
 * NPT (GMET), EPT (A/D, execute-only, huge-page levels, 7.3 MBEC).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GuestMemory, gpa, paging4Format, paging5Format, nptFormat, eptFormat, encodeAccess, makePageFormat, type PageFormat, type Access } from '../../src';
import type { WalkInputs } from '../../src/walker/walk';
import { xorshift } from '../../src/workload/generators';
import { checkFastAgainstFull, type FastCase } from './fast-vs-full';

const TABLE0 = 0x100; // table frames: TABLE0 + level (a few more for the sibling-index cases)
const DATA0 = 0x4000; // leaf frames around here
const SLOT_FRAMES = 0x10000; // one slot [0, 256 MiB)
const ACCESSES: Access[] = [
  { kind: 'read' }, { kind: 'read', user: true }, { kind: 'write' }, { kind: 'write', user: true },
  { kind: 'fetch' }, { kind: 'fetch', user: true }, { kind: 'read', ac: true }, { kind: 'write', ac: true },
  { kind: 'read', implicit: true }, { kind: 'write', implicit: true, ac: true },
];

type Family = 'x86' | 'npt' | 'ept';

function formatFor(family: Family, r: () => number): PageFormat {
  const bit = (p = 2): boolean => r() % p === 0;
  const kvm = bit() ? '7.3' as const : '6.16' as const;
  const maxPhyAddr = [36, 39, 46, 52][r() % 4]!;
  if (family === 'ept') {
    return eptFormat({ level: bit() ? 4 : 5, maxPhyAddr, adEnabled: !bit(4), execonly: bit(), hugePageLevel: 1 + (r() % 3), kvm, mbec: kvm === '7.3' && bit() });
  }
  if (family === 'npt') {
    return nptFormat({ level: bit() ? 4 : 5, maxPhyAddr, nx: bit(), gbpages: bit(), pse: bit(), cr4Smep: bit(), cr4Smap: bit(), kvm, gmet: kvm === '7.3' && bit() });
  }
  const p = { maxPhyAddr, nx: bit(4) ? false : true, gbpages: bit(), pse: bit(), amd: bit(), cr0Wp: bit(), cr4Smep: bit(), cr4Smap: bit(), cr4Pke: bit(), kvm };
  return bit() ? paging4Format(p) : paging5Format(p);
}

/** A random entry pointing at `frame`: low bits biased to present with A/D set. */
function entry(r: () => number, fmt: PageFormat, level: number, frame: number): [number, number] {
  const ept = fmt.ptType === 'ept';
  const chance = (n: number): boolean => r() % 100 < n;
  let lo = r() & 0xfff;
  if (chance(93)) lo |= ept ? 1 + (r() % 7) : 1; // present (EPT: some of R/W/X)
  if (ept && chance(70)) lo |= 1; // readable, so that W-only (misconfigured) is rarer
  if (chance(93)) lo |= 1 << fmt.accessedBit;
  if (chance(88)) lo |= 1 << fmt.dirtyBit;
  if (!chance(level === 1 ? 50 : level <= 3 ? 20 : 3)) lo &= ~0x80; // PS
  // EPT bits 6:3: memory type and ignore-PAT at a leaf, reserved above it; mostly valid.
  if (ept && chance(85)) lo = (lo & ~0x78) | (level === 1 || (lo & 0x80) !== 0 ? [0x30, 0x00, 0x08, 0x70][r() % 4]! : 0);
  if (chance(ept ? 65 : 30)) lo |= 0x400; // EPT XU (needed at every level for a user fetch under MBEC) / x86 available bit
  else lo &= ~0x400;
  if (ept && chance(20)) lo = (lo & ~7) | (chance(50) ? 0x400 : 0x404); // execute-only: XU alone (present only under MBEC), or XS+XU
  let f = frame;
  if ((lo & 0x80) !== 0 && level > 1 && chance(60)) f -= f % (level === 2 ? 512 : 262144); // aligned large page
  let hi = Math.floor(f / 0x100000);
  lo = (lo | ((f % 0x100000) << 12)) >>> 0;
  if (chance(30)) hi |= 0x8000_0000; // NX / EPT suppress-#VE
  if (chance(50)) hi |= (r() % 16) << 27; // protection key
  if (chance(4)) hi |= 1 << ((fmt.params.maxPhyAddr as number) - 32 + (r() % 4)); // at or above MAXPHYADDR (ignored above bit 51)
  if (chance(3)) lo |= 1 << (12 + (r() % 9)); // low frame bits (reserved in a 2 MiB frame)
  return [lo >>> 0, hi >>> 0];
}

type Case = FastCase;

function build(family: Family, seed: number): Case {
  const r = xorshift(seed);
  const fmt = formatFor(family, r);
  const mem = new GuestMemory({ maxPhyAddr: fmt.params.maxPhyAddr as number });
  mem.addSlot({ base: gpa(0n), size: BigInt(SLOT_FRAMES) * 4096n });
  const vhi = r() & (fmt.rootLevel === 5 ? 0x01ff_ffff : 0xffff);
  const vlo = r() >>> 0;
  const idx = (level: number): number => level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> (9 * level - 29)) & 511;
  // The path: table of level L at TABLE0 + L; sometimes a table never written or outside the slot.
  const writes: [number, bigint][] = [];
  for (let level = fmt.rootLevel; level >= 1; level--) {
    let next = level === 1 ? DATA0 + (r() % 0x3000) : TABLE0 + level - 1;
    const odd = r() % 100;
    if (level > 1 && odd < 3) next = TABLE0 + 64 + level; // never written: reads as zero
    else if (level > 1 && odd < 5) next = SLOT_FRAMES + 7; // outside the slot
    else if (level > 1 && r() % 100 < 6) next = DATA0 + (r() % 0x3000); // a leaf here if PS, else a table no one wrote
    const [lo, hi] = entry(r, fmt, level, next);
    writes.push([(TABLE0 + level) * 4096 + idx(level) * 8, (BigInt(hi) << 32n) | BigInt(lo)]);
  }
  const pkru = r() % 3 === 0 ? 0 : r() >>> 0;
  const inputs: WalkInputs = { mem, format: fmt, rootGfn: TABLE0 + fmt.rootLevel, pdptrs: undefined, pdptBase: 0, pkru, fetchSetsId: r() % 2 === 0 };
  // Nested walks see W/U/F only (translate_nested_gpa), and under MBEC fetches pick XU or XS.
  const accesses = family === 'ept' ? ACCESSES.slice(0, 6) : ACCESSES;
  const access = encodeAccess(accesses[r() % accesses.length]!);
  // The order the tables are first written decides their frames, and so GuestMemory's affine run
  // (frame = GFN + delta), which the fast walks test inline before the general lookup: root first
  // (the run holds only the root), the lowest level first (one run holds every table, after a few
  // frames written elsewhere so that delta ≠ 0), or shuffled (runs of some tables).
  const order = r() % 3;
  if (order === 1) {
    for (let k = r() % 4; k > 0; k--) mem.write64(gpa(BigInt((DATA0 + 0x3000 + k) * 4096)), 1n);
    writes.reverse();
  } else if (order === 2) {
    for (let k = writes.length - 1; k > 0; k--) {
      const j = r() % (k + 1);
      [writes[k], writes[j]] = [writes[j]!, writes[k]!];
    }
  }
  for (const [a, v] of writes) mem.write64(gpa(BigInt(a)), v);
  return { mem, inputs, vhi, vlo, access };
}

describe('makeFastWalk agrees with walkTables on random tables', () => {
  for (const family of ['x86', 'npt', 'ept'] as const) {
    it(`${family}: SLOW exactly when walkTables faults or writes; otherwise the same outcome`, () => {
      const seen = { fast: 0, slow: 0 };
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 0x7fff_ffff }), (seed) => {
          seen[checkFastAgainstFull(build(family, seed))]++;
        }),
        { numRuns: 4000, seed: 0x5eed + family.length },
      );
      // Both answers occur often enough for the property to mean something.
      expect(seen.fast).toBeGreaterThan(150);
      expect(seen.slow).toBeGreaterThan(150);
    });
  }

  it('a hand-made format the unrolled x86 walk does not describe (PS at level 4 not reserved) takes the table walk, which agrees', () => {
    const base = paging4Format({ maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false });
    const large = [...base.rsvdBitsMask[1]];
    large[3] = large[3]! & ~0x80n; // a 512 GiB leaf: no format KVM builds has one
    const fmt = makePageFormat({
      name: 'paging4 with level-4 leaves', kvm: base.kvm, module: base.module, ptType: base.ptType, rootLevel: 4, hasAd: true, pse: false,
      params: { ...base.params }, rsvdBitsMask: [base.rsvdBitsMask[0], large], badMtXwr: base.badMtXwr, permissions: base.permissions, pkruMask: 0,
    });
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: BigInt(SLOT_FRAMES) * 4096n });
    mem.write64(gpa(BigInt(TABLE0 * 4096)), 0x1e7n | (1n << 39n)); // P W U A D PS, frame 2^27 (512 GiB aligned)
    const inputs: WalkInputs = { mem, format: fmt, rootGfn: TABLE0, pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: true };
    expect(checkFastAgainstFull({ mem, inputs, vhi: 0, vlo: 0x1234_5000, access: encodeAccess({ kind: 'write', user: true }) })).toBe('fast');
  });
});
