/**
 * Pieces of src/nested the scenario tests reach only in part: L1's EPT capability bits one by one,
 * the largest EPT12 page, EPTP fields at the edges of `nested_vmx_check_eptp`, the exit
 * decoders, walks that must not change state (`peekFrame`), and the count of EPT12/NPT12 entries
 * a walk reads. Expected values cite Linux v6.16.1 (arch/x86/include/asm/vmx.h,
 * arch/x86/kvm/vmx/capabilities.h, vmx/nested.c, svm/svm.h) or the 2D-walk formula
 * (refs-2d.ts: n·(m+1) + m, reference §6.7).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EPT_CAPS, EPT_QUAL, NPF_GUEST_FINAL, NPF_GUEST_PAGE, PFERR, decodeEptQualification, decodeEptp, decodeNpfErrorCode, describeNestedExit,
  eptAccToRwx, eptCapsFromMsr, eptCapsToMsr, eptHugePageLevel, eptViolationQualification, makeEptp, nestedExit, npfErrorCode, rwxToProt,
  type EptCapabilities, type Ngpa,
} from '../../src';
import { eptSetup, nptSetup } from './support';

const NONE: EptCapabilities = {
  executeOnly: false, pageWalk4: false, pageWalk5: false, uc: false, wb: false, pages2m: false, pages1g: false, accessedDirty: false,
};

describe('IA32_VMX_EPT_VPID_CAP bits (asm/vmx.h:508-516)', () => {
  it.each([
    ['executeOnly', 0], // vmx.h:508
    ['pageWalk4', 6], // vmx.h:509
    ['pageWalk5', 7], // vmx.h:510
    ['uc', 8], // vmx.h:511
    ['wb', 14], // vmx.h:512
    ['pages2m', 16], // vmx.h:513
    ['pages1g', 17], // vmx.h:514
    ['accessedDirty', 21], // vmx.h:516
  ] as const)('%s is bit %i, alone', (k, b) => {
    expect(eptCapsFromMsr(1n << BigInt(b))).toEqual({ ...NONE, [k]: true });
    expect(eptCapsToMsr({ ...NONE, [k]: true })).toBe(1n << BigInt(b));
  });

  it('bits KVM does not use are ignored; nothing set is nothing offered', () => {
    expect(eptCapsFromMsr(0n)).toEqual(NONE);
    expect(eptCapsFromMsr((1n << 63n) | (1n << 1n) | (1n << 20n))).toEqual(NONE);
    expect(() => eptCapsFromMsr(1n << 64n)).toThrow(/ept-cap-msr/);
    expect(eptCapsFromMsr((1n << 64n) - 1n)).toEqual({ ...NONE, executeOnly: true, pageWalk4: true, pageWalk5: true, uc: true, wb: true, pages2m: true, pages1g: true, accessedDirty: true });
  });

  it('ept_caps_to_lpage_level (capabilities.h:322-329): 1G wins, then 2M, else 4K', () => {
    expect(eptHugePageLevel({ ...NONE, pages1g: true, pages2m: true })).toBe(3);
    expect(eptHugePageLevel({ ...NONE, pages1g: true })).toBe(3);
    expect(eptHugePageLevel({ ...NONE, pages2m: true })).toBe(2);
    expect(eptHugePageLevel(NONE)).toBe(1);
  });
});

describe('EPTP12 fields (nested_vmx_check_eptp, nested.c:2800-2843)', () => {
  const root = 0x100_0000n;
  it('memory type, walk length, A/D and root come back as composed', () => {
    const caps = { ...DEFAULT_EPT_CAPS, uc: true };
    expect(makeEptp({ root })).toBe(root | 0x18n | 6n); // PWL 4 = 3 << 3, WB = 6 (vmx.h VMX_EPTP_*)
    expect(makeEptp({ root, level: 5, adEnabled: true, memType: 0 })).toBe(root | 0x20n | 0x40n);
    expect(decodeEptp(root | 0x18n, caps, 46)).toEqual({ level: 4, adEnabled: false, memType: 0, root });
    expect(decodeEptp(root | 0x20n | 6n, caps, 46)).toEqual({ level: 5, adEnabled: false, memType: 6, root });
  });

  it('the MAXPHYADDR bound: bit M-1 is legal, bit M is not (kvm_vcpu_is_legal_gpa, nested.c:2833)', () => {
    expect(decodeEptp((1n << 45n) | 0x18n | 6n, DEFAULT_EPT_CAPS, 46).root).toBe(1n << 45n);
    expect(() => decodeEptp((1n << 46n) | 0x18n | 6n, DEFAULT_EPT_CAPS, 46)).toThrow(/eptp-beyond-maxphyaddr/);
    expect(() => decodeEptp(-1n, DEFAULT_EPT_CAPS, 46)).toThrow(/eptp-width/);
  });

  it('each reserved bit 11:7 alone is refused ((new_eptp >> 7) & 0x1f, nested.c:2833)', () => {
    for (const b of [7n, 8n, 9n, 10n, 11n]) {
      expect(() => decodeEptp(root | 0x18n | 6n | (1n << b), DEFAULT_EPT_CAPS, 46)).toThrow(/eptp-reserved/);
    }
    // Bit 12 is part of the root, not reserved.
    expect(decodeEptp(0x1000n | 0x18n | 6n, DEFAULT_EPT_CAPS, 46).root).toBe(0x1000n);
  });
});

describe('exit encodings', () => {
  it('EPT violation qualification: access bits 2:0, PROT 5:3, GVA bits 7/8 (vmx.h:584-595)', () => {
    expect(eptViolationQualification(PFERR.USER, 0, 'none')).toBe(EPT_QUAL.ACC_READ);
    expect(eptViolationQualification(PFERR.WRITE, 0, 'none')).toBe(2);
    expect(eptViolationQualification(PFERR.FETCH, 0, 'none')).toBe(4);
    expect(eptViolationQualification(PFERR.PRESENT, 0, 'none')).toBe(0); // P is no access bit
    expect(eptViolationQualification(0, 7, 'none')).toBe(0x38);
    expect(eptViolationQualification(0, 0, 'final')).toBe(0x180);
    expect(rwxToProt(0xf)).toBe(0x38); // EPT_VIOLATION_RWX_TO_PROT keeps R/W/X only
    expect(eptAccToRwx(1)).toBe(4); // ACC_EXEC → X (bit 2)
    expect(eptAccToRwx(2)).toBe(2); // ACC_WRITE → W
    expect(eptAccToRwx(4)).toBe(1); // ACC_USER ("readable") → R
    expect(eptAccToRwx(7)).toBe(7);
  });

  it('decoders name every bit with KVM\'s names and keep the rest as hex', () => {
    expect(decodeEptQualification(0)).toBe('0');
    expect(decodeEptQualification(0x1ff)).toBe('READ|WRITE|INSTR|PROT_READ|PROT_WRITE|PROT_EXEC|EXEC_FOR_RING3_LIN|GVA_IS_VALID|GVA_TRANSLATED');
    // Bits 11:9: x86/vmx.h:658-660 EPT_VLT_GUEST_USER/RW/NX (kvm-unit-tests); bit 12 and up as hex.
    expect(decodeEptQualification(0xe00 | 1)).toBe('READ|GVA_USER|GVA_RW|GVA_NX');
    expect(decodeEptQualification(0x1000 | 1)).toBe('READ|0x1000');
    expect(decodeNpfErrorCode(0)).toBe('0');
    expect(decodeNpfErrorCode(NPF_GUEST_FINAL + NPF_GUEST_PAGE)).toBe('GUEST_FINAL|GUEST_PAGE');
    expect(decodeNpfErrorCode(2 ** 34 + 1)).toBe('P|hi:0x4');
    expect(npfErrorCode(0xffff_ffff, 'none')).toBe(0xffff_ffff); // svm.h: EXITINFO1 low half = error code
    expect(npfErrorCode(-1, 'final')).toBe(NPF_GUEST_FINAL + 0xffff_ffff);
  });

  it('nested_ept_inject_page_fault: RSVD → misconfiguration (exit 49, qualification 0); else violation (exit 48) with the GVA only when bit 7 is set', () => {
    const a = 0x4000_0000n as Ngpa;
    const mis = nestedExit({ tdp: 'ept', errorCode: PFERR.RSVD | PFERR.PRESENT, pfec: PFERR.USER, rwx: 7, address: a, during: 'final', gva: 0x1234n as never });
    expect(mis).toEqual({ kind: 'ept-misconfig', exitReason: 49, qualification: 0, guestPhysicalAddress: a });
    expect(describeNestedExit(mis)).toBe('EPT misconfiguration (exit 49) at nGPA 0x40000000');
    const vio = nestedExit({ tdp: 'ept', errorCode: PFERR.PRESENT | PFERR.WRITE, pfec: PFERR.WRITE, rwx: 5, address: a, during: 'final', gva: 0x1234n as never });
    expect(vio).toMatchObject({ kind: 'ept-violation', exitReason: 48, qualification: 0x2 | 0x28 | 0x180, guestLinearAddress: 0x1234n });
    expect(describeNestedExit(vio)).toBe('EPT violation (exit 48) at nGPA 0x40000000, qualification 0x1aa (WRITE|PROT_READ|PROT_EXEC|GVA_IS_VALID|GVA_TRANSLATED)');
    const noGva = nestedExit({ tdp: 'ept', errorCode: PFERR.WRITE, pfec: PFERR.WRITE, rwx: 0, address: a, during: 'none', gva: 0x1234n as never });
    expect('guestLinearAddress' in noGva).toBe(false);
    const npf = nestedExit({ tdp: 'npt', errorCode: PFERR.RSVD | PFERR.PRESENT | PFERR.USER, pfec: PFERR.USER, rwx: 0, address: a, during: 'paging-structure' });
    expect(npf).toMatchObject({ kind: 'npf', exitCode: 0x400, exitInfo1: NPF_GUEST_PAGE + 0xd, exitInfo2: a });
    expect(describeNestedExit(npf)).toBe('NPF (exit 0x400) at nGPA 0x40000000, EXITINFO1 0x20000000d (P|U|RSVD|GUEST_PAGE)');
  });
});

describe('ngpa walks: entries read, and walks that change nothing', () => {
  const N = 0x4000_0000n;
  const G = 0x8000_0000n;

  it('a 4-level EPT12 walk reads m = 4 entries for a 4K page, 3 for a 2M page, 1 when the PML4E is missing', () => {
    const s = eptSetup();
    s.b.map(N, G);
    const r = s.w.walk(N, { kind: 'read' });
    expect(r.status).toBe('ok');
    expect(r.reads).toBe(4);
    expect(s.w.translate(N + 0x10n, { kind: 'read' })).toBe(G + 0x10n);
    s.b.map(N + 0x20_0000n, G + 0x20_0000n, { size: '2M' });
    expect(s.w.walk(N + 0x20_0000n, { kind: 'read' }).reads).toBe(3);
    expect(s.w.walk(0x80_0000_0000n, { kind: 'read' }).reads).toBe(1);
    expect(s.w.translate(0x80_0000_0000n, { kind: 'read' })).toBeUndefined();
  });

  it('a table outside every L1 slot cannot be read: only the entries before it count', () => {
    const s = eptSetup();
    s.b.map(N, G);
    s.b.setEntry(N, 4, 0x3_0000_0000n | 7n); // the PDPT would be at 12 GiB: no slot (support.ts: RAM ends at 4 GiB)
    const r = s.w.walk(N, { kind: 'read' });
    expect(r.status).toBe('fault');
    expect(r.reads).toBe(1); // the PML4E only
  });

  it('5-level EPT12: 5 entries', () => {
    const s = eptSetup({ level: 5 });
    s.b.map(N, G);
    expect(s.w.walk(N, { kind: 'write' }).reads).toBe(5);
  });

  it('peekFrame translates like a walk but sets no A/D and logs nothing; the walk then logs once (EPT A/D)', () => {
    const logged: Ngpa[] = [];
    const s = eptSetup({ ad: true, onWriteLogDirty: (p) => logged.push(p) });
    s.b.map(N, G);
    const before = s.b.getEntry(N, 1).value;
    expect(s.w.peekFrame(Number(N >> 12n), PFERR.WRITE)).toBe(Number(G >> 12n));
    expect(s.b.getEntry(N, 1).value).toBe(before);
    expect([s.w.writeLogDirtyCount, logged.length]).toEqual([0, 0]);
    expect(s.w.peekFrame(0x80_0000, PFERR.USER)).toBe(-1);
    expect(s.w.translateFrame(Number(N >> 12n), PFERR.WRITE)).toBe(Number(G >> 12n));
    expect(s.w.lastDirtyLogged).toBe(true);
    expect(logged).toEqual([N]);
    expect(s.b.getEntry(N, 1).value & 0x300n).toBe(0x300n); // EPT A (bit 8) and D (bit 9) set by the walk
    // D already set: no second write_log_dirty (paging_tmpl.h update_accessed_dirty_bits).
    expect(s.w.translateFrame(Number(N >> 12n), PFERR.WRITE)).toBe(Number(G >> 12n));
    expect([s.w.lastDirtyLogged, s.w.writeLogDirtyCount]).toEqual([false, 1]);
    // A read never logs.
    s.b.map(N + 0x1000n, G + 0x1000n);
    s.w.translateFrame(Number(N >> 12n) + 1, PFERR.USER);
    expect(s.w.writeLogDirtyCount).toBe(1);
  });

  it('without EPT A/D a write logs nothing', () => {
    const s = eptSetup({ ad: false });
    s.b.map(N, G);
    s.w.translateFrame(Number(N >> 12n), PFERR.WRITE);
    expect([s.w.lastDirtyLogged, s.w.writeLogDirtyCount]).toEqual([false, 0]);
  });

  it('NPT12: every access is a user access (lastPfec has U), and a fault names the NPT12', () => {
    const s = nptSetup();
    s.b.map(N, G, { flags: { user: true, writable: true } });
    s.w.walk(N, { kind: 'write' });
    expect(s.w.lastPfec).toBe(PFERR.WRITE | PFERR.USER);
    s.b.map(N + 0x1000n, G + 0x1000n, { flags: { user: false } });
    const f = s.w.walk(N + 0x1000n, { kind: 'read' });
    expect(f.status).toBe('fault');
    if (f.status === 'fault') expect(f.detail).toMatch(/^NPT12 \(every access is a user access\)/);
    expect(String(s.w)).toMatch(/^NgpaWalker\(NPT12 4-level, nCR3 0x/);
    expect(String(eptSetup().w)).toMatch(/^NgpaWalker\(EPT12 4-level, EPTP 0x/);
  });

  it.each([
    ['6.16', 'R W X ANDed over the levels: R--'],
    ['7.3', 'rights ANDed over the levels: R--'],
  ] as const)('KVM %s: EPT12 denial details name what the ANDed rights lack', (kvm, rights) => {
    const s = eptSetup({ kvm });
    s.b.map(N, G, { flags: { write: false, exec: false } });
    const f = s.w.walk(N, { kind: 'write' });
    expect(f.status === 'fault' && f.detail).toBe(`EPT12 entries deny it: not writable (${rights})`);
    const g = s.w.walk(N, { kind: 'fetch', user: true });
    expect(g.status === 'fault' && g.detail).toBe(`EPT12 entries deny it: not executable (${rights})`);
  });
});
