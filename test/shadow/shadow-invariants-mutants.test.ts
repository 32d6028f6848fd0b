/**
 * checkShadowInvariants (src/shadow/shadow-invariants.ts), rule by rule: each rule is the model of
 * a property KVM keeps (Linux v6.16.1), and each test breaks exactly that property in a consistent
 * state — through the MMU's fields and raw SPTE writes that bypass setSpte — and expects the rule:
 * - sp-unique: one valid page per (gfn, role) (`kvm_mmu_find_shadow_page`, mmu.c:2256-2300);
 * - unsync-level: only indirect level-1 pages go unsync (`mmu_try_to_unsync_pages`, mmu.c:2917-2990,
 *   and the WARN in `kvm_unsync_page`'s caller for level > 1);
 * - leaf-pfn: a leaf maps the frame its memslot gives (`kvm_faultin_pfn`);
 * - huge-over-shadowed: no writable huge leaf where `disallow_lpage` is set (mmu.c:717-747, 3261-3283);
 * - parent-ptes / parent-ptes-count: `parent_ptes` lists exactly the SPTEs that link a page
 *   (`mmu_page_add_parent_pte` / `drop_parent_pte`, mmu.c:1815-1846);
 * - unsync-children: `unsync_children` counts the bitmap's bits (mmu.c:1864-1879, 2006-2011);
 * - upper-not-tracked / write-track-count: one write-track count per upper-level page
 *   (`account_shadowed` → `__kvm_write_track_add_gfn`, mmu.c:770-771);
 * - rmap-stale / rmap-missing: rmaps hold exactly the leaves (`rmap_add` / `rmap_remove`, mmu.c:1078-1096, 1646-1668);
 * - mmu-unsync-gauge: `mmu_unsync` counts unsync pages (mmu.c:2874, 1977);
 * - indirect-shadow-pages: `kvm->arch.indirect_shadow_pages` (mmu.c:755, 812);
 * - unsync-bit: every parent of an unsync page has its bit (`mark_unsync`, mmu.c:1881-1894);
 * - shadowed-gfn-writable: a synced shadowed table's gfn is mapped read-only (mmu.c:775);
 * - mmio-present: an MMIO SPTE is never present (`is_mmio_spte` / `is_shadow_present_pte`, spte.h).
 *
 * Equivalent mutants of shadow-invariants.ts:
 * - line 83 `sp.level !== 1` → false: an upper-level page with gPTEs has a write-tracked gfn, which
 *   no SPTE maps writable (make_spte write-protects it, spte.c:237-242; no huge leaf covers it, mmu.c:770-771).
 */
import { describe, expect, it } from 'vitest';
import { CR0, InvalidArgumentError, InvariantViolation, checkShadowInvariants, type ShadowMmu } from '../../src';
import { shadowFixture, tableOf } from './fixtures';
import { refuses } from './refusal';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const IDX = Number((VA >> 12n) & 511n);
const PD_IDX = Number((VA >> 21n) & 511n);
const W = 2n;

function mapped(hostPageSize: '4K' | '2M' = '4K') {
  const f = shadowFixture('paging4', { hostPageSize });
  f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
  expect(f.v.write(VA).status).toBe('ok');
  const m = f.vm.shadow;
  const pt = tableOf(f, VA, 1);
  const pd = tableOf(f, VA, 2);
  expect(rule(m)).toBe('');
  return { f, m, pt, pd };
}

/** The rule checkShadowInvariants reports, '' if none. */
function rule(m: ShadowMmu): string {
  try {
    checkShadowInvariants(m);
  } catch (e) {
    expect(e).toBeInstanceOf(InvariantViolation);
    return (e as InvariantViolation).rule;
  }
  return '';
}

/** The message of the violation checkShadowInvariants reports. */
function message(m: ShadowMmu): string {
  try {
    checkShadowInvariants(m);
  } catch (e) {
    return (e as InvariantViolation).message;
  }
  return '';
}

const writeTrack = (m: ShadowMmu) => (m as unknown as { writeTrack: Map<number, number> }).writeTrack;

