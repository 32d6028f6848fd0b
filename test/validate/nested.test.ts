/**
 * Bad input to the nested-paging helpers (src/nested): EPT capabilities, EPTPs, exit
 * qualifications, NPF error codes, L1 intercept exits, 2D reference counts. They hold no state;
 * each refusal is typed and names the parameter and the value.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  DEFAULT_EPT_CAPS, checkEptCaps, checkL1Intercepts, cr3LoadExit, decodeEptQualification, decodeEptp, decodeNpfErrorCode, eptCapsFromMsr,
  eptCapsToMsr, eptHugePageLevel, eptViolationQualification, eptViolationQualification73, guestLevelsRead, guestLinearBits, invlpgExit,
  isPageFaultVmexit, makeEptp, npfErrorCode, pageFaultExit, refs2d, rwxToProt, checkVmxCrIntercepts, checkSvmCrIntercepts, l2CrWriteExit, CR0, CR4,
} from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('nested');
const DURING = ['none', 'paging-structure', 'final'];
const U32 = 0xffff_ffff;
const caps = DEFAULT_EPT_CAPS;
const REGS = { cr0: CR0.PE | CR0.PG, cr3: 0x1000n, cr4: CR4.PAE, efer: 0n };
const badCaps = fc.oneof(junk, fc.constant({ ...caps, wb: 'yes' }), fc.constant({ ...caps, pages1g: undefined }));

describe('EPT capabilities and EPTPs', () => {
  it('eptCapsFromMsr / eptCapsToMsr / eptHugePageLevel / checkEptCaps', () => {
    // IA32_VMX_EPT_VPID_CAP is a 64-bit MSR (SDM Vol. 3D A.10).
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => eptCapsFromMsr(v as bigint), { param: 'msr', value: v })), FC);
    fc.assert(fc.property(badCaps, (v) => {
      refused(t, () => eptCapsToMsr(v as never), { param: 'caps' });
      refused(t, () => eptHugePageLevel(v as never), { param: 'caps' });
      refused(t, () => checkEptCaps('caps', v), { param: 'caps' });
    }), FC);
  });

  it('makeEptp: bad roots, levels, A/D flags, memory types', () => {
    for (const v of [null, 5, 'eptp']) refused(t, () => makeEptp(v as never), { param: 'spec', value: v });
    // SDM Vol. 3C 28.2.6: bits 51:12 hold the 4 KiB aligned root; bits 11:0 are the controls.
    fc.assert(fc.property(fc.oneof(badBigint({ numbersOk: true }), fc.constant(0x1001n), fc.constant(1n << 52n)), (v) => refused(t, () => makeEptp({ root: v as bigint }), { param: 'spec.root', value: v })), FC);
    // EPTP bits 5:3: page-walk length - 1, 3 or 4 (SDM Vol. 3C 28.2.6).
    fc.assert(fc.property(badEnum([4, 5]), (v) => refused(t, () => makeEptp({ root: 0x1000n, level: v as 4 }), { param: 'spec.level', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => makeEptp({ root: 0x1000n, adEnabled: v as boolean }), { param: 'spec.adEnabled', value: v })), FC);
    // EPTP bits 2:0: memory type UC (0) or WB (6) (SDM Vol. 3C 28.2.6).
    fc.assert(fc.property(badEnum([0, 6]), (v) => refused(t, () => makeEptp({ root: 0x1000n, memType: v as 0 }), { param: 'spec.memType', value: v })), FC);
  });

  it('decodeEptp: wrong types, widths, capabilities, MAXPHYADDR', () => {
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => decodeEptp(v as bigint, caps, 46), { param: 'eptp' })), FC);
    fc.assert(fc.property(badCaps, (v) => refused(t, () => decodeEptp(0x101en, v as never, 46), { param: 'caps' })), FC);
    // MAXPHYADDR is 32..52 (SDM Vol. 3A 4.1.4).
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => decodeEptp(0x101en, caps, v as number), { param: 'maxPhyAddr', value: v })), FC);
  });
});

describe('exit qualifications, NPF error codes, L1 intercept exits', () => {
  it('EPT violation qualification builders and decoder', () => {
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => guestLinearBits(v as boolean, true, false), { param: 'user', value: v });
      refused(t, () => guestLinearBits(true, v as boolean, false), { param: 'writable', value: v });
      refused(t, () => guestLinearBits(true, true, v as boolean), { param: 'executeDisable', value: v });
      refused(t, () => eptViolationQualification73(0, 0, 'final', v as boolean), { param: 'mbec', value: v });
    }), FC);
    // vmx.h EPT_VIOLATION_RWX_TO_PROT masks an entry's bits 2:0 (R/W/X): any non-negative integer.
    fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => rwxToProt(v as number), { param: 'rwx', value: v })), FC);
    fc.assert(fc.property(badInt(0, U32), (v) => {
      refused(t, () => eptViolationQualification(v as number, 0, 'final'), { param: 'pfec', value: v });
      refused(t, () => eptViolationQualification73(v as number, 0, 'final', false), { param: 'pfec', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, 15), (v) => refused(t, () => eptViolationQualification73(0, v as number, 'final', false), { param: 'acc73', value: v })), FC);
    fc.assert(fc.property(badEnum(DURING), (v) => {
      refused(t, () => eptViolationQualification(0, 0, v as 'final'), { param: 'during', value: v });
      refused(t, () => eptViolationQualification73(0, 0, v as 'final', false), { param: 'during', value: v });
      refused(t, () => npfErrorCode(0, v as 'final'), { param: 'during', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => {
      refused(t, () => decodeEptQualification(v as number), { param: 'q', value: v });
      refused(t, () => decodeNpfErrorCode(v as number), { param: 'exitInfo1', value: v });
    }), FC);
    // The #PF error code is 32 bits (SDM Vol. 3A 4.7); EXITINFO1 holds it in bits 31:0 (APM Vol. 2 15.25.6).
    fc.assert(fc.property(badInt(-(2 ** 31), U32), (v) => refused(t, () => npfErrorCode(v as number, 'final'), { param: 'errorCode', value: v })), FC);
  });

  it('L1 intercept exits: bad controls, error codes, addresses, GPRs', () => {
    const i = checkL1Intercepts({ pf: true });
    fc.assert(fc.property(fc.oneof(fc.constantFrom(5, 'pf', [], null)), (v) => refused(t, () => checkL1Intercepts(v as never), { param: 'intercepts', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => checkL1Intercepts({ pf: v as boolean }), { param: 'intercepts.pf', value: v })), FC);
    fc.assert(fc.property(badInt(0, U32), (v) => refused(t, () => checkL1Intercepts({ pfecMask: v as number }), { param: 'intercepts.pfecMask', value: v })), FC);
    fc.assert(fc.property(fc.constantFrom(5, 'pf', [], null), (v) => refused(t, () => isPageFaultVmexit(v as never, 0), { param: 'intercepts', value: v })), FC);
    fc.assert(fc.property(badInt(0, U32), (v) => {
      refused(t, () => isPageFaultVmexit(i, v as number), { param: 'errorCode', value: v });
      refused(t, () => pageFaultExit(0x1000n as never, v as number), { param: 'errorCode', value: v });
    }), FC);
    fc.assert(fc.property(badBigint({ numbersOk: false }), (v) => {
      refused(t, () => pageFaultExit(v as never, 0), { param: 'address', value: v });
      refused(t, () => invlpgExit(v as never), { param: 'address', value: v });
    }), FC);
    // MOV to CR3 names a GPR 0..15 in qualification bits 11:8 (SDM Vol. 3C Table 28-3).
    fc.assert(fc.property(badInt(0, 15), (v) => refused(t, () => cr3LoadExit(v as number), { param: 'gpr', value: v })), FC);
  });

  it('L2 CR write intercepts (nested EPT / NPT): bad controls, checked controls, registers', () => {
    fc.assert(fc.property(fc.constantFrom(5, 'cr3', [], null), (v) => {
      refused(t, () => checkVmxCrIntercepts(v), { param: 'intercepts', value: v });
      refused(t, () => checkSvmCrIntercepts(v), { param: 'intercepts', value: v });
      refused(t, () => l2CrWriteExit(v as never, REGS, { cr3: 0n }), { param: 'intercepts', value: v });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => checkVmxCrIntercepts({ cr3Load: v }), { param: 'intercepts.cr3Load', value: v });
      refused(t, () => checkSvmCrIntercepts({ cr4Write: v }), { param: 'intercepts.cr4Write', value: v });
    }), FC);
    // Natural-width VMCS fields: u64 (SDM Vol. 3C §25.11.2).
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => checkVmxCrIntercepts({ cr0GuestHostMask: v }), { param: 'intercepts.cr0GuestHostMask', value: v });
      refused(t, () => checkVmxCrIntercepts({ cr4ReadShadow: v }), { param: 'intercepts.cr4ReadShadow', value: v });
      refused(t, () => checkVmxCrIntercepts({ cr3Targets: [v] }), { param: 'intercepts.cr3Targets[0]', value: v });
    }), FC);
    refused(t, () => checkVmxCrIntercepts({ cr3Targets: 3n }), { param: 'intercepts.cr3Targets', value: 3n });
    refused(t, () => checkVmxCrIntercepts({ cr3Targets: [0x1000n] }), { param: 'intercepts.cr3Targets' });
    refused(t, () => checkVmxCrIntercepts({ pf: true }), { param: 'intercepts.pf', value: true });
    refused(t, () => checkSvmCrIntercepts({ cr3Load: true }), { param: 'intercepts.cr3Load', value: true });
    const c = checkVmxCrIntercepts({ cr3Load: true })!;
    for (const v of [{ ...c, flavour: 'tdx' }, { flavour: 'svm' }, { ...c, cr3Load: 'yes' }]) refused(t, () => l2CrWriteExit(v as never, REGS, { cr3: 0n }), { param: 'intercepts' });
    for (const v of [null, { ...REGS, cr0: 1 }]) refused(t, () => l2CrWriteExit(c, v as never, { cr3: 0n }), { param: 'old' });
    for (const v of [null, { cr3: 5 }]) refused(t, () => l2CrWriteExit(c, REGS, v as never), { param: 'update' });
  });

  it('refs2d / guestLevelsRead: levels outside the paging modes', () => {
    fc.assert(fc.property(badInt(0, 5), (v) => refused(t, () => refs2d(v as number, 4), { param: 'n', value: v })), FC);
    fc.assert(fc.property(badInt(1, 5), (v) => refused(t, () => refs2d(4, v as number), { param: 'm', value: v })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 5), fc.constant(1)), (v) => refused(t, () => guestLevelsRead(v as number), { param: 'roleLevel', value: v })), FC);
  });
});
