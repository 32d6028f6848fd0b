/**
 * Issue 10: "'7.3' default, '6.16' kept". Every standalone builder that takes a KVM version models
 * 7.3 when none is passed, as the Vm does; '6.16' stays selectable. The 7.3 values are those of
 * kvm-7x.md: ACC encoding §1.4 (READ 1, WRITE 2, USER 4, EXEC 8, ALL 0xF, u16 permissions[]),
 * page role §3.1 (access 11:8, invalid 12, cr4_smep 20), extended role §3.2 (has_pferr_fetch 7),
 * EPT SPTE bits §1.6/§5.5 (XU = bit 10, A/D type at 61:60).
 */
import { describe, expect, it } from 'vitest';
import {
  ACC_6_16, ACC_7_3, ACC_ALL, ACC_EXEC, ACC_READ, ACC_USER, ACC_USER_EXEC, ACC_WRITE, accEncoding,
  CR0, CR4, CpuRole, DEFAULT_EPT_CAPS, DEFAULT_FEATURES, DEFAULT_KVM_VERSION, EFER, EXT_ROLE_BITS, GuestMemory, GvaWalker, NgpaWalker,
  PAGE_ROLE_LAYOUT, PageRole, PageTableBuilder, Walk2D, calcCpuRole, decodeAcc, eptFormat, gpa, makeEptp, makeSpteConfig, nptFormat,
  paeFormat, paging32Format, paging4Format, paging5Format, updatePermissionBitmask,
} from '../src';

const LM = EFER.LME | EFER.LMA;
const X86 = { maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };

describe("the standalone builders default to KVM '7.3'", () => {
  it('DEFAULT_KVM_VERSION is 7.3', () => {
    expect(DEFAULT_KVM_VERSION).toBe('7.3');
  });

  it('calcCpuRole, CpuRole.fromU64, PageRole.pack/fromWord and the unversioned layouts use the 7.3 layout', () => {
    const r = calcCpuRole({ cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n, cr4: CR4.PAE | CR4.SMEP, efer: LM | EFER.NXE }, DEFAULT_FEATURES);
    expect(r.kvm).toBe('7.3');
    expect(r.base.access).toBe(0xf); // ACC_ALL, kvm-7x.md §1.4 / §3.3
    expect(r.base.cr4Smep).toBe(true); // base bit 20, §3.1
    expect(r.extFields().hasPferrFetch).toBe(true); // ext bit 7, §3.2
    expect(CpuRole.fromU64(r.asU64).kvm).toBe('7.3');
    expect(PageRole.pack({ access: 0xf }).word).toBe(0xf << 8); // 4-bit access at 11:8
    expect(PageRole.pack({ invalid: true }).word).toBe(1 << 12);
    expect(PageRole.pack({ cr4Smep: true }).word).toBe(1 << 20);
    expect(PageRole.fromWord(1 << 20).cr4Smep).toBe(true);
    expect(PAGE_ROLE_LAYOUT.cr4Smep).toEqual([20, 1]);
    expect(PAGE_ROLE_LAYOUT.smepAndnotWp).toBeUndefined(); // removed in 7.3, §3.1
    expect(EXT_ROLE_BITS.hasPferrFetch).toBe(7);
    expect(EXT_ROLE_BITS.cr4Smep).toBeUndefined(); // moved to base, §3.2
  });

  it('the page formats and update_permission_bitmask build the 7.3 tables (u16 entries)', () => {
    for (const f of [paging4Format(X86), paging5Format(X86), paeFormat(X86), paging32Format(X86)]) {
      expect(f.kvm).toBe('7.3');
      expect(f.acc.EXEC).toBe(8);
    }
    expect(eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3 }).kvm).toBe('7.3');
    expect(nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: true, pse: false, cr4Smep: false, cr4Smap: false }).kvm).toBe('7.3');
    // Supervisor fetch, WP NX SMEP SMAP: faults on no-exec (~0xFF00) and on user pages (0xF0F0), §1.5.
    expect(updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: false })[8]).toBe(0x00ff | 0xf0f0);
    expect(decodeAcc(0xf)).toBe('RWUX');
  });

  it('makeSpteConfig uses the 7.3 EPT SPTE layout: XU at bit 10', () => {
    const c = makeSpteConfig({ flavour: 'ept' });
    expect(c.kvm).toBe('7.3');
    expect(c.xuMask).toBe(1n << 10n); // shadow_xu_mask, kvm-7x.md §1.6
  });

  it('GvaWalker, NgpaWalker and Walk2D model 7.3', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 1n << 32n });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000n), size: 0x10_0000n } });
    const g = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG, cr3: b.root, cr4: CR4.PAE, efer: LM });
    expect(g.role.kvm).toBe('7.3');
    const e = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(0x100_0000n), size: 0x10_0000n } });
    const n = NgpaWalker.ept(mem, { eptp: makeEptp({ root: e.root, level: 4 }), caps: DEFAULT_EPT_CAPS });
    expect(n.kvm).toBe('7.3');
    expect(new Walk2D(n, { regs: { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n } }).role.kvm).toBe('7.3');
  });

  it("'6.16' stays selectable everywhere", () => {
    expect(calcCpuRole({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n }, DEFAULT_FEATURES, '6.16').base.access).toBe(7);
    expect(PageRole.pack({ invalid: true }, '6.16').word).toBe(1 << 11); // reference §2.1
    expect(paging4Format({ ...X86, kvm: '6.16' }).acc.EXEC).toBe(1); // reference §4.2
    expect(makeSpteConfig({ flavour: 'ept', kvm: '6.16' }).xuMask).toBe(0n);
    expect(updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: false, kvm: '6.16' })[8]).toBe(0xf5); // reference §4.3
  });
});

