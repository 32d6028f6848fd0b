/**
 * Reference Appendix A for the shadow MMU, checked over the whole state after every operation in
 * checking mode: (3) every indirect level-1 page is write-protected or unsync with the bits set
 * on the way from its parents; (4) upper-level indirect pages are never unsync and their gfns are
 * write-tracked; (6) one valid page per (gfn, role); (7) no writable huge leaf over a range whose
 * huge pages are disallowed; plus the bookkeeping KVM relies on: exact rmaps and parent lists,
 * unsync-children counts, gauges, and leaves that reach the frame the memslot says.
 */
import { isLastSpte, isMmioSpte, isShadowPresent, isWritable, spteToPfn } from '../spte/spte';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { memslotPfn } from '../vm/memslot';
import type { ShadowMmu } from './shadow-mmu';
import type { ShadowPage } from './shadow-page';
import { ShadowMmu as ShadowMmuClass } from './shadow-mmu';
import { refuse } from './check-shadow-args';

function fail(rule: string, msg: string, v: string | number = ''): never {
  throw new InvariantViolation(rule, msg, String(v));
}

export function checkShadowInvariantsUnchecked(mmu: ShadowMmu): void {
  const pages = mmu.allPages;
  const rmapSeen = new Map<string, number>();
  const parentSeen = new Map<ShadowPage, number>();
  const keys = new Set<string>();
  let unsync = 0;
  let indirect = 0;
  const track = new Map<number, number>();
  for (const sp of pages) {
    const valid = !mmu.isObsoleteUnchecked(sp);
    if (valid) {
      const k = `${sp.gfn}:${sp.role.word}`;
      if (keys.has(k)) fail('sp-unique', `two valid shadow pages for GFN 0x${sp.gfn.toString(16)} role 0x${sp.role.word.toString(16)}`);
      keys.add(k);
    }
    if (!sp.role.invalid && sp.hasGptes) {
      indirect++;
      if (sp.level > 1) track.set(sp.gfn, (track.get(sp.gfn) ?? 0) + 1);
    }
    if (sp.unsync) {
      unsync++;
      if (sp.level !== 1 || !sp.hasGptes) fail('unsync-level', `${sp} is unsync but only indirect level-1 pages may be`);
    }
    let bits = 0;
    for (let i = 0; i < 512; i++) {
      if (sp.unsyncChildBitmap[i]) bits++;
      const spte = mmu.readSpteUnchecked(sp, i);
      if (!isShadowPresent(spte)) continue;
      if (isLastSpte(spte, sp.level)) {
        const gfn = sp.gfnOfUnchecked(i);
        rmapSeen.set(`${gfn - (gfn % 2 ** (9 * (sp.level - 1)))}:${sp.level}:${sp.pfn}:${i}`, 1);
        const slot = mmu.vm.slotOfGfn(gfn);
        if (slot !== undefined && spteToPfn(spte) !== memslotPfn(slot, gfn - (gfn % 2 ** (9 * (sp.level - 1))))) {
          fail('leaf-pfn', `${sp} entry ${i} maps PFN 0x${spteToPfn(spte).toString(16)}, the slot says 0x${memslotPfn(slot, gfn).toString(16)} for GFN 0x${gfn.toString(16)}`);
        }
        // lpageDisallowed is false at level 1 (no huge page there), so a 4K leaf never trips this.
        if (isWritable(spte) && mmu.lpageDisallowedUnchecked(gfn, sp.level)) {
          fail('huge-over-shadowed', `writable level-${sp.level} leaf over GFN 0x${gfn.toString(16)} where huge pages are disallowed`);
        }
      } else {
        const child = mmu.childOfUnchecked(spte);
        parentSeen.set(child, (parentSeen.get(child) ?? 0) + 1);
        if (!child.parentPtes.some((p) => p.sp === sp && p.idx === i)) fail('parent-ptes', `${child} lacks its parent link from ${sp}[${i}]`);
      }
    }
    if (bits !== sp.unsyncChildren) fail('unsync-children', `${sp} counts ${sp.unsyncChildren} unsync children but has ${bits} bits set`);
    if (valid && sp.hasGptes && sp.level > 1 && mmu.writeTrackCountUnchecked(sp.gfn) === 0) fail('upper-not-tracked', `${sp} is an upper-level page whose gfn is not write-tracked`);
  }
  for (const sp of pages) {
    if ((parentSeen.get(sp) ?? 0) !== sp.parentPtes.length) fail('parent-ptes-count', `${sp} lists ${sp.parentPtes.length} parents, ${parentSeen.get(sp) ?? 0} SPTEs link it`);
  }
  let rmapCount = 0;
  for (const [gfn, level, p] of mmu.rmap.entries()) {
    rmapCount++;
    if (!rmapSeen.has(`${gfn}:${level}:${p.sp.pfn}:${p.idx}`)) fail('rmap-stale', `rmap (GFN 0x${gfn.toString(16)}, level ${level}) points at a non-leaf or another gfn`);
  }
  if (rmapCount !== rmapSeen.size) fail('rmap-missing', `${rmapSeen.size} leaves but ${rmapCount} rmap entries`);
  if (unsync !== mmu.vm.stats.get('mmu_unsync')) fail('mmu-unsync-gauge', `mmu_unsync = ${mmu.vm.stats.get('mmu_unsync')} but ${unsync} pages are unsync`);
  if (indirect !== mmu.indirectShadowPages) fail('indirect-shadow-pages', `indirect_shadow_pages = ${mmu.indirectShadowPages}, counted ${indirect}`);
  for (const [gfn, n] of track) if (mmu.writeTrackCountUnchecked(gfn) !== n) fail('write-track-count', `GFN 0x${gfn.toString(16)} tracked ${mmu.writeTrackCountUnchecked(gfn)}×, ${n} upper-level pages shadow it`);
  // Appendix A 3: a level-1 indirect page is write-protected everywhere, or unsync and reachable by bits.
  for (const sp of pages) {
    if (mmu.isObsoleteUnchecked(sp) || !sp.hasGptes || sp.level !== 1) continue;
    if (sp.unsync) {
      for (const p of sp.parentPtes) if (!p.sp.unsyncChildBitmap[p.idx]) fail('unsync-bit', `unsync ${sp} but its parent ${p.sp} lacks bit ${p.idx}`);
      continue;
    }
    for (let level = 1; level <= 3; level++) {
      for (const p of mmu.rmap.getUnchecked(sp.gfn, level)) {
        if (isWritable(mmu.readSpteUnchecked(p.sp, p.idx))) fail('shadowed-gfn-writable', `GFN 0x${sp.gfn.toString(16)} holds a synced shadowed page table but an SPTE maps it writable`);
      }
    }
  }
  // MMIO SPTEs are never in the rmap.
  for (const sp of pages) for (let i = 0; i < 512; i++) if (isMmioSpte(mmu.config, mmu.readSpteUnchecked(sp, i)) && isShadowPresent(mmu.readSpteUnchecked(sp, i))) fail('mmio-present', `${sp}[${i}] is both MMIO and present`);
}

/** The checked entry: a ShadowMmu (the VM's checking mode calls checkShadowInvariantsUnchecked). */
export function checkShadowInvariants(mmu: ShadowMmu): void {
  if (!(mmu instanceof ShadowMmuClass)) refuse('mmu', 'shadow-mmu', 'must be a ShadowMmu (a VM\'s vm.shadow)', mmu);
  checkShadowInvariantsUnchecked(mmu);
}
