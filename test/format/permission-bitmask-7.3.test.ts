/**
 * KVM 7.3's u16 `permissions[16]` (kvm-7x.md §1.4, §1.5). With MBEC/GMET off it must agree with
 * v6.16's u8 table on every right v6.16 has; with MBEC, the EPT table must give the allowed/
 * violation pattern of kvm-unit-tests' `[ept-mbec]` run (kvm-7x.md §6.1, lines 553-566); with
 * GMET, the NPT table the #NPF of x86/svm_npt.c's npt_gmet_* tests.
 */
import { describe, expect, it } from 'vitest';
import {
  CR0, CR4, DEFAULT_FEATURES, EFER, acc616To73, calcCpuRole, eptFormat, formatForCpuRole, nptFormat, paging4Format, updatePermissionBitmask,
  type PagingRegisters,
} from '../../src';

const bitOf = (perm: readonly number[], idx: number, acc: number): number => (perm[idx]! >> acc) & 1;

describe('7.3 permissions[] restricted to the old bits equal 6.16 (MBEC/GMET off)', () => {
  it('x86: every WP/SMEP/SMAP/NX combination (the enumeration of permission-bitmask.test.ts), index and ACC value', () => {
    let n = 0;
    for (let f = 0; f < 16; f++) {
      const c = { cr0Wp: !!(f & 1), cr4Smep: !!(f & 2), cr4Smap: !!(f & 4), eferNx: !!(f & 8), ept: false };
      const old = updatePermissionBitmask({ ...c, kvm: '6.16' });
      const now = updatePermissionBitmask({ ...c, kvm: '7.3' });
      for (let idx = 0; idx < 16; idx++) {
        expect(old[idx]! >> 8, 'u8').toBe(0);
        for (let acc = 0; acc < 8; acc++) {
          expect(bitOf(now, idx, acc616To73(acc, false)), `${JSON.stringify(c)} idx ${idx} acc ${acc}`).toBe(bitOf(old, idx, acc));
          n++;
        }
      }
    }
    expect(n).toBe(16 * 16 * 8);
  });

  it('every cpu_role: paging mode × WP × NX × SMEP × SMAP × PKE, tables and PKRU masks', () => {
    const F = { ...DEFAULT_FEATURES, smep: true, smap: true, pku: true, nx: true, la57: true };
    const modes: [string, bigint, bigint][] = [
      ['32-bit', 0n, 0n],
      ['PAE', CR4.PAE, 0n],
      ['4-level', CR4.PAE, EFER.LME | EFER.LMA],
      ['5-level', CR4.PAE | CR4.LA57, EFER.LME | EFER.LMA],
    ];
    let roles = 0;
    for (const [mode, cr4m, eferm] of modes) {
      for (let f = 0; f < 32; f++) {
        const regs: PagingRegisters = {
          cr0: CR0.PE | CR0.PG | (f & 1 ? CR0.WP : 0n),
          cr3: 0n,
          cr4: cr4m | (f & 2 ? CR4.SMEP : 0n) | (f & 4 ? CR4.SMAP : 0n) | (f & 16 ? CR4.PKE : 0n),
          efer: eferm | (f & 8 ? EFER.NXE : 0n),
        };
        const r616 = calcCpuRole(regs, F, '6.16');
        const r73 = calcCpuRole(regs, F, '7.3');
        expect(r73.key, mode).not.toBe(r616.key); // access 0xf vs 7 at least
        const a = formatForCpuRole(r616, F)!;
        const b = formatForCpuRole(r73, F)!;
        expect(b.kvm).toBe('7.3');
        expect(b.pkruMask, `${mode} ${f}`).toBe(a.pkruMask);
        expect(b.hot.permissions.length).toBe(16);
        for (let idx = 0; idx < 16; idx++) {
          for (let acc = 0; acc < 8; acc++) {
            expect(bitOf(b.permissions, idx, acc616To73(acc, false)), `${mode} ${f} idx ${idx} acc ${acc}`).toBe(bitOf(a.permissions, idx, acc));
          }
        }
        roles++;
      }
    }
    expect(roles).toBe(128);
  });

  it('EPT: read/write/fetch with and without a user-mode address and XU, for every v6.16 EPT ACC value', () => {
    // v6.16 keys an EPT read by PFERR_USER (vmx.c: handle_ept_violation, reference §6.5): idx 2.
    // 7.3 keys a read as "!W && !F" and PFERR_USER means "user-mode linear address" (§1.3).
    const old = updatePermissionBitmask({ cr0Wp: false, cr4Smep: false, cr4Smap: false, eferNx: false, ept: true, kvm: '6.16' });
    for (const fmt of [eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3, kvm: '7.3' })]) {
      const now = fmt.permissions;
      for (let acc = 0; acc < 8; acc++) {
        for (const xu of [false, true]) {
          const a73 = acc616To73(acc, true, xu);
          for (const user of [0, 2]) {
            expect(bitOf(now, 0 | user, a73), `read acc ${acc} xu ${xu} user ${user}`).toBe(bitOf(old, 2, acc));
            expect(bitOf(now, 1 | user, a73), `write acc ${acc}`).toBe(bitOf(old, 1, acc));
            expect(bitOf(now, 8 | user, a73), `fetch acc ${acc}`).toBe(bitOf(old, 8, acc));
          }
        }
      }
    }
  });

  it('NPT without GMET: every access is a user access, so L1 SMEP changes nothing', () => {
    for (const nx of [false, true]) {
      const old = nptFormat({ level: 4, maxPhyAddr: 46, nx, gbpages: true, pse: false, cr4Smep: true, cr4Smap: true, kvm: '6.16' });
      const now = nptFormat({ level: 4, maxPhyAddr: 46, nx, gbpages: true, pse: false, cr4Smep: true, cr4Smap: true, kvm: '7.3' });
      for (const idx of [2, 3, 10]) {
        for (let acc = 0; acc < 8; acc++) expect(bitOf(now.permissions, idx, acc616To73(acc, false))).toBe(bitOf(old.permissions, idx, acc));
      }
    }
  });

  it('6.16 entries are u8 and 7.3 entries are u16 (struct kvm_page_format, kvm-7x.md §4.1)', () => {
    const p = updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: false, kvm: '7.3' });
    // supervisor fetch: faults on no-exec (Xm clear: 0x00ff) and on user pages (SMEP, Um 0xf0f0)
    expect(p[8]).toBe(0x00ff | 0xf0f0);
    expect(Math.max(...updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: false, kvm: '6.16' }))).toBeLessThan(0x100);
  });
});

