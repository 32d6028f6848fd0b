import { describe, expect, it } from 'vitest';
import {
  EPT_QUAL, KVM_VERSIONS, PFERR, NPF_GUEST_FINAL, NPF_GUEST_PAGE, Walk2D, InvalidRegisterStateError, richBundle, gpa,
  type Walk2DGuestFault, type Walk2DNestedFault, type Walk2DOk, type Walk2DResult,
} from '../../src';
import { DATA_G, DATA_N, GVA, L2_POOL, l2Regs, snapshot, twoDSetup, NESTED_POOL } from './support';

function ok(r: Walk2DResult): Walk2DOk {
  if (r.status !== 'ok') throw new Error(`expected ok, got ${r.stage}: ${r.detail}`);
  return r;
}
function nestedFault(r: Walk2DResult): Walk2DNestedFault {
  if (r.status !== 'fault' || r.stage !== 'ngpa_walk') throw new Error(`expected a nested fault, got ${r.status} ${r.stage}`);
  return r;
}
function guestFault(r: Walk2DResult): Walk2DGuestFault {
  if (r.status !== 'fault' || r.stage !== 'gva_walk') throw new Error(`expected a #PF to L2, got ${r.status} ${r.stage}`);
  return r;
}
const pageOf = (a: bigint): bigint => a & ~0xfffn;
const QV = EPT_QUAL.GVA_IS_VALID;
const QF = EPT_QUAL.GVA_TRANSLATED;

