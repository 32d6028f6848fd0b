import { describe, expect, it } from 'vitest';
import { PageRole } from '../../src/role/page-role';
import { ShadowPage } from '../../src/shadow/shadow-page';

/**
 * A shadow page's per-entry translation against arch/x86/kvm/mmu/mmu.c of Linux v6.16.1:
 * `kvm_mmu_page_get_gfn` (mmu.c:639-648), `kvm_mmu_page_get_access` (mmu.c:656-674),
 * `kvm_mmu_page_set_translation` (mmu.c:676-692), `sp_has_gptes` (mmu.c:1975-1984), and which
 * pages keep `shadowed_translation` (indirect pages of level ≤ KVM_MAX_HUGEPAGE_LEVEL = 3,
 * mmu.c:2325-2326).
 */
const role = (f: Parameters<typeof PageRole.pack>[0]) => PageRole.pack({ access: 7, ...f });

describe('ShadowPage translation', () => {
  it('an indirect level-1 page records the gfn and access of each entry; unset entries read 0', () => {
    const sp = new ShadowPage(role({ level: 1 }), 0x400, 0x9000, 0);
    sp.setTranslation(3, 0x1234, 5);
    expect(sp.gfnOf(3)).toBe(0x1234);
    expect(sp.accessOf(3)).toBe(5);
    expect(sp.gfnOf(4)).toBe(0);
    expect(sp.accessOf(4)).toBe(0);
  });

  it('indirect pages of levels 2 and 3 keep shadowed_translation too; level 4 computes the gfn', () => {
    for (const level of [2, 3]) {
      const sp = new ShadowPage(role({ level }), 0x400, 0x9000, 0);
      sp.setTranslation(1, 0x777, 3);
      expect(sp.gfnOf(1)).toBe(0x777);
      expect(sp.accessOf(1)).toBe(3);
    }
    const l4 = new ShadowPage(role({ level: 4, access: 6 }), 0, 0x9000, 0);
    l4.setTranslation(1, 0x777, 3); // no shadowed_translation: nothing recorded
    // sp->gfn + (index << ((level - 1) * 9)), mmu.c:647
    expect(l4.gfnOf(1)).toBe(1 << 27);
    expect(l4.gfnOf(2)).toBe(2 * (1 << 27));
    expect(l4.accessOf(1)).toBe(6);
  });

  it('a direct page maps its gfn range linearly with the role access (mmu.c:647, 673)', () => {
    const d1 = new ShadowPage(role({ level: 1, direct: true, access: 5 }), 0x200, 0x9000, 0);
    d1.setTranslation(7, 0x999, 1);
    expect(d1.gfnOf(7)).toBe(0x207);
    expect(d1.accessOf(7)).toBe(5);
    const d2 = new ShadowPage(role({ level: 2, direct: true, access: 3 }), 0x40000, 0x9000, 0);
    expect(d2.gfnOf(5)).toBe(0x40000 + 5 * 512);
    expect(d2.accessOf(5)).toBe(3);
  });

  it('a passthrough page answers its own gfn for every entry (mmu.c:641-642)', () => {
    const sp = new ShadowPage(role({ level: 4, passthrough: true }), 0x55, 0x9000, 0);
    expect(sp.gfnOf(0)).toBe(0x55);
    expect(sp.gfnOf(300)).toBe(0x55);
    const l3 = new ShadowPage(role({ level: 3, passthrough: true }), 0x66, 0x9000, 0);
    expect(l3.gfnOf(5)).toBe(0x66);
  });

  it('sp_has_gptes: neither direct nor passthrough', () => {
    expect(new ShadowPage(role({ level: 1 }), 1, 2, 0).hasGptes).toBe(true);
    expect(new ShadowPage(role({ level: 1, direct: true }), 1, 2, 0).hasGptes).toBe(false);
    expect(new ShadowPage(role({ level: 4, passthrough: true }), 1, 2, 0).hasGptes).toBe(false);
  });

  it('level follows the role (which zapping replaces with an invalid copy)', () => {
    const sp = new ShadowPage(role({ level: 2 }), 1, 2, 0);
    expect(sp.level).toBe(2);
    sp.role = sp.role.with({ invalid: true });
    expect(sp.level).toBe(2);
  });

  it('describes itself by gfn, level, role word and its unsync/invalid state (for InvariantViolation messages)', () => {
    const sp = new ShadowPage(role({ level: 2 }), 0x1a2, 0x9000, 0);
    const w = sp.role.word.toString(16);
    expect(String(sp)).toBe(`ShadowPage(gfn 0x1a2, level 2, role 0x${w})`);
    sp.unsync = true;
    expect(String(sp)).toBe(`ShadowPage(gfn 0x1a2, level 2, role 0x${w}, unsync)`);
    sp.unsync = false;
    sp.role = sp.role.with({ invalid: true });
    expect(String(sp)).toBe(`ShadowPage(gfn 0x1a2, level 2, role 0x${sp.role.word.toString(16)}, invalid)`);
  });

  it('starts with no parents, no root references, not unsync, not NX-disallowed (kvm_mmu_alloc_shadow_page, mmu.c:2315-2340: a zeroed page header)', () => {
    const sp = new ShadowPage(role({ level: 1 }), 1, 2, 0);
    expect(sp.parentPtes).toEqual([]);
    expect([sp.rootCount, sp.unsyncChildren, sp.writeFloodingCount]).toEqual([0, 0, 0]);
    expect([sp.unsync, sp.nxHugePageDisallowed]).toEqual([false, false]);
  });
});

