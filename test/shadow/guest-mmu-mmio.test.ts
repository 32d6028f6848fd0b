/**
 * Nested EPT: a cached MMIO SPTE in EPT02 never bypasses EPT12's permissions
 * (src/shadow/guest-mmu.ts). An EPT misconfiguration on the MMIO SPTE is emulated
 * (`mmu.c: handle_mmio_page_fault`, mmu.c:4344-4356), and the emulator translates L2's access
 * through EPT12 (x86.c:7899 `gva_to_gpa` of nested_mmu → guest_mmu's EPT walk): the MMIO cache
 * never matches while nested (x86.h:327 `mmio_gva = 0`), so EPT12 is always checked, and a
 * violation is an EPT violation for L1.
 */
import { describe, expect, it } from 'vitest';
import { EPT_QUAL } from '../../src';
import { nested, GVA } from './nested-fixture';
import { nestedNpt } from './nested-npt-fixture';

const MMIO_N = 0x380_0000n; // L2's nGPA of the device
const MMIO_G = 0x4000_0000n; // its L1 GPA: above the 1 GiB slot, no memslot → MMIO SPTE in EPT02
const VA = GVA + 0x10_0000n;

function withDevice(write: boolean) {
  const n = nested({ ad: true, accessed: true });
  n.ept.map(MMIO_N, MMIO_G, { flags: { read: true, write, exec: false, accessed: true, dirty: true } });
  n.l2pt.map(VA, MMIO_N, { flags: { writable: true, accessed: true, dirty: true } });
  n.enter();
  const first = n.v.read(VA);
  expect(first.status).toBe('emulated');
  const again = n.v.read(VA);
  expect(again.exits.at(-1)!.kind).toBe('ept_misconfig'); // the cached MMIO SPTE
  expect(again.status).toBe('emulated');
  return n;
}

/** A write to the device (read-only in EPT12) takes an EPT misconfiguration and ends as an EPT violation for L1. */
function writeIsViolation(n: ReturnType<typeof withDevice>): void {
  const r = n.v.write(VA);
  expect(r.exits.at(-1)!.kind).toBe('ept_misconfig');
  expect(r.status).toBe('l1-exit');
  expect(r.nestedExit!.kind).toBe('ept-violation');
  if (r.nestedExit!.kind !== 'ept-violation') return;
  expect(r.nestedExit!.guestPhysicalAddress).toBe(MMIO_N);
  const q = Number(r.nestedExit!.qualification);
  expect(q & EPT_QUAL.ACC_WRITE).toBe(EPT_QUAL.ACC_WRITE); // paging_tmpl.h:502-503
  // paging_tmpl.h:513 EPT_VIOLATION_RWX_TO_PROT(pte_access): the EPTE is R only.
  expect(q & (EPT_QUAL.PROT_READ | EPT_QUAL.PROT_WRITE | EPT_QUAL.PROT_EXEC)).toBe(EPT_QUAL.PROT_READ);
  expect(n.v.stats.get('nested_reflected')).toBe(1);
}

describe('nested EPT: a cached MMIO SPTE and EPT12 permissions', () => {
  it('a write through a read-only EPT12 entry is an EPT violation for L1, not an emulation', () => {
    const n = withDevice(false);
    writeIsViolation(n);
  });

  it('a stale MMIO SPTE (memslots changed since) takes the slow path and still ends in an EPT violation for L1', () => {
    // Found by the fuzzer (nested-ept, seed 1001). handle_ept_misconfig passes PFERR_RSVD_MASK
    // alone (vmx.c:5803); handle_mmio_page_fault finds the generation stale and returns
    // RET_PF_INVALID (mmu.c:4348-4349), so FNAME(page_fault) walks EPT12 with no access bits (a
    // read), makes a new MMIO SPTE and emulates; the emulator then translates the real access
    // through EPT12 (x86.c:7899) and the write is refused: an EPT violation for L1.
    const n = withDevice(false);
    n.vm.addMemslot({ base: 0x8000_0000n, size: 0x1000n, name: 'unrelated' }); // a new memslot generation
    writeIsViolation(n);
  });

  it('a write through a writable EPT12 entry is emulated', () => {
    const n = withDevice(true);
    const r = n.v.write(VA);
    expect(r.exits.at(-1)!.kind).toBe('ept_misconfig');
    expect(r.status).toBe('emulated');
    expect(n.v.stats.get('nested_reflected')).toBe(0);
  });
});

describe('nested NPT: a cached MMIO SPTE and NPT12 permissions', () => {
  function withDevice(writable: boolean) {
    const n = nestedNpt();
    n.npt.map(MMIO_N, MMIO_G, { flags: { writable, user: true, accessed: true, dirty: true } });
    n.l2pt.map(VA, MMIO_N, { flags: { writable: true, accessed: true, dirty: true } });
    n.enter();
    expect(n.v.read(VA).status).toBe('emulated');
    const again = n.v.read(VA);
    expect(again.status).toBe('emulated');
    return n;
  }

  it('a write through a read-only NPT12 entry is an NPF for L1, not an emulation', () => {
    const n = withDevice(false);
    const r = n.v.write(VA);
    expect(r.status).toBe('l1-exit');
    expect(r.nestedExit?.kind).toBe('npf');
    if (r.nestedExit?.kind !== 'npf') return;
    // svm/nested.c:49-54 nested_svm_inject_npf_exit: bit 32 (final translation) | the NPT12 walk's
    // error code P|W|U (paging_tmpl.h:436, :477); EXITINFO2 = the nGPA.
    expect(r.nestedExit.exitInfo1).toBe(2 ** 32 + 7);
    expect(r.nestedExit.exitInfo2).toBe(MMIO_N);
  });

  it('a write through a writable NPT12 entry is emulated', () => {
    const n = withDevice(true);
    expect(n.v.write(VA).status).toBe('emulated');
  });
});

