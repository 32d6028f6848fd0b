/**
 * 4- vs 5-level paging, for the guest and for TDP: the memory references a TLB miss costs (1D under
 * shadow paging, 2D under TDP), and the table pages a mapped region needs in the guest and in KVM.
 */
import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { DEFAULT_FEATURES } from '../cpu/registers';
import type { Guest } from './guest';
import { guest } from './guest';
import { checkObject } from '../validate/checks';

export interface PagingLevelsParams {
  /** The guest's paging: 4-level or 5-level (CR4.LA57). */
  mode: 'paging4' | 'paging5';
  /** 'shadow' = 1D (the hardware walks KVM's shadow table); else TDP with this flavour. */
  mmu: 'ept' | 'npt' | 'shadow';
  /** The host's `max_tdp_level` (EPT: `vmx_get_max_ept_level`; NPT: the host's paging level). */
  maxTdpLevel: 4 | 5;
  /** The guest's CPUID MAXPHYADDR: with EPT, > 48 is what makes KVM use 5-level EPT. Default 46. */
  guestMaxPhyAddr?: number;
  /** 4 KiB pages the guest maps and reads. Default 512 (one guest page table). */
  pages?: number;
  /** Bytes between two mapped pages: 4096 = dense; 2 MiB = one page per guest page table. */
  stride?: bigint;
  /** Model the TLB and paging-structure caches (Skylake), else every access walks in full. */
  tlb?: boolean;
}

export interface PagingLevelsResult {
  /** Guest levels the walk reads (the cpu_role level). */
  guestLevels: number;
  /** Levels of the table the hardware walks for the GPA (TDP root level; 0 under shadow). */
  tdpLevels: number;
  /** Levels of KVM's shadow root (shadow paging only; 0 under TDP). */
  shadowLevels: number;
  /** Memory references per TLB miss, as the vCPU measured them on the live tables. */
  refsPerMiss: number;
  misses: number;
  /** Guest page-table pages the builder allocated (the root included). */
  guestTables: number;
  /** KVM's table pages: TDP MMU pages and roots, or shadow pages in use. */
  kvmTables: number;
  exits: number;
  g: Guest;
}

const HEAP = 0x40_0000_0000n;

export function pagingLevelsScenario(p: PagingLevelsParams): PagingLevelsResult {
  checkObject('p', p);
  if (p.mode !== 'paging4' && p.mode !== 'paging5') throw new InvalidArgumentError('paging-levels-mode', "mode is 'paging4' or 'paging5'", describeValue(p.mode));
  if (p.mmu !== 'ept' && p.mmu !== 'npt' && p.mmu !== 'shadow') throw new InvalidArgumentError('paging-levels-mmu', "mmu is 'ept', 'npt' or 'shadow'", describeValue(p.mmu));
  const pages = p.pages ?? 512;
  const stride = p.stride ?? 0x1000n;
  if (!Number.isInteger(pages) || pages < 1 || stride < 0x1000n || (stride & 0xfffn) !== 0n || BigInt(pages) * stride > 1n << 29n) {
    throw new InvalidArgumentError('paging-levels-range', 'pages ≥ 1 at a 4 KiB-aligned stride ≥ 4 KiB, within 512 MiB', `${pages} × ${stride}`);
  }
  const maxPhyAddr = p.guestMaxPhyAddr ?? 46;
  const g = guest({
    mode: p.mode, hostPageSize: '4K', checkInvariants: false,
    // A 5-level-capable host (MAXPHYADDR 52); shadow paging builds x86-format SPTEs (NPT's).
    ...(p.mmu === 'shadow' ? { mmu: 'shadow' as const, spte: { flavour: 'npt' as const, hostMaxPhyAddr: 52 } } : { spte: { flavour: p.mmu, maxTdpLevel: p.maxTdpLevel, hostMaxPhyAddr: 52 } }),
    vm: { features: { ...DEFAULT_FEATURES, maxPhyAddr }, ...(p.tlb ? { tlb: true } : {}) },
  });
  for (let i = 0; i < pages; i++) g.pt.map(HEAP + BigInt(i) * stride, 0x1000_0000n + BigInt(i) * stride, { flags: { writable: true } });
  let refs = 0;
  let misses = 0;
  const e0 = g.vcpu.stats.get('exits');
  // Twice: the first pass faults everything in; the second is the steady state measured.
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < pages; i++) {
      const r = g.vcpu.read(HEAP + BigInt(i) * stride);
      if (pass === 1 && r.tlb !== 'l1' && r.tlb !== 'stlb' && r.walkRefs !== undefined) {
        refs += r.walkRefs;
        misses++;
      }
    }
  }
  const shadow = p.mmu === 'shadow';
  return {
    guestLevels: g.vcpu.walker.role.base.level,
    tdpLevels: shadow ? 0 : g.vm.config.tdpLevel,
    shadowLevels: shadow ? g.vcpu.rootRole.level : 0,
    refsPerMiss: misses === 0 ? 0 : refs / misses,
    misses,
    guestTables: g.pt.tablesAllocated,
    kvmTables: shadow ? g.vm.stats.get('mmu_pages') : g.vm.stats.get('tdp_mmu_pages') + 1,
    exits: g.vcpu.stats.get('exits') - e0,
    g,
  };
}
