/**
 * The TDX side of a TD VM: its address configuration, per-gfn memory attributes, the S-EPT and
 * TDX counters — and KVM_SET_MEMORY_ATTRIBUTES, which zaps the alias that stops being valid.
 */
import { GpaOutsideMemoryError, MisalignedError, hex } from '../errors';
import type { EventLog } from '../events/event-log';
import type { HostMemory } from '../vm/host-memory';
import type { TdpMmu } from '../tdp/tdp-mmu';
import { KVM_INVALID_ROOTS, filterToRootTypes, rootTypesText } from '../tdp/root-types';
import { MemoryAttributes } from './memory-attributes';
import { Sept } from './sept';
import type { TdConfig } from './td-config';
import { tdxCounters } from './tdx-stats';

export type MemoryAttribute = 'private' | 'shared';

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
   * KVM_SET_MEMORY_ATTRIBUTES on [start, end) (natural GPAs, shared bit clear):
   * `kvm_arch_pre_set_memory_attributes` unmaps the other alias — converting to private zaps with
   * KVM_FILTER_SHARED (direct roots), to shared with KVM_FILTER_PRIVATE (mirror roots, which also
   * removes the pages from the S-EPT). Returns the leaves zapped. Validated before any change.
   */
  setMemoryAttributes(tdp: TdpMmu, start: bigint, end: bigint, attr: MemoryAttribute): number {
    if ((start & 0xfffn) !== 0n || (end & 0xfffn) !== 0n || end <= start) {
      throw new MisalignedError('mem-attr-range', 'memory attributes are set on a non-empty, 4 KiB aligned GPA range', `${hex(start)}..${hex(end)}`);
    }
    if (attr !== 'private' && attr !== 'shared') throw new MisalignedError('mem-attr-value', 'a memory attribute is private or shared', String(attr));
    if (end > this.config.gpaSharedMask) {
      throw new GpaOutsideMemoryError('mem-attr-shared-bit', `attributes are per natural gfn: the range must stay below the shared bit ${this.config.sharedBit}`, hex(end - 1n));
    }
    const a = Number(start >> 12n);
    const b = Number(end >> 12n);
    const toPrivate = attr === 'private';
    const types = filterToRootTypes(true, toPrivate ? 'shared' : 'private') | KVM_INVALID_ROOTS;
    const zapped = tdp.zapLeafs(a, b, -1, `convert to ${attr}`, types);
    const changed = this.attributes.set(a, b, toPrivate);
    this.stats.inc('attr_conversions');
    this.stats.inc('conversion_zaps', zapped);
    this.events.record({ kind: 'mem_attr', gpa: start, outcome: `${hex(start)}..${hex(end)} → ${attr}: ${changed} gfns changed, ${zapped} leaves zapped in ${rootTypesText(types)} roots` });
    return zapped;
  }
}
