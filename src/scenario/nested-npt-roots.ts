/**
 * The roots KVM builds to shadow L1's NPT12 with its own NPT02 (`guest_mmu`, nested SVM), whose
 * level is always the host's NPT level (`mmu.c: kvm_init_shadow_npt_mmu`): a 4-level NPT12 on a
 * 5-level host gets a `passthrough` root (a level with no NPT12 table behind it), a 32-bit or PAE
 * NPT12 gets the special roots `pae_root` + `pml4_root` (+ `pml5_root`) (`mmu_alloc_special_roots`).
 */
import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { CR0, CR4, EFER, type PagingRegisters } from '../cpu/registers';
import { PageTableBuilder } from '../builder/page-table-builder';
import { Vm } from '../vm/vm';

export type Npt12Mode = 'paging32' | 'pae' | 'paging4' | 'paging5';

export interface NestedNptRoots {
  host: 4 | 5;
  npt12: Npt12Mode;
  /** NPT12 levels (the cpu_role level of guest_mmu). */
  npt12Levels: number;
  /** guest_mmu's root_role.level and .passthrough. */
  rootLevel: number;
  passthrough: boolean;
  /** Host frames KVM allocated as special roots (pae_root, pml4_root, pml5_root). */
  specialRoots: number;
  /** Shadow pages in use after L2's first read (`n_used_mmu_pages`). */
  shadowPages: number;
  /** Levels of NPT02 above the shadow of NPT12's root: what every nested walk pays extra. */
  extraLevels: number;
}

const L2_LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };

function l1Regs(m: Npt12Mode): PagingRegisters {
  const base = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0n };
  switch (m) {
    case 'paging32': return { ...base, cr4: 0n, efer: EFER.SVME };
    case 'pae': return { ...base, cr4: CR4.PAE, efer: EFER.NXE | EFER.SVME };
    case 'paging4': return { ...base, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE | EFER.SVME };
    default: return { ...base, cr4: CR4.PAE | CR4.LA57, efer: EFER.LME | EFER.LMA | EFER.NXE | EFER.SVME };
  }
}

/** L1 runs L2 on nested NPT with an NPT12 in `npt12`'s format; L2 reads one page. */
export function nestedNptRoots(host: 4 | 5, npt12: Npt12Mode): NestedNptRoots {
  if (host !== 4 && host !== 5) throw new InvalidArgumentError('nested-npt-host', 'the host NPT level is 4 or 5', describeValue(host));
  if (!['paging32', 'pae', 'paging4', 'paging5'].includes(npt12)) throw new InvalidArgumentError('nested-npt-mode', 'NPT12 is paging32, pae, paging4 or paging5', describeValue(npt12));
  const vm = new Vm({ spte: { flavour: 'npt', maxTdpLevel: host }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const l1 = l1Regs(npt12);
  const l1pt = new PageTableBuilder(vm.guestMem, { mode: npt12, pool: { base: 0x10_0000n, size: 0x10_0000n } });
  const npt = new PageTableBuilder(vm.guestMem, { mode: npt12, pool: { base: 0x20_0000n, size: 0x10_0000n } });
  const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
  // NPT12 maps L2's table pool and one data page; nested accesses are user accesses.
  npt.map(0x100_0000n, 0x100_0000n, { count: 16, flags: { writable: true, user: true } });
  l2pt.map(0x40_0000n, 0x300_0000n, { flags: { writable: true } });
  npt.map(0x300_0000n, 0x500_0000n, { flags: { writable: true, user: true } });
  const v = vm.createVcpu({ ...l1, cr3: l1pt.root });
  v.enterNestedNpt({ ncr3: BigInt(npt.root), l1: { ...l1, cr3: l1pt.root }, l2: { ...L2_LONG, cr3: l2pt.root } });
  v.read(0x40_0000n);
  const ctx = v.nestedNpt!.ctx!;
  const levels = ctx.cpuRole.base.level;
  return {
    host, npt12, npt12Levels: levels, rootLevel: ctx.rootRole.level, passthrough: ctx.rootRole.passthrough,
    specialRoots: [ctx.paeRootPfn, ctx.pml4RootPfn, ctx.pml5RootPfn].filter((p) => p >= 0).length,
    shadowPages: vm.stats.get('mmu_pages'),
    extraLevels: ctx.rootRole.level - levels,
  };
}
