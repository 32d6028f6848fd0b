/**
 * One guest workload on a shadow-paging VM and on a TDP VM (`forkScenario`): a process touches its
 * heap, forks (the kernel write-protects the parent's PTEs for copy-on-write, builds the child's
 * tables and flushes), parent and child take turns (context switches), both take COW faults that
 * the kernel resolves by rewriting a PTE and INVLPG, and finally the child exits. Both VMs must
 * give every access the same outcome; the shadow VM pays in exits, unsync/sync and emulated
 * page-table writes. `SHADOW_STATS=1` prints the counters (for the design notes).
 */
import { expect, it } from 'vitest';
import { forkScenario } from '../../src';

it('fork + COW + context switches: same outcomes with shadow paging and with TDP', () => {
  const s = forkScenario({ mmu: 'shadow' });
  const t = forkScenario({ mmu: 'tdp' });
  expect(s.outcomes).toEqual(t.outcomes);
  for (const r of [s, t]) for (const st of r.stores) expect(['ok', 'emulated']).toContain(st);
  // Shadow paging exits for guest #PFs and for page-table writes that TDP never sees.
  expect(s.stats.exits!).toBeGreaterThan(t.stats.exits!);
  expect(s.stats.pf_guest!).toBeGreaterThan(0);
  expect(s.stats.unsyncs!).toBeGreaterThan(0);
  expect(s.stats.syncs!).toBeGreaterThan(0);
  expect(t.stats.unsyncs! + t.stats.syncs! + t.stats.mmu_pte_write!).toBe(0);
  if (process.env.SHADOW_STATS) {
    const keys = ['exits', 'pf_exits', 'ept_violations', 'pf_fixed', 'pf_emulate', 'pf_guest', 'pf_spurious', 'mmu_pte_write', 'mmu_pde_zapped', 'mmu_flooded', 'unsyncs', 'syncs', 'mmu_sync_pages', 'mmu_sync_gpte_reads', 'remote_tlb_flush', 'root_cache_hit', 'root_cache_miss', 'mmu_cache_miss', 'mmu_pages', 'tdp_mmu_pages', 'pages_4k', 'spte_changes', 'invlpg', 'tlb_flush', 'guest_accesses'] as const;
    const row = (x: Record<string, number>) => keys.map((k) => `${k}=${x[k] ?? 0}`).join(' ');
    console.log(`shadow: ${row(s.stats)}\ntdp:    ${row(t.stats)}\naccesses checked: ${s.outcomes.length}`);
  }
}, 60_000);
