/**
 * `kvm_mmu_track_write` (src/shadow/track-write.ts: kvmMmuTrackWrite) called as the emulator calls
 * it after writing guest memory, against arch/x86/kvm/mmu/mmu.c of Linux v6.16.1:
 * - mmu.c:6099-6100: nothing at all (not even mmu_pte_write) while indirect_shadow_pages is 0;
 * - `mmu_pte_write_fetch_gpte` (mmu.c:5987-6008): a PAE vCPU's 4-byte write becomes the 8-byte
 *   gPTE at its start; gentry is read only for 4- and 8-byte writes, 0 if the read fails;
 * - mmu.c:6106-6124: a misaligned write or flooding zaps the page (mmu_flooded); otherwise the
 *   written SPTE(s) are zapped, mmu_pde_zapped counts a non-zero gentry on an upper-level page,
 *   and a flush follows only if a zapped SPTE was present (`kvm_mmu_remote_flush_or_zap`,
 *   mmu.c:2076-2088: a zap list is committed with its own flush instead).
 */
import { describe, expect, it } from 'vitest';
import { Vm, gpa, kvmMmuTrackWrite } from '../../src';
import { shadowFixture, tableOf } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const idxOf = (va: bigint, level: number) => Number((va >> (12n + 9n * BigInt(level - 1))) & 511n);

function mapped(mode: 'paging4' | 'paging32' = 'paging4') {
  const f = shadowFixture(mode, { hostPageSize: '4K' });
  f.pt.map(VA, GPA, { flags: { writable: true } });
  expect(f.v.read(VA).status).toBe('ok');
  return { f, m: f.vm.shadow, stat: (n: Parameters<typeof f.vm.stats.get>[0]) => f.vm.stats.get(n) };
}

const trackEvents = (vm: Vm, from: number) => vm.events.all.slice(from).filter((e) => e.kind === 'track_write');

