/**
 * A trace's result: KVM's counters (VM + vCPU, KVM names), the figures derived from them, the
 * event log as an arquero table and the cumulative-fault series.
 */
import type * as aq from 'arquero';
import type { ResolvedConfig } from './run-config';
import type { Trace } from './trace';
import type { TraceMachine } from './trace-machine';
import { literatureRefs } from './memory-refs';
import { eventsTable } from '../events/tables';

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
  /**
   * Modelled cycles of the whole run under the VM's cost model: every vCPU access (the guest
   * kernel's page-table stores included) plus every remote TLB flush (src/cost).
   */
  cycles: number;
  /** `cycles` per trace access. */
  cyclesPerAccess: number;
  /** TLB hits (L1 + STLB) per lookup; null with the TLB model off. */
  tlbHitRate: number | null;
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
  const tlb = m.vcpu.tlb;
  const tlbCounters: Record<string, number> = {};
  if (tlb !== undefined) for (const [k, v] of Object.entries(tlb.stats.snapshot())) tlbCounters[`tlb_${k}`] = v;
  const counters: Record<string, number> = { ...m.vm.stats.snapshot(), ...m.vcpu.stats.snapshot(), ...(m.vm.td?.stats.snapshot() ?? {}), ...tlbCounters };
  // Remote flushes are priced once per flush (VM-wide), not per access that triggered one.
  const cyc = m.vcpu.cycles;
  const cycles = cyc.cycles - cyc.remoteFlush + counters.remote_tlb_flush! * m.vm.costModel.params.remoteTlbFlush.cycles;
  const lookups = tlb?.stats.get('lookups') ?? 0;
  const faultsByKind: Record<FaultKind, number> = {
    'kvm-fixed': counters.pf_fixed! - counters.pf_fast!,
    'kvm-fast': counters.pf_fast!,
    'kvm-emulated': counters.pf_emulate!,
    'kvm-spurious': counters.pf_spurious!,
    'guest-pf': tally.guestPf,
    'reflected-to-l1': counters.nested_reflected! + tally.l1Intercepts,
  };
  const result: Omit<TraceResult, 'events'> = {
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
      cycles,
      cyclesPerAccess: tally.accesses === 0 ? 0 : cycles / tally.accesses,
      tlbHitRate: tlb === undefined || lookups === 0 ? null : (tlb.stats.get('l1_hits') + tlb.stats.get('stlb_hits')) / lookups,
    },
    series: series.map((p) => ({ ...p })),
  };
  // The event table is built on its first read, not here: a sweep row reads counters only, and the
  // table (a hex string per address of every row) is per-job work no row shows, which also loaded
  // arquero into every worker. The rows are copied now, so the table is still the log as it was
  // when the result was taken, whatever runs or is cleared later.
  const log = m.vm.events.copy();
  let events: aq.ColumnTable | undefined;
  return Object.defineProperty(result, 'events', { enumerable: true, get: () => (events ??= eventsTable(log)) }) as TraceResult;
}
