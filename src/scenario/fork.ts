/**
 * A guest process forks: the parent touches its heap; the guest kernel write-protects the
 * parent's PTEs for copy-on-write and builds the child's tables (real guest stores through its
 * direct map, which the shadow MMU sees as page-table writes); parent and child take turns
 * (MOV CR3) and take COW faults (guest #PF → the kernel copies, stores the PTE, INVLPG); the
 * child exits (its PTEs cleared, a guest TLB flush). The same guest operations on any MMU.
 */
import type { AccessResult } from '../vm/access-result';
import type { PageTableBuilder } from '../builder/page-table-builder';
import { PageTableBuilder as Builder } from '../builder/page-table-builder';
import { guest, type Guest } from './guest';
import type { SpteConfigSpec } from '../spte/spte-config';
// The guest kernel's direct map of its own memory (Linux's PAGE_OFFSET), as the trace machine's.
import { DIRECT_MAP } from '../workload/trace-machine';
import { checkBigint, checkEnum, checkObject, refuse } from '../validate/checks';
import { checkCount, checkGuest, checkVa } from './check-guest';

/** Where the forking process keeps its heap. */
export const HEAP_VA = 0x4000_0000n;
/** P|W|U|A|D. */
const PTE = 1n | 2n | 4n | 0x20n | 0x40n;

export interface ForkSpec {
  mmu: 'tdp' | 'shadow';
  /** Heap pages of the parent (default 64). */
  pages?: number;
  /** Context-switch rounds (default 8); each round the child COWs 8 pages, the parent 4. */
  rounds?: number;
  spte?: SpteConfigSpec;
}

export interface ForkRun extends Guest {
  /** Every access's outcome (`ok:<gpa>` or the status), in order: equal across MMUs. */
  outcomes: string[];
  /** The status of every PTE store the guest kernel made (`ok`, or `emulated` for a write-protected table). */
  stores: string[];
  /** VM and vCPU counters, plus `unsyncs` / `syncs` counted from the event log. */
  stats: Record<string, number>;
}

/** Stores a PTE the way the guest kernel does: through its direct map, as a guest write. */
export function kernelStorePte(g: Guest, pt: PageTableBuilder, va: bigint, value: bigint): AccessResult {
  checkGuest('g', g);
  if (!(pt instanceof Builder)) refuse('pt', 'builder', 'must be a PageTableBuilder', pt);
  checkVa('va', va);
  checkBigint('value', value);
  return g.vcpu.store(DIRECT_MAP + BigInt(pt.getEntry(va, 1).gpa), value, 8);
}

/** Maps the guest kernel's direct map of `pages` pages from `base` (default: the table pools) into `pt`. */
export function mapKernelDirectMap(pt: PageTableBuilder, base = 0x10_0000n, pages = 512): void {
  if (!(pt instanceof Builder)) refuse('pt', 'builder', 'must be a PageTableBuilder', pt);
  // The direct map covers guest-physical memory below 2^46 (MAXPHYADDR 46).
  checkBigint('base', base, { max: (1n << 46n) - 1n, align: 0x1000n });
  checkCount('pages', pages, 1);
  pt.map(DIRECT_MAP + base, base, { count: pages, flags: { writable: true, accessed: true, dirty: true } });
}

export function forkScenario(spec: ForkSpec): ForkRun {
  checkObject('spec', spec);
  checkEnum('spec.mmu', spec.mmu, ['tdp', 'shadow']);
  // The heap's frames (and the COW copies) lie from 16 MiB in the 1 GiB of RAM: at most 2^16 pages.
  if (spec.pages !== undefined) checkCount('spec.pages', spec.pages, 1, 0x1_0000);
  if (spec.rounds !== undefined) checkCount('spec.rounds', spec.rounds, 0, 10_000);
  const pages = spec.pages ?? 64;
  const rounds = spec.rounds ?? 8;
  const g = guest({ mmu: spec.mmu, spte: spec.spte ?? { flavour: 'ept' } });
  const { vm, vcpu: v } = g;
  // Two address spaces; each maps the kernel's direct map of the table pools.
  const parent = g.pt;
  const child = new Builder(vm.guestMem, { mode: 'paging4', pool: { base: 0x20_0000n, size: 0x10_0000n } });
  for (const s of [parent, child]) mapKernelDirectMap(s);
  const page = (i: number): bigint => HEAP_VA + BigInt(i) * 4096n;
  let next = 0x100_0000n;
  const frames: bigint[] = [];
  for (let i = 0; i < pages; i++) {
    frames.push(next);
    parent.map(page(i), next, { flags: { writable: true, user: true } });
    next += 0x1000n;
  }
  child.map(page(0), 0n, { count: pages, flags: { notPresent: true } });
  const outcomes: string[] = [];
  const note = (r: AccessResult): void => void outcomes.push(r.status === 'ok' ? `ok:${r.gpa!.toString(16)}` : r.status);
  const stores: string[] = [];
  const kstore = (pt: PageTableBuilder, va: bigint, value: bigint): void => void stores.push(kernelStorePte(g, pt, va, value).status);
  for (let i = 0; i < pages; i++) note(v.write(page(i), true)); // 1. touch the heap
  for (let i = 0; i < pages; i++) {
    kstore(parent, page(i), frames[i]! | (PTE & ~2n)); // 2. fork: COW-protect both
    kstore(child, page(i), frames[i]! | (PTE & ~2n));
  }
  v.flushGuestTlb();
  const cow = (pt: PageTableBuilder, i: number): void => {
    const r = v.write(page(i), true);
    note(r);
    if (r.status !== 'guest-pf') return;
    kstore(pt, page(i), next | PTE);
    next += 0x1000n;
    v.invlpg(page(i));
    note(v.write(page(i), true));
  };
  for (let round = 0; round < rounds; round++) {
    v.movCr3(child.root); // 3. run both
    for (let i = round * 8; i < round * 8 + 8; i++) cow(child, i % pages);
    for (let i = 0; i < pages; i += 4) note(v.read(page(i), true));
    v.movCr3(parent.root);
    for (let i = round * 8; i < round * 8 + 4; i++) cow(parent, i % pages);
    for (let i = 1; i < pages; i += 4) note(v.read(page(i), true));
  }
  for (let i = 0; i < pages; i++) kstore(child, page(i), 0n); // 4. the child exits
  v.flushGuestTlb();
  for (let i = 0; i < pages; i++) note(v.read(page(i), true));
  const count = (k: string): number => vm.events.all.filter((e) => e.kind === k).length;
  const stats: Record<string, number> = { ...vm.stats.snapshot(), ...v.stats.snapshot(), unsyncs: count('unsync'), syncs: count('sync') };
  return { ...g, outcomes, stores, stats };
}
