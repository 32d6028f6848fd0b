/** Hand-computed hit/miss sequences: set indexing (index mod sets), LRU per set, L1 ↔ STLB, tags. */
import { describe, expect, it } from 'vitest';
import { Tlb, SKYLAKE_TLB, makeTlbConfig, InvalidArgumentError, Vm, type TlbTag } from '../../src';

const none = { entries: 0, ways: 1 };
const T: TlbTag = { vpid: 1, pcid: 0, eptp: 4 };
const fill = (tlb: Tlb, vpn: number, o: { t?: TlbTag; size?: 0 | 1 | 2; global?: boolean; fetch?: boolean } = {}) =>
  tlb.fill({ ...(o.t ?? T), vpn, size: o.size ?? 0, global: o.global ?? false, hostFrame: vpn, guestFrame: vpn, acc: 7, pkey: 0, tdpAcc: 7 }, o.fetch ?? false);
const level = (tlb: Tlb, vpn: number, t: TlbTag = T, fetch = false) => tlb.lookup(t, vpn, fetch)?.level ?? 'miss';

describe('TLB lookups (L1 DTLB 2 sets × 2 ways, STLB 4 sets × 2 ways)', () => {
  const small = () => new Tlb({ dtlb4k: { entries: 4, ways: 2 }, stlb: { entries: 8, ways: 2 }, dtlb2m: none, dtlb1g: none, stlb1g: none, itlb4k: none, itlb2m: none });

  it('pages 0, 2, 4 share L1 set 0: the third fill evicts the LRU (0) from the L1, the STLB still has it', () => {
    const tlb = small();
    fill(tlb, 0); fill(tlb, 2); fill(tlb, 4);
    // L1 set 0 = {2, 4}; STLB set 0 = {0, 4}, set 2 = {2}.
    expect(level(tlb, 2)).toBe('l1');
    expect(level(tlb, 4)).toBe('l1');
    expect(level(tlb, 0)).toBe('stlb'); // copied into L1 set 0, evicting its LRU: 2
    expect(level(tlb, 0)).toBe('l1');
    expect(level(tlb, 2)).toBe('stlb'); // evicts 4 (used before 0)
    expect(level(tlb, 4)).toBe('stlb'); // evicts 0
    // STLB set 0 = {0 (hit at step 3), 4 (hit just now)}: a fill of 8 evicts 0 from the STLB;
    // in the L1 (set 0 = {2, 4}) it evicts 2.
    fill(tlb, 8);
    expect(level(tlb, 0)).toBe('miss');
    expect(level(tlb, 4)).toBe('l1');
    expect(level(tlb, 2)).toBe('stlb');
    expect(tlb.stats.get('lookups')).toBe(9);
  });

  it('the STLB is shared by 4 KiB and 2 MiB translations: a 2 MiB fill can evict a 4 KiB one', () => {
    const tlb = new Tlb({ dtlb4k: none, dtlb2m: none, dtlb1g: none, stlb: { entries: 2, ways: 2 }, stlb1g: none });
    fill(tlb, 0); fill(tlb, 1);
    fill(tlb, 512 * 5, { size: 1 });
    expect([level(tlb, 0), level(tlb, 1), level(tlb, 512 * 5 + 300)]).toEqual(['miss', 'stlb', 'stlb']);
  });

  it('1 GiB translations live in their own arrays and cover the whole 1 GiB', () => {
    const tlb = new Tlb({ dtlb4k: none, dtlb2m: none, stlb: none });
    fill(tlb, 262144 * 2, { size: 2 });
    expect(level(tlb, 262144 * 2 + 123456)).toBe('l1');
    expect(level(tlb, 262144 * 3)).toBe('miss');
  });

  it('tags: a global entry serves every PCID (§4.10.2.4); VPID and EP4TA must match', () => {
    const tlb = new Tlb();
    fill(tlb, 10, { t: { ...T, pcid: 1 } });
    fill(tlb, 11, { t: { ...T, pcid: 1 }, global: true });
    expect(level(tlb, 10, { ...T, pcid: 2 })).toBe('miss');
    expect(level(tlb, 11, { ...T, pcid: 2 })).toBe('l1');
    expect(level(tlb, 11, { ...T, pcid: 2, vpid: 2 })).toBe('miss');
    expect(level(tlb, 11, { ...T, pcid: 2, eptp: 5 })).toBe('miss');
  });

  it('fetches fill the ITLB: a data lookup of the same page finds it in the STLB only', () => {
    const tlb = new Tlb();
    fill(tlb, 7, { fetch: true });
    expect(level(tlb, 7, T, true)).toBe('l1');
    expect(level(tlb, 7, T, false)).toBe('stlb');
    expect(level(tlb, 7, T, false)).toBe('l1');
  });
});

describe('TLB configuration', () => {
  it('defaults are Skylake\'s (Optimization Reference Manual 248966-045 Table 2-15)', () => {
    expect(SKYLAKE_TLB.dtlb4k).toEqual({ entries: 64, ways: 4 });
    expect(SKYLAKE_TLB.dtlb2m).toEqual({ entries: 32, ways: 4 });
    expect(SKYLAKE_TLB.dtlb1g).toEqual({ entries: 4, ways: 4 });
    expect(SKYLAKE_TLB.itlb4k).toEqual({ entries: 128, ways: 8 });
    expect(SKYLAKE_TLB.stlb).toEqual({ entries: 1536, ways: 12 });
    expect(SKYLAKE_TLB.stlb1g).toEqual({ entries: 16, ways: 4 });
    expect(new Tlb().config.vpid).toBe(true);
  });
  it('bad geometry and unknown keys are typed errors', () => {
    expect(() => makeTlbConfig({ stlb: { entries: 10, ways: 4 } })).toThrow(/multiple of ways/);
    expect(() => makeTlbConfig({ stlb: { entries: -1, ways: 1 } })).toThrow(InvalidArgumentError);
    expect(() => makeTlbConfig({ nope: 1 } as never)).toThrow(/unknown TLB parameter/);
    expect(() => makeTlbConfig({ vpid: 'yes' } as never)).toThrow(/vpid is a boolean/);
    expect(() => new Vm({ tlb: 3 as never })).toThrow(/tlb is a boolean/);
  });
});
