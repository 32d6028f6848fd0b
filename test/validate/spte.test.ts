/**
 * Bad input to the SPTE functions (src/spte: spte-checked.ts, huge-page-spte-checked.ts,
 * spte-config.ts, tdp-level.ts): every parameter refuses values of the wrong type, bigint vs
 * number, negative, fractional, NaN, >= 2^64, out of range, and option names such as 'toString',
 * with the library's error naming the parameter and value; the (frozen) config is unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  makeSpteConfig, spteLayout, kvmMmuGetTdpLevel, isShadowPresent, isLargePte, isLastSpte, isFrozen, spteToPfn, isWritable,
  isMmuWritable, isHostWritable, spteAdEnabled, spteAdNeedWriteProtect, isAccessed, isDirty, isAccessTrack, isExecutable,
  isMmioSpte, isRsvdSpte, markSpteForAccessTrack, leafSpteChangeNeedsTlbFlush, getMtMask, restoreAccTrackSpte,
  makeNonleafSpte, kvmMmuPageAdNeedWriteProtect, makeSpte, makeMmioSpte, mmioSpteGeneration, mmioGenerationMatches,
  mmioSpteGfn, isAccessAllowed, makeSpteExecutable, makeSpteNonexecutable, makeSmallSpte, makeHugeSpte,
  type SpteConfig, type MakeSpteInput,
} from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('spte');
const EPT = makeSpteConfig({ flavour: 'ept', hostMaxPhyAddr: 46, kvm: '7.3' });
const NPT = makeSpteConfig({ flavour: 'npt', hostMaxPhyAddr: 46, kvm: '6.16' });
const state = () => JSON.stringify([EPT, NPT], (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
/** A present 2 MiB leaf (present, writable, page size) and a 4 KiB one. */
const HUGE = (1n << 11n) | 0x200_000n | 0x87n;
const SMALL = (1n << 11n) | 0x1000n | 0x7n;

/** Not a config: other types, empty objects, a config with a field missing or of the wrong type. */
const badConfig = fc.oneof(junk, fc.constantFrom({}, { flavour: 'ept' }, { ...EPT, layout: null }, { ...EPT, presentMask: 1 }, { ...NPT, flavour: 'toString' }, { ...EPT, zeroCheck: undefined }));
const badSpte = badBigint();
/** A 46-bit host: frame numbers below 2^34. */
const badPfn = fc.oneof(badInt(0, 2 ** 34 - 1), fc.constant(2 ** 34));

