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
import { InvalidArgumentError, PageRole, PageSizeError, ShadowMmu, ShadowPage, SHADOW_NONPRESENT_VALUE, mmuPageHash, type MmulabError } from '../../src';
import { shadowFixture, tableOf } from '../shadow/fixtures';
import { FC, Tally, badBigint, badBool, badInt, junk, refused, refusedRule, vmFingerprint } from './support';
import { GFN_MAX, VA, badGfn, badIdx, badPage, badVcpu, ctxOf, shadowFingerprint, warm } from './shadow-support';

const t = new Tally('shadow-mmu');

describe('ShadowMmu: construction', () => {
  it('new ShadowMmu: a VM context and a page budget', () => {
    const { f, state } = warm();
    for (const v of [null, undefined, 5, 'vm']) refused(t, () => new ShadowMmu(v as never), { param: 'vm', value: v, state });
    fc.assert(fc.property(badInt(64, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => new ShadowMmu(f.vm, v as number), { param: 'maxMmuPages', value: v, state })), FC);
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

/** A refusal with its class and rule whose message starts as given (the parameter's own name, then the rule's text). */
function refusedAs(call: () => unknown, cls: abstract new (...a: never[]) => MmulabError, rule: string, text: RegExp, state?: () => string): void {
  expect(refusedRule(t, call, cls, rule, state).message).toMatch(text);
}

describe('ShadowMmu: what each refusal says, and the calls the checks let through', () => {
  it('construction: 0 pages is refused (KVM_SET_NR_MMU_PAGES refuses below KVM_MIN_ALLOC_MMU_PAGES, x86.c:6417-6418)', () => {
    const { f, state } = warm();
    refusedAs(() => new ShadowMmu(f.vm, 0), InvalidArgumentError, 'integer-range', /^maxMmuPages /, state);
    // KVM_SET_NR_MMU_PAGES: fewer than KVM_MIN_ALLOC_MMU_PAGES (64) is -EINVAL (x86.c:6417-6418), not raised to 64.
    refusedAs(() => new ShadowMmu(f.vm, 63), InvalidArgumentError, 'integer-range', /^maxMmuPages /, state);
    expect(new ShadowMmu(f.vm, 64).maxMmuPages).toBe(64);
  });

  it('lookups: find\'s predicate, getShadowPage\'s role, childOf\'s SPTE, pageAt and writeSpecialRoot\'s frame', () => {
    const { f, m, pt, state } = warm();
    const ctx = ctxOf(f);
    refusedAs(() => m.find(0x100, 5 as never), InvalidArgumentError, 'function-type', /^pred must be a function/, state);
    refusedAs(() => m.getShadowPage(ctx, 0x100, {} as PageRole), InvalidArgumentError, 'page-role', /^role must be a PageRole/, state);
    refusedAs(() => m.childOf(SHADOW_NONPRESENT_VALUE), InvalidArgumentError, 'child-sp', /^spte must be a present SPTE that links a shadow page of this MMU/, state);
    // A frame number is below 2^40 (52-bit physical addresses); the range check comes before the table check.
    refusedAs(() => m.writeSpecialRoot(2 ** 40, 0, 0n), InvalidArgumentError, 'integer-range', /^pfn /, state);
    refusedAs(() => m.writeSpecialRoot(pt.pfn, 0, 0n), InvalidArgumentError, 'special-root', /^pfn must be a host table frame that is no shadow page \(a PAE, PML4 or PML5 root\)/, state);
    const pae = shadowFixture('pae', { hostPageSize: '4K' });
    pae.v.read(0x1000n); // the entry loads the PAE root (kvm_mmu_load), whatever the access finds
    const paeRoot = ctxOf(pae).paeRootPfn;
    expect(paeRoot).toBeGreaterThanOrEqual(0);
    refusedAs(() => pae.vm.shadow.writeSpecialRoot(paeRoot, 0, -1n), InvalidArgumentError, 'bigint-range', /^v must be in/);
  });

  it('setSpte: a link to a page one level down and a leaf at level 3 are taken; the refusals name their rule', () => {
    const { m, pt, pd, state } = warm();
    const pdIdx = Number((VA >> 21n) & 511n);
    const link = m.readSpte(pd, pdIdx);
    // Another entry of the page directory linking the same page table: mmu_page_add_parent_pte (mmu.c:1798-1805) adds a parent.
    m.setSpte(pd, (pdIdx + 1) % 512, link, -1);
    expect(pt.parentPtes.map((p) => [p.sp, p.idx])).toEqual([[pd, pdIdx], [pd, (pdIdx + 1) % 512]]);
    m.setSpte(pd, (pdIdx + 1) % 512, SHADOW_NONPRESENT_VALUE, -1);
    const s2 = () => state();
    const self = (link & ~0x000f_ffff_ffff_f000n) | (BigInt(pd.pfn) << 12n);
    refusedAs(() => m.setSpte(pd, (pdIdx + 2) % 512, self, -1), InvalidArgumentError, 'child-sp', /^next must link a shadow page of level 1 of this MMU/, s2);
    const root = m.allPages.find((p) => p.level === 4)!;
    const huge = (1n << 11n) | (1n << 7n) | 1n | (0x4_0000n << 12n);
    refusedAs(() => m.setSpte(root, 5, huge, -1), PageSizeError, 'leaf-level', /^next is a leaf at level 4; leaves exist at levels 1-3 only/, s2);
    // A 1 GiB leaf in a level-3 page (KVM_MAX_HUGEPAGE_LEVEL = PG_LEVEL_1G, kvm_host.h); no checking
    // mode, so the test needs no memslot layout that allows the huge page.
    const g = shadowFixture('paging4', { hostPageSize: '4K', checking: false });
    g.pt.map(VA, 0x80_0000n, { flags: { writable: true } });
    expect(g.v.read(VA).status).toBe('ok');
    const pdpt = tableOf(g, VA, 3);
    const ones = g.vm.stats.get('pages_1g');
    const leaf1g = (g.vm.shadow.readSpte(tableOf(g, VA, 1), Number((VA >> 12n) & 511n)) & ~0x000f_ffff_ffff_f000n) | 0x80n | (0x4_0000n << 12n);
    g.vm.shadow.setSpte(pdpt, 7, leaf1g, -1);
    expect(g.vm.shadow.readSpte(pdpt, 7)).toBe(leaf1g);
    expect(g.vm.stats.get('pages_1g')).toBe(ones + 1);
  });

  it('tlbFlush without a gfn and level, and with them: one remote flush each (kvm_flush_remote_tlbs)', () => {
    const { f, m } = warm();
    const flushes = f.vm.stats.get('remote_tlb_flush');
    const from = f.vm.events.all.length;
    m.tlbFlush(0, 'a');
    m.tlbFlush(-1, 'b', 0x100, 2);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes + 2);
    expect(f.vm.events.all.slice(from).map((e) => [e.kind, e.vcpu, e.gpa, e.level, e.outcome])).toEqual([['tlb_flush', 0, null, null, 'a'], ['tlb_flush', -1, 0x10_0000n, 2, 'b']]);
  });

  it('childRole / getChildSp / linkShadowPage: what a parent and a child must be', () => {
    const { f, m, pt, pd, state } = warm();
    const ctx = ctxOf(f);
    refusedAs(() => m.childRole(pt, 0, false, 7), PageSizeError, 'child-level', /^parent must be above level 1 \(a level-1 page has no child pages\)/, state);
    // kvm_mmu_child_role (mmu.c:2386-2430) is a function of the parent's role: a page of another MMU will do.
    const outsider = new ShadowPage(pd.role, pd.gfn, pd.pfn, pd.mmuValidGen);
    const r = m.childRole(outsider, 3, true, 5);
    expect([r.level, r.direct, r.access, r.passthrough]).toEqual([1, true, 5, false]);
    // getChildSp reads and links the parent's entries: only a live page of this MMU.
    refusedAs(() => m.getChildSp(ctx, outsider, 0, 0x100, false, 7), InvalidArgumentError, 'shadow-page-unknown', /^parent is not a live shadow page of this MMU/, state);
    refusedAs(() => m.linkShadowPage(pd, 0, pd, -1), PageSizeError, 'child-level', /^child must be a page of level 1 \(one below its parent\)/, state);
  });

  it('prepareZap / zapPte / putRoot / commitZap: names, lists, vCPUs; only prepared pages are committed', () => {
    const { f, m, pt, pd, idx, state, stranger } = warm();
    refusedAs(() => m.prepareZap(stranger, [], -1), InvalidArgumentError, 'shadow-page-unknown', /^sp /, state);
    refusedAs(() => m.zapPte(pt, 512, null, -1), InvalidArgumentError, 'integer-range', /^i /, state);
    refused(t, () => m.zapPte(pt, idx, [stranger], -1), { param: 'invalid', state });
    refusedAs(() => m.zapPte(pt, idx, [], 4096), InvalidArgumentError, 'integer-range', /^vcpu /, state);
    const root = m.allPages.find((p) => p.level === 4)!;
    refusedAs(() => m.putRoot(stranger, [], -1), InvalidArgumentError, 'shadow-page-unknown', /^sp /, state);
    refusedAs(() => m.putRoot(pd, [], -1), InvalidArgumentError, 'root-count', /^sp holds no root reference to drop/, state);
    refusedAs(() => m.putRoot(root, [], 4096), InvalidArgumentError, 'integer-range', /^vcpu /, state);
    // nr_to_zap is at most 2^32 - 1 here (the model's domain: more than any page budget).
    refusedAs(() => m.zapOldest(2 ** 32, -1), InvalidArgumentError, 'integer-range', /^nrToZap /, state);
    // A page allocated and never linked is valid: not prepared, so not committed (kvm_mmu_commit_zap_page frees what prepare put on the list).
    const fresh = m.getShadowPage(ctxOf(f), 0x300, pt.role);
    const s1 = () => state() + fresh.role.word;
    refusedAs(() => m.commitZap([fresh], -1), InvalidArgumentError, 'zap-not-prepared', /^invalid\[0\] must be a page prepareZap put on the list \(invalid, unlinked, no root reference\)/, s1);
    // The loaded root, prepared: invalid but still referenced (root_count 1, mmu.c:2743 WARN_ON_ONCE).
    const held: ShadowPage[] = [];
    m.prepareZap(root, held, -1);
    expect([root.role.invalid, root.rootCount, held]).toEqual([true, 1, []]);
    refusedAs(() => m.commitZap([root], -1), InvalidArgumentError, 'zap-not-prepared', /^invalid\[0\] /);
    // A prepared page linked again through setSpte: invalid, unreferenced, but with a parent (mmu.c:2745 WARN_ON_ONCE on parent_ptes).
    const l: ShadowPage[] = [];
    m.prepareZap(fresh, l, -1);
    expect(l).toEqual([fresh]);
    const pdIdx = Number((VA >> 21n) & 511n);
    m.setSpte(pd, (pdIdx + 1) % 512, (m.readSpte(pd, pdIdx) & ~0x000f_ffff_ffff_f000n) | (BigInt(fresh.pfn) << 12n), -1);
    expect(fresh.parentPtes.length).toBe(1);
    refusedAs(() => m.commitZap([fresh], -1), InvalidArgumentError, 'zap-not-prepared', /^invalid\[0\] /);
    expect(m.allPages).toContain(fresh);
  });

  it('zapPte: with a list or without one, the entry goes', () => {
    const { m, pt, idx } = warm();
    expect(m.zapPte(pt, idx, null, -1)).toBe(0);
    expect(m.readSpte(pt, idx)).toBe(SHADOW_NONPRESENT_VALUE);
    const { m: m2, pt: pt2, idx: idx2 } = warm();
    expect(m2.zapPte(pt2, idx2, [], -1)).toBe(0);
    expect(m2.readSpte(pt2, idx2)).toBe(SHADOW_NONPRESENT_VALUE);
  });
});
