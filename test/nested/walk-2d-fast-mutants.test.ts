/**
 * Cases for mutants of the fast 2D walks (src/nested/walk-2d-fast.ts, walk-2d-fast-traced.ts) that
 * the property tests (walk-2d-fast-property, whose random entries are mostly all-good) let survive.
 * Each walk runs on two copies of one hand-written 2D set-up (test/nested/hand-2d.ts): `a` as
 * shipped, `b` with the fast paths removed (the full walk, `walkTables` with the nested walk as
 * its translate hook, an implementation of its own). The expectation of each case comes from the
 * architecture, cited there; the full walk must give it too, and `a`'s outcome must equal `b`'s.
 */
import { describe, expect, it } from 'vitest';
import { gpa, gva, encodeAccess, type Access } from '../../src';
import { eptFormat } from '../../src/format/ept';
import { paeFormat } from '../../src/format/pae';
import { paging32Format } from '../../src/format/paging32';
import { makePageFormat } from '../../src/format/page-format';
import { nestedUnrollable } from '../../src/nested/walk-2d-fast';
import { SLOW } from '../../src/walker/walk-fast';
import { answers, GVA, hand2DPair } from './hand-2d';

const vhi = Number(GVA >> 32n);
const vlo = Number(GVA & 0xffff_ffffn);

/** What a fault record says: the stage, the nested walk's part, the reason, misconfig (EPT misconfiguration or an NPF with RSVD), the nested level. */
function fault(r: ReturnType<typeof walkBoth>['got']) {
  if (r.status !== 'fault' || r.stage !== 'ngpa_walk') return r.status;
  return [r.stage, r.during, r.reason, r.misconfig, r.level];
}

/** Walks GVA with `access` on both copies, raw then with a record; returns a's fast answers and the record. */
function walkBoth(p: ReturnType<typeof hand2DPair>, access: Access) {
  const { a, b } = p;
  const ans = answers(a.internals);
  const enc = encodeAccess(access);
  const stopA = a.w2.walkRaw(vhi, vlo, enc);
  const stopB = b.w2.walkRaw(vhi, vlo, enc);
  expect([stopA, a.w2.lastGfn, a.w2.lastRefCount, a.w2.lastErrorCode]).toEqual([stopB, b.w2.lastGfn, b.w2.lastRefCount, b.w2.lastErrorCode]);
  const fast = ans.fast;
  // The raw walk may have written (A/D); the record walk starts from the same memory in both copies.
  const got = a.w2.walk(gva(GVA), access);
  expect(got).toEqual(b.w2.walk(gva(GVA), access));
  return { stop: stopA, fast, traced: ans.traced, got };
}

describe('nestedUnrollable: only 4- and 5-level nested formats', () => {
  // The written-out nested walk starts at level 5 or 4 (the level-4 index from nGPA bits 42:39);
  // a format with a 2- or 3-level root would be walked from the wrong table. KVM builds 3-level
  // (PAE) and 2-level nested formats for a 32-bit L1 under NPT (mmu.c: reset_guest_rsvds_bits_mask
  // via kvm_init_shadow_npt_mmu), whose entries are not all 8 bytes or whose root is the PDPTE
  // registers; here their level-1 masks are equal, so only the level test refuses them.
  const p = { maxPhyAddr: 46, nx: true, gbpages: false, pse: true, amd: true, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };
  it('refuses the PAE and 32-bit formats and a 3-level hand-made EPT format', () => {
    for (const f of [paeFormat(p), paging32Format(p)]) {
      expect(f.hot.rsvdLo[0]).toBe(f.hot.rsvdLo[5]);
      expect(f.hot.rsvdHi[0]).toBe(f.hot.rsvdHi[5]);
      expect(nestedUnrollable(f)).toBe(false);
    }
    const e = eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: false, hugePageLevel: 3 });
    expect(nestedUnrollable(e)).toBe(true);
    const three = makePageFormat({
      name: 'hand-made', kvm: e.kvm, mbec: e.mbec, module: e.module, ptType: e.ptType, rootLevel: 3, hasAd: e.hasAd, pse: e.pse,
      params: {}, rsvdBitsMask: e.rsvdBitsMask, badMtXwr: e.badMtXwr, permissions: e.permissions, pkruMask: e.pkruMask,
    });
    expect(nestedUnrollable(three)).toBe(false);
  });
});

/** Data pages at each nested leaf level: nGPA frame and L1 frame with the same offset in the page. */
const DATA = {
  1: { dataN: 0x3a0, dataG: 0x5a0, dataLevel: 1 },
  2: { dataN: 0x600 + 0x1a0, dataG: 0x1000 + 0x1a0, dataLevel: 2 }, // level-2 index 3 (L2's tables: index 1)
  3: { dataN: 0x40000 + 0x1a0, dataG: 0x80000 + 0x1a0, dataLevel: 3 }, // level-3 index 1 (L2's tables: index 0)
} as const;

