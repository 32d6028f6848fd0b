/**
 * Manual dirty-log protect: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG that only reads,
 * KVM_CLEAR_DIRTY_LOG that clears and re-protects, and KVM_DIRTY_LOG_INITIALLY_SET
 * (`virt/kvm/kvm_main.c`, `arch/x86/kvm/x86.c`, `arch/x86/kvm/mmu/mmu.c`, v6.16.1).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, type Vm, type Memslot } from '../../src';
import { fixture } from './fixtures';

const VA = 0x7000_0000n;
const PA = 0x20_0000n;

function setup(mmu: 'ept' | 'npt' | 'pml', hostPageSize: '4K' | '2M' = '4K') {
  const f = fixture(mmu === 'pml' ? { flavour: 'ept', pml: true } : { flavour: mmu }, hostPageSize);
  f.pt.map(VA, PA, { count: 512, flags: { writable: true } });
  return f;
}

/** Exits on the data page a guest write to page `i` of the mapping took (0 = its SPTE was writable). */
function writeExits(f: ReturnType<typeof setup>, i: number): number {
  const r = f.v.write(VA + BigInt(i) * 0x1000n);
  expect(r.status).toBe('ok');
  return r.exits.filter((e) => !e.onGuestTable).length;
}

/** Dirty pages of the mapped data range (the guest's page tables, which its walks set A/D in, are left out). */
function pagesOf(vm: Vm, slot: Memslot): number[] {
  const lo = Number(PA >> 12n);
  return vm.getDirtyLog(slot).map((g) => Number((g - (slot.base as bigint)) >> 12n)).filter((p) => p >= lo && p < lo + 512);
}

