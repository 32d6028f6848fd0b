/**
 * The dirty ring (KVM_CAP_DIRTY_LOG_RING): enabling it (`kvm_vm_ioctl_enable_dirty_log_ring`),
 * pushes by the vCPU that dirtied a page (`mark_page_dirty_in_slot` → `kvm_dirty_ring_push`),
 * KVM_EXIT_DIRTY_RING_FULL at the soft limit (`kvm_dirty_ring_check_request`) and
 * KVM_RESET_DIRTY_RINGS (`kvm_dirty_ring_reset`), as in Linux v6.16.1.
 */
import { describe, expect, it } from 'vitest';
import { DirtyRingFullExit, InvalidArgumentError, KVM_DIRTY_GFN_F_DIRTY, KVM_DIRTY_GFN_F_RESET, Vm, PageTableBuilder, type Vcpu } from '../../src';
import { LONG_MODE } from './fixtures';
import { thrownRule } from '../tdx/fixtures';

const VA = 0x7000_0000n;
const PA = 0x20_0000n;

function setup(o: { pml?: boolean; mmu?: 'tdp' | 'shadow'; ringBytes?: number } = {}) {
  const vm = new Vm({ spte: o.mmu === 'shadow' ? { flavour: 'npt' } : { flavour: 'ept', pml: o.pml ?? false }, mmu: o.mmu ?? 'tdp', checkInvariants: true });
  // The guest's tables get a slot of their own that does not log: with EPT/NPT the CPU's walks
  // write them (A/D), which would put them in the ring too.
  vm.addMemslot({ base: 0n, size: PA, name: 'tables', hostPageSize: '4K' });
  const ram = vm.addMemslot({ base: PA, size: 0x20_0000n, name: 'ram', hostPageSize: '4K' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  pt.map(VA, PA, { count: 256, flags: { writable: true, accessed: true, dirty: true } });
  vm.enableDirtyRing(o.ringBytes ?? 4096);
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  for (let i = 0n; i < 256n; i++) expect(v.read(VA + i * 0x1000n).status).toBe('ok');
  vm.setDirtyLogging(ram, true);
  return { vm, ram, v };
}

/** dirty_ring_collect_one (dirty_log_test.c:336-358): DIRTY entries from `fetch`, marked collected. */
function collect(v: Vcpu, fetch: { i: number }): number[] {
  const out: number[] = [];
  for (;;) {
    const e = v.dirtyRing!.entry(fetch.i);
    if (e.flags !== KVM_DIRTY_GFN_F_DIRTY) break;
    out.push(e.offset);
    v.dirtyRing!.markCollected(fetch.i);
    fetch.i++;
  }
  return out;
}

const page = (i: number) => i; // offsets from the ram slot's first gfn (PA)

describe('KVM_CAP_DIRTY_LOG_RING', () => {
  it('enable checks (kvm_main.c:4926-4962), each refused with the VM unchanged', () => {
    const vm = new Vm({});
    const rule = (f: () => void) => thrownRule(f, InvalidArgumentError) ?? 'accepted';
    expect(rule(() => vm.enableDirtyRing(4096 + 16))).toBe('dirty-ring-size'); // :4933-4934 power of 2
    expect(rule(() => vm.enableDirtyRing(2048))).toBe('dirty-ring-size-min'); // :4937-4939 < PAGE_SIZE
    expect(rule(() => vm.enableDirtyRing(65536 * 16 * 2))).toBe('dirty-ring-size-max'); // :4941-4943 -E2BIG
    expect(vm.dirtyRingSize).toBe(0);
    // PML: 64 + 512 reserved entries (dirty_ring.c:21, vmx.c:7814) → at least 576 * 16 bytes.
    const pml = new Vm({ spte: { flavour: 'ept', pml: true } });
    expect(rule(() => pml.enableDirtyRing(8192))).toBe('dirty-ring-size-min');
    expect(rule(() => pml.enableDirtyRing(16384))).toBe('accepted');
    expect(rule(() => pml.enableDirtyRing(16384))).toBe('dirty-ring-once'); // :4946-4947
    const late = new Vm({});
    late.createVcpu();
    expect(rule(() => late.enableDirtyRing(4096))).toBe('dirty-ring-after-vcpus'); // :4951-4953
    expect(late.dirtyRingSize).toBe(0);
  });

  it('a ring has size/16 entries and a soft limit of size − 64 − kvm_cpu_dirty_log_size (dirty_ring.c:84-85)', () => {
    expect([setup().v.dirtyRing!.size, setup().v.dirtyRing!.softLimit]).toEqual([256, 192]);
    const p = setup({ pml: true, ringBytes: 16384 });
    expect([p.v.dirtyRing!.size, p.v.dirtyRing!.softLimit]).toEqual([1024, 1024 - 64 - 512]);
  });

  for (const [name, o] of [['EPT', {}], ['EPT+PML', { pml: true, ringBytes: 16384 }], ['shadow', { mmu: 'shadow' as const }]] as const) {
    it(`${name}: a written page is pushed to the writing vCPU's ring as (slot id, offset) with DIRTY; no bitmap exists (-ENXIO)`, () => {
      const { vm, ram, v } = setup(o);
      const fetch = { i: 0 };
      expect(v.write(VA + 3n * 0x1000n).status).toBe('ok');
      // kvm_main.c:3521-3526: slot = as_id << 16 | id, rel_gfn = gfn − base_gfn, pushed to the running vCPU.
      expect(v.dirtyRing!.entry(0)).toEqual({ flags: KVM_DIRTY_GFN_F_DIRTY, slot: ram.id, offset: page(3) });
      expect(collect(v, fetch)).toEqual([page(3)]);
      // kvm_main.c:2165-2166: KVM_GET_DIRTY_LOG is -ENXIO when the ring replaces the bitmap.
      expect(() => vm.getDirtyLog(ram)).toThrow(InvalidArgumentError);
      expect(ram.dirtyBitmap).toBeUndefined();
    });
  }

  it('reset recycles only collected entries, re-protects their pages (the next write is pushed again) and flushes once (kvm_main.c:4964-4984)', () => {
    const { vm, v } = setup();
    const fetch = { i: 0 };
    for (const i of [5, 6, 9]) v.write(VA + BigInt(i) * 0x1000n);
    const dirtyRing = v.dirtyRing!;
    expect(dirtyRing.used).toBe(3);
    // Collect two of the three: dirty_ring.c:123-124 stops at the first entry without RESET.
    dirtyRing.markCollected(0);
    dirtyRing.markCollected(1);
    fetch.i = 2;
    const flushes = vm.stats.get('remote_tlb_flush');
    expect(vm.resetDirtyRings()).toBe(2);
    expect(dirtyRing.used).toBe(1);
    expect(dirtyRing.entry(0).flags).toBe(0); // kvm_dirty_gfn_set_invalid (dirty_ring.c:130)
    expect(dirtyRing.entry(2).flags).toBe(KVM_DIRTY_GFN_F_DIRTY);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes + 1); // kvm_main.c:4980-4981
    // Pages 5 and 6 were re-protected (kvm_reset_dirty_gfn → enable_log_dirty_pt_masked): written
    // again they fault and are pushed again; page 9 was not reset and stays writable.
    expect(v.write(VA + 5n * 0x1000n).exits.length).toBe(1);
    expect(v.write(VA + 9n * 0x1000n).exits.length).toBe(0);
    expect(collect(v, fetch)).toEqual([page(9), page(5)]);
    // Nothing collected: nothing reset, no flush (kvm_main.c:4980).
    expect(vm.resetDirtyRings()).toBe(2);
    expect(vm.resetDirtyRings()).toBe(0);
    expect(vm.stats.get('remote_tlb_flush')).toBe(flushes + 2);
    expect(dirtyRing.entry(1).flags).toBe(0);
    expect(KVM_DIRTY_GFN_F_RESET).toBe(2);
  });

  it('reset coalesces offsets into 64-bit masks, backwards visits included (dirty_ring.c:138-160)', () => {
    const { vm, v } = setup();
    // Offsets 10, 12, 8 (backwards by 4: mask shifted), 100 (out of reach: a new group).
    for (const i of [10, 12, 8, 100]) v.write(VA + BigInt(i) * 0x1000n);
    for (let i = 0; i < 4; i++) v.dirtyRing!.markCollected(i);
    const spteChanges = vm.stats.get('spte_changes');
    expect(vm.resetDirtyRings()).toBe(4);
    // Two groups → kvm_arch_mmu_enable_log_dirty_pt_masked twice, write-protecting the four 4K SPTEs.
    expect(vm.stats.get('spte_changes') - spteChanges).toBe(4);
    for (const i of [8, 10, 12, 100]) expect(v.write(VA + BigInt(i) * 0x1000n).exits.length).toBe(1);
  });

  it('at the soft limit the next entry exits with KVM_EXIT_DIRTY_RING_FULL until harvest and reset (dirty_ring.c:194-212)', () => {
    const { vm, v } = setup();
    const fetch = { i: 0 };
    const soft = v.dirtyRing!.softLimit; // 192
    for (let i = 0; i < soft - 1; i++) expect(v.write(VA + BigInt(i) * 0x1000n).status).toBe('ok');
    expect(v.dirtyRing!.used).toBe(soft - 1);
    // The write to page soft−1 faults, its page is pushed (used reaches soft_limit: dirty_ring.c:194-195
    // raises KVM_REQ_DIRTY_RING_SOFT_FULL), and the re-entry after the fault exits to userspace
    // (x86.c:10826-10828) before the write is done: "the very last PFN is set but actually the data
    // is not changed" (dirty_log_test.c:158-171).
    const last = VA + BigInt(soft - 1) * 0x1000n;
    expect(() => v.write(last)).toThrow(DirtyRingFullExit);
    expect(v.dirtyRing!.used).toBe(soft);
    // dirty_ring.c:206-208: the request stays while the ring is soft-full, however often KVM_RUN is tried.
    expect(() => v.read(VA)).toThrow(DirtyRingFullExit);
    // dirty_log_test.c:372-379: userspace collects everything and resets; cleared == collected.
    expect(collect(v, fetch).length).toBe(soft);
    expect(vm.resetDirtyRings()).toBe(soft);
    // The guest re-executes the write: the reset re-protected the page, so it faults and is pushed
    // again — the entry that dirty_log_test.c:172 keeps as dirty_ring_last_page.
    const r = v.write(last);
    expect(r.status).toBe('ok');
    expect(r.exits.length).toBe(1);
    expect(collect(v, fetch)).toEqual([page(soft - 1)]);
  });
});
