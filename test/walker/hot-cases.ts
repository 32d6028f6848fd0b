/**
 * Random single-walk cases for the 4-level hot walk's inputs (walk-fast.ts: x86HotWalk4) and for
 * walkRawBatch's loop over the same inputs (walk-batch-hot.ts): tables placed where the int32
 * affine-run test must decide right — one run after a few other frames ('run'), shuffled frames,
 * one table just outside the run ('edge'), a table at a run GFN plus 2^32 ('alias'), tables at and
 * above GFN 2^32 ('above'), a run across 2^32 ('across') — with random entries (P, R/W, U/S, A, D,
 * PS at levels 3 and 2, NX, protection keys, reserved bits at and above MAXPHYADDR), both KVM
 * versions and every access kind; no protection key can fault (the hot walk's precondition).
 * Used by test/walker/walk-fast-hot and walk-batch-hot.
 */
import { GuestMemory, gpa, paging4Format, encodeAccess, type PageFormat, type Access } from '../../src';
import type { WalkInputs } from '../../src/walker/walk';
import { xorshift } from '../../src/workload/generators';
import type { FastCase } from './fast-vs-full';

export const ACCESSES: Access[] = [
  { kind: 'read' }, { kind: 'read', user: true }, { kind: 'write' }, { kind: 'write', user: true },
  { kind: 'fetch' }, { kind: 'fetch', user: true }, { kind: 'read', ac: true }, { kind: 'write', ac: true },
  { kind: 'read', implicit: true }, { kind: 'write', implicit: true, ac: true },
];
export const TWO32 = 2 ** 32;

export type Placement = 'run' | 'shuffled' | 'edge' | 'alias' | 'above' | 'across';
export const PLACEMENTS: readonly Placement[] = ['run', 'shuffled', 'edge', 'alias', 'above', 'across'];

function formatFor(r: () => number, placement: Placement): PageFormat {
  const bit = (): boolean => r() % 2 === 0;
  // Tables at GFN 2^32 need MAXPHYADDR 45 at least.
  const phys = placement === 'above' || placement === 'across' || placement === 'alias' ? [46, 52] : [32, 36, 39, 46, 52];
  return paging4Format({
    maxPhyAddr: phys[r() % phys.length]!, nx: r() % 4 !== 0, gbpages: bit(), pse: bit(), amd: bit(), cr0Wp: bit(),
    cr4Smep: bit(), cr4Smap: bit(), cr4Pke: bit(), kvm: bit() ? '7.3' : '6.16',
  });
}

/** A random entry pointing at GFN `g`: mostly present with A/D set, PS sometimes at levels 3 and 2. */
function entry(r: () => number, fmt: PageFormat, level: number, g: number): [number, number] {
  const chance = (n: number): boolean => r() % 100 < n;
  let lo = r() & 0xfff;
  if (chance(95)) lo |= 1;
  if (chance(95)) lo |= 0x20;
  if (chance(90)) lo |= 0x40;
  if (chance(85)) lo |= 6; // R/W and U/S, so that more walks pass the permission check
  if (level === 1 || level === 4 || !chance(12)) lo &= ~0x80;
  let f = g;
  if ((lo & 0x80) !== 0 && chance(60)) f -= f % (level === 2 ? 512 : 262144);
  let hi = Math.floor(f / 0x100000);
  lo = (lo | ((f % 0x100000) << 12)) >>> 0;
  if (chance(30)) hi |= 0x8000_0000;
  if (chance(50)) hi |= (r() % 16) << 27;
  const m = fmt.params.maxPhyAddr as number;
  if (chance(4) && m < 52) hi |= 1 << (m - 32 + (r() % Math.min(4, 52 - m)));
  if (chance(3)) lo |= 1 << (12 + (r() % 9));
  return [lo >>> 0, hi >>> 0];
}

