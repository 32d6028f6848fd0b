/**
 * Workload scenarios over a `guest()`: touching a range, dirty-logging cycles, CR3 switches
 * between address spaces. Each returns the counters it was run for, so a note shows the result
 * and claims about it without re-implementing the loop.
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { xorshift } from '../workload/generators';
import type { Guest } from './guest';
import { checkBool, checkEnum, checkObject } from '../validate/checks';
import { checkCount, checkGuest, checkVa } from './check-guest';

/** A seeded permutation of 0..n-1 (Fisher–Yates over the exported xorshift32). */
export function shuffled(n: number, seed: number): number[] {
  checkCount('n', n);
  checkCount('seed', seed, 0, 0xffff_ffff);
  const a = Array.from({ length: n }, (_, i) => i);
  const r = xorshift(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = r() % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Touch `pages` 4 KiB pages from `va`, in a seeded order (or in order without a seed). */
export function touchPages(g: Guest, va: bigint, pages: number, kind: 'read' | 'write', seed?: number): void {
  checkGuest('g', g);
  checkVa('va', va);
  checkCount('pages', pages);
  checkEnum('kind', kind, ['read', 'write']);
  if (seed !== undefined) checkCount('seed', seed, 0, 0xffff_ffff);
  const order = seed === undefined ? Array.from({ length: pages }, (_, i) => i) : shuffled(pages, seed);
  for (const i of order) g.vcpu.access(va + BigInt(i) * 4096n, { kind });
}

export interface DirtyLogCycle {
  cycle: number;
  writes: number;
  exits: number;
  pf_fast: number;
  /** GPAs KVM_GET_DIRTY_LOG returned for the cycle (guest page-table pages included). */
  logged: number;
}

/**
 * Dirty logging as a migration does it: enable logging on RAM (`kvm_mmu_slot_apply_flags`),
 * harvest once, then per cycle write `writes` pages `stride` pages apart from `va` and harvest
 * (KVM_GET_DIRTY_LOG, which re-protects what it reports).
 */
export function dirtyLogCycles(g: Guest, spec: { va: bigint; cycles: number; writes: number; stride?: number; eagerSplit?: boolean }): DirtyLogCycle[] {
  checkGuest('g', g);
  checkObject('spec', spec);
  checkVa('spec.va', spec.va);
  checkCount('spec.cycles', spec.cycles);
  checkCount('spec.writes', spec.writes);
  if (spec.stride !== undefined) checkCount('spec.stride', spec.stride);
  if (spec.eagerSplit !== undefined) checkBool('spec.eagerSplit', spec.eagerSplit);
  const { vm, vcpu, ram } = g;
  vm.setDirtyLogging(ram, true, spec.eagerSplit === undefined ? {} : { eagerSplit: spec.eagerSplit });
  vm.getDirtyLog(ram);
  const rows: DirtyLogCycle[] = [];
  for (let cycle = 1; cycle <= spec.cycles; cycle++) {
    const before = vcpu.stats.snapshot();
    for (let i = 0; i < spec.writes; i++) vcpu.write(spec.va + BigInt(i * (spec.stride ?? 1)) * 4096n);
    const s = vcpu.stats.snapshot();
    rows.push({ cycle, writes: spec.writes, exits: s.exits - before.exits, pf_fast: s.pf_fast - before.pf_fast, logged: vm.getDirtyLog(ram).length });
  }
  return rows;
}

/**
 * `spaces` processes, each with its own page tables mapping `pages` pages at `va` (pools after
 * the guest's own), scheduled round-robin for `slices` slices with MOV CR3, each slice touching
 * every page once. Returns the address spaces' builders.
 */
export function cr3Switches(g: Guest, spec: { va: bigint; spaces: number; pages: number; slices: number }): PageTableBuilder[] {
  checkGuest('g', g);
  checkObject('spec', spec);
  checkVa('spec.va', spec.va);
  // Each space's pool is 1 MiB from 64 MiB; its pages' frames from 128 MiB (1 GiB of RAM).
  checkCount('spec.spaces', spec.spaces, 1, 64);
  checkCount('spec.pages', spec.pages, 0, 0x1_0000);
  checkCount('spec.slices', spec.slices);
  const { vm, vcpu } = g;
  const spaces: PageTableBuilder[] = [];
  for (let s = 0; s < spec.spaces; s++) {
    const b = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x400_0000n + BigInt(s) * 0x10_0000n, size: 0x10_0000n } });
    b.map(spec.va, 0x800_0000n + BigInt(s * spec.pages) * 4096n, { count: spec.pages, flags: { writable: true, user: true } });
    spaces.push(b);
  }
  for (let k = 0; k < spec.slices; k++) {
    vcpu.movCr3(spaces[k % spec.spaces]!.root);
    for (let i = 0; i < spec.pages; i++) vcpu.read(spec.va + BigInt(i) * 4096n, true);
  }
  return spaces;
}
