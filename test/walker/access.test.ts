/**
 * encodeAccess (src/walker/access.ts): the packed access of every valid object — PFERR W/U/FETCH
 * and the two flags, as the SDM's error-code bits (Vol. 3A §4.7) and the flags above bit 16 — and
 * the same typed error as the rules in order (object, kind, boolean flags, implicit is supervisor)
 * for everything else, over the product of kinds and flag values, including objects that are not
 * plain (a getter, a prototype's field, an extra key).
 */
import { describe, expect, it } from 'vitest';
import { ACCESS_AC, ACCESS_IMPLICIT, InvalidArgumentError, encodeAccess, type Access } from '../../src';

const W = 2;
const U = 4;
const F = 16;

/** The rules written out one by one, independently of the packed fast path. */
function expected(a: unknown): number | string {
  if (typeof a !== 'object' || a === null) return 'access-object';
  const o = a as Record<string, unknown>;
  if (o.kind !== 'read' && o.kind !== 'write' && o.kind !== 'fetch') return 'access-kind';
  for (const f of ['user', 'implicit', 'ac']) if (o[f] !== undefined && typeof o[f] !== 'boolean') return 'access-flag';
  if (o.implicit === true && o.user === true) return 'implicit-is-supervisor';
  return (o.kind === 'write' ? W : 0) | (o.kind === 'fetch' ? F : 0) | (o.user === true ? U : 0) | (o.implicit === true ? ACCESS_IMPLICIT : 0) | (o.ac === true ? ACCESS_AC : 0);
}

function outcome(a: unknown): number | string {
  try {
    return encodeAccess(a as Access);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).rule;
  }
}

describe('encodeAccess', () => {
  const kinds: unknown[] = ['read', 'write', 'fetch', 'READ', '', undefined, 1, null];
  const flags: unknown[] = [undefined, true, false, 1, 0, 'yes', null, {}];
  it('packs every valid access and refuses the rest with the first broken rule', () => {
    let valid = 0;
    for (const kind of kinds) {
      for (const user of flags) {
        for (const implicit of flags) {
          for (const ac of flags) {
            const a: Record<string, unknown> = { kind };
            if (user !== undefined) a.user = user;
            if (implicit !== undefined) a.implicit = implicit;
            if (ac !== undefined) a.ac = ac;
            const want = expected(a);
            expect(outcome(a), JSON.stringify(a)).toBe(want);
            // The same fields present but undefined: absent.
            expect(outcome({ kind, user, implicit, ac })).toBe(want);
            if (typeof want === 'number') valid++;
          }
        }
      }
    }
    // 3 kinds × (user, implicit, ac) ∈ {absent, true, false}³, less user = implicit = true (3 of them).
    expect(valid).toBe(3 * (27 - 3));
  });

  it('refuses what is not an object', () => {
    for (const a of [undefined, null, 'write', 2, 2n, true]) expect(outcome(a)).toBe('access-object');
  });

  it('reads fields through getters and prototypes as an object with those fields', () => {
    const proto = { kind: 'write', user: true };
    expect(encodeAccess(Object.create(proto) as Access)).toBe(W | U);
    const g = { get kind() { return 'fetch'; }, ac: true } as unknown as Access;
    expect(encodeAccess(g)).toBe(F | ACCESS_AC);
    expect(encodeAccess({ kind: 'read', extra: 1 } as unknown as Access)).toBe(0);
    expect(outcome(Object.create({ kind: 'read', user: 'yes' }))).toBe('access-flag');
  });

  it('names the refused value', () => {
    expect(() => encodeAccess({ kind: 'write', implicit: 1 } as unknown as Access)).toThrow(/true or false/);
    expect(() => encodeAccess({ kind: 'poke' } as unknown as Access)).toThrow(/read, write or fetch/);
    expect(() => encodeAccess({ kind: 'read', user: true, implicit: true })).toThrow(/supervisor access/);
  });
});
