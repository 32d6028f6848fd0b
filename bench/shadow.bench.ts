/**
 * Shadow MMU costs: ns per shadow page fault, the cost of a sync against the number of unsync
 * pages (it must grow linearly: the per-page slope is reported with its fit), and MOV CR3 with a
 * root-cache hit and a miss.
 */
import { Vm, PageTableBuilder, CR0, CR4, EFER, newPgd, mmuLoad, syncRoots, type Vcpu } from '../src';
import { median, rng, type BenchResult } from './harness';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const DATA_VA = 0x7f00_0000_0000n;
const DM = 0xffff_8880_0000_0000n;
const POOL = 0x1_0000_0000n;

function guest(pages: number, dataFlags: { accessed?: boolean } = {}) {
  const vm = new Vm({ mmu: 'shadow', maxMmuPages: 1 << 20 });
  vm.events.enabled = false;
  vm.addMemslot({ base: 0n, size: 8n << 30n, hostPageSize: '4K' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: POOL, size: 64n << 20n } });
  pt.map(DATA_VA, 0x4000_0000n, { count: pages, flags: { writable: true, ...dataFlags } });
  // The kernel's direct map of the table pool (so the guest can store to its own page tables).
  pt.map(DM + POOL, POOL, { count: 4096, flags: { writable: true, accessed: true, dirty: true } });
  const v = vm.createVcpu({ ...LONG, cr3: pt.root });
  return { vm, v, pt };
}

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0);
}

function faultBench(): BenchResult[] {
  const N = 1 << 14;
  const cold: number[] = [];
  const warm: number[] = [];
  let faults = 0;
  for (let round = 0; round < 6; round++) {
    const { v } = guest(N);
    const r = rng(round + 1);
    const order = Array.from({ length: N }, (_, i) => i);
    for (let i = N - 1; i > 0; i--) {
      const j = r() % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const vas = order.map((i) => DATA_VA + BigInt(i) * 4096n);
    const before = v.stats.get('pf_fixed');
    const c = time(() => { for (const a of vas) v.read(a); });
    const w = time(() => { for (const a of vas) v.read(a); });
    if (round === 0) continue;
    cold.push(c / N);
    warm.push(w / N);
    faults = v.stats.get('pf_fixed') - before;
  }
  return [
    { name: 'shadow.fault.4k', value: median(cold) - median(warm), unit: 'ns/fault', note: `median of 5 rounds; ${faults} faults for ${N} cold reads (guest PTEs with A clear: no prefetch); cold minus warm access` },
    { name: 'shadow.warm.access', value: median(warm), unit: 'ns/access', note: 'hardware walk of the shadow tables, record built' },
  ];
}

/** K page tables with S present SPTEs each, all made unsync by one guest store each; then one guest TLB flush syncs them. */
function syncBench(): BenchResult[] {
  const S = 64;
  const Ks = [8, 16, 32, 64, 128];
  const out: BenchResult[] = [];
  const xs: number[] = [];
  const ys: number[] = [];
  const measure = (K: number, rounds: number) => {
    const { vm, v, pt } = guest(K * 512);
    for (let k = 0; k < K; k++) for (let i = 0; i < S; i++) v.read(DATA_VA + BigInt(k * 512 + i) * 4096n);
    const ptes = Array.from({ length: K }, (_, k) => pt.getEntry(DATA_VA + BigInt(k * 512) * 4096n, 1));
    const per: number[] = [];
    let reads = 0;
    for (let round = 0; round < rounds; round++) {
      for (const e of ptes) v.store(DM + BigInt(e.gpa), e.value | 0x20n, 8); // unsync: K pages
      if (vm.stats.get('mmu_unsync') !== K) throw new Error(`expected ${K} unsync pages, got ${vm.stats.get('mmu_unsync')}`);
      const r0 = vm.stats.get('mmu_sync_gpte_reads');
      per.push(time(() => v.flushGuestTlb())); // KVM_REQ_TLB_FLUSH_GUEST: sync the roots
      reads = vm.stats.get('mmu_sync_gpte_reads') - r0;
    }
    return { t: median(per.slice(1)), reads };
  };
  measure(32, 5); // JIT warm-up
  for (const K of Ks) {
    const { t, reads } = measure(K, 15);
    xs.push(K);
    ys.push(t);
    out.push({ name: `shadow.sync.unsync_${K}`, value: t, unit: 'ns/sync', note: `${K} unsync pages × ${S} SPTEs: ${reads} guest PTEs re-read` });
  }
  // Least squares y = a + b·K, and R² of the fit.
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b) / n;
  const my = ys.reduce((a, b) => a + b) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const b = sxy / sxx;
  const a = my - b * mx;
  let ssr = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    ssr += (ys[i]! - (a + b * xs[i]!)) ** 2;
    sst += (ys[i]! - my) ** 2;
  }
  out.push({ name: 'shadow.sync.slope_per_unsync_page', value: b, unit: 'ns/page', note: `least squares over K = ${Ks.join(', ')}; intercept ${a.toFixed(0)} ns` });
  out.push({ name: 'shadow.sync.linear_fit_r2', value: 1 - ssr / sst, unit: 'R²' });
  return out;
}

