/**
 * The seeded random-operation fuzzer, bounded for CI: every MMU configuration runs a few thousand
 * operations with `checkInvariants: true`, each access cross-checked against the reference model
 * (fresh walks over guest memory + memslot arithmetic), and must end with no violation. The run
 * must also have exercised each kind of outcome, and the checker must catch a planted deviation.
 */
import { describe, expect, it } from 'vitest';
import { FUZZ_CONFIGS, fuzzConfig, type FuzzConfigName } from '../../src/fuzz/fuzz-config';
import { FuzzMachine } from '../../src/fuzz/fuzz-machine';
import { runFuzz } from '../../src/fuzz/fuzz-run';
import { parseFuzzArgs, summaryLines } from '../../src/fuzz/fuzz-cli';
import { VA_A } from '../../src/fuzz/fuzz-ops';
import { InvalidArgumentError } from '../../src';

const OPS = 2000;
const SEEDS: Record<FuzzConfigName, number> = {
  'ept-ad': 11, 'ept-noad': 12, 'ept-pml': 13, npt: 14, shadow: 15, 'nested-ept': 16, 'nested-npt': 17, 'nested-shadow': 18, td: 19,
};

function total(outcomes: Record<string, number>, suffix: string): number {
  return Object.entries(outcomes).filter(([k]) => k.endsWith(':' + suffix)).reduce((n, [, v]) => n + v, 0);
}

describe('fuzz: seeded random operations per configuration, cross-checked', () => {
  for (const config of FUZZ_CONFIGS) {
    it(`${config}: ${OPS} operations, 0 violations, every outcome kind exercised`, () => {
      const s = runFuzz({ config, seed: SEEDS[config], ops: OPS });
      expect(summaryLines([s]).join('\n')).toContain(`ops ${OPS}  violations 0`);
      expect(s.first).toEqual([]);
      // Completed accesses, guest #PFs and emulated (MMIO/ROM) accesses in every configuration.
      expect(total(s.outcomes, 'ok')).toBeGreaterThan(config === 'td' ? 5 : 20);
      expect(total(s.outcomes, 'pf')).toBeGreaterThan(20);
      expect(total(s.outcomes, 'mmio') + total(s.outcomes, 'rom')).toBeGreaterThan(5);
      // Operations of every kind ran.
      for (const t of ['access', 'pte', 'invlpg', 'flush', 'cr3', 'slot-add', 'slot-delete', 'dirty-log', 'dirty-get', 'zap', 'nx']) {
        expect(s.opCounts[t] ?? 0, t).toBeGreaterThan(0);
      }
      const cfg = fuzzConfig(config);
      if (cfg.level === 'nested-ept' || cfg.level === 'nested-npt') {
        expect(s.opCounts.stage2).toBeGreaterThan(0);
        expect(total(s.outcomes, 'l1-exit')).toBeGreaterThan(5);
      }
      if (cfg.td) {
        expect(s.outcomes['accept:accepted']).toBeGreaterThan(0);
        expect(total(s.outcomes, 've')).toBeGreaterThan(0);
        expect(total(s.outcomes, 'memory-fault')).toBeGreaterThan(0);
      } else expect(s.opCounts['slot-move'] ?? 0).toBeGreaterThan(0);
    }, 300_000);
  }

  it('is deterministic: the same seed gives the same run', () => {
    const a = runFuzz({ config: 'shadow', seed: 5, ops: 300 });
    const b = runFuzz({ config: 'shadow', seed: 5, ops: 300 });
    expect(b).toEqual(a);
  }, 60_000);
});

