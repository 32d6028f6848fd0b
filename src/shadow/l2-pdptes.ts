/**
 * A PAE L2's PDPTEs read at L2's CR3, an nGPA, through L1's EPT12/NPT12. Used where the PDPTE
 * registers come from memory while L2 runs on guest_mmu: KVM's `load_pdptrs` on the nested
 * walk_mmu (x86.c:1043-1048 translates CR3 with `kvm_translate_gpa` → `translate_nested_gpa`,
 * x86.c:7634-7646, i.e. guest_mmu's walk of EPT12/NPT12), and what the CPU's own PDPTE load of a
 * MOV to CR3 that KVM does not intercept reads once EPT02/NPT02 map the PDPT as EPT12/NPT12 do
 * (NestedEptMmu models that load through EPT02 with its exits, and uses this for its checks). The
 * translation is a peek: no A/D bit of EPT12/NPT12 is set.
 */
import { gpa as mkGpa } from '../address/address';
import { GpaOutsideMemoryError, InvalidRegisterStateError, hex } from '../errors';
import type { GuestMemory } from '../memory/guest-memory';
import type { NgpaWalker } from '../nested/ngpa-walker';
import { pdpteRsvdBits } from '../nested/vmcs12-pdptes';

/**
 * The four PDPTEs at `base` (32-byte aligned: CR3[31:5]) in L1 memory, 0 where no slot backs them
 * (a failed read is a not-present PDPTE). The PDPT lies in one frame, so one frame lookup decides
 * for all four.
 */
export function readPdptesUnchecked(mem: GuestMemory, base: bigint): bigint[] {
  if (mem.frameOfUnchecked(Number(base >> 12n)) < 0) return [0n, 0n, 0n, 0n];
  return [0, 1, 2, 3].map((i) => mem.read64(mkGpa(base + BigInt(i * 8))));
}

/** Where `writeL2Registers` takes a PAE L2's PDPTEs from (keep them; the CPU's MOV to CR3; KVM's load_pdptrs). */
export const L2_PDPTE_SOURCES = Object.freeze(['keep', 'mov-cr3', 'load-pdptrs'] as const);

export interface L2PdpteRead {
  /** The page-fault error code bits of the translation (W|U for load_pdptrs, x86.c:1047-1048). */
  pfec: number;
  /** 'EPT12' or 'NPT12', for messages. */
  table: 'EPT12' | 'NPT12';
  /** What an unmapped PDPT would be (the error's explanation). */
  unmapped: string;
  /**
   * What a present PDPTE with a reserved bit does (the error's explanation), or undefined when
   * nothing checks them here (they are returned as read).
   */
  reserved: string | undefined;
}

/**
 * L2's PDPTEs at `cr3` (an nGPA) through `ngpa`. Throws InvalidRegisterStateError 'l2-pdpt-unmapped'
 * when EPT12/NPT12 does not map the PDPT, GpaOutsideMemoryError when it maps it outside L1 memory,
 * and InvalidRegisterStateError 'l2-pdpte-reserved' for a present PDPTE with a reserved bit when
 * `how.reserved` is set.
 */
export function l2PdptesThroughNgpa(ngpa: NgpaWalker, cr3: bigint, how: L2PdpteRead): bigint[] {
  const base = cr3 & 0xffffffe0n;
  const g = ngpa.peekFrame(Number(base >> 12n), how.pfec);
  if (g < 0) throw new InvalidRegisterStateError('l2-pdpt-unmapped', `L2's PAE PDPT at nGPA ${hex(base)} is not mapped by ${how.table} (${how.unmapped})`, hex(cr3));
  const l1 = BigInt(g) * 4096n + (base & 0xfffn);
  // A slot's never-written frame reads as zeros (frameOf is -1 for it too): only a GPA no slot covers is refused.
  if (ngpa.mem.slotOfUnchecked(g) === undefined) throw new GpaOutsideMemoryError('l2-pdpt-outside-l1-memory', `L2's PAE PDPT maps to L1 GPA ${hex(l1)}, which no memory slot covers`, hex(cr3));
  const out = readPdptesUnchecked(ngpa.mem, l1);
  if (how.reserved !== undefined) {
    const bad = pdpteRsvdBits(ngpa.mem.maxPhyAddr);
    out.forEach((v, i) => {
      if ((v & 1n) !== 0n && (v & bad) !== 0n) {
        throw new InvalidRegisterStateError('l2-pdpte-reserved', `L2's PDPTE${i} has reserved bits ${hex(v & bad)} set: ${how.reserved}`, hex(v));
      }
    });
  }
  return out;
}
