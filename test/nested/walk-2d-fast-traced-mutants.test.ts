/**
 * Cases for mutants of the 2D record walk's fast path (src/nested/walk-2d-fast-traced.ts) that
 * walk-2d-traced.test.ts let survive. As there, two copies of one L1 evolve in step: copy A with
 * the walker as shipped, copy B with its read-only fast paths removed (every walk is the full
 * hooked walk), and each record of A must equal B's. Where a case names a value, it comes from the
 * SDM's paging rules, not from the fast path.
 */
import { describe, expect, it } from 'vitest';
import { gva, type Access, type Walk2D, type Walk2DResult } from '../../src';
import { twoDSetup, type L2Mode, type NestedKind } from './support';

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
