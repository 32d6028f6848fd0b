/**
 * Which MMU state is per vCPU and which could be per VM (the `kvm_mmu_kind` split of the seed
 * threads): a VM whose vCPUs run in different paging modes, and a census of the roles, guest page
 * formats and `shadow_zero_check` masks each vCPU's MMUs hold, counted by object and by value.
 *
 * KVM (v6.16) keeps all of it in `struct kvm_mmu` (kvm_host.h:471-502), three per vCPU (`root_mmu`,
 * `guest_mmu`, `nested_mmu`, kvm_host.h:833-846): `cpu_role`, `root_role`, `permissions[16]`,
 * `pkru_mask`, `guest_rsvd_check` (`reset_guest_paging_metadata`, mmu.c:5510) and
 * `shadow_zero_check` (`reset_tdp_shadow_zero_bits_mask`, mmu.c:5322, or
 * `reset_shadow_zero_bits_mask`, mmu.c:5275).
 */
import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { CR0, CR4, EFER } from '../cpu/registers';
import { PAGING_MODE_REGS } from '../cpu/paging-modes';
import { PageTableBuilder } from '../builder/page-table-builder';
import { makeEptp } from '../nested/eptp';
import { DEFAULT_EPT_CAPS } from '../nested/ept-capabilities';
import { resetRsvdsBitsMask, resetRsvdsBitsMaskEpt, type RsvdBitsMask } from '../format/rsvd-bits-mask';
import type { PageFormat } from '../format/page-format';
import { PageRole } from '../role/page-role';
import { Vm } from '../vm/vm';
import type { GuestPagingMode } from './guest';
import { checkArray, checkBool, checkEnum, checkObject, refuse } from '../validate/checks';

export type CensusMode = GuestPagingMode | 'nested-ept';

export interface MmuStateRow {
  vcpu: number;
  mode: CensusMode;
  mmu: 'root_mmu' | 'guest_mmu';
  /** cpu_role and root_role (packed values, as text). */
  cpuRole: string;
  rootRole: string;
  /** The guest page format the engine's walker uses (memoized objects): `guest_rsvd_check`, `permissions`, `pkru_mask`. */
  format: PageFormat;
  /** The `shadow_zero_check` KVM computes for this MMU from its root_role (mmu.c:5275/5322, 5350). */
  zeroCheck: { rsvd: RsvdBitsMask; badMtXwr: bigint };
}

/** A VM with `perMode` vCPUs in each mode (and one L2 on nested EPT with `nested`); each reads one page. */
export function mixedModeVm(o: { mmu: 'tdp' | 'shadow'; perMode?: number; modes?: readonly GuestPagingMode[]; nested?: boolean }): { vm: Vm; modes: CensusMode[] } {
  checkObject('o', o);
  checkEnum('o.mmu', o.mmu, ['tdp', 'shadow']);
  if (o.nested !== undefined) checkBool('o.nested', o.nested);
  if (o.modes !== undefined) checkArray('o.modes', o.modes).forEach((m, i) => checkEnum(`o.modes[${i}]`, m, ['paging32', 'pae', 'paging4', 'paging5']));
  const perMode = o.perMode ?? 2;
  if (!Number.isInteger(perMode) || perMode < 1 || perMode > 16) throw new InvalidArgumentError('census-per-mode', 'perMode is 1..16 vCPUs', describeValue(perMode));
  if (o.nested && o.mmu !== 'tdp') throw new InvalidArgumentError('census-nested', 'nested EPT needs TDP', o.mmu);
  const vm = new Vm({ ...(o.mmu === 'shadow' ? { mmu: 'shadow' as const } : {}), checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const modes: CensusMode[] = [];
  (o.modes ?? (['paging32', 'pae', 'paging4', 'paging5'] as const)).forEach((mode, k) => {
    const pt = new PageTableBuilder(vm.guestMem, { mode, pool: { base: BigInt(0x100_0000 + k * 0x10_0000), size: 0x10_0000n } });
    pt.map(0x40_0000n, 0x300_0000n, { flags: { writable: true } });
    for (let i = 0; i < perMode; i++) {
      vm.createVcpu(PAGING_MODE_REGS[mode]({ cr3: pt.root })).read(0x40_0000n);
      modes.push(mode);
    }
  });
  if (o.nested) {
    const long = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
    const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const ept = new PageTableBuilder(vm.guestMem, { mode: 'ept4', pool: { base: 0x20_0000n, size: 0x10_0000n } });
    const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x80_0000n, size: 0x10_0000n } });
    ept.map(0x80_0000n, 0x80_0000n, { count: 16, flags: { accessed: true, dirty: true } });
    l2pt.map(0x40_0000n, 0x300_0000n, { flags: { writable: true } });
    ept.map(0x300_0000n, 0x500_0000n);
    const v = vm.createVcpu({ ...long, cr3: l1pt.root });
    v.enterNestedEpt({ eptp: makeEptp({ root: ept.root, level: 4, adEnabled: false }), caps: DEFAULT_EPT_CAPS, l2: { ...long, cr3: l2pt.root } });
    v.read(0x40_0000n);
    modes.push('nested-ept');
  }
  return { vm, modes };
}

