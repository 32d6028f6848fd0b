import { describe, expect, it } from 'vitest';
import { CR0, CR4, EFER, CpuRole, PageRole, calcCpuRole, DEFAULT_FEATURES, InvalidRegisterStateError, type PagingRegisters } from '../../src';

const F = DEFAULT_FEATURES;
const LM = EFER.LME | EFER.LMA;

// Expected words were packed by hand from the v6.16 layout (reference §2.1, §2.3):
// level 3:0, has_4_byte_gpte 4, quadrant 6:5, direct 7, access 10:8, invalid 11, efer_nx 12,
// cr0_wp 13, smep_andnot_wp 14, smap_andnot_wp 15, ad_disabled 16, guest_mode 17, passthrough 18,
// is_mirror 19, smm 31:24; ext: valid 0, execonly 1, cr4_pse 2, cr4_pke 3, cr4_smap 4,
// cr4_smep 5, cr4_la57 6, efer_lma 7.
const cases: [string, PagingRegisters, bigint][] = [
  [
    '4-level, WP NX SMEP SMAP',
    { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE | CR4.SMEP | CR4.SMAP, efer: LM | EFER.NXE },
    // base: 4 | 0x700 | efer_nx 0x1000 | cr0_wp 0x2000; ext: valid | smap 0x10 | smep 0x20 | lma 0x80
    0x0000_00b1_0000_3704n,
  ],
  [
    '32-bit, PSE SMEP, WP=0',
    { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PSE | CR4.SMEP, efer: 0n },
    // base: 2 | has_4_byte_gpte 0x10 | 0x700 | smep_andnot_wp 0x4000; ext: valid | pse 4 | smep 0x20
    0x0000_0025_0000_4712n,
  ],
  [
    'paging off, SMM, guest mode',
    { cr0: CR0.PE, cr3: 0n, cr4: CR4.PAE, efer: 0n, smm: true, guestMode: true },
    // base: direct 0x80 | 0x700 | guest_mode 0x20000 | smm 1<<24; ext: valid
    0x0000_0001_0102_0780n,
  ],
  [
    '5-level, PKE SMAP, WP=0, NX=0',
    { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE | CR4.LA57 | CR4.PKE | CR4.SMAP, efer: LM },
    // base: 5 | 0x700 | smap_andnot_wp 0x8000; ext: valid | pke 8 | smap 0x10 | la57 0x40 | lma 0x80
    0x0000_00d9_0000_8705n,
  ],
  [
    'PAE, NX WP',
    { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE, efer: EFER.NXE },
    0x0000_0001_0000_3703n,
  ],
  [
    'PKE outside long mode is not tracked',
    { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE | CR4.PKE, efer: 0n },
    0x0000_0001_0000_2703n,
  ],
];

