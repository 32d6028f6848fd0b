/**
 * One test per invalidating instruction and type, against the rules of the Intel SDM
 * (Vol. 3A §4.10.4.1 "Operations that Invalidate TLBs and Paging-Structure Caches", §4.10.2.4
 * global pages; Vol. 3C §28.3.3.1 for VMX: VPIDs, EP4TA-tagged combined and guest-physical
 * mappings; Vol. 2A INVPCID and Vol. 3C INVVPID/INVEPT for the #GP / VMfail cases).
 */
import { describe, expect, it } from 'vitest';
import { Tlb, InvalidArgumentError, CR4, type TlbTag } from '../../src';

const big = { entries: 64, ways: 64 };
const mk = () => new Tlb({ dtlb4k: big, dtlb2m: big, dtlb1g: big, itlb4k: big, itlb2m: big, stlb: big, stlb1g: big, pdeCache: big, pdpteCache: big, pml4eCache: big, nestedTlb: big, nestedPdeCache: big });
const T = (vpid: number, pcid: number, eptp = -1): TlbTag => ({ vpid, pcid, eptp });
const fill = (tlb: Tlb, t: TlbTag, vpn: number, global = false, size: 0 | 1 | 2 = 0) =>
  tlb.fill({ ...t, vpn, size, global, hostFrame: vpn, guestFrame: vpn, acc: 7, pkey: 0, tdpAcc: 7 }, false);
const has = (tlb: Tlb, t: TlbTag, vpn: number) => tlb.lookup(t, vpn, false) !== undefined;
const psc = (tlb: Tlb, t: TlbTag, vpn: number) => tlb.pscLookup(t, vpn, 4) <= 4;
const VA = (vpn: number) => BigInt(vpn) << 12n;

describe('INVLPG (SDM Vol. 3A §4.10.4.1)', () => {
  it('drops the page in the current PCID, its global entry, and every PSC entry of the current PCID; keeps other PCIDs and pages', () => {
    const tlb = mk();
    const cur = T(1, 5);
    fill(tlb, cur, 100);
    fill(tlb, T(1, 6), 100); // other PCID, same page
    fill(tlb, T(1, 7), 200, true); // global entry: usable from PCID 5 too (§4.10.2.4)
    fill(tlb, cur, 101);
    tlb.pscFill(cur, 100, 2);
    tlb.pscFill(cur, 5000_000, 3); // another address: still dropped
    tlb.pscFill(T(1, 6), 100, 2);
    tlb.invlpg(cur, VA(100));
    tlb.invlpg(cur, VA(200));
    expect(has(tlb, cur, 100)).toBe(false);
    expect(has(tlb, cur, 200)).toBe(false); // the global entry is invalidated too
    expect(has(tlb, T(1, 6), 100)).toBe(true);
    expect(has(tlb, cur, 101)).toBe(true);
    expect(psc(tlb, cur, 100)).toBe(false);
    expect(psc(tlb, cur, 5000_000)).toBe(false);
    expect(psc(tlb, T(1, 6), 100)).toBe(true);
  });

  it('a 2 MiB entry is dropped by INVLPG of any address inside it', () => {
    const tlb = mk();
    fill(tlb, T(1, 0), 512 * 3, false, 1);
    expect(has(tlb, T(1, 0), 512 * 3 + 77)).toBe(true);
    tlb.invlpg(T(1, 0), VA(512 * 3 + 300));
    expect(has(tlb, T(1, 0), 512 * 3)).toBe(false);
  });

  it('acts on the current VPID only (Vol. 3C §28.3.3.1)', () => {
    const tlb = mk();
    fill(tlb, T(2, 0), 9);
    tlb.invlpg(T(1, 0), VA(9));
    expect(has(tlb, T(2, 0), 9)).toBe(true);
    expect(tlb.stats.get('invalidations')).toBe(1);
  });
});