describe('2D walk: where it fails decides who gets the fault', () => {
  it('EPT12 does not map an L2 table: EPT violation to L1 on a paging-structure access', () => {
    const s = twoDSetup('paging4', 'ept4');
    const pdpt = pageOf(s.l2b!.path(GVA)[1]!.gpa); // the L2 PDPT page (nGPA = GPA here)
    s.b.unmap(pdpt);
    const l2Before = s.l2b!.path(GVA).map((e) => e.value);
    const f = nestedFault(s.w2.walk(GVA + 0x10n, { kind: 'read', user: true }));
    expect(f.nestedPageFault).toBe(true);
    expect(f.during).toBe('paging-structure');
    expect(f.guestLevel).toBe(3);
    expect(f.ngpa).toBe(pdpt);
    expect(f.reason).toBe('not-present');
    // nested_access = W|U: READ and WRITE; the EPT PTE is empty so PROT = 0; bit 7, not bit 8.
    expect(f.exit).toEqual({ kind: 'ept-violation', exitReason: 48, qualification: EPT_QUAL.ACC_READ | EPT_QUAL.ACC_WRITE | QV, qualificationText: 'READ|WRITE|GVA_IS_VALID', guestPhysicalAddress: pdpt, guestLinearAddress: GVA + 0x10n });
    expect(f.refCount).toBe(4 + 1 + 4);
    expect(f.refs.map((x) => x.kind[0]).join('')).toBe('nnnngnnnn');
    expect(f.nested.address).toBe(pdpt);
    // No A/D on a faulting walk, even for the PML4E that was read.
    expect(s.l2b!.path(GVA).map((e) => e.value)).toEqual(l2Before);
  });

  it.each(KVM_VERSIONS)('KVM %s: EPT12 maps the data read-only and L2 writes: violation on the final translation, after L2 permissions, before L2 A/D', (kvm) => {
    const s = twoDSetup('paging4', 'ept4', { kvm });
    s.b.map(DATA_N, DATA_G, { flags: { write: false } }); // remap page 0 read-only (same leaf)
    const l2Before = s.l2b!.path(GVA).map((e) => e.value);
    const f = nestedFault(s.w2.walk(GVA + 0x10n, { kind: 'write', user: true }));
    expect(f.during).toBe('final');
    expect(f.guestLevel).toBe(0);
    expect(f.ngpa).toBe(DATA_N);
    expect(f.reason).toBe('protection');
    // v6.16: translate_nested_gpa adds PFERR_USER and the EPT walk reports U as READ
    // (paging_tmpl.h, reference §6.8). 7.3: bits 2:0 of the qualification are the access's own
    // (kvm-7x.md §1.2, 7.3 walker comment [T]): a write to the final translation is WRITE alone.
    const acc = kvm === '6.16' ? EPT_QUAL.ACC_READ | EPT_QUAL.ACC_WRITE : EPT_QUAL.ACC_WRITE;
    expect(f.exit.kind === 'ept-violation' && f.exit.qualification).toBe(acc | EPT_QUAL.PROT_READ | EPT_QUAL.PROT_EXEC | QV | QF);
    expect(f.refCount).toBe(24);
    expect(s.l2b!.path(GVA).map((e) => e.value)).toEqual(l2Before);
  });

  it('NPT12: GUEST_PAGE for an L2 table, GUEST_FINAL for the data', () => {
    const s = twoDSetup('paging4', 'npt4');
    const pt = pageOf(s.l2b!.path(GVA)[3]!.gpa);
    s.b.map(pt, pt, { flags: { writable: true } }); // U=0: every NPT access is a user access
    const f = nestedFault(s.w2.walk(GVA, { kind: 'read' }));
    expect(f.guestLevel).toBe(1);
    expect(f.exit.kind === 'npf' && f.exit.exitInfo1).toBe((PFERR.PRESENT | PFERR.WRITE | PFERR.USER) + NPF_GUEST_PAGE);
    expect(f.refCount).toBe(3 * 5 + 4);
    s.b.map(pt, pt, { flags: { writable: true, user: true } });
    s.b.map(DATA_N, DATA_G, { flags: { user: true, writable: true, nx: true } });
    const g = nestedFault(s.w2.walk(GVA, { kind: 'fetch' }));
    expect(g.during).toBe('final');
    expect(g.exit.kind === 'npf' && g.exit.exitInfo1).toBe((PFERR.PRESENT | PFERR.USER | PFERR.FETCH) + NPF_GUEST_FINAL);
  });

  it("a fault in L2's own tables is a #PF to L2 (nested_page_fault = false)", () => {
    const s = twoDSetup('paging4', 'ept4');
    s.l2b!.unmap(GVA);
    const f = guestFault(s.w2.walk(GVA, { kind: 'read', user: true }));
    expect(f.nestedPageFault).toBe(false);
    expect(f.errorCode).toBe(PFERR.USER);
    expect(f.reason).toBe('not-present');
    expect(f.refCount).toBe(4 * 5); // four nested walks and four gPTEs; no final translation
    s.l2b!.map(GVA, DATA_N, { flags: { user: true } });
    const p = guestFault(s.w2.walk(GVA, { kind: 'write', user: true }));
    expect(p.errorCode).toBe(PFERR.PRESENT | PFERR.WRITE | PFERR.USER);
    expect(p.detail).toMatch(/user write to a read-only page/);
  });

  it('an L2 table that EPT12 maps outside every L1 slot: #PF to L2 with error code 0 (+W/U), as KVM', () => {
    const s = twoDSetup('paging4', 'ept4');
    const pt = pageOf(s.l2b!.path(GVA)[3]!.gpa);
    s.b.map(pt, 0x2_0000_0000n); // L1 has no slot there
    const f = guestFault(s.w2.walk(GVA, { kind: 'read', user: true }));
    expect(f.reason).toBe('table-outside-memory');
    expect(f.errorCode).toBe(PFERR.USER);
    expect(f.refCount).toBe(3 * 5 + 4); // the level-1 gPTE could not be read
  });
});