describe('NPT12: NX in one entry of the final nested walk makes a fetch fault', () => {
  // NPT entries are long-mode paging entries (APM Vol. 2 §15.25.5): with EFER.NXE, an instruction
  // fetch is not allowed if NX (bit 63) is 1 in any paging-structure entry that controls the
  // translation (SDM Vol. 3A §4.6.1; KVM paging_tmpl.h: FNAME(walk_addr_generic) ANDs each level's
  // FNAME(gpte_access), whose exec bit is !NX). So NX at a single level — any level — of the nested
  // walk of the data page makes a fetch through it fault (a nested page fault), while the same
  // tables without NX, and a read through NX, succeed.
  const USER_FETCH: Access = { kind: 'fetch', user: true };
  const USER_READ: Access = { kind: 'read', user: true };
  for (const nLevels of [4, 5] as const) {
    for (const dataLevel of [1, 2, 3] as const) {
      it(`${nLevels}-level NPT12, data in a ${{ 1: '4 KiB', 2: '2 MiB', 3: '1 GiB' }[dataLevel]} page`, () => {
        const refs = 4 * (nLevels + 1) + (nLevels - dataLevel + 1);
        const ok = walkBoth(hand2DPair('npt', nLevels, 4, DATA[dataLevel]), USER_FETCH);
        expect([ok.stop, ok.fast, ok.traced, ok.got.status === 'ok' && ok.got.gfn]).toEqual([0, refs, refs, DATA[dataLevel].dataG]);
        for (let l: number = nLevels; l >= dataLevel; l--) {
          const p = hand2DPair('npt', nLevels, 4, DATA[dataLevel]);
          for (const s of [p.a, p.b]) s.edit(s.nestedEntry(s.dataN, l), (v) => v | (1n << 63n));
          const nx = walkBoth(p, USER_FETCH);
          expect([nx.stop !== 0, nx.fast, nx.traced, fault(nx.got)], `NX at level ${l}`).toEqual([true, SLOW, SLOW, ['ngpa_walk', 'final', 'protection', false, dataLevel]]);
          const read = walkBoth(p, USER_READ);
          expect([read.stop, read.fast, read.traced], `NX at level ${l}, read`).toEqual([0, refs, refs]);
        }
      });
    }
  }
});

describe('a reserved bit in the high half of each entry of the final nested walk', () => {
  // Bits 51:MAXPHYADDR of an EPT entry are reserved: set, the walk ends in an EPT misconfiguration
  // (SDM Vol. 3C §29.3.3.1); in an NPT entry (long-mode format) a #NPF with RSVD set (APM Vol. 2
  // §15.25.10; SDM Vol. 3A §4.5.4 for the format). With MAXPHYADDR 46, bit 46 (the high half's bit
  // 14). Above level 1 the entry also maps L2's tables, so the first nested walk (of L2's root
  // table) meets it; the level-5 entry is at index 0 of its table for every nGPA below 2^48.
  for (const tdp of ['ept', 'npt'] as const) {
    for (const nLevels of [4, 5] as const) {
      it(`${nLevels}-level ${tdp.toUpperCase()}12`, () => {
        for (let l: number = nLevels; l >= 1; l--) {
          const p = hand2DPair(tdp, nLevels, 4);
          for (const s of [p.a, p.b]) s.edit(s.nestedEntry(s.dataN, l), (v) => v | (1n << 46n));
          const r = walkBoth(p, { kind: 'read', user: true });
          expect([r.stop !== 0, r.fast, r.traced, fault(r.got)], `level ${l}`).toEqual([true, SLOW, SLOW, ['ngpa_walk', l === 1 ? 'final' : 'paging-structure', 'reserved-bit', true, l]]);
        }
      });
    }
  }
});

describe('a write through a clean final nested leaf sets its D bit', () => {
  // EPT with A/D enabled: a write to a guest-physical address sets the dirty flag of the EPT
  // entry that maps it (SDM Vol. 3C §29.3.5); NPT: the D bit of the nested leaf (APM Vol. 2
  // §15.25.5, as in long-mode paging, SDM Vol. 3A §4.8). The walk writes, so neither fast walk may
  // answer it; a read through the same clean leaf writes nothing and both answer.
  for (const tdp of ['ept', 'npt'] as const) {
    for (const dataLevel of [1, 2, 3] as const) {
      it(`${tdp.toUpperCase()}12, leaf at level ${dataLevel}`, () => {
        const refs = 4 * 5 + (4 - dataLevel + 1);
        const dBit = tdp === 'ept' ? 1n << 9n : 1n << 6n;
        const p = hand2DPair(tdp, 4, 4, DATA[dataLevel]);
        for (const s of [p.a, p.b]) s.edit(s.nestedEntry(s.dataN, dataLevel), (v) => v & ~dBit);
        const read = walkBoth(p, { kind: 'read', user: true });
        expect([read.stop, read.fast, read.traced]).toEqual([0, refs, refs]);
        // walkBoth's raw walk sets D first; the record walk then reads a dirty leaf. Clear it again
        // in both copies and walk with a record only.
        const w = walkBoth(p, { kind: 'write', user: true });
        expect([w.stop, w.fast]).toEqual([0, SLOW]);
        for (const s of [p.a, p.b]) s.edit(s.nestedEntry(s.dataN, dataLevel), (v) => v & ~dBit);
        const ans = answers(p.a.internals);
        const got = p.a.w2.walk(gva(GVA), { kind: 'write', user: true });
        expect(got).toEqual(p.b.w2.walk(gva(GVA), { kind: 'write', user: true }));
        expect(ans.traced).toBe(SLOW);
        expect(got.status === 'ok' && got.gfn).toBe(p.a.dataG);
        // The one A/D update: D in the final nested walk's leaf (the last reference).
        expect(got.refs.flatMap((x, i) => (x.updated === undefined ? [] : [[i, x.kind, x.level, x.updated & dBit]]))).toEqual([[refs - 1, 'nested', dataLevel, dBit]]);
        expect(p.a.mem.read64(gpa(p.a.nestedEntry(p.a.dataN, dataLevel))) & dBit).toBe(dBit);
      });
    }
  }
});
