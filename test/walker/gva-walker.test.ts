import { describe, expect, it } from 'vitest';
import {
  GuestMemory, PageTableBuilder, GvaWalker, gpa, gva, CR0, CR4, EFER, DEFAULT_FEATURES, KVM_VERSIONS, PFERR, accEncoding,
  InvalidRegisterStateError, NonCanonicalAddressError, InvalidArgumentError, type WalkFault, type WalkOk,
} from '../../src';

const LM = EFER.LME | EFER.LMA;

function setup(mode: 'paging32' | 'pae' | 'paging4' | 'paging5', maxPhyAddr = 46) {
  const mem = new GuestMemory({ maxPhyAddr });
  mem.addSlot({ base: gpa(0n), size: 0x4000_0000n, name: 'ram' });
  mem.addSlot({ base: gpa(0x4000_0000n), size: 0x10_0000n, readonly: true, name: 'rom' });
  const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
  return { mem, b };
}

function ok(r: ReturnType<GvaWalker['walk']>): WalkOk {
  if (r.status !== 'ok') throw new Error(`expected ok, got ${r.errorCodeText} ${r.detail}`);
  return r;
}
function fault(r: ReturnType<GvaWalker['walk']>): WalkFault {
  if (r.status !== 'fault') throw new Error(`expected a fault, got ok ${r.gpa.toString(16)}`);
  return r;
}

