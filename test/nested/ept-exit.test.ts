import { describe, expect, it } from 'vitest';
import {
  EPT_QUAL, KVM_VERSIONS, PFERR, VMX_EXIT_REASON, accEncoding, decodeEptQualification, eptViolationQualification, rwxToProt,
  type NgpaAccess, type NgpaWalkFault, type NgpaWalkOk, type NgpaWalkResult, type EptCapabilities, type EptFlags,
} from '../../src';
import { eptSetup, ROM_BASE } from './support';

const N = 0x4000_0000n; // nGPA under test
const G = 0x8000_0000n; // GPA it maps to

function fault(r: NgpaWalkResult): NgpaWalkFault {
  if (r.status !== 'fault') throw new Error(`expected a fault, got GPA 0x${r.gpa.toString(16)}`);
  return r;
}
function ok(r: NgpaWalkResult): NgpaWalkOk {
  if (r.status !== 'ok') throw new Error(`expected ok, got ${r.detail}`);
  return r;
}

type Prepare = (s: ReturnType<typeof eptSetup>) => void;
const mapLeaf = (flags: EptFlags): Prepare => ({ b }) => b.map(N, G, { flags });
const rawLeaf = (bits: bigint): Prepare => ({ b }) => {
  b.map(N, G);
  b.setEntry(N, 1, G | bits);
};

interface Case {
  name: string;
  prepare: Prepare;
  access: NgpaAccess;
  caps?: Partial<EptCapabilities>;
  /** Expected qualification (violation), or 'misconfig'. */
  expect: number | 'misconfig';
  /** Where KVM 7.3 differs (MBEC off): its qualification, or 'ok' when 7.3 allows the access. */
  v73?: number | 'ok';
  level: number;
  reason: NgpaWalkFault['reason'];
}

const R = EPT_QUAL.ACC_READ;
const W = EPT_QUAL.ACC_WRITE;
const X = EPT_QUAL.ACC_INSTR;
const PR = EPT_QUAL.PROT_READ;
const PW = EPT_QUAL.PROT_WRITE;
const PX = EPT_QUAL.PROT_EXEC;

