/**
 * The 2D record walk against the raw 2D walk and against itself from a cold start (seeded
 * property). Walk2D builds its references from per-walk arrays it reuses (Trace2D, filled by the
 * fast traced walk or from the full walk's segments), so a warm walker must not leak one walk's
 * data into the next record. Three copies of
 * one L1 evolve in step (the same walks, so the same A/D updates in both dimensions): A records with
 * those positions warm, B walks raw, and on copy C a fresh NgpaWalker and Walk2D per walk record
 * with nothing remembered. A's
 * record must equal C's (every reference, its prototype too) and agree with B's outcome, reference
 * count and L1 frame.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, NgpaWalker, PageTableBuilder, Walk2D, makeEptp, CR0, CR4, EFER, encodeAccess, gpa, gva, type Access } from '../../src';
import { xorshift } from '../../src/workload/generators';

const EPT_POOL = 0x0n;
const L2_POOL = 0x1000_0000n; // identity-mapped by EPT12: the builder writes L2's tables in place
const DATA_N = 0x2000_0000n;
const DATA_G = 0x4000_0000n;
const GVA_BASE = 0x7f00_0000_0000n;
const PAGES = 4096;

function l1(seed: number) {
  const r = xorshift(seed);
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 2n << 30n });
  const ept = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(EPT_POOL), size: 16n << 20n } });
  ept.map(L2_POOL, gpa(L2_POOL), { count: (16 << 20) / 4096 });
  // L2 data: runs with random EPT12 rights, some holes (EPT violations).
  for (let p = 0; p < PAGES; ) {
    const run = 1 + (r() % 48);
    const k = r() % 6;
    if (k !== 0) ept.map(DATA_N + BigInt(p) * 4096n, gpa(DATA_G + BigInt(p) * 4096n), { count: Math.min(run, PAGES - p), flags: { read: true, write: k !== 1, exec: k >= 3 } });
    p += run;
  }
  const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(L2_POOL), size: 16n << 20n } });
  for (let p = 0; p < PAGES; ) {
    const run = 1 + (r() % 48);
    const k = r() % 8;
    if (k !== 0) l2.map(GVA_BASE + BigInt(p) * 4096n, DATA_N + BigInt(p) * 4096n, { count: Math.min(run, PAGES - p), flags: { writable: (k & 1) !== 0, user: (k & 2) !== 0 } });
    p += run;
  }
  const eptp = makeEptp({ root: ept.root, adEnabled: true });
  const regs = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: l2.root, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
  return { mem, make: () => new Walk2D(NgpaWalker.ept(mem, { eptp }), { regs }) };
}

const ACCESSES: Access[] = [{ kind: 'read' }, { kind: 'write' }, { kind: 'fetch' }, { kind: 'read', user: true }, { kind: 'write', user: true }];

describe('2D record walk (property, seeded)', () => {
  it('a warm record equals a cold one and agrees with the raw walk (outcome, references, L1 frame)', () => {
    for (const seed of [3, 0x2d2d]) {
      const a = l1(seed);
      const b = l1(seed);
      const c = l1(seed);
      const wa = a.make();
      const wb = b.make();
      const r = xorshift(seed * 17 + 1);
      const tally: Record<string, number> = { ok: 0, pf: 0, exit: 0, updated: 0 };
      for (let i = 0; i < 1500; i++) {
        const va = GVA_BASE + BigInt(r() % PAGES) * 4096n + BigInt(r() & 0xfff);
        const acc = ACCESSES[r() % ACCESSES.length]!;
        const rec = wa.walk(gva(va), acc);
        const stop = wb.walkRaw(Number(va >> 32n), Number(va & 0xffff_ffffn), encodeAccess(acc));
        const cold = c.make().walk(gva(va), acc);
        expect(rec).toEqual(cold);
        expect(Object.getPrototypeOf(rec)).toBe(Object.getPrototypeOf(cold));
        expect([rec.status === 'ok', rec.refCount, rec.refs.length, rec.status === 'ok' ? Number(rec.gpa >> 12n) : -1])
          .toEqual([stop === 0, wb.lastRefCount, wb.lastRefCount, stop === 0 ? wb.lastGfn : -1]);
        tally[rec.status === 'ok' ? 'ok' : rec.nestedPageFault ? 'exit' : 'pf']!++;
        if (rec.refs.some((x) => x.updated !== undefined)) tally.updated!++;
      }
      // The generator reaches every outcome, and A/D updates in the recorded references.
      expect(Math.min(tally.ok!, tally.pf!, tally.exit!, tally.updated!)).toBeGreaterThan(100);
    }
  });
});
