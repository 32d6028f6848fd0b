/**
 * The fuzzer's reference model: what the guest and userspace know, kept by the fuzzer itself
 * from the operations it issued — the memslots it created (base, size, flags and the host frames
 * KVM_SET_USER_MEMORY_REGION gave them), a TD's memory attributes and the pages it accepted, the
 * pages written since the dirty log was last harvested, and the guest entries changed since the
 * guest last invalidated them. With the reference walks (`reference-walk.ts`) over guest memory it
 * gives the outcome an access must have; it never looks at the engine's MMU state (SPTEs, shadow
 * pages, roots, caches).
 */

export interface RefSlot {
  name: string;
  baseGfn: number;
  npages: number;
  readonly: boolean;
  /** The host frames behind the slot (gfn → pfnBase + gfn − baseGfn); kept by a move. */
  pfnBase: number;
  /** guest_memfd frames for private pages, −1 without. */
  gmemPfnBase: number;
  dirtyLogging: boolean;
  /**
   * Slot pages (offsets from the base: the bitmap survives a move) written since the log was last
   * harvested (getDirtyLog, or clearDirtyLog with manual protect). KVM must report each of them;
   * it may report more: a read fault in a logged slot maps the page writable and marks it dirty at
   * once (spte.c:226-260, make_spte).
   */
  dirty: Set<number>;
}

/**
 * What an access must do. `ok`: completes at `gpa` (L1 GPA, natural for a TD) and `hpa`; `pf`: a #PF
 * with this error code reaches the guest; `mmio`/`rom`: KVM emulates (no slot / write to a
 * read-only slot); `l1-exit`: an EPT12/NPT12 fault goes to L1; `memory-fault`: KVM_EXIT_MEMORY_FAULT
 * (private/shared mismatch, no guest_memfd); `ve`: #VE for a private page the TD has not accepted.
 */
export type Expected =
  | { kind: 'ok'; gpa: bigint; hpa: bigint; tablePage: boolean; entries: bigint[] }
  | { kind: 'pf'; errorCode: number }
  | { kind: 'mmio'; gfn: number }
  | { kind: 'rom'; gfn: number }
  | { kind: 'l1-exit'; ngfn: number; misconfig: boolean }
  | { kind: 'memory-fault'; gfn: number; private: boolean }
  | { kind: 've'; gfn: number };

export class ReferenceModel {
  readonly slots: RefSlot[] = [];
  /** TD: gfns whose attribute is private (KVM_SET_MEMORY_ATTRIBUTES; default shared). */
  readonly privateGfns = new Set<number>();
  /** TD: private gfns the guest accepted (or KVM_TDX_INIT_MEM_REGION added); lost when the page leaves the S-EPT. */
  readonly accepted = new Set<number>();
  /**
   * Per address space: guest 4 KiB PTEs changed since the guest invalidated them, entry GPA → the
   * values a TLB may still hold (only where the engine shadows the guest's tables).
   */
  readonly stale: Map<bigint, bigint[]>[];

  constructor(spaces: number) {
    this.stale = Array.from({ length: spaces }, () => new Map());
  }

  slotOf(gfn: number): RefSlot | undefined {
    return this.slots.find((s) => gfn >= s.baseGfn && gfn < s.baseGfn + s.npages);
  }

  /** Frame-level outcome of a completed translation to `gfn` (natural) for a non-TD VM. */
  classify(gfn: number, write: boolean): { kind: 'ok'; hostPfn: number } | { kind: 'mmio' | 'rom' } {
    const s = this.slotOf(gfn);
    if (s === undefined) return { kind: 'mmio' };
    if (s.readonly && write) return { kind: 'rom' };
    return { kind: 'ok', hostPfn: s.pfnBase + gfn - s.baseGfn };
  }

  /**
   * A TD's access to natural `gfn` through the private or the shared alias (mmu.c:
   * kvm_mmu_faultin_pfn, tdx.c: tdx_handle_ept_violation; private pages the TD has not accepted
   * raise #VE from the TDX module before KVM sees anything).
   */
  classifyTd(gfn: number, shared: boolean, write: boolean): { kind: 'ok'; hostPfn: number } | { kind: 'mmio' | 'rom' | 've' } | { kind: 'memory-fault'; private: boolean } {
    const isPrivate = this.privateGfns.has(gfn);
    if (shared === isPrivate) return { kind: 'memory-fault', private: !shared };
    const s = this.slotOf(gfn);
    if (shared) {
      if (s === undefined) return { kind: 'mmio' };
      if (s.readonly && write) return { kind: 'rom' };
      return { kind: 'ok', hostPfn: s.pfnBase + gfn - s.baseGfn };
    }
    if (s === undefined || s.gmemPfnBase < 0) return { kind: 'memory-fault', private: true };
    if (!this.accepted.has(gfn)) return { kind: 've' };
    return { kind: 'ok', hostPfn: s.gmemPfnBase + gfn - s.baseGfn };
  }

  /** A completed guest write: the page is dirty if its slot logs. */
  wrote(gfn: number): void {
    const s = this.slotOf(gfn);
    if (s?.dirtyLogging) s.dirty.add(gfn - s.baseGfn);
  }

  /** The guest changed an entry without invalidating it yet: its old value may still be used. */
  changed(space: number, entryGpa: bigint, old: bigint): void {
    const m = this.stale[space]!;
    const list = m.get(entryGpa) ?? [];
    if (!list.includes(old)) list.push(old);
    m.set(entryGpa, list);
  }
}
