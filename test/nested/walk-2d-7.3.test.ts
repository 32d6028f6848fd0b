/**
 * Walk2D (the emulated 2D walk, `nested_mmu` + `kvm_translate_gpa`) over a KVM 7.3 EPT12 with MBEC:
 * the final nested access must pick XS or XU by the guest linear address, as the hardware does
 * (kvm-7x.md §1.1 "Choosing XS or XU"; kvm-unit-tests x86/vmx_tests.c:3088-3095: an R|XS leaf
 * lets OP_EXEC through and refuses OP_EXEC_USER with FETCH|PERM_RD|PERM_EX). v6.16 made every
 * nested access a user access; with MBEC that would check XU for a supervisor fetch.
 */
import { describe, expect, it } from 'vitest';
import { CR0, EPT_QUAL, PageTableBuilder, NgpaWalker, Walk2D, makeEptp, gpa, DEFAULT_EPT_CAPS } from '../../src';
import { DATA_G, DATA_N, MBEC_GVA_S, MBEC_GVA_U, NESTED_POOL, l1Mem, mbecTwoDSetup } from './support';

const GVA_S = MBEC_GVA_S, GVA_U = MBEC_GVA_U;

/** The walk faulted with an EPT violation FETCH|PERM_RD|PERM_EX in qualification bits 6:0 (vmx_tests.c:3093-3095). */
function expectFetchViolationRdEx(r: ReturnType<Walk2D['walk']>): void {
  expect(r.status).toBe('fault');
  const e = r.status === 'fault' && 'exit' in r ? (r as { exit: { kind: string; qualification?: number } }).exit : undefined;
  expect(e?.kind).toBe('ept-violation');
  expect((e?.qualification ?? 0) & 0x7f).toBe(EPT_QUAL.ACC_INSTR | EPT_QUAL.PROT_READ | EPT_QUAL.PROT_EXEC);
}

function setup(leaf: bigint) {
  return setupBoth(leaf).w2;
}

const setupBoth = mbecTwoDSetup;

describe("Walk2D over a KVM '7.3' EPT12 with MBEC", () => {
  it('R|XS leaf: a supervisor fetch (U=0 page) translates (vmx_tests.c:3091)', () => {
    const w2 = setup(1n | 4n);
    expect(w2.role.kvm).toBe('7.3');
    expect(w2.walk(GVA_S, { kind: 'fetch' }).status).toBe('ok');
  });
  it('R|XS leaf: a user fetch (U=1 page) is an EPT violation FETCH|PERM_RD|PERM_EX (vmx_tests.c:3093-3095)', () => {
    expectFetchViolationRdEx(setup(1n | 4n).walk(GVA_U, { kind: 'fetch', user: true }));
  });
  it('R|XU leaf: the supervisor fetch is refused, the user fetch translates (vmx_tests.c:3113-3116)', () => {
    expect(setup(1n | (1n << 10n)).walk(GVA_S, { kind: 'fetch' }).status).toBe('fault');
    expect(setup(1n | (1n << 10n)).walk(GVA_U, { kind: 'fetch', user: true }).status).toBe('ok');
  });
  it('an XU-only leaf is present under MBEC in the entries the 2D walk traces, as in the walk record (kvm-7x.md §1.1 "Presence")', () => {
    // vmx_tests.c:3113-3116 (XU row of kvm-7x.md §6.1): OP_EXEC_USER on an XU-only leaf is allowed,
    // so the leaf is present; lastEntries() (the 2D trace) must say so, like the walk record.
    const { w } = setupBoth(1n << 10n);
    const r = w.walk(DATA_N, { kind: 'fetch', user: true });
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    expect(r.trace[3]!.present).toBe(true);
    expect(w.lastEntries()).toEqual(r.trace);
  });
});

describe("Walk2D with L2 paging off over a KVM '7.3' EPT12 with MBEC: the address is user-mode, XU applies", () => {
  // SDM Vol. 3C Table 28-7 bit 9: "If CR0.PG = 0, the translation of every linear address is a
  // user-mode linear address" (ia32-doc/ia32-doc out/ia32.h:19383), so the hardware checks XU and
  // reports bit 9, which 7.3 KVM turns into PFERR_USER (kvm-7x.md §1.3). ASSUMPTION for KVM's own
  // emulated walk (src/nested/walk-2d.ts finalUser): nonpaging's final pte_access is ACC_ALL, so it
  // picks XU too. Expected values: the OP_EXEC_USER column of kvm-7x.md §6.1.
  function unpaged(leaf: bigint) {
    const mem = l1Mem();
    const b = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(NESTED_POOL), size: 0x100_0000n }, tableFlags: 0x407 });
    b.map(DATA_N, DATA_G);
    b.setEntry(DATA_N, 1, (b.getEntry(DATA_N, 1).value & ~0x407n) | leaf);
    const w = NgpaWalker.ept(mem, { eptp: makeEptp({ root: b.root, level: 4, adEnabled: false }), caps: DEFAULT_EPT_CAPS, kvm: '7.3', mbec: true });
    return new Walk2D(w, { regs: { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n } });
  }
  it('R|XS leaf: a CPL 0 fetch is an EPT violation FETCH|PERM_RD|PERM_EX (vmx_tests.c:3093-3095, OP_EXEC_USER)', () => {
    expectFetchViolationRdEx(unpaged(1n | 4n).walk(DATA_N, { kind: 'fetch' }));
  });
  it('R|XU leaf: a CPL 0 fetch translates (vmx_tests.c:3113-3116, OP_EXEC_USER ok)', () => {
    expect(unpaged(1n | (1n << 10n)).walk(DATA_N, { kind: 'fetch' }).status).toBe('ok');
  });
});
