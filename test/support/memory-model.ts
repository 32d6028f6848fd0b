/**
 * A Map model of GuestMemory's GFN → frame index for property tests (test/memory): random runs of
 * writes, slot removals, re-adds and moves are applied to a GuestMemory and to a Map side by side,
 * and every write's frame is checked against the model as it happens. The tests then compare
 * `frameOf` around every GFN the ops touched (`probes`). Frames are numbered in first-write order,
 * as GuestMemory allocates them; a removed slot's frames leave the model, a moved slot's move with it.
 */
import { expect } from 'vitest';
import { GuestMemory, gpa, type Gpa, type MemSlot } from '../../src';

export const at = (g: number): Gpa => gpa(BigInt(g) << 12n);

/** One op: write `len` (default 1) consecutive frames of slot `s` from `off`; remove, re-add or move slot `s`. */
export type MemoryOp =
  | { k: 'w'; s: number; off: number; len?: number }
  | { k: 'rm'; s: number }
  | { k: 'add'; s: number }
  | { k: 'mv'; s: number; b: number; d: number };

export class MemoryModel {
  readonly m = new GuestMemory({ maxPhyAddr: 52 });
  /** GFN → frame. */
  readonly model = new Map<number, number>();
  /** Every GFN an op wrote or moved a frame to. */
  readonly probes = new Set<number>();
  readonly slots: (MemSlot | undefined)[];
  /** Frames allocated so far. */
  next = 0;

  /** `homes`: each slot's (base GFN, frames), added at the start and on 'add'; `bases`: where 'mv' moves a slot (plus its d). */
  constructor(private readonly homes: readonly (readonly [number, number])[], private readonly bases: readonly number[]) {
    this.slots = homes.map(([b, n]) => this.m.addSlot({ base: at(b), size: BigInt(n) << 12n }));
  }

  /** Whether [base, base + frames) meets a live slot other than `self`. */
  private overlaps(self: MemSlot | undefined, base: number, frames: number): boolean {
    return this.slots.some((o) => o !== undefined && o !== self && base < o.baseGfn + o.frames && o.baseGfn < base + frames);
  }

  apply(o: MemoryOp): void {
    const { m, model, probes, slots } = this;
    const s = slots[o.s];
    if (o.k === 'w') {
      if (s === undefined) return;
      for (let i = 0; i < (o.len ?? 1); i++) {
        const g = s.baseGfn + ((o.off + i) % s.frames);
        probes.add(g);
        if (!model.has(g)) model.set(g, this.next++);
        expect(m.frameForWrite(g)).toBe(model.get(g));
      }
    } else if (o.k === 'rm') {
      if (s === undefined) return;
      m.removeSlot(s);
      slots[o.s] = undefined;
      for (const g of [...model.keys()]) if (g >= s.baseGfn && g < s.baseGfn + s.frames) model.delete(g);
    } else if (o.k === 'add') {
      if (s !== undefined) return;
      const [b, n] = this.homes[o.s]!;
      if (this.overlaps(undefined, b, n)) return;
      slots[o.s] = m.addSlot({ base: at(b), size: BigInt(n) << 12n });
    } else {
      if (s === undefined) return;
      const nb = Math.min(Math.max(0, this.bases[o.b]! + o.d), 2 ** 40 - s.frames);
      if (this.overlaps(s, nb, s.frames)) return;
      const moved = [...model].filter(([g]) => g >= s.baseGfn && g < s.baseGfn + s.frames);
      for (const [g] of moved) model.delete(g);
      for (const [g, f] of moved) {
        model.set(g - s.baseGfn + nb, f);
        probes.add(g - s.baseGfn + nb);
      }
      slots[o.s] = m.moveSlot(s, at(nb));
    }
  }

  /** frameOf around every probed GFN agrees with the model, and the frame count with the writes. */
  checkProbes(): void {
    for (const g of this.probes) {
      for (const p of [g - 1, g, g + 1]) if (p >= 0 && p < 2 ** 40) expect(this.m.frameOf(p)).toBe(this.model.get(p) ?? -1);
    }
    expect(this.m.stats().framesAllocated).toBe(this.next);
  }
}
