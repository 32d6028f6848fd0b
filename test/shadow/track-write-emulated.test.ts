/**
 * `kvm_mmu_track_write` after an emulated guest write to a shadowed upper-level page table
 * (mmu.c:6086-6132 of Linux v6.16.1): `mmu_pte_write_fetch_gpte` widens a PAE guest's 4-byte
 * write to its 8-byte gPTE and reads the new gPTE (mmu.c:5987-6008); mmu_pde_zapped counts only a
 * non-zero gentry written to an upper-level page (mmu.c:6120-6121); the flush happens only when a
 * present SPTE was zapped (mmu.c:6122-6123, kvm_mmu_remote_flush_or_zap mmu.c:2076-2088).
 */
import { describe, expect, it } from 'vitest';
import { shadowFixture } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;

type F = ReturnType<typeof shadowFixture>;
function trackWrites(f: F, from: number) {
  return f.vm.events.all.slice(from).filter((e) => e.kind === 'track_write');
}

describe('kvm_mmu_track_write', () => {
  it('PAE: a 4-byte write to the high half of a PDE is handled as the 8-byte gPTE at its start', () => {
    const f = shadowFixture('pae');
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pde = f.pt.getEntry(VA, 2);
    const pdeGpa = BigInt(pde.gpa);
    const from = f.vm.events.all.length;
    const w = f.v.store(f.dm(pdeGpa + 4n), 0n, 4);
    expect(w.status).toBe('emulated');
    const ev = trackWrites(f, from);
    expect(ev.map((e) => [e.gpa, e.code])).toEqual([[pdeGpa, pde.value & 0xffff_ffffn]]);
    expect(f.vm.stats.get('mmu_pte_write')).toBe(1);
    // The low half still makes a present PDE: gentry ≠ 0 on a level-2 page.
    expect(f.vm.stats.get('mmu_pde_zapped')).toBe(1);
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
  });

  it('zeroing a PDE whose SPTE is present: zapped and flushed, but not counted in mmu_pde_zapped', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const flushes = f.vm.stats.get('remote_tlb_flush');
    const w = f.storePte(VA, 2, 0n);
    expect(w.status).toBe('emulated');
    expect(f.vm.stats.get('mmu_pte_write')).toBe(1);
    expect(f.vm.stats.get('mmu_pde_zapped')).toBe(0);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes + 1);
    expect(f.v.read(VA).status).toBe('guest-pf');
  });

  it('a write to a PDE whose SPTE is not present zaps nothing and does not flush', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pdGpa = BigInt(f.pt.getEntry(VA, 2).gpa) & ~0xfffn;
    const unusedPde = pdGpa + 8n * (((VA >> 21n) & 511n) + 7n);
    const flushes = f.vm.stats.get('remote_tlb_flush');
    const w = f.v.store(f.dm(unusedPde), 0x1234_5000n | 0x63n, 8);
    expect(w.status).toBe('emulated');
    expect(f.vm.stats.get('mmu_pte_write')).toBe(1);
    // gentry ≠ 0 on a level-2 page: counted even though the SPTE was not present.
    expect(f.vm.stats.get('mmu_pde_zapped')).toBe(1);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes);
    expect(f.vm.stats.get('mmu_flooded')).toBe(0);
    expect(f.v.read(VA).status).toBe('ok');
  });
});
