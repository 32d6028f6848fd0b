import { describe, expect, it } from 'vitest';
import { CR0, CR4, EFER, CpuRole, PageRole, calcCpuRole, DEFAULT_FEATURES, InvalidArgumentError, type PagingRegisters } from '../../src';

const F = DEFAULT_FEATURES;
const LM = EFER.LME | EFER.LMA;

// Expected words packed by hand from the 7.3 layout, kvm-7x.md §3.1 (lines 312-329): level 3:0,
// has_4_byte_gpte 4, quadrant 6:5, direct 7, access 11:8 (ACC_ALL = 0xF, §1.4), invalid 12,
// efer_nx 13, cr0_wp 14, smap_andnot_wp 15, ad_disabled 16, guest_mode 17, passthrough 18,
// is_mirror 19, cr4_smep 20, smm 31:24; ext, §3.2 (line 343): valid 0, execonly 1, cr4_pse 2,
// cr4_pke 3, cr4_smap 4, cr4_la57 5, efer_lma 6, has_pferr_fetch 7; calc rules §3.3 (349-351).
const cases: [string, PagingRegisters, bigint][] = [
  [
    '4-level, WP NX SMEP SMAP',
    { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE | CR4.SMEP | CR4.SMAP, efer: LM | EFER.NXE },
    // base: 4 | 0xf00 | efer_nx 0x2000 | cr0_wp 0x4000 | cr4_smep 0x100000;
    // ext: valid 1 | smap 0x10 | lma 0x40 | has_pferr_fetch 0x80
    0x0000_00d1_0010_6f04n,
  ],
  [
    '32-bit, PSE SMEP, WP=0 (no smep_andnot_wp)',
    { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PSE | CR4.SMEP, efer: 0n },
    // base: 2 | has_4_byte_gpte 0x10 | 0xf00 | cr4_smep 0x100000; ext: valid | pse 4 | has_pferr_fetch 0x80
    0x0000_0085_0010_0f12n,
  ],
  [
    'paging off, SMM, guest mode',
    { cr0: CR0.PE, cr3: 0n, cr4: CR4.PAE, efer: 0n, smm: true, guestMode: true },
    // base: direct 0x80 | 0xf00 | guest_mode 0x20000 | smm 1<<24; ext: valid
    0x0000_0001_0102_0f80n,
  ],
  [
    '5-level, PKE SMAP, WP=0, NX=0',
    { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE | CR4.LA57 | CR4.PKE | CR4.SMAP, efer: LM },
    // base: 5 | 0xf00 | smap_andnot_wp 0x8000; ext: valid | pke 8 | smap 0x10 | la57 0x20 | lma 0x40
    0x0000_0079_0000_8f05n,
  ],
  [
    'PAE, NX WP: has_pferr_fetch from EFER.NX alone',
    { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE, efer: EFER.NXE },
    // base: 3 | 0xf00 | efer_nx 0x2000 | cr0_wp 0x4000; ext: valid | has_pferr_fetch 0x80
    0x0000_0081_0000_6f03n,
  ],
  [
    'PKE outside long mode is not tracked',
    { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE | CR4.PKE, efer: 0n },
    0x0000_0001_0000_4f03n,
  ],
];