describe('SPTE predicates and constructors refuse bad configs, SPTEs, levels and flags', () => {
  it('one-argument predicates: the SPTE is a u64 bigint', () => {
    fc.assert(fc.property(badSpte, (v) => {
      for (const f of [isShadowPresent, isLargePte, spteToPfn, isWritable]) refused(t, () => f(v as bigint), { param: 'spte', value: v, state });
    }), FC);
  });

  const withConfig = [
    isFrozen, isMmuWritable, isHostWritable, spteAdEnabled, spteAdNeedWriteProtect, isAccessed, isDirty, isAccessTrack,
    isExecutable, isMmioSpte, markSpteForAccessTrack, restoreAccTrackSpte, mmioSpteGeneration, makeSpteExecutable, makeSpteNonexecutable,
  ];
  it.each(withConfig.map((f) => [f.name, f] as const))('%s(config, spte): a config made by makeSpteConfig, a u64 SPTE', (_n, f) => {
    fc.assert(fc.property(badConfig, (v) => refused(t, () => f(v as SpteConfig, SMALL), { param: 'config', state })), { ...FC, numRuns: 10 });
    fc.assert(fc.property(badSpte, (v) => refused(t, () => f(EPT, v as bigint), { param: 'spte', value: v, state })), { ...FC, numRuns: 10 });
  });

  it('levels: isLastSpte and isRsvdSpte take 1..5', () => {
    fc.assert(fc.property(fc.oneof(badInt(1, 5), fc.constantFrom(0, 6)), (v) => {
      refused(t, () => isLastSpte(SMALL, v as number), { param: 'level', value: v, state });
      refused(t, () => isRsvdSpte(NPT, SMALL, v as number), { param: 'level', value: v, state });
    }), FC);
    fc.assert(fc.property(badSpte, (v) => {
      refused(t, () => isLastSpte(v as bigint, 1), { param: 'spte', value: v, state });
      refused(t, () => isRsvdSpte(EPT, v as bigint, 1), { param: 'spte', value: v, state });
    }), FC);
    fc.assert(fc.property(badConfig, (v) => refused(t, () => isRsvdSpte(v as SpteConfig, SMALL, 1), { param: 'config', state })), FC);
  });

  it('flush rule, memory type, A/D write protection, access check', () => {
    fc.assert(fc.property(badSpte, (v) => {
      refused(t, () => leafSpteChangeNeedsTlbFlush(EPT, v as bigint, SMALL), { param: 'old', value: v, state });
      refused(t, () => leafSpteChangeNeedsTlbFlush(EPT, SMALL, v as bigint), { param: 'next', value: v, state });
      refused(t, () => isAccessAllowed(EPT, { exec: false, write: true }, v as bigint), { param: 'spte', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => getMtMask(EPT, v as boolean), { param: 'isMmioPfn', value: v, state });
      refused(t, () => kvmMmuPageAdNeedWriteProtect(EPT, v as boolean), { param: 'guestMode', value: v, state });
      refused(t, () => isAccessAllowed(EPT, { exec: v as boolean, write: false }, SMALL), { param: 'fault.exec', value: v, state });
      refused(t, () => isAccessAllowed(EPT, { exec: false, write: v as boolean }, SMALL), { param: 'fault.write', value: v, state });
    }), FC);
    fc.assert(fc.property(badConfig, (v) => {
      refused(t, () => leafSpteChangeNeedsTlbFlush(v as SpteConfig, SMALL, SMALL), { param: 'config', state });
      refused(t, () => getMtMask(v as SpteConfig, false), { param: 'config', state });
      refused(t, () => kvmMmuPageAdNeedWriteProtect(v as SpteConfig, false), { param: 'config', state });
    }), FC);
    for (const v of [null, undefined, 1, 'read', []]) refused(t, () => isAccessAllowed(EPT, v as never, SMALL), { param: 'fault', value: v, state });
  });

  it('makeNonleafSpte: child PFN within MAXPHYADDR, adDisabled a boolean', () => {
    fc.assert(fc.property(badPfn, (v) => refused(t, () => makeNonleafSpte(EPT, v as number, false), { param: 'childPfn', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => makeNonleafSpte(NPT, 5, v as boolean), { param: 'adDisabled', value: v, state })), FC);
    fc.assert(fc.property(badConfig, (v) => refused(t, () => makeNonleafSpte(v as SpteConfig, 5, false), { param: 'config', state })), FC);
  });

  it('makeSpte: every input field, a leaf level up to the largest huge page, ACC of the encoding', () => {
    const good: MakeSpteInput = {
      level: 1, adDisabled: false, adNeedWriteProtect: false, pteAccess: 7, pfn: 0x1234, isMmioPfn: false,
      prefetch: false, synchronizing: false, hostWritable: true, mustWriteProtect: false,
    };
    for (const v of [null, undefined, 5, 'input', Symbol('i')]) refused(t, () => makeSpte(EPT, v as never), { param: 'input', value: v, state });
    fc.assert(fc.property(badConfig, (v) => refused(t, () => makeSpte(v as SpteConfig, good), { param: 'config', state })), FC);
    // EPT's largest leaf is 1 GiB (level 3): a level-4 leaf does not exist (PageSizeError).
    fc.assert(fc.property(fc.oneof(badInt(1, 3), fc.constantFrom(0, 4, 5)), (v) => refused(t, () => makeSpte(EPT, { ...good, level: v as number }), { param: 'input.level', value: v, state })), FC);
    // 7.3 ACC has four bits (0..0xf), 6.16 three (0..7).
    fc.assert(fc.property(fc.oneof(badInt(0, 0xf), fc.constant(0x10)), (v) => refused(t, () => makeSpte(EPT, { ...good, pteAccess: v as number }), { param: 'input.pteAccess', value: v, state })), FC);
    refused(t, () => makeSpte(NPT, { ...good, pteAccess: 8 }), { param: 'input.pteAccess', value: 8, state });
    fc.assert(fc.property(badPfn, (v) => refused(t, () => makeSpte(EPT, { ...good, pfn: v as number }), { param: 'input.pfn', value: v, state })), FC);
    for (const k of ['adDisabled', 'adNeedWriteProtect', 'isMmioPfn', 'prefetch', 'synchronizing', 'hostWritable', 'mustWriteProtect'] as const) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => makeSpte(NPT, { ...good, [k]: v }), { param: `input.${k}`, value: v, state })), { ...FC, numRuns: 10 });
    }
  });

  it('MMIO SPTEs: gfn, access, generation, MAXPHYADDR', () => {
    fc.assert(fc.property(badPfn, (v) => refused(t, () => makeMmioSpte(NPT, v as number, 0, 0), { param: 'gfn', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 7), fc.constant(8)), (v) => refused(t, () => makeMmioSpte(NPT, 1, v as number, 0), { param: 'access', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => {
      refused(t, () => makeMmioSpte(EPT, 1, 0, v as number), { param: 'generation', value: v, state });
      refused(t, () => mmioGenerationMatches(EPT, SMALL, v as number), { param: 'generation', value: v, state });
    }), FC);
    fc.assert(fc.property(badSpte, (v) => {
      refused(t, () => mmioGenerationMatches(EPT, v as bigint, 0), { param: 'spte', value: v, state });
      refused(t, () => mmioSpteGfn(v as bigint, 46), { param: 'spte', value: v, state });
    }), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => mmioSpteGfn(SMALL, v as number), { param: 'hostMaxPhyAddr', value: v, state })), FC);
    fc.assert(fc.property(badConfig, (v) => {
      refused(t, () => makeMmioSpte(v as SpteConfig, 1, 0, 0), { param: 'config', state });
      refused(t, () => mmioGenerationMatches(v as SpteConfig, SMALL, 0), { param: 'config', state });
    }), FC);
  });

  it('huge page split and recovery: role, index, level', () => {
    const role = { level: 1, access: 7 };
    fc.assert(fc.property(badSpte, (v) => {
      refused(t, () => makeSmallSpte(EPT, v as bigint, role, 0), { param: 'huge', value: v, state });
      refused(t, () => makeHugeSpte(EPT, v as bigint, 2), { param: 'small', value: v, state });
    }), FC);
    // The child of a split is at most one below the largest huge page level (3 here).
    fc.assert(fc.property(fc.oneof(badInt(1, 2), fc.constantFrom(0, 3)), (v) => refused(t, () => makeSmallSpte(EPT, HUGE, { level: v as number, access: 7 }, 0), { param: 'role.level', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xf), fc.constant(0x10)), (v) => refused(t, () => makeSmallSpte(EPT, HUGE, { level: 1, access: v as number }, 0), { param: 'role.access', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 511), fc.constant(512)), (v) => refused(t, () => makeSmallSpte(EPT, HUGE, role, v as number), { param: 'index', value: v, state })), FC);
    for (const v of [null, undefined, 1, 'role']) refused(t, () => makeSmallSpte(EPT, HUGE, v as never, 0), { param: 'role', value: v, state });
    // Level 1 is make_huge_spte's own refusal (a huge SPTE is at level 2 or above); above 3 no leaf exists.
    fc.assert(fc.property(fc.oneof(badInt(1, 3), fc.constantFrom(0, 1, 4)), (v) => refused(t, () => makeHugeSpte(EPT, SMALL, v as number), { param: 'level', value: v, state })), FC);
    fc.assert(fc.property(badConfig, (v) => {
      refused(t, () => makeSmallSpte(v as SpteConfig, HUGE, role, 0), { param: 'config', state });
      refused(t, () => makeHugeSpte(v as SpteConfig, SMALL, 2), { param: 'config', state });
    }), FC);
  });
});