describe('INVPCID (SDM Vol. 2A INVPCID; Vol. 3A §4.10.4.1)', () => {
  const setup = () => {
    const tlb = mk();
    fill(tlb, T(1, 3), 10);
    fill(tlb, T(1, 3), 11);
    fill(tlb, T(1, 3), 12, true);
    fill(tlb, T(1, 4), 10);
    tlb.pscFill(T(1, 3), 10, 2);
    tlb.pscFill(T(1, 4), 10, 2);
    return tlb;
  };
  it('type 0 (individual address): that PCID and page only, globals kept; PSC entries of the PCID dropped', () => {
    const tlb = setup();
    tlb.invpcid(T(1, 0), 0, 3, VA(10), true);
    expect(has(tlb, T(1, 3), 10)).toBe(false);
    expect(has(tlb, T(1, 3), 11)).toBe(true);
    expect(has(tlb, T(1, 4), 10)).toBe(true);
    tlb.invpcid(T(1, 0), 0, 3, VA(12), true);
    expect(has(tlb, T(1, 3), 12)).toBe(true); // global translation kept
    expect(psc(tlb, T(1, 3), 10)).toBe(false);
    expect(psc(tlb, T(1, 4), 10)).toBe(true);
  });
  it('type 1 (single context): every non-global entry of the PCID', () => {
    const tlb = setup();
    tlb.invpcid(T(1, 0), 1, 3, 0n, true);
    expect([has(tlb, T(1, 3), 10), has(tlb, T(1, 3), 11), has(tlb, T(1, 3), 12), has(tlb, T(1, 4), 10)]).toEqual([false, false, true, true]);
    expect(psc(tlb, T(1, 3), 10)).toBe(false);
    expect(psc(tlb, T(1, 4), 10)).toBe(true);
  });
  it('type 2 (all contexts, globals included): everything', () => {
    const tlb = setup();
    tlb.invpcid(T(1, 0), 2, 0, 0n, true);
    expect([has(tlb, T(1, 3), 10), has(tlb, T(1, 3), 12), has(tlb, T(1, 4), 10), psc(tlb, T(1, 4), 10)]).toEqual([false, false, false, false]);
  });
  it('type 3 (all contexts except globals): only the global entry survives', () => {
    const tlb = setup();
    tlb.invpcid(T(1, 0), 3, 0, 0n, true);
    expect([has(tlb, T(1, 3), 10), has(tlb, T(1, 3), 11), has(tlb, T(1, 3), 12), has(tlb, T(1, 4), 10)]).toEqual([false, false, true, false]);
    expect(psc(tlb, T(1, 4), 10)).toBe(false);
  });
  it('#GP: type > 3, PCID > 4095, PCID ≠ 0 for type 0/1 with CR4.PCIDE=0 — and nothing changes', () => {
    const tlb = setup();
    expect(() => tlb.invpcid(T(1, 0), 4, 0, 0n, true)).toThrow(InvalidArgumentError);
    expect(() => tlb.invpcid(T(1, 0), 1, 4096, 0n, true)).toThrow(/bits 63:12/);
    expect(() => tlb.invpcid(T(1, 0), 1, 3, 0n, false)).toThrow(/PCIDE=0/);
    expect(tlb.stats.get('invalidations')).toBe(0);
    expect(has(tlb, T(1, 3), 10)).toBe(true);
  });
});

describe('MOV to CR3 (SDM Vol. 3A §4.10.4.1)', () => {
  it('CR4.PCIDE=0: non-global entries of PCID 000H and its PSC entries; globals kept', () => {
    const tlb = mk();
    fill(tlb, T(1, 0), 1);
    fill(tlb, T(1, 0), 2, true);
    tlb.pscFill(T(1, 0), 1, 2);
    tlb.movCr3(T(1, 0), false, 0, false);
    expect([has(tlb, T(1, 0), 1), has(tlb, T(1, 0), 2), psc(tlb, T(1, 0), 1)]).toEqual([false, true, false]);
  });
  it('CR4.PCIDE=1, bit 63 clear: the new PCID\'s non-global entries; other PCIDs kept', () => {
    const tlb = mk();
    fill(tlb, T(1, 8), 1);
    fill(tlb, T(1, 9), 1);
    tlb.movCr3(T(1, 9), true, 8, false);
    expect([has(tlb, T(1, 8), 1), has(tlb, T(1, 9), 1)]).toEqual([false, true]);
  });
  it('CR4.PCIDE=1, bit 63 set: nothing is invalidated', () => {
    const tlb = mk();
    fill(tlb, T(1, 8), 1);
    tlb.pscFill(T(1, 8), 1, 2);
    expect(tlb.movCr3(T(1, 9), true, 8, true)).toBe(0);
    expect([has(tlb, T(1, 8), 1), psc(tlb, T(1, 8), 1)]).toEqual([true, true]);
  });
});

