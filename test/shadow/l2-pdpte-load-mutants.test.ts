/**
 * Gaps left by the tests of a PAE L2's PDPTE loads on guest_mmu (mutation run on the changed lines):
 * VMX: MOV to CR3 loads the PDPTEs through EPT02 (SDM Vol. 3C §28.2.3 and footnote); KVM's
 * load_pdptrs for a CR0/CR4 write it handles translates CR3 through EPT12 in software (x86.c:1043-1048,
 * 1158-1161, 1351-1354), so it takes no EPT02 exit and fails with #GP (x86.c:1049-1050, 1058-1062).
 * 7.3: L1's EPT-violation qualification carries bits 11:9 of the real exit (a0efd8cb221f, kvm-7x.md §1.2).
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, gpa, CR0, CR4, DEFAULT_EPT_CAPS, InvalidRegisterStateError, type PagingRegisters } from '../../src';
import { nested, GVA, DATA_N, DATA_G } from './nested-fixture';

const L2_PAE = { cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n };
const PAE_CR3 = 0x100_6000n; // an nGPA in EPT12's identity-mapped L2 table pool
const UNMAPPED = 0x200_0000n; // nested(): EPT12 maps 0x100_0000.. and DATA_N.. only

/** As test/vm/l2-register-writes.test.ts: a (GVA → DATA_N) at PAE_CR3, vmcs12's PDPTEs b (GVA → DATA_N + 1 page). */
function pae(o: Parameters<typeof nested>[0] & { cr3?: bigint; mbec?: boolean } = {}) {
  const f = nested(o);
  const a = new PageTableBuilder(f.vm.guestMem, { mode: 'pae', pool: { base: 0x100_8000n, size: 0x4000n } });
  const b = new PageTableBuilder(f.vm.guestMem, { mode: 'pae', pool: { base: 0x100_c000n, size: 0x4000n } });
  a.map(GVA, DATA_N, { flags: { writable: true } });
  b.map(GVA, DATA_N + 0x1000n, { flags: { writable: true } });
  const read = (root: bigint) => [0, 1, 2, 3].map((i) => f.vm.guestMem.read64(gpa(root + BigInt(i * 8))));
  const putAt = (at: bigint, p: readonly bigint[]) => p.forEach((x, i) => f.vm.guestMem.write64(gpa(at + BigInt(i * 8)), x));
  putAt(PAE_CR3, read(BigInt(a.root)));
  const l2: PagingRegisters = { ...L2_PAE, cr3: o.cr3 ?? PAE_CR3 };
  f.v.enterNestedEpt({ eptp: f.eptp, caps: DEFAULT_EPT_CAPS, l2, pdptes: read(BigInt(b.root)), ...(o.mbec === undefined ? {} : { mbec: o.mbec }) });
  return { ...f, pa: read(BigInt(a.root)), pb: read(BigInt(b.root)), putAt };
}