describe('2D walk: A/D bits and the EPT dirty log', () => {
  it("sets L2's A/D in L1 memory and EPT12 A/D; table pages are written (W|U) and logged", () => {
    const s = twoDSetup('paging4', 'ept4', { ad: true });
    const tables = s.l2b!.path(GVA).map((e) => pageOf(e.gpa));
    const r = ok(s.w2.walk(GVA, { kind: 'read', user: true }));
    // L2: A on all four entries (and no D: a read).
    expect(r.adUpdates).toBe(4);
    expect(s.l2b!.path(GVA).map((e) => e.value & 0x60n)).toEqual([0x20n, 0x20n, 0x20n, 0x20n]);
    // EPT12: each L2 table page is accessed with W|U, so its EPT leaf gets A and D and is logged;
    // the data page (a read) gets A only.
    expect(r.dirtyLogged).toEqual(tables);
    for (const t of tables) expect(s.b.getEntry(t, 1).value & 0x300n).toBe(0x300n);
    expect(s.b.getEntry(DATA_N, 1).value & 0x300n).toBe(0x100n);
    const w = ok(s.w2.walk(GVA, { kind: 'write', user: true }));
    expect(w.dirtyLogged).toEqual([DATA_N]);
    expect(s.l2b!.getEntry(GVA, 1).value & 0x60n).toBe(0x60n);
    expect(w.refs.filter((x) => x.updated !== undefined).length).toBe(2); // L2 leaf D + EPT data leaf D
    expect(s.w.writeLogDirtyCount).toBe(5);
  });

  it('with EPT A/D off, KVM still checks L2 table accesses as W|U: a read-only EPT12 mapping of a table faults', () => {
    const s = twoDSetup('paging4', 'ept4', { ad: false });
    const pd = pageOf(s.l2b!.path(GVA)[2]!.gpa);
    s.b.map(pd, pd, { flags: { write: false } });
    const f = nestedFault(s.w2.walk(GVA, { kind: 'read' }));
    expect(f.guestLevel).toBe(2);
    expect(f.exit.kind === 'ept-violation' && f.exit.qualificationText).toBe('READ|WRITE|PROT_READ|PROT_EXEC|GVA_IS_VALID');
  });
});

describe('2D walk: KVM specifics', () => {
  it("KVM '6.16': translate_nested_gpa adds U for EPT too: a fetch from an execute-only EPT12 page faults in the emulated walk", () => {
    const s = twoDSetup('paging4', 'ept4', { kvm: '6.16' });
    s.b.map(DATA_N, DATA_G, { flags: { read: false, write: false } });
    const f = nestedFault(s.w2.walk(GVA, { kind: 'fetch' }));
    expect(f.exit.kind === 'ept-violation' && f.exit.qualification).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.ACC_INSTR | EPT_QUAL.PROT_EXEC | QV | QF);
    // The same fetch as a hardware exit reports it (F without U) is allowed.
    expect(s.w.walk(DATA_N, { kind: 'fetch' }).status).toBe('ok');
  });

  it("KVM '7.3': PFERR_USER is the user-mode linear address, so without MBEC the same fetch from an execute-only EPT12 page translates", () => {
    // kvm-7x.md §1.3 point 1 (9c167cb3c14c) and §1.5 EPT fetch rule: without MBEC a fetch needs XS
    // only; §6.1: without MBEC OP_EXEC_USER behaves exactly like OP_EXEC, which is ok on an
    // execute-only (XS) leaf.
    const s = twoDSetup('paging4', 'ept4', { kvm: '7.3' });
    s.b.map(DATA_N, DATA_G, { flags: { read: false, write: false } });
    expect(ok(s.w2.walk(GVA, { kind: 'fetch' })).gpa).toBe(DATA_G);
  });

  it('PAE L2: PDPTEs loaded through the ngpa walk (14 references), seen in memory only after a reload', () => {
    const s = twoDSetup('pae', 'ept4', { ad: true });
    const root = s.l2b!.root;
    expect(s.w2.pdptrs![0]).toBe(s.mem.read64(gpa(root)));
    // load_pdptrs translated CR3's page with W|U: its EPT12 leaf has A and D.
    expect(s.b.getEntry(pageOf(root), 1).value & 0x300n).toBe(0x300n);
    expect(ok(s.w2.walk(GVA, { kind: 'read' })).refCount).toBe(14);
    s.l2b!.setEntry(GVA, 3, 0n);
    expect(s.w2.walk(GVA, { kind: 'read' }).status).toBe('ok');
    s.w2.reloadPdptrs();
    const f = guestFault(s.w2.walk(GVA, { kind: 'read' }));
    expect(f.reason).toBe('pdpte-not-present');
    expect(f.refCount).toBe(0);
  });

  it('PAE L2 whose PDPT page EPT12 does not map: a typed error, and nothing changed', () => {
    const s = twoDSetup('pae', 'ept4', { ad: true });
    const root = s.l2b!.root;
    s.b.unmap(pageOf(root));
    const before = snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated);
    const logs = s.w.writeLogDirtyCount;
    expect(() => new Walk2D(s.w, { regs: l2Regs('pae', root) })).toThrow(InvalidRegisterStateError);
    expect(() => new Walk2D(s.w, { regs: l2Regs('pae', root) })).toThrow(/pdpt-nested-fault.*|EPT violation/);
    expect(snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated)).toEqual(before);
    expect(s.w.writeLogDirtyCount).toBe(logs);
    // vmcs12's guest PDPTEs may be given instead (EPT loads them from the VMCS at VM entry).
    const w2 = new Walk2D(s.w, { regs: l2Regs('pae', root), pdptrs: [0n, 0n, 0n, 0n] });
    expect(guestFault(w2.walk(GVA, { kind: 'read' })).reason).toBe('pdpte-not-present');
  });

  it('L2 paging off: the linear address is the nGPA; m references; the exit has the full address', () => {
    const s = twoDSetup('off', 'ept5');
    const r = ok(s.w2.walk(DATA_N + 0x44n, { kind: 'write' }));
    expect(r.gpa).toBe(DATA_G + 0x44n);
    expect(r.refCount).toBe(5);
    const f = nestedFault(s.w2.walk(0x0700_0044n, { kind: 'read' }));
    expect(f.ngpa).toBe(0x0700_0044n);
    expect(f.during).toBe('final');
    expect(f.exit.kind === 'ept-violation' && f.exit.guestPhysicalAddress).toBe(0x0700_0044n);
  });

  it('huge pages shorten both dimensions: 2 MiB L2 page on a 2 MiB EPT12 page', () => {
    const s = twoDSetup('paging4', 'ept4');
    s.l2b!.map(0x4000_0000n, 0x0800_0000n, { size: '2M', flags: { user: true } });
    s.b.map(0x0800_0000n, 0x0a00_0000n, { size: '2M' });
    const r = ok(s.w2.walk(0x4012_3456n, { kind: 'read', user: true }));
    expect(r.gpa).toBe(0x0a12_3456n);
    expect(r.ngpa).toBe(0x0812_3456n);
    expect(r.pageSize).toBe(2 << 20);
    expect(r.refCount).toBe(3 * 5 + 3);
  });
});

