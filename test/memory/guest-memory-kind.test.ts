/**
 * GuestMemory.kindOfGfnUnchecked (the record walks' gpaKind, which keeps the run of GFNs it last
 * answered for) against the slots as declared: ROM for a read-only slot, RAM for another, no slot
 * in the gaps between slots and at or above 2^(MAXPHYADDR − 12). Seeded random slot layouts that
 * change between queries (add, remove, move), queries at every slot's edges and in between, each
 * asked twice (the second from the kept run).
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, gpa, type GpaKind, type MemSlot } from '../../src';
import { xorshift } from '../../src/workload/generators';

/** The kind from the slot list alone. */
function reference(m: GuestMemory, g: number): GpaKind {
  if (g >= 2 ** (m.maxPhyAddr - 12)) return 'noslot';
  const s = m.slots.find((x) => g >= x.baseGfn && g < x.baseGfn + x.frames);
  return s === undefined ? 'noslot' : s.readonly ? 'rom' : 'ram';
}

describe('GuestMemory.kindOfGfnUnchecked', () => {
  it('answers as the slot list after every slot change, from the kept run or not', () => {
    const r = xorshift(4242);
    const int = (n: number) => (r() >>> 0) % n;
    let queries = 0;
    for (let layout = 0; layout < 40; layout++) {
      const m = new GuestMemory({ maxPhyAddr: 36 }); // 2^24 GFNs
      const limit = 2 ** 24;
      const live: MemSlot[] = [];
      const edges = (): number[] => {
        const gs = [0, 1, limit - 1, limit, limit + 1, 2 ** 40 - 1];
        for (const s of m.slots) gs.push(s.baseGfn - 1, s.baseGfn, s.baseGfn + 1, s.baseGfn + s.frames - 1, s.baseGfn + s.frames, s.baseGfn + s.frames + 1);
        for (let i = 0; i < 8; i++) gs.push(int(limit));
        return gs.filter((g) => g >= 0);
      };
      for (let step = 0; step < 12; step++) {
        const op = int(3);
        if (op === 0 || live.length === 0) {
          const base = int(limit / 16) * 16;
          const frames = 1 + int(4096);
          try {
            live.push(m.addSlot({ base: gpa(BigInt(base) * 4096n), size: BigInt(frames) * 4096n, readonly: int(2) === 0 }));
          } catch {
            // overlaps a slot or passes MAXPHYADDR: nothing changed
          }
        } else if (op === 1) {
          const i = int(live.length);
          m.removeSlot(live[i]!);
          live.splice(i, 1);
        } else {
          const i = int(live.length);
          try {
            live[i] = m.moveSlot(live[i]!, gpa(BigInt(int(limit / 16) * 16) * 4096n));
          } catch {
            // overlap: nothing changed
          }
        }
        // Ask about the last answered run first, after the change: a kept run must not survive it.
        for (const g of edges()) {
          for (let twice = 0; twice < 2; twice++) {
            expect(m.kindOfGfnUnchecked(g), `gfn ${g}`).toBe(reference(m, g));
            queries++;
          }
        }
      }
    }
    expect(queries).toBeGreaterThan(10_000);
  });

  it('forgets a kept run when its slot is removed, moved or a slot is added in its gap', () => {
    const m = new GuestMemory({ maxPhyAddr: 36 });
    const a = m.addSlot({ base: gpa(0x10_0000n), size: 0x10_0000n });
    expect(m.kindOfGfnUnchecked(0x180)).toBe('ram');
    const b = m.moveSlot(a, gpa(0x100_0000n));
    expect(m.kindOfGfnUnchecked(0x180)).toBe('noslot');
    m.addSlot({ base: gpa(0x18_0000n), size: 0x1000n, readonly: true });
    expect(m.kindOfGfnUnchecked(0x180)).toBe('rom');
    expect(m.kindOfGfnUnchecked(0x1080)).toBe('ram');
    m.removeSlot(b);
    expect(m.kindOfGfnUnchecked(0x1080)).toBe('noslot');
  });
});