// kvm-7x.md §6.1 (lines 553-566), [ept-mbec] run. Leaf ACC in 7.3 encoding: R 1, W 2, XU 4, XS 8.
// Every non-leaf entry is EPT_PRESENT = R|W|X|XU (line 539-540), so the accumulated ACC is the
// leaf's. Columns: READ (CPL0 data read, idx 0), WRITE (idx 1), EXEC (CPL0 fetch, U=0 page: XS,
// idx 8), EXEC_USER (CPL3 fetch, U=1 page: XU, idx 10). true = violation. W-only and WX are
// misconfigs (line 550) and never reach the permission check.
const R = 1, W = 2, XU = 4, XS = 8;
const MBEC_TABLE: [string, number, [boolean, boolean, boolean, boolean]][] = [
  ['none', 0, [true, true, true, true]],
  ['R', R, [false, true, true, true]],
  ['RW', R | W, [false, false, true, true]],
  ['XS', XS, [true, true, false, true]],
  ['XU', XU, [true, true, true, false]],
  ['XS|XU', XS | XU, [true, true, false, false]],
  ['R|XS', R | XS, [false, true, false, true]],
  ['R|XU', R | XU, [false, true, true, false]],
  ['R|XS|XU', R | XS | XU, [false, true, false, false]],
  ['RWXS', R | W | XS, [false, false, false, true]],
  ['RW|XU', R | W | XU, [false, false, true, false]],
  ['RW|XS|XU', R | W | XS | XU, [false, false, false, false]],
];

