/**
 * A guest kernel rewriting PTEs of one page table between TLB flushes — the pattern unsync is for
 * (reference §8.7): a process's heap is mapped by one guest PT (512 PTEs); each round the kernel
 * stores `writesPerFlush` PTEs through its direct map (a guest write to a shadowed gPT), flushes
 * its TLB (MOV CR3 / INVPCID: `kvm_mmu_sync_roots`) and touches the remapped pages. With unsync
 * the first store of a round faults, the gPT goes unsync (`mmu_try_to_unsync_pages`) and the rest
 * run at guest speed; the flush re-reads the gPT (`kvm_sync_page`). Without it (`unsync: false`)
 * every store is write-protected and emulated (`kvm_mmu_track_write`).
 */
import { guest, type Guest } from './guest';
import { checkBool, checkInt, checkObject } from '../validate/checks';
import { HEAP_VA, kernelStorePte, mapKernelDirectMap } from './fork';

export interface PtWriteSpec {
  /** PTE stores between two guest TLB flushes (1..512). */
  writesPerFlush: number;
  /** Rounds (flushes); default 8. */
  flushes?: number;
  /** The VM's `unsync` option (default true, as KVM). */
  unsync?: boolean;
  /** Appendix A invariant checks after every operation (default false: sweeps run many rounds). */
  checkInvariants?: boolean;
}

export interface PtWriteRun extends Guest {
  /** vCPU and VM counters after the rounds, minus those of the warm-up (touching the heap). */
  stats: Record<string, number>;
  /** The status of every PTE store (`ok`, or `emulated` for a write-protected gPT). */
  stores: string[];
}

/** P|W|U|A|D. */
const PTE = 0x67n;
const PAGES = 512;

export function ptWriteScenario(spec: PtWriteSpec): PtWriteRun {
  checkObject('spec', spec);
  const n = checkInt('spec.writesPerFlush', spec.writesPerFlush, { min: 1, max: PAGES });
  if (spec.flushes !== undefined) checkInt('spec.flushes', spec.flushes, { max: 100_000 });
  if (spec.checkInvariants !== undefined) checkBool('spec.checkInvariants', spec.checkInvariants);
  const g = guest({ mmu: 'shadow', vm: { unsync: spec.unsync ?? true }, checkInvariants: spec.checkInvariants ?? false });
  const { vm, pt, vcpu: v } = g;
  mapKernelDirectMap(pt);
  const page = (i: number): bigint => HEAP_VA + BigInt(i) * 4096n;
  // Two frames per page, the kernel alternates between them (a remap: migration, COW, …).
  const frame = (i: number, round: number): bigint => 0x100_0000n + BigInt(i) * 0x2000n + BigInt(round & 1) * 0x1000n;
  for (let i = 0; i < PAGES; i++) pt.map(page(i), frame(i, 1), { flags: { writable: true, user: true } });
  for (let i = 0; i < PAGES; i++) v.read(page(i), true);
  const snap = (): Record<string, number> => ({ ...vm.stats.snapshot(), ...v.stats.snapshot() });
  const before = snap();
  const stores: string[] = [];
  for (let round = 0; round < (spec.flushes ?? 8); round++) {
    for (let k = 0; k < n; k++) stores.push(kernelStorePte(g, pt, page(k), frame(k, round) | PTE).status);
    v.flushGuestTlb();
    for (let k = 0; k < n; k++) v.read(page(k), true);
  }
  const after = snap();
  const stats = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
  return { ...g, stats, stores };
}
