/**
 * Appendix A item 8 and the TDX rules of §11, checked over the whole VM in checking mode:
 * no mirror root is loaded; the mirror roots and the S-EPT hold exactly the same entries (same
 * level and gfn; leaves map the same page — but for premapped leaves, which await PAGE.ADD);
 * mirror roots hold no huge leaf; a direct-root leaf
 * never maps a gfn whose attribute is private (shared accesses never reach private frames).
 */
import { isLastSpte, spteToPfn } from '../spte/spte';
import { InvariantViolation, TdpMmu } from '../tdp/tdp-mmu';
import { checkArray, checkInt, refuse } from '../validate/checks';
import { memslotPfn, memslotPrivatePfn, type Memslot } from '../vm/memslot';
import { isGfnAlias } from './td-config';
import { Td } from './td';

export function checkTdxInvariants(td: Td, tdp: TdpMmu, loadedRootPfns: readonly number[], slotOfGfn: (gfn: number) => Memslot | undefined): void {
  if (!(td instanceof Td)) refuse('td', 'td', 'must be a Td', td);
  if (!(tdp instanceof TdpMmu)) refuse('tdp', 'tdp-mmu', 'must be the VM\'s TdpMmu', tdp);
  checkArray('loadedRootPfns', loadedRootPfns).forEach((p, i) => checkInt(`loadedRootPfns[${i}]`, p, { max: 2 ** 40 - 1 }));
  if (typeof slotOfGfn !== 'function') refuse('slotOfGfn', 'function-type', 'must be a function', slotOfGfn);
  const bits = td.config.gfnDirectBits;
  const mirror = new Map<string, number>();
  for (const root of tdp.roots) {
    if (root.role.isMirror && loadedRootPfns.includes(root.pfn)) {
      throw new InvariantViolation('tdx-mirror-loaded', `mirror root (host frame 0x${root.pfn.toString(16)}) was loaded into hardware; only the direct root is the shared EPTP`, String(root.pfn));
    }
    if (root.role.isMirror) {
      if (root.role.invalid) continue; // zapped when invalidated; only a TD teardown invalidates it
      tdp.forEachEntry(root, (level, gfn, spte) => {
        const leaf = isLastSpte(spte, level);
        if (leaf && level > 1) throw new InvariantViolation('tdx-mirror-huge', `mirror root holds a level-${level} leaf at GFN 0x${gfn.toString(16)}`, '0x' + spte.toString(16));
        mirror.set(`${level}:${gfn}`, leaf ? spteToPfn(spte) : -1);
      });
      continue;
    }
    for (const [gfn, level, spte] of tdp.leaves(root)) {
      // Direct-root gfns carry the shared bit; memslots and attributes know the natural gfn.
      if (!isGfnAlias(td.config, gfn)) throw new InvariantViolation('tdx-direct-private-alias', `direct root maps GFN 0x${gfn.toString(16)} without the shared bit`, '0x' + spte.toString(16));
      const natural = gfn - bits;
      const uniform = td.attributes.uniformLevelUnchecked(natural) >= level;
      if (slotOfGfn(natural) !== undefined && (td.attributes.isPrivateUnchecked(natural) || !uniform)) {
        throw new InvariantViolation('tdx-shared-reaches-private', `direct (shared) level-${level} leaf at GFN 0x${natural.toString(16)} covers a gfn whose attribute is private`, '0x' + spte.toString(16));
      }
      const slot = slotOfGfn(natural);
      if (slot !== undefined && spteToPfn(spte) !== memslotPfn(slot, natural)) {
        throw new InvariantViolation('leaf-pfn', `shared leaf for GFN 0x${natural.toString(16)} maps PFN 0x${spteToPfn(spte).toString(16)}, the slot says 0x${memslotPfn(slot, natural).toString(16)}`, '0x' + spte.toString(16));
      }
    }
  }
  const sept = new Map<string, number>();
  for (const e of td.sept.entries()) sept.set(`${e.level}:${e.gfn}`, e.leaf ? e.pfn : -1);
  for (const [k, pfn] of mirror) {
    const s = sept.get(k);
    // A leaf KVM_TDX_INIT_MEM_REGION mapped in the mirror awaits TDH.MEM.PAGE.ADD (premapped).
    if (s === undefined && pfn >= 0 && td.sept.isPremapped(Number(k.split(':')[1]))) continue;
    if (s === undefined) throw new InvariantViolation('tdx-mirror-without-sept', `present mirror entry ${k} (level:gfn) has no S-EPT counterpart`, k);
    if (s !== pfn) throw new InvariantViolation('tdx-mirror-sept-mismatch', `mirror entry ${k} and its S-EPT entry disagree (leaf PFN 0x${pfn.toString(16)} vs 0x${s.toString(16)})`, k);
  }
  for (const k of sept.keys()) {
    // The S-EPT root's own entries exist only while some mirror table is linked under them.
    if (!mirror.has(k)) throw new InvariantViolation('tdx-sept-without-mirror', `S-EPT entry ${k} (level:gfn) has no mirror SPTE`, k);
  }
  for (const [k, pfn] of mirror) {
    if (pfn < 0) continue;
    const gfn = Number(k.split(':')[1]);
    const slot = slotOfGfn(gfn);
    if (slot !== undefined && pfn !== memslotPrivatePfn(slot, gfn)) throw new InvariantViolation('leaf-pfn', `private leaf for GFN 0x${gfn.toString(16)} maps PFN 0x${pfn.toString(16)}, not its guest_memfd page`, k);
  }
}
