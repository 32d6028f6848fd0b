/**
 * Bad input to the per-VM shadow MMU (src/shadow/shadow-mmu.ts): pages of another MMU or freed
 * ones, SPTE indices outside the 512 entries of a page (mmu.h SPTE_ENT_PER_PAGE), SPTE values that
 * are no u64, gfns outside a 52-bit GPA, vCPU indexes outside [-1, KVM_MAX_VCPUS), levels without
 * leaves, invalid lists that prepareZap did not build, slots that are copies. Each refusal is the
 * library's error naming the parameter and the value, and the VM (host frames, stats, events) and
 * the shadow pages' bookkeeping are unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageRole, ShadowMmu, ShadowPage, SHADOW_NONPRESENT_VALUE, mmuPageHash } from '../../src';
import { shadowFixture } from '../shadow/fixtures';
import { FC, Tally, badBigint, badBool, badInt, junk, refused, vmFingerprint } from './support';
import { GFN_MAX, VA, badGfn, badIdx, badPage, badVcpu, ctxOf, shadowFingerprint, warm } from './shadow-support';

const t = new Tally('shadow-mmu');

describe('ShadowMmu: construction', () => {
  it('new ShadowMmu: a VM context and a page budget', () => {
    const { f, state } = warm();
    for (const v of [null, undefined, 5, 'vm']) refused(t, () => new ShadowMmu(v as never), { param: 'vm', value: v, state });
    fc.assert(fc.property(badInt(1, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => new ShadowMmu(f.vm, v as number), { param: 'maxMmuPages', value: v, state })), FC);
  });
});

describe('ShadowMmu: reading SPTEs and looking pages up', () => {
  it('readSpte / isNonpresentValue / zapPte / setSpte: the page must be a live page of this MMU, the index 0..511', () => {
    const { m, pt, idx, state, stranger } = warm();
    fc.assert(fc.property(badPage(stranger), (v) => {
      refused(t, () => m.readSpte(v as ShadowPage, 0), { param: 'sp', state });
      refused(t, () => m.isNonpresentValue(v as ShadowPage, 0), { param: 'sp', state });
      refused(t, () => m.zapPte(v as ShadowPage, 0, null, -1), { param: 'sp', state });
      refused(t, () => m.setSpte(v as ShadowPage, 0, SHADOW_NONPRESENT_VALUE, -1), { param: 'sp', state });
      refused(t, () => m.zapPage(v as ShadowPage), { param: 'sp', state });
      refused(t, () => m.accountNxHugePage(v as ShadowPage, false), { param: 'sp', state });
    }), FC);
    fc.assert(fc.property(badIdx, (v) => {
      refused(t, () => m.readSpte(pt, v as number), { param: 'idx', value: v, state });
      refused(t, () => m.isNonpresentValue(pt, v as number), { param: 'idx', value: v, state });
      refused(t, () => m.zapPte(pt, v as number, null, -1), { param: 'i', value: v, state });
      refused(t, () => m.setSpte(pt, v as number, SHADOW_NONPRESENT_VALUE, -1), { param: 'idx', value: v, state });
    }), FC);
    // A valid call reads the leaf the read installed (present: bit 11 of the MMU-present mask, spte.h SPTE_MMU_PRESENT_MASK).
    expect(m.readSpte(pt, idx) & (1n << 11n)).toBe(1n << 11n);
  });

  it('childOf: a u64 SPTE that links a live page; pageAt: a frame number', () => {
    const { m, pt, state } = warm();
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => m.childOf(v as bigint), { param: 'spte', value: v, state })), FC);
    // A leaf's frame is guest RAM, not a shadow page; a non-present SPTE links nothing.
    for (const v of [m.readSpte(pt, Number((VA >> 12n) & 511n)), SHADOW_NONPRESENT_VALUE, 0n]) refused(t, () => m.childOf(v), { param: 'spte', value: v, state });
    fc.assert(fc.property(fc.oneof(badInt(0, GFN_MAX), fc.constant(-1)), (v) => refused(t, () => m.pageAt(v as number), { param: 'pfn', value: v, state })), FC);
  });

  it('gfn queries: isWriteTracked / writeTrackCount / validSpsWithGptes / find / unprotectGfn / writeProtectGfn / mmuPageHash', () => {
    const { m, state } = warm();
    fc.assert(fc.property(badGfn, (v) => {
      refused(t, () => m.isWriteTracked(v as number), { param: 'gfn', value: v, state });
      refused(t, () => m.writeTrackCount(v as number), { param: 'gfn', value: v, state });
      refused(t, () => m.validSpsWithGptes(v as number), { param: 'gfn', value: v, state });
      refused(t, () => m.find(v as number), { param: 'gfn', value: v, state });
      refused(t, () => m.unprotectGfn(v as number, -1), { param: 'gfn', value: v, state });
      refused(t, () => m.writeProtectGfn(v as number, -1), { param: 'gfn', value: v, state });
      refused(t, () => m.markDirtyIfWritable(v as number, 0n), { param: 'gfn', value: v, state });
      refused(t, () => m.lpageDisallowed(v as number, 2), { param: 'gfn', value: v, state });
      refused(t, () => mmuPageHash(v as number), { param: 'gfn', value: v });
    }), FC);
    for (const v of [null, 5, 'all', {}]) refused(t, () => m.find(0x100, v as never), { param: 'pred', value: v, state });
    fc.assert(fc.property(badVcpu, (v) => {
      refused(t, () => m.unprotectGfn(0x100, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.writeProtectGfn(0x100, v as number), { param: 'vcpu', value: v, state });
    }), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => m.markDirtyIfWritable(0x100, v as bigint), { param: 'spte', value: v, state })), FC);
    // lpage_info exists for the huge page levels 2 and 3 only (KVM_MAX_HUGEPAGE_LEVEL, kvm_host.h); level 4 was a TypeError.
    fc.assert(fc.property(fc.oneof(badInt(1, 3), fc.constantFrom(0, 4, 5)), (v) => refused(t, () => m.lpageDisallowed(0x100, v as number), { param: 'level', value: v, state })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => m.isObsolete(v as ShadowPage), { param: 'sp', state })), FC);
  });
});

describe('ShadowMmu: the SPTE-change function and links', () => {
  it('setSpte: next a u64, vcpu in range; a table link must name a page one level down; no leaf above level 3', () => {
    const { m, pt, pd, idx, state } = warm();
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => m.setSpte(pt, idx, v as bigint, -1), { param: 'next', value: v, state })), FC);
    fc.assert(fc.property(badVcpu, (v) => refused(t, () => m.setSpte(pt, idx, SHADOW_NONPRESENT_VALUE, v as number), { param: 'vcpu', value: v, state })), FC);
    const pdIdx = Number((VA >> 21n) & 511n);
    const link = m.readSpte(pd, pdIdx);
    // Present (bit 11), not a leaf (PS clear), pointing at a frame that is no shadow page: the
    // parent list cannot be kept (mmu.c: mmu_page_add_parent_pte needs the child's kvm_mmu_page).
    const nowhere = (link & ~0x000f_ffff_ffff_f000n) | (0x12345n << 12n);
    refused(t, () => m.setSpte(pd, (pdIdx + 1) % 512, nowhere, -1), { param: 'next', value: nowhere, state });
    // A link from the level-2 page to itself: a child must be one level down.
    const self = (link & ~0x000f_ffff_ffff_f000n) | (BigInt(pd.pfn) << 12n);
    refused(t, () => m.setSpte(pd, (pdIdx + 1) % 512, self, -1), { param: 'next', value: self, state });
    // A huge leaf (PS, bit 7) in a level-4 page: leaves exist at levels 1-3 (KVM_MAX_HUGEPAGE_LEVEL).
    const root = m.allPages.find((p) => p.level === 4)!;
    const huge = (1n << 11n) | (1n << 7n) | 1n | (0x4_0000n << 12n);
    refused(t, () => m.setSpte(root, 5, huge, -1), { param: 'next', value: huge, state });
  });

  it('getChildSp / childRole / linkShadowPage: parent above level 1, a child one level down, booleans, ACC', () => {
    const { f, m, pt, pd, state, stranger } = warm();
    const ctx = ctxOf(f);
    refused(t, () => m.childRole(pt, 0, false, 7), { param: 'parent', value: 1, state });
    refused(t, () => m.getChildSp(ctx, pt, 0, 0x100, false, 7), { param: 'parent', value: 1, state });
    fc.assert(fc.property(badPage(stranger), (v) => {
      refused(t, () => m.childRole(v as ShadowPage, 0, false, 7), { param: 'parent', state });
      refused(t, () => m.getChildSp(ctx, v as ShadowPage, 0, 0x100, false, 7), { param: 'parent', state });
      refused(t, () => m.linkShadowPage(v as ShadowPage, 0, pt, -1), { param: 'parent', state });
      refused(t, () => m.linkShadowPage(pd, 0, v as ShadowPage, -1), { param: 'child', state });
    }), FC);
    fc.assert(fc.property(badIdx, (v) => {
      refused(t, () => m.childRole(pd, v as number, false, 7), { param: 'idx', value: v, state });
      refused(t, () => m.getChildSp(ctx, pd, v as number, 0x100, false, 7), { param: 'idx', value: v, state });
      refused(t, () => m.linkShadowPage(pd, v as number, pt, -1), { param: 'idx', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => m.childRole(pd, 0, v as boolean, 7), { param: 'direct', value: v, state });
      refused(t, () => m.getChildSp(ctx, pd, 0, 0x100, v as boolean, 7), { param: 'direct', value: v, state });
      refused(t, () => m.accountNxHugePage(pt, v as boolean), { param: 'nxHugePagePossible', value: v, state });
    }), FC);
    // ACC_ALL is 7 in KVM 6.16 (mmu.h ACC_ALL = ACC_EXEC_MASK | ACC_WRITE_MASK | ACC_USER_MASK).
    fc.assert(fc.property(fc.oneof(badInt(0, 7), fc.constant(8)), (v) => {
      refused(t, () => m.childRole(pd, 0, false, v as number), { param: 'access', value: v, state });
      refused(t, () => m.getChildSp(ctx, pd, 0, 0x100, false, v as number), { param: 'access', value: v, state });
    }), FC);
    fc.assert(fc.property(badGfn, (v) => refused(t, () => m.getChildSp(ctx, pd, 0, v as number, false, 7), { param: 'gfn', value: v, state })), FC);
    for (const v of [null, 5, {}, { guestMem: null }]) refused(t, () => m.getChildSp(v as never, pd, 0, 0x100, false, 7), { param: 'ctx', state });
    // A level-2 page is no child of a level-2 page.
    refused(t, () => m.linkShadowPage(pd, 0, pd, -1), { param: 'child', value: 2, state });
    fc.assert(fc.property(badVcpu, (v) => refused(t, () => m.linkShadowPage(pd, 0, pt, v as number), { param: 'vcpu', value: v, state })), FC);
  });

  it('getShadowPage: a context of this VM, a gfn, a role of the VM\'s KVM version', () => {
    const { f, m, pd, state } = warm();
    const ctx = ctxOf(f);
    for (const v of [null, 5, 'ctx', {}]) refused(t, () => m.getShadowPage(v as never, 0x100, pd.role), { param: 'ctx', state });
    fc.assert(fc.property(badGfn, (v) => refused(t, () => m.getShadowPage(ctx, v as number, pd.role), { param: 'gfn', value: v, state })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => m.getShadowPage(ctx, 0x100, v as PageRole), { param: 'role', state })), FC);
    const other = PageRole.pack({ level: 2, access: 7 }, '7.3');
    refused(t, () => m.getShadowPage(ctx, 0x100, other), { param: 'role', value: '7.3', state });
  });
});

describe('ShadowMmu: zapping, roots, ranges and slots', () => {
  it('prepareZap / zapPte / commitZap / putRoot: invalid lists of live pages, prepared before a commit, a root reference to drop', () => {
    const { m, pt, pd, state, stranger } = warm();
    const root = m.allPages.find((p) => p.level === 4)!;
    expect(root.rootCount).toBe(1);
    const lists = fc.oneof(junk.filter((v) => v !== null && !Array.isArray(v)), fc.constant([stranger]), fc.constant([pt, pt]), fc.constant([5]));
    fc.assert(fc.property(lists, (v) => {
      refused(t, () => m.prepareZap(pt, v as ShadowPage[], -1), { param: 'invalid', state });
      refused(t, () => m.commitZap(v as ShadowPage[], -1), { param: 'invalid', state });
      refused(t, () => m.putRoot(root, v as ShadowPage[], -1), { param: 'invalid', state });
    }), { ...FC, numRuns: 12 });
    // commitZap frees pages that prepareZap made invalid and unlinked (mmu.c:2745-2753
    // kvm_mmu_commit_zap_page WARNs on a page still in use); a live linked page was flushed and
    // half-freed before the InvariantViolation.
    refused(t, () => m.commitZap([pt], -1), { param: 'invalid[0]', state });
    refused(t, () => m.commitZap([], 4096), { param: 'vcpu', value: 4096, state });
    // mmu_free_root_page drops root_count; a page holding none went below zero before the check.
    refused(t, () => m.putRoot(pd, [], -1), { param: 'sp', state });
    fc.assert(fc.property(badVcpu, (v) => {
      refused(t, () => m.prepareZap(pt, [], v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.zapPage(pt, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.makeMmuPagesAvailable(v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.zapAllFast(v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.zapAll(v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.zapOldest(1, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.tlbFlush(v as number, 'x'), { param: 'vcpu', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 2 ** 32 - 1)), (v) => refused(t, () => m.zapOldest(v as number, -1), { param: 'nrToZap', value: v, state })), FC);
  });

  it('tlbFlush: a reason string, optional gfn and level', () => {
    const { m, state } = warm();
    for (const v of [null, undefined, 5, {}]) refused(t, () => m.tlbFlush(-1, v as string), { param: 'why', value: v, state });
    fc.assert(fc.property(badGfn.filter((v) => v !== undefined), (v) => refused(t, () => m.tlbFlush(-1, 'x', v as number), { param: 'gfn', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 5), fc.constantFrom(0, 6)).filter((v) => v !== undefined), (v) => refused(t, () => m.tlbFlush(-1, 'x', 0, v as number), { param: 'level', value: v, state })), FC);
  });

  it('writeSpecialRoot: only a special root frame (no shadow page), an index, a u64', () => {
    const { f, m, pt, state } = warm();
    // A 4-level guest under a 4-level root has no PAE root: take a PAE guest's.
    const pae = shadowFixture('pae', { hostPageSize: '4K' });
    pae.v.read(0x1000n);
    const ctx = (pae.v.mmu as unknown as { ctx: { paeRootPfn: number } }).ctx;
    expect(ctx.paeRootPfn).toBeGreaterThanOrEqual(0);
    const pm = pae.vm.shadow;
    const pstate = () => vmFingerprint(pae.vm) + shadowFingerprint(pm);
    // A shadow page's frame changes through setSpte only; a frame that is no table is guest RAM.
    refused(t, () => m.writeSpecialRoot(pt.pfn, 0, 0n), { param: 'pfn', value: pt.pfn, state });
    refused(t, () => m.writeSpecialRoot(f.ram.pfnBase, 0, 0n), { param: 'pfn', value: f.ram.pfnBase, state });
    fc.assert(fc.property(fc.oneof(badInt(0, GFN_MAX), fc.constant(-1)), (v) => refused(t, () => pm.writeSpecialRoot(v as number, 0, 0n), { param: 'pfn', value: v, state: pstate })), FC);
    fc.assert(fc.property(badIdx, (v) => refused(t, () => pm.writeSpecialRoot(ctx.paeRootPfn, v as number, 0n), { param: 'idx', value: v, state: pstate })), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => pm.writeSpecialRoot(ctx.paeRootPfn, 0, v as bigint), { param: 'v', value: v, state: pstate })), FC);
  });

  it('zapGfnRange / ageRange / wrprotRange: gfn ranges, testOnly a boolean', () => {
    const { m, state } = warm();
    fc.assert(fc.property(badGfn, (v) => {
      refused(t, () => m.zapGfnRange(v as number, 0x1000), { param: 'start', value: v, state });
      refused(t, () => m.ageRange(v as number, 0x1000), { param: 'start', value: v, state });
      refused(t, () => m.wrprotRange(v as number, 0x1000), { param: 'start', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, GFN_MAX + 1), fc.constant(2 ** 40 + 1)), (v) => {
      refused(t, () => m.zapGfnRange(0, v as number), { param: 'end', value: v, state });
      refused(t, () => m.ageRange(0, v as number), { param: 'end', value: v, state });
      refused(t, () => m.wrprotRange(0, v as number), { param: 'end', value: v, state });
    }), FC);
    // [0x900, 0x800) is empty the wrong way round: refused, not read as nothing to do.
    refused(t, () => m.zapGfnRange(0x900, 0x800), { param: 'end', value: 0x800, state });
    fc.assert(fc.property(badBool, (v) => refused(t, () => m.ageRange(0, 0x1000, v as boolean), { param: 'testOnly', value: v, state })), FC);
    fc.assert(fc.property(badVcpu.filter((v) => v !== undefined), (v) => {
      refused(t, () => m.zapGfnRange(0, 0x1000, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.ageRange(0, 0x1000, false, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.wrprotRange(0, 0x1000, v as number), { param: 'vcpu', value: v, state });
    }), FC);
  });

  it('zapSlot / zapCollapsibleSptes: the VM\'s own slot object, not a copy', () => {
    const { f, m, state } = warm();
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ ...f.ram }), fc.constant({ baseGfn: 0, npages: 0x4_0000 })), (v) => {
      refused(t, () => m.zapSlot(v as never), { param: 'slot', state });
      refused(t, () => m.zapCollapsibleSptes(v as never), { param: 'slot', state });
    }), FC);
    fc.assert(fc.property(badVcpu.filter((v) => v !== undefined), (v) => {
      refused(t, () => m.zapSlot(f.ram, v as number), { param: 'vcpu', value: v, state });
      refused(t, () => m.zapCollapsibleSptes(f.ram, v as number), { param: 'vcpu', value: v, state });
    }), FC);
  });
});
