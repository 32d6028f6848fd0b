/**
 * src/nested/l2-cr-intercept.ts unit by unit (`npm run mutate`): the vmcs12/vmcb12 CR write
 * controls and the exit decision for L2's MOV to CR0/CR3/CR4 under nested TDP. Expected values
 * cite Linux v6.16.1 (vmx/nested.c `nested_vmx_exit_handled_cr` :6236-6304; svm/nested.c
 * `nested_svm_intercept` :1341-1383; svm.c `check_selective_cr0_intercepted` :2661-2680);
 * test/vm/l2-cr-intercepts.test.ts drives them through a vCPU.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CR0, CR4, InvalidArgumentError, InvalidRegisterStateError, SVM_CR_VALID, SVM_EXIT_CR, checkSvmCrIntercepts, checkVmxCrIntercepts, l2CrWriteExit, type PagingRegisters } from '../../src';

const REGS: PagingRegisters = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0x1000n, cr4: CR4.PAE, efer: 0n };
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('checkVmxCrIntercepts / checkSvmCrIntercepts', () => {
  it('absent or all-off controls are undefined (nothing to check on the write path); given values are kept, frozen', () => {
    expect(checkVmxCrIntercepts(undefined)).toBeUndefined();
    expect(checkVmxCrIntercepts({})).toBeUndefined();
    expect(checkVmxCrIntercepts({ cr3Load: false, cr0ReadShadow: 5n, cr4ReadShadow: 7n, cr3Targets: [] })).toBeUndefined();
    const c = checkVmxCrIntercepts({ cr0GuestHostMask: 1n, cr0ReadShadow: 2n });
    expect(c).toEqual({ flavour: 'vmx', cr3Load: false, cr0GuestHostMask: 1n, cr0ReadShadow: 2n, cr4GuestHostMask: 0n, cr4ReadShadow: 0n });
    expect(Object.isFrozen(c)).toBe(true);
    expect(checkVmxCrIntercepts({ cr3Load: true })).toMatchObject({ cr3Load: true });
    expect(checkVmxCrIntercepts({ cr4GuestHostMask: 1n << 63n })).toMatchObject({ cr4GuestHostMask: 1n << 63n });
    expect(checkSvmCrIntercepts(undefined)).toBeUndefined();
    expect(checkSvmCrIntercepts({ cr0Write: false })).toBeUndefined();
    for (const k of ['cr0Write', 'cr3Write', 'cr4Write', 'selectiveCr0'] as const) {
      const s = checkSvmCrIntercepts({ [k]: true });
      expect(s).toEqual({ flavour: 'svm', cr0Write: false, cr3Write: false, cr4Write: false, selectiveCr0: false, [k]: true });
      expect(Object.isFrozen(s)).toBe(true);
    }
  });

  it('typed errors name the field', () => {
    const rule = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
        return [(e as InvalidArgumentError).rule, (e as Error).message.split(' ')[0]];
      }
      return undefined;
    };
    expect(rule(() => checkVmxCrIntercepts({ cr3Targets: [0n] }))).toEqual(['l2-cr3-target-count', 'intercepts.cr3Targets:']);
    expect(rule(() => checkVmxCrIntercepts({ cr0GuestHostMask: -1n }))).toEqual(['bigint-range', 'intercepts.cr0GuestHostMask']);
    expect(rule(() => checkVmxCrIntercepts({ cr0ReadShadow: 1n << 64n }))).toEqual(['bigint-range', 'intercepts.cr0ReadShadow']);
    expect(rule(() => checkVmxCrIntercepts({ cr4GuestHostMask: 'x' }))).toEqual(['bigint-type', 'intercepts.cr4GuestHostMask']);
    expect(rule(() => checkVmxCrIntercepts({ cr3Targets: [1n << 64n] }))).toEqual(['bigint-range', 'intercepts.cr3Targets[0]']);
    expect(rule(() => checkVmxCrIntercepts({ invlpg: true }))).toEqual(['l2-cr-intercept-unknown', 'intercepts.invlpg']);
    expect(rule(() => checkSvmCrIntercepts({ selectiveCr0: 1 }))).toEqual(['boolean-type', 'intercepts.selectiveCr0']);
    expect(rule(() => checkSvmCrIntercepts({ cr0GuestHostMask: 1n }))).toEqual(['l2-cr-intercept-unknown', 'intercepts.cr0GuestHostMask']);
  });
});

describe('l2CrWriteExit', () => {
  it('VMX CR0/CR4: exit iff mask & (val ^ read shadow) != 0 (nested.c:6249-6252, 6258-6261); qualification = CR number', () => {
    fc.assert(fc.property(u64, u64, u64, u64, fc.boolean(), (mask, shadow, val, old, four) => {
      const c = checkVmxCrIntercepts(four ? { cr4GuestHostMask: mask | 1n, cr4ReadShadow: shadow } : { cr0GuestHostMask: mask | 1n, cr0ReadShadow: shadow })!;
      const reg = four ? 'cr4' : 'cr0';
      const x = l2CrWriteExit(c, { ...REGS, [reg]: old }, { [reg]: val });
      const want = ((mask | 1n) & (val ^ shadow)) !== 0n;
      expect(x).toEqual(want ? { kind: 'cr-access', exitReason: 28, qualification: four ? 4 : 0 } : undefined);
    }));
  });

  it('VMX CR3: exits on every value with CR3-load exiting (nested.c:6255-6256), never without', () => {
    fc.assert(fc.property(u64, (v) => {
      expect(l2CrWriteExit(checkVmxCrIntercepts({ cr3Load: true })!, REGS, { cr3: v })).toEqual({ kind: 'cr-access', exitReason: 28, qualification: 3 });
      expect(l2CrWriteExit(checkVmxCrIntercepts({ cr0GuestHostMask: ~0n & ((1n << 64n) - 1n) })!, REGS, { cr3: v })).toBeUndefined();
    }));
  });

  it('SVM: WRITE_CR0/3/4 always; CR0_SEL_WRITE iff a bit other than TS/MP changes from L2\'s CR0 (svm.c:2672-2676); WRITE_CR0 first', () => {
    const info = SVM_CR_VALID;
    expect(l2CrWriteExit(checkSvmCrIntercepts({ cr3Write: true })!, REGS, { cr3: REGS.cr3 })).toEqual({ kind: 'svm-cr-write', exitCode: SVM_EXIT_CR.WRITE_CR3, exitInfo1: info });
    expect(l2CrWriteExit(checkSvmCrIntercepts({ cr4Write: true })!, REGS, { cr4: REGS.cr4 })).toEqual({ kind: 'svm-cr-write', exitCode: 0x14, exitInfo1: info });
    expect(l2CrWriteExit(checkSvmCrIntercepts({ cr0Write: true })!, REGS, { cr0: REGS.cr0 })).toEqual({ kind: 'svm-cr-write', exitCode: 0x10, exitInfo1: info });
    expect(l2CrWriteExit(checkSvmCrIntercepts({ cr0Write: true, selectiveCr0: true })!, REGS, { cr0: REGS.cr0 ^ CR0.CD })).toMatchObject({ exitCode: 0x10 });
    expect(l2CrWriteExit(checkSvmCrIntercepts({ cr3Write: true })!, REGS, { cr0: 0n, cr4: 0n })).toBeUndefined();
    expect(l2CrWriteExit(checkSvmCrIntercepts({ cr0Write: true })!, REGS, { cr3: 0n, cr4: 0n })).toBeUndefined();
    const sel = checkSvmCrIntercepts({ selectiveCr0: true })!;
    fc.assert(fc.property(u64, u64, (old, val) => {
      const x = l2CrWriteExit(sel, { ...REGS, cr0: old }, { cr0: val });
      const want = ((old ^ val) & ~(CR0.TS | CR0.MP)) !== 0n;
      expect(x).toEqual(want ? { kind: 'svm-cr-write', exitCode: 0x65, exitInfo1: info } : undefined);
    }));
  });

  it('several CRs named: refused only when one of them exits; each CR is judged on its own register', () => {
    const c = checkVmxCrIntercepts({ cr3Load: true })!;
    for (const u of [{ cr0: REGS.cr0, cr3: 0n }, { cr3: 0n, cr4: REGS.cr4 }, { cr0: REGS.cr0, cr3: 0n, cr4: REGS.cr4 }]) {
      expect(() => l2CrWriteExit(c, REGS, u)).toThrow(InvalidRegisterStateError);
    }
    expect(l2CrWriteExit(c, REGS, { cr0: 0n, cr4: 0n })).toBeUndefined();
    expect(l2CrWriteExit(c, REGS, { cr3: 0n, efer: 0n })).toMatchObject({ qualification: 3 });
    const m = checkVmxCrIntercepts({ cr4GuestHostMask: CR4.SMEP })!;
    expect(l2CrWriteExit(m, REGS, { cr0: CR4.SMEP })).toBeUndefined(); // the CR4 mask does not judge CR0's value
    expect(l2CrWriteExit(m, REGS, { cr3: CR4.SMEP })).toBeUndefined();
    expect(l2CrWriteExit(m, REGS, { cr4: CR4.SMEP })).toMatchObject({ qualification: 4 });
  });
});
