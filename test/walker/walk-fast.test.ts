/**
 * GvaWalker.walkRaw's fast path (src/walker/walk-fast.ts: makeFastWalk) against walkTables: the fast path may only ever return
 * what the full walk returns, with the same side effects. Every upper entry has A set and the
 * leaf A and D, so the fast path is not skipped for a clear A/D bit and its own checks decide
 * (reserved bits, presence, permission_fault, PKRU, protect_clean_gpte). The full walk is the
 * reference here because test/walker/access-sweep.test.ts checks it against the SDM model.
 */
import { describe, it, expect } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, CR0, CR4, EFER, encodeAccess, gpa, gva, type Access } from '../../src';

const VA = 0x7f12_3440_0000n;
const P = 1n, W = 2n, U = 4n, A = 0x20n, D = 0x40n, PS = 0x80n, NX = 1n << 63n;
const RSVD = 1n << 50n; // above MAXPHYADDR 46
const ACCESSES: Access[] = [
  { kind: 'read' }, { kind: 'read', user: true }, { kind: 'write' }, { kind: 'write', user: true },
  { kind: 'fetch' }, { kind: 'fetch', user: true }, { kind: 'read', ac: true }, { kind: 'write', ac: true, implicit: true },
];

function setup(cr4: bigint, pkru: number) {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x100000n), size: 1n << 20n } });
  b.map(VA, gpa(0x2000_0000n), { count: 1, size: '2M', flags: { writable: true, user: true } });
  b.map(VA + 0x20_0000n, gpa(0x3000_0000n), { count: 1, flags: { writable: true, user: true } });
  for (const l of [4, 3]) b.setEntry(gva(VA), l, b.getEntry(gva(VA), l).value | A);
  b.setEntry(gva(VA + 0x20_0000n), 2, b.getEntry(gva(VA + 0x20_0000n), 2).value | A);
  const w = new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: b.root, cr4: CR4.PAE | cr4, efer: EFER.LME | EFER.LMA | EFER.NXE, pkru });
  return { b, w };
}

describe('the fast walk agrees with walkTables', () => {
  for (const [name, cr4, pkru] of [['SMEP+SMAP', CR4.SMEP | CR4.SMAP, 0], ['PKE, key 5 write-disabled', CR4.PKE, 2 << 10]] as const) {
    it(`${name}: leaf flags × access, 4K and 2M leaves`, () => {
      const { b, w } = setup(cr4, pkru);
      let fast = 0;
      for (const [va, level] of [[VA, 2], [VA + 0x20_0000n, 1]] as const) {
        const orig = b.getEntry(gva(va), level).value;
        const frame = orig & 0x000f_ffff_ffff_f000n;
        for (let bits = 0; bits < 64; bits++) {
          let v = frame | A | (level === 2 ? PS : 0n) | (5n << 59n); // protection key 5
          if (bits & 1) v |= P;
          if (bits & 2) v |= W;
          if (bits & 4) v |= U;
          if (bits & 8) v |= NX;
          if (bits & 16) v |= D;
          if (bits & 32) v |= RSVD;
          for (const a of ACCESSES) {
            b.setEntry(gva(va), level, v);
            const stop = w.walkRaw(Number(va >> 32n), Number(va & 0xffff_ffffn), encodeAccess(a));
            const raw = { stop, gfn: stop === 0 ? w.lastGfn : -1, ec: stop === 0 ? -1 : w.lastErrorCode, after: b.getEntry(gva(va), level).value };
            const fromRaw = w.recordLast(stop, gva(va), a);
            b.setEntry(gva(va), level, v);
            const rec = w.walk(gva(va), a);
            expect({ ...raw, rec: fromRaw }).toEqual({
              stop: raw.stop,
              gfn: rec.status === 'ok' ? rec.gfn : -1,
              ec: rec.status === 'ok' ? -1 : rec.errorCode,
              after: b.getEntry(gva(va), level).value,
              rec,
            });
            if (rec.status === 'ok' && rec.adUpdates === 0) fast++;
          }
        }
      }
      expect(fast).toBeGreaterThan(20); // the fast path decided a good share of the cases
    });
  }
});