describe("calcCpuRole (kvm_calc_cpu_role), KVM '6.16' layout (passed explicitly: 7.3 is the default)", () => {
  for (const [name, regs, want] of cases) {
    it(name, () => {
      const r = calcCpuRole(regs, F, '6.16');
      expect(r.asU64.toString(16)).toBe(want.toString(16));
      expect(r.key).toBe(Number(want));
      expect(CpuRole.fromU64(want, '6.16').equals(r)).toBe(true);
    });
  }

  it('accepts CR4.LA57 outside long mode (how an OS enables 5-level paging) and ignores it', () => {
    // The issue text suggested rejecting this; the SDM forbids only changing LA57 while LMA=1,
    // and KVM's kvm_calc_cpu_role tracks cr4_la57 only with LMA. PAE paging it is.
    const r = calcCpuRole({ cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE | CR4.LA57, efer: 0n }, F);
    expect(r.pagingMode).toBe('PAE');
    expect(r.isCr4La57).toBe(false);
  });

  it('decodes into named fields', () => {
    const r = calcCpuRole(cases[0]![1], F, '6.16');
    expect(r.base.fields()).toMatchObject({ level: 4, access: 7, eferNx: true, cr0Wp: true, hasFourByteGpte: false, smm: 0 });
    expect(r.extFields()).toEqual({ valid: true, execonly: false, cr4Pse: false, cr4Pke: false, cr4Smap: true, cr4Smep: true, cr4La57: false, eferLma: true });
    expect(r.pagingMode).toBe('4-level');
  });

  const bad: [string, PagingRegisters, Partial<typeof F>, string][] = [
    ['LMA without PAE', { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: 0n, efer: LM }, {}, 'long-mode-without-pae'],
    ['PG without PE', { cr0: CR0.PG, cr3: 0n, cr4: 0n, efer: 0n }, {}, 'cr0-pg-without-pe'],
    ['LMA without LME', { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE, efer: EFER.LMA }, {}, 'lma-inconsistent'],
    ['LME+PG without LMA', { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE, efer: EFER.LME }, {}, 'lma-inconsistent'],
    ['SMEP without CPUID', { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.SMEP, efer: 0n }, { smep: false }, 'cr4-smep-unsupported'],
    ['NXE without CPUID', { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: 0n, efer: EFER.NXE }, { nx: false }, 'efer-nx-unsupported'],
    ['LA57 without CPUID', { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE | CR4.LA57, efer: LM }, { la57: false }, 'cr4-la57-unsupported'],
    ['CR4 reserved bit', { cr0: CR0.PE, cr3: 0n, cr4: 1n << 40n, efer: 0n }, {}, 'cr4-reserved'],
    ['CR0 high bits', { cr0: CR0.PE | (1n << 32n), cr3: 0n, cr4: 0n, efer: 0n }, {}, 'cr0-reserved'],
    ['CR3 beyond MAXPHYADDR', { cr0: CR0.PE | CR0.PG, cr3: 1n << 46n, cr4: CR4.PAE, efer: LM }, {}, 'cr3-beyond-maxphyaddr'],
    ['NW without CD', { cr0: CR0.PE | CR0.NW, cr3: 0n, cr4: 0n, efer: 0n }, {}, 'cr0-nw-without-cd'],
  ];
  for (const [name, regs, feat, rule] of bad) {
    it(`rejects ${name}`, () => {
      let err: unknown;
      try {
        calcCpuRole(regs, { ...F, ...feat });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidRegisterStateError);
      expect((err as InvalidRegisterStateError).rule).toBe(rule);
      expect((err as Error).message).toMatch(/value 0x[0-9a-f]+/);
    });
  }
});

describe("PageRole, KVM '6.16' layout", () => {
  it('packs each field at its v6.16 position', () => {
    expect(PageRole.pack({ level: 5 }, '6.16').word).toBe(0x5);
    expect(PageRole.pack({ hasFourByteGpte: true }, '6.16').word).toBe(1 << 4);
    expect(PageRole.pack({ quadrant: 3 }, '6.16').word).toBe(3 << 5);
    expect(PageRole.pack({ direct: true }, '6.16').word).toBe(1 << 7);
    expect(PageRole.pack({ access: 5 }, '6.16').word).toBe(5 << 8);
    expect(PageRole.pack({ invalid: true }, '6.16').word).toBe(1 << 11);
    expect(PageRole.pack({ adDisabled: true }, '6.16').word).toBe(1 << 16);
    expect(PageRole.pack({ passthrough: true }, '6.16').word).toBe(1 << 18);
    expect(PageRole.pack({ isMirror: true }, '6.16').word).toBe(1 << 19);
    expect(PageRole.pack({ smm: 1 }, '6.16').word).toBe(0x0100_0000);
  });
  it('is immutable and compares by word', () => {
    const a = PageRole.pack({ level: 4, access: 7 }, '6.16');
    const b = a.with({ level: 3 });
    expect(a.level).toBe(4);
    expect(b.level).toBe(3);
    expect(b.with({ level: 4 }).equals(a)).toBe(true);
    expect(Object.isFrozen(a)).toBe(true);
  });
  it('rejects out-of-range fields', () => {
    expect(() => PageRole.pack({ level: 16 }, '6.16')).toThrow(/level must fit in 4 bit/);
    expect(() => PageRole.pack({ quadrant: 4 }, '6.16')).toThrow(/quadrant/);
  });
});
