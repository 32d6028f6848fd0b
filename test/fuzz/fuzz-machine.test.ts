/**
 * The fuzzer's reference model on nested EPT, where KVM's outcome depends on EPT02 state the model
 * cannot see: an L2 fetch from an MMIO nGPA that EPT12 maps execute-only. The disagreement first
 * seen at `--config nested-ept --seed 13`, op 30537.
 */
import { describe, expect, it } from 'vitest';
import { fuzzConfig } from '../../src/fuzz/fuzz-config';
import { FuzzMachine } from '../../src/fuzz/fuzz-machine';
import { VA_A, windowBase } from '../../src/fuzz/fuzz-ops';
import { EPT_QUAL } from '../../src';

/** Window 3 has no memslot at the start (d0..d2 hold windows 0..2): MMIO for L2. */
const NGFN = windowBase(3) / 4096;
const VA = BigInt(VA_A);
const fetch = { t: 'access', va: VA, kind: 'x', user: false } as const;

/** L2's page 0 of region A → NGFN; EPT12 maps NGFN execute-only (RWX = 100b); two fetches emulate. */
function execOnlyMmio(): FuzzMachine {
  const m = new FuzzMachine(fuzzConfig('nested-ept'), 2);
  expect(m.vm.config.kvm).toBe('7.3');
  expect(m.ref.slotOf(NGFN)).toBeUndefined();
  expect(m.apply({ t: 'pte', space: 0, va: VA, level: 1, value: (BigInt(NGFN) << 12n) | 0x67n })).toBeUndefined();
  expect(m.apply({ t: 'stage2', ngfn: NGFN, bits: 4 })).toBeUndefined();
  // First fetch: EPT violation with ACC_INSTR → error code with PFERR_FETCH, which X allows; no
  // memslot → an MMIO SPTE and emulation (mmu.c: kvm_handle_noslot_fault). Second: the cached
  // MMIO SPTE, current generation → RET_PF_EMULATE (mmu.c:4344-4356).
  expect(m.apply(fetch)).toBeUndefined();
  expect(m.apply(fetch)).toBeUndefined();
  expect(m.outcomes['x:mmio']).toBe(2);
  return m;
}

describe('fuzz reference, nested EPT: a fetch from MMIO through an execute-only EPT12 entry', () => {
  it('after a memslot update the stale MMIO SPTE sends the fetch to L1 as a read violation, which the model accepts', () => {
    const m = execOnlyMmio();
    // A dirty-logging flag change is a memslot update: a new generation (kvm_main.c:1664).
    expect(m.apply({ t: 'dirty-log', slot: 'd0', on: true })).toBeUndefined();
    const real = m.vcpu.access.bind(m.vcpu);
    let seen: ReturnType<typeof real> | undefined;
    m.vcpu.access = (a, acc) => (seen = real(a, acc));
    expect(m.apply(fetch)).toBeUndefined();
    // vmx.c:5803 PFERR_RSVD_MASK only → mmu.c:4348-4349 stale → mmu.c:6276 → paging_tmpl.h:777-778
    // walk with error code 0: a read in 7.3 (kvm-7x.md §1.3, §1.5; INFERRED), refused by R = 0.
    expect(seen!.status).toBe('l1-exit');
    expect(seen!.exits.at(-1)!.kind).toBe('ept_misconfig');
    expect(seen!.nestedExit!.kind).toBe('ept-violation');
    if (seen!.nestedExit!.kind !== 'ept-violation') return;
    const q = Number(seen!.nestedExit!.qualification);
    // The read is the only access KVM knows of (no exit qualification on a misconfig): ACC_READ,
    // no ACC_INSTR (paging_tmpl.h:500-507 derives [2:0] from the walk's access; kvm-7x.md §1.2).
    expect(q & (EPT_QUAL.ACC_READ | EPT_QUAL.ACC_WRITE | EPT_QUAL.ACC_INSTR)).toBe(EPT_QUAL.ACC_READ);
    // paging_tmpl.h:513 EPT_VIOLATION_RWX_TO_PROT: the EPT12 entries allow X only.
    expect(q & (EPT_QUAL.PROT_READ | EPT_QUAL.PROT_WRITE | EPT_QUAL.PROT_EXEC)).toBe(EPT_QUAL.PROT_EXEC);
    expect(m.outcomes['mmio-stale-spte-read-walk']).toBe(1);
    // L1 resumes L2. The walk's fault changed nothing in EPT02: kvm_inject_emulated_page_fault
    // (x86.c:983-986) → kvm_mmu_invalidate_addr syncs only unsync shadow pages (mmu.c:6351-6352),
    // so the stale MMIO SPTE stays and the same fetch goes to L1 again.
    m.vcpu.access = real;
    expect(m.apply(fetch)).toBeUndefined();
    expect(m.outcomes['mmio-stale-spte-read-walk']).toBe(2);
    // L1's INVEPT frees guest_mmu's roots (the stage2 op re-stores the entry and invalidates):
    // with no EPT02 SPTE the fetch is an EPT violation carrying the fetch, and is emulated again.
    expect(m.apply({ t: 'stage2', ngfn: NGFN, bits: 4 })).toBeUndefined();
    expect(m.apply(fetch)).toBeUndefined();
    expect(m.outcomes['x:mmio']).toBe(3);
  });

  it('without a memslot update since the last emulation, an L1 exit is still a violation', () => {
    const m = execOnlyMmio();
    const real = m.vcpu.access.bind(m.vcpu);
    m.vcpu.access = (a, acc) => {
      const r = real(a, acc);
      return { ...r, status: 'l1-exit', nestedExit: { kind: 'ept-violation', guestPhysicalAddress: BigInt(NGFN) * 4096n, qualification: 0x1a1n } } as unknown as typeof r; // a planted deviation
    };
    expect(m.apply(fetch)).toMatch(/engine \{"kind":"l1-exit","ngfn":2048,"misconfig":false\}.*, reference \{"kind":"mmio"/);
  });

  it('a readable EPT12 entry leaves no room for the exit: the slow path reads, then emulates', () => {
    const m = execOnlyMmio();
    expect(m.apply({ t: 'stage2', ngfn: NGFN, bits: 5 })).toBeUndefined(); // R|X
    expect(m.apply(fetch)).toBeUndefined();
    expect(m.apply({ t: 'dirty-log', slot: 'd0', on: true })).toBeUndefined();
    expect(m.apply(fetch)).toBeUndefined();
    expect(m.outcomes['x:mmio']).toBe(4);
    expect(m.outcomes['mmio-stale-spte-read-walk']).toBeUndefined();
  });
});
