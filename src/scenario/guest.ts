/**
 * A guest in one call: the VM, a RAM memslot, the guest's own page tables (a builder over a pool
 * in RAM) and a vCPU running on them. What every note and many tests set up by hand.
 */
import type { PagingRegisters } from '../cpu/registers';
import { PAGING_MODE_REGS } from '../cpu/paging-modes';
import { PageTableBuilder } from '../builder/page-table-builder';
import type { SpteConfigSpec } from '../spte/spte-config';
import type { Memslot } from '../vm/memslot';
import type { Vcpu } from '../vm/vcpu';
import { Vm, type VmOptions } from '../vm/vm';
import { checkBigint, checkEnum, optBool, optObject } from '../validate/checks';

export type GuestPagingMode = 'paging32' | 'pae' | 'paging4' | 'paging5';

export interface GuestSpec {
  /** 'tdp' (default) or 'shadow' (no TDP). */
  mmu?: 'tdp' | 'shadow';
  /** SPTE flavour and capabilities (default EPT). */
  spte?: SpteConfigSpec;
  /** Other VM options (type, features, …). */
  vm?: Omit<VmOptions, 'spte' | 'mmu' | 'tdp'>;
  /** RAM size in bytes from GPA 0 (default 1 GiB). */
  ramBytes?: bigint;
  /** Host backing of RAM (default 4K). */
  hostPageSize?: '4K' | '2M' | '1G';
  /** The guest's paging mode (default 4-level). */
  mode?: GuestPagingMode;
  /** Where the guest's page tables live (default 1 MiB at GPA 0x100000). */
  tablePool?: { base: bigint; size: bigint };
  /** Extra register bits (CR4.PGE, …) on top of the mode's. */
  regs?: Partial<PagingRegisters>;
  /** Invariant checks after every operation (default true). */
  checkInvariants?: boolean;
}

export interface Guest {
  vm: Vm;
  ram: Memslot;
  /** The guest's page tables (its CR3 points at `pt.root`). */
  pt: PageTableBuilder;
  vcpu: Vcpu;
}

const MODES: readonly GuestPagingMode[] = ['paging32', 'pae', 'paging4', 'paging5'];

export function guest(spec: GuestSpec = {}): Guest {
  // Every option checked before the VM exists (issue 12): 'toString' is no mode, "yes" no boolean.
  optObject<GuestSpec>('spec', spec);
  const mode = checkEnum('spec.mode', spec.mode ?? 'paging4', MODES);
  if (spec.mmu !== undefined) checkEnum('spec.mmu', spec.mmu, ['tdp', 'shadow']);
  if (spec.hostPageSize !== undefined) checkEnum('spec.hostPageSize', spec.hostPageSize, ['4K', '2M', '1G']);
  // RAM from GPA 0 must hold the default table pool [1 MiB, 2 MiB); at most 2^46 (MAXPHYADDR 46).
  if (spec.ramBytes !== undefined) checkBigint('spec.ramBytes', spec.ramBytes, { min: 0x20_0000n, max: 1n << 46n, align: 0x1000n });
  optBool('spec.checkInvariants', spec.checkInvariants, true);
  optObject('spec.vm', spec.vm);
  optObject('spec.regs', spec.regs);
  const vm = new Vm({ ...(spec.vm ?? {}), ...(spec.spte ? { spte: spec.spte } : {}), ...(spec.mmu === 'shadow' ? { mmu: 'shadow' as const } : {}), checkInvariants: spec.checkInvariants ?? true });
  const ram = vm.addMemslot({ base: 0n, size: spec.ramBytes ?? 1n << 30n, name: 'ram', hostPageSize: spec.hostPageSize ?? '4K' });
  const pt = new PageTableBuilder(vm.guestMem, { mode, pool: spec.tablePool ?? { base: 0x10_0000n, size: 0x10_0000n } });
  const vcpu = vm.createVcpu({ ...PAGING_MODE_REGS[mode]({ cr3: pt.root }), ...(spec.regs ?? {}) });
  return { vm, ram, pt, vcpu };
}
