/**
 * MBEC end to end through the Vm/vCPU API (KVM '7.3'): L1 enables mode-based execute control in
 * vmcs12 (secondary control bit 22), its EPT12 entries carry XS (bit 2) and XU (bit 10), guest_mmu
 * builds EPT02 SPTEs with XS/XU, and a violation reflected to L1 has the qualification the
 * kvm-unit-tests `[ept-mbec]` run expects (x86/vmx_tests.c, kvm-unit-tests HEAD in the local
 * mirror; kvm-7x.md §6.1). As there, EPT_PRESENT = R|W|X|XU on every non-leaf entry
 * (`__setup_ept`), the tested permissions sit in the leaf, OP_EXEC is a CPL 0 fetch from a U=0
 * page (XS applies) and OP_EXEC_USER a CPL 3 fetch from a U=1 page (XU applies), and the
 * qualification is compared with bits 9-11 masked, bit 6 included (`ept_access_violation`,
 * vmx_tests.c:2587-2591 adds LADDR_VLD | PADDR).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, makeEptp, DEFAULT_EPT_CAPS, CR0, CR4, EFER, EPT_QUAL, SECONDARY_EXEC_MODE_BASED_EPT_EXEC, type AccessResult, type KvmVersion } from '../../src';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const GVA_S = 0x40_0000n; // L2 supervisor page (U=0 leaf)
const GVA_U = 0x80_0000n; // L2 user page (U=1 on every level)
const DATA_N = 0x300_0000n;
const DATA_G = 0x500_0000n;
const R = 1n, W = 2n, XS = 4n, XU = 1n << 10n;
const RD = EPT_QUAL.ACC_READ, WR = EPT_QUAL.ACC_WRITE, F = EPT_QUAL.ACC_INSTR;
const pR = EPT_QUAL.PROT_READ, pW = EPT_QUAL.PROT_WRITE, pX = EPT_QUAL.PROT_EXEC, pU = EPT_QUAL.PROT_USER_EXEC;
type Op = 'READ' | 'WRITE' | 'EXEC' | 'EXEC_USER';

function setup(leaf: bigint, mbec: boolean, kvm?: KvmVersion) {
  const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true, ...(kvm === undefined ? {} : { kvm }) });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  // EPT_PRESENT = R|W|X|XU on non-leaf entries (__setup_ept under MBEC, kvm-7x.md §6.1).
  const ept = new PageTableBuilder(vm.guestMem, { mode: 'ept4', pool: { base: 0x20_0000n, size: 0x10_0000n }, tableFlags: 0x407 });
  const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
  ept.map(0x100_0000n, 0x100_0000n, { count: 16, flags: { userExec: true } });
  l2pt.map(GVA_S, DATA_N, { flags: { writable: true } });
  l2pt.map(GVA_U, DATA_N, { flags: { writable: true, user: true } });
  ept.map(DATA_N, DATA_G, { flags: { read: false, write: false, exec: false } });
  ept.setEntry(DATA_N, 1, (ept.getEntry(DATA_N, 1).value & ~0x407n) | leaf);
  const v = vm.createVcpu({ ...LONG, cr3: l1pt.root });
  v.enterNestedEpt({
    eptp: makeEptp({ root: ept.root, level: 4, adEnabled: false }),
    caps: { ...DEFAULT_EPT_CAPS, executeOnly: true }, // the † rows need EPT execute-only support
    l2: { ...LONG, cr3: l2pt.root },
    mbec,
  });
  return { vm, v, ept };
}

function run(leaf: bigint, op: Op, mbec = true, kvm?: KvmVersion): { r: AccessResult; n: ReturnType<typeof setup> } {
  const n = setup(leaf, mbec, kvm);
  const r = op === 'READ' ? n.v.read(GVA_S) : op === 'WRITE' ? n.v.write(GVA_S) : op === 'EXEC' ? n.v.fetch(GVA_S) : n.v.fetch(GVA_U, true);
  return { r, n };
}

/** 'ok', 'misconfig', or the qualification with bits 9-11 masked and LADDR_VLD|PADDR removed. */
function outcome(leaf: bigint, op: Op, mbec = true): 'ok' | 'misconfig' | number {
  const { r, n } = run(leaf, op, mbec);
  if (r.status === 'ok') {
    expect(n.v.stats.get('nested_reflected')).toBe(0);
    return 'ok';
  }
  expect(r.status).toBe('l1-exit');
  expect(n.v.stats.get('nested_reflected')).toBe(1);
  const e = r.nestedExit!;
  if (e.kind === 'ept-misconfig') return 'misconfig';
  expect(e.kind).toBe('ept-violation');
  if (e.kind !== 'ept-violation') return -1;
  expect(e.guestPhysicalAddress).toBe(DATA_N);
  const q = e.qualification & ~0xe00;
  expect(q & (EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED)).toBe(EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED);
  return q & ~(EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED);
}

