/**
 * The 7.2+ EPT SPTE layout under KVM '7.3' (kvm-7x.md §5.5, lines 499-518; masks §1.6, lines
 * 223-240) next to v6.16's under '6.16' (reference §7.2; spte.h v6.16.1). Expected bit positions
 * are packed by hand from those tables.
 */
import { describe, expect, it } from 'vitest';
import {
  makeMmioSpte, makeNonleafSpte, makeSpte, makeSpteConfig, makeSpteExecutable, makeSpteNonexecutable, markSpteForAccessTrack,
  mmioGenerationMatches, mmioSpteGeneration, restoreAccTrackSpte, isAccessTrack, isFrozen, spteAdEnabled, spteAdNeedWriteProtect,
  type MakeSpteInput, type SpteConfig,
} from '../../src';

const bit = (n: number): bigint => 1n << BigInt(n);
const e73 = (o: object = {}): SpteConfig => makeSpteConfig({ flavour: 'ept', kvm: '7.3', ...o });
const e616 = (o: object = {}): SpteConfig => makeSpteConfig({ flavour: 'ept', kvm: '6.16', ...o });

function leaf(c: SpteConfig, o: Partial<MakeSpteInput> = {}): bigint {
  return makeSpte(c, {
    level: 1, adDisabled: !c.adEnabled, adNeedWriteProtect: false, pteAccess: c.acc.ALL, pfn: 0x1234, isMmioPfn: false,
    prefetch: false, synchronizing: false, hostWritable: true, mustWriteProtect: false, ...o,
  }).spte;
}

describe("EPT SPTE software bits, '7.3' vs '6.16'", () => {
  it('host-/MMU-writable at 53/55 (7.2+) vs 57/58 (6.16)', () => {
    const n = leaf(e73());
    expect(n & bit(53)).toBe(bit(53)); // §5.5 line 502: EPT host-writable
    expect(n & bit(55)).toBe(bit(55)); // line 504: EPT MMU-writable
    expect(n & (bit(57) | bit(58))).toBe(0n); // line 506: free in 7.2+
    const o = leaf(e616());
    expect(o & (bit(57) | bit(58))).toBe(bit(57) | bit(58)); // reference §7.2 (spte.h:152-153 in 6.16.1)
    expect(o & (bit(53) | bit(55))).toBe(0n);
  });

  it('A/D type at 61:60 (SPTE_TDP_AD_SHIFT = 60) vs 53:52', () => {
    const n = leaf(e73({ adEnabled: false }));
    expect(n & (3n << 60n)).toBe(1n << 60n); // line 507; AD_DISABLED = 1 << shift
    expect(n & bit(52)).toBe(0n); // bit 52 is a save slot now; bit 53 is host-writable (line 501-502)
    expect(spteAdEnabled(e73(), n)).toBe(false);
    const w = leaf(e73({ pml: true }), { adNeedWriteProtect: true });
    expect(w & (3n << 60n)).toBe(2n << 60n); // WRPROT_ONLY = 2 << shift
    expect(spteAdNeedWriteProtect(e73(), w)).toBe(true);
    const o = leaf(e616({ adEnabled: false }));
    expect(o & (3n << 52n)).toBe(1n << 52n); // reference §7.2: A/D type 53:52
  });

  it('access tracking (A/D off) saves R, X, XU at 52, 54, 62 and clears RWX|XU and A; restore reverses it', () => {
    const c = e73({ adEnabled: false });
    const s = leaf(c);
    expect(s & (7n | bit(10))).toBe(7n | bit(10)); // R, W, XS, XU all granted by ACC_ALL 0xF (§1.6 make_spte)
    const t = markSpteForAccessTrack(c, s);
    expect(t & (7n | bit(10) | bit(8))).toBe(0n); // acc_track RWX|XU (line 225) and Accessed (§5.2)
    expect(t & (bit(52) | bit(54) | bit(62))).toBe(bit(52) | bit(54) | bit(62)); // line 511: R|X|XU << 52
    expect(isAccessTrack(c, t)).toBe(true);
    expect(restoreAccTrackSpte(c, t)).toBe(s & ~(bit(8) | bit(1))); // R/X/XU back; W and A are not saved
    const o = markSpteForAccessTrack(e616({ adEnabled: false }), leaf(e616({ adEnabled: false })));
    expect(o & (bit(54) | bit(56))).toBe(bit(54) | bit(56)); // reference §7.3: R, X saved at 54, 56
  });

  it('FROZEN_SPTE is SHADOW_NONPRESENT_VALUE | 0x1A0 (7.2+) vs | 0x5A0', () => {
    expect(e73().layout.frozenSpte).toBe(bit(63) | 0x1a0n); // line 517
    expect(e616().layout.frozenSpte).toBe(bit(63) | 0x5a0n);
    expect(isFrozen(e73(), bit(63) | 0x5a0n)).toBe(false);
    expect(isFrozen(e73(), bit(63) | 0x1a0n)).toBe(true);
  });

  it('MMIO generation: 18 bits, low 7 in 9:3, high 11 in 62:52 (7.2+) vs 19 bits, 10:3 and 62:52', () => {
    const gen = (1 << 18) - 1;
    const n = makeMmioSpte(e73(), 0x42, 0, gen);
    expect((n >> 3n) & 0x7fn).toBe(0x7fn); // line 514: low 7 bits at 9:3
    expect(n & bit(10)).toBe(0n); // bit 10 is XU now, never a generation bit
    expect((n >> 52n) & 0x7ffn).toBe(0x7ffn); // high 11 bits at 62:52
    expect(mmioSpteGeneration(e73(), n)).toBe(gen);
    expect(mmioGenerationMatches(e73(), n, gen + (1 << 18))).toBe(true); // the generation wraps at 18 bits
    const g7 = makeMmioSpte(e73(), 0x42, 0, 0x80); // bit 7 of the generation → SPTE bit 52
    expect(g7 & bit(52)).toBe(bit(52));
    const o = makeMmioSpte(e616(), 0x42, 0, 0x80); // 6.16: bit 7 of the generation → SPTE bit 10
    expect(o & bit(10)).toBe(bit(10));
    expect(mmioGenerationMatches(e616(), o, 0x80 + (1 << 18))).toBe(false); // 19 bits in 6.16
  });
});

