import { describe, expect, it } from 'vitest';
import { runTrace, createRun } from '../../src/workload/trace-run';
import { ConfigurationError } from '../../src/workload/config-error';
import { validateTrace } from '../../src/workload/validate-trace';
import { TraceError } from '../../src/workload/validate-trace';
import { sequentialScan, forkStorm, addressSpaces, tdMix, uniformRandom } from '../../src/workload/generators';
import type { ConfigName } from '../../src/workload/run-config';
import { DEFAULT_COST_MODEL } from '../../src/cost/cost-model';

const RUNNABLE: ConfigName[] = ['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow'];

describe('runTrace', () => {
  it('a sequential scan completes every access in every configuration', () => {
    const t = sequentialScan({ pages: 48, passes: 2 });
    for (const c of RUNNABLE) {
      const r = runTrace(c, t);
      expect(r.derived.accesses, c).toBe(96);
      expect(r.derived.outcomes, c).toEqual({ ok: 96, guestPf: 0, emulated: 0, l1Exit: 0, memoryFault: 0 });
    }
  });

  it('a second pass over mapped memory adds no exits (KVM faults each page in once)', () => {
    for (const c of RUNNABLE) {
      const one = runTrace(c, sequentialScan({ pages: 32, passes: 1 }));
      const two = runTrace(c, sequentialScan({ pages: 32, passes: 2 }));
      expect(two.counters.exits, c).toBe(one.counters.exits);
      expect(two.counters.exits, c).toBeGreaterThan(0);
    }
  });

  it('memory references per TLB miss: 24 for a 4x4 2D walk on 4 KiB TDP leaves, 19 on 2 MiB leaves, 4 for shadow', () => {
    const t = sequentialScan({ pages: 16, passes: 1 });
    // (n+1)(m+1) - 1 with n = m = 4.
    expect(runTrace({ name: 'tdp-ept', hostPageSize: '4K' }, t).derived.refsPerAccess).toBe(24);
    expect(runTrace({ name: 'tdp-npt', hostPageSize: '4K' }, t).derived.refsPerAccess).toBe(24);
    // 4 guest reads + 5 TDP walks of 3 levels each (the 2 MiB leaf is at level 2).
    expect(runTrace({ name: 'tdp-ept', hostPageSize: '2M' }, t).derived.refsPerAccess).toBe(19);
    expect(runTrace('shadow', t).derived.refsPerAccess).toBe(4);
    expect(runTrace('nested-ept', t).derived.refsPerAccess).toBeNull();
    expect(runTrace('nested-ept', t).derived.refsLiterature).toBe(24);
    expect(runTrace('shadow', t).derived.refsLiterature).toBe(4);
  });

  it('a TD: private memory is walked through the S-EPT, mapped 4 KiB whatever the host page: 24 references, not the shared EPT\'s depth', () => {
    const t = sequentialScan({ pages: 16, passes: 1 });
    // tdx.c:3325-3327 tdx_gmem_private_max_mapping_level returns PG_LEVEL_4K; GPAW 48 gives a
    // 4-level S-EPT (mmu.c:5596-5606 kvm_mmu_get_tdp_level, a TD's GPAW as MAXPHYADDR, mmu.c:5594):
    // (n+1)(m+1) - 1 with n = m = 4, as for 4 KiB TDP leaves above.
    for (const hostPageSize of ['4K', '2M'] as const) expect(runTrace({ name: 'td', hostPageSize }, t).derived.refsPerAccess, hostPageSize).toBe(24);
  });

  it('a TD: the EPT violations of TDG.MEM.PAGE.ACCEPT are priced, each a round trip and a slow-path fault', () => {
    const run = createRun('td', sequentialScan({ pages: 16, passes: 1 }));
    run.step();
    const exits = run.result().counters.exits!;
    expect(exits).toBeGreaterThan(0);
    const c = run.machine.vcpu.cycles;
    const p = DEFAULT_COST_MODEL.params;
    // tdx.c:1935-2009 tdx_handle_ept_violation → __vmx_handle_ept_violation → kvm_mmu_page_fault.
    expect(c.exits).toBe(exits * p.vmExitEntry.cycles);
    expect(c.kvm).toBe(exits * p.kvmFaultSlow.cycles);
  });

  it('shadow paging pays for the fork storm in exits that TDP never takes', () => {
    const t = forkStorm({ pages: 32, forks: 3, writesPerFork: 8, seed: 4 });
    const s = runTrace('shadow', t);
    const e = runTrace('tdp-ept', t);
    expect(s.derived.outcomes).toEqual(e.derived.outcomes);
    expect(s.counters.exits).toBeGreaterThan(e.counters.exits!);
    expect(s.counters.mmu_pte_write! + s.counters.mmu_unsync!).toBeGreaterThan(0);
    expect(e.counters.mmu_pte_write).toBe(0);
  });

  it('L2 shadowed by L1 runs on guest_mode TDP roots with the TDP faults of L1, plus L1 intercepts', () => {
    const t = addressSpaces({ spaces: 3, pagesPerSpace: 16, slices: 9, accessesPerSlice: 20, seed: 5 });
    const l1 = runTrace('tdp-ept', t);
    const l2 = createRun('nested-shadow', t);
    l2.step();
    expect(l2.machine.vcpu.rootRole.guestMode).toBe(true);
    const r = l2.result();
    expect(r.counters.ept_violations).toBe(l1.counters.ept_violations);
    const cr3s = t.ops.filter((o) => o.t === 'cr3').length;
    expect(r.derived.faultsByKind['reflected-to-l1']).toBe(cr3s);
    expect(l1.derived.faultsByKind['reflected-to-l1']).toBe(0);
  });

  it('the cumulative series is sampled every K ops and ends at the final counters', () => {
    const t = uniformRandom({ pages: 64, accesses: 200, seed: 3 });
    const r = runTrace('shadow', t, { sampleEvery: 50 });
    expect(r.series.map((p) => p.op)).toEqual([50, 100, 150, 200, 201]);
    const last = r.series.at(-1)!;
    expect(last.kvmFaults).toBe(r.counters.pf_taken);
    expect(last.exits).toBe(r.counters.exits);
    for (let i = 1; i < r.series.length; i++) expect(r.series[i]!.kvmFaults).toBeGreaterThanOrEqual(r.series[i - 1]!.kvmFaults);
    expect(r.events.numRows()).toBeGreaterThan(0);
  });
});

