import { describe, expect, it } from 'vitest';
import { KVM_VERSIONS, accEncoding, updatePermissionBitmask, updatePkruBitmask, type KvmVersion } from '../../src';

/**
 * SDM Vol. 3A §4.6 (reference §4.1), stated per access and per page rights, without KVM's
 * byte masks. `acc` is an ACC value in the version's encoding (v6.16, reference §4.2: exec 1,
 * write 2, user 4; 7.3, kvm-7x.md §1.4: read 1, write 2, user 4, exec 8). `idx` = error-code
 * bits 4:1 {W, U, SMAP-override slot, FETCH}.
 */
function faultsPerSdm(idx: number, acc: number, c: { wp: boolean; smep: boolean; smap: boolean; nx: boolean }, kvm: KvmVersion): boolean {
  const e = accEncoding(kvm);
  const write = (idx & 1) !== 0;
  const user = (idx & 2) !== 0;
  const acOverride = (idx & 4) !== 0; // explicit supervisor access with EFLAGS.AC=1
  const fetch = (idx & 8) !== 0;
  const pageUser = (acc & e.USER) !== 0;
  const pageWritable = (acc & e.WRITE) !== 0;
  const pageExec = (acc & e.EXEC) !== 0;
  if (user) {
    if (!pageUser) return true;
    if (write && !pageWritable) return true;
    if (fetch && c.nx && !pageExec) return true;
    return false;
  }
  // supervisor
  if (fetch) {
    if (pageUser && c.smep) return true;
    if (c.nx && !pageExec) return true;
  }
  if (write && !pageWritable && c.wp) return true;
  // SMAP: data accesses (a fetch never), unless overridden.
  if (!fetch && pageUser && c.smap && !acOverride) return true;
  return false;
}

/**
 * The ACC values an x86 walk can produce. v6.16: all 8. 7.3: ACC_READ is always set after a
 * successful x86 walk ("P is set here, so the page is always readable", kvm-7x.md §1.4), so the
 * R = 0 half of the u16 entry is don't-care (§1.5) and only the 8 values with READ are checked.
 */
function x86AccValues(kvm: KvmVersion): number[] {
  const e = accEncoding(kvm);
  return Array.from({ length: e.values }, (_, a) => a).filter((a) => e.READ === 0 || (a & e.READ) !== 0);
}

describe.each(KVM_VERSIONS)('update_permission_bitmask, KVM %s', (kvm) => {
  it('agrees with the SDM rules for every WP/SMEP/SMAP/NX, access index and ACC value', () => {
    let n = 0;
    for (let f = 0; f < 16; f++) {
      const c = { wp: !!(f & 1), smep: !!(f & 2), smap: !!(f & 4), nx: !!(f & 8) };
      const perm = updatePermissionBitmask({ cr0Wp: c.wp, cr4Smep: c.smep, cr4Smap: c.smap, eferNx: c.nx, ept: false, kvm });
      for (let idx = 0; idx < 16; idx++) {
        for (const acc of x86AccValues(kvm)) {
          // A "write" that is also a "fetch" does not exist; KVM's table still has those slots.
          if ((idx & 1) && (idx & 8)) continue;
          expect(((perm[idx]! >> acc) & 1) === 1, `${JSON.stringify(c)} idx ${idx} acc ${acc}`).toBe(faultsPerSdm(idx, acc, c, kvm));
          n++;
        }
      }
    }
    expect(n).toBe(16 * 12 * 8);
  });

  it('EPT without MBEC: read needs R, write needs W, fetch needs X (XS); nothing else', () => {
    const e = accEncoding(kvm);
    const p = updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: true, kvm });
    for (let idx = 0; idx < 16; idx++) {
      // 7.3 has one rule per access (§1.5): a "write" that is also a "fetch" does not exist.
      if (kvm === '7.3' && (idx & 1) && (idx & 8)) continue;
      for (let acc = 0; acc < e.values; acc++) {
        // v6.16 (vmx.c: handle_ept_violation, reference §6.5): a read is keyed by PFERR_USER and
        // R lives in ACC_USER. 7.3 (kvm-7x.md §1.3, §1.5): a read is "!W && !F" (INFERRED there),
        // PFERR_USER is the user-mode linear address, R is ACC_READ, and without MBEC XU
        // (ACC_USER_EXEC) grants nothing.
        const read = kvm === '6.16' ? (idx & 2) !== 0 : (idx & 9) === 0;
        const rBit = kvm === '6.16' ? e.USER : e.READ;
        const want = ((idx & 1) && !(acc & e.WRITE)) || (read && !(acc & rBit)) || ((idx & 8) && !(acc & e.EXEC));
        expect(((p[idx]! >> acc) & 1) === 1, `idx ${idx} acc ${acc}`).toBe(!!want);
      }
    }
  });
});

describe("update_permission_bitmask, KVM '6.16' reference values", () => {
  it('reproduces the reference values for WP=1 NX=1 SMEP=1 SMAP=1', () => {
    // kvm-mmu.md §4.3, reference-value table (lines 488-495), v6.16 u8 entries.
    const p = updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: false, kvm: '6.16' });
    expect(p[0]).toBe(0xf0); // supervisor read, AC=0
    expect(p[4]).toBe(0x00); // supervisor read, AC=1
    expect(p[3]).toBe(0x3f); // user write
    expect(p[8]).toBe(0xf5); // supervisor fetch
    expect(p[10]).toBe(0x5f); // user fetch
  });
});

describe('update_pkru_bitmask', () => {
  it('is zero without CR4.PKE', () => {
    expect(updatePkruBitmask({ cr4Pke: false, cr0Wp: true })).toBe(0);
  });
  it('checks AD for data accesses to user pages and WD for writes (supervisor writes only with WP)', () => {
    for (const wp of [false, true]) {
      const mask = updatePkruBitmask({ cr4Pke: true, cr0Wp: wp });
      for (let idx = 0; idx < 16; idx++) {
        const write = (idx & 1) !== 0;
        const user = (idx & 2) !== 0;
        const pageUser = (idx & 4) !== 0;
        const fetch = (idx & 8) !== 0;
        const ad = pageUser && !fetch;
        const wd = ad && write && (user || wp);
        const bits = (mask >>> (idx * 2)) & 3;
        expect(bits, `wp=${wp} idx=${idx}`).toBe((ad ? 1 : 0) | (wd ? 2 : 0));
      }
    }
  });
});
