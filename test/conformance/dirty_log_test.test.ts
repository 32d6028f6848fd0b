/**
 * Port of KVM selftests `tools/testing/selftests/kvm/dirty_log_test.c` (Linux v6.16.1): a guest
 * writes the iteration number into random pages of a 1 GiB + 3 page slot that logs dirty pages;
 * the host collects the log while the guest runs and once more after stopping it, and checks that
 * every page holding this iteration's value was reported dirty and every page reported dirty
 * holds it (`vm_dirty_log_verify`). Log modes: KVM_GET_DIRTY_LOG only, and KVM_GET_DIRTY_LOG +
 * KVM_CLEAR_DIRTY_LOG with manual protect and KVM_DIRTY_LOG_INITIALLY_SET; and the dirty ring
 * (KVM_CAP_DIRTY_LOG_RING: the vCPU's ring collected and reset, KVM_EXIT_DIRTY_RING_FULL handled).
 * Run for EPT (with and without PML), NPT and shadow paging.
 *
 * The selftest's vCPU runs in a thread and the host samples it on a 1 ms clock; here the guest's
 * writes are issued in two fixed halves around the mid-iteration collection (the selftest's
 * `i == 0` pass), which is one of the interleavings the selftest can see.
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, GuestMemory, xorshift, CR0, CR4, EFER, DirtyRingFullExit, KVM_DIRTY_GFN_F_DIRTY, type Memslot, type SpteConfigSpec, type Vcpu } from '../../src';

const DIRTY_MEM_BITS = 30; // dirty_log_test.c:25
// TEST_HOST_LOOP_N is 32 (dirty_log_test.c:35); the selftest's `-i` option (dirty_log_test.c:850-851) sets the iterations; 8 keep the run short.
const ITERATIONS = 8;
const TEST_MIN_WRITES_PER_ITERATION = 0x100; // dirty_log_test.c:44
const DEFAULT_GUEST_TEST_MEM = 0xc000_0000n; // dirty_log_test.c:32
const PAGE = 4096n;
const GUEST_NUM_PAGES = 2 ** (DIRTY_MEM_BITS - 12) + 3; // dirty_log_test.c:628 (not a multiple of 64)
const GUEST_PA_BITS = 46;

type LogMode = 'dirty-log' | 'clear-log' | 'dirty-ring';

interface Run {
  vm: Vm;
  v: Vcpu;
  slot: Memslot;
  testPhysMem: bigint;
  /** Dirty ring: userspace's fetch index (`ring_buf_idx`, dirty_log_test.c:603) and the last page collected. */
  fetch: number;
  lastPage: number;
}

/**
 * The selftest's `-c` option hints the ring size in entries (dirty_log_test.c:847-848, rounded down
 * to a power of 2 at :314): the smallest ring KVM accepts, so the guest fills it — 256 entries
 * (4 KiB, kvm_main.c:4938-4940), or with PML 1024 (64 + 512 reserved entries, dirty_ring.c:21).
 */
const ringEntries = (spte: SpteConfigSpec) => (spte.pml === true ? 1024 : 256);

function createVm(spte: SpteConfigSpec, mmu: 'tdp' | 'shadow', mode: LogMode): Run {
  const vm = new Vm({ spte: { ...spte, hostMaxPhyAddr: GUEST_PA_BITS }, mmu });
  vm.events.enabled = false; // speed: the checks below read memory and the harvests only
  // clear_log_create_vm_done (dirty_log_test.c:250-254): MANUAL_PROTECT_ENABLE | INITIALLY_SET,
  // before any memslot exists (create_vm, :586).
  if (mode === 'clear-log') vm.setManualDirtyLogProtect({ enable: true, initiallySet: true });
  // Slot 0: the guest's code and page tables.
  vm.addMemslot({ base: 0n, size: 0x100_0000n, name: 'slot0' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x80_0000n } });
  // dirty_log_test.c:635-637: the test slot ends at the top of the guest physical space.
  const maxGfn = 2 ** (GUEST_PA_BITS - 12) - 1;
  const testPhysMem = BigInt(maxGfn - GUEST_NUM_PAGES) * PAGE;
  // dirty_log_test.c:662-666: slot TEST_MEM_SLOT_INDEX created with KVM_MEM_LOG_DIRTY_PAGES
  // (VM_MEM_SRC_ANONYMOUS: 4K backing).
  const slot = vm.addMemslot({ base: testPhysMem, size: BigInt(GUEST_NUM_PAGES) * PAGE, name: 'test', hostPageSize: '4K' });
  vm.setDirtyLogging(slot, true);
  // dirty_log_test.c:669: virt_map(guest_test_virt_mem → guest_test_phys_mem, guest_num_pages).
  pt.map(DEFAULT_GUEST_TEST_MEM, testPhysMem, { count: GUEST_NUM_PAGES, flags: { writable: true } });
  // dirty_ring_create_vm_done (dirty_log_test.c:319-323): the ring after VM creation, before any vCPU.
  if (mode === 'dirty-ring') vm.enableDirtyRing(ringEntries(spte) * 16);
  const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE, cr3: pt.root });
  return { vm, v, slot, testPhysMem, fetch: 0, lastPage: -1 };
}