describe('runTrace: bad input', () => {
  it('a malformed trace is a TraceError before anything runs', () => {
    const t = sequentialScan({ pages: 8 });
    const bad = { ...t, ops: [...t.ops, { t: 'r', va: -1 }] };
    expect(() => runTrace('tdp-ept', bad)).toThrow(TraceError);
  });

  it('a TD with shadow paging, on NPT or as an L2 cannot exist', () => {
    const t = sequentialScan({ pages: 8 });
    for (const [name, rule] of [['shadow', 'td-needs-tdp'], ['tdp-npt', 'td-needs-ept'], ['nested-ept', 'td-not-nested']] as const) {
      const err = (() => { try { runTrace({ name, td: true }, t); } catch (e) { return e; } return undefined; })();
      expect(err).toBeInstanceOf(ConfigurationError);
      expect((err as ConfigurationError).rule).toBe(rule);
    }
    expect(() => runTrace({ name: 'bogus' as ConfigName }, t)).toThrow(ConfigurationError);
  });

  it('a TD runs a private/shared mix: private pages through the mirror root and S-EPT, shared through the direct root', () => {
    const t = tdMix({ pages: 64, accesses: 400, sharedFraction: 0.25, conversions: 3, seed: 5 });
    const r = runTrace('td', t);
    const accesses = t.ops.filter((o) => o.t === 'r' || o.t === 'w' || o.t === 'x').length;
    // A well-behaved guest converts before it maps shared memory: every access completes.
    expect(r.derived.outcomes.ok).toBe(accesses);
    expect(r.derived.outcomes.memoryFault).toBe(0);
    expect(r.counters.attr_conversions).toBeGreaterThan(0);
    expect(runTrace({ name: 'tdp-ept', td: true }, t).counters).toEqual(r.counters);
  });

  it('a TD that accesses a page after converting it back to private without remapping gets memory-fault exits', () => {
    const pa = 0x100_0000;
    const va = 0x4000_0000_00;
    const t = validateTrace({
      name: 'td-mismatch', seed: 0, params: {}, spaces: 1, memory: 0x120_0000,
      ops: [
        { t: 'map', va, pa, n: 1, w: true, u: true, s: true },
        { t: 'r', va },
        { t: 'convert', gpa: pa, to: 'private' },
        { t: 'r', va },
      ],
    });
    const r = runTrace('td', t);
    expect(r.derived.outcomes).toMatchObject({ ok: 1, memoryFault: 1 });
  });

  it('a trace that converts pages runs only in a TD', () => {
    const t = tdMix({ pages: 16, accesses: 20, conversions: 1, seed: 1 });
    expect(() => runTrace('tdp-ept', t)).toThrow(expect.objectContaining({ rule: 'convert-needs-td' }));
  });
});

describe('createRun validates the trace once', () => {
  /** The trace with `name` behind a getter that counts its reads (validateTrace reads it once). */
  function counted(): { trace: ReturnType<typeof sequentialScan>; reads: () => number } {
    const t = sequentialScan({ pages: 8, passes: 1 });
    let n = 0;
    const name = t.name;
    Object.defineProperty(t, 'name', { get: () => (n++, name), enumerable: true });
    return { trace: t, reads: () => n };
  }

  it('validateTrace reads trace.name once; building the run (config, checks, machine) reads it no more', () => {
    const one = counted();
    validateTrace(one.trace);
    expect(one.reads()).toBe(1);
    const c = counted();
    const run = createRun('tdp-ept', c.trace);
    expect(c.reads()).toBe(1); // TraceRun's validateTrace only: the machine is built unchecked
    run.step();
    expect(run.done).toBe(true);
  });
});