describe('manual dirty-log protect (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)', () => {
  for (const mmu of ['ept', 'npt', 'pml'] as const) {
    it(`${mmu}: GET only reads the bitmap; CLEAR clears the requested set bits and re-protects those pages`, () => {
      const f = setup(mmu);
      f.vm.setManualDirtyLogProtect({ enable: true });
      f.vm.setDirtyLogging(f.ram, true);
      const base = Number(PA >> 12n);
      writeExits(f, 0);
      writeExits(f, 1);
      // kvm_main.c:2249-2258: with manual protect the bitmap is copied out, not cleared, nothing protected.
      expect(pagesOf(f.vm, f.ram)).toEqual([base, base + 1]);
      expect(pagesOf(f.vm, f.ram)).toEqual([base, base + 1]);
      expect(writeExits(f, 0)).toBe(0);
      // kvm_main.c:2383: only bits set in both the request and the bitmap are cleared, and
      // :2391-2394 re-protects exactly those pages (page 2 is requested but was not dirty).
      const req = new Uint8Array(f.ram.npages);
      req[base] = 1;
      req[base + 2] = 1;
      const cleared = f.vm.clearDirtyLog(f.ram, { bitmap: req });
      expect(cleared.map((g) => Number(g >> 12n))).toEqual([base]);
      expect(pagesOf(f.vm, f.ram)).toEqual([base + 1]);
      // Page 0 was re-protected (W, or D with PML: mmu.c:1460-1463): the next write is logged again.
      expect(writeExits(f, 0)).toBe(mmu === 'pml' ? 0 : 1);
      expect(pagesOf(f.vm, f.ram)).toEqual([base, base + 1]);
      // Page 1 was not cleared: still writable.
      expect(writeExits(f, 1)).toBe(0);
    });
  }

  it('flushes: none for a manual-protect GET, one per CLEAR that cleared bits (kvm_main.c:2249-2258, 2391-2400)', () => {
    const f = setup('ept');
    f.vm.setManualDirtyLogProtect({ enable: true });
    f.vm.setDirtyLogging(f.ram, true);
    writeExits(f, 0);
    const flushes = (why: string): number => f.vm.events.all.filter((e) => e.kind === 'tlb_flush' && e.outcome === why).length;
    f.vm.getDirtyLog(f.ram);
    expect(flushes('dirty log harvested')).toBe(0);
    f.vm.clearDirtyLog(f.ram);
    expect(flushes('dirty log cleared')).toBe(1);
    f.vm.clearDirtyLog(f.ram); // nothing left to clear: no flush
    expect(flushes('dirty log cleared')).toBe(1);
  });

  it('without manual protect GET clears and re-protects (kvm_main.c:2259-2277)', () => {
    const f = setup('ept');
    f.vm.setDirtyLogging(f.ram, true);
    writeExits(f, 0);
    expect(pagesOf(f.vm, f.ram)).toEqual([Number(PA >> 12n)]);
    expect(pagesOf(f.vm, f.ram)).toEqual([]);
    expect(writeExits(f, 0)).toBe(1);
  });

  it('INITIALLY_SET: the new bitmap is all-set and nothing is write-protected or split at enable; CLEAR splits and protects', () => {
    const f = setup('ept', '2M');
    f.vm.setManualDirtyLogProtect({ enable: true, initiallySet: true });
    writeExits(f, 0); // mapped writable by a 2M leaf before logging starts
    const splits = f.vm.stats.get('huge_page_splits');
    f.vm.setDirtyLogging(f.ram, true);
    // kvm_main.c:1695-1696: bitmap_set(new->dirty_bitmap, 0, new->npages).
    expect(f.vm.getDirtyLog(f.ram).length).toBe(f.ram.npages);
    // x86.c:13243-13244: kvm_mmu_slot_apply_flags returns before splitting or write-protecting.
    expect(f.vm.stats.get('huge_page_splits')).toBe(splits);
    expect(writeExits(f, 1)).toBe(0);
    // Clearing one 64-page word: mmu.c:1434-1447 splits (eager_page_split) and write-protects the
    // huge page at its first page, then the 4K pages are protected (:1460-1463).
    const first = Number(PA >> 12n);
    expect(f.vm.clearDirtyLog(f.ram, { firstPage: first, numPages: 64 }).length).toBe(64);
    expect(f.vm.stats.get('huge_page_splits')).toBe(splits + 1);
    expect(writeExits(f, 1)).toBe(1);
    expect(writeExits(f, 64)).toBe(0); // outside the cleared word: still writable
  });

  it('bad input is refused with state untouched', () => {
    const f = setup('ept');
    // kvm_main.c:5013-5019: INITIALLY_SET without MANUAL_PROTECT_ENABLE is -EINVAL.
    expect(() => f.vm.setManualDirtyLogProtect({ enable: false, initiallySet: true })).toThrow(InvalidArgumentError);
    expect(f.vm.manualDirtyLogProtect).toEqual({ enable: false, initiallySet: false });
    f.vm.setManualDirtyLogProtect({ enable: true });
    // kvm_main.c:2355-2356: no dirty bitmap → -ENOENT.
    expect(() => f.vm.clearDirtyLog(f.ram)).toThrow(InvalidArgumentError);
    f.vm.setDirtyLogging(f.ram, true);
    writeExits(f, 0);
    const rule = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        return (e as InvalidArgumentError).rule;
      }
      return 'no error';
    };
    // kvm_main.c:2350-2351: first_page must be a multiple of 64.
    expect(rule(() => f.vm.clearDirtyLog(f.ram, { firstPage: 32 }))).toBe('clear-dirty-log-first-page');
    // kvm_main.c:2362-2365: num_pages within the slot, a multiple of 64 unless it reaches the end.
    expect(rule(() => f.vm.clearDirtyLog(f.ram, { firstPage: 0, numPages: 65 }))).toBe('clear-dirty-log-range');
    expect(rule(() => f.vm.clearDirtyLog(f.ram, { firstPage: 64, numPages: f.ram.npages }))).toBe('clear-dirty-log-range');
    expect(pagesOf(f.vm, f.ram)).toEqual([Number(PA >> 12n)]);
    expect(writeExits(f, 0)).toBe(0);
  });
});

