/**
 * Survivors of `npm run mutate` in src/spte/spte-config.ts: the edges of makeSpteConfig's input
 * checks, each refusal with its rule, value and explanation, and the defaults. Limits come from
 * the SDM (MAXPHYADDR at most 52 bits: Vol. 3A §4.1.4; 4- or 5-level EPT/NPT) and Linux v6.16.1.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, makeSpteConfig, type SpteConfigSpec } from '../../src';

function refused(spec: SpteConfigSpec): InvalidArgumentError {
  try {
    makeSpteConfig(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('accepted');
}

describe('makeSpteConfig input checks', () => {
  it('flavour is ept or npt', () => {
    const e = refused({ flavour: 'vmx' as never });
    expect([e.rule, e.value]).toEqual(['spte-flavour', 'vmx']);
    expect(e.message).toContain('the SPTE flavour is ept or npt');
  });

  it('host and guest MAXPHYADDR: integers from 32 to 52 (SDM Vol. 3A §4.1.4: at most 52)', () => {
    for (const bad of [31, 53, 46.5]) {
      const e = refused({ flavour: 'ept', hostMaxPhyAddr: bad });
      expect([e.rule, e.value]).toEqual(['maxphyaddr-range', String(bad)]);
      expect(e.message).toContain('host MAXPHYADDR must be an integer from 32 to 52');
      const g = refused({ flavour: 'ept', guestMaxPhyAddr: bad });
      expect([g.rule, g.value]).toEqual(['maxphyaddr-range', String(bad)]);
      expect(g.message).toContain('guest MAXPHYADDR must be an integer from 32 to 52');
    }
    for (const ok of [32, 52]) {
      expect(makeSpteConfig({ flavour: 'ept', hostMaxPhyAddr: ok }).hostMaxPhyAddr).toBe(ok);
      expect(() => makeSpteConfig({ flavour: 'ept', guestMaxPhyAddr: ok })).not.toThrow();
    }
  });

  it('the TDP root level is 4 or 5; tdpLevel and maxTdpLevel must agree when both are given', () => {
    for (const bad of [3, 6]) {
      const e = refused({ flavour: 'npt', maxTdpLevel: bad as never });
      expect([e.rule, e.value]).toEqual(['tdp-level', String(bad)]);
      expect(e.message).toContain('max_tdp_level) is 4 or 5');
    }
    const e = refused({ flavour: 'npt', tdpLevel: 4, maxTdpLevel: 5 });
    expect([e.rule, e.value]).toEqual(['tdp-level', '4 vs 5']);
    expect(e.message).toContain('tdpLevel is the old name of maxTdpLevel');
    // NPT forces the host's level (svm.c get_npt_level → tdp_forced_root_level, mmu.c:5600-5601).
    expect(makeSpteConfig({ flavour: 'npt', tdpLevel: 5 }).tdpLevel).toBe(5);
    expect(makeSpteConfig({ flavour: 'npt', maxTdpLevel: 5, tdpLevel: 5 }).tdpLevel).toBe(5);
  });

  it('max huge page level 1, 2 or 3 (PG_LEVEL_4K .. PG_LEVEL_1G)', () => {
    for (const bad of [0, 4]) {
      const e = refused({ flavour: 'ept', maxHugePageLevel: bad as never });
      expect([e.rule, e.value]).toEqual(['huge-level', String(bad)]);
      expect(e.message).toContain('max huge page level is 1, 2 or 3');
    }
    expect(makeSpteConfig({ flavour: 'ept', maxHugePageLevel: 1 }).maxHugePageLevel).toBe(1);
  });

  it('PML needs EPT with A/D bits (vmx.c:8717: !enable_ept || !enable_ept_ad_bits → no PML)', () => {
    const npt = refused({ flavour: 'npt', pml: true });
    expect([npt.rule, npt.value]).toEqual(['pml-needs-ept-ad', 'npt']);
    expect(npt.message).toContain('PML exists only for EPT with accessed/dirty bits enabled');
    const noAd = refused({ flavour: 'ept', adEnabled: false, pml: true });
    expect([noAd.rule, noAd.value]).toEqual(['pml-needs-ept-ad', 'ept without A/D']);
    expect(makeSpteConfig({ flavour: 'ept', pml: true }).pml).toBe(true);
  });
});