// [leaf permissions, READ, WRITE, EXEC, EXEC_USER, vmx_tests.c lines]
const ROWS: [string, bigint, ...('ok' | 'misconfig' | number)[], string][] = [
  ['none', 0n, RD, WR, F, F, '2976-2979'],
  ['R', R, 'ok', WR | pR, F | pR, F | pR, '2987-2990'],
  ['W', W, 'misconfig', 'misconfig', 'misconfig', 'misconfig', '2997'],
  ['RW', R | W, 'ok', 'ok', F | pR | pW, F | pR | pW, '3004-3011'],
  ['XS', XS, RD | pX, WR | pX, 'ok', F | pX, '3020-3028'],
  ['XU', XU, RD | pU, WR | pU, F | pU, 'ok', '3046-3055'],
  ['XS|XU', XS | XU, RD | pX | pU, WR | pX | pU, 'ok', 'ok', '3071-3078'],
  ['R|XS', R | XS, 'ok', WR | pR | pX, 'ok', F | pR | pX, '3088-3095'],
  ['R|XU', R | XU, 'ok', WR | pR | pU, F | pR | pU, 'ok', '3109-3116'],
  ['R|XS|XU', R | XS | XU, 'ok', WR | pR | pX | pU, 'ok', 'ok', '3128-3133'],
  ['W|XS', W | XS, 'misconfig', 'misconfig', 'misconfig', 'misconfig', '3141'],
  ['RWXS', R | W | XS, 'ok', 'ok', 'ok', F | pR | pW | pX, '3148-3154'],
  ['RW|XU', R | W | XU, 'ok', 'ok', F | pR | pW | pU, 'ok', '3168-3172'],
  ['RW|XS|XU', R | W | XS | XU, 'ok', 'ok', 'ok', 'ok', '3184-3187'],
];
const OPS: Op[] = ['READ', 'WRITE', 'EXEC', 'EXEC_USER'];

describe("nested EPT with MBEC, KVM '7.3': kvm-unit-tests [ept-mbec] ept_access_test_* through the vCPU", () => {
  for (const [name, leaf, ...rest] of ROWS) {
    const lines = rest.at(-1) as string;
    it(`${name}: vmx_tests.c:${lines}`, () => {
      const got = OPS.map((op) => outcome(leaf, op));
      expect(got).toEqual(rest.slice(0, 4));
    });
  }

  it('the EPT02 leaf guest_mmu builds carries XS and XU as EPT12 grants them (make_spte, kvm-7x.md §1.6)', () => {
    const { r, n } = run(R | XU, 'EXEC_USER');
    expect(r.status).toBe('ok');
    const { vm, ept } = n;
    const table = vm.shadow.find(Number(BigInt(ept.getEntry(DATA_N, 1).gpa) >> 12n))[0]!;
    const spte = vm.shadow.readSpte(table, Number((DATA_N >> 12n) & 511n));
    expect(spte & (XS | XU | R)).toBe(XU | R);
    // The shadow EPT role keys MBEC: base.cr4_smep (bit 20) set (kvm-7x.md §3.1, §3.3).
    expect(table.role.cr4Smep).toBe(true);
    expect(n.v.guestMmu!.rootRole.cr4Smep).toBe(true);
  });

  it('MBEC is vmcs12 secondary control bit 22 (kvm-unit-tests x86/vmx.h CPU_MODE_BASED_EPT_EXEC)', () => {
    expect(SECONDARY_EXEC_MODE_BASED_EPT_EXEC).toBe(0x40_0000);
  });
});

describe('nested EPT without MBEC: OP_EXEC_USER behaves exactly like OP_EXEC (vmx_tests.c:3029-3030, 3096-3097, 3155-3156)', () => {
  for (const [name, leaf] of ROWS) {
    if ((leaf & XU) !== 0n) continue; // the XU rows are MBEC-only (report_skip)
    it(name, () => {
      expect(outcome(leaf, 'EXEC_USER', false)).toEqual(outcome(leaf, 'EXEC', false));
    });
  }
  it("MBEC exists only in the KVM '7.3' model: a '6.16' VM refuses it (typed error, vCPU unchanged)", () => {
    expect(() => setup(R | XS, true, '6.16')).toThrow(/MBEC exists only/);
  });
});

