/**
 * Port of KVM's selftest tools/testing/selftests/kvm/x86/nx_huge_pages_test.c (Linux v6.16.1),
 * run as its wrapper nx_huge_pages_test.sh runs it: nx_huge_pages=1 (sh:40),
 * nx_huge_pages_recovery_ratio=1 (sh:41), period 100 ms (sh:42), with CAP_SYS_BOOT (sh:48,
 * `-r`), so both run_test calls of main (c:261-262) run to the end. Every expected value cites
 * the selftest line it comes from.
 *
 * Mapping of the selftest's steps onto the engine:
 * - vm_create(1) + its slot 0 (code, stack, page tables; anonymous memory, no THP): a 4 KiB-backed
 *   slot at GPA 0 holding the guest page tables.
 * - HPAGE_SLOT: 3 × 512 pages at 4 GiB backed by hugetlbfs 2 MiB pages (c:16-20, c:129-131).
 * - vcpu_run up to the next GUEST_SYNC: the guest access of guest_code before it (c:47-70);
 *   guest_do_CALL(hpage) is an instruction fetch at hpage (the RET executes from the same page).
 * - wait_for_reclaim (c:94-103, five recovery periods): five passes of the recovery worker,
 *   `vm.recoverNxHugePages()` with the VM's ratio 1.
 * - __vm_disable_nx_huge_pages (c:117, KVM_CAP_VM_DISABLE_NX_HUGE_PAGES before any vCPU): the
 *   `disableNxHugePages` VM option.
 * Not ported: the run without CAP_SYS_BOOT (c:121-123), a host-permission check with no MMU effect.
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, Vm } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

const HPAGE_GPA = 4n << 30n; // c:17
const HPAGE_GVA = HPAGE_GPA; // c:18
const PAGES_PER_2MB_HUGE_PAGE = 512; // c:19
const HPAGE_SLOT_NPAGES = 3 * PAGES_PER_2MB_HUGE_PAGE; // c:20
const PAGE_SIZE = 4096n;

function runTest(disableNxHugePages: boolean, tdp = true) {
  // sh:40-41: nx_huge_pages=1, nx_huge_pages_recovery_ratio=1; c:114-117 vm_create + disable cap.
  // tdp = false: kvm.tdp_mmu/ept/npt off, so KVM shadows the guest page tables (c:135-147).
  const spte = { flavour: tdp ? ('ept' as const) : ('npt' as const), nxHugePages: true };
  const vm = new Vm({ spte, mmu: tdp ? 'tdp' : 'shadow', nxHugePagesRecoveryRatio: 1, disableNxHugePages, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 0x40_0000n, name: 'slot0', hostPageSize: '4K' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x30_0000n } });
  const vcpu = vm.createVcpu({ ...LONG_MODE, cr3: pt.root }); // c:127
  vm.addMemslot({ base: HPAGE_GPA, size: BigInt(HPAGE_SLOT_NPAGES) * PAGE_SIZE, name: 'hpage', hostPageSize: '2M' }); // c:129-131
  // c:144-145: with TDP the guest maps HPAGE_SLOT with 4 KiB pages; c:146-147: without, with 2 MiB pages.
  if (tdp) pt.map(HPAGE_GVA, HPAGE_GPA, { count: HPAGE_SLOT_NPAGES, flags: { writable: true } });
  else pt.map(HPAGE_GVA, HPAGE_GPA, { size: '2M', count: HPAGE_SLOT_NPAGES / PAGES_PER_2MB_HUGE_PAGE, flags: { writable: true } });

  const hpage1 = HPAGE_GVA; // c:49
  const hpage2 = hpage1 + PAGE_SIZE * 512n; // c:50
  const hpage3 = hpage2 + PAGE_SIZE * 512n; // c:51
  const guestSteps = [
    () => vcpu.read(hpage1), // c:53, GUEST_SYNC(1)
    () => vcpu.read(hpage2), // c:56, GUEST_SYNC(2)
    () => vcpu.fetch(hpage1), // c:59, GUEST_SYNC(3)
    () => vcpu.fetch(hpage3), // c:62, GUEST_SYNC(4)
    () => vcpu.read(hpage1), // c:65, GUEST_SYNC(5)
    () => vcpu.read(hpage3), // c:68, GUEST_SYNC(6)
  ];
  let next = 0;
  const vcpuRun = () => {
    const r = guestSteps[next++]!();
    expect(r.status).toBe('ok');
  };
  const pages2m = () => vm.stats.get('pages_2m'); // c:76 vm_get_stat(vm, pages_2m)
  const splits = () => vm.stats.get('nx_lpage_splits'); // c:87 vm_get_stat(vm, nx_lpage_splits)
  const d = disableNxHugePages;

  expect(pages2m()).toBe(0); // c:152
  expect(splits()).toBe(0); // c:153

  vcpuRun(); // c:159
  expect(pages2m()).toBe(1); // c:160
  expect(splits()).toBe(0); // c:161

  vcpuRun(); // c:167
  expect(pages2m()).toBe(2); // c:168
  expect(splits()).toBe(0); // c:169

  vcpuRun(); // c:177
  expect(pages2m()).toBe(d ? 2 : 1); // c:178
  expect(splits()).toBe(d ? 0 : 1); // c:179

  vcpuRun(); // c:187
  expect(pages2m()).toBe(d ? 3 : 1); // c:188
  expect(splits()).toBe(d ? 0 : 2); // c:189

  vcpuRun(); // c:192
  expect(pages2m()).toBe(d ? 3 : 1); // c:193
  expect(splits()).toBe(d ? 0 : 2); // c:194

  for (let i = 0; i < 5; i++) vm.recoverNxHugePages(); // c:197 wait_for_reclaim: 5 periods (c:99)
  expect(pages2m()).toBe(d ? 3 : 1); // c:205
  expect(splits()).toBe(0); // c:206

  vcpuRun(); // c:212
  expect(pages2m()).toBe(d ? 3 : 2); // c:213
  expect(splits()).toBe(0); // c:214
}

describe('nx_huge_pages_test (x86/nx_huge_pages_test.c)', () => {
  it('run_test(reclaim_period_ms, false, reboot_permissions) (c:261)', () => runTest(false));
  it('run_test(reclaim_period_ms, true, reboot_permissions) (c:262)', () => runTest(true));
  // The selftest runs as well with TDP disabled (c:135-147: the guest then maps HPAGE_SLOT with
  // 2 MiB pages); KVM's shadow MMU puts its NX-split pages on the same recovery list
  // (paging_tmpl.h:734-736, mmu.c:7593-7596).
  it('run_test(reclaim_period_ms, false, reboot_permissions) (c:261), shadow paging', () => runTest(false, false));
  it('run_test(reclaim_period_ms, true, reboot_permissions) (c:262), shadow paging', () => runTest(true, false));
});
