/** The `nxrecover` trace op: one pass of KVM's NX huge page recovery (mmu.c: kvm_recover_nx_huge_pages). */
import { describe, expect, it } from 'vitest';
import { createRun, runTrace } from '../../src/workload/trace-run';
import { TraceError, validateTrace } from '../../src/workload/validate-trace';
import { ConfigurationError } from '../../src/workload/config-error';
import { DATA_PA } from '../../src/workload/generators';
import type { Trace, TraceOp } from '../../src/workload/trace';

const VA = 0x4000_0000;

function trace(ops: TraceOp[]): Trace {
  return { name: 'nx', seed: 0, params: {}, spaces: 1, memory: DATA_PA + 0x40_0000, ops: [{ t: 'map', va: VA, pa: DATA_PA, n: 1024, w: true }, ...ops] };
}

describe("trace op 'nxrecover'", () => {
  it('zaps the NX-split tables; the next exec splits again and the splits are counted again', () => {
    const t = trace([
      { t: 'r', va: VA }, { t: 'x', va: VA }, // a 2 MiB leaf, split by the exec
      { t: 'r', va: VA + 0x20_0000 }, { t: 'x', va: VA + 0x20_0000 },
      { t: 'nxrecover', ratio: 1 },
      { t: 'x', va: VA + 0x1000 },
    ]);
    const run = createRun({ name: 'tdp-ept', nxHugePages: true }, t);
    const stats = run.machine.vm.stats;
    run.step(5);
    expect(stats.get('nx_lpage_splits')).toBe(2); // tdp_mmu.c:1302-1306: one per split table
    const flushes = stats.get('remote_tlb_flush');
    const faults = run.machine.vcpu.stats.get('pf_taken');
    run.step(1);
    // mmu.c:7544 to_zap = DIV_ROUND_UP(2, 1): both tables zapped, untracked (tdp_mmu.c:349-358).
    expect(stats.get('nx_lpage_splits')).toBe(0);
    expect(stats.get('remote_tlb_flush')).toBe(flushes + 1);
    run.step();
    expect(run.machine.vcpu.stats.get('pf_taken')).toBe(faults + 1);
    expect(stats.get('nx_lpage_splits')).toBe(1);
    expect(run.result().counters.nx_lpage_splits).toBe(1);
  });

  it('the default ratio (60, mmu.c:70) zaps ⌈2/60⌉ = 1 table', () => {
    const t = trace([{ t: 'x', va: VA }, { t: 'x', va: VA + 0x20_0000 }, { t: 'nxrecover' }]);
    expect(runTrace({ name: 'tdp-npt', nxHugePages: true }, t).counters.nx_lpage_splits).toBe(1);
  });

  it('runs in every configuration without the mitigation as a no-op on the counters', () => {
    const t = trace([{ t: 'x', va: VA }, { t: 'nxrecover', ratio: 1 }, { t: 'x', va: VA }]);
    for (const c of ['tdp-ept', 'shadow', 'nested-ept', 'td'] as const) {
      const r = runTrace(c, t);
      expect(r.counters.nx_lpage_splits, c).toBe(0);
      expect(r.derived.outcomes.ok, c).toBe(2);
    }
  });

  it('a bad ratio or nxHugePages is a typed error before anything runs', () => {
    for (const ratio of [-1, 1.5, 2 ** 32]) {
      expect(() => validateTrace(trace([{ t: 'nxrecover', ratio }]))).toThrow(TraceError);
    }
    expect(() => validateTrace(trace([{ t: 'nxrecover', ratio: -1 }]))).toThrow(/trace-nx-ratio/);
    expect(() => createRun({ name: 'tdp-ept', nxHugePages: 'yes' as unknown as boolean }, trace([]))).toThrow(ConfigurationError);
  });
});
