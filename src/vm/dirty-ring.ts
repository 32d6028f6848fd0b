/**
 * A vCPU's dirty ring (KVM_CAP_DIRTY_LOG_RING, `virt/kvm/dirty_ring.c`, v6.16.1): the entries
 * `kvm_dirty_ring_push` fills (slot id, page offset in the slot, flags DIRTY), the ones userspace
 * marks harvested (RESET), and `kvm_dirty_ring_reset` that recycles them, coalescing runs of
 * nearby offsets into the 64-bit masks it re-protects with `kvm_arch_mmu_enable_log_dirty_pt_masked`.
 * When the ring holds `soft_limit` entries KVM raises KVM_REQ_DIRTY_RING_SOFT_FULL, and the vCPU
 * exits to userspace with KVM_EXIT_DIRTY_RING_FULL at its next entry (`kvm_dirty_ring_check_request`)
 * until userspace harvests and resets.
 */
import { MmulabError } from '../errors';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { checkVcpuIndex } from '../tdp/check-tdp-args';
import { checkInt, refuse } from '../validate/checks';

/** `KVM_DIRTY_GFN_F_DIRTY`, `KVM_DIRTY_GFN_F_RESET` (uapi/linux/kvm.h:1476-1477). */
export const KVM_DIRTY_GFN_F_DIRTY = 1;
export const KVM_DIRTY_GFN_F_RESET = 2;
/** kvm_host.h:2500, 2503. */
export const KVM_DIRTY_RING_RSVD_ENTRIES = 64;
export const KVM_DIRTY_RING_MAX_ENTRIES = 65536;
/** `sizeof(struct kvm_dirty_gfn)`: flags, slot (u32 each), offset (u64). */
export const KVM_DIRTY_GFN_SIZE = 16;

/** One `struct kvm_dirty_gfn` as userspace reads it from the mmapped ring. */
export interface DirtyGfn {
  flags: number;
  /** `as_id << 16 | memslot id`. */
  slot: number;
  /** Page offset from the slot's first gfn. */
  offset: number;
}

/**
 * KVM_RUN returned with exit reason KVM_EXIT_DIRTY_RING_FULL: the vCPU did not run (the access
 * it was making did not happen and is re-executed after the ring is harvested and reset).
 */
export class DirtyRingFullExit extends MmulabError {}

export class DirtyRing {
  /** Entries (`ring->size`). */
  readonly size: number;
  /** `ring->soft_limit` = size − (KVM_DIRTY_RING_RSVD_ENTRIES + kvm_cpu_dirty_log_size). */
  readonly softLimit: number;
  private readonly gfns: DirtyGfn[];
  private dirtyIndex = 0;
  private resetIndex = 0;
  /** KVM_REQ_DIRTY_RING_SOFT_FULL is pending. */
  private softFullRequest = false;

  /** `kvm_dirty_ring_alloc` (dirty_ring.c:77-91) for a ring of `bytes`. */
  constructor(bytes: number, rsvdEntries: number) {
    // kvm_vm_ioctl_enable_dirty_log_ring (kvm_main.c): a power of two, at least a page and the
    // reserved entries, at most KVM_DIRTY_RING_MAX_ENTRIES (65536) entries.
    checkInt('bytes', bytes, { min: 4096, max: 65536 * KVM_DIRTY_GFN_SIZE });
    if ((bytes & (bytes - 1)) !== 0) refuse('bytes', 'dirty-ring-size', 'must be a power of two', bytes);
    checkInt('rsvdEntries', rsvdEntries, { max: bytes / KVM_DIRTY_GFN_SIZE - 1 });
    this.size = bytes / KVM_DIRTY_GFN_SIZE;
    this.softLimit = this.size - rsvdEntries;
    this.gfns = Array.from({ length: this.size }, () => ({ flags: 0, slot: 0, offset: 0 }));
  }

  /** `kvm_dirty_ring_used`. */
  get used(): number {
    return this.dirtyIndex - this.resetIndex;
  }

  /** `ring->dirty_index`: entries pushed since the vCPU was created. */
  get pushed(): number {
    return this.dirtyIndex;
  }

  /** The entry userspace sees at ring index `i` (taken modulo the size, as userspace indexes it). */
  entry(i: number): Readonly<DirtyGfn> {
    // Ring indices are u32 (struct kvm_dirty_ring: dirty_index, reset_index).
    checkInt('i', i, { max: 0xffff_ffff });
    return this.gfns[i & (this.size - 1)]!;
  }