describe('MOV to CR4 and CR0 (SDM Vol. 3A §4.10.4.1)', () => {
  const bits = { pge: CR4.PGE, pcide: CR4.PCIDE, pae: CR4.PAE, smep: CR4.SMEP };
  const setup = () => {
    const tlb = mk();
    fill(tlb, T(1, 1), 1, true);
    fill(tlb, T(1, 2), 2);
    tlb.pscFill(T(1, 2), 2, 2);
    return tlb;
  };
  const left = (tlb: Tlb) => [has(tlb, T(1, 1), 1), has(tlb, T(1, 2), 2), psc(tlb, T(1, 2), 2)];
  it('toggling PGE (either way) invalidates everything, globals included', () => {
    for (const [o, n] of [[CR4.PGE, 0n], [0n, CR4.PGE]] as const) {
      const tlb = setup();
      tlb.movCr4(T(1, 1), o | CR4.PAE, n | CR4.PAE, bits);
      expect(left(tlb)).toEqual([false, false, false]);
    }
  });
  it('PCIDE 1 → 0 invalidates everything; 0 → 1 nothing', () => {
    const tlb = setup();
    expect(tlb.movCr4(T(1, 1), CR4.PAE, CR4.PAE | CR4.PCIDE, bits)).toBe(0);
    expect(left(tlb)).toEqual([true, true, true]);
    tlb.movCr4(T(1, 1), CR4.PAE | CR4.PCIDE, CR4.PAE, bits);
    expect(left(tlb)).toEqual([false, false, false]);
  });
  it('PAE toggled or SMEP 0 → 1: the current PCID only; SMEP 1 → 0 nothing', () => {
    let tlb = setup();
    tlb.movCr4(T(1, 2), CR4.PAE, 0n, bits);
    expect(left(tlb)).toEqual([true, false, false]);
    tlb = setup();
    tlb.movCr4(T(1, 2), CR4.PAE, CR4.PAE | CR4.SMEP, bits);
    expect(left(tlb)).toEqual([true, false, false]);
    tlb = setup();
    expect(tlb.movCr4(T(1, 2), CR4.PAE | CR4.SMEP, CR4.PAE, bits)).toBe(0);
    expect(left(tlb)).toEqual([true, true, true]);
  });
  it('CR0.PG 1 → 0 invalidates everything, globals included', () => {
    const tlb = setup();
    tlb.pagingOff(T(1, 2));
    expect(left(tlb)).toEqual([false, false, false]);
  });
});

describe('INVVPID (SDM Vol. 3C §28.3.3.1, INVVPID)', () => {
  const setup = () => {
    const tlb = mk();
    fill(tlb, T(1, 0), 1);
    fill(tlb, T(1, 0), 2, true);
    fill(tlb, T(1, 0, 77), 1); // a combined mapping of VPID 1
    fill(tlb, T(2, 0), 1);
    fill(tlb, T(0, 0), 1); // VPID 0 (the host's)
    tlb.nestedRefs(77, -1, 5, 4, 1, 9); // a guest-physical mapping: not VPID-tagged
    return tlb;
  };
  const left = (tlb: Tlb) => [has(tlb, T(1, 0), 1), has(tlb, T(1, 0), 2), has(tlb, T(1, 0, 77), 1), has(tlb, T(2, 0), 1), has(tlb, T(0, 0), 1), tlb.snapshot().nested.length > 0];
  it('type 0 (individual address): linear and combined mappings of that VPID and page', () => {
    const tlb = setup();
    tlb.invvpid(0, 1, VA(1));
    expect(left(tlb)).toEqual([false, true, false, true, true, true]);
  });
  it('type 1 (single context): every mapping of the VPID, globals included; guest-physical kept', () => {
    const tlb = setup();
    tlb.invvpid(1, 1);
    expect(left(tlb)).toEqual([false, false, false, true, true, true]);
  });
  it('type 2 (all contexts): every VPID except 0000H', () => {
    const tlb = setup();
    tlb.invvpid(2, 0);
    expect(left(tlb)).toEqual([false, false, false, false, true, true]);
  });
  it('type 3 (single context retaining globals)', () => {
    const tlb = setup();
    tlb.invvpid(3, 1);
    expect(left(tlb)).toEqual([false, true, false, true, true, true]);
  });
  it('VMfailValid: type > 3, VPID 0000H with types 0, 1, 3 — nothing changes', () => {
    const tlb = setup();
    for (const [t, v] of [[4, 1], [0, 0], [1, 0], [3, 0]] as const) expect(() => tlb.invvpid(t, v)).toThrow(InvalidArgumentError);
    expect(left(tlb)).toEqual([true, true, true, true, true, true]);
  });
});

