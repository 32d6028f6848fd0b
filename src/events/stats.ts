/**
 * Counters with KVM's own statistic names (`struct kvm_vcpu_stat`, `struct kvm_vm_stat`,
 * reference §12.2), so figures compare directly with `kvm_stat`. Per-vCPU and per-VM counters
 * are separate objects, as in KVM.
 */
import { checkArray, checkString, refuse } from '../validate/checks';

export const VCPU_STAT_NAMES = [
  'pf_taken', 'pf_fixed', 'pf_emulate', 'pf_spurious', 'pf_fast', 'pf_mmio_spte_created', 'pf_guest',
  'tlb_flush', 'invlpg', 'exits', 'ept_violations', 'ept_misconfigs', 'npf_exits', 'guest_accesses',
  // Shadow MMU (model names, not in kvm_stat): #PF intercepts, root-cache outcomes of kvm_mmu_new_pgd,
  // nested EPT violations reflected to L1 versus fixed by KVM.
  'pf_exits', 'root_cache_hit', 'root_cache_miss', 'nested_reflected', 'nested_fixed',
  // PML-full VM exits (exit reason 62, vmx.c: handle_pml_full; KVM has only a tracepoint).
  'pml_full_exits',
] as const;

export const VM_STAT_NAMES = [
  'pages_4k', 'pages_2m', 'pages_1g', 'nx_lpage_splits', 'mmu_shadow_zapped', 'mmu_pte_write', 'mmu_pde_zapped',
  'mmu_flooded', 'mmu_recycled', 'mmu_cache_miss', 'mmu_unsync', 'remote_tlb_flush', 'max_mmu_page_hash_collisions',
  'max_mmu_rmap_size', 'tdp_mmu_pages', 'huge_page_splits', 'spte_changes',
  // Shadow MMU gauges and costs (model names): shadow pages in use (n_used_mmu_pages), SPs with
  // gPTEs (indirect_shadow_pages), SPs synced, guest PTEs re-read by syncs (the cost of a sync).
  'mmu_pages', 'indirect_shadow_pages', 'mmu_sync_pages', 'mmu_sync_gpte_reads',
  // KVM 7.2's stat (02953418a137): n_used_mmu_pages exported; only a '7.3' VM counts it.
  'mmu_shadow_pages',
] as const;

export type VcpuStatName = (typeof VCPU_STAT_NAMES)[number];
export type VmStatName = (typeof VM_STAT_NAMES)[number];

/**
 * Named counters on numbered slots. `inc(name)` looks the name up; hot paths (a TLB hit, every
 * access) take the slot once (`slot(name)`, module level) and call `add(slot)`, so a count is an
 * array store rather than a string-keyed property update (8 % of a TLB hit before).
 */
export class Counters<N extends string> {
  private readonly values: number[];
  private readonly slots: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly names: readonly N[];

  constructor(names: readonly N[]) {
    const seen = new Set<string>();
    checkArray('names', names).forEach((n, i) => {
      if (seen.has(checkString(`names[${i}]`, n))) refuse(`names[${i}]`, 'counter-name-unique', 'must not repeat a counter name', n);
      seen.add(n as string);
    });
    this.names = names;
    this.values = names.map(() => 0);
    names.forEach((n, i) => (this.slots[n] = i));
  }

  // The checks below are one lookup or integer compare each on the good path (counters sit on
  // every access); the refusal is worked out only when one fails.

  inc(name: N, by = 1): void {
    const i = this.slots[name];
    if (i === undefined || typeof by !== 'number' || !Number.isFinite(by)) this.refuseArgs('name', name, 'by', by);
    this.values[i]! += by;
  }

  /** Add to a counter by slot (`counterSlot(NAMES, name)`). */
  add(slot: number, by = 1): void {
    // One test for both arguments (Number.isFinite is false for a non-number): a TLB hit counts
    // three times, and a small `add` is inlined there.
    const v = this.values;
    if (!(slot >>> 0 === slot && slot < v.length && Number.isFinite(by))) this.refuseSlot(slot, 'by', by);
    v[slot]! += by;
  }

  /**
   * `add(slot)` for the engine's hot paths, whose slots are module constants (`counterSlot`): no
   * argument check, so that it is small enough for V8 to inline wherever it is called (a TLB hit
   * counts three times).
   */
  addUnchecked(slot: number): void {
    this.values[slot]!++;
  }

  /** A counter by slot. */
  at(slot: number): number {
    if (slot >>> 0 !== slot || slot >= this.values.length) this.refuseSlot(slot);
    return this.values[slot]!;
  }

  max(name: N, v: number): void {
    const i = this.slots[name];
    if (i === undefined || typeof v !== 'number' || !Number.isFinite(v)) this.refuseArgs('name', name, 'v', v);
    if (v > this.values[i]!) this.values[i] = v;
  }

  get(name: N): number {
    const i = this.slots[name];
    if (i === undefined) this.refuseArgs('name', name);
    return this.values[i]!;
  }

  private refuseArgs(nameArg: string, name: unknown, numArg?: string, n?: unknown): never {
    if (typeof name !== 'string' || this.slots[name] === undefined) refuse(nameArg, 'counter-name', `must be a counter of this list; known: ${this.names.join(', ')}`, name);
    return refuse(numArg!, 'number-type', 'must be a finite number', n);
  }

  private refuseSlot(slot: unknown, numArg?: string, n?: unknown): never {
    if (typeof slot !== 'number' || slot >>> 0 !== slot || slot >= this.values.length) refuse('slot', 'counter-slot', `must be a counter slot, an integer in [0, ${this.values.length})`, slot);
    return refuse(numArg!, 'number-type', 'must be a finite number', n);
  }

  snapshot(): Record<N, number> {
    const o = {} as Record<N, number>;
    this.names.forEach((n, i) => (o[n] = this.values[i]!));
    return o;
  }

  reset(): void {
    this.values.fill(0);
  }
}

/** The slot of `name` in counters built from `names` (for `Counters.add` / `at` on hot paths). */
export function counterSlot<N extends string>(names: readonly N[], name: N): number {
  checkArray('names', names);
  const i = names.indexOf(name);
  if (i < 0) refuse('name', 'counter-name', `must be a counter of this list; known: ${names.join(', ')}`, name);
  return i;
}
