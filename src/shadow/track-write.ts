/**
 * Emulated guest writes to shadowed guest page tables — `kvm_mmu_track_write` (reference §8.10):
 * the emulator has written guest memory; every valid page with gPTEs at that gfn either loses the
 * SPTE(s) the written gPTE produced, or, for a misaligned write or write flooding (three writes to
 * an upper-level page without a walk through it), is zapped whole.
 */
import type { ShadowMmu } from './shadow-mmu';
import type { ShadowPage } from './shadow-page';
import { isShadowPresent } from '../spte/spte';
import { GuestMemory } from '../memory/guest-memory';
import { ShadowMmu as ShadowMmuClass } from './shadow-mmu';
import { checkBool, checkGpaNumber, checkInt, checkShadowPage, checkVcpuArg, refuse } from './check-shadow-args';

/** `detect_write_misaligned`. */
export function detectWriteMisalignedUnchecked(sp: ShadowPage, gpa: number, bytes: number): boolean {
  const offset = gpa % 4096;
  const pteSize = sp.role.hasFourByteGpte ? 4 : 8;
  // A 1-byte write at a gPTE's start (clear_bit's andb) is not misaligned.
  if ((offset & (pteSize - 1)) === 0 && bytes === 1) return false;
  return ((offset ^ (offset + bytes - 1)) & ~(pteSize - 1)) !== 0 || bytes < 4;
}

/** `detect_write_flooding`: level-1 pages can go unsync instead, so they are never flooded. */
export function detectWriteFloodingUnchecked(sp: ShadowPage): boolean {
  if (sp.level === 1) return false;
  sp.writeFloodingCount++;
  return sp.writeFloodingCount >= 3;
}

/** `get_written_sptes`: the SPTE indices a write at `gpa` affects (a 32-bit PDE is two PAE PDEs). */
export function getWrittenSptesUnchecked(sp: ShadowPage, gpa: number): number[] {
  let off = gpa % 4096;
  let n = 1;
  if (sp.role.hasFourByteGpte) {
    off <<= 1; // 32 → 64
    if (sp.level === 2) {
      off &= ~7;
      off <<= 1;
      n = 2;
    }
    const quadrant = Math.floor(off / 4096);
    off %= 4096;
    if (quadrant !== sp.role.quadrant) return [];
  }
  const first = off >>> 3;
  return n === 2 ? [first, first + 1] : [first];
}

/**
 * `kvm_mmu_track_write(vcpu, gpa, new, bytes)`, called after the emulator wrote guest memory.
 * `isPae` is the writing vCPU's CR4.PAE (a 4-byte write is widened to the 8-byte gPTE).
 */
export function kvmMmuTrackWriteUnchecked(mmu: ShadowMmu, gpaIn: number, bytesIn: number, isPae: boolean, vcpu: number): void {
  if (mmu.indirectShadowPages === 0) return;
  let gpa = gpaIn;
  let bytes = bytesIn;
  if (isPae && bytes === 4) {
    gpa -= gpa % 8;
    bytes = 8;
  }
  let gentry = 0n;
  if (bytes === 4 || bytes === 8) {
    const f = mmu.vm.guestMem.frameOfUnchecked(Math.floor(gpa / 4096));
    if (f >= 0) {
      const slab = mmu.vm.guestMem.words;
      const w = GuestMemory.wordBaseUnchecked(f) + ((gpa % 4096) >>> 2);
      gentry = bytes === 4 ? BigInt(slab[w]!) : (BigInt(slab[w + 1]!) << 32n) | BigInt(slab[w]!);
    }
  }
  const gfn = Math.floor(gpa / 4096);
  mmu.vm.stats.inc('mmu_pte_write');
  const invalid: ShadowPage[] = [];
  let flush = false;
  let zapped = 0;
  for (const sp of mmu.validSpsWithGptesUnchecked(gfn)) {
    if (sp.role.invalid) continue; // zapped by an earlier iteration
    if (detectWriteMisalignedUnchecked(sp, gpa, bytes) || detectWriteFloodingUnchecked(sp)) {
      mmu.prepareZapUnchecked(sp, invalid, vcpu);
      mmu.vm.stats.inc('mmu_flooded');
      continue;
    }
    for (const i of getWrittenSptesUnchecked(sp, gpa)) {
      const entry = mmu.readSpteUnchecked(sp, i);
      mmu.zapPteUnchecked(sp, i, null, vcpu);
      if (gentry !== 0n && sp.level !== 1) mmu.vm.stats.inc('mmu_pde_zapped');
      if (isShadowPresent(entry)) {
        flush = true;
        zapped++;
      }
    }
  }
  mmu.vm.events.recordUnchecked({ kind: 'track_write', vcpu, gpa: BigInt(gpa), code: gentry, outcome: `${bytes} bytes; ${zapped} SPTE(s) zapped${invalid.length > 0 ? `, ${invalid.length} page(s) zapped` : ''}` });
  if (invalid.length > 0) mmu.commitZapUnchecked(invalid, vcpu);
  else if (flush) mmu.tlbFlushUnchecked(vcpu, 'emulated write to a shadowed page table');
}

// ---- the public edge: checked entries (kvmMmuTrackWrite's loop calls the …Unchecked functions above) ----

/** Emulated stores of the model are 1, 2, 4 or 8 bytes (Vcpu.store); a write is at least one byte. */
function checkBytes(name: string, v: unknown): number {
  return checkInt(name, v, { min: 1, max: 8 });
}

export function detectWriteMisaligned(sp: ShadowPage, gpa: number, bytes: number): boolean {
  return detectWriteMisalignedUnchecked(checkShadowPage('sp', sp), checkGpaNumber('gpa', gpa), checkBytes('bytes', bytes));
}

export function detectWriteFlooding(sp: ShadowPage): boolean {
  return detectWriteFloodingUnchecked(checkShadowPage('sp', sp));
}

export function getWrittenSptes(sp: ShadowPage, gpa: number): number[] {
  return getWrittenSptesUnchecked(checkShadowPage('sp', sp), checkGpaNumber('gpa', gpa));
}

export function kvmMmuTrackWrite(mmu: ShadowMmu, gpaIn: number, bytesIn: number, isPae: boolean, vcpu: number): void {
  if (!(mmu instanceof ShadowMmuClass)) refuse('mmu', 'shadow-mmu', 'must be a ShadowMmu (a VM\'s vm.shadow)', mmu);
  checkGpaNumber('gpa', gpaIn);
  checkBytes('bytes', bytesIn);
  checkBool('isPae', isPae);
  kvmMmuTrackWriteUnchecked(mmu, gpaIn, bytesIn, isPae, checkVcpuArg('vcpu', vcpu));
}