describe('gva walk: paging modes', () => {
  it('CR0.PG=0: the linear address is the GPA; 32-bit addresses only', () => {
    const { mem } = setup('paging4');
    const w = new GvaWalker(mem, { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    expect(w.role.base.direct).toBe(true);
    expect(w.format).toBeUndefined();
    expect(ok(w.walk(0x1234_5678n, { kind: 'write', user: true })).gpa).toBe(0x1234_5678n);
    expect(() => w.walk(0x1_0000_0000n, { kind: 'read' })).toThrow(/linear-address-32-bit/);
    // The raw walk (no address rule: its halves are only checked to be 32-bit) gives the address's
    // frame for halves at or above 2^31 too, and for a low half passed as a negative int32.
    const acc = PFERR.WRITE | PFERR.USER;
    for (const [hi, lo] of [[0, 0xfedc_b123], [0x8000_0001, 0x8000_0fff], [0xffff_ffff, 0xffff_f000], [0, -0x1000], [0x7fff_ffff, -1]] as const) {
      expect(w.walkRaw(hi, lo, acc)).toBe(0);
      expect(w.lastGfn).toBe(Number(((BigInt(hi) << 32n) | BigInt(lo >>> 0)) >> 12n));
    }
  });

  it('32-bit paging: 4 KiB and 4 MiB (PSE, PSE-36) pages; PS ignored without CR4.PSE', () => {
    const { mem, b } = setup('paging32', 40);
    b.map(0x0040_0000n, 0x0020_0000n, { flags: { writable: true, user: true } });
    b.map(0x0080_0000n, 0x3_0040_0000n, { size: '4M', flags: { user: true } });
    const pse = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PSE, efer: 0n }, { ...DEFAULT_FEATURES, maxPhyAddr: 40 });
    expect(ok(pse.walk(0x0040_0123n, { kind: 'read' })).gpa).toBe(0x0020_0123n);
    const big = ok(pse.walk(0x00a0_1234n, { kind: 'read', user: true }));
    // PA[35:32] comes from PDE bits 16:13 (KVM's pse36_gfn_delta).
    expect(big.gpa).toBe(0x3_0060_1234n);
    expect(big.pageSize).toBe(4 << 20);
    // Without CR4.PSE, bit 7 of the PDE is ignored: the PDE is a table pointer to 0x3_0040_0000's low bits.
    const nopse = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: 0n, efer: 0n }, { ...DEFAULT_FEATURES, maxPhyAddr: 40 });
    const r = nopse.walk(0x00a0_1234n, { kind: 'read', user: true });
    expect(r.trace.length).toBe(2);
    expect(r.trace[0]!.leaf).toBe(false);
  });

  it('PAE: PDPTE registers are loaded at MOV CR3 and reloaded explicitly', () => {
    const { mem, b } = setup('pae');
    b.map(0xc000_0000n, 0x30_0000n, { flags: { writable: true } });
    const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE, efer: EFER.NXE };
    const w = new GvaWalker(mem, regs);
    const r = ok(w.walk(0xc000_0abcn, { kind: 'write' }));
    expect(r.gpa).toBe(0x30_0abcn);
    expect(r.trace.map((s) => s.source)).toEqual(['pdptr-register', 'memory', 'memory']);
    expect(r.trace[0]!.entryGpa).toBe(b.root + 24n);
    // PDPTEs have no A bit: only PDE and PTE get A (and D on the leaf).
    expect(r.adUpdates).toBe(2);
    expect(r.trace[0]!.updated).toBeUndefined();
    // A PDPTE not present in the register: error code 0 (plus W/U).
    expect(fault(w.walk(0x4000_0000n, { kind: 'write', user: true })).errorCode).toBe(PFERR.WRITE | PFERR.USER);
    // Clearing the PDPTE in memory is not seen until the registers are reloaded.
    b.setEntry(0xc000_0000n, 3, 0n);
    expect(w.walk(0xc000_0abcn, { kind: 'read' }).status).toBe('ok');
    w.reloadPdptrs();
    expect(fault(w.walk(0xc000_0abcn, { kind: 'read' })).reason).toBe('pdpte-not-present');
  });

  it('PAE: a present PDPTE with reserved bits makes loading CR3 fail (#GP), naming the PDPTE', () => {
    const { mem, b } = setup('pae');
    b.map(0n, 0x30_0000n);
    b.setEntry(0n, 3, b.getEntry(0n, 3).value | (1n << 5n));
    expect(() => new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: 0n })).toThrow(InvalidRegisterStateError);
    expect(() => new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: 0n })).toThrow(/PDPTE0.*pdpte-reserved/);
  });

  it('4-level 1 GiB pages: bit 7 of a PDPTE is reserved without GBPAGES', () => {
    const { mem, b } = setup('paging4');
    b.map(0x80_0000_0000n, 0x4000_0000n, { size: '1G', flags: { writable: true } });
    const regs = { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM };
    const r = ok(new GvaWalker(mem, regs).walk(0x80_1234_5678n, { kind: 'read' }));
    expect(r.gpa).toBe(0x5234_5678n);
    expect(r.level).toBe(3);
    expect(r.gpaKind).toBe('noslot'); // the ROM slot is only 1 MiB; this GPA is past it
    const f = fault(new GvaWalker(mem, regs, { ...DEFAULT_FEATURES, gbpages: false }).walk(0x80_1234_5678n, { kind: 'read' }));
    expect(f.errorCode).toBe(PFERR.RSVD | PFERR.PRESENT);
    expect(f.detail).toMatch(/reserved bit\(s\) 7/);
    expect(f.level).toBe(3);
  });

  it('5-level: indexes bits 56:48 and rejects non-canonical 57-bit addresses', () => {
    const { mem, b } = setup('paging5');
    b.map(0xff12_3456_789a_b000n, 0x20_0000n, { flags: { user: true } });
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE | CR4.LA57, efer: LM });
    const r = ok(w.walk(0xff12_3456_789a_bcden, { kind: 'read', user: true }));
    expect(r.trace.map((s) => s.level)).toEqual([5, 4, 3, 2, 1]);
    expect(() => w.walk(0x0100_0000_0000_0000n, { kind: 'read' })).toThrow(NonCanonicalAddressError);
  });
});

