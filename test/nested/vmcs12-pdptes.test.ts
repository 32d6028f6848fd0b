/**
 * vmcs12's GUEST_PDPTR0-3 checks, unit by unit. Expected values come from KVM v6.16.1 and the SDM,
 * not from the engine: `is_pae_paging` (arch/x86/kvm/x86.h:257-260: not long mode, CR4.PAE, CR0.PG,
 * long mode being EFER.LMA, x86.h:197-200), `pdptr_rsvd_bits` (x86.c:1026-1029: reserved GPA bits,
 * 8:5 and 2:1) applied only to present PDPTEs (x86.c:1058-1062; kvm-unit-tests x86/vmx_tests.c:
 * 5906-5912 expects the entry to fail for bits 52-63 of a present PDPTE, :5916-5919 not for 9-11).
 */
import { describe, expect, it } from 'vitest';
import { CR0, CR4, EFER, InvalidArgumentError, InvalidRegisterStateError } from '../../src';
import { isPaePaging, pdpteRsvdBits, vmcs12Pdptes } from '../../src/nested/vmcs12-pdptes';

const PG = CR0.PG | CR0.PE;
const regs = (cr0: bigint, cr4: bigint, efer: bigint) => ({ cr0, cr3: 0x1000n, cr4, efer });
const PAE = regs(PG, CR4.PAE, 0n);
const LONG = regs(PG, CR4.PAE, EFER.LME | EFER.LMA);
const P = 1n;

describe('isPaePaging (x86.h:257-260)', () => {
  it('is true only with CR0.PG, CR4.PAE and EFER.LMA clear', () => {
    expect(isPaePaging(PAE)).toBe(true);
    expect(isPaePaging(LONG)).toBe(false); // long mode: 4-level paging
    expect(isPaePaging(regs(PG, 0n, 0n))).toBe(false); // 32-bit paging
    expect(isPaePaging(regs(CR0.PE, CR4.PAE, 0n))).toBe(false); // paging off
  });
});

describe('pdpteRsvdBits (x86.c:1026-1029)', () => {
  it('is 63:MAXPHYADDR, 8:5 and 2:1', () => {
    expect(pdpteRsvdBits(36)).toBe(((1n << 64n) - (1n << 36n)) | 0x1e0n | 0x6n);
    expect(pdpteRsvdBits(52)).toBe(((1n << 64n) - (1n << 52n)) | 0x1e0n | 0x6n);
  });
});

describe('vmcs12Pdptes', () => {
  const good = [P | 0x2000n, 0n, P | 0x3000n, 0n];

  it('returns a frozen copy for a PAE L2, and undefined when L2 is not PAE (vmx/nested.c:2756-2757)', () => {
    const got = vmcs12Pdptes(PAE, good, 36)!;
    expect(got).toEqual(good);
    expect(got).not.toBe(good);
    expect(Object.isFrozen(got)).toBe(true);
    expect(vmcs12Pdptes(LONG, undefined, 36)).toBeUndefined();
    expect(vmcs12Pdptes(LONG, good, 36)).toBeUndefined();
    expect(vmcs12Pdptes(regs(PG, 0n, 0n), undefined, 36)).toBeUndefined();
  });

  it('a PAE L2 without vmcs12 PDPTEs is refused (they are not read from CR3: vmx/nested.c:1157-1163)', () => {
    expect(() => vmcs12Pdptes(PAE, undefined, 36)).toThrow(InvalidArgumentError);
    try { vmcs12Pdptes(PAE, undefined, 36); } catch (e) {
      expect((e as InvalidArgumentError).rule).toBe('pdptes-needed');
      expect((e as Error).message).toContain('entry.pdptes');
    }
  });

  it('refuses a pdptes that is not four u64 bigints, naming the argument, even for a non-PAE L2', () => {
    const cases: [unknown, string, string][] = [
      [[0n, 0n, 0n], 'pdptes-four', 'entry.pdptes'],
      ['0,0,0,0', 'pdptes-four', 'entry.pdptes'],
      [[0n, 0n, 1, 0n], 'pdpte-u64', 'entry.pdptes[2]'],
      [[0n, 1n << 64n, 0n, 0n], 'pdpte-u64', 'entry.pdptes[1]'],
    ];
    for (const [v, rule, name] of cases) {
      for (const l2 of [PAE, LONG]) {
        let err: unknown;
        try { vmcs12Pdptes(l2, v, 36); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(InvalidArgumentError);
        expect((err as InvalidArgumentError).rule).toBe(rule);
        expect((err as Error).message).toContain(name);
      }
    }
  });

  it('a present PDPTE with a reserved bit fails the entry; a not-present one does not (x86.c:1058-1062)', () => {
    for (const bit of [1n, 2n, 5n, 8n, 36n, 63n]) {
      const p = [0n, 0n, P | (1n << bit), 0n];
      let err: unknown;
      try { vmcs12Pdptes(PAE, p, 36); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidRegisterStateError);
      expect((err as InvalidRegisterStateError).rule).toBe('vmcs12-pdpte-reserved');
      expect((err as Error).message).toContain('GUEST_PDPTR2');
      expect((err as Error).message).toContain('0x' + (1n << bit).toString(16));
      // Not present: the CPU ignores the other bits (SDM Vol. 3C "Checks on Guest PDPTEs").
      expect(vmcs12Pdptes(PAE, [0n, 0n, 1n << bit, 0n], 36)).toEqual([0n, 0n, 1n << bit, 0n]);
    }
    // Bits below MAXPHYADDR, 9-11 (ignored: vmx_tests.c:5916-5919), 3-4 (PWT/PCD) are not reserved.
    for (const bit of [3n, 4n, 9n, 11n, 35n]) {
      expect(vmcs12Pdptes(PAE, [P | (1n << bit), 0n, 0n, 0n], 36)).toHaveLength(4);
    }
  });
});