function thrown(fn: () => unknown): Error & { rule?: string; detail?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

describe('writeL2Registers: bad input names its argument', () => {
  it('a non-bigint register is refused naming `regs`; an unknown PDPTE source naming `pdptes`', () => {
    const f = pae();
    const n = f.v.nested!;
    const bad = { ...L2_PAE, cr3: 1 } as unknown as PagingRegisters;
    expect(thrown(() => n.writeL2Registers(bad, 'mov-cr3')).message).toMatch(/^regs\b/);
    expect(thrown(() => n.writeL2Registers({ ...L2_PAE, cr3: PAE_CR3 }, 'bogus' as 'keep')).message).toMatch(/^pdptes\b/);
    expect(n.l2Regs!.cr3).toBe(PAE_CR3); // refused before anything changed
  });
});

describe('nested EPT, PAE L2: load_pdptrs (CR4 write with a PDPTR bit) is KVM\'s software walk of EPT12', () => {
  it('EPT02 does not map the PDPT yet: no EPT02 exit (x86.c:1043-1048 translates CR3 through EPT12 in KVM), PDPTEs from memory at CR3', () => {
    const f = pae();
    const exits = f.v.stats.get('exits');
    const from = f.vm.events.all.length;
    const r = f.v.setRegisters({ cr4: CR4.PAE | CR4.PSE }); // PSE is a PDPTR bit (x86.c:1351-1354)
    expect(r.exits ?? []).toEqual([]);
    expect(r.nestedExit).toBeUndefined();
    expect(f.v.stats.get('exits')).toBe(exits);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'ept_violation')).toEqual([]);
    expect(f.v.gvaWalk.pdptrs).toEqual(f.pa);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
  });

  it('EPT12 does not map the PDPT: load_pdptrs fails, KVM injects #GP (x86.c:1049-1050) — typed, naming EPT12 and the rule; nothing changes, no exit', () => {
    const f = pae({ cr3: UNMAPPED }); // the entry takes vmcs12's PDPTEs and never reads CR3 (vmx/nested.c:1157-1163)
    const w = f.v.gvaWalk;
    const exits = f.v.stats.get('exits');
    const e = thrown(() => f.v.setRegisters({ cr4: CR4.PAE | CR4.PSE }));
    expect(e).toBeInstanceOf(InvalidRegisterStateError);
    expect(e.rule).toBe('l2-pdpt-unmapped');
    expect(e.message).toContain('EPT12');
    expect(e.message).toContain('x86.c:1049-1050');
    expect(f.v.gvaWalk).toBe(w);
    expect(f.v.guestMode).toBe(true);
    expect(f.v.stats.get('exits')).toBe(exits);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x1000n); // still vmcs12's PDPTEs
  });

  it('a present PDPTE with a reserved bit: load_pdptrs fails and KVM injects #GP (x86.c:1058-1062) — typed, the message names the rule; nothing changes', () => {
    const f = pae();
    f.putAt(PAE_CR3, f.pa.map((x, i) => (i === 0 ? x | 2n : x))); // PDPTE0 maps GVA: present
    const w = f.v.gvaWalk;
    const e = thrown(() => f.v.setRegisters({ cr4: CR4.PAE | CR4.PSE }));
    expect(e).toBeInstanceOf(InvalidRegisterStateError);
    expect(e.rule).toBe('l2-pdpte-reserved');
    expect(e.message).toContain('PDPTE0');
    expect(e.message).toContain('x86.c:1058-1062');
    expect(f.v.gvaWalk).toBe(w);
  });

  it('CR3 an nGPA EPT12 maps elsewhere: MOV to CR3 and load_pdptrs read the L1 page EPT12 maps it to, not the L1 page at CR3', () => {
    const f = pae();
    const CR3 = DATA_N + 0x3000n; // EPT12: DATA_N + 3 pages → DATA_G + 3 pages (nested-fixture.ts)
    f.putAt(DATA_G + 0x3000n, f.pa); // L1 GPA DATA_N + 0x3000 stays zero
    const r = f.v.movCr3(CR3);
    // The load's EPT violation at the PDPT's nGPA, fixed from EPT12 (SDM Vol. 3C §28.2.3).
    expect(r.exits?.map((e) => [e.kind, e.gpa, e.ret])).toEqual([['ept_violation', CR3, 'RET_PF_FIXED']]);
    expect(f.v.movCr3(CR3).exits ?? []).toEqual([]);
    expect(f.v.gvaWalk.pdptrs).toEqual(f.pa);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
    // L1 rewrites the PDPT (b's PDPTEs); a CR4 write with a PDPTR bit reloads them (x86.c:1351-1354).
    f.putAt(DATA_G + 0x3000n, f.pb);
    f.v.setRegisters({ cr4: CR4.PAE | CR4.PSE });
    expect(f.v.gvaWalk.pdptrs).toEqual(f.pb);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x1000n);
  });
});