describe('gva walk: the address rule at its edges (walk() checks it on the halves)', () => {
  // SDM Vol. 1 §3.3.7.1: a canonical address has bits 63:N-1 all equal to bit N-1 (N = 48, or 57
  // with LA57, SDM Vol. 3A §4.5); outside long mode a linear address is 32 bits wide (Vol. 3A §4.1).
  const cases: Array<['paging4' | 'paging5' | 'pae' | 'off', bigint, boolean]> = [
    ['paging4', 0n, true], ['paging4', 0x0000_7fff_ffff_ffffn, true], ['paging4', 0x0000_8000_0000_0000n, false],
    ['paging4', 0x0001_0000_0000_0000n, false], ['paging4', 0x8000_0000_0000_0000n, false], ['paging4', 0xffff_7fff_ffff_ffffn, false],
    ['paging4', 0xffff_8000_0000_0000n, true], ['paging4', 0xffff_ffff_ffff_ffffn, true],
    ['paging5', 0x00ff_ffff_ffff_ffffn, true], ['paging5', 0x0100_0000_0000_0000n, false], ['paging5', 0xfeff_ffff_ffff_ffffn, false],
    ['paging5', 0xff00_0000_0000_0000n, true], ['paging5', 0xffff_ffff_ffff_ffffn, true],
    ['pae', 0xffff_ffffn, true], ['pae', 0x1_0000_0000n, false], ['pae', 0xffff_ffff_ffff_ffffn, false],
    ['off', 0xffff_ffffn, true], ['off', 0x1_0000_0000n, false], ['off', 0x8000_0000_0000_0000n, false],
  ];
  function walker(mode: 'paging4' | 'paging5' | 'pae' | 'off'): GvaWalker {
    const { mem, b } = setup(mode === 'off' ? 'paging4' : mode);
    if (mode === 'off') return new GvaWalker(mem, { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    return new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE | (mode === 'paging5' ? CR4.LA57 : 0n), efer: mode === 'pae' ? 0n : LM });
  }

  it('accepts exactly the addresses the rule allows, refusing the rest with NonCanonicalAddressError', () => {
    for (const [mode, v, allowed] of cases) {
      const w = walker(mode);
      if (allowed) expect(w.walk(v, { kind: 'read' }).address, `${mode} ${v.toString(16)}`).toBe(v);
      else expect(() => w.walk(v, { kind: 'read' }), `${mode} ${v.toString(16)}`).toThrow(NonCanonicalAddressError);
    }
  });

  it('a number address gives the record of the same bigint; out-of-u64 bigints are argument errors', () => {
    const { mem, b } = setup('paging4');
    b.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true, user: true } });
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM });
    w.walk(0x7000_0abcn, { kind: 'read' }); // sets A: the two walks below then see the same entries
    const byNumber = ok(w.walk(0x7000_0abc as unknown as bigint, { kind: 'read' }));
    expect(byNumber.address).toBe(0x7000_0abcn);
    expect(byNumber).toEqual(ok(w.walk(0x7000_0abcn, { kind: 'read' })));
    expect(byNumber.gpa).toBe(0x20_0abcn);
    for (const v of [-1n, 1n << 64n, -(1n << 63n)]) expect(() => w.walk(v, { kind: 'read' })).toThrow(InvalidArgumentError);
  });
});

