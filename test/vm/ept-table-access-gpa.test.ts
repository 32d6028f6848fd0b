/**
 * L1 on an EPT host: the guest-physical address of an EPT violation or misconfiguration on one of
 * the guest's paging-structure accesses is the address of that access — the entry's own GPA,
 * table page + entry size × index — not the table's page.
 *
 * SDM Vol. 3C §28.2.1 (§27.2.1 in older editions), "Guest-physical address": "For a VM exit due
 * to an EPT violation or an EPT misconfiguration, this field receives the guest-physical address
 * that caused the EPT violation or EPT misconfiguration"; and of the guest-linear address of such
 * an exit: "translation of the linear address may reference a paging-structure entry whose access
 * caused the EPT violation". §29.3.3.2 (§28.2.3.2): reads of guest paging structures are data
 * reads, and the CPU's writes to them to set A/D are data writes. kvm-unit-tests x86/vmx_tests.c
 * (1da1819e) expects the guest PTE's address `virt_to_phys(ptep)` in the field (:2651, :2663-2664
 * → `do_ept_violation`, :2544); its PTE sits at offset 0 of its page (:2652), so it cannot tell
 * entry from page — the cases here put every entry at a non-zero index. KVM takes the hardware's
 * value as the fault address (vmx.c:5768 handle_ept_violation, :5796 handle_ept_misconfig).
 *
 * Every expected address below is the table's page (read from the entry above it) plus the entry
 * size times the index written out from the address's bits.
 */
import { describe, expect, it } from 'vitest';
import { CR0, CR4, EPT_QUAL, PageTableBuilder, Vm } from '../../src';
import { fixture } from './fixtures';

const ADDR = 0xf_ffff_f000n;
// 4-level: PML4 index 3, PDPT index 5, PD index 7, PT index 9, byte 0x123.
const VA = (3n << 39n) | (5n << 30n) | (7n << 21n) | (9n << 12n) | 0x123n;
const DATA = 0x60_0000n;

describe('EPT host: an EPT exit on a guest page-table access reports the entry\'s own GPA', () => {
  it('4-level guest, 4 KiB EPT mappings: each table read exits at table + 8 × index, the data access at its byte', () => {
    const { v, pt } = fixture({ flavour: 'ept' }, '4K');
    pt.map(VA & ~0xfffn, DATA, { flags: { writable: true } });
    const pml4 = BigInt(pt.root);
    const pdpt = pt.getEntry(VA, 4).value & ADDR;
    const pd = pt.getEntry(VA, 3).value & ADDR;
    const ptPage = pt.getEntry(VA, 2).value & ADDR;
    const r = v.read(VA);
    expect(r.gpa).toBe(DATA + 0x123n);
    // One EPT violation per table page (nothing mapped yet; 4 KiB host pages: one EPT leaf each).
    expect(r.exits.map((e) => [e.kind, e.gpa, e.onGuestTable])).toEqual([
      ['ept_violation', pml4 + 8n * 3n, true],
      ['ept_violation', pdpt + 8n * 5n, true],
      ['ept_violation', pd + 8n * 7n, true],
      ['ept_violation', ptPage + 8n * 9n, true],
      ['ept_violation', DATA + 0x123n, false],
    ]);
    // The table accesses are not translations of the linear address (qualification bit 8 clear,
    // SDM Vol. 3C Table 28-7); the guest-linear field is valid (bit 7).
    for (const e of r.exits.slice(0, 4)) expect(Number(e.info) & (EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED)).toBe(EPT_QUAL.GVA_IS_VALID);
  });

  it('32-bit paging guest: 4-byte entries, so the PDE is at table + 4 × index', () => {
    const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging32', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    // PD index 5 (bits 31:22), PT index 9 (bits 21:12).
    const va = (5n << 22n) | (9n << 12n) | 0x456n;
    pt.map(va & ~0xfffn, DATA, { flags: { writable: true } });
    const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG, cr4: 0n, efer: 0n, cr3: pt.root });
    const ptPage = pt.getEntry(va, 2).value & 0xffff_f000n;
    const r = v.read(va);
    expect(r.gpa).toBe(DATA + 0x456n);
    expect(r.exits.map((e) => [e.gpa, e.onGuestTable])).toEqual([
      [BigInt(pt.root) + 4n * 5n, true],
      [ptPage + 4n * 9n, true],
      [DATA + 0x456n, false],
    ]);
  });

  it('PAE guest: the PDPTEs are registers (no access), the PDE and PTE reads exit at their own GPAs', () => {
    const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'pae', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    // PDPTE 2, PD index 7, PT index 9.
    const va = (2n << 30n) | (7n << 21n) | (9n << 12n) | 0x789n;
    pt.map(va & ~0xfffn, DATA, { flags: { writable: true } });
    const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: 0n, cr3: pt.root });
    const pd = pt.getEntry(va, 3).value & ADDR;
    const ptPage = pt.getEntry(va, 2).value & ADDR;
    const r = v.read(va);
    expect(r.gpa).toBe(DATA + 0x789n);
    expect(r.exits.map((e) => [e.gpa, e.onGuestTable])).toEqual([
      [pd + 8n * 7n, true],
      [ptPage + 8n * 9n, true],
      [DATA + 0x789n, false],
    ]);
  });

  it('EPT A/D off: the CPU\'s A write to a PDE on a write-protected page exits at the PDE\'s GPA', () => {
    // kvm-unit-tests x86/vmx_tests.c:3287-3292: with EPT A/D off the A/D update is a separate
    // read+write access to the entry, through EPT.
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', adEnabled: false }, '4K');
    pt.map(VA & ~0xfffn, DATA, { flags: { writable: true } });
    expect(v.read(VA).status).toBe('ok');
    const pd = pt.getEntry(VA, 3).value & ADDR;
    const pde = pt.getEntry(VA, 2);
    expect(BigInt(pde.gpa)).toBe(pd + 8n * 7n);
    pt.setEntry(VA, 2, pde.value & ~0x20n); // the guest clears A in the PDE
    vm.setDirtyLogging(ram, true); // write-protects every SPTE (no PML)
    const r = v.read(VA);
    expect(r.status).toBe('ok');
    expect(pt.getEntry(VA, 2).value & 0x20n).toBe(0x20n);
    expect(r.exits.filter((e) => e.onGuestTable).map((e) => [e.gpa, e.ret])).toEqual([[pd + 8n * 7n, 'RET_PF_FIXED']]);
  });

  it('an EPT misconfiguration on a table read (an MMIO SPTE for a PD outside every memslot) reports the PDE\'s GPA', () => {
    const { v, pt } = fixture({ flavour: 'ept' }, '4K');
    pt.map(VA & ~0xfffn, DATA, { flags: { writable: true } });
    const HOLE = 0x8000_0000n; // no memslot (RAM is [0, 1 GiB), ROM at 1 GiB)
    pt.setEntry(VA, 3, HOLE | 0x7n); // the PDPTE points the PD at the hole
    const first = v.read(VA);
    const second = v.read(VA);
    const atPd = (x: typeof first) => x.exits.filter((e) => e.gpa >> 12n === HOLE >> 12n).map((e) => [e.kind, e.gpa]);
    // First an EPT violation (no SPTE), for which KVM installs an MMIO SPTE; then a
    // misconfiguration on that SPTE (vmx.c:5796). Both at the PDE's GPA: the hole + 8 × 7.
    expect(atPd(first)).toEqual([['ept_violation', HOLE + 8n * 7n]]);
    expect(atPd(second)).toEqual([['ept_misconfig', HOLE + 8n * 7n]]);
  });
});
