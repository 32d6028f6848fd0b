/**
 * src/shadow/shadow-page.ts's checked entries as mutation testing (`npm run mutate`) found them
 * unchecked: each refusal's rule id and a message that starts with the parameter's name (the
 * rule ids and texts are this library's, src/errors.ts). A page holds 512 SPTEs (mmu.h
 * SPTE_ENT_PER_PAGE), so an entry index is 0..511.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src';
import { PageRole } from '../../src/role/page-role';
import { ShadowPage } from '../../src/shadow/shadow-page';
import { refuses } from './refusal';

describe('ShadowPage refusals', () => {
  it('a role that is no PageRole', () => {
    refuses(() => new ShadowPage({ word: 0 } as unknown as PageRole, 0x400, 0x9000, 0), InvalidArgumentError, 'page-role', 'role must be a PageRole');
  });

  it('gfnOf / accessOf / setTranslation: an index outside 0..511 names i', () => {
    const sp = new ShadowPage(PageRole.pack({ level: 1, access: 7 }), 0x400, 0x9000, 0);
    for (const i of [512, -1]) {
      refuses(() => sp.gfnOf(i), InvalidArgumentError, 'integer-range', 'i must be in [0, 511]');
      refuses(() => sp.accessOf(i), InvalidArgumentError, 'integer-range', 'i must be in [0, 511]');
      refuses(() => sp.setTranslation(i, 0x10, 7), InvalidArgumentError, 'integer-range', 'i must be in [0, 511]');
    }
    expect([sp.gfnOf(511), sp.accessOf(0)]).toEqual([0, 0]); // the bounds are accepted (a fresh page records nothing)
  });
});
