/**
 * The same traces under several paging configurations with the vCPU's TLB model on and off: hit
 * rates, walk references per miss, TLB reach and modelled cycles per access (src/cost), one row
 * per (configuration, workload, TLB). For the design note on shadow paging vs TDP vs nested EPT.
 */
import { createRun } from '../workload/trace-run';
import type { ConfigName } from '../workload/run-config';
import type { Trace } from '../workload/trace';
import { addressSpaces, forkStorm, sequentialScan, uniformRandom } from '../workload/generators';
import { Tlb } from '../tlb/tlb';
import { checkArray, checkBool, checkInt, refuse } from '../validate/checks';
import { resolveConfig } from '../workload/run-config';
import { validateTrace } from '../workload/validate-trace';

export interface TlbRow {
  config: ConfigName;
  workload: string;
  tlb: 'on' | 'off';
  /** Trace accesses (the guest kernel's page-table stores are not counted). */
  accesses: number;
  /** KVM exits of the whole run. */
  exits: number;
  /** TLB hits per lookup (null: model off). */
  hitRate: number | null;
  /** Lookups that walked (off: every access). */
  misses: number;
  /** Memory references per miss, after the paging-structure and nested caches (off: uncached). */
  refsPerMiss: number | null;
  /** Walk memory references per trace access (off: every access walks, uncached). */
  refsPerAccess: number;
  /** Flushes KVM requested of the TLB (remote, current, guest) and the entries they dropped. */
  flushes: number | null;
  /** Bytes the TLB's valid linear/combined entries map at the end of the run (KiB). */
  reachKiB: number | null;
  /** Of those, distinct 2 MiB entries. */
  entries2M: number | null;
  /** Modelled cycles per trace access, and the parts that differ between configurations. */
  cyclesPerAccess: number;
  walkCyclesPerAccess: number;
  exitCyclesPerAccess: number;
}

const PAGE_KIB = [4, 2048, 1048576] as const;

/**
 * TLB reach: KiB mapped by the distinct valid entries of the L1 TLBs and the STLB (an L1 copy of
 * an STLB entry counts once; the L1 may still hold what the STLB evicted), and how many are 2 MiB.
 */
export function tlbReach(tlb: Tlb): { kib: number; entries2M: number } {
  if (!(tlb instanceof Tlb)) refuse('tlb', 'tlb', 'must be a Tlb', tlb);
  const s = tlb.snapshot();
  const seen = new Set<string>();
  let kib = 0;
  let entries2M = 0;
  for (const e of [...s.stlb, ...s.l1d, ...s.l1i]) {
    const k = `${e.size}:${e.index}:${e.vpid}:${e.pcid}:${e.eptp}`;
    if (seen.has(k)) continue;
    seen.add(k);
    kib += PAGE_KIB[e.size];
    if (e.size === 1) entries2M++;
  }
  return { kib, entries2M };
}

/** One trace on one configuration, TLB on or off, as a row. */
export function tlbRow(config: ConfigName, trace: Trace, tlbOn: boolean): TlbRow {
  checkBool('tlbOn', tlbOn);
  // A non-string config would be spread into the spec's name: refuse it as the config itself.
  if (typeof config !== 'string') resolveConfig(config);
  const run = createRun({ name: config, tlb: tlbOn }, trace);
  run.step();
  const r = run.result();
  const c = r.counters;
  const v = run.machine.vcpu;
  const n = r.derived.accesses;
  const tlb = v.tlb;
  const misses = tlb === undefined ? null : tlb.stats.get('misses');
  const reach = tlb === undefined ? undefined : tlbReach(tlb);
  const walkRefs = tlb === undefined ? (r.derived.refsPerAccess ?? r.derived.refsLiterature) * n : tlb.stats.get('walk_refs');
  return {
    config, workload: trace.name, tlb: tlbOn ? 'on' : 'off', accesses: n, exits: c.exits!,
    hitRate: r.derived.tlbHitRate, misses: misses ?? n,
    // Off: every access is a miss that walks uncached.
    refsPerMiss: tlb === undefined ? walkRefs / n : misses === 0 ? null : walkRefs / misses!,
    refsPerAccess: walkRefs / n,
    flushes: tlb === undefined ? null : tlb.stats.get('flush_all') + tlb.stats.get('flush_current') + tlb.stats.get('flush_guest'),
    reachKiB: reach?.kib ?? null, entries2M: reach?.entries2M ?? null,
    cyclesPerAccess: r.derived.cyclesPerAccess,
    walkCyclesPerAccess: v.cycles.walk / n,
    exitCyclesPerAccess: (v.cycles.exits + v.cycles.kvm + v.cycles.emulation) / n,
  };
}

/**
 * The note's workloads (seeded): uniform random over more pages than the STLB maps, a sequential
 * scan that fits it, fork-like write-protect/COW storms, and address-space (CR3) switches.
 */
export function tlbWorkloads(seed = 1, scale = 1): Trace[] {
  checkInt('seed', seed, { max: 0xffff_ffff });
  // The largest trace is 6000 × scale accesses: at most 64 keeps a call within 10^6 operations.
  checkInt('scale', scale, { min: 1, max: 64 });
  return [
    uniformRandom({ pages: 2048 * scale, accesses: 6000 * scale, seed }),
    sequentialScan({ pages: 512 * scale, passes: 4 }),
    forkStorm({ pages: 256 * scale, forks: 4, writesPerFork: 64, seed }),
    addressSpaces({ spaces: 4, pagesPerSpace: 128 * scale, slices: 32, accessesPerSlice: 128, seed }),
  ];
}

/** Every (configuration × workload × TLB off/on) row. */
export function tlbComparison(configs: readonly ConfigName[], traces: readonly Trace[]): TlbRow[] {
  // Every configuration and trace checked before the first run.
  checkArray('configs', configs).forEach((c) => resolveConfig(c as ConfigName));
  checkArray('traces', traces).forEach((t) => validateTrace(t));
  return configs.flatMap((c) => traces.flatMap((t) => [false, true].map((on) => tlbRow(c, t, on))));
}
