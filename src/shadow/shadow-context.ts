/**
 * One vCPU's shadow `struct kvm_mmu` (root_mmu shadowing the guest's CR3 tables, or guest_mmu
 * shadowing L1's EPT12): the roles, KVM's walker over the shadowed guest tables, the current root
 * and the three previous roots, the PAE root page, and the hardware walk over the shadow tables.
 * Per-vCPU state only; the pages themselves belong to the VM's ShadowMmu.
 */
import type { Counters, VcpuStatName } from '../events/stats';
import type { PageFormat } from '../format/page-format';
import type { GuestMemory } from '../memory/guest-memory';
import type { CpuRole } from '../role/cpu-role';
import type { PageRole } from '../role/page-role';
import type { WalkInputs } from '../walker/walk';
import { WalkScratch } from '../walker/walk-scratch';
import { GuestMemory as GuestMemoryClass } from '../memory/guest-memory';
import { Counters as CountersClass } from '../events/stats';
import { checkEnum, checkInt, checkObject, refuse } from '../validate/checks';
import { CpuRole as CpuRoleClass } from '../role/cpu-role';
import { PageRole as PageRoleClass } from '../role/page-role';
import { MAX_VCPU_INDEX } from '../vm/vm-args';

/** A PageFormat as the format builders make it (entry width, reserved-bit masks). */
function checkFormatShape(name: string, v: unknown): void {
  const f = checkObject<PageFormat>(name, v);
  if ((f.entryBytes !== 4 && f.entryBytes !== 8) || !Array.isArray(f.rsvdBitsMask)) refuse(name, 'page-format', 'must be a PageFormat', v);
}

/**
 * A setup's shape (check-shadow-args.ts imports this file, so the check is here): the roles and
 * formats are objects, the PAE flag a boolean, the PDPTEs four bigints when given.
 */
function checkSetup(name: string, v: unknown): ContextSetup {
  const s = checkObject<ContextSetup>(name, v);
  if (!(s.cpuRole instanceof CpuRoleClass)) refuse(`${name}.cpuRole`, 'cpu-role', 'must be a CpuRole', s.cpuRole);
  if (!(s.rootRole instanceof PageRoleClass)) refuse(`${name}.rootRole`, 'page-role', 'must be a PageRole', s.rootRole);
  checkFormatShape(`${name}.hwFormat`, s.hwFormat);
  if (s.gptFormat !== undefined) checkFormatShape(`${name}.gptFormat`, s.gptFormat);
  if (s.walkInputs !== undefined) checkObject(`${name}.walkInputs`, s.walkInputs);
  if (s.pdptrs !== undefined && (!Array.isArray(s.pdptrs) || s.pdptrs.length !== 4 || s.pdptrs.some((p) => typeof p !== 'bigint'))) refuse(`${name}.pdptrs`, 'pdptrs', 'must be four bigint PDPTEs', s.pdptrs);
  if (typeof s.isPae !== 'boolean') refuse(`${name}.isPae`, 'boolean-type', 'must be true or false', s.isPae);
  return s;
}
import type { ShadowPage } from './shadow-page';

export type MmuKind = 'root_mmu' | 'guest_mmu';

/** `struct kvm_mmu_root_info`: the table the hardware loads, its page (none for a PAE root), the guest pgd. */
export interface RootRef {
  /** Host frame of the root table; -1 = INVALID_PAGE. */
  readonly hpa: number;
  readonly sp: ShadowPage | null;
  readonly pgd: bigint;
}

export const INVALID_ROOT: RootRef = Object.freeze({ hpa: -1, sp: null, pgd: 0n });
/** `KVM_MMU_NUM_PREV_ROOTS`. */
export const NUM_PREV_ROOTS = 3;

export interface ContextSetup {
  cpuRole: CpuRole;
  rootRole: PageRole;
  /** The format of the shadowed guest tables (undefined: paging off, direct). */
  gptFormat: PageFormat | undefined;
  /** KVM's walker inputs over the shadowed tables (undefined: paging off). */
  walkInputs: WalkInputs | undefined;
  /** PAE guest: the PDPTE registers as loaded by the last MOV CR3. */
  pdptrs: readonly bigint[] | undefined;
  /** The format the hardware walks the shadow tables with. */
  hwFormat: PageFormat;
  /** Guest CR4.PAE (`is_pae(vcpu)` for emulated 4-byte writes to 8-byte gPTEs). */
  isPae: boolean;
}

