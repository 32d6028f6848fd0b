/** Counters: names and numbered slots address the same counters (the hot paths count by slot). */
import { describe, expect, it } from 'vitest';
import { Counters, counterSlot } from '../../src/events/stats';
import { InvalidArgumentError } from '../../src/errors';

const NAMES = ['a', 'b', 'c'] as const;

describe('Counters', () => {
  it('inc/get by name and add/at by slot are the same counter; snapshot keeps the name order; reset zeroes', () => {
    const c = new Counters(NAMES);
    const b = counterSlot(NAMES, 'b');
    expect(b).toBe(1); // NAMES[1]
    c.inc('b');
    c.add(b, 2);
    c.inc('c', 5);
    c.max('a', 4);
    c.max('a', 3);
    expect([c.get('a'), c.get('b'), c.at(b), c.get('c')]).toEqual([4, 3, 3, 5]);
    expect(Object.entries(c.snapshot())).toEqual([['a', 4], ['b', 3], ['c', 5]]);
    c.reset();
    expect(c.snapshot()).toEqual({ a: 0, b: 0, c: 0 });
  });

  it('counterSlot refuses a name the list does not have', () => {
    expect(() => counterSlot(NAMES as readonly string[], 'd')).toThrow(InvalidArgumentError);
  });
});
