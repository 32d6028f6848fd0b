/**
 * Bad input to checkShadowInvariants (src/shadow/shadow-invariants.ts): anything but a ShadowMmu
 * (a plain object read `allPages` of undefined: a TypeError). The VM is unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { checkShadowInvariants, type ShadowMmu } from '../../src';
import { FC, Tally, refused } from './support';
import { badMmu, warm } from './shadow-support';

const t = new Tally('shadow-invariants');

describe('checkShadowInvariants', () => {
  it('refuses what is no ShadowMmu', () => {
    const { m, state } = warm();
    fc.assert(fc.property(badMmu, (v) => refused(t, () => checkShadowInvariants(v as ShadowMmu), { param: 'mmu', state })), FC);
    checkShadowInvariants(m); // the warmed VM holds every invariant
  });
});
