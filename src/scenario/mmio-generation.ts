/**
 * MMIO accesses against memslot updates: how many MMIO accesses take KVM's slow path (the full page
 * fault: `kvm_mmu_page_fault` → the TDP or shadow fault handler → `kvm_handle_noslot_fault`) and
 * how many are served from a cached MMIO SPTE (`mmu.c: handle_mmio_page_fault`), when memslot
 * updates bump the generation those SPTEs carry (`kvm_swap_active_memslots` → `check_mmio_spte`).
 */
import type { SpteConfigSpec } from '../spte/spte-config';
import type { KvmVersion } from '../kvm-version';
import { guest, type Guest } from './guest';
import { checkEnum, optObject } from '../validate/checks';
import { checkCount, checkGuest } from './check-guest';

export interface MmioGenerationParams {
  /** MMIO pages (GPAs without a memslot) the guest touches every round. Default 8. */
  mmioPages?: number;
  /** Rounds of accesses. Default 16. */
  rounds?: number;
  /** Reads of each MMIO page per round. Default 4. */
  accessesPerPage?: number;
  /** Memslot updates before a round: flag toggles of a spare slot, one swap each. Default 1. */
  updatesPerBurst?: number;
  /** A burst of updates before every `burstEvery`-th round after the first; 0 = never. Default 1. */
  burstEvery?: number;
  mmu?: 'tdp' | 'shadow';
  spte?: SpteConfigSpec;
  kvm?: KvmVersion;
}

export interface MmioGenerationResult {
  /** MMIO reads by the guest. */
  accesses: number;
  /** Reads that took the full page fault (a new MMIO SPTE, or none with caching disabled). */
  slow: number;
  /** Reads served by `handle_mmio_page_fault` from a current MMIO SPTE or the vCPU's MMIO cache. */
  cached: number;
  /** `pf_mmio_spte_created`. */
  spteCreated: number;
  /** Memslot updates made (swaps). */
  updates: number;
  /** Rounds that followed a burst of updates. */
  burstRounds: number;
  exits: number;
  /** Whether this VM caches MMIO at all (`enable_mmio_caching`). */
  mmioCaching: boolean;
  g: Guest;
}

const MMIO_GVA = 0x9000_0000n;
const MMIO_GPA = 0x8000_0000n;

export function mmioGenerationScenario(p: MmioGenerationParams = {}): MmioGenerationResult {
  optObject('p', p);
  if (p.mmu !== undefined) checkEnum('p.mmu', p.mmu, ['tdp', 'shadow']);
  if (p.kvm !== undefined) checkEnum('p.kvm', p.kvm, ['7.3', '6.16']);
  const pages = checkCount('mmioPages', p.mmioPages ?? 8, 1);
  const rounds = checkCount('rounds', p.rounds ?? 16, 1);
  const perPage = checkCount('accessesPerPage', p.accessesPerPage ?? 4, 1);
  const burst = checkCount('updatesPerBurst', p.updatesPerBurst ?? 1, 0);
  const every = checkCount('burstEvery', p.burstEvery ?? 1, 0);
  const g = guest({ mmu: p.mmu ?? 'tdp', ...(p.spte ? { spte: p.spte } : {}), vm: p.kvm ? { kvm: p.kvm } : {}, checkInvariants: false });
  const spare = g.vm.addMemslot({ base: 0x7000_0000n, size: 0x1000n, name: 'spare' });
  for (let i = 0; i < pages; i++) g.pt.map(MMIO_GVA + BigInt(i) * 4096n, MMIO_GPA + BigInt(i) * 4096n, { flags: { writable: true } });
  const created0 = g.vcpu.stats.get('pf_mmio_spte_created');
  const exits0 = g.vcpu.stats.get('exits');
  const gen0 = g.vm.mmioGeneration;
  let slow = 0, cached = 0, burstRounds = 0, on = false;
  for (let r = 0; r < rounds; r++) {
    if (r > 0 && every > 0 && r % every === 0 && burst > 0) {
      for (let u = 0; u < burst; u++) g.vm.setDirtyLogging(spare, (on = !on));
      burstRounds++;
    }
    for (let a = 0; a < perPage; a++) {
      for (let i = 0; i < pages; i++) {
        const e = g.vcpu.read(MMIO_GVA + BigInt(i) * 4096n).emulation ?? '';
        if (e === 'MMIO (cached MMIO SPTE)') cached++;
        else if (e.startsWith('MMIO')) slow++;
      }
    }
  }
  const asIds = g.vm.memAttributes !== undefined ? 1 : 2;
  return {
    accesses: rounds * perPage * pages, slow, cached, updates: (g.vm.mmioGeneration - gen0) / asIds, burstRounds,
    spteCreated: g.vcpu.stats.get('pf_mmio_spte_created') - created0, exits: g.vcpu.stats.get('exits') - exits0,
    mmioCaching: g.vm.config.mmioEnabled, g,
  };
}

/** Fast zap-alls `kvm_mmu_invalidate_mmio_sptes` made because the MMIO generation wrapped. */
export function mmioGenerationWraps(g: Guest): number {
  checkGuest('g', g);
  return g.vm.events.all.filter((e) => e.kind === 'zap' && (e.outcome ?? '').startsWith('MMIO generation wraparound')).length;
}

/**
 * Memslot updates (flag toggles of a spare slot) until the generation wraps: the count, and the
 * guest's exits to re-touch `pages` RAM pages it had mapped, before and after the wrap's zap-all.
 */
export function mmioWrapScenario(p: { kvm?: KvmVersion; type?: 'default' | 'sw-protected'; pages?: number } = {}): { updates: number; wraps: number; exitsBefore: number; exitsAfter: number; generation: number } {
  optObject('p', p);
  if (p.kvm !== undefined) checkEnum('p.kvm', p.kvm, ['7.3', '6.16']);
  if (p.type !== undefined) checkEnum('p.type', p.type, ['default', 'sw-protected']);
  const pages = checkCount('pages', p.pages ?? 64, 1);
  const g = guest({ vm: { ...(p.kvm ? { kvm: p.kvm } : {}), ...(p.type ? { type: p.type } : {}) }, hostPageSize: '4K', checkInvariants: false });
  const spare = g.vm.addMemslot({ base: 0x7000_0000n, size: 0x1000n, name: 'spare' });
  const heap = 0x4000_0000n;
  g.pt.map(heap, 0x20_0000n, { count: pages, flags: { writable: true } });
  const touch = (): number => {
    const e0 = g.vcpu.stats.get('exits');
    for (let i = 0; i < pages; i++) g.vcpu.read(heap + BigInt(i) * 4096n);
    return g.vcpu.stats.get('exits') - e0;
  };
  touch();
  const exitsBefore = touch();
  // Update until the stored generation bits (the address-space bit stripped) are 0 again: the
  // condition of kvm_mmu_invalidate_mmio_sptes (mmu.c:7288-7295); the zap itself is counted from
  // the event log afterwards.
  const asIds = g.vm.memAttributes !== undefined ? 1 : 2;
  const stored = (): number => g.vm.mmioGeneration & g.vm.config.layout.mmioGenMask & ~(asIds - 1);
  let updates = 0;
  do {
    g.vm.setDirtyLogging(spare, updates % 2 === 0);
    updates++;
  } while (stored() !== 0);
  return { updates, wraps: mmioGenerationWraps(g), exitsBefore, exitsAfter: touch(), generation: g.vm.mmioGeneration };
}
