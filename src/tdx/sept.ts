/**
 * The Secure EPT: the TDX module's page table for private GPAs, which KVM cannot write. It is
 * modelled as its own state — EPT-format tables in host frames, so the CPU's walk of a private GPA
 * is the same generic walk as for any EPT — and it changes only through the hooks the TDP MMU
 * calls from its one SPTE-change path (reference §11.4). Each hook records the SEAMCALL(s) it
 * stands for. A SEAMCALL that the TDX module would refuse (wrong entry state, no parent table,
 * a huge leaf) throws before anything changes.
 *
 * Private pages get into the S-EPT two ways (tdx.c:1645-1674): before the TD is finalized,
 * KVM_TDX_INIT_MEM_REGION maps the mirror (the hook only counts the page as premapped, no
 * SEAMCALL) and then TDH.MEM.PAGE.ADD copies and maps the page; after finalization a fault's
 * TDH.MEM.PAGE.AUG leaves the page PENDING until the guest's TDG.MEM.PAGE.ACCEPT. A PENDING leaf
 * is modelled as an entry with the page's address and R/W/X clear: the CPU cannot use it, and the
 * TDX module turns the access into a #VE (or, with SEPT_VE_DISABLE, an EPT violation that KVM
 * treats as fatal).
 */
import { readEntry64Unchecked, writeEntry64Unchecked } from '../memory/table-entry';
import type { EventLog } from '../events/event-log';
import type { HostMemory } from '../vm/host-memory';
import type { ExternalPageTableHooks } from '../tdp/external-hooks';
import { InvariantViolation } from '../tdp/tdp-mmu';
// The S-EPT's levels are its own (the root's table is level + 1): the unchecked twins.
import { pagesPerEntryUnchecked as pagesPerEntry, spteIndexUnchecked as spteIndex } from '../tdp/tdp-page';
import { Counters } from '../events/stats';
import { checkGfn, checkVcpuIndex, checkSpteValue } from '../tdp/check-tdp-args';
import { checkBool, checkInt, checkObject, refuse } from '../validate/checks';
import type { TdxStatName } from './tdx-stats';

/** EPT R|W|X: TD private pages are always RWX. */
const RWX = 7n;
/** EPT memory type WB (6) in bits 5:3 of a leaf. */
const MT_WB = 6n << 3n;
/** Accessed and Dirty, set up front so the CPU's walk never has to write the S-EPT. */
const AD = (1n << 8n) | (1n << 9n);
const PFN_MASK = ((1n << 52n) - 1n) & ~0xfffn;

/** One present S-EPT entry. */
export interface SeptEntry {
  level: number;
  /** First (natural, private) gfn the entry maps. */
  gfn: number;
  leaf: boolean;
  /** Leaf: the private page; non-leaf: the S-EPT table frame it points to. */
  pfn: number;
  /** Leaf added by TDH.MEM.PAGE.AUG and not yet accepted by the guest. */
  pending: boolean;
}

/** What TDG.MEM.PAGE.ACCEPT finds (TDX module ABI): no leaf (a TD exit to KVM), a PENDING page, or an accepted one. */
export type AcceptOutcome = 'ept-violation' | 'accepted' | 'already-accepted';

export class Sept implements ExternalPageTableHooks {
  readonly level: number;
  /** Host frame of the S-EPT root (created with the TD, like the TDR/TDCS-owned root). */
  readonly rootPfn: number;
  private readonly host: HostMemory;
  private readonly events: EventLog;
  private readonly stats: Counters<TdxStatName>;
  /** `${tableLevel}:${firstGfn}` → table frame. */
  private readonly tables = new Map<string, number>();
  /**
   * `is_hkid_assigned`: the TD's private key ID, assigned when the TD is created (modelled from
   * KVM_TDX_INIT_VM on) and freed only at teardown by `tdx_mmu_release_hkid`. While it is
   * assigned, private pages can be removed but S-EPT pages cannot be freed; once freed, the
   * reverse (tdx.c:1875, 1896).
   */
  private hkid = true;
  /** TD_STATE_RUNNABLE: set by KVM_TDX_FINALIZE_VM (TDH.MR.FINALIZE). */
  private runnableValue = false;
  /** Gfns mapped in the mirror by KVM_TDX_INIT_MEM_REGION that await TDH.MEM.PAGE.ADD (`nr_premapped`). */
  private readonly premapped = new Set<number>();