describe("7.3 EPT masks and make_spte permissions (kvm-7x.md §1.6)", () => {
  it('present mask is bit 63 only; R comes from ACC_READ; XS bit 2, XU bit 10', () => {
    const c = e73();
    expect(c.presentMask).toBe(bit(63)); // line 224-225: present = bit 63 only, no R
    expect(c.userMask).toBe(0n); // line 223: user 0
    expect(c.xuMask).toBe(bit(10));
    const A = c.acc;
    const ro = leaf(c, { pteAccess: A.READ });
    expect(ro & (7n | bit(10))).toBe(1n);
    const xsOnly = leaf(c, { pteAccess: A.EXEC });
    expect(xsOnly & (7n | bit(10))).toBe(4n);
    const xuOnly = leaf(c, { pteAccess: A.USER_EXEC });
    expect(xuOnly & (7n | bit(10))).toBe(bit(10));
  });

  it('non-leaf SPTEs grant R|W|XS|XU', () => {
    expect(makeNonleafSpte(e73(), 0x99, false) & (7n | bit(10))).toBe(7n | bit(10)); // line 237
    expect(makeNonleafSpte(e616({ execOnly: false }), 0x99, false) & (7n | bit(10))).toBe(7n);
  });

  it('NX huge pages: a huge leaf loses XS and XU; change_spte_executable restores both', () => {
    const c = e73({ nxHugePages: true });
    const huge = leaf(c, { level: 2 });
    expect(huge & (bit(2) | bit(10))).toBe(0n); // line 229
    expect(makeSpteExecutable(c, huge) & (bit(2) | bit(10))).toBe(bit(2) | bit(10)); // line 240-241
    expect(makeSpteNonexecutable(c, makeSpteExecutable(c, huge)) & (bit(2) | bit(10))).toBe(0n);
  });

  it('NPT under 7.3: P from ACC_READ, NX from !EXEC, U from USER', () => {
    const c = makeSpteConfig({ flavour: 'npt', kvm: '7.3' });
    const A = c.acc;
    const s = leaf(c, { pteAccess: A.READ | A.WRITE });
    expect(s & 1n).toBe(1n);
    expect(s & bit(63)).toBe(bit(63));
    expect(s & bit(2)).toBe(0n);
    expect(leaf(c, { pteAccess: A.ALL }) & (bit(63) | bit(2))).toBe(bit(2));
    expect(c.hostWritableMask).toBe(bit(9)); // line 512: non-EPT software bits unchanged
    expect(c.mmuWritableMask).toBe(bit(10));
  });
});
