import { describe, expect, it } from 'vitest';
import { InvariantViolation, checkTdxInvariants, KVM_MIRROR_ROOTS, SHADOW_NONPRESENT_VALUE, memslotPfn, newPageFault, spteIndex } from '../../src';
import { tdFixture, thrownRule } from './fixtures';

const rule = (f: () => unknown): string | undefined => thrownRule(f, InvariantViolation);

describe('TDX invariants (checking mode)', () => {
  it('hold through faults, conversions and zaps', () => {
    const { vm, v, pt, shared } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n, { count: 8, flags: { writable: true } });
    pt.map(0x7100_0000n, 0x20_0000n | shared, { count: 8, flags: { writable: true } });
    for (let i = 0n; i < 8n; i++) v.write(0x7000_0000n + i * 0x1000n);
    vm.setMemoryAttributes(0x20_0000n, 0x20_4000n, 'shared');
    for (let i = 0n; i < 4n; i++) v.write(0x7100_0000n + i * 0x1000n);
    vm.zapAllFast();
    vm.setMemoryAttributes(0x20_0000n, 0x20_2000n, 'private');
    expect(() => vm.afterOperation()).not.toThrow();
  });

  it('an S-EPT entry removed behind the hooks\' back is caught (mirror entry without S-EPT)', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    vm.td!.sept.corruptForTest(0x200, 1, 0n);
    expect(rule(() => vm.afterOperation())).toBe('tdx-mirror-without-sept');
  });

  it('an S-EPT entry no mirror SPTE accounts for is caught', () => {
    const { vm, v, pt, ram } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    vm.td!.sept.corruptForTest(0x205, 1, (BigInt(memslotPfn(ram, 0x205)) << 12n) | 7n);
    expect(rule(() => vm.afterOperation())).toBe('tdx-sept-without-mirror');
  });

  it('a shared leaf over a gfn whose attribute became private without the zap is caught', () => {
    const { vm, v, pt, shared } = tdFixture();
    vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
    pt.map(0x7100_0000n, 0x30_0000n | shared);
    v.read(0x7100_0000n);
    vm.td!.attributes.set(0x300, 0x301, true); // bypasses KVM_SET_MEMORY_ATTRIBUTES (no zap)
    expect(rule(() => vm.afterOperation())).toBe('tdx-shared-reaches-private');
    // The rule asks the slot lookup it is given: a gfn it reports without a memslot is not checked.
    const roots = [v.currentRoot!.pfn];
    expect(rule(() => checkTdxInvariants(vm.td!, vm.tdp, roots, (g) => vm.slotOfGfn(g)))).toBe('tdx-shared-reaches-private');
    expect(rule(() => checkTdxInvariants(vm.td!, vm.tdp, roots, () => undefined))).toBeUndefined();
  });

  it('a shared 2M leaf whose block became mixed without the zap is caught, though its first gfn is still shared (KVM_LPAGE_MIXED_FLAG, mmu.c:7763-7777)', () => {
    const { vm, v, pt, shared } = tdFixture();
    vm.setMemoryAttributes(0x40_0000n, 0x60_0000n, 'shared');
    pt.map(0x7200_0000n, 0x40_0000n | shared);
    expect(v.read(0x7200_0000n).status).toBe('ok');
    expect(vm.tdp.leaves(v.currentRoot!).map(([g, l]) => [g, l])).toEqual([[0x400 + Number(shared >> 12n), 2]]);
    vm.td!.attributes.set(0x405, 0x406, true); // bypasses KVM_SET_MEMORY_ATTRIBUTES (no zap)
    expect(vm.td!.attributes.isPrivate(0x400)).toBe(false);
    expect(rule(() => vm.afterOperation())).toBe('tdx-shared-reaches-private');
  });

  it('mirror SPTEs are never modified in place (aging the mirror is a KVM_BUG)', () => {
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    expect(rule(() => vm.tdp.ageRange(0x200, 0x201, -1, KVM_MIRROR_ROOTS))).toBe('mirror-in-place');
    expect(() => vm.afterOperation()).not.toThrow(); // nothing changed
  });

  it('a refused SEAMCALL restores the frozen mirror SPTE (set_external_spte_present failure path)', () => {
    const { vm, v, pt, ram } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2 });
    v.read(0x7000_0000n); // builds the mirror and S-EPT tables down to level 1 for 0x200..
    vm.td!.sept.corruptForTest(0x201, 1, (BigInt(memslotPfn(ram, 0x201)) << 12n) | 7n); // AUG will find it present
    // (The CPU would now find 0x201 through the S-EPT, so drive the fault path directly.)
    const mirror = v.currentMirrorRoot!;
    const f = newPageFault(0x20_1000n, 2n);
    Object.assign(f, { slot: ram, pfn: memslotPfn(ram, 0x201), mapWritable: true });
    expect(rule(() => vm.tdp.map(f, mirror, 0, v.stats))).toBe('sept-seamcall');
    const [sp, idx] = vm.tdp.lastSpte(mirror, 0x201);
    expect(idx).toBe(spteIndex(0x201, 1));
    expect(vm.tdp.readSpte(sp, idx)).toBe(SHADOW_NONPRESENT_VALUE); // not left FROZEN
  });

  it('the S-EPT refuses a huge private leaf (4K only in v6.16) and stays unchanged', () => {
    const { vm } = tdFixture();
    const before = vm.td!.sept.entries();
    expect(rule(() => vm.td!.sept.setExternalSpte(0x400, 2, 0x1234, -1))).toBe('sept-seamcall');
    expect(vm.td!.sept.entries()).toEqual(before);
  });
});

describe('S-EPT view', () => {
  it('lists the S-EPT entries beside their mirror SPTEs', async () => {
    const { tdxSeptBundle } = await import('../../src');
    const { vm, v, pt } = tdFixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const text = tdxSeptBundle(vm)['text/plain'];
    expect(text).toContain('0x200000');
    expect(text).not.toContain('MISSING');
    vm.td!.sept.corruptForTest(0x205, 1, 7n << 12n | 7n);
    expect(tdxSeptBundle(vm)['text/plain']).toContain('MISSING');
  });
});