  constructor(host: HostMemory, level: number, events: EventLog, stats: Counters<TdxStatName>) {
    if (typeof checkObject<HostMemory>('host', host).allocTable !== 'function') refuse('host', 'host-memory', 'must be the VM\'s HostMemory', host);
    checkInt('level', level, { min: 4, max: 5 });
    if (typeof checkObject<EventLog>('events', events).record !== 'function') refuse('events', 'event-log', 'must be an EventLog', events);
    if (!(stats instanceof Counters)) refuse('stats', 'counters', 'must be the TDX statistics (Counters)', stats);
    this.host = host;
    this.level = level;
    this.events = events;
    this.stats = stats;
    this.rootPfn = host.allocTable(); // a fresh table frame is all zeros: every entry non-present
    this.tables.set(key(level, 0), this.rootPfn);
  }

  get tableCount(): number {
    return this.tables.size;
  }

  // ---- hooks (kvm_x86_ops → tdx.c) ----

  linkExternalSpt(gfn: number, level: number, vcpu: number): number {
    this.args(gfn, level, vcpu, 1, this.level);
    const [table, idx] = this.slot(gfn, level, 'TDH.MEM.SEPT.ADD');
    if (this.read(table, idx) !== 0n) throw this.refused('TDH.MEM.SEPT.ADD', gfn, level, 'the entry is already present');
    const child = this.host.allocTable();
    const base = floorTo(gfn, pagesPerEntry(level));
    this.tables.set(key(level - 1, base), child);
    this.write(table, idx, (BigInt(child) << 12n) | RWX | (1n << 8n));
    this.stats.inc('sept_add');
    this.call('TDH.MEM.SEPT.ADD', gfn, level, vcpu);
    return 0;
  }

  setExternalSpte(gfn: number, level: number, pfn: number, vcpu: number): number {
    this.args(gfn, level, vcpu, 1, this.level);
    checkGfn('pfn', pfn);
    // tdx_sept_set_private_spte: v6.16 maps private memory at 4K only.
    if (level !== 1) throw this.refused('TDH.MEM.PAGE.AUG', gfn, level, 'only 4K private pages are supported (v6.16)');
    const [table, idx] = this.slot(gfn, level, 'TDH.MEM.PAGE.AUG');
    if (this.read(table, idx) !== 0n) throw this.refused('TDH.MEM.PAGE.AUG', gfn, level, 'the entry is already present');
    if (!this.runnableValue) {
      // tdx_mem_page_record_premap_cnt (tdx.c:1632-1643): before finalization only KVM_TDX_INIT_MEM_REGION
      // maps (pre_fault_allowed is false), and PAGE.ADD follows; no SEAMCALL here.
      this.premapped.add(gfn);
      this.stats.inc('premapped');
      return 0;
    }
    this.write(table, idx, (BigInt(pfn) << 12n) | MT_WB | AD); // PENDING: R/W/X clear until accepted
    this.stats.inc('page_aug');
    this.call('TDH.MEM.PAGE.AUG', gfn, level, vcpu, pfn);
    return 0;
  }

  get runnable(): boolean {
    return this.runnableValue;
  }

  /** `kvm_tdx->nr_premapped`. */
  get nrPremapped(): number {
    return this.premapped.size;
  }

  isPremapped(gfn: number): boolean {
    checkGfn('gfn', gfn);
    return this.premapped.has(gfn);
  }

  /** The S-EPT leaf for `gfn` is PENDING (AUGed, not accepted). */
  isPending(gfn: number): boolean {
    checkGfn('gfn', gfn);
    const e = this.lookup(gfn);
    return e !== undefined && e.pending;
  }

  /** TDH.MR.FINALIZE (`tdx_td_finalize`, tdx.c:2863-2891; the caller checked the preconditions). */
  finalize(): void {
    this.runnableValue = true;
    this.call('TDH.MR.FINALIZE', 0, 0, -1);
  }

