/** make_small_spte / make_huge_spte (spte.c v6.16.1:300-345) on EPT and NPT SPTEs. */
import { describe, expect, it } from 'vitest';
import {
  ACC_6_16, InvalidArgumentError, SHADOW_NONPRESENT_VALUE, isAccessTrack, isExecutable, isLargePte, makeHugeSpte, makeSmallSpte,
  makeSpte, makeSpteConfig, markSpteForAccessTrack, restoreAccTrackSpte, spteToPfn,
} from '../../src';

/** The configs here are v6.16's: ACC_ALL 7, ACC_EXEC 1 (reference §4.2). */
const ACC_ALL = ACC_6_16.ALL;
const ROLE_4K = { level: 1, access: ACC_ALL };

function huge(flavour: 'ept' | 'npt', nx: boolean, adEnabled = true) {
  const c = makeSpteConfig({ kvm: '6.16', flavour, nxHugePages: nx, adEnabled });
  const s = makeSpte(c, {
    level: 2, adDisabled: !adEnabled, adNeedWriteProtect: false, pteAccess: ACC_ALL, pfn: 0x1200, isMmioPfn: false,
    prefetch: false, synchronizing: false, hostWritable: true, mustWriteProtect: false,
  }).spte;
  return { c, s };
}

describe('makeSmallSpte', () => {
  for (const flavour of ['ept', 'npt'] as const) {
    it(`${flavour}: a 4K child of an NX-mitigated huge SPTE is executable; address advances by index`, () => {
      const { c, s } = huge(flavour, true);
      expect(isExecutable(c, s)).toBe(false); // make_spte clears exec on huge pages under the mitigation
      const child = makeSmallSpte(c, s, ROLE_4K, 5);
      expect(spteToPfn(child)).toBe(0x1205); // spte.c:311
      expect(isLargePte(child)).toBe(false); // spte.c:314
      expect(isExecutable(c, child)).toBe(true); // spte.c:322-323
      // Without ACC_EXEC in the role, or without the mitigation, nothing is added (spte.c:322).
      expect(isExecutable(c, makeSmallSpte(c, s, { level: 1, access: ACC_ALL & ~ACC_6_16.EXEC }, 5))).toBe(false);
      const off = huge(flavour, false);
      expect(makeSmallSpte(off.c, off.s, ROLE_4K, 5)).toBe(off.s + (5n << 12n) - (1n << 7n));
    });
  }

  it('a 2M child of a 1G SPTE stays huge and keeps its permissions (spte.c:313 only for 4K)', () => {
    const { c, s } = huge('ept', true);
    const g = s - (0x1200n << 12n) + (0x40000n << 12n); // a 1G-aligned frame
    const child = makeSmallSpte(c, g, { level: 2, access: ACC_ALL }, 3);
    expect(spteToPfn(child) - spteToPfn(g)).toBe(3 * 512);
    expect(isLargePte(child)).toBe(true);
    expect(isExecutable(c, child)).toBe(false);
  });

  it('an access-tracked huge SPTE gives access-tracked executable children (modify_spte_protections)', () => {
    const { c, s } = huge('ept', true, false);
    const tracked = markSpteForAccessTrack(c, s);
    expect(isAccessTrack(c, tracked)).toBe(true);
    const child = makeSmallSpte(c, tracked, ROLE_4K, 1);
    expect(isAccessTrack(c, child)).toBe(true);
    expect(isExecutable(c, restoreAccTrackSpte(c, child))).toBe(true);
  });

  it('refuses a non-present or 4K SPTE (KVM_BUG_ON, spte.c:305)', () => {
    const { c, s } = huge('ept', true);
    expect(() => makeSmallSpte(c, SHADOW_NONPRESENT_VALUE, ROLE_4K, 0)).toThrow(InvalidArgumentError);
    expect(() => makeSmallSpte(c, s & ~(1n << 7n), ROLE_4K, 0)).toThrow(/spte-not-huge/);
    // The error names the KVM function, what it needs and the SPTE (rule text of src/errors.ts).
    const flat = s & ~(1n << 7n);
    expect(() => makeSmallSpte(c, flat, ROLE_4K, 0)).toThrow(
      expect.objectContaining({ rule: 'spte-not-huge', value: '0x' + flat.toString(16), message: expect.stringMatching(/^make_small_spte needs a present huge SPTE/) }),
    );
  });
});

describe('makeHugeSpte', () => {
  it('rounds the address down, sets the page size and clears exec under the mitigation (spte.c:329-345)', () => {
    const { c, s } = huge('ept', true);
    const small = makeSmallSpte(c, s, ROLE_4K, 7);
    const h = makeHugeSpte(c, small, 2);
    expect(spteToPfn(h)).toBe(0x1200);
    expect(isLargePte(h)).toBe(true);
    expect(isExecutable(c, h)).toBe(false);
    expect(h).toBe(s);
    const off = huge('npt', false);
    expect(isExecutable(off.c, makeHugeSpte(off.c, makeSmallSpte(off.c, off.s, ROLE_4K, 7), 2))).toBe(true);
    expect(() => makeHugeSpte(c, small, 1)).toThrow(/huge-spte-level/);
    expect(() => makeHugeSpte(c, SHADOW_NONPRESENT_VALUE, 2)).toThrow(InvalidArgumentError);
    expect(() => makeHugeSpte(c, SHADOW_NONPRESENT_VALUE, 2)).toThrow(
      expect.objectContaining({ rule: 'spte-not-huge', value: '0x' + SHADOW_NONPRESENT_VALUE.toString(16), message: expect.stringMatching(/^make_huge_spte needs a present SPTE/) }),
    );
    expect(() => makeHugeSpte(c, small, 1)).toThrow(
      expect.objectContaining({ rule: 'huge-spte-level', value: '1', message: expect.stringMatching(/^a huge SPTE is at level 2 or above/) }),
    );
  });
});
