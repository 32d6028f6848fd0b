/**
 * The fuzzer's operations and their seeded generator. Every operation is something a guest, L1 or
 * the VMM can do; each is drawn from the state the reference model knows (which slots exist,
 * which windows are free), so it is valid, and the same seed gives the same sequence.
 *
 * Guest layout (GPAs; for L2 these are nGPAs, mapped 1:1 by EPT12/NPT12): [0, 2 MiB) the table
 * slot, never deleted or moved (every page table lives there); data windows of 2 MiB from 2 MiB
 * up, where memslots come and go. Guest VAs: region A, 64 pages under one PT; region B, 64 pages
 * under a PDE the fuzzer switches between its PT, a 2 MiB leaf and not-present.
 */
import type { RefSlot } from './reference-model';

export const TWO_M = 0x20_0000;
export const WINDOWS = 8;
/** Data window k: GPAs [2 MiB·(k+1), 2 MiB·(k+2)). */
export function windowBase(k: number): number {
  return TWO_M * (k + 1);
}
export const VA_A = 0x4000_0000;
export const VA_B = VA_A + TWO_M;
export const REGION_PAGES = 64;
/** The guest kernel's direct map of the table slot (Linux's page_offset_base). */
export const DIRECT_MAP = 0xffff_8880_0000_0000n;
/** Data pages the PTEs point at most often (the first pages of each window). */
const HOT_PAGES = 32;

export type AccessKind = 'r' | 'w' | 'x';
export type ZapKind = 'range' | 'slot' | 'all' | 'fast' | 'unmap' | 'unmap-private' | 'age';

export type FuzzOp =
  | { t: 'access'; va: bigint; kind: AccessKind; user: boolean }
  /** The guest stores `value` to its entry for `va` at `level` (1: PTE; 2: region B's PDE) in `space`. */
  | { t: 'pte'; space: number; va: bigint; level: 1 | 2; value: bigint }
  | { t: 'invlpg'; va: bigint }
  | { t: 'flush' }
  | { t: 'cr3'; space: number }
  | { t: 'slot-add'; window: number; pages: number; hostPageSize: '4K' | '2M'; readonly: boolean; guestMemfd: boolean }
  | { t: 'slot-delete'; slot: string }
  | { t: 'slot-move'; slot: string; window: number }
  | { t: 'dirty-log'; slot: string; on: boolean }
  | { t: 'dirty-get'; slot: string }
  | { t: 'dirty-clear'; slot: string }
  | { t: 'zap'; how: ZapKind; gfn: number; pages: number; slot?: string }
  | { t: 'nx'; on: boolean }
  | { t: 'nx-recover' }
  /** L1 changes its EPT12/NPT12 leaf for nGPA page `ngfn` (low permission bits) and invalidates. */
  | { t: 'stage2'; ngfn: number; bits: number }
  /** TD guest: TDG.MEM.PAGE.ACCEPT of gfn. */
  | { t: 'accept'; gfn: number }
  /** TD: KVM_SET_MEMORY_ATTRIBUTES over [gfn, gfn + pages). */
  | { t: 'convert'; gfn: number; pages: number; to: 'private' | 'shared' };

/** What the generator may look at. */
export interface FuzzView {
  spaces: number;
  /** The address space the guest runs in. */
  current: number;
  slots: readonly RefSlot[];
  manualProtect: boolean;
  td: boolean;
  nested: boolean;
  /** Guest MAXPHYADDR (reserved PTE bits are drawn above it). */
  maxPhyAddr: number;
  /** TD: the shared bit. */
  sharedBit: number;
  nxHugePages: boolean;
  /** Pages of the regions whose entries the guest wrote lately, and the data gfns they point at. */
  recentVas: readonly bigint[];
  recentGfns: readonly number[];
}

