import { describe, expect, it } from 'vitest';
import { refs2d, guestLevelsRead, walk2dBundle, walk2dChart, type Walk2DOk, type Walk2DResult } from '../../src';
import { DATA_G, DATA_N, L2_MODES, NESTED_KINDS, twoDSetup } from './support';

function ok(r: Walk2DResult): Walk2DOk {
  if (r.status !== 'ok') throw new Error(`expected ok, got ${r.stage}: ${r.detail}`);
  return r;
}
const pattern = (r: Walk2DResult): string => r.refs.map((x) => (x.kind === 'nested' ? 'N' : 'G')).join('');

describe('memory references of a 2D walk: (n+1)(m+1) − 1', () => {
  it('the formula and the reference figures', () => {
    expect(refs2d(4, 4)).toBe(24);
    expect(refs2d(5, 5)).toBe(35);
    expect(refs2d(4, 5)).toBe(29);
    expect(refs2d(5, 4)).toBe(29);
    expect(refs2d(2, 4)).toBe(14);
    expect(refs2d(0, 4)).toBe(4);
    expect([0, 2, 3, 4, 5].map(guestLevelsRead)).toEqual([0, 2, 2, 4, 5]);
  });

  const combos = L2_MODES.flatMap((l2) => NESTED_KINDS.map((nk) => ({ l2, nk })));
  it.each(combos)('L2 $l2 on $nk', ({ l2, nk }) => {
    const { w2, gva } = twoDSetup(l2, nk);
    const n = w2.guestLevels;
    const m = w2.nestedLevels;
    const r = ok(w2.walk(gva + 0x9abn, { kind: 'read', user: true }));
    expect(r.gpa).toBe(DATA_G + 0x9abn);
    expect(r.ngpa).toBe(DATA_N + 0x9abn);
    expect(r.refCount).toBe(refs2d(n, m));
    expect(r.refs.length).toBe(r.refCount);
    // Every L2 step: m nested reads, then the gPTE; then m nested reads for the final nGPA.
    expect(pattern(r)).toBe(('N'.repeat(m) + 'G').repeat(n) + 'N'.repeat(m));
    // The raw walk counts the same without building a record.
    const v = gva + 0x9abn;
    w2.walkRaw(Number(v >> 32n), Number(v & 0xffffffffn), 4);
    expect(w2.lastRefCount).toBe(refs2d(n, m));
    expect(w2.lastGfn).toBe(Number(DATA_G >> 12n));
  });

  it('the 24 references of a 4×4 walk, in hardware order, each consistent with the one before', () => {
    const { w2, gva, l2b } = twoDSetup('paging4', 'ept4');
    const r = ok(w2.walk(gva, { kind: 'write', user: true }));
    expect(r.refCount).toBe(24);
    expect(r.refs.map((x) => `${x.kind === 'nested' ? 'n' : 'g'}${x.guestLevel}.${x.level}`).join(' ')).toBe(
      'n4.4 n4.3 n4.2 n4.1 g4.4 n3.4 n3.3 n3.2 n3.1 g3.3 n2.4 n2.3 n2.2 n2.1 g2.2 n1.4 n1.3 n1.2 n1.1 g1.1 n0.4 n0.3 n0.2 n0.1',
    );
    expect(r.refs.map((x) => x.seq)).toEqual([...Array(24).keys()].map((i) => i + 1));
    const path = l2b!.path(gva);
    for (let i = 0; i < 24; i++) {
      const x = r.refs[i]!;
      if (x.kind === 'guest') {
        // The gPTE is the entry the builder wrote; here nGPA = GPA (identity-mapped pool).
        expect(x.ngpa).toBe(path[4 - x.level]!.gpa);
        expect(x.updated ?? x.value).toBe(path[4 - x.level]!.value);
        expect(x.updated).toBeDefined(); // A set (and D on the leaf: a write)
        // The nested leaf just before it mapped the table's page to where the read went.
        const leaf = r.refs[i - 1]!;
        expect(leaf.level).toBe(1);
        expect(leaf.value & 0xf_ffff_ffff_f000n).toBe(x.gpa & ~0xfffn);
      } else {
        expect(x.ngpa & 0xfffn).toBe(0n);
      }
    }
    expect(r.refs[23]!.value & 0xf_ffff_ffff_f000n).toBe(DATA_G);
    const text = walk2dBundle(r)['text/plain'] as string;
    expect(text).toMatch(/24 memory references \(full depth n=4, m=4: 24\)/);
    expect(text).toMatch(/\n20 +gPTE L1 \(PTE\)/);
    expect((walk2dChart(r).data as { values: unknown[] }).values.length).toBe(24);
  });
});