describe('fuzz: the checker catches deviations', () => {
  /** A machine whose region-A page 0 maps a data page of slot d0, writable and user. */
  function mapped(config: FuzzConfigName): FuzzMachine {
    const m = new FuzzMachine(fuzzConfig(config), 2);
    const d0 = m.ref.slots.find((s) => s.name === 'd0')!;
    expect(m.apply({ t: 'pte', space: 0, va: BigInt(VA_A), level: 1, value: (BigInt(d0.baseGfn) << 12n) | 0x67n })).toBeUndefined();
    return m;
  }

  it('an access completing at another host frame than the slot gives is a violation', () => {
    const m = mapped('ept-ad');
    expect(m.apply({ t: 'access', va: BigInt(VA_A) + 8n, kind: 'r', user: false })).toBeUndefined();
    const real = m.vcpu.access.bind(m.vcpu);
    m.vcpu.access = (a, acc) => {
      const r = real(a, acc);
      return { ...r, hpa: ((r.hpa as bigint) + 4096n) as typeof r.hpa };
    };
    expect(m.apply({ t: 'access', va: BigInt(VA_A) + 8n, kind: 'r', user: false })).toMatch(/engine \{"kind":"ok".*reference \{"kind":"ok"/);
  });

  it('a guest #PF where the tables allow the access is a violation', () => {
    const m = mapped('shadow');
    const real = m.vcpu.access.bind(m.vcpu);
    m.vcpu.access = (a, acc) => {
      const r = real(a, acc);
      return { ...r, status: 'guest-pf', guestWalk: { ...r.guestWalk, status: 'fault', errorCode: 1 } as typeof r.guestWalk };
    };
    expect(m.apply({ t: 'access', va: BigInt(VA_A), kind: 'w', user: true })).toMatch(/engine \{"kind":"pf","errorCode":1\}/);
  });

  it('a harvested dirty log that lacks a written page is a violation', () => {
    const m = mapped('ept-pml');
    expect(m.apply({ t: 'dirty-log', slot: 'd0', on: true })).toBeUndefined();
    expect(m.apply({ t: 'access', va: BigInt(VA_A), kind: 'w', user: false })).toBeUndefined();
    m.vm.getDirtyLog = () => [];
    expect(m.apply({ t: 'dirty-get', slot: 'd0' })).toMatch(/misses written pages 0x200/);
  });

  it('a stale translation is accepted only where the guest has not invalidated it (shadow paging)', () => {
    const m = mapped('shadow');
    const d1 = m.ref.slots.find((s) => s.name === 'd1')!;
    expect(m.apply({ t: 'access', va: BigInt(VA_A), kind: 'r', user: false })).toBeUndefined();
    const real = m.vcpu.access.bind(m.vcpu);
    const before = real(BigInt(VA_A), { kind: 'read' });
    // The guest remaps page 0 to slot d1; the engine (planted) keeps answering with the old
    // translation: allowed until the guest invalidates it, a violation after INVLPG.
    expect(m.apply({ t: 'pte', space: 0, va: BigInt(VA_A), level: 1, value: (BigInt(d1.baseGfn) << 12n) | 0x67n })).toBeUndefined();
    m.vcpu.access = () => before;
    expect(m.apply({ t: 'access', va: BigInt(VA_A), kind: 'r', user: false })).toBeUndefined();
    expect(m.apply({ t: 'invlpg', va: BigInt(VA_A) })).toBeUndefined();
    expect(m.apply({ t: 'access', va: BigInt(VA_A), kind: 'r', user: false })).toMatch(/engine \{"kind":"ok"/);
  });
});

describe('fuzz CLI arguments', () => {
  it('parses --ops, --config (a list or all) and --seed', () => {
    expect(parseFuzzArgs(['--ops', '50', '--config', 'td,shadow', '--seed', '9'])).toMatchObject({ ops: 50, configs: ['td', 'shadow'], seed: 9 });
    expect(parseFuzzArgs(['--config', 'all']).configs).toEqual([...FUZZ_CONFIGS]);
  });

  it('the summary lists, per configuration, the outcomes accepted only as KVM\'s own', () => {
    const base = { seed: 13, ops: 10, violations: 0, first: [], opCounts: {} };
    const lines = summaryLines([
      { ...base, config: 'nested-ept', outcomes: { 'x:mmio': 4, 'mmio-stale-spte-read-walk': 2 } },
      { ...base, config: 'ept-ad', outcomes: { 'r:ok': 9 } },
    ]);
    expect(lines).toContain("  nested-ept accepted as KVM's: mmio-stale-spte-read-walk 2");
    expect(lines.filter((l) => l.includes('accepted'))).toHaveLength(1);
  });

  it('refuses an unknown configuration or a bad count with a library error naming the value', () => {
    expect(() => parseFuzzArgs(['--config', 'ept'])).toThrow(InvalidArgumentError);
    expect(() => parseFuzzArgs(['--config', 'ept'])).toThrow(/value ept/);
    expect(() => parseFuzzArgs(['--ops', '-3'])).toThrow(/value -3/);
  });
});
