import { describe, expect, it } from 'vitest';
import {
  KVM_VERSIONS, PFERR, SVM_EXIT_NPF, NPF_GUEST_FINAL, NPF_GUEST_PAGE, decodeNpfErrorCode, npfErrorCode,
  type NgpaAccess, type NgpaWalkFault, type NgpaWalkOk, type NgpaWalkResult, type X86Flags,
} from '../../src';
import { nptSetup } from './support';

const N = 0x4000_0000n;
const G = 0x8000_0000n;
const U = PFERR.USER;

function fault(r: NgpaWalkResult): NgpaWalkFault {
  if (r.status !== 'fault') throw new Error(`expected a fault, got GPA 0x${r.gpa.toString(16)}`);
  return r;
}
function ok(r: NgpaWalkResult): NgpaWalkOk {
  if (r.status !== 'ok') throw new Error(`expected ok, got ${r.detail}`);
  return r;
}

type S = ReturnType<typeof nptSetup>;
interface Case {
  name: string;
  nx?: boolean;
  prepare: (s: S) => void;
  access: NgpaAccess;
  /** Expected EXITINFO1. */
  info1: number;
  reason: NgpaWalkFault['reason'];
}
const leaf = (flags: X86Flags) => (s: S) => s.b.map(N, G, { flags });

// EXITINFO1 has bits above 31: add them (`|` would truncate to 32 bits).
const cases: Case[] = [
  { name: 'not present (no mapping): error code U only', prepare: () => {}, access: { kind: 'read' }, info1: U, reason: 'not-present' },
  { name: 'not present, final translation: + GUEST_FINAL', prepare: () => {}, access: { kind: 'write', during: 'final' }, info1: (PFERR.WRITE | U) + NPF_GUEST_FINAL, reason: 'not-present' },
  { name: 'U=0 in the leaf: every NPT access is a user access', prepare: leaf({ writable: true }), access: { kind: 'read' }, info1: PFERR.PRESENT | U, reason: 'protection' },
  { name: 'U=0 in an upper level, guest page-table access: + GUEST_PAGE', prepare: (s) => { s.b.map(N, G, { flags: { writable: true, user: true } }); s.b.setEntry(N, 3, s.b.getEntry(N, 3).value & ~4n); }, access: { kind: 'write', during: 'paging-structure' }, info1: (PFERR.PRESENT | PFERR.WRITE | U) + NPF_GUEST_PAGE, reason: 'protection' },
  { name: 'write to a read-only page (CR0.WP irrelevant: user access)', prepare: leaf({ user: true }), access: { kind: 'write' }, info1: PFERR.PRESENT | PFERR.WRITE | U, reason: 'protection' },
  { name: 'fetch from an NX page (L1 EFER.NXE=1): I/D set', prepare: leaf({ user: true, writable: true, nx: true }), access: { kind: 'fetch' }, info1: PFERR.PRESENT | U | PFERR.FETCH, reason: 'protection' },
  { name: 'NX bit with L1 EFER.NXE=0: reserved bit (and no I/D)', nx: false, prepare: leaf({ user: true, nx: true }), access: { kind: 'fetch' }, info1: PFERR.RSVD | PFERR.PRESENT | U, reason: 'reserved-bit' },
  { name: 'address bit 51 (≥ MAXPHYADDR 46) in a PTE: RSVD', prepare: (s) => { s.b.map(N, G, { flags: { user: true } }); s.b.setEntry(N, 1, s.b.getEntry(N, 1).value | (1n << 51n)); }, access: { kind: 'read', during: 'final' }, info1: (PFERR.RSVD | PFERR.PRESENT | U) + NPF_GUEST_FINAL, reason: 'reserved-bit' },
  { name: 'bit 8 in a non-leaf PML4E: reserved on AMD', prepare: (s) => { s.b.map(N, G, { flags: { user: true } }); s.b.setEntry(N, 4, s.b.getEntry(N, 4).value | 0x100n); }, access: { kind: 'read' }, info1: PFERR.RSVD | PFERR.PRESENT | U, reason: 'reserved-bit' },
];

