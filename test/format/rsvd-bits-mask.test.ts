import { describe, expect, it } from 'vitest';
import { resetRsvdsBitsMask, resetRsvdsBitsMaskEpt, paging4Format, paging32Format, paeFormat, paging5Format, eptFormat, nptFormat, InvalidArgumentError } from '../../src';

/**
 * A per-bit reading of reference §3.5 (and SDM Vol. 3A tables 4-x): is bit b reserved in the entry
 * at KVM index [large][lvl] (lvl = level - 1) for this mode? Written bit by bit, independently of
 * the engine's mask arithmetic.
 */
function reservedPerReference(
  mode: 2 | 3 | 4 | 5,
  large: 0 | 1,
  lvl: number,
  b: number,
  p: { m: number; nx: boolean; gbpages: boolean; pse: boolean; amd: boolean },
): boolean {
  // HB: physical-address bits at/above MAXPHYADDR (up to 51, or 62 for PAE), and XD without NX.
  const hb = (b >= p.m && b <= (mode === 3 ? 62 : 51)) || (b === 63 && !p.nx);
  if (mode === 2) {
    if (lvl === 1 && large === 1) return p.pse && b >= 17 && b <= 21; // KVM's PSE-36 assumption
    return false;
  }
  if (mode === 3) {
    if (lvl === 2 && large === 0) return b === 63 || hb || (b >= 5 && b <= 8) || b === 1 || b === 2;
    if (lvl === 2 && large === 1) return false; // not set by KVM
    if (lvl === 1 && large === 1) return hb || (b >= 13 && b <= 20);
    if (lvl <= 1) return hb;
    return false;
  }
  if (lvl === 4) return mode === 5 && (hb || (p.amd && b === 8) || b === 7);
  if (lvl === 3) return hb || (p.amd && b === 8) || b === 7;
  if (lvl === 2) return hb || (!p.gbpages && b === 7) || (large === 1 && b >= 13 && b <= 29);
  if (lvl === 1) return hb || (large === 1 && b >= 13 && b <= 20);
  return hb;
}

