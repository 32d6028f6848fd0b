/** The set-associative array with LRU: hand-computed victim sequences. */
import { describe, expect, it } from 'vitest';
import { SetAssoc, type Tagged } from '../../src';

interface E extends Tagged { name: string }
const e = (index: number, name = String(index)): E => ({ index, used: 0, name });
const all = () => true;

describe('SetAssoc (LRU)', () => {
  it('2 sets × 2 ways: indexes 0, 2, 4 share set 0; touching 0 makes 2 the LRU victim; set 1 is untouched', () => {
    const a = new SetAssoc<E>({ entries: 4, ways: 2 });
    expect(a.sets).toBe(2);
    expect(a.insert(e(0), all)).toBeUndefined();
    expect(a.insert(e(2), all)).toBeUndefined();
    expect(a.insert(e(1), all)).toBeUndefined();
    expect(a.find(0, all)?.name).toBe('0'); // 0 is now most recent in set 0
    expect(a.insert(e(4), all)?.name).toBe('2'); // victim: least recently used of {0, 2}
    expect(a.find(2, all)).toBeUndefined();
    expect(a.find(0, all)?.name).toBe('0');
    expect(a.find(4, all)?.name).toBe('4');
    expect(a.find(1, all)?.name).toBe('1');
    // Now 0 was used before 4: the next fill into set 0 evicts 0.
    expect(a.insert(e(6), all)?.name).toBe('0');
  });

  it('fully associative (ways = entries): the oldest unused entry goes', () => {
    const a = new SetAssoc<E>({ entries: 4, ways: 4 });
    for (const i of [1, 2, 3, 4]) a.insert(e(i), all);
    a.find(1, all);
    expect(a.insert(e(5), all)?.name).toBe('2');
    a.find(3, all);
    expect(a.insert(e(6), all)?.name).toBe('4');
    expect(a.entries().map((x) => x.index).sort()).toEqual([1, 3, 5, 6]);
  });

  it('a fill with the same tag replaces in place (no eviction); a different tag for the same index takes another way', () => {
    const a = new SetAssoc<E>({ entries: 2, ways: 2 });
    a.insert(e(7, 'old'), all);
    expect(a.insert(e(7, 'new'), (o) => o.index === 7)).toBeUndefined();
    expect(a.entries().map((x) => x.name)).toEqual(['new']);
    a.insert(e(7, 'other-tag'), () => false);
    expect(a.entries().length).toBe(2);
  });

  it('indexes above 2^32 (4-level VPNs) pick set index mod sets, for a power-of-two and another set count', () => {
    // The set is `index mod sets` (set-assoc.ts header). 2 sets: 2^33 + 1 and 2^40 + 3 are odd (set 1),
    // 2^33 is even (set 0). 3 sets: 2^33 = 8589934592 ≡ 2 (mod 3), 2^33 + 3 ≡ 2, 2^33 + 1 ≡ 0.
    const two = new SetAssoc<E>({ entries: 2, ways: 1 });
    two.insert(e(2 ** 33 + 1), all);
    expect(two.insert(e(2 ** 33), all)).toBeUndefined(); // other set
    expect(two.insert(e(2 ** 40 + 3), all)?.index).toBe(2 ** 33 + 1); // same set: evicts
    const three = new SetAssoc<E>({ entries: 3, ways: 1 });
    expect(three.sets).toBe(3);
    three.insert(e(2 ** 33), all);
    expect(three.insert(e(2 ** 33 + 1), all)).toBeUndefined(); // set 0
    expect(three.insert(e(2 ** 33 + 3), all)?.index).toBe(2 ** 33); // set 2 again
    expect(three.insert(e(2 ** 45 - 1), all)).toBeUndefined(); // 2^45 − 1 ≡ 1 (mod 3): the empty set
    expect(three.entries().map((x) => x.index)).toEqual([2 ** 33 + 1, 2 ** 45 - 1, 2 ** 33 + 3]);
  });

  it('0 entries: nothing is kept, nothing is found', () => {
    const a = new SetAssoc<E>({ entries: 0, ways: 1 });
    expect(a.insert(e(1), all)).toBeUndefined();
    expect(a.find(1, all)).toBeUndefined();
    expect(a.invalidate(all)).toBe(0);
  });
});
