/**
 * A trace's result: KVM's counters (VM + vCPU, KVM names), the figures derived from them, the
 * event log as an arquero table and the cumulative-fault series.
 */
import type * as aq from 'arquero';
import type { ResolvedConfig } from './run-config';
import type { Trace } from './trace';
import type { TraceMachine } from './trace-machine';
import { literatureRefs } from './memory-refs';

/** What the runner counts itself: outcomes of the trace's accesses, not of the kernel's PT stores. */
export interface RunTally {
  accesses: number;
  ok: number;
  guestPf: number;
  emulated: number;
  l1Exit: number;
  /** TD: KVM_EXIT_MEMORY_FAULT (a private/shared mismatch) returned to userspace. */
  memoryFault: number;
  /** nested-shadow: L2 #PF, CR3, INVLPG and flushes that L1 (the shadowing hypervisor) intercepts. */
  l1Intercepts: number;
  refsSum: number;
  refsCount: number;
}

export interface SeriesPoint {
  /** Ops run so far. */
  op: number;
  accesses: number;
  /** KVM page faults handled (pf_taken). */
  kvmFaults: number;
  /** #PFs delivered to the guest (the trace's own faults: COW, unmapped pages). */
  guestFaults: number;
  exits: number;
}

export const FAULT_KINDS = ['kvm-fixed', 'kvm-fast', 'kvm-emulated', 'kvm-spurious', 'guest-pf', 'reflected-to-l1'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Derived {
  /** Trace accesses (r/w/x ops); the guest kernel's page-table stores are not counted here. */
  accesses: number;
  outcomes: { ok: number; guestPf: number; emulated: number; l1Exit: number; memoryFault: number };
  /** KVM exits (all of them, page-table stores included) per 1000 trace accesses. */
  exitsPer1000: number;
  faultsByKind: Record<FaultKind, number>;
  /** Mean memory references per translation on a TLB miss (see memory-refs.ts); null when not measurable. */
  refsPerAccess: number | null;
  /** The literature figure for this configuration (4-level guest and TDP). */
  refsLiterature: number;
}

export interface TraceResult {
  config: string;
  trace: string;
  seed: number;
  /** VM and vCPU counters under KVM's names (they do not overlap). */
  counters: Record<string, number>;
  derived: Derived;
  events: aq.ColumnTable;
  series: SeriesPoint[];
}

export function buildResult(label: string, c: ResolvedConfig, t: Trace, m: TraceMachine, tally: RunTally, series: SeriesPoint[]): TraceResult {
  // A TD adds its own counters (private/shared faults, conversions, SEAMCALLs).
  const counters: Record<string, number> = { ...m.vm.stats.snapshot(), ...m.vcpu.stats.snapshot(), ...(m.vm.td?.stats.snapshot() ?? {}) };
  const faultsByKind: Record<FaultKind, number> = {
    'kvm-fixed': counters.pf_fixed! - counters.pf_fast!,
    'kvm-fast': counters.pf_fast!,
    'kvm-emulated': counters.pf_emulate!,
    'kvm-spurious': counters.pf_spurious!,
    'guest-pf': tally.guestPf,
    'reflected-to-l1': counters.nested_reflected! + tally.l1Intercepts,
  };
  return {
    config: label,
    trace: t.name,
    seed: t.seed,
    counters,
    derived: {
      accesses: tally.accesses,
      outcomes: { ok: tally.ok, guestPf: tally.guestPf, emulated: tally.emulated, l1Exit: tally.l1Exit, memoryFault: tally.memoryFault },
      exitsPer1000: tally.accesses === 0 ? 0 : (counters.exits! * 1000) / tally.accesses,
      faultsByKind,
      refsPerAccess: tally.refsCount === 0 ? null : tally.refsSum / tally.refsCount,
      refsLiterature: literatureRefs(c),
    },
    events: m.vm.eventsTable() as aq.ColumnTable,
    series: series.map((p) => ({ ...p })),
  };
}
