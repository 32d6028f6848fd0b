/** Trace runs with the TLB model and the cost model: cycles beside the counts, TLB counters, labels. */
import { describe, expect, it } from 'vitest';
import { runTrace } from '../../src/workload/trace-run';
import { configLabel } from '../../src/workload/run-config';
import { ConfigurationError } from '../../src/workload/config-error';
import { sequentialScan, uniformRandom } from '../../src/workload/generators';
import { DEFAULT_COST_PARAMS } from '../../src';

describe('runTrace with the TLB and cost models', () => {
  it('every lookup ends as an L1 hit, an STLB hit or a miss; a second pass over 32 pages hits', () => {
    const r = runTrace({ name: 'tdp-ept', tlb: true }, sequentialScan({ pages: 32, passes: 2 }));
    const c = r.counters;
    expect(c.tlb_l1_hits! + c.tlb_stlb_hits! + c.tlb_misses!).toBe(c.tlb_lookups);
    // 32 pages fit the 64-entry L1 DTLB: the second pass (32 accesses) hits every time.
    expect(c.tlb_l1_hits).toBeGreaterThanOrEqual(32);
    expect(r.derived.tlbHitRate).toBe((c.tlb_l1_hits! + c.tlb_stlb_hits!) / c.tlb_lookups!);
    expect(r.derived.cycles).toBeGreaterThan(0);
    expect(r.derived.cyclesPerAccess).toBe(r.derived.cycles / 64);
  });

  it('without the model: no TLB counters, hit rate null, and the remote flushes priced once each', () => {
    const t = uniformRandom({ pages: 16, accesses: 40, seed: 1 });
    const off = runTrace('tdp-ept', t);
    expect(off.derived.tlbHitRate).toBeNull();
    expect(off.counters.tlb_lookups).toBeUndefined();
    const cheap = runTrace({ name: 'tdp-ept', cost: { cycles: { remoteTlbFlush: 0 } } }, t);
    expect(off.derived.cycles - cheap.derived.cycles).toBe(off.counters.remote_tlb_flush! * DEFAULT_COST_PARAMS.remoteTlbFlush.cycles);
  });

  it('the TLB makes the same run cheaper in modelled cycles, and changes no KVM counter', () => {
    const t = sequentialScan({ pages: 32, passes: 3 });
    const off = runTrace('tdp-ept', t);
    const on = runTrace({ name: 'tdp-ept', tlb: true }, t);
    expect(on.derived.cycles).toBeLessThan(off.derived.cycles);
    for (const k of ['exits', 'pf_fixed', 'remote_tlb_flush', 'pages_4k', 'pages_2m']) expect(on.counters[k], k).toBe(off.counters[k]);
  });

  it('nested EPT: L2 accesses on guest_mmu go through the model; the nested entry flushes the guest TLB (vmx/nested.c:1226-1228)', () => {
    const r = runTrace({ name: 'nested-ept', tlb: true }, sequentialScan({ pages: 8 }));
    expect(r.counters.tlb_flush_guest).toBeGreaterThanOrEqual(1);
    expect(r.counters.tlb_lookups).toBeGreaterThanOrEqual(8);
    expect(r.derived.outcomes.ok).toBe(r.derived.accesses);
  });

  it('labels and bad options', () => {
    expect(configLabel({ name: 'tdp-ept', tlb: true })).toBe('tdp-ept/tlb');
    expect(() => runTrace({ name: 'tdp-ept', tlb: 1 as never }, sequentialScan({ pages: 1 }))).toThrow(ConfigurationError);
    expect(() => runTrace({ name: 'tdp-ept', cost: { cycles: { bogus: 1 } as never } }, sequentialScan({ pages: 1 }))).toThrow(/config-cost|unknown cost parameter/);
  });
});
