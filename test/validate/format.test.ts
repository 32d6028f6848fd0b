/**
 * Bad input to the page-format builders and tables (src/format): ACC and error-code decoders,
 * the format builders (x86, EPT, NPT; their memo wrapper), makePageFormat, the permission and
 * PKRU tables, the reserved-bit matrices and formatForCpuRole. Each parameter refuses the wrong
 * type, out-of-range numbers, option names such as 'toString', and unknown keys, with the
 * library's error naming the parameter; a refused call leaves the memo caches as they were (the
 * next good call returns the same object as before).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acc616To73, accEncoding, decodeAcc, decodeErrorCode, eptFormat, nptFormat, paeFormat, paging32Format, paging4Format, paging5Format,
  makePageFormat, memoize, updatePermissionBitmask, updatePkruBitmask, resetRsvdsBitsMask, resetRsvdsBitsMaskEpt, formatForCpuRole,
  calcCpuRole, longMode, DEFAULT_FEATURES, type PageFormatSpec, type X86FormatParams, type EptFormatParams, type NptFormatParams,
} from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('format');

const X86: X86FormatParams = { maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };
const EPT: EptFormatParams = { level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3 };
const NPT: NptFormatParams = { level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false };
const X86_BUILDERS = [paging32Format, paeFormat, paging4Format, paging5Format];
/** The memo caches answer a good call with the object they held before the refusals. */
const before = { x86: X86_BUILDERS.map((f) => f(X86)), ept: eptFormat(EPT), npt: nptFormat(NPT) };
const state = () => String(X86_BUILDERS.every((f, i) => f(X86) === before.x86[i]) && eptFormat(EPT) === before.ept && nptFormat(NPT) === before.npt);
const notObject = fc.oneof(junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), fc.constant([]));

describe('ACC values and error codes', () => {
  it('accEncoding: kvm is "7.3" or "6.16"', () => {
    fc.assert(fc.property(badEnum(['7.3', '6.16']), (v) => refused(t, () => accEncoding(v as '7.3'), { param: 'kvm', value: v })), FC);
  });

  it('decodeAcc: an ACC value of the version (6.16: 0..7, spte.h ACC_ALL; 7.3: 0..0xf, kvm-7x.md §1.4), ept a boolean', () => {
    fc.assert(fc.property(fc.oneof(badInt(0, 0xf), fc.constant(0x10)), (v) => refused(t, () => decodeAcc(v as number), { param: 'acc', value: v })), FC);
    refused(t, () => decodeAcc(8, false, '6.16'), { param: 'acc', value: 8 });
    fc.assert(fc.property(badBool.filter((v) => v !== undefined), (v) => refused(t, () => decodeAcc(1, v as boolean), { param: 'ept', value: v })), FC);
    fc.assert(fc.property(badEnum(['7.3', '6.16']).filter((v) => v !== undefined), (v) => refused(t, () => decodeAcc(1, false, v as '7.3'), { param: 'kvm', value: v })), FC);
  });

  it('acc616To73: a 3-bit v6.16 ACC value, booleans', () => {
    fc.assert(fc.property(fc.oneof(badInt(0, 7), fc.constant(8)), (v) => refused(t, () => acc616To73(v as number, false), { param: 'b', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => acc616To73(1, v as boolean), { param: 'ept', value: v })), FC);
    fc.assert(fc.property(badBool.filter((v) => v !== undefined), (v) => refused(t, () => acc616To73(1, true, v as boolean), { param: 'xu', value: v })), FC);
  });

  it('decodeErrorCode: a 32-bit error code (SDM Vol. 3A 4.7)', () => {
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constant(2 ** 32)), (v) => refused(t, () => decodeErrorCode(v as number), { param: 'ec', value: v })), FC);
    expect(decodeErrorCode(0x7)).toBe('P|W|U');
  });
});