describe('the ACC constants are version-explicit; the bare names are the default version (7.3)', () => {
  it('ACC_7_3 is kvm-7x.md §1.4, ACC_6_16 is reference §4.2; accEncoding picks by version', () => {
    // kvm-7x.md §1.4 table (a8827c19614 "introduce ACC_READ_MASK"): READ 1, WRITE 2, USER 4, USER_EXEC = USER, EXEC 8, ALL 0xF.
    expect([ACC_7_3.READ, ACC_7_3.WRITE, ACC_7_3.USER, ACC_7_3.USER_EXEC, ACC_7_3.EXEC, ACC_7_3.ALL, ACC_7_3.values]).toEqual([1, 2, 4, 4, 8, 0xf, 16]);
    // kvm-mmu.md §4.2 (v6.16 spte.h ACC_EXEC_MASK 1, ACC_WRITE_MASK 2, ACC_USER_MASK 4, ACC_ALL 7); no READ, no USER_EXEC.
    expect([ACC_6_16.READ, ACC_6_16.WRITE, ACC_6_16.USER, ACC_6_16.USER_EXEC, ACC_6_16.EXEC, ACC_6_16.ALL, ACC_6_16.values]).toEqual([0, 2, 4, 0, 1, 7, 8]);
    expect(accEncoding('7.3')).toBe(ACC_7_3);
    expect(accEncoding('6.16')).toBe(ACC_6_16);
  });

  it("the bare ACC_* equal the default version's (7.3), not v6.16's", () => {
    expect(DEFAULT_KVM_VERSION).toBe('7.3');
    expect(ACC_EXEC).toBe(8); // kvm-7x.md §1.4 ACC_EXEC_MASK (v6.16: 1)
    expect(ACC_ALL).toBe(0xf); // kvm-7x.md §1.4 ACC_ALL (v6.16: 7)
    expect(ACC_READ).toBe(1); // kvm-7x.md §1.4 ACC_READ_MASK
    expect(ACC_USER_EXEC).toBe(4); // kvm-7x.md §1.4 ACC_USER_EXEC_MASK = ACC_USER_MASK
    expect([ACC_WRITE, ACC_USER]).toEqual([2, 4]);
  });

  it('WRITE and USER, the bits the shadow MMU tests bare (shadow-fault, sync, gpte, shadow-vcpu pkru), are the same in both versions', () => {
    // reference §4.2 and kvm-7x.md §1.4: ACC_WRITE_MASK = PT_WRITABLE_MASK (2), ACC_USER_MASK = PT_USER_MASK (4) in both.
    expect(ACC_6_16.WRITE).toBe(ACC_7_3.WRITE);
    expect(ACC_6_16.USER).toBe(ACC_7_3.USER);
    expect(ACC_WRITE).toBe(ACC_6_16.WRITE);
    expect(ACC_USER).toBe(ACC_6_16.USER);
  });

  it("decodeAcc reads each version's encoding", () => {
    expect(decodeAcc(ACC_6_16.ALL, false, '6.16')).toBe('UWX'); // v6.16: U 4, W 2, X 1
    expect(decodeAcc(ACC_6_16.EXEC, false, '6.16')).toBe('--X');
    expect(decodeAcc(ACC_7_3.EXEC)).toBe('---X'); // 7.3: X is 8
    expect(decodeAcc(ACC_7_3.READ | ACC_7_3.WRITE, true)).toBe('RW--');
  });
});
