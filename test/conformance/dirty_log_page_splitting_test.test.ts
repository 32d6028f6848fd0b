/**
 * Port of KVM's selftest tools/testing/selftests/kvm/x86/dirty_log_page_splitting_test.c
 * (Linux v6.16.1): both runs of main, without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (c:248-249) and
 * with it (c:251-257), with
 * eager_page_split and the TDP MMU on (c:221-222) and HugeTLB 2 MiB backing (c:28). Every
 * expected value cites the selftest line it comes from.
 *
 * Mapping onto the engine:
 * - memstress_create_vm (lib/memstress.c:124-232): VCPUS = 2 vCPUs (c:22) sharing one guest page
 *   table, SLOTS = 2 data slots (c:23) splitting the test memory evenly (memstress.c:208-215), a
 *   4 KiB-backed slot 0 (anonymous memory) for the page tables, the test memory mapped with 4 KiB
 *   guest pages at DEFAULT_GUEST_TEST_MEM (memstress.h:16, memstress.c:218).
 * - guest_percpu_mem_size: 4 MiB per vCPU (the `-b` option, c:226-228) instead of the 1 GiB
 *   default (memstress.h:18), so the run stays small; host_num_pages is then 2048.
 * - run_vcpu_iteration (c:54-64): each vCPU runs one pass of memstress_guest_code
 *   (memstress.c:66-84): a write (write_percent 100, memstress.c:139) to every page of the whole
 *   region (not partitioned: c:104 passes false, memstress.c:110-112).
 * - memstress_{enable,disable}_dirty_logging / get_dirty_log: setDirtyLogging / getDirtyLog on
 *   each data slot; memstress_clear_dirty_log (memstress.c:355-365): clearDirtyLog on each slot
 *   from page 0 over pages_per_slot pages with the bitmap getDirtyLog returned.
 * - The second run (c:251-257): KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with
 *   KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET (c:116-118):
 *   setManualDirtyLogProtect({ enable: true, initiallySet: true }).
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, Vm, type Memslot, type Vcpu } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

const VCPUS = 2; // c:22
const SLOTS = 2; // c:23
const ITERATIONS = 2; // c:24
const GUEST_TEST_MEM = 0xc000_0000n; // memstress.h:16
const PER_VCPU_MEM = 4n << 20n; // `-b 4M` (c:227)
const TEST_GPA = 1n << 30n; // 2 MiB aligned, as memstress.c:198 aligns it to the backing page size

interface PageStats { pages_4k: number; pages_2m: number; pages_1g: number; hugepages: number }

function runTest(manualCaps: boolean) {
  // Invariants are checked where the stats are read (a check after each of the 16 Ki writes would be quadratic).
  const vm = new Vm({ spte: { flavour: 'ept' } });
  vm.addMemslot({ base: 0n, size: 0x40_0000n, name: 'slot0', hostPageSize: '4K' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x30_0000n } });

  const guestNumPages = Number((BigInt(VCPUS) * PER_VCPU_MEM) >> 12n); // c:106
  const hostNumPages = guestNumPages; // c:108 (4 KiB guest and host pages)
  const pagesPerSlot = hostNumPages / SLOTS; // c:109
  expect(hostNumPages).toBe(pagesPerSlot * SLOTS); // c:110
  expect(hostNumPages % 512).toBe(0); // c:111

  // c:116-118 (dirty_log_manual_caps = MANUAL_PROTECT_ENABLE | INITIALLY_SET, c:255-256).
  if (manualCaps) vm.setManualDirtyLogProtect({ enable: true, initiallySet: true });
  const slots: Memslot[] = [];
  for (let i = 0; i < SLOTS; i++) {
    // memstress.c:208-215
    slots.push(vm.addMemslot({ base: TEST_GPA + BigInt(pagesPerSlot * i) * 4096n, size: BigInt(pagesPerSlot) * 4096n, name: `data${i}`, hostPageSize: '2M' }));
  }
  pt.map(GUEST_TEST_MEM, TEST_GPA, { count: guestNumPages, flags: { writable: true } }); // memstress.c:218
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < VCPUS; i++) vcpus.push(vm.createVcpu({ ...LONG_MODE, cr3: pt.root }));

  const runVcpuIteration = () => {
    for (const v of vcpus) {
      for (let p = 0; p < guestNumPages; p++) {
        const r = v.write(GUEST_TEST_MEM + BigInt(p) * 4096n);
        if (r.status !== 'ok') expect.fail(`vCPU write to page ${p}: ${r.status}`);
      }
    }
  };
  const getPageStats = (): PageStats => {
    // c:42-52
    vm.tdp.checkInvariants(vm.shadow.leafCounts()); // the stats equal the leaves that exist
    const s = { pages_4k: vm.stats.get('pages_4k'), pages_2m: vm.stats.get('pages_2m'), pages_1g: vm.stats.get('pages_1g') };
    return { ...s, hugepages: s.pages_2m + s.pages_1g };
  };

  runVcpuIteration(); // c:129
  const populated = getPageStats(); // c:130
  for (const s of slots) vm.setDirtyLogging(s, true); // c:133
  const enabled = getPageStats(); // c:135
  const clearPass: PageStats[] = [];
  for (let iteration = 1; iteration <= ITERATIONS; iteration++) {
    // c:137-149
    runVcpuIteration();
    const bitmaps = slots.map((s) => vm.getDirtyLog(s)); // c:142
    if (manualCaps) {
      // c:145 memstress_clear_dirty_log: each slot's bitmap from GET, pages [0, pages_per_slot) (memstress.c:363).
      slots.forEach((s, i) => {
        const bitmap = new Uint8Array(pagesPerSlot);
        for (const g of bitmaps[i]!) bitmap[Number((BigInt(g) >> 12n) - BigInt(s.baseGfn))] = 1;
        vm.clearDirtyLog(s, { firstPage: 0, numPages: pagesPerSlot, bitmap });
      });
      clearPass.push(getPageStats()); // c:147
    }
  }
  for (const s of slots) vm.setDirtyLogging(s, false); // c:152
  runVcpuIteration(); // c:157
  const repopulated = getPageStats(); // c:158

  expect(populated.pages_2m * 512 + populated.pages_1g * 512 * 512).toBe(hostNumPages); // c:171-172
  if (manualCaps) {
    // c:182: split after the first clear pass, not at enable.
    expect(clearPass[0]!.hugepages).toBe(0); // c:183
    expect(clearPass[0]!.pages_4k).toBeGreaterThanOrEqual(hostNumPages); // c:184-186
    expect(enabled.hugepages).toBe(populated.hugepages); // c:187
  } else {
    expect(enabled.hugepages).toBe(0); // c:189
    expect(enabled.pages_4k).toBeGreaterThanOrEqual(hostNumPages); // c:190-192
  }
  expect(populated.pages_2m).toBe(repopulated.pages_2m); // c:200
  expect(populated.pages_1g).toBe(repopulated.pages_1g); // c:201
}

describe('dirty_log_page_splitting_test (x86/dirty_log_page_splitting_test.c)', () => {
  it('run_test without MANUAL_DIRTY_LOG_PROTECT2: split on enable, huge pages back after disable (c:248-249)', () => runTest(false));
  it('run_test with MANUAL_PROTECT_ENABLE | INITIALLY_SET: split on the first clear, huge pages back after disable (c:251-257)', () => runTest(true));
});