describe('checkShadowInvariants, one broken property at a time', () => {
  it('sp-unique: two valid pages for one (gfn, role)', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true } });
    f.pt.setEntry(0x8000_0000n, 3, f.pt.getEntry(VA, 3).value & ~W); // same PD, read-only PDPTE
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.v.read(0x8000_0000n + (VA & 0x3fff_ffffn)).status).toBe('ok');
    const pds = f.vm.shadow.find(tableOf(f, VA, 2).gfn);
    expect(pds.length).toBe(2);
    expect(rule(f.vm.shadow)).toBe('');
    pds[1]!.role = pds[0]!.role;
    expect(rule(f.vm.shadow)).toBe('sp-unique');
  });

  it('unsync-level: an upper-level page marked unsync', () => {
    const { m, pd } = mapped();
    pd.unsync = true;
    expect(rule(m)).toBe('unsync-level');
  });

  it('unsync-level: a direct level-1 page marked unsync', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, 0x600_0000n, { size: '2M' });
    expect(f.v.read(VA).status).toBe('ok');
    const direct = f.vm.shadow.allPages.find((sp) => sp.role.direct && sp.level === 1)!;
    direct.unsync = true;
    f.vm.stats.inc('mmu_unsync');
    expect(rule(f.vm.shadow)).toBe('unsync-level');
  });

  it('leaf-pfn: a leaf pointed at another frame without a zap', () => {
    const { m, pt } = mapped();
    m.writeSpecialRootUnchecked(pt.pfn, IDX, m.readSpte(pt, IDX) + 0x1000n);
    expect(rule(m)).toBe('leaf-pfn');
  });

  it('huge-over-shadowed: a writable 2 MiB leaf where huge pages became disallowed', () => {
    const f = shadowFixture('paging4', { hostPageSize: '2M' });
    const HUGE = 0x600_0000n;
    f.pt.map(VA, HUGE, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.write(VA).status).toBe('ok');
    const pd = tableOf(f, VA, 2);
    expect(f.vm.shadow.readSpte(pd, PD_IDX) & (W | 0x80n)).toBe(W | 0x80n);
    expect(rule(f.vm.shadow)).toBe('');
    f.ram.lpageDisallow[0]![Number(HUGE >> 21n)]! += 1;
    expect(rule(f.vm.shadow)).toBe('huge-over-shadowed');
    // A read-only huge leaf there is allowed (only a writable one breaks Appendix A 7).
    f.vm.shadow.writeSpecialRootUnchecked(pd.pfn, PD_IDX, f.vm.shadow.readSpte(pd, PD_IDX) & ~(W | f.vm.config.mmuWritableMask));
    expect(rule(f.vm.shadow)).toBe('');
  });

  it('parent-ptes: a child that does not list the SPTE linking it', () => {
    const { m, pt } = mapped();
    pt.parentPtes.length = 0;
    expect(rule(m)).toBe('parent-ptes');
  });

  it('parent-ptes-count: a child that lists one parent SPTE too many', () => {
    const { m, pt, pd } = mapped();
    pt.parentPtes.push({ sp: pd, idx: (PD_IDX + 1) % 512 });
    expect(rule(m)).toBe('parent-ptes-count');
  });

  it('unsync-children: a count that disagrees with the bitmap', () => {
    const { m, pd } = mapped();
    pd.unsyncChildren++;
    expect(rule(m)).toBe('unsync-children');
    pd.unsyncChildren--;
    pd.unsyncChildBitmap[3] = 1;
    expect(rule(m)).toBe('unsync-children');
  });

  it('upper-not-tracked: an upper-level page whose gfn lost its write-track count', () => {
    const { m, pd } = mapped();
    writeTrack(m).delete(pd.gfn);
    expect(rule(m)).toBe('upper-not-tracked');
    expect(message(m)).toContain(`${pd} is an upper-level page whose gfn is not write-tracked`);
  });

  it('write-track-count: a gfn tracked more often than upper-level pages shadow it', () => {
    const { m, pd } = mapped();
    writeTrack(m).set(pd.gfn, 2);
    expect(rule(m)).toBe('write-track-count');
    expect(message(m)).toContain(`GFN 0x${pd.gfn.toString(16)} tracked 2×, 1 upper-level pages shadow it`);
  });

  it('write-track-underflow: zapping an upper-level page whose gfn has no write-track count (page_track.c:84)', () => {
    const { m, pd } = mapped();
    writeTrack(m).delete(pd.gfn);
    expect(() => m.zapPage(pd)).toThrow(expect.objectContaining({ rule: 'write-track-underflow' }));
  });

  it('rmap-stale: an rmap entry for an SPTE that is not a leaf', () => {
    const { m, pt } = mapped();
    m.rmap.add(Number(GPA >> 12n) + 300, 1, { sp: pt, idx: (IDX + 300) % 512 });
    expect(rule(m)).toBe('rmap-stale');
  });

  it('rmap-missing: a leaf without its rmap entry', () => {
    const { m, pt } = mapped();
    expect(m.rmap.remove(Number(GPA >> 12n), 1, { sp: pt, idx: IDX })).toBe(true);
    expect(rule(m)).toBe('rmap-missing');
  });

  it('mmu-unsync-gauge: mmu_unsync off by one', () => {
    const { f, m } = mapped();
    f.vm.stats.inc('mmu_unsync');
    expect(rule(m)).toBe('mmu-unsync-gauge');
  });

  it('mmu-unsync-gauge is satisfied by an unsync page table (counted once)', () => {
    const { f, m, pt } = mapped();
    expect(f.storePte(VA + 0x1000n, 1, (GPA + 0x1000n) | 0x63n).status).toBe('ok');
    expect(pt.unsync).toBe(true);
    expect(f.vm.stats.get('mmu_unsync')).toBe(1);
    expect(rule(m)).toBe('');
  });

  it('indirect-shadow-pages: the counter off by one', () => {
    const { m } = mapped();
    m.indirectShadowPages++;
    expect(rule(m)).toBe('indirect-shadow-pages');
  });

  it('unsync-bit: an unsync page whose parent lacks its bit', () => {
    const { f, m, pt, pd } = mapped();
    expect(f.storePte(VA + 0x1000n, 1, (GPA + 0x1000n) | 0x63n).status).toBe('ok');
    expect(pt.unsync).toBe(true);
    expect(pd.unsyncChildBitmap[PD_IDX]).toBe(1);
    pd.unsyncChildBitmap[PD_IDX] = 0;
    pd.unsyncChildren--;
    expect(rule(m)).toBe('unsync-bit');
  });

  it('shadowed-gfn-writable: a synced shadowed page table mapped writable', () => {
    const { f, m, pt } = mapped();
    // The guest's direct map of its own page table is writable: mapping it unsyncs the table
    // (mmu_try_to_unsync_pages from make_spte, spte.c:238), which may then stay writable...
    expect(f.v.read(f.dm(BigInt(pt.gfn) << 12n)).status).toBe('ok');
    expect(pt.unsync).toBe(true);
    const [p] = m.rmap.get(pt.gfn, 1);
    expect(m.readSpte(p!.sp, p!.idx) & W).toBe(W);
    expect(rule(m)).toBe('');
    // ...but a synced one may not (the gauge kept consistent).
    pt.unsync = false;
    f.vm.stats.inc('mmu_unsync', -1);
    expect(rule(m)).toBe('shadowed-gfn-writable');
    expect(message(m)).toContain(`GFN 0x${pt.gfn.toString(16)} holds a synced shadowed page table but an SPTE maps it writable`);
  });

  it('shadowed-gfn-writable is not raised for an unsync page table (its gfn may be writable)', () => {
    const { f, m, pt } = mapped();
    expect(f.storePte(VA + 0x1000n, 1, (GPA + 0x1000n) | 0x63n).status).toBe('ok');
    expect(pt.unsync).toBe(true);
    const [p] = m.rmap.get(pt.gfn, 1);
    expect(m.readSpte(p!.sp, p!.idx) & W).toBe(W);
    expect(rule(m)).toBe('');
  });

  it('mmio-present: an MMIO SPTE with the present bit', () => {
    const f = shadowFixture('paging4');
    const MMIO = 0x8000_0000n; // above the 1 GiB memslot
    f.pt.map(VA, MMIO, { flags: { writable: true } });
    expect(f.v.read(VA).status).toBe('emulated');
    const m = f.vm.shadow;
    const pt = tableOf(f, VA, 1);
    const mmio = m.readSpte(pt, IDX);
    expect(rule(m)).toBe('');
    // Present (SPTE_MMU_PRESENT_MASK, bit 11) and still MMIO; its rmap entry added so the rmap is exact.
    // (an MMIO SPTE records no translation, mmu_set_spte mmu.c:3016-3019: give it the MMIO gfn).
    m.writeSpecialRootUnchecked(pt.pfn, IDX, mmio | (1n << 11n));
    pt.setTranslation(IDX, Number(MMIO >> 12n), 7);
    m.rmap.add(Number(MMIO >> 12n), 1, { sp: pt, idx: IDX });
    expect(rule(m)).toBe('mmio-present');
    expect(message(m)).toContain(`${pt}[${IDX}] is both MMIO and present`);
  });

  it('upper-not-tracked holds for valid pages only: a zapped root still in use has no write-track count (mmu.c:2666-2667, 2090-2093)', () => {
    const { f, m } = mapped();
    const root = f.v.shadow!.ctx.root.sp!;
    m.zapPage(root);
    // kvm_mmu_prepare_zap_page: unaccount_shadowed drops the write-track count (mmu.c:2666-2667); a
    // root with a reference is not freed until its last put (mmu.c:2671, 2686-2690) and is marked invalid (mmu.c:2703).
    expect(root.role.invalid).toBe(true);
    expect(m.allPages).toContain(root);
    expect(m.writeTrackCount(root.gfn)).toBe(0);
    expect(rule(m)).toBe('');
  });

  it('shadowed-gfn-writable looks at pages with gPTEs only: the gfn of a direct page may be mapped writable', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    // Paging off: direct pages (nonpaging_page_fault, mmu.c); the level-1 one for [0, 2 MiB) has gfn 0,
    // and a write to GPA 0 maps gfn 0 writable (a direct page is not write-tracked, sp_has_gptes false).
    const v = f.vm.createVcpu({ cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n });
    expect(v.write(0x10n).status).toBe('ok');
    const m = f.vm.shadow;
    const direct = m.allPages.find((p) => p.role.direct && p.level === 1 && p.gfn === 0)!;
    expect(direct).toBeDefined();
    const [p] = m.rmap.get(0, 1);
    expect(m.readSpte(p!.sp, p!.idx) & W).toBe(W);
    expect(rule(m)).toBe('');
  });
});

describe('checkShadowInvariants refuses what is no ShadowMmu (src/errors.ts)', () => {
  it('the rule id and a message that starts with the parameter', () => {
    refuses(() => checkShadowInvariants({} as ShadowMmu), InvalidArgumentError, 'shadow-mmu', "mmu must be a ShadowMmu (a VM's vm.shadow)");
  });
});
