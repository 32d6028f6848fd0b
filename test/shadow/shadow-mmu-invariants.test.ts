/**
 * What the shadow MMU asserts about its own state (src/shadow/shadow-mmu.ts, checking mode), each
 * the model of a KVM WARN/BUG, provoked by breaking the state through the MMU's own methods.
 * Each must raise InvariantViolation with its rule and leave the SPTE as it was. Linux v6.16.1:
 * - a present leaf that changes PFN without a zap: mmu_spte_update's WARN_ON_ONCE (mmu.c:510-511);
 * - Writable ⇒ MMU-writable ⇒ Host-writable: check_spte_writable_invariants (spte.h:452-461);
 * - reserved bits in a new SPTE: make_spte's WARN_ONCE(is_rsvd_spte(shadow_zero_check)) (spte.c:248-250);
 * - removing an rmap entry that is not there: pte_list_remove's KVM_BUG_ON_DATA_CORRUPTION (mmu.c:1091-1096);
 * - freeing a page still linked or loaded: kvm_mmu_commit_zap_page's WARN_ON_ONCE (mmu.c:2743);
 * - dropping a root reference nobody holds: mmu_free_root_page's --sp->root_count (mmu.c:3715).
 */
import { describe, expect, it } from 'vitest';
import { InvariantViolation, SHADOW_NONPRESENT_VALUE } from '../../src';
import { shadowFixture, tableOf } from './fixtures';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const IDX = Number((VA >> 12n) & 511n);

function mapped() {
  const f = shadowFixture('paging4', { hostPageSize: '4K' });
  f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
  expect(f.v.read(VA).status).toBe('ok');
  const sp = tableOf(f, VA, 1);
  return { f, sp, m: f.vm.shadow, leaf: f.vm.shadow.readSpte(sp, IDX) };
}

function violation(fn: () => unknown): InvariantViolation {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvariantViolation);
    return e as InvariantViolation;
  }
  throw new Error('no InvariantViolation');
}

function rule(fn: () => unknown): string {
  return violation(fn).rule;
}

describe('setSpte refuses what KVM warns about, before writing', () => {
  it('a present leaf pointed at another PFN (mmu.c:510-511)', () => {
    const { f, sp, m, leaf } = mapped();
    const changes = f.vm.stats.get('spte_changes');
    expect(rule(() => m.setSpte(sp, IDX, leaf + 0x1000n, 0))).toBe('leaf-pfn-change');
    expect(m.readSpte(sp, IDX)).toBe(leaf);
    expect(f.vm.stats.get('spte_changes')).toBe(changes);
  });

  it('a writable SPTE without MMU-writable, and an MMU-writable one without Host-writable (spte.h:452-461)', () => {
    const { f, sp, m, leaf } = mapped();
    const c = f.vm.config;
    expect(rule(() => m.setSpte(sp, IDX, (leaf | 2n) & ~c.mmuWritableMask, 0))).toBe('spte-writable-states');
    expect(rule(() => m.setSpte(sp, IDX, (leaf | c.mmuWritableMask) & ~c.hostWritableMask & ~2n, 0))).toBe('spte-writable-states');
    expect(m.readSpte(sp, IDX)).toBe(leaf);
  });

  it('a new leaf with a physical-address bit at the host MAXPHYADDR (spte.c:248-250)', () => {
    const { f, sp, m, leaf } = mapped();
    const free = 300;
    expect(m.readSpte(sp, free)).toBe(SHADOW_NONPRESENT_VALUE);
    const bad = leaf | (1n << BigInt(f.vm.config.hostMaxPhyAddr));
    expect(rule(() => m.setSpte(sp, free, bad, 0))).toBe('spte-reserved-bits');
    expect(m.readSpte(sp, free)).toBe(SHADOW_NONPRESENT_VALUE);
  });

  it('zapping a leaf the rmap does not hold (mmu.c:1091-1096)', () => {
    const { sp, m, leaf } = mapped();
    const gfn = Number(GPA >> 12n);
    expect(m.rmap.remove(gfn, 1, { sp, idx: IDX })).toBe(true);
    const e = violation(() => m.setSpte(sp, IDX, SHADOW_NONPRESENT_VALUE, 0));
    expect(e.rule).toBe('rmap-missing');
    // The report names the gfn and shows the SPTE that was to be dropped.
    expect(e.message).toContain(`leaf SPTE for GFN 0x${gfn.toString(16)} was not in the rmap`);
    expect(e.value).toBe('0x' + leaf.toString(16));
    expect(m.readSpte(sp, IDX)).toBe(leaf);
  });

  it('unlinking a child that does not list its parent SPTE (drop_parent_pte → pte_list_remove, mmu.c:1844)', () => {
    const { f, m } = mapped();
    const pd = tableOf(f, VA, 2);
    const pt = tableOf(f, VA, 1);
    const pdIdx = Number((VA >> 21n) & 511n);
    pt.parentPtes.length = 0;
    expect(rule(() => m.setSpte(pd, pdIdx, SHADOW_NONPRESENT_VALUE, 0))).toBe('parent-pte-missing');
  });

  it('a non-leaf SPTE whose frame holds no shadow page', () => {
    const { m, leaf } = mapped();
    // A leaf's frame is guest memory, not a shadow page (spte_to_child_sp of a non-table).
    expect(rule(() => m.childOfUnchecked(leaf))).toBe('child-sp'); // the engine's own check (the public childOf refuses it as bad input)
  });
});

describe('page lifetime', () => {
  it('freeing a page that a parent still links (mmu.c:2743)', () => {
    const { f, m } = mapped();
    const pt = tableOf(f, VA, 1);
    expect(pt.parentPtes.length).toBe(1);
    expect(rule(() => m.commitZapUnchecked([pt], 0))).toBe('free-linked-sp');
    expect(m.allPages).toContain(pt);
  });

  it('dropping a root reference of a page nobody loaded (mmu.c:3715)', () => {
    const { f, m } = mapped();
    const pt = tableOf(f, VA, 1);
    expect(pt.rootCount).toBe(0);
    const e = violation(() => m.putRootUnchecked(pt, [], 0));
    expect(e.rule).toBe('root-count');
    expect(e.message).toContain('root count below zero');
    expect(e.value).toBe('-1');
  });
});