describe('makeSpteConfig, spteLayout and kvmMmuGetTdpLevel refuse bad specs', () => {
  it('spec: not an object, flavour and kvm "toString"/"__proto__", flags not booleans, numbers out of range', () => {
    for (const v of [null, undefined, 5, 'ept', Symbol('s'), []]) refused(t, () => makeSpteConfig(v as never), { param: 'spec', value: v });
    fc.assert(fc.property(badEnum(['ept', 'npt']), (v) => refused(t, () => makeSpteConfig({ flavour: v as 'ept' }), { param: 'spec.flavour', value: v })), FC);
    fc.assert(fc.property(badEnum(['7.3', '6.16']), (v) => refused(t, () => makeSpteConfig({ flavour: 'ept', kvm: v as '7.3' }), { param: 'spec.kvm', value: v })), FC);
    for (const k of ['adEnabled', 'execOnly', 'pml', 'nxHugePages', 'ignoreGuestPatQuirk', 'noncoherentDma', 'mbec']) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => makeSpteConfig({ flavour: 'ept', [k]: v } as never), { param: `spec.${k}`, value: v })), { ...FC, numRuns: 10 });
    }
    for (const k of ['hostMaxPhyAddr', 'guestMaxPhyAddr']) {
      fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => makeSpteConfig({ flavour: 'npt', [k]: v } as never), { param: `spec.${k}`, value: v })), { ...FC, numRuns: 15 });
    }
    fc.assert(fc.property(badEnum([4, 5]), (v) => refused(t, () => makeSpteConfig({ flavour: 'ept', maxTdpLevel: v as 4 }), { param: 'spec.maxTdpLevel', value: v })), FC);
    fc.assert(fc.property(badEnum([1, 2, 3]), (v) => refused(t, () => makeSpteConfig({ flavour: 'ept', maxHugePageLevel: v as number }), { param: 'spec.maxHugePageLevel', value: v })), FC);
  });

  it('spteLayout(kvm) and kvmMmuGetTdpLevel(flavour, maxTdpLevel, guestMaxPhyAddr)', () => {
    fc.assert(fc.property(badEnum(['7.3', '6.16']), (v) => refused(t, () => spteLayout(v as '7.3'), { param: 'kvm', value: v })), FC);
    fc.assert(fc.property(badEnum(['ept', 'npt']), (v) => refused(t, () => kvmMmuGetTdpLevel(v as 'ept', 4, 46), { param: 'flavour', value: v })), FC);
    fc.assert(fc.property(badEnum([4, 5]), (v) => refused(t, () => kvmMmuGetTdpLevel('ept', v as 4, 46), { param: 'maxTdpLevel', value: v })), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => kvmMmuGetTdpLevel('npt', 5, v as number), { param: 'guestMaxPhyAddr', value: v })), FC);
  });
});
