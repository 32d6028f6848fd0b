/**
 * An EPT walk with MBEC (KVM '7.3') over tables set up as kvm-unit-tests' `[ept-mbec]` run does
 * (kvm-7x.md §6.1, lines 539-566): every non-leaf entry is EPT_PRESENT = R|W|X|XU, the tested
 * permission sits in the leaf. Each outcome is allowed, an EPT misconfiguration, or an EPT
 * violation whose qualification equals V(q) | LADDR_VLD | PADDR (bits 7, 8; bits 9-11 masked by
 * the test, and not modelled here). The mbec branch of kvm-unit-tests is not in the local mirror;
 * kvm-7x.md §6.1 is the source.
 */
import { describe, expect, it } from 'vitest';
import {
  EPT_QUAL, GuestMemory, PFERR, WalkScratch, WalkStop, eptFormat, eptViolationQualification73, gpa, walkTables, type PageFormat,
} from '../../src';

const RD = EPT_QUAL.ACC_READ, WR = EPT_QUAL.ACC_WRITE, F = EPT_QUAL.ACC_INSTR;
const pR = EPT_QUAL.PROT_READ, pW = EPT_QUAL.PROT_WRITE, pX = EPT_QUAL.PROT_EXEC, pU = EPT_QUAL.PROT_USER_EXEC;
const LADDR_PADDR = EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED;
const R = 1n, W = 2n, XS = 4n, XU = 1n << 10n;
const WB = 6n << 3n; // memory type in bits 5:3 of a leaf

type Out = 'ok' | 'misconfig' | number;
// kvm-7x.md §6.1 table, lines 553-566; † rows need exec-only (the model CPU has it).
const TABLE: [string, bigint, [Out, Out, Out, Out]][] = [
  ['none', 0n, [RD, WR, F, F]],
  ['R', R, ['ok', WR | pR, F | pR, F | pR]],
  ['RW', R | W, ['ok', 'ok', F | pR | pW, F | pR | pW]],
  ['XS', XS, [RD | pX, WR | pX, 'ok', F | pX]],
  ['XU', XU, [RD | pU, WR | pU, F | pU, 'ok']],
  ['XS|XU', XS | XU, [RD | pX | pU, WR | pX | pU, 'ok', 'ok']],
  ['R|XS', R | XS, ['ok', WR | pR | pX, 'ok', F | pR | pX]],
  ['R|XU', R | XU, ['ok', WR | pR | pU, F | pR | pU, 'ok']],
  ['R|XS|XU', R | XS | XU, ['ok', WR | pR | pX | pU, 'ok', 'ok']],
  ['RWXS', R | W | XS, ['ok', 'ok', 'ok', F | pR | pW | pX]],
  ['RW|XU', R | W | XU, ['ok', 'ok', F | pR | pW | pU, 'ok']],
  ['RW|XS|XU', R | W | XS | XU, ['ok', 'ok', 'ok', 'ok']],
  // line 550: W-only and WX are misconfigs in every case
  ['W', W, ['misconfig', 'misconfig', 'misconfig', 'misconfig']],
  ['WX', W | XS, ['misconfig', 'misconfig', 'misconfig', 'misconfig']],
];

const EPT_PRESENT = R | W | XS | XU; // line 539-540
const NONLEAF = [0x1000n, 0x2000n, 0x3000n, 0x4000n]; // PML4, PDPT, PD, PT
const PAGE = 0x5000n;

function setup(leafPerms: bigint): GuestMemory {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 0x10000n });
  for (let i = 0; i < 3; i++) mem.write64(gpa(NONLEAF[i]!), NONLEAF[i + 1]! | EPT_PRESENT);
  mem.write64(gpa(NONLEAF[3]!), PAGE | leafPerms | (leafPerms !== 0n ? WB : 0n));
  return mem;
}

// OP_READ/OP_WRITE: CPL 0 data accesses; OP_EXEC: CPL 0 fetch from a U=0 page (XS);
// OP_EXEC_USER: CPL 3 fetch from a U=1 page (XU). PFERR_USER = user-mode linear address (§1.3).
const OPS = [0, PFERR.WRITE, PFERR.FETCH, PFERR.FETCH | PFERR.USER];

function run(fmt: PageFormat, mem: GuestMemory, pfec: number): Out {
  const s = new WalkScratch();
  const stop = walkTables({ mem, format: fmt, rootGfn: 1, pdptrs: undefined, pdptBase: 0, pkru: 0, fetchSetsId: false }, s, 0, 0, pfec);
  if (stop === WalkStop.Ok) return 'ok';
  if (stop === WalkStop.Reserved) return 'misconfig';
  expect([WalkStop.NotPresent, WalkStop.Permission]).toContain(stop);
  return eptViolationQualification73(pfec, s.acc[s.level]!, 'final', fmt.mbec);
}

describe('EPT walk with MBEC reproduces the [ept-mbec] qualifications (kvm-7x.md §6.1)', () => {
  const fmt = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: false, execonly: true, hugePageLevel: 3, kvm: '7.3', mbec: true });
  for (const [name, perms, want] of TABLE) {
    it(`leaf ${name}: READ / WRITE / EXEC / EXEC_USER`, () => {
      const mem = setup(perms);
      const got = OPS.map((op) => run(fmt, mem, op));
      expect(got).toEqual(want.map((w) => (typeof w === 'number' ? w | LADDR_PADDR : w)));
    });
  }

  it('an XU-only leaf is present with MBEC and an execute-only misconfig without exec-only support (line 548; XU folded into X, §1.1)', () => {
    const noExecOnly = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: false, execonly: false, hugePageLevel: 3, kvm: '7.3', mbec: true });
    expect(run(noExecOnly, setup(XU), 0)).toBe('misconfig');
    expect(run(noExecOnly, setup(XS), 0)).toBe('misconfig');
    expect(run(noExecOnly, setup(R | XU), 0)).toBe('ok');
  });

  it('without MBEC: bit 10 alone is not present, EXEC_USER behaves as EXEC, bit 6 stays 0 (line 551)', () => {
    const plain = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: false, execonly: true, hugePageLevel: 3, kvm: '7.3' });
    const mem = setup(XU);
    expect(run(plain, mem, PFERR.FETCH | PFERR.USER)).toBe(F | LADDR_PADDR); // not present: no PROT bits
    const rx = setup(R | XS);
    expect(run(plain, rx, PFERR.FETCH | PFERR.USER)).toBe('ok');
    const ro = setup(R | XU);
    expect(run(plain, ro, PFERR.FETCH | PFERR.USER)).toBe(F | pR | LADDR_PADDR);
    expect(run(plain, ro, PFERR.FETCH)).toBe(F | pR | LADDR_PADDR);
  });
});