describe('7.3 EPT permissions with MBEC reproduce kvm-unit-tests [ept-mbec] (kvm-7x.md §6.1)', () => {
  const mbec = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3, kvm: '7.3', mbec: true });
  const plain = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3, kvm: '7.3' });
  for (const [name, acc, want] of MBEC_TABLE) {
    it(`leaf ${name}`, () => {
      const got = [0, 1, 8, 10].map((idx) => bitOf(mbec.permissions, idx, acc) === 1);
      expect(got).toEqual(want);
      // Without MBEC, EXEC_USER behaves exactly like EXEC (line 551), and XU grants nothing.
      const p = plain.permissions;
      expect(bitOf(p, 10, acc)).toBe(bitOf(p, 8, acc));
      expect(bitOf(p, 8, acc) === 1).toBe((acc & XS) === 0);
    });
  }

  it('MBEC and GMET exist only in the 7.3 model (typed error)', () => {
    expect(() => eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3, kvm: '6.16', mbec: true })).toThrow(/mbec-version|MBEC exists only/);
    expect(() => nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false, kvm: '6.16', gmet: true })).toThrow(/GMET exists only/);
    expect(() => updatePermissionBitmask({ cr0Wp: false, cr4Smep: false, cr4Smap: false, eferNx: false, ept: true, kvm: '6.16', mbec: true })).toThrow(/MBEC exists only/);
  });
});

describe('7.3 NPT permissions with GMET (x86/svm_npt.c npt_gmet_*)', () => {
  // GMET = base.cr4_smep of the NPT role (kvm-7x.md §2.2): SMEP on the NPT's U bit. The guest code
  // runs at CPL 0, so with GMET its fetch is a supervisor fetch (idx 8: FETCH, no USER).
  const gmet = nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false, kvm: '7.3', gmet: true });
  const READ = 1, WRITE = 2, USER = 4, EXEC = 8;
  it('npt_gmet_null: U=0 executable code page, supervisor fetch and data accesses are allowed (svm_npt.c:95-108)', () => {
    expect(bitOf(gmet.permissions, 8, READ | WRITE | EXEC)).toBe(0);
    expect(bitOf(gmet.permissions, 0, READ | WRITE | EXEC)).toBe(0);
    expect(bitOf(gmet.permissions, 1, READ | WRITE | EXEC)).toBe(0);
  });
  it('npt_gmet_nx: U=0, NX=1 page, supervisor fetch faults (svm_npt.c:110-136)', () => {
    expect(bitOf(gmet.permissions, 8, READ | WRITE)).toBe(1);
  });
  it('npt_gmet_us: U=1 page, supervisor fetch faults (svm_npt.c:139-160)', () => {
    expect(bitOf(gmet.permissions, 8, READ | WRITE | USER | EXEC)).toBe(1);
    // user fetch of the same page is fine
    expect(bitOf(gmet.permissions, 10, READ | WRITE | USER | EXEC)).toBe(0);
  });
});

describe('format memoization across versions', () => {
  it("a format asked for with kvm '7.3' (the default, issue 10) and one asked for without a version are the same object (roles share formats)", () => {
    const p = { maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };
    expect(paging4Format({ ...p, kvm: '7.3' })).toBe(paging4Format(p));
    expect(paging4Format({ ...p, kvm: '6.16' })).not.toBe(paging4Format(p));
    const e = { level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3 };
    expect(eptFormat({ ...e, kvm: '7.3', mbec: false })).toBe(eptFormat(e));
    expect(eptFormat({ ...e, kvm: '6.16' })).not.toBe(eptFormat(e));
    const n = { level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false };
    expect(nptFormat({ ...n, kvm: '7.3', gmet: false })).toBe(nptFormat(n));
    expect(nptFormat({ ...n, kvm: '6.16' })).not.toBe(nptFormat(n));
  });

  it('the object and its name do not depend on whether the first caller spelled the default out', () => {
    // A fresh parameter set (MAXPHYADDR 41 is used nowhere else), first asked for without a version.
    const p = { maxPhyAddr: 41, nx: true, gbpages: false, pse: true, amd: false, cr0Wp: false, cr4Smep: true, cr4Smap: false, cr4Pke: false };
    const implicit = paging4Format(p);
    expect(implicit.kvm).toBe('7.3');
    expect(implicit.name).toMatch(/KVM 7\.3/);
    expect(paging4Format({ ...p, kvm: '7.3' })).toBe(implicit);
    expect(paging4Format({ ...p, kvm: '6.16' }).name).not.toMatch(/KVM 7\.3/);
  });
});
