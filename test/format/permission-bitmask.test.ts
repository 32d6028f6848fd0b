import { describe, expect, it } from 'vitest';
import { updatePermissionBitmask, updatePkruBitmask } from '../../src';

/**
 * SDM Vol. 3A §4.6 (reference §4.1), stated per access and per page rights, without KVM's
 * byte masks. `acc` is an ACC value: exec=1, write=2, user=4. `idx` = error-code bits 4:1
 * {W, U, SMAP-override slot, FETCH}.
 */
function faultsPerSdm(idx: number, acc: number, c: { wp: boolean; smep: boolean; smap: boolean; nx: boolean }): boolean {
  const write = (idx & 1) !== 0;
  const user = (idx & 2) !== 0;
  const acOverride = (idx & 4) !== 0; // explicit supervisor access with EFLAGS.AC=1
  const fetch = (idx & 8) !== 0;
  const pageUser = (acc & 4) !== 0;
  const pageWritable = (acc & 2) !== 0;
  const pageExec = (acc & 1) !== 0;
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

describe('update_permission_bitmask', () => {
  it('agrees with the SDM rules for every WP/SMEP/SMAP/NX, access index and ACC value', () => {
    let n = 0;
    for (let f = 0; f < 16; f++) {
      const c = { wp: !!(f & 1), smep: !!(f & 2), smap: !!(f & 4), nx: !!(f & 8) };
      const perm = updatePermissionBitmask({ cr0Wp: c.wp, cr4Smep: c.smep, cr4Smap: c.smap, eferNx: c.nx, ept: false });
      for (let idx = 0; idx < 16; idx++) {
        for (let acc = 0; acc < 8; acc++) {
          // A "write" that is also a "fetch" does not exist; KVM's table still has those slots.
          if ((idx & 1) && (idx & 8)) continue;
          expect(((perm[idx]! >> acc) & 1) === 1, `${JSON.stringify(c)} idx ${idx} acc ${acc}`).toBe(faultsPerSdm(idx, acc, c));
          n++;
        }
      }
    }
    expect(n).toBe(16 * 12 * 8);
  });

  it('reproduces the reference values for WP=1 NX=1 SMEP=1 SMAP=1', () => {
    const p = updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: false });
    expect(p[0]).toBe(0xf0); // supervisor read, AC=0
    expect(p[4]).toBe(0x00); // supervisor read, AC=1
    expect(p[3]).toBe(0x3f); // user write
    expect(p[8]).toBe(0xf5); // supervisor fetch
    expect(p[10]).toBe(0x5f); // user fetch
  });

  it('EPT: read needs R (ACC_USER), write needs W, fetch needs X; nothing else', () => {
    const p = updatePermissionBitmask({ cr0Wp: true, cr4Smep: true, cr4Smap: true, eferNx: true, ept: true });
    for (let idx = 0; idx < 16; idx++) {
      for (let acc = 0; acc < 8; acc++) {
        const want = ((idx & 1) && !(acc & 2)) || ((idx & 2) && !(acc & 4)) || ((idx & 8) && !(acc & 1));
        expect(((p[idx]! >> acc) & 1) === 1, `idx ${idx} acc ${acc}`).toBe(!!want);
      }
    }
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