  /**
   * `tdx_gmem_post_populate` (tdx.c:3155-3214): TDH.MEM.PAGE.ADD of a premapped gfn — the page is
   * mapped (not PENDING) — then, with KVM_TDX_MEASURE_MEMORY_REGION, TDH.MR.EXTEND per 256 bytes.
   */
  pageAdd(gfn: number, pfn: number, measure: boolean, vcpu: number): void {
    this.args(gfn, 1, vcpu, 1, 1);
    checkGfn('pfn', pfn);
    checkBool('measure', measure);
    if (this.runnableValue || !this.premapped.has(gfn)) throw this.refused('TDH.MEM.PAGE.ADD', gfn, 1, this.runnableValue ? 'the TD is finalized' : 'the gfn is not premapped in the mirror');
    const [table, idx] = this.slot(gfn, 1, 'TDH.MEM.PAGE.ADD');
    if (this.read(table, idx) !== 0n) throw this.refused('TDH.MEM.PAGE.ADD', gfn, 1, 'the entry is already present');
    this.write(table, idx, (BigInt(pfn) << 12n) | RWX | MT_WB | AD);
    this.premapped.delete(gfn);
    this.stats.inc('page_add');
    this.call('TDH.MEM.PAGE.ADD', gfn, 1, vcpu, pfn);
    if (measure) {
      this.stats.inc('mr_extend', 4096 / 256); // TDX_EXTENDMR_CHUNKSIZE
      this.call('TDH.MR.EXTEND ×16', gfn, 1, vcpu);
    }
  }

  /** TDG.MEM.PAGE.ACCEPT at 4K (the TDX module): a PENDING leaf becomes usable. */
  accept(gfn: number, vcpu: number): AcceptOutcome {
    this.args(gfn, 1, vcpu, 1, 1);
    const e = this.lookup(gfn);
    // lookup returns leaves only: no leaf on the path is a TD exit to KVM.
    if (e === undefined) return 'ept-violation';
    if (!e.pending) return 'already-accepted';
    const [table, idx] = this.slot(gfn, 1, 'TDG.MEM.PAGE.ACCEPT');
    this.write(table, idx, this.read(table, idx) | RWX);
    this.stats.inc('page_accept');
    this.events.recordUnchecked({ kind: 'tdcall', vcpu, gpa: BigInt(gfn) << 12n, level: 1, outcome: 'TDG.MEM.PAGE.ACCEPT' });
    return 'accepted';
  }

  get hkidAssigned(): boolean {
    return this.hkid;
  }

  /** `tdx_mmu_release_hkid` (tdx.c:480): flush the vCPUs and caches, free the HKID (teardown only). */
  releaseHkid(): void {
    this.hkid = false;
  }

  removeExternalSpte(gfn: number, level: number, oldPfn: number, vcpu: number): void {
    this.args(gfn, level, vcpu, 1, this.level);
    checkGfn('oldPfn', oldPfn);
    // tdx_sept_remove_private_spte: "HKID is released after all private pages have been removed".
    if (!this.hkid) throw this.kvmBug('tdx.c:1896 tdx_sept_remove_private_spte', gfn, level, 'a private page removed after the HKID was released');
    if (this.premapped.delete(gfn)) return; // tdx.c:1797-1803: premapped, never PAGE.ADDed: nothing to block
    const [table, idx] = this.slot(gfn, level, 'TDH.MEM.RANGE.BLOCK');
    const e = this.read(table, idx);
    if (e === 0n || Number((e & PFN_MASK) >> 12n) !== oldPfn) throw this.refused('TDH.MEM.RANGE.BLOCK', gfn, level, `no private page 0x${oldPfn.toString(16)} mapped here`);
    // tdx_sept_remove_private_spte: block the range, bump the TD epoch (vCPUs kicked), remove.
    this.stats.inc('range_block');
    this.call('TDH.MEM.RANGE.BLOCK', gfn, level, vcpu, oldPfn);
    // tdx_track: no TD epoch to bump before finalization, no vCPU has run (tdx.c:1842-1844).
    if (this.runnableValue) {
      this.stats.inc('mem_track');
      this.call('TDH.MEM.TRACK', gfn, level, vcpu);
    }
    this.write(table, idx, 0n);
    this.stats.inc('page_remove');
    this.call('TDH.MEM.PAGE.REMOVE', gfn, level, vcpu, oldPfn);
  }

  freeExternalSpt(gfn: number, level: number, vcpu: number): void {
    this.args(gfn, level, vcpu, 1, this.level - 1);
    // tdx_sept_free_private_spt: KVM never frees S-EPT pages of a live TD, only after the HKID is
    // freed at teardown; doing it earlier is a KVM_BUG_ON (the VM is marked bugged, the page leaked).
    if (this.hkid) throw this.kvmBug('tdx.c:1875 tdx_sept_free_private_spt', gfn, level, 'an S-EPT page freed while the TD\'s HKID is assigned (a live TD)');
    const k = key(level, floorTo(gfn, pagesPerEntry(level + 1)));
    const child = this.tables.get(k);
    if (child === undefined) throw this.refused('free_external_spt', gfn, level, 'no S-EPT table covers this range');
    for (let i = 0; i < 512; i++) {
      if (this.read(child, i) !== 0n) throw this.refused('free_external_spt', gfn, level, 'the S-EPT table still maps something');
    }
    const [parent, idx] = this.slot(gfn, level + 1, 'free_external_spt');
    this.write(parent, idx, 0n);
    this.tables.delete(k);
    this.host.freeTable(child);
    this.stats.inc('sept_free');
    // The HKID is freed (TD teardown): the page is reclaimed (tdx_reclaim_page), not removed in place.
    this.call('free_external_spt (S-EPT page reclaimed)', gfn, level, vcpu);
  }