/** The case of `seed` with its tables placed as `placement` says. */
export function hotCase(placement: Placement, seed: number): FastCase {
  const r = xorshift(seed);
  const fmt = formatFor(r, placement);
  const mem = new GuestMemory({ maxPhyAddr: fmt.params.maxPhyAddr as number });
  mem.addSlot({ base: gpa(0n), size: 0x1000_0000n }); // GFNs [0, 0x10000)
  if (placement === 'above' || placement === 'across') mem.addSlot({ base: gpa(BigInt(TWO32 - 64) * 4096n), size: 1024n * 4096n });
  if (placement === 'alias') mem.addSlot({ base: gpa(BigInt(TWO32) * 4096n), size: 0x1000_0000n });
  // The table of level L at GFN tg(L): the root always below 2^32 (the hot walk's precondition).
  const low = 0x100 + (r() % 64);
  const high = placement === 'above' ? TWO32 + 0x40 + (r() % 64) : placement === 'across' ? TWO32 - 6 : low;
  // 'edge': the other three tables at low + 1 .. low + 3, the edge table at low or low + 4.
  const edgeLevel = 1 + (r() % 4);
  const edgeAt = r() % 2 === 0 ? 0 : 4;
  const tg = (level: number): number => placement !== 'edge'
    ? (level === 4 ? low : high) + level
    : level === edgeLevel ? low + edgeAt : low + 1 + [1, 2, 3, 4].filter((l) => l !== edgeLevel).indexOf(level);
  const vhi = r() & 0x7fff;
  const vlo = r() >>> 0;
  const idx = (level: number): number => level <= 2 ? (vlo >>> (3 + 9 * level)) & 511 : level === 3 ? ((vlo >>> 30) | (vhi << 2)) & 511 : (vhi >>> 7) & 511;
  const at = (g: number, level: number): number => g * 4096 + idx(level) * 8;
  const writes: [number, bigint][] = [];
  const aliasLevel = 1 + (r() % 3); // the table (level 3, 2 or 1) reached through a run GFN + 2^32
  for (let level = 4; level >= 1; level--) {
    let next = level === 1 ? 0x4000 + (r() % 0x3000) : tg(level - 1);
    if (placement === 'alias' && level === aliasLevel + 1) next = TWO32 + tg(level - 1);
    if (level > 1 && r() % 100 < 3) next = low + 32 + level; // a table never written: reads as zero
    const [lo, hi] = entry(r, fmt, level, next);
    writes.push([at(tg(level), level), (BigInt(hi) << 32n) | BigInt(lo)]);
  }
  const rest: [number, bigint][] = [];
  if (placement === 'alias') {
    // What the aliased table holds (the walk must read it, not the run's table 2^32 below).
    const [lo, hi] = entry(r, fmt, aliasLevel, aliasLevel === 1 ? 0x4000 + (r() % 0x3000) : tg(aliasLevel - 1));
    rest.push([at(TWO32 + tg(aliasLevel), aliasLevel), (BigInt(hi) << 32n) | BigInt(lo)]);
  }
  if (placement === 'across') for (const g of [tg(3) + 1, tg(3) + 2, tg(3) + 3]) rest.push([g * 4096, 1n]); // the run goes on across 2^32
  // A few frames first so that the run's delta is not 0, then the tables: in GFN order (level 1's
  // first: one run), or shuffled.
  for (let k = r() % 4; k > 0; k--) mem.write64(gpa(BigInt((0x8000 + k * 3) * 4096)), 1n);
  const tables = writes.slice().reverse();
  if (placement === 'edge') {
    // The edge table first, then another frame (so that no run joins it to the others), then the
    // others in GFN order (level order here).
    const e = tables.splice(edgeLevel - 1, 1)[0]!;
    mem.write64(gpa(BigInt(e[0])), e[1]);
    mem.write64(gpa(BigInt(0x9000 * 4096)), 1n);
  }
  if (placement === 'shuffled') {
    for (let k = tables.length - 1; k > 0; k--) {
      const j = r() % (k + 1);
      [tables[k], tables[j]] = [tables[j]!, tables[k]!];
    }
  }
  for (const [a, v] of [...tables, ...rest]) mem.write64(gpa(BigInt(a)), v);
  if (placement === 'edge') {
    // The frame after the run's last (the frame a GFN at the run's end would have if the run went
    // on) holds the edge table's entry with U/S and XD flipped: a walk that took it would give
    // another pteAccess.
    const v = writes[4 - edgeLevel]![1] ^ ((1n << 63n) | 4n);
    mem.write64(gpa(BigInt(0x9100 * 4096 + idx(edgeLevel) * 8)), v);
  }
  // No protection key can fault: PKRU 0, or CR4.PKE clear (pkruMask 0).
  const pkru = fmt.pkruMask === 0 && r() % 2 === 0 ? r() >>> 0 : 0;
  const inputs: WalkInputs = { mem, format: fmt, rootGfn: tg(4), pdptrs: undefined, pdptBase: 0, pkru, fetchSetsId: r() % 2 === 0 };
  return { mem, inputs, vhi, vlo, access: encodeAccess(ACCESSES[r() % ACCESSES.length]!) };
}
