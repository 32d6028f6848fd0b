/**
 * One register write on a running guest, and what it did to the MMU: whether the role changed,
 * whether the vCPU's root was unloaded (`kvm_mmu_unload`, by `kvm_mmu_reset_context` or on its
 * own), how many shadow pages were synced and whether the guest TLB was flushed. Measured on the
 * vCPU, for the TDP MMU or the shadow MMU.
 */
import { CR0, CR4, EFER, type PagingRegisters } from '../cpu/registers';
import { guest, type GuestPagingMode } from './guest';
import { hex, InvalidArgumentError } from '../errors';
import { checkBigint, checkEnum, checkObject, refuse } from '../validate/checks';

export interface RegisterWriteProbe {
  roleChanged: boolean;
  /** The vCPU holds no root after the write (the next entry loads one). */
  rootUnloaded: boolean;
  /** `mmu_reset` events: `kvm_mmu_reset_context (…)` / `kvm_mmu_unload (…)` with the bits that decided it. */
  resets: string[];
  /** Shadow pages synced by the write (`kvm_mmu_sync_roots` of a guest TLB flush). */
  syncs: number;
  /** Guest TLB flushes the vCPU counted (`tlb_flush`). */
  guestTlbFlushes: number;
  /** Exits of the next access to the page touched before the write: what rebuilding cost. */
  nextAccessExits: number;
}

function modeOf(r: PagingRegisters): GuestPagingMode {
  if ((r.efer & EFER.LMA) !== 0n) return (r.cr4 & CR4.LA57) !== 0n ? 'paging5' : 'paging4';
  return (r.cr4 & CR4.PAE) !== 0n ? 'pae' : 'paging32';
}

const VA = 0x4000_0000n;

/**
 * A guest in the mode of `regs` (paging on) touches one page; then `write(regs)` gives the
 * registers written (e.g. `(r) => ({ cr4: r.cr4 | CR4.PGE })`).
 */
export function probeRegisterWrite(mmu: 'tdp' | 'shadow', regs: PagingRegisters, write: (r: PagingRegisters) => Partial<PagingRegisters>): RegisterWriteProbe {
  checkEnum('mmu', mmu, ['tdp', 'shadow']);
  checkObject('regs', regs);
  for (const k of ['cr0', 'cr4', 'efer'] as const) checkBigint(`regs.${k}`, regs[k]);
  if (typeof write !== 'function') refuse('write', 'function-type', 'must be a function of the registers', write);
  if ((regs.cr0 & CR0.PG) === 0n) throw new InvalidArgumentError('probe-paging', 'the probe needs a guest with paging on (CR0.PG = 1)', hex(regs.cr0));
  const g = guest({ mmu, mode: modeOf(regs), regs: { cr0: regs.cr0, cr4: regs.cr4, efer: regs.efer } });
  g.pt.map(VA, 0x100_0000n, { flags: { writable: true, user: true } });
  g.vcpu.read(VA, true);
  const seq = g.vm.events.all.length;
  const flushes = g.vcpu.stats.get('tlb_flush');
  const r = g.vcpu.setRegisters(write(g.vcpu.regs));
  const events = g.vm.events.all.slice(seq);
  const rootUnloaded = mmu === 'tdp' ? g.vcpu.currentRoot === null : g.vcpu.shadow!.ctx.root.hpa < 0;
  const guestTlbFlushes = g.vcpu.stats.get('tlb_flush') - flushes;
  const nextAccessExits = g.vcpu.read(VA, true).exits.length;
  return {
    roleChanged: r.roleChanged,
    rootUnloaded,
    resets: events.filter((e) => e.kind === 'mmu_reset').map((e) => e.outcome),
    syncs: events.filter((e) => e.kind === 'sync').length,
    guestTlbFlushes,
    nextAccessExits,
  };
}
