/**
 * Cases for mutants of the 2D record walk's fast path (src/nested/walk-2d-fast-traced.ts) that
 * walk-2d-traced.test.ts let survive. As there, two copies of one L1 evolve in step: copy A with
 * the walker as shipped, copy B with its read-only fast paths removed (every walk is the full
 * hooked walk), and each record of A must equal B's. Where a case names a value, it comes from the
 * SDM's paging rules, not from the fast path.
 */
import { describe, expect, it } from 'vitest';
import { gva, encodeAccess, CR4, DEFAULT_FEATURES, Walk2D, type Access, type Walk2DResult } from '../../src';
import { SLOW } from '../../src/walker/walk-fast';
import { DATA_G, DATA_N, l2Regs, twoDSetup, type L2Mode, type NestedKind } from './support';

/** The walker with its read-only fast paths removed (as walk-2d-traced.test.ts). */
function fullWalkOnly(w: Walk2D): Walk2D {
  const i = w as unknown as { fast: unknown; tracedFast: unknown };
  expect(Object.keys(i)).toEqual(expect.arrayContaining(['fast', 'tracedFast']));
  i.fast = undefined;
  i.tracedFast = undefined;
  return w;
}

/** A success with no A/D update: a record the traced fast walk makes. */
function fastCase(r: Walk2DResult): boolean {
  return r.status === 'ok' && r.adUpdates === 0 && r.dirtyLogged.length === 0 && r.refs.every((x) => x.updated === undefined);
}

const USER_READ: Access = { kind: 'read', user: true };
const USER_WRITE: Access = { kind: 'write', user: true };

describe('2D record walk, fast path: the bigints kept across walks follow an entry\'s high half', () => {
  // walk-2d-fast-traced.ts keeps, across walks, the values of the references near the roots (the
  // nested walks of L2's tables above level 2, L2's entries above level 3) and reuses one while
  // the entry's two 32-bit halves are what it was made from. Bits 52-55 are ignored in EPT entries
  // (SDM Vol. 3C, Tables 29-1 to 29-6) and in 4/5-level paging entries (Vol. 3A, Tables 4-15 to
  // 4-20: bits 58:52): flipping one changes only the high half and the walk still succeeds. Each
  // bit is set and then cleared again, a walk after each change: every record must show the entries'
  // values as they are now, as the full walk's does. (walk-2d-traced.test.ts's case changes the
  // nested entries only in their low half.)
  const cases: [NestedKind, L2Mode, boolean][] = [['ept4', 'paging4', true], ['ept5', 'paging5', false], ['npt4', 'paging4', true], ['npt5', 'paging5', true]];
  for (const [nk, l2Mode, ad] of cases) {
    it(`${l2Mode} on ${nk}`, () => {
      const a = twoDSetup(l2Mode, nk, { ad });
      const b = twoDSetup(l2Mode, nk, { ad });
      fullWalkOnly(b.w2);
      const va = a.gva + 0x123n;
      const cmp = (acc: Access): Walk2DResult => {
        const got = a.w2.walk(gva(va), acc);
        expect(got).toEqual(b.w2.walk(gva(va), acc));
        return got;
      };
      // Warm: A and D set everywhere on the path, so the next reads take the fast path.
      cmp(USER_WRITE);
      cmp(USER_READ);
      // The L2 tables above level 2: the root table and the one below it (identity-mapped nGPA).
      const l2Path = a.l2b!.path(gva(va));
      const tablePages = l2Path.filter((e) => e.level >= 3).map((e) => e.gpa & ~0xfffn);
      expect(tablePages.length).toBeGreaterThanOrEqual(2);
      // Each bit on, then off again: a reference whose low half is unchanged must not keep the
      // value it had with the other high half, in either direction.
      const check = (): void => {
        const got = cmp(USER_READ);
        expect(fastCase(got)).toBe(true);
        for (const page of tablePages) {
          const e = a.b.path(page).at(-1)!;
          const ref = got.refs.find((x) => x.kind === 'nested' && x.gpa === e.gpa);
          expect(ref?.value).toBe(e.value);
        }
        for (const e of a.l2b!.path(gva(va))) {
          const ref = got.refs.find((x) => x.kind === 'guest' && x.level === e.level);
          expect(ref?.value).toBe(e.value);
        }
      };
      let changed = 0;
      for (const bit of [52n, 53n, 54n, 55n]) {
        for (let onOff = 0; onOff < 2; onOff++) {
          // The nested entries that map L2's tables above level 2.
          for (const page of tablePages) {
            for (const s of [a, b]) {
              for (const e of s.b.path(page)) s.b.setEntry(page, e.level, e.value ^ (1n << bit));
            }
            check();
            changed++;
          }
          // L2's own entries above level 3 (bits 58:52 are ignored in 4/5-level paging entries).
          for (const s of [a, b]) {
            for (const e of s.l2b!.path(gva(va))) if (e.level >= 4) s.l2b!.setEntry(gva(va), e.level, e.value ^ (1n << bit));
          }
          check();
          changed++;
        }
      }
      expect(changed).toBe(4 * 2 * (tablePages.length + 1));
    });
  }
});

