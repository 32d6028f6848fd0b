/**
 * TDX costs: ns per private fault (the guest's accept: mirror map + S-EPT AUG through the FROZEN dance) and per
 * shared fault (direct root with the shared bit), and accesses/s on a warm TD whose accesses mix
 * private and shared pages (the CPU walks the S-EPT for private, the shared EPT for shared).
 */
import { Vm, PageTableBuilder, CR0, CR4, EFER } from '../src';
import { median, rng, type BenchResult } from './harness';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const SHARED = 1n << 47n; // GPAW 48
const PRIV_VA = 0x7f00_0000_0000n;
const SHARED_VA = 0x7e00_0000_0000n;

function td(pages: number) {
  const vm = new Vm({ type: 'tdx', gpaw: 48 });
  vm.events.enabled = false; // measure the MMU, not the log
  vm.addMemslot({ base: 0n, size: 8n << 30n, hostPageSize: '2M', guestMemfd: true });
  // Attributes start shared: userspace makes the private data (1 GiB) and the page-table pool
  // (4 GiB) private; shared data at 2 GiB stays shared, except the last page of each 2M block,
  // so every block is mixed and shared faults map 4K pages, one fault per cold page.
  vm.setMemoryAttributes(0x4000_0000n, 0x4000_0000n + BigInt(pages) * 4096n, 'private');
  vm.setMemoryAttributes(0x1_0000_0000n, 0x1_0000_0000n + (256n << 20n), 'private');
  for (let blk = 0; blk < pages / 512; blk++) {
    const last = 0x8000_0000n + BigInt(blk) * 0x20_0000n + 0x1f_f000n;
    vm.setMemoryAttributes(last, last + 0x1000n, 'private');
  }
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x1_0000_0000n, size: 256n << 20n } });
  pt.map(PRIV_VA, 0x4000_0000n, { count: pages, flags: { writable: true } });
  pt.map(SHARED_VA, 0x8000_0000n | SHARED, { count: pages, flags: { writable: true } });
  const v = vm.createVcpu({ ...LONG, cr3: pt.root });
  // The guest's page tables are its boot image: KVM_TDX_INIT_MEM_REGION, then KVM_TDX_FINALIZE_VM.
  vm.tdInitMemRegion(v, 0x1_0000_0000n, pt.tablesAllocated);
  vm.tdFinalize();
  return { vm, v };
}

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0);
}

export function tdxBench(): BenchResult[] {
  const N = 1 << 14;
  const priv: number[] = [];
  const shared: number[] = [];
  const warm: number[] = [];
  for (let round = 0; round < 5; round++) {
    const { vm, v } = td(N);
    const r = rng(round + 1);
    const order = Array.from({ length: N }, (_, i) => i).filter((i) => i % 512 !== 511);
    for (let i = order.length - 1; i > 0; i--) {
      const j = r() % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const pv = order.map((i) => PRIV_VA + BigInt(i) * 4096n);
    const pg = order.map((i) => 0x4000_0000n + BigInt(i) * 4096n);
    const sv = order.map((i) => SHARED_VA + BigInt(i) * 4096n);
    const p0 = vm.td!.stats.get('private_faults');
    // A private first touch is the guest's TDG.MEM.PAGE.ACCEPT: an exit, the mirror map and PAGE.AUG.
    priv.push(time(() => { for (const g of pg) v.tdAccept(g); }) / (vm.td!.stats.get('private_faults') - p0));
    const s0 = vm.td!.stats.get('shared_faults');
    shared.push(time(() => { for (const a of sv) v.read(a); }) / (vm.td!.stats.get('shared_faults') - s0));
    if (vm.td!.stats.get('private_faults') - p0 !== pv.length || vm.td!.stats.get('shared_faults') - s0 !== sv.length) throw new Error('tdx bench: expected one fault per cold page');
    // Warm mix: alternate private and shared pages in a seeded order.
    const mix = pv.flatMap((a, k) => [a, sv[(k * 7) % sv.length]!]);
    const ns = time(() => { for (const a of mix) v.read(a); });
    warm.push((mix.length / ns) * 1e9);
  }
  return [
    { name: 'tdx private fault (mirror + S-EPT AUG)', value: median(priv), unit: 'ns/fault', note: 'cold 4K private pages, TDG.MEM.PAGE.ACCEPT → exit → AUG → accept' },
    { name: 'tdx shared fault (direct root + shared bit)', value: median(shared), unit: 'ns/fault', note: 'cold 4K shared pages, whole access pipeline' },
    { name: 'tdx warm mixed accesses', value: median(warm), unit: 'accesses/s', note: 'private via S-EPT walk, shared via shared EPT' },
  ];
}
