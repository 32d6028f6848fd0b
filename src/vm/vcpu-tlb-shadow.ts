/**
 * The vCPU's hardware TLB under the MMUs whose tables KVM builds as shadows: shadow paging
 * (root_mmu without TDP: the CPU walks KVM's shadow tables, GVA → HPA, and caches linear
 * mappings tagged by VPID and PCID — KVM loads the guest's active PCID into the hardware CR3,
 * `vmx_load_mmu_pgd`, vmx.c:3453) and guest_mmu (nested EPT/NPT: the CPU walks L2's tables with
 * EPT02/NPT02 as the second dimension and caches combined mappings tagged by EPTP02, SDM Vol. 3C
 * §28.3.1). What an entry caches is what the hardware walked — the shadow SPTEs' rights, not the
 * guest's — so a guest PTE changed without INVLPG keeps translating through the old entry (the
 * stale translation KVM's unsync relies on, reference kvm-mmu.md §8.6).
 */
import type { Tlb, TlbTag, SizeIndex } from '../tlb/tlb';
import { vpnOfUnchecked } from '../tlb/tlb';
import type { ShadowMmu } from '../shadow/shadow-mmu';
import type { ShadowContext } from '../shadow/shadow-context';
import { shadowPathUnchecked } from '../shadow/sync';
import { isLastSpte, isShadowPresent } from '../spte/spte';
import type { AccessResult } from './access-result';
import { countRefs, secondRights, walkRefs2d } from './vcpu-tlb';

const SIZE_BYTES = [4096n, 2097152n, 1073741824n] as const;
const X86_W = 2n;
const X86_U = 4n;
const X86_D = 0x40n;
const X86_NX = 1n << 63n;

/** The present leaf SPTE translating `addr` (a GVA, or an nGPA for guest_mmu) in ctx's current root. */
export function shadowLeaf(mmu: ShadowMmu, ctx: ShadowContext, addr: bigint): { level: number; spte: bigint; path: bigint[] } | undefined {
  if (ctx.root.hpa < 0) return undefined;
  const p = shadowPathUnchecked(mmu, ctx, ctx.root.hpa, addr);
  const last = p[p.length - 1];
  if (last === undefined) return undefined;
  const sptes = p.map((e) => mmu.readSpteUnchecked(e.sp, e.idx));
  const spte = sptes[sptes.length - 1]!;
  return isShadowPresent(spte) && isLastSpte(spte, last.sp.level) ? { level: last.sp.level, spte, path: sptes } : undefined;
}

/**
 * The rights a linear mapping made from shadow SPTEs caches (SDM Vol. 3A §4.10.2.2): W and U
 * ANDed over the path, execute unless some entry has XD; W only when the leaf is dirty (a write
 * through a clean entry walks to set D, SDM §4.8). ACC encoding: exec 1, write 2, user 4.
 */
function shadowAcc(path: readonly bigint[]): number {
  let acc = 7;
  for (const e of path) {
    if ((e & X86_W) === 0n) acc &= ~2;
    if ((e & X86_U) === 0n) acc &= ~4;
    if ((e & X86_NX) !== 0n) acc &= ~1;
  }
  if ((path[path.length - 1]! & X86_D) === 0n) acc &= ~2;
  return acc;
}

/**
 * Shadow paging: cache the completed access's linear mapping (GVA → HPA, page size the shadow
 * leaf's), and count its memory references — the shadow levels read below the deepest paging-
 * structure-cache hit (levels above the PDPTE registers of a PAE root are none). Returns the
 * references, or undefined for an access that did not complete (nothing is cached: §4.10.2.1).
 */
export function shadowMiss(tlb: Tlb, mmu: ShadowMmu, ctx: ShadowContext, tag: TlbTag, r: AccessResult, fetch: boolean): number | undefined {
  if (r.status !== 'ok' || r.hpa === undefined) return undefined;
  const a = r.gva as bigint;
  const leaf = shadowLeaf(mmu, ctx, a);
  if (leaf === undefined) return undefined;
  const vpn = vpnOfUnchecked(a);
  const hs = ctx.hwScratch;
  const top = hs.maxLevel;
  const start = top < 4 ? top + 1 : tlb.pscLookupUnchecked(tag, vpn, top);
  const refs = Math.max(0, Math.min(start, top + 1) - leaf.level);
  for (let l = Math.max(leaf.level + 1, 2); l < start && l <= top && top >= 4; l++) tlb.pscFillUnchecked(tag, vpn, l);
  countRefs(tlb, refs, 0);
  const size = (leaf.level - 1) as SizeIndex;
  const mask = SIZE_BYTES[size] - 1n;
  const gpa = r.gpa === undefined ? 0n : (r.gpa as bigint);
  tlb.fillUnchecked({
    vpid: tag.vpid, pcid: tag.pcid, eptp: tag.eptp, vpn, size,
    // KVM's shadow SPTEs never set G (make_spte copies no global bit), so no shadow entry is global.
    global: false,
    hostFrame: Number(((r.hpa as bigint) & ~mask) >> 12n), guestFrame: Number((gpa & ~mask) >> 12n),
    acc: shadowAcc(leaf.path), pkey: 0, tdpAcc: 7, gpaKind: 'ram',
  }, fetch);
  return refs;
}

/**
 * guest_mmu (L2 on nested EPT/NPT): cache the combined mapping of a completed L2 access (the
 * smaller of L2's page and the EPT02/NPT02 page, SDM Vol. 3C §28.3.1) and count the 2D walk's
 * references through L2's tables and EPT02/NPT02 with the nested caches tagged by EPTP02.
 */
export function nestedMiss(tlb: Tlb, mmu: ShadowMmu, ctx: ShadowContext, tag: TlbTag, r: AccessResult, l2Top: number, ept: boolean, pge: boolean, fetch: boolean): number | undefined {
  if (ctx.root.hpa < 0) return undefined;
  const leafLevel = (ngfn: number): number => shadowLeaf(mmu, ctx, BigInt(ngfn) << 12n)?.level ?? 1;
  const refs = walkRefs2d(tlb, tag, r, l2Top, { rootPfn: ctx.root.hpa, top: ctx.rootRole.level, asid: ept ? -1 : tag.vpid, leafLevel });
  const g = r.guestWalk;
  if (r.status !== 'ok' || g.status !== 'ok' || r.hpa === undefined || r.gpa === undefined) return refs;
  const second = shadowLeaf(mmu, ctx, (r.gpa as bigint) & ~0xfffn);
  if (second === undefined) return refs;
  const size = (Math.min(g.level, second.level) - 1) as SizeIndex;
  const mask = SIZE_BYTES[size] - 1n;
  const last = g.trace[g.trace.length - 1];
  const globalBit = pge && last !== undefined && ((last.updated ?? last.value) & 0x100n) !== 0n;
  tlb.fillUnchecked({
    vpid: tag.vpid, pcid: tag.pcid, eptp: tag.eptp, vpn: vpnOfUnchecked(r.gva as bigint), size, global: globalBit,
    hostFrame: Number(((r.hpa as bigint) & ~mask) >> 12n), guestFrame: Number(((r.gpa as bigint) & ~mask) >> 12n),
    acc: g.pteAccess, pkey: g.pkey, tdpAcc: secondRights(second.spte, ept, ctx.hwFormat.hasAd), gpaKind: g.gpaKind,
  }, fetch);
  return refs;
}
