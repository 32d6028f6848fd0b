/**
 * The event log: one row per thing that happened — exits, faults and their RET_PF_* outcomes,
 * SPTE changes, zaps, flushes. Sequence numbers, never clocks, so runs are reproducible.
 */
import { checkBigint, checkInt, checkObject, checkString, refuse } from '../validate/checks';

/** Every event kind, with why each exists. */
export const EVENT_KINDS = [
  'guest_pf',
  'ept_violation',
  'ept_misconfig',
  'npf',
  'page_fault',
  'fast_page_fault',
  'mmio_emulate',
  'spte_change',
  'zap',
  'tlb_flush',
  // The vCPU's TLB model (src/tlb): hits, misses (with the walk's references), invalidations
  'tlb_hit',
  'tlb_miss',
  'tlb_invalidate',
  'dirty_log',
  // A PML-full VM exit (vmx.c: handle_pml_full)
  'pml_full',
  'role_change',
  // kvm_mmu_reset_context / kvm_mmu_unload after a register write (register-write.ts)
  'mmu_reset',
  'root_alloc',
  'root_free',
  // Shadow MMU
  'pf_exit',
  'pf_intercept',
  'sp_alloc',
  'sp_zap',
  'unsync',
  'sync',
  'track_write',
  'invlpg',
  'cr3_switch',
  'nested_exit',
  'invept',
  // TDX: S-EPT SEAMCALLs, memory-attribute conversions, exits to userspace with KVM_EXIT_MEMORY_FAULT
  'seamcall',
  'mem_attr',
  'memory_fault',
  // TDX: #VE the TDX module injects (access to a PENDING private page), TDCALLs
  'guest_ve',
  'tdcall',
  // kvm_vm_dead / kvm_vm_bugged, and each ioctl refused with -EIO afterwards (vm/vm-death.ts)
  'vm_dead',
] as const;

export type EventKind = (typeof EVENT_KINDS)[number];

export interface MmuEvent {
  seq: number;
  /** vCPU index, or -1 for VM-wide operations. */
  vcpu: number;
  kind: EventKind;
  gva: bigint | null;
  gpa: bigint | null;
  level: number | null;
  /** Error code or exit qualification. */
  code: bigint | null;
  outcome: string;
  oldSpte: bigint | null;
  newSpte: bigint | null;
}

const KINDS: ReadonlySet<string> = new Set(EVENT_KINDS);
const BIGINT_FIELDS = ['gva', 'gpa', 'code', 'oldSpte', 'newSpte'] as const;

/** An event as the log takes it: own kind, u64-or-null addresses and codes, an integer level and vCPU, a string outcome. */
function checkEvent(name: string, v: unknown): void {
  const e = checkObject<Record<string, unknown>>(name, v);
  if (typeof e.kind !== 'string' || !KINDS.has(e.kind)) refuse(`${name}.kind`, 'event-kind', 'must be an event kind (EVENT_KINDS)', e.kind);
  for (const k of BIGINT_FIELDS) if (e[k] !== undefined && e[k] !== null) checkBigint(`${name}.${k}`, e[k]);
  if (e.level !== undefined && e.level !== null) checkInt(`${name}.level`, e.level, { min: Number.MIN_SAFE_INTEGER });
  // A vCPU index below KVM_MAX_VCPUS (at most 4096: arch/x86/kvm/Kconfig:222), or -1 for VM-wide events.
  if (e.vcpu !== undefined) checkInt(`${name}.vcpu`, e.vcpu, { min: -1, max: 4095 });
  if (e.outcome !== undefined) checkString(`${name}.outcome`, e.outcome);
}

export type EventInput = Partial<Omit<MmuEvent, 'seq' | 'kind' | 'outcome'>> & { kind: EventKind; outcome?: string };

export class EventLog {
  /** Turn off to measure speed; counters keep counting. */
  enabled = true;
  /** The log keeps at most this many rows (older rows are dropped and counted). */
  limit = 1_000_000;
  private readonly rows: MmuEvent[] = [];
  private seq = 0;
  dropped = 0;

  /**
   * Record one event: `e` is checked (kind one of EVENT_KINDS, addresses and codes bigints or null,
   * …). A disabled log returns before any work, the check included: it keeps nothing, so there is
   * no state a bad event could spoil.
   */
  record(e: EventInput): void {
    if (!this.enabled) return;
    checkEvent('e', e);
    this.recordUnchecked(e);
  }

  /**
   * @internal `record` without the checks: every engine call site (its events are built from
   * values the engine already validated), so a run with the log on pays for the rows only.
   */
  recordUnchecked(e: EventInput): void {
    if (!this.enabled) return;
    const row: MmuEvent = {
      seq: this.seq++,
      vcpu: e.vcpu ?? -1,
      kind: e.kind,
      gva: e.gva ?? null,
      gpa: e.gpa ?? null,
      level: e.level ?? null,
      code: e.code ?? null,
      outcome: e.outcome ?? '',
      oldSpte: e.oldSpte ?? null,
      newSpte: e.newSpte ?? null,
    };
    if (this.rows.length >= this.limit) {
      this.rows.shift();
      this.dropped++;
    }
    this.rows.push(row);
  }

  get all(): readonly MmuEvent[] {
    return this.rows;
  }

  get length(): number {
    return this.rows.length;
  }

  clear(): void {
    this.rows.length = 0;
  }

  /**
   * A copy of the log as it is now (rows, sequence number, drops): what later records or a clear
   * do not change. A trace result keeps one and builds its events table from it on first read.
   */
  copy(): EventLog {
    const c = new EventLog();
    c.enabled = this.enabled;
    c.limit = this.limit;
    c.seq = this.seq;
    c.dropped = this.dropped;
    // Row objects are never changed once recorded: sharing them is a copy.
    for (const r of this.rows) c.rows.push(r);
    return c;
  }

  /** Columns for a table: bigint values as hex strings (arquero and JSON cannot hold bigint). */
  columns(): Record<string, (string | number | null)[]> {
    const h = (v: bigint | null) => (v === null ? null : '0x' + v.toString(16));
    const cols: Record<string, (string | number | null)[]> = { seq: [], vcpu: [], kind: [], gva: [], gpa: [], level: [], code: [], outcome: [], old_spte: [], new_spte: [] };
    for (const r of this.rows) {
      cols.seq!.push(r.seq);
      cols.vcpu!.push(r.vcpu);
      cols.kind!.push(r.kind);
      cols.gva!.push(h(r.gva));
      cols.gpa!.push(h(r.gpa));
      cols.level!.push(r.level);
      cols.code!.push(h(r.code));
      cols.outcome!.push(r.outcome);
      cols.old_spte!.push(h(r.oldSpte));
      cols.new_spte!.push(h(r.newSpte));
    }
    return cols;
  }
}