/** log_modes[].collect_dirty_pages (dirty_log_test.c:257-270) into the selftest's bitmap, one byte per slot page. */
function collect(run: Run, mode: LogMode, into?: Uint8Array): Uint8Array {
  const bmap = into ?? new Uint8Array(GUEST_NUM_PAGES);
  if (mode === 'dirty-ring') {
    // dirty_ring_collect_dirty_pages (dirty_log_test.c:361-380): collect_one, then reset; KVM resets
    // exactly the entries collected (:374-379).
    const ring = run.v.dirtyRing!;
    let count = 0;
    for (;;) {
      const e = ring.entry(run.fetch);
      if (e.flags !== KVM_DIRTY_GFN_F_DIRTY) break; // :345-346
      expect(e.slot).toBe(run.slot.id); // :347-348
      expect(e.offset).toBeLessThan(GUEST_NUM_PAGES); // :349-351
      bmap[e.offset] = 1;
      run.lastPage = e.offset; // :352
      ring.markCollected(run.fetch);
      run.fetch++;
      count++;
    }
    expect(run.vm.resetDirtyRings()).toBe(count);
    return bmap;
  }
  for (const g of run.vm.getDirtyLog(run.slot)) bmap[Number((g - run.testPhysMem) / PAGE)] = 1;
  // dirty_log_test.c:269: kvm_vm_clear_dirty_log(vm, slot, bitmap, 0, num_pages).
  if (mode === 'clear-log') run.vm.clearDirtyLog(run.slot, { firstPage: 0, numPages: GUEST_NUM_PAGES, bitmap: bmap });
  return bmap;
}

/** The first 32 bits of a slot page as the host sees them (`host_test_mem + page * host_page_size`). */
function hostValue(run: Run, page: number): number {
  const mem = run.vm.guestMem;
  const f = mem.frameOf(Number(run.testPhysMem / PAGE) + page);
  return f < 0 ? 0 : mem.slabOf(f)[GuestMemory.wordBase(f)]!;
}

