/** Shared set-up of the shadow bad-input tests: a warmed shadow-paging VM and its fingerprint. */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ShadowPage, type ShadowContext, type ShadowMmu } from '../../src';
import { shadowFixture, tableOf } from '../shadow/fixtures';
import { badInt, junk, vmFingerprint } from './support';

export const VA = 0x7000_0000n;
/** A 52-bit GPA's frame number is below 2^40 (MAXPHYADDR is at most 52, SDM Vol. 3A 4.1.4). */
export const GFN_MAX = 2 ** 40 - 1;

/** Pages, their links and counts, the write-track counts and the MMU's gauges. */
export function shadowFingerprint(m: ShadowMmu): string {
  const pages = m.allPages.map((sp) => [sp.gfn, sp.pfn, sp.role.word, sp.unsync, sp.unsyncChildren, Array.from(sp.unsyncChildBitmap).join(''), sp.parentPtes.length, sp.rootCount, sp.writeFloodingCount, sp.nxHugePageDisallowed, m.writeTrackCount(sp.gfn)]);
  return JSON.stringify({ pages, gen: m.mmuValidGen, used: m.nUsedMmuPages, ind: m.indirectShadowPages, req: m.freeObsoleteRootsRequest, active: m.activePages.size });
}

/** The vCPU's shadow context (root_mmu). */
export function ctxOf(f: { v: { mmu: unknown } }): ShadowContext {
  return (f.v.mmu as { ctx: ShadowContext }).ctx;
}

/** A 4-level KVM 6.16 guest (ACC_ALL 7, mmu.h) with one page read through the shadow tables (four shadow pages). */
export function warm() {
  const f = shadowFixture('paging4', { hostPageSize: '4K', kvm: '6.16' });
  f.pt.map(VA, 0x80_0000n, { flags: { writable: true, user: true } });
  expect(f.v.read(VA).status).toBe('ok');
  const m = f.vm.shadow;
  const pt = tableOf(f, VA, 1);
  const pd = tableOf(f, VA, 2);
  const idx = Number((VA >> 12n) & 511n);
  const ctx = ctxOf(f);
  const roots = () => JSON.stringify([ctx.root.hpa, String(ctx.root.pgd), ctx.prevRoots.map((r) => [r.hpa, String(r.pgd)]), ctx.syncRequested, ctx.tlbFlushCurrent, ctx.obsoleteSeen]);
  const state = () => vmFingerprint(f.vm) + shadowFingerprint(m) + roots();
  // A page no MMU allocated (same role, gfn and frame as a live one).
  const stranger = new ShadowPage(pt.role, pt.gfn, pt.pfn, pt.mmuValidGen);
  return { f, m, pt, pd, idx, ctx, state, stranger };
}

export const badGfn = fc.oneof(badInt(0, GFN_MAX), fc.constant(2 ** 40), fc.constant(-1));
export const badIdx = fc.oneof(badInt(0, 511), fc.constantFrom(512, -1, 4096));
/** KVM_MAX_VCPUS is at most 4096 (arch/x86/include/asm/kvm_host.h:54); -1 is "no vCPU". */
export const badVcpu = fc.oneof(badInt(-1, 4095), fc.constantFrom(4096, -2));
export const badPage = (stranger: ShadowPage) => fc.oneof(junk, fc.constant(stranger), fc.constant({ pfn: stranger.pfn, gfn: stranger.gfn }));
/** Not a ShadowMmu: other types, and an object that only looks like one from afar. */
export const badMmu = fc.oneof(junk, fc.constant({ vm: {} }), fc.constant({ readSpte: () => 0n }));
