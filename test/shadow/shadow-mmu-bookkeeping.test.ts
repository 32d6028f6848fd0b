/**
 * Bookkeeping of the shadow MMU's one SPTE-change function and its helpers, against
 * arch/x86/kvm/mmu/mmu.c and spte.c of Linux v6.16.1:
 * - rmap_add feeds max_mmu_rmap_size with the chain length (mmu.c:1686-1692);
 * - drop_parent_pte removes exactly the parent SPTE unlinked (mmu.c:1842-1851 → pte_list_remove);
 * - make_spte marks a gfn dirty only for a writable SPTE (spte.c:256-261);
 * - account_shadowed flushes the write-protected gfn at 4K (mmu.c:773-776);
 * - n_max_mmu_pages is the value configured (kvm_mmu_change_mmu_pages).
 * Plus the model's own check that no huge leaf is installed over a gfn whose huge pages are
 * disallowed (a shadowed guest page table inside: kvm_mmu_max_mapping_level would not allow it).
 */
import { describe, expect, it } from 'vitest';
import { InvariantViolation } from '../../src';
import { shadowFixture, tableOf } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;

describe('rmap and parent lists', () => {
  it('two guest pages mapping one gfn: max_mmu_rmap_size 2', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true } });
    f.pt.map(VA + 0x20_0000n, GPA, { flags: { writable: true, accessed: true } });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.stats.get('max_mmu_rmap_size')).toBe(1);
    expect(f.v.read(VA + 0x20_0000n).status).toBe('ok');
    expect(f.vm.stats.get('max_mmu_rmap_size')).toBe(2);
  });

  it('a page table linked from two PDEs: zapping the second link leaves the first in its parent list', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    f.pt.setEntry(VA + 0x20_0000n, 2, f.pt.getEntry(VA, 2).value);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.read(VA + 0x20_0000n).status).toBe('ok');
    const pd = tableOf(f, VA, 2);
    const pt = tableOf(f, VA, 1);
    const i = Number((VA >> 21n) & 511n);
    expect(pt.parentPtes.map((p) => [p.sp === pd, p.idx]).sort()).toEqual([[true, i], [true, i + 1]]);
    // The guest clears the second PDE: an emulated write to its (write-tracked) page directory.
    expect(f.storePte(VA + 0x20_0000n, 2, 0n).status).toBe('emulated');
    expect(pt.parentPtes.map((p) => [p.sp === pd, p.idx])).toEqual([[true, i]]);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.read(VA + 0x20_0000n).status).toBe('guest-pf');
  });
});

describe('dirty logging and write protection', () => {
  it('a read-only SPTE made while the slot logs does not mark its gfn dirty; a writable one does', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: false, accessed: true } });
    f.pt.map(VA + 0x1000n, GPA + 0x1000n, { flags: { writable: true, accessed: true, dirty: true } });
    f.vm.setDirtyLogging(f.ram, true);
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.vm.getDirtyLog(f.ram)).not.toContain(GPA);
    expect(f.v.write(VA + 0x1000n).status).toBe('ok');
    expect(f.vm.getDirtyLog(f.ram)).toContain(GPA + 0x1000n);
  });

  it('shadowing a page table whose frame is mapped writable write-protects it with a 4K flush of that gfn', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    const pdGpa = BigInt(f.pt.getEntry(VA, 2).gpa) & ~0xfffn;
    // The guest first touches its page directory through the direct map (a writable 4K SPTE) ...
    expect(f.v.write(f.dm(pdGpa + 8n * 500n)).status).toBe('ok');
    const from = f.vm.events.all.length;
    // ... then walks through it: account_shadowed write-protects the frame and flushes it.
    expect(f.v.read(VA).status).toBe('ok');
    const fl = f.vm.events.all.slice(from).filter((e) => e.kind === 'tlb_flush' && e.gpa === pdGpa);
    expect(fl.map((e) => e.level)).toEqual([1]);
  });
});

describe("limits and the model's own checks", () => {
  it('n_max_mmu_pages is the configured value', () => {
    expect(shadowFixture('paging4', { maxMmuPages: 100 }).vm.shadow.maxMmuPages).toBe(100);
  });

  it('a 2M leaf over a gfn range holding a shadowed guest page table is refused', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const pd = tableOf(f, VA, 2);
    const free = 500;
    const leaf = f.v.shadow!.leafFor(VA)!.spte;
    // The 2M frame at 0 holds the table pool (0x10_0000..): its huge pages are disallowed; an
    // indirect page's entry with no recorded translation reads gfn 0 (kvm_mmu_page_get_gfn).
    const huge = (leaf & ~0x000f_ffff_ffff_f000n) | 0x80n;
    expect(f.vm.shadow.lpageDisallowed(0, 2)).toBe(true);
    expect(f.vm.shadow.lpageDisallowed(0x40_0000 >> 12, 2)).toBe(false);
    try {
      f.vm.shadow.setSpte(pd, free, huge, 0);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(InvariantViolation);
      expect((e as InvariantViolation).rule).toBe('huge-over-disallowed');
      expect((e as InvariantViolation).message).toContain('a level-2 leaf is installed over GFN 0x0 whose huge pages are disallowed');
      expect((e as InvariantViolation).value).toBe('0x' + huge.toString(16));
    }
  });
});
