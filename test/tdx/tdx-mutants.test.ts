/**
 * src/tdx pieces asserted exactly, so that mutation testing finds a failing test for changed
 * counts and conditions: per-gfn attributes and the level a block of one attribute allows
 * (KVM_LPAGE_MIXED_FLAG), the TD address configuration, the SEAMCALLs and counters of the S-EPT
 * hooks and the refusals of the TDX module, and KVM_SET_MEMORY_ATTRIBUTES input checks. Expected
 * values cite Linux v6.16.1 (arch/x86/kvm/vmx/tdx.c, arch/x86/kvm/mmu/mmu.c, tdp_mmu.c).
 * Attributes are set explicitly where a test depends on them, so the tests do not depend on the
 * default attribute.
 *
 * Equivalent mutants of src/tdx (no observable difference; README "Mutation testing"):
 *   memory-attributes.ts:51 `before === after` → false: the bitmap loop then changes no gfn, delta 0.
 *   memory-attributes.ts:52 → true: a whole block through the bitmap loop ends at count 0/512, bitmap dropped.
 *   memory-attributes.ts:90 `n === 0` → false: a stored 0 reads as the absent key (`?? 0`).
 *   sept.ts:144, 162, 208 (op names given to `slot`): the table exists on those paths (premapped /
 *     lookup found a leaf / child table found), so the refusal carrying the name cannot happen.
 *   sept.ts:269 `f < 0` → `f <= 0`: frame 0 of the host frame store is never an S-EPT table.
 *   td-accept.ts:37 (`attempt <= 3`, `attempt--`), 46: a private fault either AUGs the page (the second
 *     accept succeeds) or returns a memory-fault exit; no path retries a third time.
 *   td-accept.ts:42 `onGuestTable` → true: the TD fault path does not read it.
 *   td-accept.ts:60 `td.dead = true` → false: the caller's kvmVmDead sets it next (vm.ts kvmVmDead).
 *   tdx-page-fault.ts:84 `!isPrivate` → true: the fast path on the direct root finds no SPTE for a
 *     natural (private) gfn and returns RET_PF_INVALID.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAttributes, isAddrDirect, isGfnAlias, makeTdConfig, memslotPfn, naturalGfn } from '../../src';
import { tdFixture, thrownRule } from './fixtures';

const GFNS_1G = 512 * 512;

/** The TDX module's refusal, or the KVM_BUG_ON KVM raises before the SEAMCALL. */
const REFUSED = ['sept-seamcall', 'tdx-kvm-bug-on'];

const rule = (f: () => unknown): string | undefined => thrownRule(f);

describe('memory attributes and the level a uniform block allows (mmu.c:7680-7700, KVM_LPAGE_MIXED_FLAG mmu.c:722)', () => {
  it('a 2M block of one attribute allows 2M; one different gfn makes the block and its 1G block mixed', () => {
    const a = new MemoryAttributes();
    a.set(0, GFNS_1G, true);
    expect(a.isPrivate(0x200)).toBe(true);
    expect(a.uniformLevel(0x200)).toBe(3); // the whole 1G block is private
    expect(a.set(0x200, 0x400, false)).toBe(0x200);
    expect(a.privateCount).toBe(GFNS_1G - 0x200);
    expect(a.isPrivate(0x1ff)).toBe(true);
    expect(a.isPrivate(0x200)).toBe(false);
    expect(a.isPrivate(0x3ff)).toBe(false);
    expect(a.isPrivate(0x400)).toBe(true);
    expect(a.uniformLevel(0x200)).toBe(2); // the 2M block [0x200, 0x400) is all shared
    expect(a.uniformLevel(0x3ff)).toBe(2);
    expect(a.uniformLevel(0x1ff)).toBe(2); // [0, 0x200) is all private, the 1G block is mixed
    expect(a.uniformLevel(0x400)).toBe(2);
    expect(a.set(0x300, 0x301, true)).toBe(1);
    expect(a.uniformLevel(0x2ff)).toBe(1);
    expect(a.uniformLevel(0x300)).toBe(1);
    expect(a.uniformLevel(0x400)).toBe(2);
    // Setting what is already set changes nothing.
    expect(a.set(0x200, 0x300, false)).toBe(0);
    expect(a.set(0x300, 0x301, true)).toBe(0);
    expect(a.privateCount).toBe(GFNS_1G - 0x1ff);
  });

  it('a whole 1G block of either attribute allows 1G', () => {
    const a = new MemoryAttributes();
    a.set(GFNS_1G, 2 * GFNS_1G, false);
    expect(a.uniformLevel(GFNS_1G + 5)).toBe(3);
    a.set(GFNS_1G, 2 * GFNS_1G, true);
    expect(a.privateCount).toBe(GFNS_1G);
    expect(a.uniformLevel(GFNS_1G + 5)).toBe(3);
    expect(a.set(GFNS_1G + 5, GFNS_1G + 6, false)).toBe(1);
    expect(a.uniformLevel(GFNS_1G + 0x300)).toBe(2);
  });
});