describe('2D record walk, fast path: taken for every success with nothing to update', () => {
  // walk-2d-fast-traced.ts gives up (SLOW) exactly where a walk would fault or set an A/D bit;
  // otherwise it makes the record itself. Records cannot tell which path made them (the full walk
  // makes the same), so a fast path that gave up on every walk would pass the comparisons above:
  // here each walk's traced-walk answer is checked against the full walk's outcome on copy B —
  // its reference count when B's record is a success with no A/D update, SLOW otherwise.
  const cases: [NestedKind, L2Mode, boolean][] = [['ept4', 'paging4', true], ['ept4', 'paging4', false], ['ept5', 'paging5', true], ['npt4', 'paging4', true], ['npt5', 'paging5', true]];
  const BIG = 0x4000_0000n; // a 2 MiB L2 page onto nGPA DATA_N (16 of its 4 KiB pages mapped by the nested tables)
  for (const [nk, l2Mode, ad] of cases) {
    it(`${l2Mode} on ${nk}${nk.startsWith('ept') ? (ad ? ' with A/D' : ' without A/D') : ''}`, () => {
      const a = twoDSetup(l2Mode, nk, { ad });
      const b = twoDSetup(l2Mode, nk, { ad });
      fullWalkOnly(b.w2);
      for (const s of [a, b]) s.l2b!.map(BIG, DATA_N, { size: '2M', flags: { writable: true, user: true } });
      const t = (a.w2 as unknown as { tracedFast: { walk: (...x: unknown[]) => number } }).tracedFast;
      const walk = t.walk;
      let answer = Number.NaN;
      t.walk = (...x: unknown[]): number => (answer = walk(...x));
      let fast = 0;
      for (const va of [a.gva + 0x123n, a.gva + 0x5678n, BIG + 0x3456n, BIG + 0xf008n]) {
        for (const acc of [USER_WRITE, USER_READ, USER_READ, USER_WRITE, { kind: 'fetch' }, { kind: 'write' }] as Access[]) {
          answer = Number.NaN;
          const got = a.w2.walk(gva(va), acc);
          const want = b.w2.walk(gva(va), acc);
          expect(got).toEqual(want);
          expect(answer, `0x${va.toString(16)} ${acc.kind}`).toBe(fastCase(want) ? want.refCount : SLOW);
          if (fastCase(want)) fast++;
        }
      }
      expect(fast).toBeGreaterThanOrEqual(8);
    });
  }
});

describe('2D walk, fast paths (walkRaw and walk): protection keys and a large L2 page with PAT set', () => {
  // SDM Vol. 3A §4.6.2: a user-mode data access to a page with key k faults when PKRU.AD[k] (bit 2k)
  // is set, and a write also when PKRU.WD[k] (bit 2k + 1) is. §4.5: a 2 MiB page's frame is the
  // PDE's bits 51:21; bit 12 is PAT and is not part of the address.
  const PKRU = (1 << 3) | (1 << 5) | (1 << 6); // keys 1 and 2 write-disabled, key 3 access-disabled
  const BIG = 0x4000_0000n;
  for (const nk of ['ept4', 'npt4'] as const) {
    it(`paging4 with PKE on ${nk}`, () => {
      const mk = (): { s: ReturnType<typeof twoDSetup>; w: Walk2D } => {
        const s = twoDSetup('paging4', nk, { ad: true });
        for (let k = 0; k < 4; k++) s.l2b!.map(0x80_0000n + BigInt(k) * 4096n, DATA_N + BigInt(k) * 4096n, { count: 1, flags: { writable: true, user: true, pkey: k } });
        s.l2b!.map(BIG, DATA_N, { size: '2M', flags: { writable: true, user: true } });
        s.l2b!.setEntry(BIG, 2, s.l2b!.getEntry(BIG, 2).value | (1n << 12n));
        // A and D set in both dimensions first (without PKE, every page is writable), so that the
        // fast paths decide: a faulting walk sets no A bit, and without A they would give up.
        for (let k = 0; k < 4; k++) s.w2.walk(gva(0x80_0000n + BigInt(k) * 4096n), USER_WRITE);
        for (let p = 0n; p < 16n; p++) s.w2.walk(gva(BIG + p * 4096n), USER_WRITE); // every nested data page
        const regs = { ...l2Regs('paging4', s.l2b!.root), cr4: CR4.PAE | CR4.PKE, pkru: PKRU };
        return { s, w: new Walk2D(s.w, { regs, features: { ...DEFAULT_FEATURES, maxPhyAddr: 46 } }) };
      };
      const a = mk();
      const b = mk();
      fullWalkOnly(b.w);
      const cases: [bigint, Access, boolean][] = [];
      for (let k = 0; k < 4; k++) {
        const va = 0x80_0000n + BigInt(k) * 4096n + 0x10n;
        cases.push([va, USER_READ, k !== 3], [va, USER_WRITE, k === 0]);
      }
      cases.push([BIG + 0x3456n, USER_READ, true], [BIG + 0xf008n, USER_WRITE, true]);
      let fast = 0;
      const t = (a.w as unknown as { tracedFast: { walk: (...x: unknown[]) => number } }).tracedFast;
      const walk = t.walk;
      t.walk = (...x: unknown[]): number => {
        const r = walk(...x);
        if (r >= 0) fast++;
        return r;
      };
      for (let round = 0; round < 3; round++) {
        for (const [va, acc, ok] of cases) {
          const got = a.w.walk(gva(va), acc);
          expect(got, `0x${va.toString(16)} ${acc.kind}`).toEqual(b.w.walk(gva(va), acc));
          expect(got.status === 'ok').toBe(ok);
          if (va >= BIG && got.status === 'ok') expect(got.gpa).toBe(DATA_G + (va - BIG));
          const e = encodeAccess(acc);
          const sa = a.w.walkRaw(0, Number(va), e);
          expect([sa, a.w.lastGfn, a.w.lastRefCount]).toEqual([b.w.walkRaw(0, Number(va), e), b.w.lastGfn, b.w.lastRefCount]);
          expect(sa === 0).toBe(ok);
          if (va >= BIG && ok) expect(a.w.lastGfn).toBe(Number((DATA_G + (va - BIG)) >> 12n));
        }
      }
      // Every success took the traced fast path (A/D were set beforehand).
      expect(fast).toBe(3 * cases.filter((c) => c[2]).length);
    });
  }
});