describe('gva walk: details KVM pins down', () => {
  it('A/D are set on success only, D only on writes to the leaf; a read of a clean page drops W from pte_access', () => {
    const { mem, b } = setup('paging4');
    b.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true, user: true } });
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE, efer: LM | EFER.NXE });
    // A faulting walk (user fetch is fine, so make it a supervisor write with a PK-free RO page? use not-present)
    expect(w.walk(0x7000_1000n, { kind: 'read' }).status).toBe('fault');
    for (let l = 4; l >= 2; l--) expect(b.getEntry(0x7000_0000n, l).value & 0x20n).toBe(0n);
    const r = ok(w.walk(0x7000_0000n, { kind: 'read' }));
    expect(r.pteAccess & 2).toBe(0); // protect_clean_gpte
    expect(r.adUpdates).toBe(4);
    expect(b.getEntry(0x7000_0000n, 1).value & 0x60n).toBe(0x20n); // A, not D
    const w2 = ok(w.walk(0x7000_0000n, { kind: 'write' }));
    expect(w2.adUpdates).toBe(1);
    expect(b.getEntry(0x7000_0000n, 1).value & 0x60n).toBe(0x60n);
    expect(ok(w.walk(0x7000_0000n, { kind: 'read' })).pteAccess & 2).toBe(2);
  });

  it('page tables in ROM: the walk succeeds but A/D are not written', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 0x100_0000n });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
    b.map(0x1000n, 0x5000n, { flags: { writable: true } });
    // Move the tables' slot to read-only by building a second memory that marks the pool as ROM.
    const rom = new GuestMemory({ maxPhyAddr: 46 });
    rom.addSlot({ base: gpa(0n), size: 0x10_0000n });
    rom.addSlot({ base: gpa(0x10_0000n), size: 0x10_0000n, readonly: true });
    for (let a = 0x10_0000n; a < 0x10_5000n; a += 8n) {
      const v = mem.read64(gpa(a));
      if (v !== 0n) rom.write64(gpa(a), v);
    }
    const w = new GvaWalker(rom, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM });
    const r = ok(w.walk(0x1000n, { kind: 'write' }));
    expect(r.adUpdates).toBe(0);
    expect(rom.read64(b.getEntry(0x1000n, 1).gpa) & 0x60n).toBe(0n);
  });

  it('a table outside every memory slot ends the walk with error code 0', () => {
    const { mem, b } = setup('paging4');
    b.setEntry(0x2000_0000n, 2, 0x8000_0000n | 0x7n); // PDE points at a GPA no slot covers
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM });
    const f = fault(w.walk(0x2000_0000n, { kind: 'read', user: true }));
    expect(f.reason).toBe('table-outside-memory');
    expect(f.trace.at(-1)!.source).toBe('no-memory');
    expect(f.errorCode).toBe(PFERR.USER);
    expect(f.level).toBe(1);
  });

  it('a not-present entry reports P=0 without RSVD even with reserved bits set', () => {
    const { mem, b } = setup('paging4');
    b.setEntry(0x3000_0000n, 1, 1n << 51n); // P=0, bit 51 set
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM });
    expect(fault(w.walk(0x3000_0000n, { kind: 'read' })).errorCode).toBe(0);
  });

  it.each(KVM_VERSIONS)('KVM %s: the trace records each level: address, raw value, leaf, accumulated access', (kvm) => {
    const { mem, b } = setup('paging4');
    b.map(0x1234_5000n, 0x6000n, { flags: { writable: false, user: true, nx: true } });
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM | EFER.NXE }, DEFAULT_FEATURES, undefined, kvm);
    const r = w.walk(0x1234_5678n, { kind: 'read', user: true });
    // Upper levels grant everything (ACC_ALL); the leaf is U, read-only, NX: ACC_USER alone in
    // v6.16 (reference §4.2: U 4, W 2, X 1), ACC_READ|ACC_USER in 7.3 (kvm-7x.md §1.4: R 1 —
    // always set after a successful x86 walk — W 2, U 4, X 8).
    const e = accEncoding(kvm);
    expect(r.trace.map((s) => [s.level, s.leaf, s.access])).toEqual([[4, false, e.ALL], [3, false, e.ALL], [2, false, e.ALL], [1, true, e.READ | e.USER]]);
    expect(r.trace[3]!.entryGpa).toBe(b.getEntry(0x1234_5000n, 1).gpa);
    expect(r.trace[3]!.value).toBe(0x8000_0000_0000_6005n);
  });

  it('rejects an implicit user access and a MAXPHYADDR that disagrees with memory', () => {
    const { mem, b } = setup('paging4');
    const regs = { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM };
    const w = new GvaWalker(mem, regs);
    expect(() => w.walk(0n, { kind: 'read', user: true, implicit: true })).toThrow(InvalidArgumentError);
    expect(() => new GvaWalker(mem, regs, { ...DEFAULT_FEATURES, maxPhyAddr: 52 })).toThrow(/maxphyaddr-mismatch/);
    expect(() => new GvaWalker(mem, { ...regs, pkru: -1 })).toThrow(/PKRU/);
  });

  it('walkRaw agrees with walk', () => {
    const { mem, b } = setup('paging4');
    b.map(0xffff_8000_0000_0000n, 0x20_0000n, { count: 8, flags: { writable: true } });
    const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE, efer: LM });
    for (let i = 0n; i < 10n; i++) {
      const va = gva(0xffff_8000_0000_0000n + i * 0x1000n + 0x10n);
      const rec = w.walk(va, { kind: 'read' });
      const raw = w.walkRaw(Number(va >> 32n), Number(va & 0xffff_ffffn), 0);
      expect(raw === 0).toBe(rec.status === 'ok');
      if (rec.status === 'ok') expect(w.lastGfn).toBe(rec.gfn);
    }
  });
});