describe('TD address configuration (tdx.c:45-46, 1584-1585)', () => {
  it('GPAW 48: shared bit 47, 4 levels; GPAW 52: shared bit 51, 5 levels', () => {
    const c48 = makeTdConfig(48);
    expect([c48.sharedBit, c48.level, c48.gfnDirectBits, c48.gpaSharedMask]).toEqual([47, 4, 2 ** 35, 1n << 47n]);
    const c52 = makeTdConfig(52);
    expect([c52.sharedBit, c52.level, c52.gfnDirectBits, c52.gpaSharedMask]).toEqual([51, 5, 2 ** 39, 1n << 51n]);
    expect(rule(() => makeTdConfig(46))).toBe('td-gpaw');
  });

  it('direct = shared bit set; natural gfn drops it; bits above GPAW are refused', () => {
    const c = makeTdConfig(48);
    expect(isAddrDirect(c, (1n << 47n) | 0x1000n)).toBe(true);
    expect(isAddrDirect(c, (1n << 46n) | 0x1000n)).toBe(false);
    expect(isGfnAlias(c, 2 ** 35 + 7)).toBe(true);
    expect(isGfnAlias(c, 7)).toBe(false);
    expect(isGfnAlias(c, 2 ** 36 + 7)).toBe(false); // bit 48 is not the shared bit
    expect(naturalGfn(c, (1n << 47n) | 0x7000n)).toBe(7);
    expect(naturalGfn(c, (1n << 48n) - 1n)).toBe(2 ** 35 - 1);
    expect(rule(() => naturalGfn(c, -1n))).toBe('td-gpa-beyond-gpaw');
  });
});

describe('S-EPT hooks: SEAMCALLs and counters (tdx.c tdx_sept_link_private_spt, tdx_sept_set_private_spte, tdx_sept_remove_private_spte)', () => {
  for (const gpaw of [48, 52] as const) {
    it(`GPAW ${gpaw}: a first private touch adds one S-EPT table per level below the root and AUGs one page`, () => {
      const { vm, v, pt } = tdFixture(gpaw);
      const levels = gpaw === 48 ? 4 : 5;
      pt.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true } });
      const s = vm.td!.stats;
      const aug0 = s.get('page_aug');
      const add0 = s.get('sept_add');
      const tables0 = vm.td!.sept.tableCount;
      v.read(0x7000_0000n);
      expect(s.get('page_aug') - aug0).toBe(1); // tdx.c:1607, one TDH.MEM.PAGE.AUG per 4K page
      expect(vm.td!.sept.lookup(0x200)).toMatchObject({ level: 1, gfn: 0x200, leaf: true });
      // Every new S-EPT table was added by TDH.MEM.SEPT.ADD (tdx.c:1734); 0x200 is outside the 2M block of the tables.
      expect(s.get('sept_add') - add0).toBe(vm.td!.sept.tableCount - tables0);
      expect(s.get('sept_add') - add0).toBeGreaterThanOrEqual(1);
      expect(vm.td!.sept.tableCount).toBeGreaterThanOrEqual(levels);
      expect([s.get('range_block'), s.get('mem_track'), s.get('page_remove'), s.get('sept_free')]).toEqual([0, 0, 0, 0]);
      expect(s.get('shared_faults')).toBe(0);
    });
  }

  it('removing one private page: BLOCK, TRACK, REMOVE once each; the S-EPT table stays', () => {
    const { vm, v, pt } = tdFixture();
    vm.setMemoryAttributes(0n, 0x4000_0000n, 'private');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2 });
    v.read(0x7000_0000n);
    v.read(0x7000_1000n);
    const tables = vm.td!.sept.tableCount;
    const s = vm.td!.stats;
    expect(vm.unmapGfnRange(0x20_0000n, 0x20_1000n, 'private')).toBe(1);
    expect([s.get('range_block'), s.get('mem_track'), s.get('page_remove')]).toEqual([1, 1, 1]); // tdx.c:1791, 1696
    expect(s.get('sept_free')).toBe(0);
    expect(vm.td!.sept.tableCount).toBe(tables);
    expect(vm.td!.sept.lookup(0x201)?.leaf).toBe(true);
  });

  it('the TDX module refuses a second AUG, a huge AUG, an ADD over a present entry, a REMOVE of another page, a free of a used table', () => {
    const { vm, v, pt, ram } = tdFixture();
    vm.setMemoryAttributes(0n, 0x4000_0000n, 'private');
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const sept = vm.td!.sept;
    const before = sept.entries();
    const stats = JSON.stringify(vm.td!.stats);
    expect(rule(() => sept.setExternalSpte(0x200, 1, memslotPfn(ram, 0x200), -1))).toBeOneOf(REFUSED);
    expect(rule(() => sept.setExternalSpte(0x400, 2, memslotPfn(ram, 0x400), -1))).toBeOneOf(REFUSED);
    expect(rule(() => sept.linkExternalSpt(0x200, 2, -1))).toBeOneOf(REFUSED);
    expect(rule(() => sept.removeExternalSpte(0x200, 1, memslotPfn(ram, 0x200) + 1, -1))).toBeOneOf(REFUSED);
    expect(rule(() => sept.removeExternalSpte(0x201, 1, memslotPfn(ram, 0x201), -1))).toBeOneOf(REFUSED);
    expect(rule(() => sept.freeExternalSpt(0x200, 1, -1))).toBeOneOf(REFUSED); // the level-1 table maps 0x200
    expect(rule(() => sept.freeExternalSpt(0x4000_0000, 1, -1))).toBeOneOf(REFUSED); // no table there
    expect(rule(() => sept.setExternalSpte(0x4000_0000, 1, 1, -1))).toBeOneOf(REFUSED); // TDX_EPT_WALK_FAILED
    expect(sept.entries()).toEqual(before);
    expect(JSON.stringify(vm.td!.stats)).toBe(stats);
    expect(sept.lookup(0x4000_0000)).toBeUndefined();
  });
});

