/**
 * Bad input to the gPTE helpers (src/shadow/gpte.ts, paging_tmpl.h's FNAME helpers): formats that
 * are no PageFormat, gPTEs that are no u64 (a number threw "Cannot mix BigInt", 2^70 was read
 * silently), gfns outside a 52-bit GPA, byte offsets outside a page or not on an entry, levels
 * the format has no reserved-bit mask for, ACC wider than four bits. Refusals name parameter and
 * value; guest memory is unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GuestMemory, paging4Format, paging32Format, gpa, readGpte, isPresentGpte, gpteAccess, gpteToGfn, isRsvdGpte, prefetchInvalidGpte, protectCleanGpte,
  type PageFormat,
} from '../../src';
import { FC, Tally, badBigint, badInt, junk, memFingerprint, refused } from './support';

const t = new Tally('shadow-gpte');
const P = { maxPhyAddr: 46, nx: true, gbpages: true, pse: true, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false, kvm: '6.16' } as const;
const F4 = paging4Format(P);
const F32 = paging32Format(P);
const GFN_MAX = 2 ** 40 - 1; // MAXPHYADDR <= 52 (SDM Vol. 3A 4.1.4)

const badFormat = fc.oneof(junk, fc.constant({ entryBytes: 6, ptType: 'x', rsvdBitsMask: [] }), fc.constant({ ...F4, entryBytes: 2 }));
const badG = badBigint();

describe('gPTE helpers', () => {
  it('format and gPTE of every helper', () => {
    fc.assert(fc.property(badFormat, (v) => {
      for (const call of [() => isPresentGpte(v as PageFormat, 1n), () => gpteAccess(v as PageFormat, 1n), () => isRsvdGpte(v as PageFormat, 1n, 1), () => prefetchInvalidGpte(v as PageFormat, 1n), () => protectCleanGpte(v as PageFormat, 7, 1n)]) {
        refused(t, call, { param: 'format' });
      }
    }), FC);
    fc.assert(fc.property(badG, (v) => {
      refused(t, () => isPresentGpte(F4, v as bigint), { param: 'g', value: v });
      refused(t, () => gpteAccess(F4, v as bigint), { param: 'g', value: v });
      refused(t, () => gpteToGfn(v as bigint), { param: 'g', value: v });
      refused(t, () => isRsvdGpte(F4, v as bigint, 1), { param: 'g', value: v });
      refused(t, () => prefetchInvalidGpte(F4, v as bigint), { param: 'g', value: v });
      refused(t, () => protectCleanGpte(F4, 7, v as bigint), { param: 'g', value: v });
    }), FC);
    // gpte_to_gfn: bits 51:12 (paging_tmpl.h:65 PT_BASE_ADDR_MASK).
    expect(gpteToGfn(0x0008_0000_0012_3067n)).toBe(0x80_0000_0123);
  });

  it('isRsvdGpte: a level the format has masks for; protectCleanGpte: ACC of at most 4 bits', () => {
    // A 4-level format has reserved-bit masks for levels 1-4 (reset_guest_rsvds_bits_mask, mmu.c).
    fc.assert(fc.property(fc.oneof(badInt(1, 4), fc.constantFrom(0, 6)), (v) => refused(t, () => isRsvdGpte(F4, 1n, v as number), { param: 'level', value: v })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xf), fc.constant(0x10)), (v) => refused(t, () => protectCleanGpte(F4, v as number, 1n), { param: 'acc', value: v })), FC);
  });

  it('readGpte: a memory, a gfn, an entry offset inside the page', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 1n << 20n });
    mem.write64(gpa(0x1008n), 0x1234_5067n);
    const state = () => memFingerprint(mem);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ words: new Uint32Array(4) })), (v) => refused(t, () => readGpte(v as GuestMemory, F4, 1, 8), { param: 'mem', state })), FC);
    fc.assert(fc.property(badFormat, (v) => refused(t, () => readGpte(mem, v as PageFormat, 1, 8), { param: 'format', state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, GFN_MAX), fc.constant(2 ** 40)), (v) => refused(t, () => readGpte(mem, F4, v as number, 8), { param: 'gfn', value: v, state })), FC);
    // 8-byte entries at offsets 0..4088; 4-byte ones (PTTYPE 32) at 0..4092.
    fc.assert(fc.property(fc.oneof(badInt(0, 4088), fc.constantFrom(4096, 4, 12)), (v) => refused(t, () => readGpte(mem, F4, 1, v as number), { param: 'off', value: v, state })), FC);
    refused(t, () => readGpte(mem, F32, 1, 4094), { param: 'off', value: 4094, state });
    expect(readGpte(mem, F4, 1, 8)).toBe(0x1234_5067n);
  });
});