describe('nested EPT: an L2 fetch from MMIO through an execute-only EPT12 entry', () => {
  function execOnly(kvm: '7.3' | '6.16') {
    const n = nested({ ad: true, accessed: true, kvm });
    n.ept.map(MMIO_N, MMIO_G, { flags: { read: false, write: false, exec: true } });
    n.l2pt.map(VA, MMIO_N, { flags: { writable: true, accessed: true, dirty: true } });
    n.enter();
    return n;
  }

  /** EPT violation for L1 at the device's nGPA; returns bits 5:0 of its qualification. */
  function violation(r: ReturnType<ReturnType<typeof nested>['v']['fetch']>): number {
    expect(r.status).toBe('l1-exit');
    expect(r.nestedExit!.kind).toBe('ept-violation');
    if (r.nestedExit!.kind !== 'ept-violation') return -1;
    expect(r.nestedExit!.guestPhysicalAddress).toBe(MMIO_N);
    return Number(r.nestedExit!.qualification) & 0x3f;
  }

  it('7.3: emulated while the MMIO SPTE is current; after a memslot update, an EPT violation reporting a read', () => {
    const n = execOnly('7.3');
    // EPT violation with ACC_INSTR: error code PFERR_FETCH (kvm-7x.md §1.3), which X allows;
    // no memslot → MMIO SPTE and emulation; then the cached SPTE emulates (mmu.c:4344-4356).
    expect(n.v.fetch(VA).status).toBe('emulated');
    expect(n.v.fetch(VA).status).toBe('emulated');
    n.vm.addMemslot({ base: 0x8000_0000n, size: 0x1000n, name: 'unrelated' }); // a new generation (kvm_main.c:1664)
    const r = n.v.fetch(VA);
    expect(r.exits.at(-1)!.kind).toBe('ept_misconfig');
    // vmx.c:5803 PFERR_RSVD_MASK alone; mmu.c:4348-4349 stale → RET_PF_INVALID; mmu.c:6276;
    // paging_tmpl.h:777-778 walks EPT12 with error code 0, a read in 7.3 (kvm-7x.md §1.3 item 1,
    // §1.5; INFERRED there), which R = 0 refuses. Qualification [2:0] from that access:
    // ACC_READ only (paging_tmpl.h:500-507); [5:3] the EPT12 RWX, X only (paging_tmpl.h:513).
    expect(violation(r)).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.PROT_EXEC);
  });

  it('6.16: the emulator\'s fetch walks EPT12 as "user" (readable), so even the first fetch is an EPT violation', () => {
    const n = execOnly('6.16');
    // The fault's walk (PFERR_FETCH) passes and makes the MMIO SPTE; the emulator's instruction
    // fetch (x86.c:7722 kvm_fetch_guest_virt → paging_tmpl.h:448 kvm_translate_gpa) goes through
    // translate_nested_gpa, which adds PFERR_USER_MASK (x86.c:7643); for EPT that requires R
    // (mmu.c:5394 uf), which the entry lacks; the fault is injected into L1 (x86.c:9248).
    // Qualification: ACC_READ for the user bit, ACC_INSTR for the fetch (paging_tmpl.h:502-507),
    // PROT_EXEC from the entry (paging_tmpl.h:513).
    const first = n.v.fetch(VA);
    expect(first.exits[0]!.kind).toBe('ept_violation');
    expect(violation(first)).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.ACC_INSTR | EPT_QUAL.PROT_EXEC);
    // L1 resumes L2: the MMIO SPTE is cached (misconfiguration, mmu.c:4344-4356), and the
    // emulator's fetch is refused the same way.
    n.enter();
    const again = n.v.fetch(VA);
    expect(again.exits.at(-1)!.kind).toBe('ept_misconfig');
    expect(violation(again)).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.ACC_INSTR | EPT_QUAL.PROT_EXEC);
    // A stale SPTE: the slow path's walk with error code 0 checks nothing in 6.16 (mmu.c:5394-5396:
    // uf, wf, ff all need a PFERR bit), then the emulator refuses as before.
    n.vm.addMemslot({ base: 0x8000_0000n, size: 0x1000n, name: 'unrelated' });
    n.enter();
    const stale = n.v.fetch(VA);
    expect(stale.exits.at(-1)!.kind).toBe('ept_misconfig');
    expect(violation(stale)).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.ACC_INSTR | EPT_QUAL.PROT_EXEC);
    expect(n.v.stats.get('nested_reflected')).toBe(3);
  });

  it('6.16: a fetch through a readable and executable EPT12 entry is emulated', () => {
    const n = nested({ ad: true, accessed: true, kvm: '6.16' });
    n.ept.map(MMIO_N, MMIO_G, { flags: { read: true, write: false, exec: true } });
    n.l2pt.map(VA, MMIO_N, { flags: { writable: true, accessed: true, dirty: true } });
    n.enter();
    expect(n.v.fetch(VA).status).toBe('emulated'); // x86.c:7643 U → R, present; X → fetch allowed
    expect(n.v.fetch(VA).status).toBe('emulated');
  });
});