function runTest(spte: SpteConfigSpec, mmu: 'tdp' | 'shadow', mode: LogMode, seed: number): { dirty: number; clean: number; writes: number; ringFulls: number } {
  const run = createVm(spte, mmu, mode);
  const rand = xorshift(seed); // guest_random_u64(&guest_rng), seeded
  let hostDirty = 0;
  let hostClean = 0;
  let totalWrites = 0;
  let ringFulls = 0;
  let prevIterationLastPage = -1;
  let bmap0 = new Uint8Array(0);
  const guestWrites = (iteration: number, n: number): void => {
    for (let k = 0; k < n; k++) {
      // dirty_log_test.c:123-128: a random page of the slot, first 8 bytes = iteration.
      const page = rand() % GUEST_NUM_PAGES;
      for (;;) {
        try {
          const r = run.v.store(DEFAULT_GUEST_TEST_MEM + BigInt(page) * PAGE, BigInt(iteration), 8);
          expect(r.status).toBe('ok');
          break;
        } catch (e) {
          if (!(e instanceof DirtyRingFullExit)) throw e;
          // dirty_ring_after_vcpu_run (dirty_log_test.c:389-391): KVM_EXIT_DIRTY_RING_FULL; the main
          // thread's next pass sees the ring full and collects into bmap[0] (:750-755); the vCPU then
          // re-executes the write.
          ringFulls++;
          collect(run, mode, bmap0);
        }
      }
      totalWrites++;
    }
  };
  // Dirty ring: after the i == 0 pass the guest goes on long enough to fill the ring (the selftest's
  // 10 ms interval, dirty_log_test.c:717, gives it thousands of writes); the bitmap modes keep the
  // minimum.
  const secondHalf = mode === 'dirty-ring' ? ringEntries(spte) : TEST_MIN_WRITES_PER_ITERATION / 2;
  for (let iteration = 1; iteration <= ITERATIONS; iteration++) {
    prevIterationLastPage = run.lastPage; // dirty_log_test.c:706
    // dirty_log_test.c:717-756: the first pass collects into bmap[0] while the guest runs, and
    // the guest goes on to at least TEST_MIN_WRITES_PER_ITERATION writes.
    bmap0 = new Uint8Array(GUEST_NUM_PAGES);
    guestWrites(iteration, TEST_MIN_WRITES_PER_ITERATION / 2);
    collect(run, mode, bmap0);
    guestWrites(iteration, secondHalf);
    // dirty_log_test.c:766-792: vCPU stopped, then bmap[1] collected.
    const bmap1 = collect(run, mode);
    // vm_dirty_log_verify (dirty_log_test.c:495-575).
    for (let page = 0; page < GUEST_NUM_PAGES; page++) {
      const val = hostValue(run, page); // iterations stay below 2^32: the low word is the value
      const bmap0Dirty = bmap0[page] === 1;
      if (bmap1[page] === 1 || bmap0Dirty) {
        hostDirty++;
        if (val === iteration) continue; // :517-518
        if (mode === 'dirty-ring') {
          if (page === prevIterationLastPage && val === iteration - 1) continue; // :527-529
          if (page === run.lastPage && val < iteration) continue; // :537-539
        }
        // :540-549: get+clear starts with every bit set, so iteration 1 may report unwritten pages, in bmap[0] only.
        if (mode === 'clear-log' && val === 0 && iteration === 1 && bmap0Dirty) continue;
        expect.fail(`Dirty page ${page} value (${val}) != iteration (${iteration})`); // :552-555
      } else {
        hostClean++;
        // :562-566: a page not reported holds a value from an earlier iteration.
        if (!(val < iteration)) expect.fail(`Clear page ${page} value (${val}) >= iteration (${iteration})`);
      }
    }
  }
  return { dirty: hostDirty, clean: hostClean, writes: totalWrites, ringFulls };
}

const CONFIGS: [string, SpteConfigSpec, 'tdp' | 'shadow'][] = [
  ['EPT', { flavour: 'ept' }, 'tdp'],
  ['EPT+PML', { flavour: 'ept', pml: true }, 'tdp'],
  ['NPT', { flavour: 'npt' }, 'tdp'],
  ['shadow', { flavour: 'npt' }, 'shadow'],
];

describe('dirty_log_test.c: no written page is missing from the harvest', () => {
  for (const [name, spte, mmu] of CONFIGS) {
    for (const mode of ['dirty-log', 'clear-log', 'dirty-ring'] as const) {
      it(`${name}, ${mode}`, () => {
        const r = runTest(spte, mmu, mode, 0x1234_5678);
        // dirty_log_test.c:717: at least TEST_MIN_WRITES_PER_ITERATION writes per iteration.
        const perIteration = mode === 'dirty-ring' ? TEST_MIN_WRITES_PER_ITERATION / 2 + ringEntries(spte) : TEST_MIN_WRITES_PER_ITERATION;
        expect(r.writes).toBe(ITERATIONS * perIteration);
        expect(perIteration).toBeGreaterThanOrEqual(TEST_MIN_WRITES_PER_ITERATION);
        // The ring filled: KVM_EXIT_DIRTY_RING_FULL was seen and handled (dirty_log_test.c:389-391, 750-755).
        if (mode === 'dirty-ring') expect(r.ringFulls).toBeGreaterThan(0);
        // Every page was checked once per iteration (dirty_log_test.c:500, 573-574).
        expect(r.dirty + r.clean).toBe(ITERATIONS * GUEST_NUM_PAGES);
        // Every page reported dirty was written (:517) save iteration 1's initially-set bits (:540-549).
        const initiallySet = mode === 'clear-log' ? GUEST_NUM_PAGES : 0;
        expect(r.dirty).toBeGreaterThan(0);
        expect(r.dirty).toBeLessThanOrEqual(r.writes + initiallySet);
      }, 120_000);
    }
  }
});