describe('huge leaves and the dirty-log clears (tdp_mmu.c: clear_dirty_gfn_range, clear_dirty_pt_masked, write_protect_gfn)', () => {
  const D = 1n << 9n; // EPT dirty bit (spte.c:461 shadow_dirty_mask = VMX_EPT_DIRTY_BIT)
  const W = 2n;

  function leafAt(f: ReturnType<typeof setup>, gfn: number): [number, number, bigint] {
    return f.vm.tdp.leaves(f.v.currentRoot!).find(([g, level]) => g <= gfn && gfn < g + 512 ** (level - 1))!;
  }

  it('PML, enabling dirty logging without eager split: a dirty 2M leaf loses D as well as W', () => {
    const f = setup('pml', '2M');
    const base = Number(PA >> 12n);
    expect(writeExits(f, 0)).toBe(1); // a 2M leaf, set dirty by the write
    const [, level, before] = leafAt(f, base);
    expect(level).toBe(2);
    expect(before & D).toBe(D);
    f.vm.setDirtyLogging(f.ram, true, { eagerSplit: false });
    // x86.c:13249-13251: kvm_mmu_slot_leaf_clear_dirty → kvm_tdp_mmu_clear_dirty_slot →
    // clear_dirty_gfn_range (tdp_mmu.c:1650-1653) skips only non-present and non-leaf SPTEs, so it
    // clears D on the 2M leaf too; then kvm_mmu_slot_remove_write_access(PG_LEVEL_2M) clears W.
    const [, level2, after] = leafAt(f, base);
    expect(level2).toBe(2);
    expect(after & D).toBe(0n);
    expect(after & W).toBe(0n);
    // The write to page 1 splits it (fast path refuses huge leaves while logging); make_small_spte
    // copies the huge SPTE, so page 5, never written, starts clean (spte.c: make_small_spte).
    expect(writeExits(f, 1)).toBe(1);
    expect(leafAt(f, base + 5)[2] & D).toBe(0n);
  });

  it('KVM_CLEAR_DIRTY_LOG, INITIALLY_SET, no eager split: the 4K clear skips huge leaves; only the huge page of the first (and, if ALIGN differs, last) page is write-protected', () => {
    const vmF = setup('ept', '2M');
    const { vm } = vmF;
    // A slot whose base is not 64-aligned inside a 2M region: its first 64-page word runs from gfn
    // 0x401c1 (in a region the slot covers only partly: 4K mappings) to 0x40200, the first page of a
    // region it covers whole (a 2M mapping).
    const slot = vm.addMemslot({ base: 0x401c1000n, size: 0x1000n * 0x1000n, name: 'data' });
    vmF.pt.map(0x9000_0000n, 0x401c1000n, { count: 0x40, flags: { writable: true } });
    vm.eagerPageSplit = false;
    vm.setManualDirtyLogProtect({ enable: true, initiallySet: true });
    const g0 = 0x401c1;
    const g63 = 0x40200;
    const wr = (gfn: number) => {
      const r = vmF.v.write(0x9000_0000n + BigInt(gfn - g0) * 0x1000n);
      expect(r.status).toBe('ok');
      return r.exits.filter((e) => !e.onGuestTable).length;
    };
    expect(wr(g0)).toBe(1);
    expect(wr(g63)).toBe(1);
    expect(leafAt(vmF, g63)[1]).toBe(2);
    expect(leafAt(vmF, g0)[1]).toBe(1);
    vm.setDirtyLogging(slot, true);
    // mmu.c:1434-1447: start = 0x401c1, end = 0x40200; ALIGN(start << 12, PMD_SIZE) = 0x40200000 =
    // ALIGN(end << 12, PMD_SIZE), so only the 2M pages at start are write-protected (there are none:
    // 4K) — not the 2M leaf at end. Then mmu.c:1460-1463 → kvm_tdp_mmu_clear_dirty_pt_masked with
    // wrprot (no PML) → clear_dirty_pt_masked skips iter.level > PG_LEVEL_4K (tdp_mmu.c:1707-1709).
    expect(vm.clearDirtyLog(slot, { firstPage: 0, numPages: 64 }).length).toBe(64);
    expect(isWritableSpte(leafAt(vmF, g63)[2])).toBe(true);
    expect(wr(g63)).toBe(0); // the 2M leaf still maps it writable
    expect(wr(g0)).toBe(1); // the 4K leaf at start was write-protected
  });

  it('KVM_CLEAR_DIRTY_LOG, INITIALLY_SET, no eager split: write_protect_gfn clears W and MMU-writable of the huge leaf at the first page', () => {
    const f = setup('ept', '2M');
    f.vm.eagerPageSplit = false;
    f.vm.setManualDirtyLogProtect({ enable: true, initiallySet: true });
    expect(writeExits(f, 0)).toBe(1);
    f.vm.setDirtyLogging(f.ram, true);
    const first = Number(PA >> 12n);
    f.vm.clearDirtyLog(f.ram, { firstPage: first, numPages: 64 });
    // mmu.c:1441 kvm_mmu_slot_gfn_write_protect(.., PG_LEVEL_2M) → kvm_tdp_mmu_write_protect_gfn →
    // write_protect_gfn (tdp_mmu.c:1873-1874) clears PT_WRITABLE_MASK | shadow_mmu_writable_mask.
    const [, level, spte] = leafAt(f, first);
    expect(level).toBe(2);
    expect(spte & W).toBe(0n);
    expect(spte & f.vm.config.mmuWritableMask).toBe(0n);
  });
});

function isWritableSpte(spte: bigint): boolean {
  return (spte & 2n) !== 0n;
}
