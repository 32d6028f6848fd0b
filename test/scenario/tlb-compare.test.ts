/** The note helper of src/scenario/tlb-compare.ts: rows on vs off, and TLB reach counted by hand. */
import { describe, expect, it } from 'vitest';
import { Tlb, sequentialScan, tlbReach, tlbRow } from '../../src';

const FILL = { vpid: 1, pcid: 0, eptp: -1, global: false, hostFrame: 0, guestFrame: 0, acc: 7, pkey: 0, tdpAcc: 7 };

describe('tlbReach', () => {
  it('a 4 KiB and a 2 MiB entry map 4 + 2048 KiB; the L1 copy of an STLB entry counts once', () => {
    const tlb = new Tlb();
    tlb.fill({ ...FILL, vpn: 0x10, size: 0 }, false); // L1 DTLB + STLB: one translation
    tlb.fill({ ...FILL, vpn: 0x400, size: 1 }, false);
    expect(tlb.snapshot().l1d.length + tlb.snapshot().stlb.length).toBe(4);
    expect(tlbReach(tlb)).toEqual({ kib: 4 + 2048, entries2M: 1 });
  });
});

describe('tlbRow', () => {
  it('off: no TLB figures, every access a miss that walks the shadow levels (4 for a 4-level guest, memory-refs.ts)', () => {
    const t = sequentialScan({ pages: 8, passes: 2 });
    const off = tlbRow('shadow', t, false);
    expect([off.hitRate, off.flushes, off.reachKiB, off.misses, off.refsPerMiss]).toEqual([null, null, null, 16, 4]);
    const on = tlbRow('shadow', t, true);
    expect(on.exits).toBe(off.exits); // the TLB changes no KVM decision
    expect(on.misses).toBeLessThan(16); // the second pass hits the 64-entry L1 DTLB
    expect(on.cyclesPerAccess).toBeLessThan(off.cyclesPerAccess);
  });
});
