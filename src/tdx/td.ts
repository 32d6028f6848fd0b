/**
 * The TDX side of a TD VM: its address configuration, per-gfn memory attributes, the S-EPT and
 * TDX counters — and KVM_SET_MEMORY_ATTRIBUTES, which zaps the alias that stops being valid.
 */
import { GpaOutsideMemoryError, hex } from '../errors';
import type { EventLog } from '../events/event-log';
import type { HostMemory } from '../vm/host-memory';
import type { TdpMmu } from '../tdp/tdp-mmu';
import { rootTypesText } from '../tdp/root-types';
import { MemoryAttributes } from './memory-attributes';
import { Sept } from './sept';
import { applyAttributeChange, checkAttributeRange, type MemoryAttribute } from './set-memory-attributes';
import type { TdConfig } from './td-config';
import { tdxCounters } from './tdx-stats';

export type { MemoryAttribute };

export class Td {
  readonly config: TdConfig;
  readonly attributes = new MemoryAttributes();
  readonly stats = tdxCounters();
  readonly sept: Sept;
  private readonly events: EventLog;

  constructor(config: TdConfig, host: HostMemory, events: EventLog) {
    this.config = config;
    this.events = events;
    this.sept = new Sept(host, config.level, events, this.stats);
  }

  /**
   * KVM_SET_MEMORY_ATTRIBUTES on [start, end) (natural GPAs, shared bit clear): converting to
   * private zaps the direct (shared) alias; to shared, the mirror alias, which also removes the
   * pages from the S-EPT. Returns the leaves zapped. Validated before any change.
   */
  setMemoryAttributes(tdp: TdpMmu, start: bigint, end: bigint, attr: MemoryAttribute): number {
    const c = checkAttributeRange(start, end, attr);
    if (end > this.config.gpaSharedMask) {
      throw new GpaOutsideMemoryError('mem-attr-shared-bit', `attributes are per natural gfn: the range must stay below the shared bit ${this.config.sharedBit}`, hex(end - 1n));
    }
    const { zapped, changed, types } = applyAttributeChange(tdp, this.attributes, true, c);
    this.stats.inc('attr_conversions');
    this.stats.inc('conversion_zaps', zapped);
    this.events.record({ kind: 'mem_attr', gpa: start, outcome: `${hex(start)}..${hex(end)} → ${attr}: ${changed} gfns changed, ${zapped} leaves zapped in ${rootTypesText(types)} roots` });
    return zapped;
  }
}