describe('NPT12 faults: NPF EXITINFO1 = #PF-style error code + GUEST_FINAL/GUEST_PAGE', () => {
  it.each(cases)('$name', (c) => {
    const s = nptSetup({ nx: c.nx ?? true });
    c.prepare(s);
    const f = fault(s.w.walk(N + 0x88n, c.access));
    expect(f.reason).toBe(c.reason);
    expect(f.nestedPageFault).toBe(true);
    expect(f.misconfig).toBe(c.reason === 'reserved-bit');
    expect(f.exit.kind).toBe('npf');
    if (f.exit.kind !== 'npf') return;
    expect(f.exit.exitCode).toBe(SVM_EXIT_NPF);
    expect(`0x${f.exit.exitInfo1.toString(16)}`).toBe(`0x${c.info1.toString(16)}`);
    expect(f.exit.exitInfo1Text).toBe(decodeNpfErrorCode(c.info1));
    expect(f.exit.exitInfo2).toBe(N + 0x88n);
    expect(f.errorCode).toBe(c.info1 % 2 ** 32);
  });

  it('EXITINFO1 is exact as a number up to bit 33', () => {
    expect(npfErrorCode(PFERR.PRESENT | PFERR.WRITE | U, 'paging-structure')).toBe(2 ** 33 + 7);
    expect(decodeNpfErrorCode(2 ** 33 + 7)).toBe('P|W|U|GUEST_PAGE');
    expect(decodeNpfErrorCode(2 ** 32)).toBe('GUEST_FINAL');
    expect(BigInt(npfErrorCode(0xd, 'final'))).toBe((1n << 32n) | 0xdn);
  });

  it('a user page translates; A and D are set as in any x86 table', () => {
    const s = nptSetup();
    s.b.map(N, G, { flags: { user: true, writable: true } });
    const r = ok(s.w.walk(N + 0x88n, { kind: 'write' }));
    expect(r.gpa).toBe(G + 0x88n);
    expect(r.access).toEqual({ kind: 'write', user: true });
    expect(s.b.getEntry(N, 1).value & 0x60n).toBe(0x60n);
    expect(r.reads).toBe(4);
  });

  it('5-level NPT12 when L1 has CR4.LA57; 32-bit NPT12 with 4 MiB pages when L1 has CR4.PSE', () => {
    const five = nptSetup({ level: 5 });
    five.b.map(0x1_0000_0000_0000n, G, { flags: { user: true } });
    expect(ok(five.w.walk(0x1_0000_0000_0123n, { kind: 'read' })).reads).toBe(5);
    const two = nptSetup({ level: 2 });
    two.b.map(0x40_0000n, 0xc00_0000n, { size: '4M', flags: { user: true } });
    const r = ok(two.w.walk(0x41_2345n, { kind: 'read' }));
    expect(r.gpa).toBe(0xc01_2345n);
    expect(r.pageSize).toBe(4 << 20);
    expect(r.reads).toBe(1);
  });

  it.each(KVM_VERSIONS)('KVM %s: PAE NPT12: the PDPTE is read from memory on every walk (no registers), and counts as a reference', (kvm) => {
    const s = nptSetup({ level: 3, kvm });
    s.b.map(N, G, { flags: { user: true } });
    const r = ok(s.w.walk(N, { kind: 'read' }));
    expect(r.reads).toBe(3);
    expect(r.trace.map((t) => t.source)).toEqual(['memory', 'memory', 'memory']);
    expect(r.trace[0]!.entryGpa).toBe(s.b.root + 8n);
    // The entries without the record (what the 2D walk traces) are the record's trace.
    expect(s.w.lastEntries()).toEqual(r.trace);
    // Clearing the PDPTE in memory is seen at once — unlike a guest's PAE PDPTE registers.
    s.b.setEntry(N, 3, 0n);
    const f = fault(s.w.walk(N, { kind: 'read' }));
    expect(f.reason).toBe('pdpte-not-present');
    expect(f.reads).toBe(1);
    expect(f.exit.kind === 'npf' && f.exit.exitInfo1).toBe(U);
  });
});