describe('KVM_SET_MEMORY_ATTRIBUTES input checks: typed errors, nothing changed', () => {
  it.each([
    [0x1000n, 0x1000n, 'mem-attr-range'],
    [0x2000n, 0x1000n, 'mem-attr-range'],
    [0x1001n, 0x2000n, 'mem-attr-range'],
    [0x1000n, 0x2001n, 'mem-attr-range'],
    [0n, (1n << 47n) + 0x1000n, 'mem-attr-shared-bit'],
  ])('[%s, %s) → %s', (start, end, r) => {
    const { vm } = tdFixture();
    const before = JSON.stringify(vm.td!.stats);
    const priv = vm.td!.attributes.privateCount;
    expect(rule(() => vm.setMemoryAttributes(start, end, 'shared'))).toBe(r);
    expect(JSON.stringify(vm.td!.stats)).toBe(before);
    expect(vm.td!.attributes.privateCount).toBe(priv);
  });

  it('a range ending exactly at the shared bit is fine; a bad attribute is refused', () => {
    const { vm } = tdFixture();
    const c0 = vm.td!.stats.get('attr_conversions');
    expect(rule(() => vm.setMemoryAttributes(0x7fff_ffff_f000n, 1n << 47n, 'shared'))).toBeUndefined();
    expect(vm.td!.attributes.isPrivate(2 ** 35 - 1)).toBe(false);
    expect(rule(() => vm.setMemoryAttributes(0n, 0x1000n, 'secret' as never))).toBe('mem-attr-value');
    expect(vm.td!.stats.get('attr_conversions')).toBe(c0 + 1);
  });

  it('conversions count once per call and zaps by leaves', () => {
    const { vm, v, pt } = tdFixture();
    vm.setMemoryAttributes(0n, 0x4000_0000n, 'private');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 3 });
    for (let i = 0n; i < 3n; i++) v.read(0x7000_0000n + i * 0x1000n);
    const c0 = vm.td!.stats.get('attr_conversions');
    const z0 = vm.td!.stats.get('conversion_zaps');
    expect(vm.setMemoryAttributes(0x20_0000n, 0x20_3000n, 'shared')).toBe(3);
    expect(vm.td!.stats.get('attr_conversions')).toBe(c0 + 1);
    expect(vm.td!.stats.get('conversion_zaps')).toBe(z0 + 3);
    expect(vm.setMemoryAttributes(0x20_0000n, 0x20_3000n, 'shared')).toBe(0);
    expect(vm.td!.stats.get('conversion_zaps')).toBe(z0 + 3);
  });
});