/** MOV CR3 (+ the root load on the next entry) with the target root cached, and not. */
function cr3Bench(): BenchResult[] {
  const { vm, v } = guest(64);
  const spaces: PageTableBuilder[] = [];
  for (let i = 0; i < 5; i++) {
    const b = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: POOL + (80n << 20n) + BigInt(i) * (1n << 20n), size: 1n << 20n } });
    b.map(DATA_VA, 0x4000_0000n, { count: 64, flags: { writable: true } });
    spaces.push(b);
  }
  const sw = (vc: Vcpu, b: PageTableBuilder) => {
    vc.movCr3(b.root);
    vc.shadow!.load();
  };
  for (const b of spaces) {
    sw(v, b);
    for (let i = 0n; i < 64n; i++) v.read(DATA_VA + i * 4096n);
  }
  const run = (cycle: number, n: number) => {
    const h0 = v.stats.get('root_cache_hit');
    const t = time(() => { for (let i = 0; i < n; i++) sw(v, spaces[i % cycle]!); });
    return { ns: t / n, hits: v.stats.get('root_cache_hit') - h0 };
  };
  run(2, 2000);
  const hit = median(Array.from({ length: 7 }, () => run(2, 4000).ns));
  const hitRate = run(2, 1000).hits / 1000;
  run(5, 2000);
  const miss = median(Array.from({ length: 7 }, () => run(5, 4000).ns));
  const missRate = 1 - run(5, 1000).hits / 1000;
  // The MMU's part alone: kvm_mmu_new_pgd, the sync kvm_invalidate_pcid requests, kvm_mmu_reload.
  const ctx = v.shadow!.ctx;
  const mmu = vm.shadow;
  const mmuOnly = (cycle: number, n: number) =>
    time(() => {
      for (let i = 0; i < n; i++) {
        const pgd = spaces[i % cycle]!.root as bigint;
        newPgd(mmu, ctx, pgd);
        if (ctx.root.hpa < 0) mmuLoad(mmu, ctx, pgd);
        else syncRoots(mmu, ctx);
      }
    }) / n;
  mmuOnly(2, 2000);
  const hitMmu = median(Array.from({ length: 7 }, () => mmuOnly(2, 4000)));
  mmuOnly(5, 2000);
  const missMmu = median(Array.from({ length: 7 }, () => mmuOnly(5, 4000)));
  return [
    { name: 'shadow.cr3.mmu.root_cache_hit', value: hitMmu, unit: 'ns/switch', note: 'kvm_mmu_new_pgd (hit) + sync check + reload, without the register update' },
    { name: 'shadow.cr3.mmu.root_cache_miss', value: missMmu, unit: 'ns/switch', note: 'kvm_mmu_new_pgd (miss: free the LRU root) + root lookup in the hash + sync' },
    { name: 'shadow.cr3.movcr3.root_cache_hit', value: hit, unit: 'ns/switch', note: `MOV CR3 incl. register/role/walker update; 2 spaces alternating: ${(hitRate * 100).toFixed(0)}% hits` },
    { name: 'shadow.cr3.movcr3.root_cache_miss', value: miss, unit: 'ns/switch', note: `MOV CR3 incl. register update; 5 spaces round robin, cache of 4: ${(missRate * 100).toFixed(0)}% misses` },
  ];
}

export function shadowBench(): BenchResult[] {
  return [...faultBench(), ...syncBench(), ...cr3Bench()];
}