describe('__reset_rsvds_bits_mask', () => {
  it('matches the reference bit by bit for every MAXPHYADDR 32..52, mode and NX/GBPAGES/PSE/AMD', () => {
    let checked = 0;
    for (let m = 32; m <= 52; m++) {
      for (const mode of [2, 3, 4, 5] as const) {
        for (let flags = 0; flags < 16; flags++) {
          const p = { m, nx: !!(flags & 1), gbpages: !!(flags & 2), pse: !!(flags & 4), amd: !!(flags & 8) };
          const mask = resetRsvdsBitsMask({ maxPhyAddr: m, level: mode, nx: p.nx, gbpages: p.gbpages, pse: p.pse, amd: p.amd });
          for (const large of [0, 1] as const) {
            for (let lvl = 0; lvl < 5; lvl++) {
              let want = 0n;
              for (let b = 0; b < 64; b++) if (reservedPerReference(mode, large, lvl, b, p)) want |= 1n << BigInt(b);
              if (mask[large]![lvl] !== want) {
                throw new Error(`mode ${mode} M=${m} ${JSON.stringify(p)} [${large}][${lvl}]: got 0x${mask[large]![lvl]!.toString(16)} want 0x${want.toString(16)}`);
              }
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBe(21 * 4 * 16 * 10);
  });

  it('reproduces the reference worked example (4-level, MAXPHYADDR 46, NX)', () => {
    const f = paging4Format({ maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false });
    // HB = bits 51:46 = 0x000F_C000_0000_0000.
    expect(f.rsvdBitsMask[0]![0]).toBe(0x000f_c000_0000_0000n);
    expect(f.rsvdBitsMask[1]![1]).toBe(0x000f_c000_001f_e000n); // + bits 20:13
    expect(f.rsvdBitsMask[0]![3]).toBe(0x000f_c000_0000_0080n); // PML4E: + bit 7
    expect(f.rsvdBitsMask[1]![2]).toBe(0x000f_c000_3fff_e000n); // 1G: + bits 29:13
  });

  it('PAE: high bits up to 62 and the PDPTE register mask', () => {
    const f = paeFormat({ maxPhyAddr: 36, nx: false, gbpages: false, pse: false, amd: false, cr0Wp: false, cr4Smep: false, cr4Smap: false, cr4Pke: false });
    expect(f.rsvdBitsMask[0]![0]).toBe(0xffff_fff0_0000_0000n); // 62:36 and 63 (no NX)
    expect(f.rsvdBitsMask[0]![2]).toBe(0xffff_fff0_0000_01e6n); // + 8:5, 2:1
  });

  it('32-bit: only the 4 MiB PDE has reserved bits (21:17, PSE-36)', () => {
    const p = { maxPhyAddr: 40, nx: false, gbpages: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };
    expect(paging32Format({ ...p, pse: true }).rsvdBitsMask[1]![1]).toBe(0x3e_0000n);
    expect(paging32Format({ ...p, pse: false }).rsvdBitsMask[1]![1]).toBe(0n);
    expect(paging32Format({ ...p, pse: true }).rsvdBitsMask[0]![0]).toBe(0n);
  });

  it('5-level AMD reserves bit 8 in non-leaf PML5E/PML4E', () => {
    const f = paging5Format({ maxPhyAddr: 52, nx: true, gbpages: true, pse: false, amd: true, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false });
    expect(f.rsvdBitsMask[0]![4]).toBe(0x180n);
    expect(f.rsvdBitsMask[0]![3]).toBe(0x180n);
    expect(f.rsvdBitsMask[0]![0]).toBe(0n);
  });
});

describe('__reset_rsvds_bits_mask_ept and bad_mt_xwr', () => {
  it('matches the reference bit by bit', () => {
    for (let m = 32; m <= 52; m++) {
      for (const huge of [1, 2, 3]) {
        const { rsvdBitsMask } = resetRsvdsBitsMaskEpt({ maxPhyAddr: m, execonly: false, hugePageLevel: huge });
        for (const large of [0, 1]) {
          for (let lvl = 0; lvl < 5; lvl++) {
            let want = 0n;
            for (let b = 0; b < 64; b++) {
              const hb = b >= m && b <= 51;
              let r = hb;
              if (lvl >= 3) r ||= b >= 3 && b <= 7;
              else if (lvl === 2) r ||= (large ? b >= 12 && b <= 29 : b >= 3 && b <= 6) || (huge < 3 && b === 7);
              else if (lvl === 1) r ||= (large ? b >= 12 && b <= 20 : b >= 3 && b <= 6) || (huge < 2 && b === 7);
              if (r) want |= 1n << BigInt(b);
            }
            expect(rsvdBitsMask[large]![lvl], `M=${m} huge=${huge} [${large}][${lvl}]`).toBe(want);
          }
        }
      }
    }
  });

  it('bad_mt_xwr: reserved memory types, write-only, write+exec, and exec-only unless supported', () => {
    for (const execonly of [false, true]) {
      const { badMtXwr } = resetRsvdsBitsMaskEpt({ maxPhyAddr: 46, execonly, hugePageLevel: 3 });
      for (let i = 0; i < 64; i++) {
        const mt = i >> 3;
        const xwr = i & 7;
        const want = mt === 2 || mt === 3 || mt === 7 || xwr === 0b010 || xwr === 0b110 || (xwr === 0b100 && !execonly);
        expect(((badMtXwr >> BigInt(i)) & 1n) === 1n, `execonly=${execonly} index ${i}`).toBe(want);
      }
    }
  });

  it('EPT format parameters are validated', () => {
    expect(() => eptFormat({ level: 3, maxPhyAddr: 46, adEnabled: true, execonly: false, hugePageLevel: 3 })).toThrow(InvalidArgumentError);
    expect(() => eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: false, hugePageLevel: 4 })).toThrow(/huge page level/);
    expect(() => nptFormat({ level: 1, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false })).toThrow(/NPT levels/);
  });
});

describe('page formats are frozen, memoized data', () => {
  it('returns one frozen object per parameter set', () => {
    const p = { maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: true, cr4Smap: true, cr4Pke: true };
    const a = paging4Format(p);
    expect(paging4Format({ ...p })).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.rsvdBitsMask[0])).toBe(true);
    expect(Object.isFrozen(a.permissions)).toBe(true);
    expect(() => paging4Format({ ...p, maxPhyAddr: 53 })).toThrow(/MAXPHYADDR/);
  });
  it('NPT is the x86 format with WP forced off and no PKRU', () => {
    const f = nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false });
    expect(f.params.cr0Wp).toBe(false);
    expect(f.pkruMask).toBe(0);
    expect(f.params.amd).toBe(true);
  });
});
