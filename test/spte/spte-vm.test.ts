/**
 * The SPTE rules of test/spte/spte.test.ts as a VM shows them: the bits of the leaves the MMUs
 * install, and the remote TLB flushes they do (the 6.13+ rule, kvm-7x.md §5.1). Expected values cite
 * the v6.16.1 source.
 */
import { describe, expect, it } from 'vitest';
import { spteChangeNeedsFlushForTest } from './spte-vm-support';
import { fixture } from '../vm/fixtures';
import { nested, GVA, DATA_N } from '../shadow/nested-fixture';
import { shadowFixture } from '../shadow/fixtures';

const VA = 0x7000_0000n;
const bit = (n: number) => 1n << BigInt(n);
const flushes = (f: { vm: { stats: { get(n: 'remote_tlb_flush'): number } } }) => f.vm.stats.get('remote_tlb_flush');

function leafAt(f: ReturnType<typeof fixture>, gfn: number): bigint {
  return f.vm.tdp.leaves(f.v.currentRoot!).find(([g]) => g === gfn)![2];
}

describe('TDP MMU leaves', () => {
  it('EPT RAM leaves are WB with IPAT; with non-coherent DMA WB without IPAT', () => {
    const f = fixture({ flavour: 'ept' }, '4K');
    f.pt.map(VA, 0x20_0000n);
    f.v.read(VA);
    expect(leafAt(f, 0x200) & 0x78n).toBe((6n << 3n) | bit(6)); // vmx.c:7839-7840 via spte.c:212
    const g = fixture({ flavour: 'ept', noncoherentDma: true }, '4K');
    g.pt.map(VA, 0x20_0000n);
    g.v.read(VA);
    expect(leafAt(g, 0x200) & 0x78n).toBe(6n << 3n); // vmx.c:7825, 7842
  });

  it('EPT without A/D: a faulted-in leaf has the software Accessed bit 8; aging clears it and flushes nothing', () => {
    const f = fixture({ flavour: 'ept', adEnabled: false }, '4K');
    f.pt.map(VA, 0x20_0000n);
    f.v.read(VA);
    expect(leafAt(f, 0x200) & bit(8)).toBe(bit(8)); // spte.c:181-182 with spte.c:460
    const before = flushes(f);
    expect(f.vm.age(0x20_0000n, 0x20_1000n)).toBe(1); // tdp_mmu.c:1394 is_accessed_spte
    expect(leafAt(f, 0x200) & (bit(8) | 7n)).toBe(0n); // spte.c:381
    expect(f.vm.age(0x20_0000n, 0x20_1000n)).toBe(0); // tdp_mmu.c:1394-1395
    expect(flushes(f)).toBe(before); // spte.h:493-495: aging never flushes
  });
});

describe('remote TLB flushes of dirty logging (kvm_mmu_slot_apply_flags, kvm_get_dirty_log_protect)', () => {
  it('enabling dirty logging flushes once, even with nothing to write-protect', () => {
    const f = fixture({ flavour: 'ept' }, '4K');
    const before = flushes(f);
    f.vm.setDirtyLogging(f.ram, true);
    expect(flushes(f)).toBe(before + 1); // x86.c:13297 (unconditional)
  });

  it('enabling dirty logging over many writable leaves still flushes once', () => {
    const f = fixture({ flavour: 'ept' }, '4K');
    f.pt.map(VA, 0x20_0000n, { count: 8, flags: { writable: true } });
    for (let i = 0n; i < 8n; i++) f.v.write(VA + i * 4096n);
    const before = flushes(f);
    f.vm.setDirtyLogging(f.ram, true);
    expect(flushes(f)).toBe(before + 1); // x86.c:13297; kvm_tdp_mmu_wrprot_slot does not flush (mmu.c:6798-6801)
  });

  for (const pml of [false, true]) {
    it(`a harvest flushes once when pages were dirty, never when none were (${pml ? 'PML' : 'write protection'})`, () => {
      const f = fixture({ flavour: 'ept', pml }, '4K');
      f.pt.map(VA, 0x20_0000n, { count: 4, flags: { writable: true } });
      for (let i = 0n; i < 4n; i++) f.v.read(VA + i * 4096n);
      f.vm.setDirtyLogging(f.ram, true);
      f.vm.getDirtyLog(f.ram);
      f.v.write(VA);
      f.v.write(VA + 0x2000n);
      const before = flushes(f);
      // The guest's own page tables (A/D updates by the walk) are harvested too; the data pages:
      expect(f.vm.getDirtyLog(f.ram).filter((g) => g >= 0x20_0000n)).toEqual([0x20_0000n, 0x20_2000n]);
      expect(flushes(f)).toBe(before + 1); // kvm_main.c:2271, 2282-2283
      expect(f.vm.getDirtyLog(f.ram)).toEqual([]);
      expect(flushes(f)).toBe(before + 1); // kvm_main.c:2268-2269: no dirty word, no flush
    });
  }
});

