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
import { InvalidArgumentError, Vm, gpa, kvmMmuTrackWrite, type ShadowMmu } from '../../src';
import { shadowFixture, tableOf } from './fixtures';
import { DATA_G, GVA, nested } from './nested-fixture';
import { refuses } from './refusal';

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
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'tlb_flush').map((e) => [e.vcpu, e.outcome])).toEqual([[3, 'emulated write to a shadowed page table']]);
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

describe('kvm_mmu_track_write skips a page an earlier iteration zapped (for_each_valid_sp, mmu.c:1986-1994, 2090-2093)', () => {
  it('nested EPT: zapping the upper page zaps its parentless guest_mode child at the same gfn, which the loop then skips', () => {
    const MT_WB = 6n << 3n; // EPT memory type WB, bits 5:3 of a leaf (SDM Vol. 3C 29.3.7)
    const n = nested({ kvm: '6.16' });
    const [R1, R2] = [0x4000_0000n, 0x8000_0000n];
    n.ept.map(R1 + 0x100_0000n, DATA_G);
    n.ept.map(R2 + 0x100_0000n, DATA_G);
    const p2 = BigInt(n.ept.getEntry(R1, 2).gpa) & ~0xfffn; // EPT12 PD of the second GiB
    const g = BigInt(n.ept.getEntry(R2, 2).gpa) & ~0xfffn; // EPT12 PD of the third GiB
    n.ept.setEntry(R1, 2, g | 7n); // p2's PDE 0 uses g as a page table
    n.ept.setEntry(R2 + 0x20_0000n, 2, g | 7n); // g's PDE 1 uses g itself as a page table
    n.vm.guestMem.write64(gpa(g + 5n * 8n), DATA_G | 7n | MT_WB);
    const [ga, gb] = [GVA + 0x100_0000n, GVA + 0x120_0000n];
    n.l2pt.map(ga, R1 + 0x5000n, { flags: { writable: true } });
    n.l2pt.map(gb, R2 + 0x20_0000n + 0x5000n, { flags: { writable: true } });
    n.enter();
    const gfn = Number(g >> 12n);
    expect(n.v.read(ga).status).toBe('ok'); // the level-1 page at g (parent: p2's page)
    expect(n.v.read(gb).status).toBe('ok'); // the level-2 page at g, newer: first in the hash chain (hlist_add_head, mmu.c:2343)
    // L1 clears p2's PDE: that SPTE is zapped without a zap list (mmu.c:6128), so the level-1 page
    // keeps one parent, the level-2 page at its own gfn.
    n.vm.guestMem.write64(gpa(p2), 0n);
    kvmMmuTrackWrite(n.vm.shadow, Number(p2), 8, false, 0);
    expect(n.vm.shadow.find(gfn).map((p) => [p.level, p.parentPtes.length])).toEqual([[2, 1], [1, 1]]);
    const [flooded, zapped] = [n.vm.stats.get('mmu_flooded'), n.vm.stats.get('mmu_shadow_zapped')];
    kvmMmuTrackWrite(n.vm.shadow, Number(g) + 0x100, 2, false, 0); // misaligned: bytes < 4 (mmu.c:6046-6050)
    // The level-2 page is zapped (mmu.c:6115-6118); unlinking its children zaps the guest_mode child left
    // without parents (tdp_enabled, mmu.c:2591-2595), so the loop skips it: one mmu_flooded, two pages zapped.
    expect(n.vm.stats.get('mmu_flooded')).toBe(flooded + 1);
    expect(n.vm.stats.get('mmu_shadow_zapped')).toBe(zapped + 2);
    expect(n.vm.shadow.find(gfn)).toEqual([]);
  });
});

describe('kvmMmuTrackWrite: the rule id and a message that starts with the parameter (src/errors.ts)', () => {
  it('refuses what is no ShadowMmu', () => {
    refuses(() => kvmMmuTrackWrite({} as ShadowMmu, 0x1000, 8, false, 0), InvalidArgumentError, 'shadow-mmu', "mmu must be a ShadowMmu (a VM's vm.shadow)");
  });
});