const cases: Case[] = [
  { name: 'nothing mapped: PML4E not present, read', prepare: () => {}, access: { kind: 'read' }, expect: R, level: 4, reason: 'not-present' },
  { name: 'leaf not present: write (PROT = AND including the empty entry = 0)', prepare: rawLeaf(0n), access: { kind: 'write' }, expect: W, level: 1, reason: 'not-present' },
  { name: 'leaf not present: fetch', prepare: rawLeaf(0n), access: { kind: 'fetch' }, expect: X, level: 1, reason: 'not-present' },
  { name: 'non-present entry with other bits set is a violation, not a misconfiguration', prepare: rawLeaf(0xff8n | (1n << 51n)), access: { kind: 'read' }, expect: R, level: 1, reason: 'not-present' },
  { name: 'write to a read-only (R-X) page', prepare: mapLeaf({ write: false }), access: { kind: 'write' }, expect: W | PR | PX, level: 1, reason: 'protection' },
  { name: 'write to R-X through the emulated 2D walk (U added), paging-structure access', prepare: mapLeaf({ write: false }), access: { kind: 'write', user: true, during: 'paging-structure' }, expect: R | W | PR | PX | EPT_QUAL.GVA_IS_VALID, level: 1, reason: 'protection' },
  { name: 'write to R-X, final translation', prepare: mapLeaf({ write: false }), access: { kind: 'write', user: true, during: 'final' }, expect: R | W | PR | PX | EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED, level: 1, reason: 'protection',
    // 7.3: bits 2:0 come from the access alone (kvm-7x.md §1.2, 7.3 walker comment), and a final
    // translation is not a paging-structure read: no READ bit; U no longer reads as R (§1.3).
    v73: W | PR | PX | EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED },
  { name: 'fetch from a non-executable (RW-) page', prepare: mapLeaf({ exec: false }), access: { kind: 'fetch' }, expect: X | PR | PW, level: 1, reason: 'protection' },
  { name: 'read of a non-readable (execute-only, supported) page', prepare: mapLeaf({ read: false, write: false }), access: { kind: 'read' }, expect: R | PX, level: 1, reason: 'protection' },
  { name: 'execute-only page fetched with U (KVM emulated walk): needs R too', prepare: mapLeaf({ read: false, write: false }), access: { kind: 'fetch', user: true }, expect: R | X | PX, level: 1, reason: 'protection',
    // 7.3, MBEC off: a fetch needs XS only; U is the user-mode linear address, which only MBEC
    // consults (kvm-7x.md §1.3 point 1, §1.5 EPT fetch rule; §6.1 'Without MBEC, OP_EXEC_USER
    // behaves exactly like OP_EXEC', and execute-only OP_EXEC is ok, table row XS).
    v73: 'ok' },
  { name: 'upper level narrows: PML4E R-- then a write (PROT = AND over levels)', prepare: ({ b }) => { b.map(N, G); b.setEntry(N, 4, (b.getEntry(N, 4).value & ~7n) | 1n); }, access: { kind: 'write' }, expect: W | PR, level: 1, reason: 'protection' },
  { name: 'execute-only without the capability: misconfiguration', prepare: mapLeaf({ read: false, write: false }), caps: { executeOnly: false }, access: { kind: 'fetch' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'execute-only without the capability, read: misconfiguration before permissions', prepare: mapLeaf({ read: false, write: false }), caps: { executeOnly: false }, access: { kind: 'read' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'write-only (XWR=010): misconfiguration', prepare: rawLeaf(0x32n), access: { kind: 'read' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'write+execute without read (XWR=110): misconfiguration', prepare: rawLeaf(0x36n), access: { kind: 'fetch' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'reserved bit 3 in a PML4E', prepare: ({ b }) => { b.map(N, G); b.setEntry(N, 4, b.getEntry(N, 4).value | 8n); }, access: { kind: 'read' }, expect: 'misconfig', level: 4, reason: 'reserved-bit' },
  { name: 'PS (bit 7) in a PML4E', prepare: ({ b }) => { b.map(N, G); b.setEntry(N, 4, b.getEntry(N, 4).value | 0x80n); }, access: { kind: 'read' }, expect: 'misconfig', level: 4, reason: 'reserved-bit' },
  { name: 'address bit 46 (≥ MAXPHYADDR) in a PTE', prepare: rawLeaf(0x37n | (1n << 46n)), access: { kind: 'read' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'bit 12 in a 2 MiB leaf (reserved 20:12)', prepare: ({ b }) => { b.map(N, G, { size: '2M' }); b.setEntry(N, 2, b.getEntry(N, 2).value | 0x1000n); }, access: { kind: 'read' }, expect: 'misconfig', level: 2, reason: 'reserved-bit' },
  { name: '1 GiB leaf without the 1 GiB capability (bit 7 reserved)', prepare: ({ b }) => b.map(N, G, { size: '1G' }), caps: { pages1g: false }, access: { kind: 'read' }, expect: 'misconfig', level: 3, reason: 'reserved-bit' },
  { name: 'bad memory type 2 in a leaf', prepare: mapLeaf({ memType: 2 }), access: { kind: 'read' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'bad memory type 3 in a leaf', prepare: mapLeaf({ memType: 3 }), access: { kind: 'write' }, expect: 'misconfig', level: 1, reason: 'reserved-bit' },
  { name: 'bad memory type 7 in a 2 MiB leaf', prepare: ({ b }) => b.map(N, G, { size: '2M', flags: { memType: 7 } }), access: { kind: 'fetch' }, expect: 'misconfig', level: 2, reason: 'reserved-bit' },
  {
    name: 'table outside every slot: violation with PROT of the levels read so far',
    prepare: ({ b }) => { b.map(N, G); b.setEntry(N, 4, 0x3_0000_0000n | 7n); },
    access: { kind: 'read' },
    expect: R | PR | PW | PX,
    level: 3,
    reason: 'table-outside-memory',
  },
];

describe.each(KVM_VERSIONS)('EPT12 faults: exit reason and qualification as KVM %s synthesizes them', (kvm) => {
  it.each(cases)('$name', (c) => {
    const s = eptSetup({ caps: c.caps ?? {}, kvm });
    c.prepare(s);
    const want = kvm === '7.3' && c.v73 !== undefined ? c.v73 : c.expect;
    if (want === 'ok') {
      expect(ok(s.w.walk(N + 0x123n, c.access)).gpa).toBe(G + 0x123n);
      return;
    }
    const f = fault(s.w.walk(N + 0x123n, c.access));
    expect(f.stage).toBe('ngpa_walk');
    expect(f.nestedPageFault).toBe(true);
    expect(f.level).toBe(c.level);
    expect(f.reason).toBe(c.reason);
    expect(f.during).toBe(c.access.during ?? 'none');
    if (want === 'misconfig') {
      expect(f.misconfig).toBe(true);
      expect(f.errorCode & (PFERR.RSVD | PFERR.PRESENT)).toBe(PFERR.RSVD | PFERR.PRESENT);
      expect(f.exit).toEqual({ kind: 'ept-misconfig', exitReason: VMX_EXIT_REASON.EPT_MISCONFIG, qualification: 0, guestPhysicalAddress: N + 0x123n });
    } else {
      expect(f.misconfig).toBe(false);
      expect(f.exit.kind).toBe('ept-violation');
      if (f.exit.kind !== 'ept-violation') return;
      expect(f.exit.exitReason).toBe(48);
      expect(`0x${f.exit.qualification.toString(16)}`).toBe(`0x${want.toString(16)}`);
      expect(f.exit.qualificationText).toBe(decodeEptQualification(want));
      expect(f.exit.guestPhysicalAddress).toBe(N + 0x123n);
    }
  });

  it('successful walks: R/W/X combinations that are legal', () => {
    const s = eptSetup({ kvm });
    s.b.map(N, G, { flags: { write: false } });
    expect(ok(s.w.walk(N + 0x10n, { kind: 'read' })).gpa).toBe(G + 0x10n);
    expect(ok(s.w.walk(N + 0x10n, { kind: 'fetch' })).gpa).toBe(G + 0x10n);
    // Execute-only with the capability: a plain fetch (F, no U) is allowed.
    s.b.map(N + 0x1000n, G + 0x1000n, { flags: { read: false, write: false } });
    // pte_access is X alone: ACC_EXEC_MASK, 1 in v6.16 (reference §4.2), 8 in 7.3 (kvm-7x.md §1.4).
    expect(ok(s.w.walk(N + 0x1000n, { kind: 'fetch' })).pteAccess).toBe(accEncoding(kvm).EXEC);
    // A 1 GiB and a 2 MiB leaf translate the low bits through.
    s.b.map(0x80_0000_0000n, 0x4000_0000n * 3n, { size: '1G' });
    expect(ok(s.w.walk(0x80_1234_5678n, { kind: 'write' })).gpa).toBe(0xd234_5678n);
  });

  it('decoding names every bit KVM names', () => {
    expect(decodeEptQualification(0x1ab)).toBe('READ|WRITE|PROT_READ|PROT_EXEC|GVA_IS_VALID|GVA_TRANSLATED');
    expect(decodeEptQualification(0)).toBe('0');
    expect(decodeEptQualification(0x1000 | 4)).toBe('INSTR|0x1000');
    expect(rwxToProt(5)).toBe(PR | PX);
    expect(eptViolationQualification(PFERR.WRITE | PFERR.USER, 7, 'paging-structure')).toBe(0xbb);
  });
});

describe('EPT12 accessed/dirty flags and write_log_dirty', () => {
  it('A/D enabled: A on every level used, D on the leaf for a write, and the dirty log called once', () => {
    const logged: bigint[] = [];
    const s = eptSetup({ ad: true, onWriteLogDirty: (p) => logged.push(p) });
    s.b.map(N, G);
    const r = ok(s.w.walk(N + 0x567n, { kind: 'read' }));
    expect(r.adUpdates).toBe(4);
    expect(r.dirtyLogged).toBe(false);
    expect(s.b.getEntry(N, 1).value & 0x300n).toBe(0x100n);
    // The read of a clean leaf: W dropped from pte_access (protect_clean_gpte).
    expect(r.pteAccess & 2).toBe(0);
    const w1 = ok(s.w.walk(N + 0x567n, { kind: 'write' }));
    expect(w1.dirtyLogged).toBe(true);
    expect(w1.adUpdates).toBe(1);
    expect(s.b.getEntry(N, 1).value & 0x300n).toBe(0x300n);
    expect(logged).toEqual([N]);
    const w2 = ok(s.w.walk(N + 0x567n, { kind: 'write' }));
    expect(w2.dirtyLogged).toBe(false);
    expect(w2.adUpdates).toBe(0);
    expect(s.w.writeLogDirtyCount).toBe(1);
  });

  it('A/D disabled in EPTP12: bits 8/9 are never touched', () => {
    const s = eptSetup({ ad: false });
    s.b.map(N, G);
    const before = s.b.path(N).map((e) => e.value);
    const r = ok(s.w.walk(N, { kind: 'write' }));
    expect(r.adUpdates).toBe(0);
    expect(r.dirtyLogged).toBe(false);
    expect(s.b.path(N).map((e) => e.value)).toEqual(before);
  });

  it('a faulting walk sets no A/D and logs nothing', () => {
    const s = eptSetup({ ad: true });
    s.b.map(N, G, { flags: { write: false } });
    const before = s.b.path(N).map((e) => e.value);
    fault(s.w.walk(N, { kind: 'write' }));
    expect(s.b.path(N).map((e) => e.value)).toEqual(before);
    expect(s.w.writeLogDirtyCount).toBe(0);
  });

  it('a write whose leaf table is in a read-only slot still calls write_log_dirty, but writes nothing', () => {
    const s = eptSetup({ ad: true });
    s.b.map(N, G);
    // Move the PT (level-1 table) into ROM: host-side copy, then point the PDE at it.
    const pt = s.b.getEntry(N, 1).gpa & ~0xfffn;
    for (let o = 0n; o < 4096n; o += 8n) s.mem.write64((ROM_BASE + o) as never, s.mem.read64((pt + o) as never));
    s.b.setEntry(N, 2, (s.b.getEntry(N, 2).value & 0xfffn) | ROM_BASE);
    const r = ok(s.w.walk(N, { kind: 'write' }));
    expect(r.dirtyLogged).toBe(true);
    expect(r.trace[3]!.updated).toBeUndefined();
    expect(s.mem.read64((ROM_BASE + ((N >> 12n) & 511n) * 8n) as never) & 0x300n).toBe(0n);
  });
});
