/**
 * Mutants of src/nested that survived the other tests (`npm run mutate`): the edges of the input
 * checks of refs2d/guestLevelsRead/makeEptp, the explanation each typed error carries, the EPTP
 * fields decodeEptp refuses, a GVA-less EPT violation, and bits 7/8 of the 7.3 qualification.
 *
 * Equivalent survivors: `msr < 0n` in eptCapsFromMsr and `eptp < 0n` in decodeEptp → false (a
 * negative bigint also fails the `>> 64n !== 0n` test that follows).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EPT_CAPS, InvalidArgumentError, InvalidRegisterStateError, MmulabError, PFERR, decodeEptp, eptCapsFromMsr, eptViolationQualification73,
  guestLevelsRead, makeEptp, nestedExit, refs2d, type EptCapabilities, type Ngpa,
} from '../../src';
import { caught } from '../tdx/fixtures';

/** The typed error `f` throws; its message must explain the rule before naming value and rule. */
function thrown(f: () => unknown, cls: typeof MmulabError): MmulabError {
  const e = caught(f);
  expect(e).toBeInstanceOf(cls);
  expect(e.message).toMatch(/^\S.* \(value .*; rule: /);
  return e;
}

describe('refs2d and guestLevelsRead: the edges (reference §6.7: n·(m+1) + m)', () => {
  it('n from 0 to 5 and m from 1 to 5 are accepted; the rest is a typed error naming the value', () => {
    expect(refs2d(0, 1)).toBe(1); // paging off over a 1-level nested table: m = 1 reference
    expect(refs2d(5, 5)).toBe(35); // (5+1)(5+1) − 1
    expect(refs2d(4, 4)).toBe(24); // the classic 24 references of a 4-level guest on 4-level EPT/NPT
    for (const n of [-1, 1.5, 6]) expect(thrown(() => refs2d(n, 4), InvalidArgumentError)).toMatchObject({ rule: 'refs2d-guest-levels', value: String(n) });
    for (const m of [0, 2.5, 6]) expect(thrown(() => refs2d(4, m), InvalidArgumentError)).toMatchObject({ rule: 'refs2d-nested-levels', value: String(m) });
  });

  it('guest levels read: PAE reads 2 (the PDPTEs are registers), other levels read themselves; 1 is no paging level', () => {
    expect([0, 2, 3, 4, 5].map(guestLevelsRead)).toEqual([0, 2, 2, 4, 5]);
    for (const l of [1, 6, -1]) expect(thrown(() => guestLevelsRead(l), InvalidArgumentError)).toMatchObject({ rule: 'paging-level', value: String(l) });
  });
});

describe('EPTP composition and nested_vmx_check_eptp (vmx/nested.c:2800-2842, asm/vmx.h:527-534)', () => {
  const caps: EptCapabilities = { ...DEFAULT_EPT_CAPS, uc: true, wb: true, pageWalk4: true, pageWalk5: true, accessedDirty: true };
  const root = 0x10_0000n;

  it('a negative or unaligned root is refused by makeEptp', () => {
    expect(thrown(() => makeEptp({ root: -0x1000n }), InvalidRegisterStateError).rule).toBe('eptp-root-alignment');
    expect(thrown(() => makeEptp({ root: root | 0x800n }), InvalidRegisterStateError).rule).toBe('eptp-root-alignment');
    expect(makeEptp({ root: 0n })).toBe(0x18n | 6n); // PWL_4 (vmx.h:528) | MT_WB (6)
  });

  it('each refused field gives its own rule and explains it', () => {
    const ok = makeEptp({ root });
    const cases: [bigint, EptCapabilities, string][] = [
      [-1n, caps, 'eptp-width'],
      [1n << 64n, caps, 'eptp-width'],
      [(ok & ~7n) | 0n, { ...caps, uc: false }, 'eptp-memtype-uc-unsupported'],
      [ok, { ...caps, wb: false }, 'eptp-memtype-wb-unsupported'],
      [(ok & ~7n) | 1n, caps, 'eptp-memtype'],
      [makeEptp({ root, level: 5 }), { ...caps, pageWalk5: false }, 'eptp-pwl5-unsupported'],
      [ok, { ...caps, pageWalk4: false }, 'eptp-pwl4-unsupported'],
      [(ok & ~0x38n) | 0x10n, caps, 'eptp-pwl'],
      [ok | 0x80n, caps, 'eptp-reserved'],
      [ok | (1n << 46n), caps, 'eptp-beyond-maxphyaddr'],
      [makeEptp({ root, adEnabled: true }), { ...caps, accessedDirty: false }, 'eptp-ad-unsupported'],
      // EPTP 0 is a 64-bit value: refused for its memory type UC (nested.c:2806-2808), not its width.
      [0n, { ...caps, uc: false }, 'eptp-memtype-uc-unsupported'],
    ];
    for (const [eptp, c, rule] of cases) {
      const e = thrown(() => decodeEptp(eptp, c, 46), InvalidRegisterStateError);
      expect(e.rule).toBe(rule);
    }
    expect(thrown(() => eptCapsFromMsr(1n << 64n), InvalidArgumentError).rule).toBe('ept-cap-msr');
  });
});

describe('exit information without a linear address', () => {
  it('an EPT violation during a paging-structure access but without a GVA given carries no guest linear address', () => {
    const v = nestedExit({ tdp: 'ept', errorCode: PFERR.PRESENT, pfec: PFERR.USER, rwx: 1, address: 0x4000_0000n as Ngpa, during: 'paging-structure' });
    expect(v.kind).toBe('ept-violation');
    expect('guestLinearAddress' in v).toBe(false);
  });

  it('7.3 qualification bits 8:7 follow the stage: none → 0, paging-structure → GVA_IS_VALID, final → both (asm/vmx.h:594-595)', () => {
    const read = 0; // neither W nor F: a read (kvm-7x.md §1.3)
    expect(eptViolationQualification73(read, 1, 'none', false)).toBe(0x1 | 0x8);
    expect(eptViolationQualification73(read, 1, 'paging-structure', false)).toBe(0x1 | 0x8 | 0x80);
    expect(eptViolationQualification73(read, 1, 'final', false)).toBe(0x1 | 0x8 | 0x180);
  });

  it('7.3: a write to a guest paging structure (A/D update) is RD|WR; a final write is WR only', () => {
    // kvm-unit-tests x86/vmx_tests.c:3274-3280 (ept_access_test_paddr_not_present_ad_enabled):
    // qual = EPT_VLT_RD | EPT_VLT_WR for the walker's A/D write through a not-present EPT entry.
    expect(eptViolationQualification73(PFERR.WRITE, 0, 'paging-structure', false)).toBe(0x1 | 0x2 | 0x80);
    expect(eptViolationQualification73(PFERR.WRITE, 0, 'final', false)).toBe(0x2 | 0x180);
  });
});