describe('EPT violation reflected to L1: qualification bits 11:9 come from the real exit (KVM 7.3)', () => {
  // a0efd8cb221f "nVMX: pass advanced EPT violation vmexit info to guest" and the 7.3 walker comment
  // (kvm-7x.md §1.2): L1's qualification takes [11:9] from the hardware exit, whose bits say the L2
  // linear address is user-mode (9), writable (10), execute-disable (11) — x86/vmx.h:658-660
  // EPT_VLT_GUEST_USER/RW/NX. The [ept-mbec] run masks them (vmx_tests.c:2529), so the expected
  // bits follow the L2 PTEs of setup(): GVA_S writable supervisor, GVA_U writable user, both
  // executable.
  const bits = (r: AccessResult): number => {
    const e = r.nestedExit!;
    return e.kind === 'ept-violation' ? e.qualification & 0xe00 : -1;
  };
  it('supervisor write to an R leaf: GVA_RW only (vmx_tests.c:2987-2990 row, WRITE)', () => {
    const { r } = run(R, 'WRITE');
    expect(r.status).toBe('l1-exit');
    expect(bits(r)).toBe(EPT_QUAL.GVA_WRITABLE);
  });
  it('user fetch from an R|XS leaf: GVA_USER|GVA_RW (vmx_tests.c:3093-3095 row, EXEC_USER)', () => {
    const { r } = run(R | XS, 'EXEC_USER');
    expect(r.status).toBe('l1-exit');
    expect(bits(r)).toBe(EPT_QUAL.GVA_USER | EPT_QUAL.GVA_WRITABLE);
    // and the exit L0 took on EPT02 carried the same bits (the hardware's report, SDM via §1.2)
    expect(Number(r.exits[r.exits.length - 1]!.info) & 0xe00).toBe(EPT_QUAL.GVA_USER | EPT_QUAL.GVA_WRITABLE);
  });
  it("v6.16 passes none of them to L1 (a0efd8cb221f is 7.2)", () => {
    const { r } = run(R, 'WRITE', false, '6.16');
    expect(r.status).toBe('l1-exit');
    expect(bits(r)).toBe(0);
  });
});

describe('L2 with paging off (CR0.PG = 0) under MBEC: every linear address is user-mode, so XU governs fetches (KVM 7.3)', () => {
  // SDM Vol. 3C Table 28-7 bit 9: "If CR0.PG = 0, the translation of every linear address is a
  // user-mode linear address" (ia32-doc/ia32-doc out/ia32.h:19383); bit 10: read/write (:19396);
  // bit 11: executable (:19409). Under MBEC the CPU picks XU for user-mode linear addresses
  // (kvm-7x.md §1.1), and 7.3 KVM turns bit 9 into PFERR_USER (§1.3), so its EPT12 walk checks XU
  // too. The expected qualification is then the [ept-mbec] OP_EXEC_USER column of the leaf's row
  // (kvm-7x.md §6.1; vmx_tests.c lines as in ROWS), with bits 9 and 10 set.
  const PAGING_OFF = { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n };
  function fetchUnpaged(leaf: bigint): AccessResult {
    const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
    const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const ept = new PageTableBuilder(vm.guestMem, { mode: 'ept4', pool: { base: 0x20_0000n, size: 0x10_0000n }, tableFlags: 0x407 });
    ept.map(DATA_N, DATA_G, { flags: { read: false, write: false, exec: false } });
    ept.setEntry(DATA_N, 1, (ept.getEntry(DATA_N, 1).value & ~0x407n) | leaf);
    const v = vm.createVcpu({ ...LONG, cr3: l1pt.root });
    v.enterNestedEpt({ eptp: makeEptp({ root: ept.root, level: 4, adEnabled: false }), caps: { ...DEFAULT_EPT_CAPS, executeOnly: true }, l2: PAGING_OFF, mbec: true });
    return v.fetch(DATA_N);
  }
  const LADDR_PADDR = EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED;
  const USER_RW = EPT_QUAL.GVA_USER | EPT_QUAL.GVA_WRITABLE;
  const qual = (r: AccessResult): number => {
    expect(r.status).toBe('l1-exit');
    const e = r.nestedExit!;
    return e.kind === 'ept-violation' ? e.qualification : -1;
  };
  it('R|XS leaf: a CPL 0 fetch faults on XU — V(F|pR|pX) (vmx_tests.c:3088-3095, OP_EXEC_USER) plus GVA_USER|GVA_RW', () => {
    expect(qual(fetchUnpaged(R | XS))).toBe(F | pR | pX | LADDR_PADDR | USER_RW);
  });
  it('R|XU leaf: a CPL 0 fetch runs (vmx_tests.c:3109-3116, OP_EXEC_USER ok)', () => {
    expect(fetchUnpaged(R | XU).status).toBe('ok');
  });
  it('RWXS leaf: V(F|pR|pW|pX) (vmx_tests.c:3148-3154, OP_EXEC_USER) plus GVA_USER|GVA_RW', () => {
    expect(qual(fetchUnpaged(R | W | XS))).toBe(F | pR | pW | pX | LADDR_PADDR | USER_RW);
  });
});
