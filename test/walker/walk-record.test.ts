/**
 * The record walk against the raw walk and against itself from a cold start (seeded property).
 *
 * A record's bigints are made through its walker's scratch view (src/u64-view.ts), which earlier
 * records used too. Three copies of one guest evolve in step (the same walks, so the same A/D
 * updates): walker A makes records after many earlier ones, walker B walks raw, and for copy C a
 * fresh walker per walk makes the record with nothing before it. A's record must equal C's, field for
 * field; its outcome must be B's (status, GFN, error code); each entry value must be what memory
 * held before the walk, and `updated` what it holds after.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, CR0, CR4, EFER, encodeAccess, gpa, gva, type Access, type PagingRegisters } from '../../src';
import { xorshift } from '../../src/workload/generators';

const BASE = 0x7f00_0000_0000n;
const PAGES = 6144; // entries of three 2 MiB regions' PTs, and their PDEs: more values than memo slots

function guest(seed: number): { mem: GuestMemory; regs: PagingRegisters } {
  const r = xorshift(seed);
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 32n });
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x1000_0000n), size: 32n << 20n } });
  // Runs of pages with random rights (user, writable, NX), some 2 MiB pages, some holes.
  for (let p = 0; p < PAGES; ) {
    const run = 1 + (r() % 64);
    const kind = r() % 8;
    const flags = { writable: (kind & 1) !== 0, user: (kind & 2) !== 0, nx: (kind & 4) !== 0 };
    if (r() % 5 !== 0) b.map(BASE + BigInt(p) * 4096n, gpa(0x4000_0000n + BigInt(p) * 4096n), { count: Math.min(run, PAGES - p), flags });
    p += run;
  }
  b.map(BASE + 0x1000_0000n, gpa(0x8000_0000n), { count: 2, size: '2M', flags: { writable: true, user: true } });
  return { mem, regs: { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE | CR4.SMEP, efer: EFER.LME | EFER.LMA | EFER.NXE } };
}

const ACCESSES: Access[] = [{ kind: 'read' }, { kind: 'write' }, { kind: 'fetch' }, { kind: 'read', user: true }, { kind: 'write', user: true }, { kind: 'fetch', user: true }];

describe('record walk (property, seeded)', () => {
  it('a warm-memo record equals a cold one and the raw walk; entry values are memory before the walk, updated ones after', () => {
    for (const seed of [1, 0x5eed, 0xc0ffee]) {
      const a = guest(seed);
      const b = guest(seed);
      const c = guest(seed);
      const wa = new GvaWalker(a.mem, a.regs);
      const wb = new GvaWalker(b.mem, b.regs);
      const r = xorshift(seed * 31 + 7);
      const tally = { ok: 0, fault: 0, updated: 0 };
      for (let i = 0; i < 3000; i++) {
        const va = (i % 7 === 0 ? BASE + 0x1000_0000n + BigInt(r() % (4 << 20)) : BASE + BigInt(r() % PAGES) * 4096n + BigInt(r() & 0xfff));
        const acc = ACCESSES[r() % ACCESSES.length]!;
        const rec = wa.walk(gva(va), acc);
        for (const s of rec.trace) expect(s.value).toBe(b.mem.read64(s.entryGpa)); // b has not walked yet
        const stop = wb.walkRaw(Number(va >> 32n), Number(va & 0xffff_ffffn), encodeAccess(acc));
        for (const s of rec.trace) if (s.updated !== undefined) expect(s.updated).toBe(b.mem.read64(s.entryGpa));
        const cold = new GvaWalker(c.mem, c.regs).walk(gva(va), acc);
        expect(rec).toEqual(cold);
        expect(rec.status === 'ok' ? [0, rec.gfn] : [rec.errorCode]).toEqual(stop === 0 ? [0, wb.lastGfn] : [wb.lastErrorCode]);
        tally[rec.status]++;
        if (rec.trace.some((s) => s.updated !== undefined)) tally.updated++;
      }
      // The generator reaches successes, faults and A/D updates.
      expect(Math.min(tally.ok, tally.fault, tally.updated)).toBeGreaterThan(300);
    }
  });
});
