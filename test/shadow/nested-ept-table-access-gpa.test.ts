/**
 * L2 under nested EPT: an EPT02 exit on one of L2's paging-structure accesses carries the entry's
 * own nGPA (table page + 8 × index), and so does L1's exit when EPT12 refuses the access.
 *
 * Hardware: the guest-physical-address field "receives the guest-physical address that caused the
 * EPT violation or EPT misconfiguration" (SDM Vol. 3C §28.2.1; §27.2.1 in older editions) — for a
 * guest paging-structure access, the entry's (kvm-unit-tests x86/vmx_tests.c:2651, 2663-2664 →
 * :2544 at 1da1819e expect `virt_to_phys(ptep)`; there the PTE is at offset 0, :2652, so these
 * cases use non-zero indices). KVM: handle_ept_violation passes that address to
 * kvm_mmu_page_fault (vmx.c:5768); on guest_mmu FNAME(page_fault) walks EPT12 with it
 * (paging_tmpl.h:777 `walk_addr(&walker, vcpu, fault->addr, …)`), a fault keeps it
 * (`walker->fault.address = addr`, :516) and nested_ept_inject_page_fault hands it to L1
 * (`vmcs12->guest_physical_address = fault->address`, vmx/nested.c:461).
 *
 * Expected addresses are computed from L2's tables: each table's page (from the entry above)
 * plus 8 × the index written out from the address's bits.
 */
import { describe, expect, it } from 'vitest';
import { nested, DATA_N } from './nested-fixture';

const ADDR = 0xf_ffff_f000n;
// PML4 index 3, PDPT index 5, PD index 7, PT index 9, byte 0x123.
const GVA2 = (3n << 39n) | (5n << 30n) | (7n << 21n) | (9n << 12n) | 0x123n;
const WB = 6n << 3n; // EPT memory type WB (bits 5:3 = 6)

function setup(o: { ad?: boolean } = {}) {
  const n = nested(o);
  // New L2 tables for GVA2 (PDPT, PD, PT) from L2's pool, inside the 16 pages EPT12 maps 1:1.
  n.l2pt.map(GVA2 & ~0xfffn, DATA_N + 0x2000n, { flags: { writable: true } });
  const pml4 = BigInt(n.l2pt.root);
  const pdpt = n.l2pt.getEntry(GVA2, 4).value & ADDR;
  const pd = n.l2pt.getEntry(GVA2, 3).value & ADDR;
  const pt = n.l2pt.getEntry(GVA2, 2).value & ADDR;
  for (const t of [pdpt, pd, pt]) expect(t < 0x101_0000n).toBe(true);
  return { n, pml4, pdpt, pd, pt };
}

describe('nested EPT: an EPT exit on an L2 page-table access reports the entry\'s own nGPA', () => {
  it('EPT02 empty: each L2 table read exits to L0 at table + 8 × index (fixed from EPT12), the data access at its byte', () => {
    const { n, pml4, pdpt, pd, pt } = setup();
    n.enter();
    const r = n.v.read(GVA2);
    expect(r.status).toBe('ok');
    expect(r.exits.map((e) => [e.kind, e.gpa, e.onGuestTable, e.ret])).toEqual([
      ['ept_violation', pml4 + 8n * 3n, true, 'RET_PF_FIXED'],
      ['ept_violation', pdpt + 8n * 5n, true, 'RET_PF_FIXED'],
      ['ept_violation', pd + 8n * 7n, true, 'RET_PF_FIXED'],
      ['ept_violation', pt + 8n * 9n, true, 'RET_PF_FIXED'],
      ['ept_violation', DATA_N + 0x2123n, false, 'RET_PF_FIXED'],
    ]);
  });

  it('EPT12 does not map L2\'s PD: L1 gets an EPT violation at the PDE\'s nGPA', () => {
    const { n, pd } = setup();
    n.ept.setEntry(pd, 1, 0n);
    n.enter();
    const r = n.v.read(GVA2);
    expect(r.status).toBe('l1-exit');
    expect(r.exits.at(-1)).toMatchObject({ kind: 'ept_violation', gpa: pd + 8n * 7n, onGuestTable: true, ret: 'reflected to L1' });
    expect(r.nestedExit).toMatchObject({ kind: 'ept-violation', guestPhysicalAddress: pd + 8n * 7n });
  });

  it('EPT12 maps L2\'s PT write-only (a misconfiguration): L1 gets an EPT misconfiguration at the PTE\'s nGPA', () => {
    const { n, pt } = setup();
    // Bits 2:0 = 010b (SDM Vol. 3C §29.3.3.1): L0's EPT12 walk finds it (PFERR_RSVD) and
    // nested_ept_inject_page_fault reflects a misconfiguration (vmx/nested.c:438-440).
    n.ept.setEntry(pt, 1, pt | 0x2n | WB);
    n.enter();
    const r = n.v.read(GVA2);
    expect(r.status).toBe('l1-exit');
    expect(r.exits.at(-1)).toMatchObject({ gpa: pt + 8n * 9n, onGuestTable: true, ret: 'reflected to L1' });
    expect(r.nestedExit).toMatchObject({ kind: 'ept-misconfig', guestPhysicalAddress: pt + 8n * 9n });
  });

  it('EPT A/D off, EPT12 maps L2\'s PD read-only: the CPU\'s A write to the PDE exits, and L1 gets the PDE\'s nGPA', () => {
    // kvm-unit-tests x86/vmx_tests.c:3287-3302: with EPT A/D off the A/D update is a separate
    // read+write access to the entry, refused by a read-only EPT entry.
    const { n, pd } = setup({ ad: false });
    n.ept.setEntry(pd, 1, pd | 0x1n | WB);
    const pde = n.l2pt.getEntry(GVA2, 2);
    expect(pde.value & 0x20n).toBe(0n); // A clear: the walk must write it
    n.enter();
    const r = n.v.read(GVA2);
    expect(r.status).toBe('l1-exit');
    const onPd = r.exits.filter((e) => e.gpa >> 12n === pd >> 12n);
    // The read is fixed from EPT12 (read-only EPT02 entry); the A write then exits and is reflected.
    expect(onPd.map((e) => [e.gpa, e.ret])).toEqual([
      [pd + 8n * 7n, 'RET_PF_FIXED'],
      [pd + 8n * 7n, 'reflected to L1'],
    ]);
    expect(r.nestedExit).toMatchObject({ kind: 'ept-violation', guestPhysicalAddress: pd + 8n * 7n });
  });
});
