/**
 * refsModel walks the TDP tables on plain numbers (TdpMmu.leafLevelUnchecked); here every completed
 * access of random traces is also counted the way the model is defined (memory-refs.ts): one
 * reference per guest table read from memory plus, for each of those reads and for the final GPA,
 * the depth of its TDP walk (tdp level − level of the last SPTE, read with the checked bigint
 * `lastSpte`, + 1), through the mirror root for a TD's private GPAs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TraceMachine, isGfnAlias, ptChurn, refsModel, resolveConfig, tdMix, uniformRandom, type AccessResult, type ConfigSpec, type Trace } from '../../src';

function reference(m: TraceMachine, r: AccessResult & { status: 'ok' }): number {
  const td = m.vm.td;
  const depth = (gpa: bigint) => {
    const gfn = Number(gpa >> 12n);
    const mirror = td === undefined ? null : m.vcpu.currentMirrorRoot;
    const root = td !== undefined && mirror !== null && !isGfnAlias(td.config, gfn) ? mirror : m.vcpu.currentRoot!;
    return m.vm.config.tdpLevel - m.vm.tdp.lastSpte(root, gfn)[2] + 1;
  };
  const steps = r.guestWalk.trace.filter((s) => s.source === 'memory');
  return steps.length + steps.reduce((n, s) => n + depth(s.entryGpa as bigint), 0) + depth(r.gpa as bigint);
}

function check(spec: ConfigSpec, trace: Trace): number {
  const m = TraceMachine.createUnchecked(resolveConfig(spec), trace);
  let ok = 0;
  for (const op of trace.ops) {
    if (op.t === 'r' || op.t === 'w' || op.t === 'x') {
      const r = m.access(op.t, op.va, op.u ?? false);
      if (r.status !== 'ok') continue;
      ok++;
      expect(refsModel(m, r), `${spec.name} ${spec.hostPageSize} va ${op.va.toString(16)}`).toBe(reference(m, r as AccessResult & { status: 'ok' }));
    } else if (op.t === 'map') m.map(op.va, op.pa, op.n ?? 1, op.w ?? false, op.u ?? false, op.s ?? false);
    else if (op.t === 'unmap') m.unmap(op.va, op.n ?? 1);
    else if (op.t === 'convert') m.convert(op.gpa, op.n ?? 1, op.to);
    else if (op.t === 'wp') m.wp(op.va, op.n ?? 1);
  }
  return ok;
}

describe('refsModel counts what its definition counts, on every TDP configuration', () => {
  it('TDP EPT/NPT and TDs, 4 KiB and 2 MiB host pages, random and churning traces', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ConfigSpec['name']>('tdp-ept', 'tdp-npt', 'td'),
        fc.constantFrom('4K' as const, '2M' as const),
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom('uniform', 'churn', 'td-mix'),
        (name, hostPageSize, seed, kind) => {
          if (kind === 'td-mix' && name !== 'td') return;
          const trace =
            kind === 'uniform' ? uniformRandom({ pages: 700, accesses: 150, seed }) : kind === 'churn' ? ptChurn({ windows: 3, pagesPerWindow: 40, rounds: 3, seed }) : tdMix({ pages: 300, accesses: 100, conversions: 6, seed });
          expect(check({ name, hostPageSize }, trace)).toBeGreaterThan(0);
        },
      ),
      { numRuns: 8 },
    );
  });
});
