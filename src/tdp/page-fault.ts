/** `struct kvm_page_fault`: what KVM knows about one fault while it handles it. */
import type { Memslot } from '../vm/memslot';
import { checkBigint } from '../validate/checks';

export interface PageFault {
  /** The faulting GPA (or nGPA for guest_mmu). */
  addr: bigint;
  gfn: number;
  errorCode: bigint;
  exec: boolean;
  write: boolean;
  present: boolean;
  rsvd: boolean;
  user: boolean;
  prefetch: boolean;
  slot: Memslot | undefined;
  pfn: number;
  mapWritable: boolean;
  /** Levels: 1 = 4K, 2 = 2M, 3 = 1G. */
  maxLevel: number;
  reqLevel: number;
  goalLevel: number;
  hugePageDisallowed: boolean;
}

/** `addr` a u64 (a GPA, or CR2's GVA for a shadow-paging #PF); `errorCode` the u64 exit error code. */
export function newPageFault(addr: bigint, errorCode: bigint): PageFault {
  checkBigint('addr', addr);
  checkBigint('errorCode', errorCode);
  const ec = Number(errorCode & 0xffffffffn);
  return {
    addr,
    gfn: Number(addr >> 12n),
    errorCode,
    exec: (ec & 16) !== 0,
    write: (ec & 2) !== 0,
    present: (ec & 1) !== 0,
    rsvd: (ec & 8) !== 0,
    user: (ec & 4) !== 0,
    prefetch: false,
    slot: undefined,
    pfn: -1,
    mapWritable: false,
    maxLevel: 3, // KVM_MAX_HUGEPAGE_LEVEL
    reqLevel: 1,
    goalLevel: 1,
    hugePageDisallowed: false,
  };
}