describe('nested EPT, PAE L2: MOV to CR3 loading through EPT02', () => {
  it('EPT12 maps the PDPT to L1 GPA 0: frame 0 is a frame; the load reads it (one exit, fixed; the retry loads)', () => {
    const f = pae();
    f.ept.map(UNMAPPED, 0n);
    f.putAt(0n, f.pa);
    const r = f.v.movCr3(UNMAPPED);
    expect(r.exits?.map((e) => [e.kind, e.gpa, e.ret])).toEqual([['ept_violation', UNMAPPED, 'RET_PF_FIXED']]);
    expect(r.nestedExit).toBeUndefined();
    expect(f.v.gvaWalk.pdptrs).toEqual(f.pa);
    expect(f.v.regs.cr3).toBe(UNMAPPED);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G);
  });

  it('a reserved bit in a PDPTE of a PDPT at L1 GPA 0: the MOV #GPs (SDM Vol. 3A §4.4.1), typed, naming the PDPTE, EPT12\'s reading and the SDM rule; nothing changes', () => {
    const f = pae();
    f.ept.map(UNMAPPED, 0n);
    f.putAt(0n, f.pa.map((x, i) => (i === 0 ? x | 2n : x))); // bit 1 of a present PDPTE is reserved
    const w = f.v.gvaWalk;
    const exits = f.v.stats.get('exits');
    const e = thrown(() => f.v.movCr3(UNMAPPED));
    expect(e).toBeInstanceOf(InvalidRegisterStateError);
    expect(e.rule).toBe('l2-pdpte-reserved');
    expect(e.message).toContain('PDPTE0');
    expect(e.message).toContain('SDM Vol. 3A §4.4.1');
    expect(f.v.gvaWalk).toBe(w);
    expect(f.v.nested!.l2Regs!.cr3).toBe(PAE_CR3);
    expect(f.v.stats.get('exits')).toBe(exits);
  });

  it('the EPT violation of the load is an event at the PDPT\'s nGPA with the exit\'s qualification: a read, bit 7 clear, no guest linear address (SDM Vol. 3C Table 28-7)', () => {
    const f = pae();
    const from = f.vm.events.all.length;
    f.v.movCr3(PAE_CR3);
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'ept_violation' || e.kind === 'ept_misconfig');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ kind: 'ept_violation', vcpu: 0, gpa: PAE_CR3, code: 1n });
    expect((ev[0] as { gva?: bigint | null }).gva ?? null).toBeNull(); // no guest linear address
    expect((ev[0] as { outcome: string }).outcome).toContain('PDPTE load');
  });

  it('7.3 with MBEC: the load\'s exit has bit 6 clear — EPT02\'s not-present entry is in the AND of XU over the path (SDM Vol. 3C Table 28-7 bits 3-6)', () => {
    const f = pae({ kvm: '7.3', mbec: true });
    const r = f.v.movCr3(PAE_CR3);
    expect(r.exits?.map((e) => [e.kind, e.info])).toEqual([['ept_violation', 1n]]); // a read; bits 3-6 clear; bit 7 clear
    expect(f.v.gvaWalk.pdptrs).toEqual(f.pa);
  });

  it('a reflected load records the nested VM exit naming the PDPTE load (events)', () => {
    const f = pae();
    const from = f.vm.events.all.length;
    f.v.movCr3(UNMAPPED);
    const ex = f.vm.events.all.slice(from).filter((e) => e.kind === 'nested_exit');
    expect(ex).toHaveLength(1);
    expect((ex[0] as { outcome: string }).outcome).toContain('PDPTE load');
  });

  for (const kvm of ['6.16', '7.3'] as const) {
    it(`${kvm}: EPT12 maps the PDPT execute-only: the CPU cannot read the PDPTEs, so the load's EPT violation reaches L1 — no #GP for the reserved bit it never read`, () => {
      const f = pae({ kvm });
      f.ept.map(UNMAPPED, UNMAPPED, { flags: { read: false, write: false, exec: true } }); // nested(): execute-only EPT supported
      f.putAt(UNMAPPED, f.pa.map((x, i) => (i === 0 ? x | 2n : x)));
      const r = f.v.movCr3(UNMAPPED);
      // The PDPTE read is translated by EPT12 (SDM Vol. 3C §28.2.3): a read of a page without R is an
      // EPT violation (§28.3.3.2); nested_ept_inject_page_fault gives L1 the walk's qualification
      // (vmx/nested.c:442-461): read (bit 0), the path's permissions X only (bit 5), bits 7/8 clear.
      expect(r.nestedExit).toMatchObject({ kind: 'ept-violation', exitReason: 48, guestPhysicalAddress: UNMAPPED });
      const q = (r.nestedExit as { qualification: number }).qualification;
      expect(q & 0x1bf).toBe(0x21);
      expect(f.v.guestMode).toBe(false);
      expect(f.v.nested!.l2Regs!.cr3).toBe(PAE_CR3);
    });
  }

  it('a stale MMIO SPTE at the PDPT\'s nGPA (a memslot added since): the load takes an EPT misconfiguration (exit 49, qualification 0, PFERR_RSVD — vmx.c:5803); the stale generation sends it to the fault path (mmu.c:4348-4349 RET_PF_INVALID, then kvm_mmu_do_page_fault, mmu.c:6268-6275), which maps it; the retry loads', () => {
    const MMIO_N = UNMAPPED + 0x10_0000n;
    const L1_NEW = 1n << 30n; // above nested()'s RAM slot
    const GVA3 = GVA + 0x40_0000n;
    // A 4-level L2 touches MMIO_N while no slot backs L1_NEW, then switches to PAE paging.
    const g = nested();
    g.l2pt.map(GVA3, MMIO_N, { flags: { writable: true } });
    g.ept.map(MMIO_N, L1_NEW);
    g.enter();
    const m = g.v.read(GVA3);
    expect(m.exits.map((e) => e.mmio)).toContain(true); // no slot: an MMIO SPTE in EPT02
    g.vm.addMemslot({ base: L1_NEW, size: 0x10_0000n, name: 'hot', hostPageSize: '4K' });
    // The PDPT at MMIO_N (→ L1_NEW): a's PDPTEs, read as L1 GPAs through the same EPT12.
    const a = new PageTableBuilder(g.vm.guestMem, { mode: 'pae', pool: { base: 0x100_8000n, size: 0x4000n } });
    a.map(GVA, DATA_N, { flags: { writable: true } });
    const pa = [0, 1, 2, 3].map((i) => g.vm.guestMem.read64(gpa(BigInt(a.root) + BigInt(i * 8))));
    pa.forEach((x, i) => g.vm.guestMem.write64(gpa(L1_NEW + BigInt(i * 8)), x));
    g.v.setRegisters({ cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n, cr3: BigInt(a.root) });
    const from = g.vm.events.all.length;
    const r = g.v.movCr3(MMIO_N);
    expect(r.exits?.map((e) => [e.kind, e.reason, e.gpa, e.info, e.errorCode, e.ret])).toEqual([['ept_misconfig', 49, MMIO_N, 0n, 8n, 'RET_PF_FIXED']]);
    expect(g.vm.events.all.slice(from).some((e) => e.kind === 'ept_misconfig')).toBe(true);
    expect(g.v.stats.get('ept_misconfigs')).toBeGreaterThan(0);
    expect(r.nestedExit).toBeUndefined();
    expect(g.v.gvaWalk.pdptrs).toEqual(pa);
    expect(g.v.read(GVA).l1Gpa).toBe(DATA_G);
  });

  it('CR3 bits 11:5 locate the PDPT in its page (SDM Vol. 3A §4.4.1: the PDPT at CR3[31:5]; bits 4:0 ignored): the load reads at that offset', () => {
    const f = pae();
    f.putAt(PAE_CR3 + 0x20n, f.pb);
    const r = f.v.movCr3(PAE_CR3 + 0x20n + 0x7n);
    expect(r.nestedExit).toBeUndefined();
    expect(f.v.gvaWalk.pdptrs).toEqual(f.pb);
    expect(f.v.read(GVA).l1Gpa).toBe(DATA_G + 0x1000n);
  });

  for (const kvm of ['6.16', '7.3'] as const) {
    it(`${kvm}: a reflected PDPTE-load fault leaves L2's CR3 unchanged (the MOV did not complete, SDM Vol. 3C §27.1); the exit is at CR3[31:5]'s page`, () => {
      const f = pae({ kvm });
      const r = f.v.movCr3(UNMAPPED + 0x20n);
      expect(r.nestedExit).toMatchObject({ kind: 'ept-violation', exitReason: 48, guestPhysicalAddress: UNMAPPED + 0x20n });
      // bits 7/8 copied from the real exit (vmx/nested.c:442-445): bit 7 clear for a PDPTE load; 7.3's bits 11:9 only with bits 7 and 8 (Table 28-7)
      expect((r.nestedExit as { qualification: number }).qualification & 0xf80).toBe(0);
      expect(f.v.l1Regs.cr3).toBe(f.v.regs.cr3);
      expect(f.v.guestMode).toBe(false);
      expect(f.v.nested!.l2Regs!.cr3).toBe(PAE_CR3);
    });
  }
});

