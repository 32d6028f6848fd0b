/**
 * WalkInputs.pdptesFromMemory (set by GvaWalker for SVM nested paging, its `pdpteRsvdFault`): a
 * staged walk of a PAE guest reads PDPTE[VA[31:30]] from the PDPT at CR3[31:5] through the second
 * stage, as a paging-structure access, instead of using a PDPTE register — nested paging keeps no
 * PDPTE registers for a legacy-PAE guest (APM Vol. 2 §15.25.10; KVM re-reads them from memory on
 * demand, svm.c:1665-1671, svm.h:423-430). Without a second stage, or without the flag (VMX, whose
 * PDPTE registers are loaded at MOV to CR3 / from vmcs12), the registers are used.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, WalkStop, CR0, CR4, gpa, gva } from '../../src';

const VA = 0xc012_3abcn; // PDPTE3
const PA = 0x1234_5000n;

function setup() {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x4000_0000n, name: 'ram' });
  const b = new PageTableBuilder(mem, { mode: 'pae', pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
  b.map(VA & ~0xfffn, PA);
  const regs = { cr0: CR0.PE | CR0.PG, cr3: BigInt(b.root), cr4: CR4.PAE, efer: 0n };
  const pdpte3 = mem.read64(gpa(BigInt(b.root) + 24n));
  return { mem, regs, root: BigInt(b.root), pdpte3 };
}

const hi = Number(VA >> 32n);
const lo = Number(VA & 0xffff_ffffn);

describe('PAE PDPTEs read through the second stage (SVM nested paging)', () => {
  it('a staged walk reads the PDPTE from memory, though the register holds 0; the value read lands in pdptrs', () => {
    const f = setup();
    const w = new GvaWalker(f.mem, f.regs, undefined, [0n, 0n, 0n, 0n], undefined, true);
    const calls: [number, boolean][] = [];
    const stop = w.walkRawStaged(hi, lo, 0, (g, final) => (calls.push([g, final]), g));
    expect(stop).toBe(WalkStop.Ok);
    // The first second-stage access is the PDPT frame, as a paging-structure (non-final) access.
    expect(calls[0]).toEqual([Number(f.root >> 12n), false]);
    const r = w.recordLast(stop, gva(VA), { kind: 'read' });
    expect(r.status === 'ok' && r.gpa).toBe(PA + 0xabcn);
    // The record's PDPTE step: read from memory at CR3 + 8 × 3, not a register.
    expect(r.trace[0]).toMatchObject({ level: 3, source: 'memory', entryGpa: f.root + 24n, value: f.pdpte3 });
    expect(w.pdptrs![3]).toBe(f.pdpte3);
    // The unstaged walk (KVM's own view) still uses the registers: PDPTE0-2 zero, PDPTE3 as last read.
    expect(w.walk(gva(0x0012_3abcn), { kind: 'read' })).toMatchObject({ status: 'fault', reason: 'pdpte-not-present' });
  });

  it('the second stage refusing the PDPT frame stops the walk at level 3 with SecondStage', () => {
    const f = setup();
    const w = new GvaWalker(f.mem, f.regs, undefined, [0n, 0n, 0n, 0n], undefined, true);
    const stop = w.walkRawStaged(hi, lo, 0, (g, final) => (final || g !== Number(f.root >> 12n) ? g : -1));
    expect(stop).toBe(WalkStop.SecondStage);
    expect(w.recordLast(stop, gva(VA), { kind: 'read' })).toMatchObject({ status: 'fault', reason: 'second-stage', level: 3 });
  });

  it('the PDPT translated to a zero frame: not-present PDPTE; to a frame no slot covers: table in no slot (error code 0)', () => {
    const f = setup();
    const w = new GvaWalker(f.mem, f.regs, undefined, [f.pdpte3, f.pdpte3, f.pdpte3, f.pdpte3], undefined, true);
    const pdptGfn = Number(f.root >> 12n);
    const zero = w.walkRawStaged(hi, lo, 0, (g) => (g === pdptGfn ? 0x3000_0 : g)); // an unwritten RAM frame
    expect(zero).toBe(WalkStop.PdpteNotPresent);
    const none = w.walkRawStaged(hi, lo, 0, (g) => (g === pdptGfn ? 0x8000_0 : g)); // 2 GiB: no slot
    expect(none).toBe(WalkStop.TableNoSlot);
    expect(w.recordLast(none, gva(VA), { kind: 'read' })).toMatchObject({ status: 'fault', errorCode: 0, level: 3 });
  });

  it('without the flag (VMX nested EPT) a staged walk uses the PDPTE registers', () => {
    const f = setup();
    const w = new GvaWalker(f.mem, f.regs, undefined, [0n, 0n, 0n, 0n]);
    const stop = w.walkRawStaged(hi, lo, 0, (g) => g);
    expect(stop).toBe(WalkStop.PdpteNotPresent);
    expect(w.recordLast(stop, gva(VA), { kind: 'read' }).trace[0]).toMatchObject({ level: 3, source: 'pdptr-register', value: 0n });
  });

  describe('ownPdpt: CR3 is an address of the walked memory (L1 on an NPT host)', () => {
    // APM Vol. 2 §15.25.10: no PDPTE registers under nested paging; KVM's own walks re-read the
    // PDPT from guest memory at CR3 whenever they need it (svm.c:1665-1671 `svm_cache_reg`).
    it('an unstaged walk reads the PDPTE from memory too: a store is seen at once, the record shows a memory read', () => {
      const f = setup();
      const w = new GvaWalker(f.mem, f.regs, undefined, undefined, undefined, true, true);
      expect(w.translate(gva(VA), { kind: 'read' })).toBe(PA + 0xabcn);
      const r = w.walk(gva(VA), { kind: 'read' });
      expect(r.trace[0]).toMatchObject({ level: 3, source: 'memory', entryGpa: f.root + 24n, value: f.pdpte3 });
      f.mem.write64(gpa(f.root + 24n), 0n);
      expect(w.pdptrs![3]).toBe(0n);
      expect(w.walk(gva(VA), { kind: 'read' })).toMatchObject({ status: 'fault', reason: 'pdpte-not-present' });
      expect(w.walkRaw(hi, lo, 0)).toBe(WalkStop.PdpteNotPresent);
    });

    it('nothing is loaded or checked up front: a reserved bit is a #PF with P|RSVD at the walk through it, and no other', () => {
      const f = setup();
      f.mem.write64(gpa(f.root + 24n), f.pdpte3 | (1n << 52n)); // 63:MAXPHYADDR reserved (MAXPHYADDR 46)
      const w = new GvaWalker(f.mem, f.regs, undefined, undefined, undefined, true, true);
      // paging_tmpl.h:420-421: a reserved-bit fault's error code is PFERR_RSVD_MASK | PFERR_PRESENT_MASK.
      expect(w.walk(gva(VA), { kind: 'read' })).toMatchObject({ status: 'fault', reason: 'reserved-bit', errorCode: 9, level: 3 });
      expect(w.walk(gva(0x0012_3abcn), { kind: 'read' })).toMatchObject({ status: 'fault', reason: 'pdpte-not-present' });
      // Without ownPdpt the constructor loads and checks the PDPTEs (x86.c:1058-1062: #GP).
      expect(() => new GvaWalker(f.mem, f.regs)).toThrow(/reserved/);
    });

    it('a PDPT in no slot: table in no slot (error code 0), as for any table; pdptrs reads as zeros', () => {
      const f = setup();
      const regs = { ...f.regs, cr3: 0x8000_0000n }; // 2 GiB: no slot
      const w = new GvaWalker(f.mem, regs, undefined, undefined, undefined, true, true);
      expect(w.pdptrs).toEqual([0n, 0n, 0n, 0n]);
      expect(w.walk(gva(VA), { kind: 'read' })).toMatchObject({ status: 'fault', errorCode: 0, level: 3 });
      expect(w.walkRaw(hi, lo, 0)).toBe(WalkStop.TableNoSlot);
    });
  });
});
