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