export class ShadowContext {
  readonly kind: MmuKind;
  readonly vcpu: number;
  readonly stats: Counters<VcpuStatName>;
  readonly guestMem: GuestMemory;
  cpuRole!: CpuRole;
  rootRole!: PageRole;
  gptFormat: PageFormat | undefined;
  walkInputs: WalkInputs | undefined;
  pdptrs: readonly bigint[] | undefined;
  hwFormat!: PageFormat;
  isPae = false;
  readonly walkScratch = new WalkScratch();
  readonly hwScratch = new WalkScratch();
  root: RootRef = INVALID_ROOT;
  prevRoots: RootRef[] = [INVALID_ROOT, INVALID_ROOT, INVALID_ROOT];
  /** `mmu->pae_root`: one host frame of four PDPTE-like entries, allocated on first use. */
  paeRootPfn = -1;
  readonly paeRootSps: (ShadowPage | null)[] = [null, null, null, null];
  /**
   * `mmu->pml4_root` / `mmu->pml5_root` (special roots, §8.3): a 4/5-level host shadowing a
   * 32-bit or PAE NPT12 points its top table(s) at `pae_root`; host frames, not shadow pages.
   */
  pml4RootPfn = -1;
  pml5RootPfn = -1;
  /** The PAE root as the hardware loads it into its PDPTE registers at VM entry. */
  readonly paeHalves = new Uint32Array(8);
  /** Last KVM_REQ_MMU_FREE_OBSOLETE_ROOTS handled. */
  obsoleteSeen = 0;
  /** KVM_REQ_MMU_SYNC pending. */
  syncRequested = false;
  /**
   * KVM_REQ_TLB_FLUSH_CURRENT pending for this MMU's context: set by `kvm_mmu_load`
   * (mmu.c:5919, a new root's provenance is unknown) and `kvm_invalidate_pcid` (x86.c:1397-1400);
   * served by the vCPU's TLB model before the next entry (`kvm_service_local_tlb_flush_requests`,
   * x86.c:3673-3680). Without a TLB model nothing reads it.
   */
  tlbFlushCurrent = false;

  constructor(kind: MmuKind, vcpu: number, stats: Counters<VcpuStatName>, guestMem: GuestMemory, setup: ContextSetup) {
    checkEnum('kind', kind, ['root_mmu', 'guest_mmu']);
    checkInt('vcpu', vcpu, { max: MAX_VCPU_INDEX });
    if (!(stats instanceof CountersClass)) refuse('stats', 'counters', 'must be the vCPU\'s Counters', stats);
    if (!(guestMem instanceof GuestMemoryClass)) refuse('guestMem', 'guest-memory', 'must be a GuestMemory', guestMem);
    checkSetup('setup', setup);
    this.kind = kind;
    this.vcpu = vcpu;
    this.stats = stats;
    this.guestMem = guestMem;
    this.configureUnchecked(setup);
  }

  configure(s: ContextSetup): void {
    this.configureUnchecked(checkSetup('s', s));
  }

  /** configure for the vCPUs' register writes (rootMmuSetup built the setup). */
  configureUnchecked(s: ContextSetup): void {
    this.cpuRole = s.cpuRole;
    this.rootRole = s.rootRole;
    this.gptFormat = s.gptFormat;
    this.walkInputs = s.walkInputs;
    this.pdptrs = s.pdptrs;
    this.hwFormat = s.hwFormat;
    this.isPae = s.isPae;
  }

  /** Roots are built from a PAE root (guest 32-bit, PAE, or paging off). */
  get usesPaeRoot(): boolean {
    return this.rootRole.level === 3;
  }

  /** A 32-bit/PAE guest table shadowed under a 4/5-level root: pae_root reached via pml4_root (and pml5_root). */
  get usesSpecialRoots(): boolean {
    return !this.rootRole.direct && this.rootRole.level >= 4 && this.cpuRole.base.level <= 3;
  }

  get direct(): boolean {
    return this.rootRole.direct;
  }

  /** The hardware walk inputs for the current root. */
  hwInputs(mem: GuestMemory): WalkInputs {
    if (!(mem instanceof GuestMemoryClass)) refuse('mem', 'guest-memory', 'must be the host memory (a GuestMemory of host frames)', mem);
    return this.hwInputsUnchecked(mem);
  }

  /** hwInputs for the access loop (its memory is the VM's host frames). */
  hwInputsUnchecked(mem: GuestMemory): WalkInputs {
    return {
      mem,
      format: this.hwFormat,
      rootGfn: this.root.hpa,
      pdptrs: this.usesPaeRoot ? this.paeHalves : undefined,
      pdptBase: 0,
      pkru: 0,
      fetchSetsId: true,
    };
  }
}