  /** Userspace marks a dirty entry collected (`dirty_gfn_set_collected`, dirty_log_test.c:332-334). */
  markCollected(i: number): void {
    checkInt('i', i, { max: 0xffff_ffff });
    this.gfns[i & (this.size - 1)]!.flags = KVM_DIRTY_GFN_F_RESET;
  }

  /** `kvm_dirty_ring_push` (dirty_ring.c:173-196). */
  push(slot: number, offset: number): void {
    // struct kvm_dirty_gfn: __u32 slot (as_id << 16 | id), __u64 offset (a gfn offset: 40 bits here).
    checkInt('slot', slot, { max: 0xffff_ffff });
    checkInt('offset', offset, { max: 2 ** 40 - 1 });
    // dirty_ring.c:179 WARN_ON_ONCE: the soft limit keeps this from happening.
    if (this.used >= this.size) throw new InvariantViolation('dirty-ring-full', 'a dirty ring entry was pushed into a full ring (WARN_ON_ONCE in kvm_dirty_ring_push)', String(this.used));
    const e = this.gfns[this.dirtyIndex & (this.size - 1)]!;
    e.slot = slot;
    e.offset = offset;
    e.flags = KVM_DIRTY_GFN_F_DIRTY;
    this.dirtyIndex++;
    if (this.used >= this.softLimit) this.softFullRequest = true;
  }

  /**
   * `kvm_dirty_ring_check_request` (dirty_ring.c:198-215) at vCPU entry: true = exit to userspace
   * with KVM_EXIT_DIRTY_RING_FULL (the request stays while the ring is soft-full).
   */
  checkRequest(): boolean {
    if (!this.softFullRequest) return false;
    this.softFullRequest = this.used >= this.softLimit;
    return this.softFullRequest;
  }

  /**
   * `kvm_dirty_ring_reset` (dirty_ring.c:108-171): recycle harvested entries from `reset_index`,
   * calling `reset(slot, offset, mask)` for each coalesced group (`kvm_reset_dirty_gfn`). Returns
   * the entries reset.
   */
  reset(resetGfn: (slot: number, offset: number, mask: bigint) => void): number {
    if (typeof resetGfn !== 'function') refuse('resetGfn', 'function-type', 'must be a function', resetGfn);
    let count = 0;
    let curSlot = 0;
    let curOffset = 0;
    let mask = 0n;
    let first = true;
    for (;;) {
      const e = this.gfns[this.resetIndex & (this.size - 1)]!;
      if ((e.flags & KVM_DIRTY_GFN_F_RESET) === 0) break;
      const nextSlot = e.slot;
      const nextOffset = e.offset;
      e.flags = 0;
      this.resetIndex++;
      count++;
      if (!first && nextSlot === curSlot) {
        const delta = nextOffset - curOffset;
        if (delta >= 0 && delta < 64) {
          mask |= 1n << BigInt(delta);
          continue;
        }
        // Backwards visit (dirty_ring.c:146-152): shift the mask up if no bit falls off.
        if (delta > -64 && delta < 0 && BigInt.asUintN(64, mask << BigInt(-delta)) >> BigInt(-delta) === mask) {
          curOffset = nextOffset;
          mask = BigInt.asUintN(64, mask << BigInt(-delta)) | 1n;
          continue;
        }
      }
      resetGfn(curSlot, curOffset, mask);
      curSlot = nextSlot;
      curOffset = nextOffset;
      mask = 1n;
      first = false;
    }
    resetGfn(curSlot, curOffset, mask);
    return count;
  }
}

/**
 * `vcpu_enter_guest` (x86.c:10826-10828): a vCPU whose ring is soft-full does not enter the guest;
 * KVM_RUN returns KVM_EXIT_DIRTY_RING_FULL. Checked at every entry, retries after exits included.
 */
export function dirtyRingEntryCheck(ring: DirtyRing | undefined, vcpu: number): void {
  if (ring !== undefined && !(ring instanceof DirtyRing)) refuse('ring', 'dirty-ring', 'must be a DirtyRing or undefined', ring);
  checkVcpuIndex('vcpu', vcpu);
  if (ring?.checkRequest() === true) {
    throw new DirtyRingFullExit('dirty-ring-full', `vCPU ${vcpu}: KVM_EXIT_DIRTY_RING_FULL — harvest the ring and KVM_RESET_DIRTY_RINGS before running again`, `${ring.used}/${ring.softLimit}`);
  }
}