describe('format builders refuse bad parameters before they touch the memo cache', () => {
  it('x86 formats: an object of known keys, MAXPHYADDR 32..52, flags booleans', () => {
    fc.assert(fc.property(notObject, (v) => {
      refused(t, () => paging32Format(v as never), { param: 'p', value: v, state });
      refused(t, () => paeFormat(v as never), { param: 'p', value: v, state });
      refused(t, () => paging4Format(v as never), { param: 'p', value: v, state });
      refused(t, () => paging5Format(v as never), { param: 'p', value: v, state });
    }), FC);
    for (const f of X86_BUILDERS) {
      fc.assert(fc.property(notObject, (v) => refused(t, () => f(v as never), { param: 'p', value: v, state })), { ...FC, numRuns: 10 });
      fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => f({ ...X86, maxPhyAddr: v as number }), { param: 'p.maxPhyAddr', value: v, state })), { ...FC, numRuns: 10 });
      for (const k of ['nx', 'gbpages', 'pse', 'amd', 'cr0Wp', 'cr4Smep', 'cr4Smap', 'cr4Pke'] as const) {
        fc.assert(fc.property(badBool, (v) => refused(t, () => f({ ...X86, [k]: v }), { param: `p.${k}`, value: v, state })), { ...FC, numRuns: 5 });
      }
      fc.assert(fc.property(badEnum(['7.3', '6.16']).filter((v) => v !== undefined), (v) => refused(t, () => f({ ...X86, kvm: v as '7.3' }), { param: 'p.kvm', value: v, state })), { ...FC, numRuns: 10 });
      for (const k of ['smep', 'toString', 'level']) refused(t, () => f({ ...X86, [k]: true } as never), { param: `p.${k}`, state });
      // A bigint used to reach the memo key's JSON.stringify (TypeError).
      refused(t, () => f({ ...X86, maxPhyAddr: 46n as never }), { param: 'p.maxPhyAddr', value: 46n, state });
    }
  });

  it('eptFormat: level 4|5, hugePageLevel 1..3 (EPTP bits 5:3, IA32_VMX_EPT_VPID_CAP bits 16-17), flags booleans', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => eptFormat(v as never), { param: 'p', value: v, state })), FC);
    fc.assert(fc.property(badEnum([4, 5]), (v) => refused(t, () => eptFormat({ ...EPT, level: v as number }), { param: 'p.level', value: v, state })), FC);
    fc.assert(fc.property(badEnum([1, 2, 3]), (v) => refused(t, () => eptFormat({ ...EPT, hugePageLevel: v as number }), { param: 'p.hugePageLevel', value: v, state })), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => eptFormat({ ...EPT, maxPhyAddr: v as number }), { param: 'p.maxPhyAddr', value: v, state })), FC);
    for (const k of ['adEnabled', 'execonly', 'mbec'] as const) {
      fc.assert(fc.property(badBool.filter((v) => v !== undefined), (v) => refused(t, () => eptFormat({ ...EPT, [k]: v }), { param: `p.${k}`, value: v, state })), { ...FC, numRuns: 10 });
    }
    refused(t, () => eptFormat({ ...EPT, gmet: true } as never), { param: 'p.gmet', state });
  });

  it('nptFormat: level 2..5 (L1 paging), flags booleans', () => {
    fc.assert(fc.property(notObject, (v) => refused(t, () => nptFormat(v as never), { param: 'p', value: v, state })), FC);
    fc.assert(fc.property(badEnum([2, 3, 4, 5]), (v) => refused(t, () => nptFormat({ ...NPT, level: v as number }), { param: 'p.level', value: v, state })), FC);
    for (const k of ['nx', 'gbpages', 'pse', 'cr4Smep', 'cr4Smap', 'gmet'] as const) {
      fc.assert(fc.property(badBool.filter((v) => v !== undefined), (v) => refused(t, () => nptFormat({ ...NPT, [k]: v }), { param: `p.${k}`, value: v, state })), { ...FC, numRuns: 10 });
    }
    refused(t, () => nptFormat({ ...NPT, mbec: true } as never), { param: 'p.mbec', state });
  });

  it('memoize: a build function, a defaults object; the memoized builder needs an object', () => {
    const build = () => before.ept;
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'function'), (v) => refused(t, () => memoize(v as never), { param: 'build', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => v !== undefined && typeof v !== 'object'), (v) => refused(t, () => memoize(build, v as never), { param: 'defaults', value: v })), FC);
    const m = memoize(build);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), (v) => refused(t, () => m(v as never), { param: 'p', value: v })), FC);
  });

  it('makePageFormat: every field of struct kvm_page_format in its width', () => {
    const good: PageFormatSpec = {
      name: 'f', module: 'paging4', ptType: 64, rootLevel: 4, hasAd: true, pse: false, params: {},
      rsvdBitsMask: before.x86[2]!.rsvdBitsMask, badMtXwr: 0n, permissions: before.x86[2]!.permissions, pkruMask: 0,
    };
    expect(makePageFormat(good).rootLevel).toBe(4);
    fc.assert(fc.property(notObject, (v) => refused(t, () => makePageFormat(v as never), { param: 's', value: v })), FC);
    const field = (k: keyof PageFormatSpec, v: unknown, param = `s.${k}`) => refused(t, () => makePageFormat({ ...good, [k]: v }), { param, value: v });
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => field('name', v)), FC);
    fc.assert(fc.property(badEnum(['paging32', 'pae', 'paging4', 'paging5', 'ept', 'npt']), (v) => field('module', v)), FC);
    fc.assert(fc.property(badEnum([32, 64, 'ept']), (v) => field('ptType', v)), FC);
    fc.assert(fc.property(badInt(2, 5), (v) => field('rootLevel', v)), FC);
    fc.assert(fc.property(badBool, (v) => { field('hasAd', v); field('pse', v); }), FC);
    fc.assert(fc.property(badBool.filter((v) => v !== undefined), (v) => field('mbec', v)), FC);
    fc.assert(fc.property(badEnum(['7.3', '6.16']).filter((v) => v !== undefined), (v) => field('kvm', v)), FC);
    fc.assert(fc.property(badBigint(), (v) => field('badMtXwr', v)), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => field('pkruMask', v)), FC);
    fc.assert(fc.property(badBigint(), (v) => field('rsvdBitsMask', [good.rsvdBitsMask[0], [0n, 0n, v, 0n, 0n]], 's.rsvdBitsMask[1][2]')), FC);
    for (const v of [null, [], [[0n]], [[], []], 'm']) field('rsvdBitsMask', v, 's.rsvdBitsMask');
    // permissions[16] entries: u16 in 7.3, u8 in 6.16 (kvm-7x.md §1.4).
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff), fc.constant(0x1_0000)), (v) => field('permissions', [...good.permissions.slice(0, 15), v], 's.permissions[15]')), FC);
    refused(t, () => makePageFormat({ ...good, kvm: '6.16', permissions: Array(16).fill(0x100) }), { param: 's.permissions[0]', value: 0x100 });
    for (const v of [null, [1, 2], 'p']) field('permissions', v, 's.permissions');
    for (const v of [null, 5, 'x']) field('params', v, 's.params');
  });
});

