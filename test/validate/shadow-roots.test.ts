/**
 * Bad input to the root functions (src/shadow/roots.ts: kvm_mmu_load, kvm_mmu_free_roots,
 * kvm_mmu_new_pgd, kvm_invalidate_pcid and the root syncs): a shadow MMU that is none, a context
 * of another VM, previous-root indices outside 0..2 (KVM_MMU_NUM_PREV_ROOTS = 3), CR3 values that
 * are no u64, PCIDs above 12 bits. Refusals name parameter and value; roots and pages unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, freeRoots, freeAllRoots, mmuLoad, syncRoots, syncPrevRoots, newPgd, freeObsoleteRoots, pcidOf, invalidatePcid, type ShadowMmu, type ShadowContext } from '../../src';
import { FC, Tally, badBigint, badBool, badInt, junk, refused, refusedRule } from './support';
import { badMmu, ctxOf, warm } from './shadow-support';
import { shadowFixture } from '../shadow/fixtures';

const t = new Tally('shadow-roots');

describe('roots', () => {
  it('every function: the VM\'s ShadowMmu and a ShadowContext of that VM', () => {
    const { m, ctx, state } = warm();
    const other = ctxOf(shadowFixture('paging4'));
    const calls = [
      (a: ShadowMmu, c: ShadowContext) => freeRoots(a, c, { current: true }),
      (a: ShadowMmu, c: ShadowContext) => freeAllRoots(a, c),
      (a: ShadowMmu, c: ShadowContext) => mmuLoad(a, c, 0n),
      (a: ShadowMmu, c: ShadowContext) => syncRoots(a, c),
      (a: ShadowMmu, c: ShadowContext) => syncPrevRoots(a, c),
      (a: ShadowMmu, c: ShadowContext) => newPgd(a, c, 0n),
      (a: ShadowMmu, c: ShadowContext) => freeObsoleteRoots(a, c),
      (a: ShadowMmu, c: ShadowContext) => invalidatePcid(a, c, 0, 0n, false),
    ];
    fc.assert(fc.property(badMmu, (v) => {
      refused(t, () => freeRoots(v as ShadowMmu, ctx, { current: true }), { param: 'mmu', state });
      refused(t, () => freeAllRoots(v as ShadowMmu, ctx), { param: 'mmu', state });
      refused(t, () => mmuLoad(v as ShadowMmu, ctx, 0n), { param: 'mmu', state });
      refused(t, () => syncRoots(v as ShadowMmu, ctx), { param: 'mmu', state });
      refused(t, () => syncPrevRoots(v as ShadowMmu, ctx), { param: 'mmu', state });
      refused(t, () => newPgd(v as ShadowMmu, ctx, 0n), { param: 'mmu', state });
      refused(t, () => freeObsoleteRoots(v as ShadowMmu, ctx), { param: 'mmu', state });
      refused(t, () => invalidatePcid(v as ShadowMmu, ctx, 0, 0n, false), { param: 'mmu', state });
    }), { ...FC, numRuns: 10 });
    // A context of another VM (its roots are pages of that VM's MMU).
    for (const v of [...[null, 5, {}, 'ctx'], other]) for (const call of calls) refused(t, () => call(m, v as ShadowContext), { param: 'ctx', state });
  });

  it('freeRoots: which is an object, current a boolean, prev distinct indices 0..2', () => {
    const { m, ctx, state } = warm();
    for (const v of [null, 5, 'all', []]) refused(t, () => freeRoots(m, ctx, v as never), { param: 'which', value: v, state });
    fc.assert(fc.property(badBool, (v) => refused(t, () => freeRoots(m, ctx, { current: v as boolean }), { param: 'which.current', value: v, state })), FC);
    for (const v of [null, 5, 'prev', {}]) refused(t, () => freeRoots(m, ctx, { prev: v as never }), { param: 'which.prev', value: v, state });
    fc.assert(fc.property(fc.oneof(badInt(0, 2), fc.constant(3)), (v) => refused(t, () => freeRoots(m, ctx, { prev: [v as number] }), { param: 'which.prev[0]', value: v, state })), FC);
    refused(t, () => freeRoots(m, ctx, { prev: [1, 1] }), { param: 'which.prev[1]', value: 1, state });
  });

  it('mmuLoad / newPgd / pcidOf / invalidatePcid: CR3 values, PCIDs, PCIDE', () => {
    const { m, ctx, state } = warm();
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => mmuLoad(m, ctx, v as bigint), { param: 'pgd', value: v, state });
      refused(t, () => newPgd(m, ctx, v as bigint), { param: 'pgd', value: v, state });
      refused(t, () => pcidOf(v as bigint, true), { param: 'pgd', value: v });
      refused(t, () => invalidatePcid(m, ctx, 0, v as bigint, true), { param: 'activePgd', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => pcidOf(0n, v as boolean), { param: 'pcide', value: v });
      refused(t, () => invalidatePcid(m, ctx, 0, 0n, v as boolean), { param: 'pcide', value: v, state });
    }), FC);
    // PCIDs are 12 bits (SDM Vol. 3A 4.10.1).
    fc.assert(fc.property(fc.oneof(badInt(0, 0xfff), fc.constant(0x1000)), (v) => refused(t, () => invalidatePcid(m, ctx, v as number, 0n, true), { param: 'pcid', value: v, state })), FC);
    void junk;
  });

  it('the refusals name their rule and say what was expected: shadow-mmu, duplicate-root', () => {
    const { m, ctx, state } = warm();
    const a = refusedRule(t, () => syncRoots({ vm: {} } as unknown as ShadowMmu, ctx), InvalidArgumentError, 'shadow-mmu', state);
    expect(a.message).toMatch(/^mmu must be a ShadowMmu \(a VM's vm\.shadow\)/);
    // KVM_MMU_ROOT_PREVIOUS(i) is one bit of a mask (kvm_host.h:445): an index can only be named once.
    const b = refusedRule(t, () => freeRoots(m, ctx, { prev: [2, 0, 2] }), InvalidArgumentError, 'duplicate-root', state);
    expect(b.message).toMatch(/^which\.prev\[2\] is listed twice/);
  });
});
