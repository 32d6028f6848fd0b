/**
 * A PAE L1 on an SVM host with NPT reads its PDPTEs from memory on every walk; on a VMX host with
 * EPT it uses PDPTE registers loaded at MOV to CR3.
 *
 * With nested paging AMD's CPU keeps no PDPTE registers for a legacy-PAE guest: the PDPTE is read
 * from the PDPT at guest CR3 through the nested page tables as part of each walk (APM Vol. 2
 * §15.25.10 "Legacy PAE Mode"). KVM follows: with npt_enabled its own view re-reads them from
 * memory (linux v6.16.1 arch/x86/kvm/svm/svm.c:1665-1671 `svm_cache_reg` → `load_pdptrs(vcpu,
 * kvm_read_cr3(vcpu))`), they are marked stale after every exit (svm/svm.h:427
 * SVM_REGS_LAZY_LOAD_SET, svm.c:4524), and MOV to CR3 is not intercepted (svm.c:1336-1337), so no
 * `load_pdptrs` check runs for it. kvm-unit-tests x86/svm_tests.c:3806-3835 (at 1da1819e49fc)
 * expect the result for a guest under NPT: a reserved bit in a PDPTE is not refused up front but
 * shows as a #PF when the guest walks through that entry, and through no other.
 * The EPT host keeps PDPTE registers: MOV to CR3 loads them and faults #GP(0) on a present PDPTE
 * with a reserved bit (SDM Vol. 3A §4.4.1; KVM's check for the writes it intercepts:
 * arch/x86/kvm/x86.c:1440-1441 → load_pdptrs, :1058-1062).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, InvalidRegisterStateError, PFERR } from '../../src';
import { NPF_GUEST_PAGE } from '../../src/nested/npf-error-code';
import { thrownRule } from '../tdx/fixtures';

const A = 0x20_0000n;
const B = 0x40_0000n;
const VA1 = 0x4000_0000n; // PDPTE1
const VA2 = 0x8000_0000n; // PDPTE2
const PAE = { cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n };

function paeGuest(flavour: 'ept' | 'npt', hostPageSize?: '4K') {
  const vm = new Vm({ spte: { flavour }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', ...(hostPageSize === undefined ? {} : { hostPageSize }) });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'pae', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  pt.map(VA1, A, { flags: { writable: true } });
  pt.map(VA2, B, { flags: { writable: true } });
  const v = vm.createVcpu({ ...PAE, cr3: pt.root });
  return { vm, pt, v, pdpte1: pt.getEntry(VA1, 3).value, pdpte2: pt.getEntry(VA2, 3).value };
}

describe('SVM host with NPT: a PAE L1 has no PDPTE registers', () => {
  it('a PDPTE stored after CR3 was loaded is seen by the next access, with no CR3 write in between', () => {
    const { pt, v, pdpte2 } = paeGuest('npt');
    expect(v.read(VA1).gpa).toBe(A);
    // The guest points PDPTE1 at PDPTE2's page directory, in memory only.
    pt.setEntry(VA1, 3, pdpte2);
    // APM §15.25.10: the PDPTE is read from memory on each walk — the store is seen at once.
    const r = v.read(VA1);
    expect(r.gpa).toBe(B);
    // The walk's PDPTE step is a memory read at CR3[31:5] + 8 × 1, not a register.
    expect(r.guestWalk.trace[0]).toMatchObject({ level: 3, source: 'memory', entryGpa: BigInt(pt.root) + 8n, value: pdpte2 });
    // KVM's view (svm.c:1665-1671: load_pdptrs from memory after each exit) is memory's too.
    expect(v.walker.pdptrs![1]).toBe(pdpte2);
    expect(v.walker.walk(VA1, { kind: 'read' })).toMatchObject({ status: 'ok', gpa: B });
  });

  it('a reserved bit in a present PDPTE: MOV to CR3 succeeds, the access through it is #PF(P|RSVD), an access through another PDPTE works', () => {
    const { pt, v, pdpte1 } = paeGuest('npt');
    // Bits 62:52 are reserved in a PDPTE (x86.c pdptr_rsvd_bits: 63:MAXPHYADDR among them) —
    // the bits svm_tests.c:3817-3832 sets.
    pt.setEntry(VA1, 3, pdpte1 | (1n << 52n));
    // svm.c:1336-1337: MOV to CR3 is not intercepted with NPT, so no load_pdptrs refuses it.
    v.movCr3(pt.root);
    expect(v.regs.cr3).toBe(BigInt(pt.root));
    const r = v.read(VA1);
    // svm_tests.c:3812-3818: the CPU notices the bad PDPTE only when the guest walks through it,
    // as a #PF; its error code is a reserved-bit fault's, P|RSVD (APM Vol. 2 §8.4.2; KVM's own
    // walker: paging_tmpl.h:420-421 `errcode = PFERR_RSVD_MASK | PFERR_PRESENT_MASK`).
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk).toMatchObject({ status: 'fault', errorCode: PFERR.PRESENT | PFERR.RSVD, level: 3 });
    // svm_tests.c:3814-3815: a reserved bit in a PDPTE the guest does not walk through is no fault.
    expect(v.read(VA2).gpa).toBe(B);
    // Repairing the entry in memory is enough: the next walk reads it (no CR3 write).
    pt.setEntry(VA1, 3, pdpte1);
    expect(v.read(VA1).gpa).toBe(A);
  });

  it('KVM still checks the PDPTEs at the writes it intercepts: a PDPTR-bit CR4 write #GPs on a reserved PDPTE bit, an unrelated one does not', () => {
    const { pt, v, pdpte1 } = paeGuest('npt');
    pt.setEntry(VA1, 3, pdpte1 | 0x2n); // bit 1: reserved in a PAE PDPTE (x86.c:1059-1061)
    // svm.c:1246: CR4 writes are intercepted (never cleared for NPT) → cr_interception → kvm_set_cr4,
    // whose PDPTR-bit change (kvm_cache_regs.h: X86_CR4_PDPTR_BITS has PGE) runs load_pdptrs and
    // returns 1 (#GP) on its failure (x86.c:1355-1358, 1058-1062).
    expect(thrownRule(() => v.setRegisters({ cr4: PAE.cr4 | CR4.PGE }), InvalidRegisterStateError)).toBe('pdpte-reserved');
    expect(v.regs.cr4).toBe(PAE.cr4);
    // SMAP is no PDPTR bit: no load_pdptrs (x86.c:1355-1358).
    v.setRegisters({ cr4: PAE.cr4 | CR4.SMAP });
    expect(v.regs.cr4).toBe(PAE.cr4 | CR4.SMAP);
  });

  it('the PDPT is a table the walk reads through NPT: unmapped there, it is an NPF on a guest page-table access, fixed like any', () => {
    const { vm, pt, v } = paeGuest('npt');
    const pdptPage = BigInt(pt.root) & ~0xfffn;
    // The NPT tables start empty: the first exit of the first walk is the PDPT's own read.
    const first = v.read(VA1);
    expect(first.gpa).toBe(A);
    // APM Vol. 2 §15.25.6: EXITINFO1 bit 33 — the fault was on a guest page-table access, not
    // the final one (bit 32); KVM's PFERR_GUEST_PAGE_MASK / _FINAL_MASK, kvm_host.h:277-278.
    expect(first.exits[0]).toMatchObject({ kind: 'npf', onGuestTable: true, ret: 'RET_PF_FIXED' });
    // EXITINFO2: PDPTE1's own address, CR3[31:5] + 8 × 1 (see the EXITINFO2 test below).
    expect(first.exits[0]!.gpa).toBe(BigInt(pt.root) + 8n);
    expect(first.exits[0]!.info & (3n << 32n)).toBe(BigInt(NPF_GUEST_PAGE));
    // Warm, then the PDPT's page zapped from the NPT: the next access takes exactly that NPF.
    expect(v.read(VA1).exits).toHaveLength(0);
    vm.zapGfnRange(pdptPage, pdptPage + 0x1000n);
    const again = v.read(VA1);
    expect(again.gpa).toBe(A);
    expect(again.exits).toHaveLength(1);
    expect(again.exits[0]).toMatchObject({ kind: 'npf', onGuestTable: true, ret: 'RET_PF_FIXED' });
    expect(again.exits[0]!.gpa).toBe(BigInt(pt.root) + 8n);
  });

  it('EXITINFO2 of an NPF on a guest page-table access is the entry\'s own GPA (8-byte granular), the PDPTE\'s as any other', () => {
    // 4 KiB host pages: each table page is its own NPT mapping, so each read takes its own NPF.
    const { pt, v } = paeGuest('npt', '4K');
    // PDPTE1, PDE 3, PTE 5: entries at non-zero offsets in their tables.
    const va = VA1 + 3n * 0x20_0000n + 5n * 0x1000n + 0x234n;
    const C = 0x60_0000n;
    pt.map(va & ~0xfffn, C, { flags: { writable: true } });
    const pd = pt.getEntry(va, 3).value & 0xf_ffff_f000n;
    const ptPage = pt.getEntry(va, 2).value & 0xf_ffff_f000n;
    const r = v.read(va);
    expect(r.gpa).toBe(C + 0x234n);
    // Each NPF reports the address of the access that faulted (APM Vol. 2 §15.25.6): for a guest
    // table read the entry's address — QEMU's SVM model gives exit_info_2 = the PTE address it
    // failed to translate (target/i386/tcg/system/excp_helper.c: ptw_translate `.cr2 = addr`,
    // raise_stage2), the PAE PDPTE read at (cr3 & 0xffffffe0) + ((addr >> 27) & 0x18) included —
    // and KVM hands that address on unchanged (svm.c:2101, 2117 npf_interception →
    // kvm_mmu_page_fault; reflected to L1 via paging_tmpl.h:516 and svm/nested.c:50); the final
    // access's is the data GPA with its page offset.
    expect(r.exits.map((e) => [e.gpa, e.onGuestTable])).toEqual([
      [BigInt(pt.root) + 8n * 1n, true],
      [pd + 8n * 3n, true],
      [ptPage + 8n * 5n, true],
      [C + 0x234n, false],
    ]);
  });
});

describe('VMX host with EPT: PDPTE registers, loaded at MOV to CR3', () => {
  it('a PDPTE stored in memory is not seen until MOV to CR3; the same steps on an NPT host see it at once', () => {
    const ept = paeGuest('ept');
    const npt = paeGuest('npt');
    for (const g of [ept, npt]) {
      expect(g.v.read(VA1).gpa).toBe(A);
      g.pt.setEntry(VA1, 3, g.pdpte2);
    }
    // SDM Vol. 3A §4.4.1: the walk uses the PDPTE registers, loaded by MOV to CR3 — not memory.
    const r = ept.v.read(VA1);
    expect(r.gpa).toBe(A);
    expect(r.guestWalk.trace[0]).toMatchObject({ level: 3, source: 'pdptr-register', value: ept.pdpte1 });
    expect(ept.v.walker.pdptrs![1]).toBe(ept.pdpte1);
    // APM §15.25.10: no registers under nested paging.
    expect(npt.v.read(VA1).gpa).toBe(B);
    ept.v.movCr3(ept.pt.root);
    expect(ept.v.read(VA1).gpa).toBe(B);
  });

  it('a reserved bit in a present PDPTE: MOV to CR3 is refused (#GP) and changes nothing; on an NPT host it succeeds', () => {
    const ept = paeGuest('ept');
    const npt = paeGuest('npt');
    for (const g of [ept, npt]) g.pt.setEntry(VA1, 3, g.pdpte1 | (1n << 52n));
    // SDM Vol. 3A §4.4.1: a present PDPTE with a reserved bit makes the MOV to CR3 #GP(0)
    // (KVM's load_pdptrs for an intercepted write, x86.c:1440-1441, 1058-1062, agrees).
    expect(thrownRule(() => ept.v.movCr3(ept.pt.root), InvalidRegisterStateError)).toBe('pdpte-reserved');
    expect(ept.v.regs.cr3).toBe(BigInt(ept.pt.root));
    // The registers loaded before stay in use.
    expect(ept.v.read(VA1).gpa).toBe(A);
    // svm.c:1336-1337 / svm_tests.c:3812-3818: accepted, the walk faults.
    npt.v.movCr3(npt.pt.root);
    expect(npt.v.read(VA1).status).toBe('guest-pf');
  });
});
