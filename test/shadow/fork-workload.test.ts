/**
 * One guest workload on a shadow-paging VM and on a TDP VM: a process touches its heap, forks
 * (the kernel write-protects the parent's PTEs for copy-on-write, builds the child's tables and
 * flushes), parent and child take turns (context switches), both take COW faults that the kernel
 * resolves by rewriting a PTE and INVLPG, and finally the child exits (its tables are torn down).
 * Both VMs must give every access the same outcome; the shadow VM pays in exits, unsync/sync and
 * emulated page-table writes. `SHADOW_STATS=1` prints the counters (for the design notes).
 */
import { expect, it } from 'vitest';
import { Vm, PageTableBuilder, CR0, CR4, EFER, type Vcpu, type AccessResult } from '../../src';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const DM = 0xffff_8880_0000_0000n;
const HEAP = 0x4000_0000n;
const PAGES = 64;
const P = 1n | 2n | 4n | 0x20n | 0x40n; // P|W|U|A|D

function run(mmu: 'shadow' | 'tdp') {
  const vm = new Vm(mmu === 'shadow' ? { mmu: 'shadow', checkInvariants: true } : { spte: { flavour: 'ept' }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const pools = [0x10_0000n, 0x20_0000n];
  const spaces = pools.map((base) => new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base, size: 0x10_0000n } }));
  for (const s of spaces) s.map(DM + 0x10_0000n, 0x10_0000n, { count: 512, flags: { writable: true, accessed: true, dirty: true } });
  const [parent, child] = spaces as [PageTableBuilder, PageTableBuilder];
  const page = (i: number) => HEAP + BigInt(i) * 4096n;
  let nextFrame = 0x100_0000n;
  const frames: bigint[] = [];
  for (let i = 0; i < PAGES; i++) {
    frames.push(nextFrame);
    parent.map(page(i), nextFrame, { flags: { writable: true, user: true } });
    nextFrame += 0x1000n;
  }
  child.map(page(0), 0n, { count: PAGES, flags: { notPresent: true } }); // the child's tables exist, empty
  const v: Vcpu = vm.createVcpu({ ...LONG, cr3: parent.root });
  const outcomes: string[] = [];
  const note = (r: AccessResult) => outcomes.push(r.status === 'ok' ? `ok:${r.gpa!.toString(16)}` : r.status);
  const kstore = (pt: PageTableBuilder, va: bigint, value: bigint) => {
    const e = pt.getEntry(va, 1);
    const r = v.store(DM + BigInt(e.gpa), value, 8);
    expect(['ok', 'emulated']).toContain(r.status);
  };
  // 1. The parent touches its heap.
  for (let i = 0; i < PAGES; i++) note(v.write(page(i), true));
  // 2. fork: write-protect the parent's PTEs, fill the child's (read-only, same frames), flush.
  for (let i = 0; i < PAGES; i++) {
    kstore(parent, page(i), frames[i]! | (P & ~2n));
    kstore(child, page(i), frames[i]! | (P & ~2n));
  }
  v.flushGuestTlb();
  // 3. Context switches; each side writes some pages: COW #PF, the kernel copies and remaps.
  const cow = (pt: PageTableBuilder, i: number) => {
    const r = v.write(page(i), true);
    note(r);
    if (r.status === 'guest-pf') {
      kstore(pt, page(i), nextFrame | P);
      nextFrame += 0x1000n;
      v.invlpg(page(i));
      note(v.write(page(i), true));
    }
  };
  for (let round = 0; round < 8; round++) {
    v.movCr3(child.root);
    for (let i = round * 8; i < round * 8 + 8; i++) cow(child, i);
    for (let i = 0; i < PAGES; i += 4) note(v.read(page(i), true));
    v.movCr3(parent.root);
    for (let i = round * 8; i < round * 8 + 4; i++) cow(parent, i);
    for (let i = 1; i < PAGES; i += 4) note(v.read(page(i), true));
  }
  // 4. The child exits: the kernel clears its PTEs (from the parent's context) and flushes.
  for (let i = 0; i < PAGES; i++) kstore(child, page(i), 0n);
  v.flushGuestTlb();
  for (let i = 0; i < PAGES; i++) note(v.read(page(i), true));
  const events = vm.events.all;
  const count = (k: string) => events.filter((e) => e.kind === k).length;
  return {
    outcomes,
    stats: {
      ...vm.stats.snapshot(), ...v.stats.snapshot(),
      unsync_events: count('unsync'), sync_events: count('sync'), track_writes: count('track_write'), sp_allocs: count('sp_alloc'),
    },
  };
}

it('fork + COW + context switches: same outcomes with shadow paging and with TDP', () => {
  const s = run('shadow');
  const t = run('tdp');
  expect(s.outcomes).toEqual(t.outcomes);
  // Shadow paging exits for guest #PFs and for page-table writes that TDP never sees.
  expect(s.stats.exits).toBeGreaterThan(t.stats.exits);
  expect(s.stats.pf_guest).toBeGreaterThan(0);
  expect(s.stats.unsync_events).toBeGreaterThan(0);
  expect(s.stats.sync_events).toBeGreaterThan(0);
  expect(t.stats.unsync_events + t.stats.sync_events + t.stats.mmu_pte_write).toBe(0);
  if (process.env.SHADOW_STATS) {
    const keys = ['exits', 'pf_exits', 'ept_violations', 'pf_fixed', 'pf_emulate', 'pf_guest', 'pf_spurious', 'mmu_pte_write', 'mmu_pde_zapped', 'mmu_flooded', 'unsync_events', 'sync_events', 'mmu_sync_pages', 'mmu_sync_gpte_reads', 'remote_tlb_flush', 'root_cache_hit', 'root_cache_miss', 'mmu_cache_miss', 'sp_allocs', 'mmu_pages', 'tdp_mmu_pages', 'pages_4k', 'spte_changes', 'invlpg', 'tlb_flush', 'guest_accesses'] as const;
    const row = (x: Record<string, number>) => keys.map((k) => `${k}=${x[k] ?? 0}`).join(' ');
    console.log(`shadow: ${row(s.stats)}\ntdp:    ${row(t.stats)}\naccesses checked: ${s.outcomes.length}`);
  }
}, 60_000);