  // ---- reading ----

  /** The present S-EPT entry mapping `gfn` at the lowest level reached, if any. */
  lookup(gfn: number): SeptEntry | undefined {
    checkGfn('gfn', gfn);
    let table = this.rootPfn;
    for (let level = this.level; level >= 1; level--) {
      const e = this.read(table, spteIndex(gfn, level));
      if (e === 0n) return undefined;
      const pfn = Number((e & PFN_MASK) >> 12n);
      const leaf = level === 1 || (e & (1n << 7n)) !== 0n;
      if (leaf) return { level, gfn: floorTo(gfn, pagesPerEntry(level)), leaf, pfn, pending: (e & RWX) === 0n };
      table = pfn;
    }
    return undefined;
  }

  /** Every present entry, tables before their contents (for invariants and views). */
  entries(): SeptEntry[] {
    const out: SeptEntry[] = [];
    const visit = (table: number, level: number, base: number): void => {
      for (let i = 0; i < 512; i++) {
        const e = this.read(table, i);
        if (e === 0n) continue;
        const gfn = base + i * pagesPerEntry(level);
        const pfn = Number((e & PFN_MASK) >> 12n);
        const leaf = level === 1 || (e & (1n << 7n)) !== 0n;
        out.push({ level, gfn, leaf, pfn, pending: leaf && (e & RWX) === 0n });
        if (!leaf) visit(pfn, level - 1, gfn);
      }
    };
    visit(this.rootPfn, this.level, 0);
    return out;
  }

  /** Test support: overwrite one raw entry behind the hooks' back (to show the invariants catch it). */
  corruptForTest(gfn: number, level: number, value: bigint): void {
    this.args(gfn, level, -1, 1, this.level);
    checkSpteValue('value', value);
    const [table, idx] = this.slot(gfn, level, 'test');
    this.write(table, idx, value);
  }

  // ---- internals ----

  /** The hooks' arguments: a gfn below 2^40, an S-EPT level in [min, max], a vCPU index (-1: the VM). */
  private args(gfn: unknown, level: unknown, vcpu: unknown, min: number, max: number): void {
    checkGfn('gfn', gfn);
    checkInt('level', level, { min, max });
    checkVcpuIndex('vcpu', vcpu);
  }

  /** The table holding the entry for `gfn` at `level`, and the index. */
  private slot(gfn: number, level: number, op: string): [number, number] {
    const table = this.tables.get(key(level, floorTo(gfn, pagesPerEntry(level + 1))));
    if (table === undefined) throw this.refused(op, gfn, level, 'no S-EPT table at this level yet (TDX_EPT_WALK_FAILED)');
    return [table, spteIndex(gfn, level)];
  }

  private read(pfn: number, idx: number): bigint {
    return readEntry64Unchecked(this.host.frames, pfn, idx);
  }

  private write(pfn: number, idx: number, v: bigint): void {
    writeEntry64Unchecked(this.host.frames, pfn, idx, v);
  }

  private call(name: string, gfn: number, level: number, vcpu: number, pfn?: number): void {
    this.events.recordUnchecked({ kind: 'seamcall', vcpu, gpa: BigInt(gfn) << 12n, level, outcome: pfn === undefined ? name : `${name} pfn 0x${pfn.toString(16)}` });
  }

  private kvmBug(where: string, gfn: number, level: number, why: string): InvariantViolation {
    return new InvariantViolation('tdx-kvm-bug-on', `KVM_BUG_ON in ${where} for GFN 0x${gfn.toString(16)} level ${level}: ${why}`, '0x' + gfn.toString(16));
  }

  private refused(op: string, gfn: number, level: number, why: string): InvariantViolation {
    return new InvariantViolation('sept-seamcall', `${op} for GFN 0x${gfn.toString(16)} level ${level} refused: ${why}`, '0x' + gfn.toString(16));
  }
}

function key(level: number, gfn: number): string {
  return `${level}:${gfn}`;
}

function floorTo(x: number, span: number): number {
  return x - (x % span);
}