describe('permission, PKRU and reserved-bit tables; formatForCpuRole', () => {
  it('updatePermissionBitmask / updatePkruBitmask: flags booleans', () => {
    const perm = { cr0Wp: true, cr4Smep: false, cr4Smap: false, eferNx: true, ept: false };
    fc.assert(fc.property(notObject, (v) => {
      refused(t, () => updatePermissionBitmask(v as never), { param: 'p', value: v });
      refused(t, () => updatePkruBitmask(v as never), { param: 'p', value: v });
    }), FC);
    for (const k of ['cr0Wp', 'cr4Smep', 'cr4Smap', 'eferNx', 'ept'] as const) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => updatePermissionBitmask({ ...perm, [k]: v }), { param: `p.${k}`, value: v })), { ...FC, numRuns: 10 });
    }
    fc.assert(fc.property(badBool.filter((v) => v !== undefined), (v) => refused(t, () => updatePermissionBitmask({ ...perm, mbec: v as boolean }), { param: 'p.mbec', value: v })), FC);
    fc.assert(fc.property(badEnum(['7.3', '6.16']).filter((v) => v !== undefined), (v) => refused(t, () => updatePermissionBitmask({ ...perm, kvm: v as '7.3' }), { param: 'p.kvm', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => updatePkruBitmask({ cr4Pke: v as boolean, cr0Wp: true }), { param: 'p.cr4Pke', value: v });
      refused(t, () => updatePkruBitmask({ cr4Pke: true, cr0Wp: v as boolean }), { param: 'p.cr0Wp', value: v });
    }), FC);
  });

  it('resetRsvdsBitsMask / resetRsvdsBitsMaskEpt: MAXPHYADDR 32..52, levels, flags', () => {
    const rs = { maxPhyAddr: 46, level: 4, nx: true, gbpages: true, pse: false, amd: false };
    const ept = { maxPhyAddr: 46, execonly: true, hugePageLevel: 3 };
    fc.assert(fc.property(notObject, (v) => {
      refused(t, () => resetRsvdsBitsMask(v as never), { param: 'p', value: v });
      refused(t, () => resetRsvdsBitsMaskEpt(v as never), { param: 'p', value: v });
    }), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => {
      refused(t, () => resetRsvdsBitsMask({ ...rs, maxPhyAddr: v as number }), { param: 'p.maxPhyAddr', value: v });
      refused(t, () => resetRsvdsBitsMaskEpt({ ...ept, maxPhyAddr: v as number }), { param: 'p.maxPhyAddr', value: v });
    }), FC);
    fc.assert(fc.property(badEnum([2, 3, 4, 5]), (v) => refused(t, () => resetRsvdsBitsMask({ ...rs, level: v as number }), { param: 'p.level', value: v })), FC);
    fc.assert(fc.property(badEnum([1, 2, 3]), (v) => refused(t, () => resetRsvdsBitsMaskEpt({ ...ept, hugePageLevel: v as number }), { param: 'p.hugePageLevel', value: v })), FC);
    for (const k of ['nx', 'gbpages', 'pse', 'amd'] as const) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => resetRsvdsBitsMask({ ...rs, [k]: v }), { param: `p.${k}`, value: v })), { ...FC, numRuns: 10 });
    }
    fc.assert(fc.property(badBool, (v) => refused(t, () => resetRsvdsBitsMaskEpt({ ...ept, execonly: v as boolean }), { param: 'p.execonly', value: v })), FC);
  });

  it('formatForCpuRole: a CpuRole, a feature set', () => {
    const role = calcCpuRole(longMode(), DEFAULT_FEATURES);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({}, role.base, { base: role.base, ext: 1 })), (v) => refused(t, () => formatForCpuRole(v as never, DEFAULT_FEATURES), { param: 'role', value: v, state })), FC);
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => formatForCpuRole(role, { ...DEFAULT_FEATURES, maxPhyAddr: v as number }), { param: 'features.maxPhyAddr', value: v, state })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => formatForCpuRole(role, v as never), { param: 'features', state })), FC);
    expect(formatForCpuRole(role, DEFAULT_FEATURES)?.rootLevel).toBe(4);
  });
});
