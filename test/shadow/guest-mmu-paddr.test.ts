/**
 * Nested EPT, L2's accesses to its own paging structures through EPT12 — the "paddr" cases of
 * kvm-unit-tests `x86/vmx_tests.c` (`ept_access_test_paddr_*`, run by an L1 on KVM: they check
 * KVM's nested EPT). The EPT12 entry that maps L2's leaf page table is made not present or
 * read-only; the guest PTE for the data GVA is at index 0 of that table, so the exit's GPA is the
 * table's (`do_ept_violation` checks INFO_PHYS_ADDR = the PTE's GPA, vmx_tests.c:2544).
 *
 * Hardware (SDM Vol. 3C, exit qualification for EPT violations, bits 0/1 and their footnote): with
 * EPT A/D on, accesses to guest paging structures are writes to EPT and a violation sets both the
 * read and the write bit; with EPT A/D off, the entry is read, then written only when A/D must be
 * set, and that write is a separate read+write access. KVM (`vmx/common.h:
 * __vmx_handle_ept_violation`, common.h:90-95) turns ACC_READ into PFERR_USER and ACC_WRITE into
 * PFERR_WRITE; `paging_tmpl.h: FNAME(walk_addr_generic)` (PTTYPE_EPT) rebuilds L1's qualification
 * from them: ACC_WRITE from the write, ACC_READ from the user bit, PROT from EPT12's RWX
 * (paging_tmpl.h:500-511), and KVM's own walker treats table accesses the same way
 * (paging_tmpl.h:347: nested_access = (have_ad ? PFERR_WRITE_MASK : 0) | PFERR_USER_MASK).
 */
import { describe, expect, it } from 'vitest';
import { nested, GVA } from './nested-fixture';

// kvm-unit-tests x86/vmx.h:647-656: EPT_VLT_RD 1, EPT_VLT_WR 2, EPT_VLT_PERM_RD 1<<3, EPT_VLT_LADDR_VLD 1<<7.
const RD = 0x1n;
const WR = 0x2n;
const PERM_RD = 0x8n;
const LADDR_VLD = 0x80n;

type Op = 'read' | 'write' | 'fetch';
const OPS: Op[] = ['read', 'write', 'fetch'];

/** L2's leaf table (the one holding the PTE for GVA), its EPT12 entry set to `epte` (low bits). */
function setup(ad: boolean, epte: bigint, pteAd: bigint) {
  const n = nested({ ad, accessed: true });
  const pte = n.l2pt.getEntry(GVA, 1);
  const ptGpa = BigInt(pte.gpa) & ~0xfffn;
  expect(BigInt(pte.gpa) & 0xfffn).toBe(0n); // the PTE is entry 0 of its table
  // Upper-level guest entries accessed, so that only the PTE's A/D can need a write.
  for (const level of [4, 3, 2]) {
    const e = n.l2pt.getEntry(GVA, level);
    n.l2pt.setEntry(GVA, level, e.value | 0x20n);
  }
  n.l2pt.setEntry(GVA, 1, (pte.value & ~0x60n) | pteAd);
  // The identity EPT12 mapping of the table page, with the given permissions (memory type WB).
  n.ept.setEntry(ptGpa, 1, epte === 0n ? 0n : ptGpa | epte | (6n << 3n));
  n.enter();
  return { n, ptGpa };
}

function violation(ad: boolean, epte: bigint, pteAd: bigint, op: Op) {
  const { n, ptGpa } = setup(ad, epte, pteAd);
  const r = n.v.access(GVA, { kind: op });
  expect(r.status).toBe('l1-exit');
  const e = r.nestedExit!;
  expect(e.kind).toBe('ept-violation');
  if (e.kind !== 'ept-violation') return 0n;
  expect(e.guestPhysicalAddress).toBe(ptGpa);
  expect(n.v.stats.get('nested_reflected')).toBe(1);
  return BigInt(e.qualification);
}

function allowed(ad: boolean, epte: bigint, pteAd: bigint, op: Op) {
  const { n } = setup(ad, epte, pteAd);
  const r = n.v.access(GVA, { kind: op });
  expect(r.status).toBe('ok');
  expect(n.v.stats.get('nested_reflected')).toBe(0);
  const pte = n.l2pt.getEntry(GVA, 1).value;
  expect(pte & 0x20n).toBe(0x20n); // vmx_tests.c:2683: the PTE is accessed
  if (op === 'write' || (pteAd & 0x40n) !== 0n) expect(pte & 0x40n).toBe(0x40n); // vmx_tests.c:2684-2685
}

describe('nested EPT: violations on L2 paging-structure accesses (kvm-unit-tests ept_access_test_paddr_*)', () => {
  it.each(OPS)('not present, EPT A/D on: %s exits to L1 with RD|WR (vmx_tests.c:3274, 3279-3282)', (op) => {
    expect(violation(true, 0n, 0x60n, op)).toBe(RD | WR | LADDR_VLD);
  });

  it.each(OPS)('not present, EPT A/D off: %s exits to L1 with RD (vmx_tests.c:3266-3269)', (op) => {
    expect(violation(false, 0n, 0x60n, op)).toBe(RD | LADDR_VLD);
  });

  it.each(OPS)('read-only, EPT A/D on: %s exits to L1 with RD|WR|PERM_RD whatever the PTE\'s A/D (vmx_tests.c:3315-3338)', (op) => {
    for (const pteAd of [0n, 0x20n, 0x60n]) expect(violation(true, 1n, pteAd, op)).toBe(WR | RD | PERM_RD | LADDR_VLD);
  });

  it.each(OPS)('read-only, EPT A/D off, PTE A=0: %s cannot set A and exits with RD|WR|PERM_RD (vmx_tests.c:3293, 3298-3302)', (op) => {
    expect(violation(false, 1n, 0n, op)).toBe(WR | RD | PERM_RD | LADDR_VLD);
  });

  it('read-only, EPT A/D off, PTE A=1: only a write (it sets D) exits (vmx_tests.c:3303-3307)', () => {
    allowed(false, 1n, 0x20n, 'read');
    expect(violation(false, 1n, 0x20n, 'write')).toBe(WR | RD | PERM_RD | LADDR_VLD);
    allowed(false, 1n, 0x20n, 'fetch');
  });

  it.each(OPS)('read-only, EPT A/D off, PTE A=D=1: %s is allowed (vmx_tests.c:3308-3312)', (op) => {
    allowed(false, 1n, 0x60n, op);
  });

  it.each(OPS)('read-write: %s is allowed (vmx_tests.c:3341-3348)', (op) => {
    allowed(false, 3n, 0n, op);
    allowed(true, 3n, 0n, op);
  });
});