describe('shadow MMU', () => {
  it('mmu_spte_update flushes only when MMU-writable is lost', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    f.v.write(VA);
    const s = f.v.shadow!.leafFor(VA)!.spte;
    const c = f.vm.config;
    expect(spteChangeNeedsFlushForTest(f.vm.shadow, s, s & ~c.accessedMask)).toBe(false); // spte.h:493-495
    expect(spteChangeNeedsFlushForTest(f.vm.shadow, s, s & ~c.dirtyMask)).toBe(false); // spte.h:497-500
    expect(spteChangeNeedsFlushForTest(f.vm.shadow, s, s & ~2n)).toBe(false); // spte.h:489-491
    expect(spteChangeNeedsFlushForTest(f.vm.shadow, s, s & ~(2n | c.mmuWritableMask))).toBe(true); // spte.h:509
    expect(spteChangeNeedsFlushForTest(f.vm.shadow, 1n << 63n, s)).toBe(false); // mmu.c:500-503
  });

  it('n_used_mmu_pages keeps a zapped root still in use until its vCPU drops it', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, 0x80_0000n);
    f.v.read(VA);
    const m = f.vm.shadow;
    expect(m.nUsedMmuPages).toBe(m.allPages.length);
    f.vm.zapAll();
    // __kvm_mmu_prepare_zap_page: only pages with root_count 0 are unaccounted (mmu.c:2669-2684);
    // the loaded root stays counted (mmu.c:2685-2697).
    expect(m.allPages.length).toBe(1);
    expect(m.nUsedMmuPages).toBe(1);
    expect(f.vm.stats.get('mmu_pages')).toBe(1);
    f.v.read(VA); // KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the old root is put and prepared again, now counted off
    expect(m.nUsedMmuPages).toBe(m.allPages.length);
    expect(f.vm.stats.get('mmu_pages')).toBe(m.allPages.length);
  });

  it('nested EPT with PML: guest_mode leaves are WRPROT_ONLY (kvm_mmu_page_ad_need_write_protect)', () => {
    const n = nested({ ad: true, accessed: true, pml: true });
    n.enter();
    expect(n.v.read(GVA).status).toBe('ok');
    const table = n.vm.shadow.find(Number(BigInt(n.ept.getEntry(DATA_N, 1).gpa) >> 12n))[0]!;
    const spte = n.vm.shadow.readSpte(table, Number((DATA_N >> 12n) & 511n));
    // The A/D type field is the VM's KVM version's (6.16: 53:52; 7.2+: 61:60, kvm-7x.md §5.5).
    const L = n.vm.config.layout;
    expect(spte & L.adMask).toBe(L.adWrprotOnly); // spte.c:177-178, mmu_internal.h:201
    expect(spte & 0x78n).toBe((6n << 3n) | bit(6)); // EPT02 leaves too: spte.c:212, vmx.c:7839-7840
    const m = nested({ ad: true, accessed: true });
    m.enter();
    m.v.read(GVA);
    const t2 = m.vm.shadow.find(Number(BigInt(m.ept.getEntry(DATA_N, 1).gpa) >> 12n))[0]!;
    expect(m.vm.shadow.readSpte(t2, Number((DATA_N >> 12n) & 511n)) & L.adMask).toBe(0n); // mmu_internal.h:201 without PML
  });
});