describe('2D walk: views', () => {
  it.each(KVM_VERSIONS)('KVM %s: records answer the Jupyter.display protocol with the 2D view; richBundle uses that view', (kvm) => {
    const s = twoDSetup('paging4', 'ept4', { kvm });
    const r = s.w2.walk(GVA, { kind: 'read', user: true });
    const show = (x: unknown) => (x as Record<symbol, () => Record<string, string>>)[Symbol.for('Jupyter.display')]!();
    expect(show(r)['text/plain']).toMatch(/^2D walk: user read at GVA 0x400000 → nGPA 0x3000000 → GPA 0x5000000/);
    expect(richBundle(r)!['text/plain']).toMatch(/^2D walk: user read at GVA 0x400000/); // the record's own view wins
    s.b.unmap(DATA_N);
    const f = s.w2.walk(GVA, { kind: 'read', user: true });
    expect(show(f)['text/plain']).toMatch(/EPT violation \(exit 48\) at nGPA 0x3000000, qualification 0x181 \(READ\|GVA_IS_VALID\|GVA_TRANSLATED\)/);
    // v6.16 keys an EPT read by U ("(U)", reference §6.5); 7.3 does not (kvm-7x.md §1.3).
    const read = kvm === '6.16' ? 'read \\(U\\)' : 'read';
    expect(show(s.w.walk(DATA_N, { kind: 'read' }))['text/plain']).toMatch(new RegExp(`^ngpa_walk \\(EPT12\\): ${read} at nGPA 0x3000000 → EPT violation`));
    expect(show(s.w)['text/plain']).toMatch(/levels \(m\) +4/);
    expect(show(s.w2)['text/plain']).toMatch(/references, full depth +24/);
  });

  it('L2 table pool and nested pool do not overlap (set-up sanity)', () => {
    expect(L2_POOL >= NESTED_POOL + 0x100_0000n).toBe(true);
  });
});
