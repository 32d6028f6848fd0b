/**
 * NgpaWalker pieces the scenario tests reach only in part, asserted exactly so that mutation
 * testing finds a failing test: PAE NPT12 PDPTEs read from memory (`svm/nested.c:
 * nested_svm_get_tdp_pdptr`), the page EPT12's write_log_dirty gets, the version gates of MBEC and
 * GMET, and the texts of refusals and denials. Expected values cite Linux v6.16.1
 * (arch/x86/kvm/svm/nested.c, vmx/nested.c, mmu/paging_tmpl.h) or the SDM / APM.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, NgpaWalker, PageTableBuilder, PFERR, WalkStop, gpa, makeEptp, DEFAULT_EPT_CAPS, DEFAULT_FEATURES, type Ngpa } from '../../src';
import { caught, eptSetup, l1Mem, l1RegsFor, nptSetup } from './support';

const G = 0x8000_0000n;
const AMD46 = { ...DEFAULT_FEATURES, maxPhyAddr: 46, vendor: 'amd' as const };

describe('PAE NPT12: PDPTEs from memory on every walk (svm/nested.c:59-75)', () => {
  it('nCR3 bits 4:0 are ignored; bits 11:5 select the 32-byte PDPT; nGPA bits 31:30 pick the PDPTE (svm/nested.c:70-71)', () => {
    const s = nptSetup({ level: 3 });
    s.b.map(0xc000_0000n, G, { flags: { user: true } }); // PDPTE 3
    const base = s.b.root;
    // The same PDPT through nCR3 | 0x18.
    const w = NgpaWalker.npt(s.mem, { ncr3: base | 0x18n, l1: l1RegsFor(3), features: AMD46 });
    const r = w.walk(0xc000_0123n, { kind: 'read' });
    expect(r.status === 'ok' && r.gpa).toBe(G + 0x123n);
    expect(r.trace[0]!.entryGpa).toBe(base + 24n);
    // A PDPT in the second 32-byte block of the page: nCR3 = base + 0x20.
    for (let i = 0n; i < 4n; i++) s.mem.write64(gpa(base + 0x20n + i * 8n), s.mem.read64(gpa(base + i * 8n)));
    const w2 = NgpaWalker.npt(s.mem, { ncr3: base + 0x20n, l1: l1RegsFor(3), features: AMD46 });
    const r2 = w2.walk(0xc000_0123n, { kind: 'read' });
    expect(r2.status === 'ok' && r2.gpa).toBe(G + 0x123n);
    expect(r2.trace[0]!.entryGpa).toBe(base + 0x20n + 24n);
    expect(w2.root).toBe(base + 0x20n);
  });

  it('a PDPT outside every L1 slot reads as 0, a not-present PDPTE (svm/nested.c:72-73): one reference, NPF with U', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 0x1000_0000n, name: 'ram' });
    const w2 = NgpaWalker.npt(mem, { ncr3: 0x8000_0000n, l1: l1RegsFor(3), features: AMD46 });
    const f = w2.walk(0x4000_0000n, { kind: 'read' });
    expect(f.status).toBe('fault');
    expect(f.status === 'fault' && f.reason).toBe('pdpte-not-present');
    expect(f.reads).toBe(1);
    expect(w2.walkRaw(0, 0x4000_0000, PFERR.USER)).toBe(WalkStop.PdpteNotPresent);
    expect(w2.lastReads).toBe(1);
  });

  it('PAE NPT12 has no fast inputs (its walk reads a PDPTE first); other NPT12s do, forcing U', () => {
    expect(nptSetup({ level: 3 }).w.fastInputs()).toBeUndefined();
    expect(nptSetup({ level: 4 }).w.fastInputs()?.forceUser).toBe(PFERR.USER);
    expect(eptSetup().w.fastInputs()?.forceUser).toBe(0);
  });
});

describe('EPT12 write_log_dirty (vmx/nested.c:3460 gpa &= ~0xFFF)', () => {
  it('logs the page of the written nGPA, above 4 GiB too', () => {
    const logged: Ngpa[] = [];
    const s = eptSetup({ ad: true, onWriteLogDirty: (p) => logged.push(p) });
    s.b.map(0x1_2345_6000n, G);
    const r = s.w.walk(0x1_2345_6789n, { kind: 'write' });
    expect(r.status).toBe('ok');
    expect(logged).toEqual([0x1_2345_6000n]);
    expect(r.status === 'ok' && r.dirtyLogged).toBe(true);
  });
});

describe('version gates and refusals by name', () => {
  it("MBEC and GMET exist only in the KVM '7.3' model", () => {
    const mem = l1Mem();
    const e = caught(() => NgpaWalker.ept(mem, { eptp: makeEptp({ root: 0x100_0000n }), caps: DEFAULT_EPT_CAPS, kvm: '6.16', mbec: true }));
    expect([e.rule, e.value]).toEqual(['mbec-version', '6.16']);
    expect(e.message).toContain('MBEC exists only in the KVM 7.3 model');
    const g = caught(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(4), features: AMD46, kvm: '6.16', gmet: true }));
    expect([g.rule, g.value]).toEqual(['gmet-version', '6.16']);
    expect(g.message).toContain('GMET exists only in the KVM 7.3 model');
    expect(NgpaWalker.ept(mem, { eptp: makeEptp({ root: 0x100_0000n }), caps: DEFAULT_EPT_CAPS, kvm: '7.3', mbec: true }).mbec).toBe(true);
  });

  it('nCR3 refusals name the value and the width', () => {
    const mem = l1Mem();
    const f = AMD46;
    const neg = caught(() => NgpaWalker.npt(mem, { ncr3: -1n, l1: l1RegsFor(4), features: f }));
    expect(neg.rule).toBe('ncr3-beyond-maxphyaddr');
    const big = caught(() => NgpaWalker.npt(mem, { ncr3: 1n << 46n, l1: l1RegsFor(4), features: f }));
    expect(big.message).toContain("nCR3 sets bits at or above L1's MAXPHYADDR 46");
    expect(caught(() => NgpaWalker.npt(mem, { ncr3: 1n << 32n, l1: l1RegsFor(2), features: f })).message).toContain('a 32-bit NPT12 root must be below 4 GiB');
    expect(caught(() => NgpaWalker.npt(mem, { ncr3: 1n << 32n, l1: l1RegsFor(3), features: f })).message).toContain('a PAE NPT12 root must be below 4 GiB');
  });

  it('an nGPA beyond the tables names the width', () => {
    expect(caught(() => eptSetup().w.walk(1n << 48n, { kind: 'read' })).message).toContain('nGPA is beyond what the 4-level EPT12 translates (2^48)');
    expect(caught(() => nptSetup({ level: 2 }).w.walk(1n << 32n, { kind: 'read' })).message).toContain('nGPA is beyond what the 2-level NPT12 translates (2^32)');
  });
});

describe('the frame API and the raw walk check their arguments by name', () => {
  it('nGFN: an integer in [0, 2^40); pfec within the access bits', () => {
    const s = eptSetup();
    s.b.map(0x4000_0000n, G);
    for (const f of [(g: number, p: number) => s.w.translateFrame(g, p), (g: number, p: number) => s.w.peekFrame(g, p)]) {
      for (const bad of [-1, 1.5, 2 ** 40, 'x' as unknown as number]) {
        const e = caught(() => f(bad, PFERR.USER));
        expect([e.rule, e.message.startsWith('ngfn must be an nGFN, an integer number in [0, 2^40)')]).toEqual(['gfn', true]);
      }
      expect(f(2 ** 40 - 1, PFERR.USER)).toBe(-1);
      expect(f(0, PFERR.USER)).toBe(-1);
      expect(caught(() => f(0x40000, 1 << 20)).message).toMatch(/^pfec /);
      expect(f(0x40000, PFERR.USER)).toBe(Number(G >> 12n));
    }
    expect(s.w.walkRaw(0, 0x4000_0000, PFERR.USER)).toBe(WalkStop.Ok);
    expect(s.w.lastStopReason).toBe(WalkStop.Ok);
    expect(caught(() => s.w.walkRaw(-1, 0, 0)).message).toMatch(/^nhi /);
    expect(caught(() => s.w.walkRaw(0, 2 ** 32, 0)).message).toMatch(/^nlo /);
    expect(caught(() => s.w.walkRaw(0, 0, 1 << 20)).message).toMatch(/^pfec /);
  });

  it('peekFrame of an nGFN at or above 2^20 (nGPA above 4 GiB) translates the whole nGFN', () => {
    const s = eptSetup();
    s.b.map(0x1_2345_6000n, G);
    expect(s.w.peekFrame(0x123456, PFERR.USER)).toBe(Number(G >> 12n));
    expect(s.w.peekFrame(0x23456, PFERR.USER)).toBe(-1);
  });
});

describe('roles (mmu.c:5737-5758 kvm_calc_shadow_ept_root_page_role; kvm_init_shadow_npt_mmu)', () => {
  it('EPT12: ad_disabled = !A/D, guest_mode, ext.execonly and ext.valid (mmu.c:5750-5756)', () => {
    const a = eptSetup({ ad: true }).w.role;
    expect([a.base.adDisabled, a.base.guestMode, a.execonly, a.valid]).toEqual([false, true, true, true]);
    const b = eptSetup({ ad: false, caps: { executeOnly: false } }).w.role;
    expect([b.base.adDisabled, b.base.guestMode, b.execonly, b.valid]).toEqual([true, true, false, true]);
  });

  it("NPT12: the KVM version and GMET are the caller's; 7.3 keys cr4_smep to GMET, not to L1's CR4.SMEP (kvm-7x.md §3.3)", () => {
    const mem = l1Mem();
    const smep = { ...l1RegsFor(4), cr4: l1RegsFor(4).cr4 | (1n << 20n) };
    const old = NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: smep, features: AMD46, kvm: '6.16' });
    expect([old.kvm, old.mbec]).toEqual(['6.16', false]);
    const noGmet = NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: smep, features: AMD46, kvm: '7.3' });
    expect([noGmet.kvm, noGmet.mbec, noGmet.role.base.cr4Smep]).toEqual(['7.3', false, false]);
    const gmet = NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(4), features: AMD46, kvm: '7.3', gmet: true });
    expect([gmet.mbec, gmet.role.base.cr4Smep, gmet.role.base.guestMode]).toEqual([true, true, true]);
  });

  it('4-level NPT12 with nCR3 above 4 GiB: the root is nCR3 bits 51:12', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 0x2_0000_0000n, name: 'ram' });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x1_0000_0000n), size: 0x10_0000n } });
    b.map(0x4000_0000n, G, { flags: { user: true } });
    const w = NgpaWalker.npt(mem, { ncr3: b.root, l1: l1RegsFor(4), features: AMD46 });
    expect(w.root).toBe(b.root);
    const r = w.walk(0x4000_0123n, { kind: 'read' });
    expect(r.status === 'ok' && r.gpa).toBe(G + 0x123n);
  });

  it('PAE NPT12 whose page directory lies above 4 GiB: the PDPTE high half is read (svm/nested.c:70-71)', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 0x2_0000_0000n, name: 'ram' });
    const b = new PageTableBuilder(mem, { mode: 'pae', pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
    b.map(0x4000_0000n, G, { flags: { user: true } });
    // Move the page directory of PDPTE 1 to 4 GiB + 64 KiB and point the PDPTE there.
    const high = 0x1_0001_0000n;
    const pdpte = mem.read64(gpa(b.root + 8n));
    const pd = pdpte & 0xf_ffff_ffff_f000n;
    for (let i = 0n; i < 4096n; i += 8n) mem.write64(gpa(high + i), mem.read64(gpa(pd + i)));
    mem.write64(gpa(b.root + 8n), (pdpte & 0xfffn) | high);
    const w = NgpaWalker.npt(mem, { ncr3: b.root, l1: l1RegsFor(3), features: AMD46 });
    const r = w.walk(0x4000_0123n, { kind: 'read' });
    expect(r.status === 'ok' && r.gpa).toBe(G + 0x123n);
    expect(r.trace[0]!.entryGpa).toBe(b.root + 8n);
    expect(r.trace[1]!.entryGpa).toBe(high); // PD index 0 of the moved directory
  });
});

describe('write_log_dirty is EPT only (paging_tmpl.h:224-227, PTTYPE_EPT)', () => {
  it('an NPT12 write that sets D logs nothing; before any walk nothing was logged', () => {
    const s = nptSetup();
    expect(s.w.lastDirtyLogged).toBe(false);
    s.b.map(0x4000_0000n, G, { flags: { user: true, writable: true } });
    const r = s.w.walk(0x4000_0000n, { kind: 'write' });
    expect(r.status === 'ok' && r.dirtyLogged).toBe(false);
    expect(s.b.getEntry(0x4000_0000n, 1).value & 0x40n).toBe(0x40n); // D set (SDM 4.8)
    expect([s.w.lastDirtyLogged, s.w.writeLogDirtyCount]).toEqual([false, 0]);
    expect(eptSetup({ ad: true }).w.lastDirtyLogged).toBe(false);
  });
});

describe('an EPT12 root outside every L1 slot (paging_tmpl.h:349, 395-402, 513)', () => {
  it("KVM '6.16': the first read fails with pte_access still ~0: PROT = R|W|X", () => {
    const mem = l1Mem();
    const w = NgpaWalker.ept(mem, { eptp: makeEptp({ root: 0x2_0000_0000n }), caps: DEFAULT_EPT_CAPS, kvm: '6.16' });
    const f = w.walk(0x4000_0000n, { kind: 'read' });
    expect(f.status).toBe('fault');
    expect(f.status === 'fault' && 'exit' in f && f.exit.kind === 'ept-violation' && f.exit.qualification).toBe(0x39);
    expect(f.reads).toBe(0);
    expect(w.lastEntries()).toEqual([]);
  });

  it("KVM '7.3': the same, PROT from ACC_ALL", () => {
    const mem = l1Mem();
    const w = NgpaWalker.ept(mem, { eptp: makeEptp({ root: 0x2_0000_0000n }), caps: DEFAULT_EPT_CAPS, kvm: '7.3' });
    const f = w.walk(0x4000_0000n, { kind: 'read' });
    expect(f.status === 'fault' && 'exit' in f && f.exit.kind === 'ept-violation' && f.exit.qualification & 0x38).toBe(0x38);
  });
});

describe('lastEntries: presence and leaf as the format defines them', () => {
  it('an unreadable table is not listed; a not-present NPT entry with W|U set is not present (P is bit 0)', () => {
    const s = eptSetup();
    s.b.map(0x4000_0000n, G);
    s.b.setEntry(0x4000_0000n, 4, 0x3_0000_0000n | 7n);
    expect(s.w.walk(0x4000_0000n, { kind: 'read' }).reads).toBe(1);
    expect(s.w.lastEntries().length).toBe(1);
    const n = nptSetup();
    n.b.map(0x4000_0000n, G, { flags: { user: true } });
    n.b.setEntry(0x4000_0000n, 1, 0x6n);
    const f = n.w.walk(0x4000_0000n, { kind: 'read' });
    expect(f.status === 'fault' && f.reason).toBe('not-present');
    const es = n.w.lastEntries();
    expect(es.map((e) => [e.present, e.leaf])).toEqual([[true, false], [true, false], [true, false], [false, false]]);
  });

  it('EPT without MBEC: bit 10 alone is not present (SDM 29.3.2: bits 2:0); a permission fault ends at a leaf', () => {
    const s = eptSetup({ kvm: '7.3' });
    s.b.map(0x4000_0000n, G);
    s.b.setEntry(0x4000_0000n, 1, (s.b.getEntry(0x4000_0000n, 1).value & ~7n) | 0x400n);
    s.w.walk(0x4000_0000n, { kind: 'read' });
    expect(s.w.lastEntries()[3]!.present).toBe(false);
    s.b.map(0x4000_0000n, G, { flags: { write: false } });
    expect(s.w.walk(0x4000_0000n, { kind: 'write' }).status).toBe('fault');
    expect(s.w.lastEntries().map((e) => e.leaf)).toEqual([false, false, false, true]);
  });
});

describe('accesses and records', () => {
  it("during 'none' is accepted; 7.3 EPT reads and 6.16 EPT writes may say user: false", () => {
    const s = eptSetup({ kvm: '7.3' });
    s.b.map(0x4000_0000n, G);
    expect(s.w.walk(0x4000_0000n, { kind: 'read', during: 'none' }).status).toBe('ok');
    expect(s.w.walk(0x4000_0000n, { kind: 'read', user: false }).status).toBe('ok');
    const o = eptSetup({ kvm: '6.16' });
    o.b.map(0x4000_0000n, G);
    expect(o.w.walk(0x4000_0000n, { kind: 'write', user: false }).status).toBe('ok');
    const r = o.w.walk(0x4000_0000n, { kind: 'fetch', user: false });
    expect(r.status === 'ok' && [r.stage, r.access.kind]).toEqual(['ngpa_walk', 'fetch']);
  });

  it('bad accesses name the rule in the message', () => {
    const s = eptSetup({ kvm: '6.16' });
    expect(caught(() => s.w.walk(0n, { kind: 'poke' as never })).message).toContain('access kind must be read, write or fetch');
    expect(caught(() => s.w.walk(0n, { kind: 'read', during: 'later' as never })).message).toContain("during is 'none', 'paging-structure' or 'final'");
    expect(caught(() => s.w.walk(0n, { kind: 'read', user: false })).message).toContain('an EPT read is PFERR_USER ("readable"); without it nothing is checked');
    expect(caught(() => nptSetup().w.walk(0n, { kind: 'read', user: false })).message).toContain('every NPT access is a user access (translate_nested_gpa; AMD APM)');
    expect(caught(() => eptSetup().w.walk(0n, { kind: 'read', during: 'final', guestLinear: 1 })).message).toContain('guestLinear holds only qualification bits 11:9');
  });

  it("KVM '7.3': a final translation's exit copies guestLinear into bits 11:9 (kvm-7x.md §1.2)", () => {
    const s = eptSetup({ kvm: '7.3' });
    const f = s.w.walk(0x4000_0000n, { kind: 'read', during: 'final', guestLinear: 0xe00 });
    expect(f.status === 'fault' && 'exit' in f && f.exit.kind === 'ept-violation' && f.exit.qualification & 0xe00).toBe(0xe00);
    // No GVA was given: the exit carries none.
    expect(f.status === 'fault' && 'exit' in f && 'guestLinearAddress' in f.exit).toBe(false);
  });

  it('refusals of impossible NPT12 set-ups name the values', () => {
    const mem = l1Mem();
    expect(caught(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(4), features: { ...AMD46, maxPhyAddr: 40 } })).message).toContain("L1's CPUID MAXPHYADDR 40 differs from its memory's 46");
    expect(caught(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: { ...l1RegsFor(4), efer: l1RegsFor(4).efer & ~(1n << 12n) }, features: AMD46 })).message).toContain('L1 runs L2 with VMRUN, which needs EFER.SVME=1 (#UD otherwise)');
    expect(caught(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(4), features: AMD46, level: 5 })).message).toContain('an NPT12 of level 5 is impossible');
    expect(caught(() => nptSetup().w.walk(0n, { kind: 'read', user: false })).value).toBe('user: false');
    expect(caught(() => eptSetup({ kvm: '6.16' }).w.walk(0n, { kind: 'read', user: false })).value).toBe('user: false');
  });

  it('a table outside every L1 slot below the root: PROT is the AND of the entries read (paging_tmpl.h:367, 513)', () => {
    for (const kvm of ['6.16', '7.3'] as const) {
      const s = eptSetup({ kvm });
      s.b.map(0x4000_0000n, G);
      s.b.setEntry(0x4000_0000n, 4, 0x3_0000_0000n | 5n); // R|X, the PDPT in no slot
      const f = s.w.walk(0x4000_0000n, { kind: 'read' });
      // ACC_READ (the read) | PROT_READ | PROT_EXEC
      expect(f.status === 'fault' && 'exit' in f && f.exit.kind === 'ept-violation' && f.exit.qualification).toBe(0x29);
    }
  });

  it('details name every missing right and every right present', () => {
    const o = eptSetup({ kvm: '6.16' });
    o.b.map(0x4000_0000n, G, { flags: { read: false, write: false } });
    const w = o.w.walk(0x4000_0000n, { kind: 'write', user: true });
    expect(w.status === 'fault' && w.detail).toBe('EPT12 entries deny it: not readable, not writable (R W X ANDed over the levels: --X)');
    o.b.map(0x4000_0000n, G, { flags: { exec: false } });
    const x = o.w.walk(0x4000_0000n, { kind: 'fetch' });
    expect(x.status === 'fault' && x.detail).toBe('EPT12 entries deny it: not executable (R W X ANDed over the levels: RW-)');
    const n = eptSetup({ kvm: '7.3' });
    n.b.map(0x4000_0000n, G, { flags: { exec: false } });
    const y = n.w.walk(0x4000_0000n, { kind: 'fetch' });
    expect(y.status === 'fault' && y.detail).toBe('EPT12 entries deny it: not executable (rights ANDed over the levels: RW-)');
  });

  it('details: a not-present fault is no denial; denials name the missing right', () => {
    const e = eptSetup({ kvm: '6.16' });
    const np = e.w.walk(0x4000_0000n, { kind: 'read' });
    expect(np.status === 'fault' && np.detail.startsWith('EPT12 entries deny it')).toBe(false);
    expect(np.status === 'fault' && np.detail.startsWith('NPT12')).toBe(false);
    e.b.map(0x4000_0000n, G, { flags: { read: false, write: false } });
    const r = e.w.walk(0x4000_0000n, { kind: 'read' });
    expect(r.status === 'fault' && r.detail).toBe('EPT12 entries deny it: not readable (R W X ANDed over the levels: --X)');
    const n = nptSetup();
    const nnp = n.w.walk(0x4000_0000n, { kind: 'read' });
    expect(nnp.status === 'fault' && nnp.detail.startsWith('NPT12 (every access is a user access)')).toBe(false);
    const s = eptSetup({ kvm: '7.3' });
    s.b.map(0x4000_0000n, G, { flags: { read: false, write: false } });
    const t = s.w.walk(0x4000_0000n, { kind: 'read' });
    expect(t.status === 'fault' && t.detail).toBe('EPT12 entries deny it: not readable (rights ANDed over the levels: --X)');
  });

  it("KVM '7.3' with MBEC: the denial says XS or XU (vmx_tests.c:3091-3116)", () => {
    const mem = l1Mem();
    const b = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(0x100_0000n), size: 0x100_0000n }, tableFlags: 0x407 });
    b.map(0x4000_0000n, G);
    const w = NgpaWalker.ept(mem, { eptp: makeEptp({ root: b.root }), caps: DEFAULT_EPT_CAPS, kvm: '7.3', mbec: true });
    b.setEntry(0x4000_0000n, 1, (b.getEntry(0x4000_0000n, 1).value & ~0x407n) | 1n | 4n); // R|XS
    const u = w.walk(0x4000_0000n, { kind: 'fetch', user: true, during: 'final' });
    expect(u.status === 'fault' && u.detail).toBe('EPT12 entries deny it: not executable for user-mode addresses (XU) (rights ANDed over the levels: R-XS)');
    b.setEntry(0x4000_0000n, 1, (b.getEntry(0x4000_0000n, 1).value & ~0x407n) | 1n | 0x400n); // R|XU
    const k = w.walk(0x4000_0000n, { kind: 'fetch', during: 'final' });
    expect(k.status === 'fault' && k.detail).toBe('EPT12 entries deny it: not executable for supervisor-mode addresses (XS) (rights ANDed over the levels: R--+XU)');
  });
});