describe("calcCpuRole (kvm_calc_cpu_role), KVM '7.3' layout", () => {
  for (const [name, regs, want] of cases) {
    it(name, () => {
      const r = calcCpuRole(regs, F, '7.3');
      expect(r.asU64.toString(16)).toBe(want.toString(16));
      expect(r.key).toBe(Number(want));
      expect(r.kvm).toBe('7.3');
      expect(CpuRole.fromU64(want, '7.3').equals(r)).toBe(true);
    });
  }

  it('reads SMEP from the base role and I/D from has_pferr_fetch', () => {
    const r = calcCpuRole(cases[1]![1], F, '7.3');
    expect(r.base.cr4Smep).toBe(true);
    expect(r.base.smepAndnotWp).toBe(false);
    expect(r.isCr4Smep).toBe(true);
    expect(r.hasPferrFetch).toBe(true);
    expect(r.extFields()).toEqual({ valid: true, execonly: false, cr4Pse: true, cr4Pke: false, cr4Smap: false, cr4La57: false, eferLma: false, hasPferrFetch: true });
    // Same registers, 6.16: smep_andnot_wp (bit 14) and ext.cr4_smep (bit 5) instead.
    const old = calcCpuRole(cases[1]![1], F, '6.16');
    expect(old.asU64).toBe(0x0000_0025_0000_4712n); // test/role/cpu-role.test.ts, reference §2.1/§2.3
    expect(old.hasPferrFetch).toBe(true);
  });

  it('SMEP and NX off: no I/D in either version', () => {
    const regs: PagingRegisters = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE, efer: LM };
    expect(calcCpuRole(regs, F, '7.3').hasPferrFetch).toBe(false);
    expect(calcCpuRole(regs, F, '6.16').hasPferrFetch).toBe(false);
  });
});

describe("PageRole, KVM '7.3' layout", () => {
  it('packs each field at its 7.3 position (kvm-7x.md §3.1)', () => {
    const p = (f: Parameters<typeof PageRole.pack>[0]): number => PageRole.pack(f, '7.3').word;
    expect(p({ level: 5 })).toBe(0x5);
    expect(p({ hasFourByteGpte: true })).toBe(1 << 4);
    expect(p({ quadrant: 3 })).toBe(3 << 5);
    expect(p({ direct: true })).toBe(1 << 7);
    expect(p({ access: 0xf })).toBe(0xf << 8);
    expect(p({ invalid: true })).toBe(1 << 12);
    expect(p({ eferNx: true })).toBe(1 << 13);
    expect(p({ cr0Wp: true })).toBe(1 << 14);
    expect(p({ smapAndnotWp: true })).toBe(1 << 15);
    expect(p({ adDisabled: true })).toBe(1 << 16);
    expect(p({ guestMode: true })).toBe(1 << 17);
    expect(p({ passthrough: true })).toBe(1 << 18);
    expect(p({ isMirror: true })).toBe(1 << 19);
    expect(p({ cr4Smep: true })).toBe(1 << 20);
    expect(p({ smm: 1 })).toBe(0x0100_0000);
  });

  it('access is 4 bits in 7.3 and 3 bits in 6.16', () => {
    expect(PageRole.pack({ access: 0xf }, '7.3').access).toBe(0xf);
    expect(() => PageRole.pack({ access: 0xf }, '6.16')).toThrow(/access must fit in 3 bit/);
  });

  it('rejects a field the version lacks, with a typed error', () => {
    expect(() => PageRole.pack({ smepAndnotWp: true }, '7.3')).toThrow(InvalidArgumentError);
    expect(() => PageRole.pack({ smepAndnotWp: true }, '7.3')).toThrow(/smepAndnotWp does not exist in KVM 7.3/);
    expect(() => PageRole.pack({ cr4Smep: true }, '6.16')).toThrow(/cr4Smep does not exist in KVM 6.16/);
    expect(() => CpuRole.of(PageRole.pack({}, '7.3'), { cr4Smep: true })).toThrow(/cr4Smep does not exist in KVM 7.3/);
    // false is the field's absence and is accepted
    expect(PageRole.pack({ smepAndnotWp: false, level: 1 }, '7.3').word).toBe(1);
  });

  it('with() keeps the version and the layout', () => {
    const a = PageRole.pack({ level: 4, access: 0xf, cr4Smep: true }, '7.3');
    const b = a.with({ level: 3 });
    expect(b.kvm).toBe('7.3');
    expect(b.word).toBe(0x0010_0f03);
    expect(b.equals(PageRole.fromWord(0x0010_0f03, '7.3'))).toBe(true);
    expect(b.equals(PageRole.fromWord(0x0010_0f03, '6.16'))).toBe(false);
  });
});