/** KVM's `shadow_zero_check` for an MMU with this root_role (the host-side masks; no SME). */
export function kvmShadowZeroCheck(vm: Vm, rootRole: PageRole, execOnly?: boolean): { rsvd: RsvdBitsMask; badMtXwr: bigint } {
  if (!(vm instanceof Vm)) refuse('vm', 'vm', 'must be a Vm', vm);
  if (!(rootRole instanceof PageRole)) refuse('rootRole', 'page-role', 'must be a PageRole', rootRole);
  if (execOnly !== undefined) checkBool('execOnly', execOnly);
  const c = vm.config;
  if (!rootRole.direct || !vm.tdpEnabled) {
    if (c.flavour === 'ept' && rootRole.guestMode && vm.tdpEnabled) {
      // reset_ept_shadow_zero_bits_mask (mmu.c:5350): shadowing EPT12, with L1's execute-only.
      const z = resetRsvdsBitsMaskEpt({ maxPhyAddr: c.hostMaxPhyAddr, execonly: execOnly ?? false, hugePageLevel: c.maxHugePageLevel });
      return { rsvd: z.rsvdBitsMask, badMtXwr: z.badMtXwr };
    }
    // reset_shadow_zero_bits_mask (mmu.c:5275-5292): the root's level and efer_nx, guest GBPAGES, !pse, amd.
    return { rsvd: resetRsvdsBitsMask({ maxPhyAddr: c.hostMaxPhyAddr, level: rootRole.level, nx: rootRole.eferNx, gbpages: vm.features.gbpages, pse: false, amd: true }), badMtXwr: 0n };
  }
  // reset_tdp_shadow_zero_bits_mask (mmu.c:5322-5334): the host's TDP format; execonly false for EPT.
  if (c.flavour === 'ept') {
    const z = resetRsvdsBitsMaskEpt({ maxPhyAddr: c.hostMaxPhyAddr, execonly: false, hugePageLevel: c.maxHugePageLevel });
    return { rsvd: z.rsvdBitsMask, badMtXwr: z.badMtXwr };
  }
  return { rsvd: resetRsvdsBitsMask({ maxPhyAddr: c.hostMaxPhyAddr, level: rootRole.level, nx: true, gbpages: c.maxHugePageLevel >= 3, pse: false, amd: true }), badMtXwr: 0n };
}

/** One row per MMU in use per vCPU: root_mmu, and guest_mmu for a vCPU in L2 on nested EPT. */
export function mmuStateCensus(vm: Vm, modes: readonly CensusMode[]): MmuStateRow[] {
  if (!(vm instanceof Vm)) refuse('vm', 'vm', 'must be a Vm', vm);
  checkArray('modes', modes);
  if (modes.length !== vm.vcpus.length) refuse('modes', 'census-modes', `must name one mode per vCPU (${vm.vcpus.length})`, modes);
  modes.forEach((m, i) => checkEnum(`modes[${i}]`, m, ['paging32', 'pae', 'paging4', 'paging5', 'nested-ept']));
  const rows: MmuStateRow[] = [];
  vm.vcpus.forEach((v, i) => {
    const nested = v.nested;
    if (nested?.ctx !== undefined && modes[i] === 'nested-ept') {
      const ctx = nested.ctx;
      rows.push({ vcpu: i, mode: 'nested-ept', mmu: 'guest_mmu', cpuRole: ctx.cpuRole.toString(), rootRole: ctx.rootRole.toString(), format: ctx.gptFormat!, zeroCheck: kvmShadowZeroCheck(vm, ctx.rootRole, DEFAULT_EPT_CAPS.executeOnly) });
      return;
    }
    const role = v.walker.role;
    rows.push({ vcpu: i, mode: modes[i]!, mmu: 'root_mmu', cpuRole: role.toString(), rootRole: v.rootRole.toString(), format: v.walker.format!, zeroCheck: kvmShadowZeroCheck(vm, v.rootRole) });
  });
  return rows;
}

export interface ShareCount {
  state: string;
  /** Copies KVM keeps: one per MMU in use. */
  copies: number;
  /** Distinct objects in the engine (identity). */
  objects: number;
  /** Distinct values: what a per-VM cache keyed by value would hold. */
  values: number;
}

const key = (x: unknown): string => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));

/** Copies, distinct objects and distinct values of each piece of state over the census rows. */
export function shareCensus(rows: readonly MmuStateRow[]): ShareCount[] {
  checkArray('rows', rows).forEach((r, i) => checkObject(`rows[${i}]`, r));
  const count = (state: string, get: (r: MmuStateRow) => unknown, byValue: (x: unknown) => string): ShareCount => ({
    state, copies: rows.length, objects: new Set(rows.map(get)).size, values: new Set(rows.map((r) => byValue(get(r)))).size,
  });
  return [
    count('cpu_role', (r) => r.cpuRole, String),
    count('root_role', (r) => r.rootRole, String),
    count('guest format (guest_rsvd_check, permissions, pkru_mask)', (r) => r.format, (f) => key({ ...(f as PageFormat), hot: undefined })),
    count('shadow_zero_check', (r) => r.zeroCheck, key),
  ];
}