describe('INVEPT (SDM Vol. 3C §28.3.3.1, INVEPT)', () => {
  const setup = () => {
    const tlb = mk();
    fill(tlb, T(1, 0, 10), 1);
    fill(tlb, T(2, 3, 10), 1, true);
    fill(tlb, T(1, 0, 11), 1);
    fill(tlb, T(1, 0), 1); // linear mapping (EPT off)
    tlb.nestedRefs(10, -1, 5, 4, 1, 9);
    tlb.nestedRefs(11, -1, 5, 4, 1, 9);
    return tlb;
  };
  const nested = (tlb: Tlb, eptp: number) => tlb.snapshot().nested.filter((e) => e.eptp === eptp).length;
  it('single-context: combined and guest-physical mappings of that EP4TA, every VPID and PCID', () => {
    const tlb = setup();
    tlb.invept(1, 10);
    expect([has(tlb, T(1, 0, 10), 1), has(tlb, T(2, 3, 10), 1), has(tlb, T(1, 0, 11), 1), has(tlb, T(1, 0), 1)]).toEqual([false, false, true, true]);
    expect([nested(tlb, 10), nested(tlb, 11) > 0]).toEqual([0, true]);
  });
  it('global: every EP4TA; linear mappings stay', () => {
    const tlb = setup();
    tlb.invept(2);
    expect([has(tlb, T(1, 0, 10), 1), has(tlb, T(1, 0, 11), 1), has(tlb, T(1, 0), 1), tlb.snapshot().nested.length]).toEqual([false, false, true, 0]);
  });
  it('other types fail', () => {
    expect(() => mk().invept(3)).toThrow(InvalidArgumentError);
  });
});

describe('VM entry/exit, #PF, EPT violation', () => {
  it('without VPIDs a VM transition flushes the linear and combined mappings of VPID 0000H, not guest-physical ones (§28.3.3.1)', () => {
    const tlb = mk();
    fill(tlb, T(0, 0, 10), 1);
    fill(tlb, T(0, 4), 2, true);
    fill(tlb, T(1, 0, 10), 3);
    tlb.nestedRefs(10, -1, 5, 4, 1, 9);
    expect(tlb.vmTransitionNoVpid()).toBe(4); // two entries, each in the L1 DTLB and the STLB
    expect([has(tlb, T(0, 0, 10), 1), has(tlb, T(0, 4), 2), has(tlb, T(1, 0, 10), 3), tlb.snapshot().nested.length > 0]).toEqual([false, false, true, true]);
  });
  it('a #PF invalidates the faulting address\'s TLB and PSC entries (§4.10.4.1), nothing else', () => {
    const tlb = mk();
    fill(tlb, T(1, 0, 10), 1);
    fill(tlb, T(1, 0, 10), 2);
    tlb.pscFill(T(1, 0, 10), 1, 2);
    tlb.pscFill(T(1, 0, 10), 1024, 2);
    tlb.pageFault(T(1, 0, 10), VA(1));
    expect([has(tlb, T(1, 0, 10), 1), has(tlb, T(1, 0, 10), 2), psc(tlb, T(1, 0, 10), 1), psc(tlb, T(1, 0, 10), 1024)]).toEqual([false, true, false, true]);
  });
  it('an EPT violation invalidates the guest-physical mappings of the GPA and the combined mappings of the linear address (§28.3.3.1)', () => {
    const tlb = mk();
    fill(tlb, T(1, 0, 10), 1);
    fill(tlb, T(1, 0, 10), 2);
    tlb.nestedRefs(10, -1, 5, 4, 1, 9);
    tlb.nestedRefs(10, -1, 6000, 4, 1, 9);
    tlb.eptViolation(T(1, 0, 10), 5, VA(1));
    expect([has(tlb, T(1, 0, 10), 1), has(tlb, T(1, 0, 10), 2)]).toEqual([false, true]);
    // gfn 6000's guest-physical mapping is still cached: its nested walk costs nothing.
    expect(tlb.nestedRefs(10, -1, 6000, 4, 1, 9)).toBe(0);
    // gfn 5's is gone, and its PDE-level PSC entry with it: a full 4-level nested walk.
    expect(tlb.nestedRefs(10, -1, 5, 4, 1, 9)).toBe(4);
  });
});
