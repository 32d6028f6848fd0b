/**
 * The TDX side of a TD VM: its address configuration, per-gfn memory attributes, the S-EPT and
 * TDX counters — and KVM_SET_MEMORY_ATTRIBUTES, which zaps the alias that stops being valid.
 */
import { GpaOutsideMemoryError, InvalidArgumentError, hex } from '../errors';
import type { EventLog } from '../events/event-log';
import type { HostMemory } from '../vm/host-memory';
import { TdpMmu } from '../tdp/tdp-mmu';
import { checkBool, checkObject, refuse } from '../validate/checks';
import { rootTypesText } from '../tdp/root-types';
import { MemoryAttributes } from './memory-attributes';
import { Sept } from './sept';
import { applyAttributeChange, checkAttributeRange, type MemoryAttribute } from './set-memory-attributes';
import { checkTdConfig, type TdConfig } from './td-config';
import { tdxCounters } from './tdx-stats';

export type { MemoryAttribute };

export class Td {
  readonly config: TdConfig;
  readonly attributes = new MemoryAttributes();
  readonly stats = tdxCounters();
  readonly sept: Sept;
  /**
   * TD attribute SEPT_VE_DISABLE (the one KVM supports, tdx.c:65): an access to a PENDING page is
   * then an EPT violation to KVM, which kills the VM (tdx.c:1943-1947), instead of a #VE.
   */
  readonly septVeDisable: boolean;
  /** `kvm_vm_dead`: every later vCPU ioctl fails with -EIO. */
  dead = false;
  private readonly events: EventLog;

  constructor(config: TdConfig, host: HostMemory, events: EventLog, septVeDisable = false) {
    checkTdConfig(config, 'config');
    if (typeof checkObject<EventLog>('events', events).record !== 'function') refuse('events', 'event-log', 'must be an EventLog', events);
    checkBool('septVeDisable', septVeDisable); // undefined already took the parameter's default
    this.config = config;
    this.events = events;
    this.septVeDisable = septVeDisable;
    this.sept = new Sept(host, config.level, events, this.stats);
  }

  /** `kvm_tdx->state`: TD_STATE_INITIALIZED until KVM_TDX_FINALIZE_VM, then TD_STATE_RUNNABLE. */
  get state(): 'initialized' | 'runnable' {
    return this.sept.runnable ? 'runnable' : 'initialized';
  }

  /** KVM_TDX_FINALIZE_VM (`tdx_td_finalize`): -EINVAL once runnable or while pages await PAGE.ADD (tdx.c:2869-2876). */
  finalize(): void {
    if (this.sept.runnable) throw new InvalidArgumentError('td-finalized', 'KVM_TDX_FINALIZE_VM on a TD that is already runnable (tdx.c:2869)', 'runnable');
    if (this.sept.nrPremapped > 0) {
      throw new InvalidArgumentError('td-premapped', 'KVM_TDX_FINALIZE_VM while pages mapped by KVM_TDX_INIT_MEM_REGION still await TDH.MEM.PAGE.ADD (tdx.c:2875)', String(this.sept.nrPremapped));
    }
    this.sept.finalize();
  }

  /**
   * KVM_SET_MEMORY_ATTRIBUTES on [start, end) (natural GPAs, shared bit clear): converting to
   * private zaps the direct (shared) alias; to shared, the mirror alias, which also removes the
   * pages from the S-EPT. Returns the leaves zapped. Validated before any change.
   */
  setMemoryAttributes(tdp: TdpMmu, start: bigint, end: bigint, attr: MemoryAttribute): number {
    if (!(tdp instanceof TdpMmu)) refuse('tdp', 'tdp-mmu', 'must be the VM\'s TdpMmu', tdp);
    const c = checkAttributeRange(start, end, attr);
    if (end > this.config.gpaSharedMask) {
      throw new GpaOutsideMemoryError('mem-attr-shared-bit', `attributes are per natural gfn: the range must stay below the shared bit ${this.config.sharedBit}`, hex(end - 1n));
    }
    const { zapped, changed, types } = applyAttributeChange(tdp, this.attributes, true, c);
    this.stats.inc('attr_conversions');
    this.stats.inc('conversion_zaps', zapped);
    this.events.recordUnchecked({ kind: 'mem_attr', gpa: start, outcome: `${hex(start)}..${hex(end)} → ${attr}: ${changed} gfns changed, ${zapped} leaves zapped in ${rootTypesText(types)} roots` });
    return zapped;
  }
}
