/**
 * A KVM memslot: a GPA range backed by host frames, with the per-slot state the MMU consults —
 * read-only, dirty logging and its bitmap, the host mapping level (THP/hugetlbfs backing), and
 * `lpage_info[level].disallow_lpage` counters (reference §9.5, §8.2).
 */
import type { Gpa } from '../address/address';
import { checkInt, checkObject, refuse } from '../validate/checks';

/** Frame numbers of 52-bit physical addresses have 40 bits (MAXPHYADDR <= 52, SDM Vol. 3A 4.1.4). */
const FRAME_LIMIT = 2 ** 40;

/** A memslot as the VM builds it (the fields these helpers read), and a gfn inside it. */
function checkSlotGfn(slot: unknown, gfn: unknown): Memslot {
  const s = checkObject<Memslot>('slot', slot);
  checkInt('slot.baseGfn', s.baseGfn, { max: FRAME_LIMIT - 1 });
  checkInt('slot.npages', s.npages, { min: 1, max: FRAME_LIMIT - s.baseGfn });
  checkInt('slot.pfnBase', s.pfnBase, { max: FRAME_LIMIT - 1 });
  checkInt('gfn', gfn, { min: s.baseGfn, max: s.baseGfn + s.npages - 1 });
  return s;
}

export interface Memslot {
  readonly id: number;
  readonly name: string;
  readonly base: Gpa;
  readonly baseGfn: number;
  readonly npages: number;
  readonly readonly: boolean;
  /** First host frame backing the slot (gfn → pfnBase + (gfn - baseGfn)). */
  readonly pfnBase: number;
  /** Largest level the host maps the backing with: 1 (4K), 2 (2M), 3 (1G). */
  readonly hostLevel: number;
  dirtyLogging: boolean;
  /** One byte per page while dirty logging is on. */
  dirtyBitmap: Uint8Array | undefined;
  /** disallow_lpage counters per huge region, for levels 2 (index 0) and 3 (index 1). */
  readonly lpageDisallow: readonly [Int32Array, Int32Array];
  /**
   * KVM_MEM_GUEST_MEMFD (`kvm_slot_can_be_private`): the slot is bound to a guest_memfd, which
   * serves the slot's private pages. Those are other host frames than the shared backing.
   */
  readonly guestMemfd: boolean;
  /** First host frame of the guest_memfd range bound to the slot; -1 without guest_memfd. */
  readonly gmemPfnBase: number;
}

export function memslotPfn(slot: Memslot, gfn: number): number {
  checkSlotGfn(slot, gfn);
  return slot.pfnBase + (gfn - slot.baseGfn);
}

/** The guest_memfd page behind a private gfn (`kvm_gmem_get_pfn`); the slot must have guest_memfd. */
export function memslotPrivatePfn(slot: Memslot, gfn: number): number {
  checkSlotGfn(slot, gfn);
  if (slot.gmemPfnBase < 0) refuse('slot', 'guest-memfd', 'must have guest_memfd (kvm_gmem_get_pfn)', slot.name);
  return slot.gmemPfnBase + (gfn - slot.baseGfn);
}

/** Index of a gfn's huge region at `level` within the slot (`gfn_to_index`). */
export function lpageIndex(slot: Memslot, gfn: number, level: number): number {
  checkSlotGfn(slot, gfn);
  checkInt('level', level, { min: 2, max: 3 });
  return lpageIndexUnchecked(slot, gfn, level);
}

/** `lpageIndex` for maxMappingLevel's loop, whose slot, gfn and levels are checked. */
function lpageIndexUnchecked(slot: Memslot, gfn: number, level: number): number {
  const shift = 9 * (level - 1);
  return Math.floor(gfn / 2 ** shift) - Math.floor(slot.baseGfn / 2 ** shift);
}

/**
 * `__kvm_mmu_max_mapping_level` (mmu.c:3261-3283) for shared memory: the largest level up to
 * `maxLevel` and the host's `maxHugePageLevel` whose huge region `lpage_info` allows (a slot
 * whose gfns and backing are not equally aligned at a level disallows it, as KVM's
 * `kvm_alloc_memslot_metadata` does), capped by the host mapping level.
 */
export function maxMappingLevel(slot: Memslot, gfn: number, maxLevel: number, maxHugePageLevel: number): number {
  checkSlotGfn(slot, gfn);
  checkInt('slot.hostLevel', slot.hostLevel, { min: 1, max: 3 });
  checkInt('maxLevel', maxLevel, { min: 1, max: 5 });
  checkInt('maxHugePageLevel', maxHugePageLevel, { min: 1, max: 3 });
  let level = Math.min(maxLevel, maxHugePageLevel, slot.hostLevel);
  for (; level > 1; level--) {
    const span = 2 ** (9 * (level - 1));
    if (slot.baseGfn % span !== slot.pfnBase % span) continue;
    if (slot.lpageDisallow[level - 2]![lpageIndexUnchecked(slot, gfn, level)] === 0) break;
  }
  return level;
}

/** Build the lpage_info arrays: regions that the slot covers only partly are disallowed. */
export function makeLpageInfo(baseGfn: number, npages: number): [Int32Array, Int32Array] {
  checkInt('baseGfn', baseGfn, { max: FRAME_LIMIT - 1 });
  checkInt('npages', npages, { min: 1, max: FRAME_LIMIT - baseGfn });
  const out: Int32Array[] = [];
  for (const level of [2, 3]) {
    const span = 2 ** (9 * (level - 1));
    const first = Math.floor(baseGfn / span);
    const last = Math.floor((baseGfn + npages - 1) / span);
    const a = new Int32Array(last - first + 1);
    if (baseGfn % span !== 0) a[0]! += 1;
    if ((baseGfn + npages) % span !== 0) a[a.length - 1]! += 1;
    out.push(a);
  }
  return [out[0]!, out[1]!];
}