describe('kvm_mmu_track_write', () => {
  it('without indirect shadow pages it returns before counting', () => {
    const vm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt' } });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram' });
    expect(vm.shadow.indirectShadowPages).toBe(0);
    kvmMmuTrackWrite(vm.shadow, 0x1000, 8, false, 0);
    expect(vm.stats.get('mmu_pte_write')).toBe(0);
    expect(vm.events.all.filter((e) => e.kind === 'track_write')).toEqual([]);
  });

  it('an 8-byte write to a PTE: gentry is the new 8-byte gPTE; the level-1 SPTE is zapped and flushed, not counted as a PDE', () => {
    const { f, m, stat } = mapped();
    const pt = tableOf(f, VA, 1);
    const pte = BigInt(f.pt.getEntry(VA, 1).gpa);
    const value = (1n << 63n) | (GPA + 0x5000n) | 0x67n;
    f.vm.guestMem.write64(gpa(pte), value);
    const flushes = stat('remote_tlb_flush');
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, Number(pte), 8, false, 3);
    expect(trackEvents(f.vm, from).map((e) => [e.vcpu, e.gpa, e.code])).toEqual([[3, pte, value]]);
    expect(m.readSpte(pt, idxOf(VA, 1)) & 1n).toBe(0n);
    expect([stat('mmu_pte_write'), stat('mmu_pde_zapped'), stat('mmu_flooded')]).toEqual([1, 0, 0]);
    expect(stat('remote_tlb_flush')).toBe(flushes + 1);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'tlb_flush').map((e) => e.vcpu)).toEqual([3]);
  });

  it('a 4-byte write without PAE: gentry is the 4-byte word (a 32-bit guest PDE), two PAE PDEs zapped', () => {
    const { f, m, stat } = mapped('paging32');
    const pde = BigInt(f.pt.getEntry(VA, 2).gpa);
    const value = f.vm.guestMem.read32(gpa(pde));
    expect(value & 1).toBe(1);
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, Number(pde), 4, false, 0);
    expect(trackEvents(f.vm, from).map((e) => [e.gpa, e.code])).toEqual([[pde, BigInt(value)]]);
    // Not misaligned for 4-byte gPTEs: no page zapped; the PDE's two SPTEs zapped, one present.
    expect(stat('mmu_flooded')).toBe(0);
    expect(stat('mmu_pde_zapped')).toBe(2);
    expect(f.v.shadow!.ctx.paeRootSps.every((sp) => sp !== null && !sp.role.invalid)).toBe(true);
  });

  it('a PAE vCPU\'s 4-byte write to the high half is widened to the gPTE (gentry of 8 bytes)', () => {
    const { f, m, stat } = mapped();
    const pde = BigInt(f.pt.getEntry(VA, 2).gpa);
    const value = f.vm.guestMem.read64(gpa(pde));
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, Number(pde) + 4, 4, true, 0);
    expect(trackEvents(f.vm, from).map((e) => [e.gpa, e.code])).toEqual([[pde, value]]);
    expect(stat('mmu_flooded')).toBe(0);
    expect(stat('mmu_pde_zapped')).toBe(1);
  });

  it('the same 4-byte write from a vCPU without PAE stays 4 bytes: gentry is the high word (0), not counted', () => {
    const { f, m, stat } = mapped();
    const pd = tableOf(f, VA, 2);
    const pde = BigInt(f.pt.getEntry(VA, 2).gpa);
    expect(f.vm.guestMem.read32(gpa(pde + 4n))).toBe(0);
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, Number(pde) + 4, 4, false, 0);
    expect(trackEvents(f.vm, from).map((e) => [e.gpa, e.code])).toEqual([[pde + 4n, 0n]]);
    // Inside one 8-byte gPTE and 4 bytes long: not misaligned (mmu.c:6046-6050).
    expect(stat('mmu_flooded')).toBe(0);
    expect(pd.role.invalid).toBe(false);
    expect(stat('mmu_pde_zapped')).toBe(0);
    expect(m.readSpte(pd, idxOf(VA, 2)) & 1n).toBe(0n);
  });

  it('a 1-byte write at a PDE\'s start is not misaligned, and reads no gentry (not counted as a PDE)', () => {
    const { f, m, stat } = mapped();
    const pd = tableOf(f, VA, 2);
    const pde = BigInt(f.pt.getEntry(VA, 2).gpa);
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, Number(pde), 1, false, 0);
    expect(trackEvents(f.vm, from).map((e) => e.code)).toEqual([0n]);
    expect(stat('mmu_flooded')).toBe(0);
    expect(stat('mmu_pde_zapped')).toBe(0);
    expect(pd.role.invalid).toBe(false);
    expect(m.readSpte(pd, idxOf(VA, 2)) & 1n).toBe(0n);
  });

  it('a write to a gfn without memory reads gentry 0 and zaps nothing', () => {
    const { f, m, stat } = mapped();
    const flushes = stat('remote_tlb_flush');
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, 0x7fff_f000, 8, false, 0);
    expect(trackEvents(f.vm, from).map((e) => e.code)).toEqual([0n]);
    expect(stat('mmu_pte_write')).toBe(1);
    expect(stat('remote_tlb_flush')).toBe(flushes);
  });

  it('the third write to an upper-level page without a walk through it zaps the page (one commit, one flush)', () => {
    const { f, m, stat } = mapped();
    const pd = tableOf(f, VA, 2);
    const unused = BigInt(f.pt.getEntry(VA, 2).gpa) + 8n * 7n;
    for (let i = 0; i < 2; i++) kvmMmuTrackWrite(m, Number(unused), 8, false, 0);
    expect(pd.role.invalid).toBe(false);
    const flushes = stat('remote_tlb_flush');
    const from = f.vm.events.all.length;
    kvmMmuTrackWrite(m, Number(unused), 8, false, 0);
    expect(pd.role.invalid).toBe(true);
    expect(stat('mmu_flooded')).toBe(1);
    expect(stat('remote_tlb_flush')).toBe(flushes + 1);
    const ev = trackEvents(f.vm, from);
    expect(ev.length).toBe(1);
    expect(ev[0]!.outcome).toMatch(/1 page\(s\) zapped/);
  });
});