describe('7.3: L1\'s EPT-violation qualification carries bits 11:9 of the real exit for a final translation (a0efd8cb221f, kvm-7x.md §1.2)', () => {
  for (const kvm of ['6.16', '7.3'] as const) {
    it(`${kvm}: L2 reads a supervisor, writable, executable page whose nGPA EPT12 does not map`, () => {
      const f = nested({ kvm });
      const GVA2 = GVA + 0x20_0000n;
      f.l2pt.map(GVA2, UNMAPPED, { flags: { writable: true } });
      f.enter();
      const r = f.v.read(GVA2);
      expect(r.status).toBe('l1-exit');
      const q = (r.nestedExit as { qualification: number }).qualification;
      expect(q & 0x180).toBe(0x180); // bits 7, 8: a GVA, its final translation (Table 28-7)
      // Bits 9/10/11: user-mode / writable / execute-disable linear address (Table 28-7); 6.16
      // copies only bits 7/8 (vmx/nested.c:442-445).
      expect((q >> 9) & 7).toBe(kvm === '7.3' ? 2 : 0);
    });
  }

  it('7.3: a fault on a guest paging-structure entry has bits 11:9 clear (bit 8 clear, Table 28-7)', () => {
    const f = nested({ kvm: '7.3' });
    const l2b = new PageTableBuilder(f.vm.guestMem, { mode: 'paging4', pool: { base: UNMAPPED, size: 0x8000n } });
    f.ept.map(UNMAPPED + 0x1000n, UNMAPPED + 0x1000n, { count: 7 }); // all but the root's page
    l2b.map(GVA, DATA_N, { flags: { writable: true } });
    f.v.enterNestedEpt({ eptp: f.eptp, caps: f.caps, l2: { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: f.v.regs.efer, cr3: BigInt(l2b.root) } });
    const r = f.v.read(GVA);
    expect(r.status).toBe('l1-exit');
    const q = (r.nestedExit as { qualification: number }).qualification;
    expect(q & 0x180).toBe(0x80);
    expect((q >> 9) & 7).toBe(0);
  });
});
