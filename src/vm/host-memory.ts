/**
 * Host-physical memory. TDP page tables are real EPT/NPT tables in host frames, so that the
 * hardware walk of them is the generic walker with the host's format. Guest RAM is not copied
 * here: a slot's backing frames are a numbered range (the guest data lives in guest memory).
 */
import { gpa } from '../address/address';
import { GuestMemory } from '../memory/guest-memory';
import { InvalidArgumentError, hex } from '../errors';
import { checkInt } from '../validate/checks';

/** Frame numbers of 52-bit physical addresses have 40 bits (MAXPHYADDR <= 52, SDM Vol. 3A 4.1.4). */
const FRAME_LIMIT = 2 ** 40;

export class HostMemory {
  readonly maxPhyAddr: number;
  /** Frame storage, indexed by PFN. */
  readonly frames: GuestMemory;
  private nextRamPfn = 0x100; // leave low memory alone, like a real host
  private readonly tableBase: number;
  private nextTablePfn: number;
  private readonly freeTables: number[] = [];
  private tablesInUse = 0;

  constructor(maxPhyAddr: number) {
    checkInt('maxPhyAddr', maxPhyAddr, { min: 32, max: 52 });
    this.maxPhyAddr = maxPhyAddr;
    this.frames = new GuestMemory({ maxPhyAddr });
    this.frames.addSlot({ base: gpa(0n), size: 1n << BigInt(maxPhyAddr), name: 'host' });
    // Page-table frames come from the top half, RAM backings from the bottom half.
    this.tableBase = 2 ** (maxPhyAddr - 13);
    this.nextTablePfn = this.tableBase;
  }

  /** Reserve `npages` backing frames aligned so that pfn ≡ gfn (mod 2^18): huge pages stay possible. */
  allocRam(baseGfn: number, npages: number): number {
    this.checkRange(baseGfn, npages);
    return this.allocRamBackings(baseGfn, npages, 1)[0]!;
  }

  /**
   * Reserve `copies` backings of `npages` frames each (a guest_memfd slot has two: the userspace
   * backing and the guest_memfd pages), all or none: every copy is placed before any is taken, so
   * a copy that does not fit leaves host memory as it was.
   */
  allocRamBackings(baseGfn: number, npages: number, copies: number): number[] {
    this.checkRange(baseGfn, npages);
    // One backing, or two for a guest_memfd slot (userspace memory and guest_memfd).
    checkInt('copies', copies, { min: 1, max: 2 });
    const align = 2 ** 18;
    const out: number[] = [];
    let next = this.nextRamPfn;
    for (let c = 0; c < copies; c++) {
      const pfn = next + ((((baseGfn % align) - (next % align)) % align + align) % align);
      if (pfn + npages > this.tableBase) {
        throw new InvalidArgumentError('host-memory-exhausted', `host memory (MAXPHYADDR ${this.maxPhyAddr}) cannot back ${npages} more pages${copies > 1 ? ` (backing ${c + 1} of ${copies})` : ''}`, hex(npages));
      }
      out.push(pfn);
      next = pfn + npages;
    }
    this.nextRamPfn = next;
    return out;
  }

  /** Where the next RAM backing goes: `releaseRam(ramMark())` undoes the reservations made since. */
  ramMark(): number {
    return this.nextRamPfn;
  }

  /** Undo the RAM reservations made since `mark` (a step after them failed). */
  releaseRam(mark: number): void {
    // A mark from ramMark: reservations are only undone, never extended.
    checkInt('mark', mark, { min: 0x100, max: this.nextRamPfn });
    this.nextRamPfn = mark;
  }

  allocTable(): number {
    this.tablesInUse++;
    const f = this.freeTables.pop();
    if (f !== undefined) return f;
    return this.nextTablePfn++;
  }

  /** Return a table frame (zeroed for reuse). */
  freeTable(pfn: number): void {
    // A table frame handed out by allocTable (double frees are not detected: the free list is LIFO).
    checkInt('pfn', pfn, { min: this.tableBase, max: this.nextTablePfn - 1 });
    const f = this.frames.frameOfUnchecked(pfn);
    if (f >= 0) this.frames.words.fill(0, GuestMemory.wordBaseUnchecked(f), GuestMemory.wordBaseUnchecked(f) + 1024);
    this.freeTables.push(pfn);
    this.tablesInUse--;
  }

  private checkRange(baseGfn: unknown, npages: unknown): void {
    checkInt('baseGfn', baseGfn, { max: FRAME_LIMIT - 1 });
    checkInt('npages', npages, { min: 1, max: FRAME_LIMIT });
  }

  get tableFrames(): number {
    return this.tablesInUse;
  }

  isTableFrame(pfn: number): boolean {
    checkInt('pfn', pfn, { max: FRAME_LIMIT - 1 });
    return pfn >= this.tableBase;
  }
}
