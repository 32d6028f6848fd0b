/**
 * src/nested/l1-intercept.ts unit by unit (`npm run mutate`): the vmcs12 intercept controls L1 may
 * set, the #PF mask/match decision and the exit records. Expected values cite Linux v6.16.1
 * arch/x86/kvm/vmx/nested.c and the SDM; test/shadow/nested-shadow.test.ts drives the same
 * functions through a vCPU.
 */
import { describe, expect, it } from 'vitest';
import {
  EXIT_REASON, InvalidArgumentError, PF_INTR_INFO, checkL1Intercepts, cr3LoadExit, invlpgExit, isPageFaultVmexit, gva, pageFaultExit,
} from '../../src';

const ruleOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).rule;
  }
  throw new Error('no error');
};

describe('checkL1Intercepts: the vmcs12 controls (all off / 0 by default, as a zeroed vmcs12)', () => {
  it('defaults, and the given values kept', () => {
    const d = checkL1Intercepts();
    expect(d).toEqual({ pf: false, pfecMask: 0, pfecMatch: 0, cr3Load: false, invlpg: false });
    expect(Object.isFrozen(d)).toBe(true);
    const all = checkL1Intercepts({ pf: true, pfecMask: 0xffff_ffff, pfecMatch: 7, cr3Load: true, invlpg: true });
    expect(all).toEqual({ pf: true, pfecMask: 0xffff_ffff, pfecMatch: 7, cr3Load: true, invlpg: true });
  });

  it('each flag must be a boolean; each PFEC field a 32-bit VMCS field (0..0xffffffff, integer)', () => {
    for (const k of ['pf', 'cr3Load', 'invlpg'] as const) {
      expect(ruleOf(() => checkL1Intercepts({ [k]: 1 as unknown as boolean }))).toBe(`l1-intercept-${k}`);
      expect(() => checkL1Intercepts({ [k]: 1 as unknown as boolean })).toThrow(`intercepts.${k} is a boolean`);
      expect(checkL1Intercepts({ [k]: false })[k]).toBe(false);
    }
    for (const k of ['pfecMask', 'pfecMatch'] as const) {
      expect(ruleOf(() => checkL1Intercepts({ [k]: -1 }))).toBe(`l1-intercept-${k}`);
      expect(ruleOf(() => checkL1Intercepts({ [k]: 0x1_0000_0000 }))).toBe(`l1-intercept-${k}`);
      expect(ruleOf(() => checkL1Intercepts({ [k]: 1.5 }))).toBe(`l1-intercept-${k}`);
      expect(() => checkL1Intercepts({ [k]: -1 })).toThrow(`intercepts.${k} is a 32-bit VMCS field`);
      expect(checkL1Intercepts({ [k]: 0 })[k]).toBe(0);
      expect(checkL1Intercepts({ [k]: 0xffff_ffff })[k]).toBe(0xffff_ffff);
    }
    const e = (() => { try { checkL1Intercepts({ pfecMatch: -1 }); } catch (x) { return x as InvalidArgumentError; } })()!;
    expect(e.value).toBe('-1');
  });
});

describe('isPageFaultVmexit: bit 14 XOR ((u16 error_code & mask) != match) (nested.c:494-504, 518)', () => {
  const c = (pf: boolean, pfecMask: number, pfecMatch: number) => checkL1Intercepts({ pf, pfecMask, pfecMatch });

  it('the four cases of the XOR', () => {
    // mask = match = 0: equal, so the bit alone decides (nested.c:502-503).
    expect(isPageFaultVmexit(c(true, 0, 0), 0x2)).toBe(true);
    expect(isPageFaultVmexit(c(false, 0, 0), 0x2)).toBe(false);
    // mask = W, match = W: a write (W set) is equal, a read is not.
    expect(isPageFaultVmexit(c(true, 2, 2), 0x2)).toBe(true);
    expect(isPageFaultVmexit(c(true, 2, 2), 0x0)).toBe(false);
    expect(isPageFaultVmexit(c(false, 2, 2), 0x2)).toBe(false);
    expect(isPageFaultVmexit(c(false, 2, 2), 0x0)).toBe(true);
  });

  it('bits 31:16 of the error code are dropped before the test (nested.c:509-518, (u16)error_code)', () => {
    // Full 32 bits would be equal (0x10002 & ~0 == 0x10002) and, with bit 14 set, exit; the u16 (0x2) is not.
    expect(isPageFaultVmexit(c(true, 0xffff_ffff, 0x1_0002), 0x1_0002)).toBe(false);
    // A match with bit 31 set is compared as an unsigned 32-bit field: never equal to a u16 value.
    expect(isPageFaultVmexit(c(false, 0xffff_ffff, 0x8000_0002), 0x2)).toBe(true);
    expect(isPageFaultVmexit(c(false, 0xffff_ffff, 0x2), 0x8000_0002)).toBe(false);
  });
});

describe('the exit records', () => {
  it('#PF: EXCEPTION_NMI, valid | deliver-code | hard exception | vector 14, u16 error code, CR2 (nested.c:3969-4010)', () => {
    // INTR_INFO_VALID_MASK (bit 31) | INTR_INFO_DELIVER_CODE_MASK (bit 11) | INTR_TYPE_HARD_EXCEPTION (3 << 8) | PF_VECTOR (14).
    expect(PF_INTR_INFO).toBe(0x8000_0b0e);
    const x = pageFaultExit(gva(0x7fff_f000n), 0x1_0007);
    expect(x).toEqual({ kind: 'exception', exitReason: 0, intrInfo: 0x8000_0b0e, errorCode: 0x7, qualification: 0x7fff_f000n }); // :4003 (u16)error_code
    expect(EXIT_REASON).toEqual({ EXCEPTION_NMI: 0, INVLPG: 14, CR_ACCESS: 28 }); // uapi/asm/vmx.h
  });

  it('MOV to CR3: CR_ACCESS, qualification CR number | access type 0 << 4 | GPR << 8 (SDM Vol. 3C Table 28-3)', () => {
    expect(cr3LoadExit(0)).toEqual({ kind: 'cr-access', exitReason: 28, qualification: 0x3 });
    expect(cr3LoadExit(15)).toEqual({ kind: 'cr-access', exitReason: 28, qualification: 0xf03 });
    expect(cr3LoadExit(1).qualification).toBe(0x103);
    for (const bad of [-1, 16, 1.5]) expect(ruleOf(() => cr3LoadExit(bad))).toBe('mov-cr3-gpr');
    expect(() => cr3LoadExit(16)).toThrow('the source register is a GPR number 0..15');
  });

  it('INVLPG: the linear address as qualification (nested.c:6477-6478; SDM Vol. 3C 28.2.1)', () => {
    expect(invlpgExit(gva(0x1234_5678n))).toEqual({ kind: 'invlpg', exitReason: 14, qualification: 0x1234_5678n });
  });
});