/** xorshift32 with helpers; the state is one number, so a run is reproducible from its seed. */
export class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = (seed >>> 0) || 0x9e37_79b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.x = x;
    return x;
  }
  int(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** A data page: mostly in a slot (of the kind `want` picks, when given), else anywhere in the windows. */
function dataPage(r: Rng, v?: FuzzView, want: (s: RefSlot) => boolean = () => true): number {
  const slots = v?.slots.filter((s) => s.name !== 'pt' && want(s)) ?? [];
  const base = slots.length > 0 && r.chance(0.75) ? r.pick(slots).baseGfn : windowBase(r.int(WINDOWS)) / 4096;
  return base + (r.chance(0.85) ? r.int(HOT_PAGES) : r.int(512));
}

function regionVa(r: Rng): bigint {
  const base = r.chance(0.6) ? VA_A : VA_B;
  return BigInt(base + r.int(REGION_PAGES) * 4096 + r.int(4096));
}

/** x86 flag bits of a leaf: P, W, U, A, D at random; XD; now and then a reserved bit. */
function leafFlags(r: Rng, v: FuzzView): bigint {
  let f = 0n;
  if (r.chance(0.9)) f |= 1n;
  if (r.chance(0.75)) f |= 2n;
  if (r.chance(0.7)) f |= 4n;
  if (r.chance(0.5)) f |= 0x20n;
  if (r.chance(0.5)) f |= 0x40n;
  if (r.chance(0.2)) f |= 1n << 63n;
  if (r.chance(0.03)) f |= 1n << BigInt(v.maxPhyAddr + r.int(52 - v.maxPhyAddr));
  return f;
}

/** TD: a shared mapping (shared bit set, never executable, as Linux maps shared memory). */
function tdAlias(r: Rng, v: FuzzView, f: bigint): bigint {
  if (!v.td || !r.chance(0.35)) return f;
  return f | (1n << BigInt(v.sharedBit)) | (1n << 63n);
}

function pteValue(r: Rng, v: FuzzView): bigint {
  // TD: a shared mapping mostly of a slot without guest_memfd, a private one of a guest_memfd slot.
  const shared = v.td && r.chance(0.35);
  // Mostly data pages; sometimes a page of the table slot (the guest's own tables, read-mostly).
  const page = r.chance(0.95) ? dataPage(r, v, (s) => !v.td || (s.gmemPfnBase < 0) === shared) : r.int(64);
  const f = BigInt(page) * 4096n | leafFlags(r, v);
  return shared ? f | (1n << BigInt(v.sharedBit)) | (1n << 63n) : f;
}

function pdeValue(r: Rng, v: FuzzView, pointer: bigint): bigint {
  const x = r.int(10);
  if (x < 4) return pointer;
  if (x < 6) return r.chance(0.5) ? 0n : pointer & ~1n;
  let f = leafFlags(r, v) | 0x80n;
  // A reserved bit of a 2 MiB leaf (bits 20:13) now and then.
  if (r.chance(0.03)) f |= 1n << BigInt(13 + r.int(8));
  return tdAlias(r, v, BigInt(windowBase(r.int(WINDOWS))) | f);
}

function freeWindows(v: FuzzView): number[] {
  const out: number[] = [];
  for (let k = 0; k < WINDOWS; k++) {
    const a = windowBase(k) / 4096;
    if (!v.slots.some((s) => s.baseGfn < a + 512 && a < s.baseGfn + s.npages)) out.push(k);
  }
  return out;
}

/** One operation. `pointer(space)`: region B's PDE value when it points at its PT. */
export function randomOp(r: Rng, v: FuzzView, pointer: (space: number) => bigint): FuzzOp {
  const x = r.int(1000);
  const data = v.slots.filter((s) => s.name !== 'pt');
  if (x < 560) {
    const recent = v.recentVas.length > 0 && r.chance(0.5);
    const va = recent ? r.pick(v.recentVas) + BigInt(r.int(4096)) : r.chance(0.04) ? DIRECT_MAP + BigInt(r.int(64) * 4096 + r.int(4096)) : regionVa(r);
    return { t: 'access', va, kind: r.pick(['r', 'r', 'w', 'w', 'x'] as const), user: r.chance(0.5) };
  }
  if (x < 700) {
    const space = r.chance(0.8) ? v.current : r.int(v.spaces);
    if (r.chance(0.15)) return { t: 'pte', space, va: BigInt(VA_B), level: 2, value: pdeValue(r, v, pointer(space)) };
    return { t: 'pte', space, va: regionVa(r) & ~0xfffn, level: 1, value: pteValue(r, v) };
  }
  if (x < 740) return { t: 'invlpg', va: regionVa(r) };
  if (x < 755) return { t: 'flush' };
  if (x < 780) return { t: 'cr3', space: r.int(v.spaces) };
  if (x < 810) {
    const free = freeWindows(v);
    const y = r.int(3);
    if (y === 0 && free.length > 0 && data.length < 6) {
      const gmem = v.td && r.chance(0.7);
      return { t: 'slot-add', window: r.pick(free), pages: r.pick([512, 512, 64, 200]), hostPageSize: r.chance(0.6) ? '2M' : '4K', readonly: !gmem && r.chance(0.2), guestMemfd: gmem };
    }
    if (data.length === 0) return { t: 'flush' };
    const s = r.pick(data);
    if (y === 1 || v.td || free.length === 0) return { t: 'slot-delete', slot: s.name };
    return { t: 'slot-move', slot: s.name, window: r.pick(free) };
  }
  if (x < 880) {
    const loggable = data.filter((s) => !s.readonly && s.gmemPfnBase < 0);
    if (loggable.length === 0) return { t: 'flush' };
    const s = r.pick(loggable);
    const y = r.int(10);
    if (y < 3 || !s.dirtyLogging) return { t: 'dirty-log', slot: s.name, on: !s.dirtyLogging || y === 0 ? !s.dirtyLogging : true };
    if (y < 7 || !v.manualProtect) return { t: 'dirty-get', slot: s.name };
    return { t: 'dirty-clear', slot: s.name };
  }
  if (x < 930) {
    const hows: ZapKind[] = v.td ? ['all', 'fast', 'unmap', 'unmap-private', 'age'] : ['range', 'slot', 'all', 'fast', 'unmap', 'age'];
    const how = r.pick(hows);
    const gfn = dataPage(r, v);
    const slot = how === 'slot' && data.length > 0 ? r.pick(data).name : undefined;
    return slot === undefined ? { t: 'zap', how: how === 'slot' ? 'range' : how, gfn, pages: 1 + r.int(600) } : { t: 'zap', how, gfn, pages: 1, slot };
  }
  if (x < 940) return r.chance(0.5) ? { t: 'nx', on: !v.nxHugePages } : { t: 'nx-recover' };
  if (v.nested) return { t: 'stage2', ngfn: windowBase(r.int(WINDOWS)) / 4096 + r.int(HOT_PAGES), bits: r.int(8) };
  if (v.td) {
    if (r.chance(0.75)) return { t: 'accept', gfn: v.recentGfns.length > 0 && r.chance(0.7) ? r.pick(v.recentGfns) : dataPage(r, v) };
    return { t: 'convert', gfn: dataPage(r), pages: 1 + r.int(8), to: r.chance(0.6) ? 'private' : 'shared' };
  }
  return { t: 'access', va: regionVa(r), kind: r.pick(['r', 'w', 'x'] as const), user: r.chance(0.5) };
}

/** An op as JSON-safe text (bigints in hex). */
export function opText(op: FuzzOp): string {
  return JSON.stringify(op, (_k, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v));
}
