/**
 * What KVM does to the MMU after a register write, decided on the bits that changed, not on the
 * role: `x86.c: kvm_post_set_cr0` (x86.c:1096-1131), `kvm_post_set_cr4` (x86.c:1301-1339) and
 * `kvm_set_efer` (x86.c:1752-1753). A change of a KVM_MMU_*_ROLE_BITS bit (mmu.h:40-44) resets
 * the MMU context even when the computed role is the same — e.g. CR4.LA57 set before long mode,
 * which the role tracks as 0 there.
 */
import { CR0, CR4, EFER, type PagingRegisters } from '../cpu/registers';
import { checkRegisterTypes } from '../cpu/check-registers';
import { checkBool } from '../validate/checks';

/** mmu.h:40-41. */
export const KVM_MMU_CR4_ROLE_BITS = CR4.PSE | CR4.PAE | CR4.LA57 | CR4.SMEP | CR4.SMAP | CR4.PKE;
/** mmu.h:43. */
export const KVM_MMU_CR0_ROLE_BITS = CR0.PG | CR0.WP;
/** mmu.h:44. */
export const KVM_MMU_EFER_ROLE_BITS = EFER.LME | EFER.NXE;

export interface RegisterWriteEffects {
  /** `kvm_mmu_reset_context`: roots unloaded (all of them, previous roots included), MMU re-initialised. */
  resetContext: boolean;
  /** CR0.WP alone toggled with paging on and TDP: `kvm_init_mmu` only, the roots stay. */
  initOnly: boolean;
  /** Shadow paging and CR4.PCIDE 0→1: `kvm_mmu_unload` (stale prev_roots must not be reused). */
  unload: boolean;
  /** KVM_REQ_TLB_FLUSH_GUEST: CR0.PG cleared, CR4.PGE toggled, CR4.PCIDE 1→0. */
  flushGuest: boolean;
  /** Which bits decided it, e.g. `CR4.LA57`. */
  why: string[];
}

const NAMES: [string, bigint, bigint][] = [
  ['CR0.PG', CR0.PG, 0n],
  ['CR0.WP', CR0.WP, 0n],
  ['CR4.PSE', 0n, CR4.PSE],
  ['CR4.PAE', 0n, CR4.PAE],
  ['CR4.LA57', 0n, CR4.LA57],
  ['CR4.SMEP', 0n, CR4.SMEP],
  ['CR4.SMAP', 0n, CR4.SMAP],
  ['CR4.PKE', 0n, CR4.PKE],
];

export function registerWriteEffects(old: PagingRegisters, regs: PagingRegisters, tdpEnabled: boolean): RegisterWriteEffects {
  checkRegisterTypes('old', old);
  checkRegisterTypes('regs', regs);
  checkBool('tdpEnabled', tdpEnabled);
  const cr0x = old.cr0 ^ regs.cr0;
  const cr4x = old.cr4 ^ regs.cr4;
  const eferx = old.efer ^ regs.efer;
  const why: string[] = [];
  for (const [name, c0, c4] of NAMES) if ((cr0x & c0) !== 0n || (cr4x & c4) !== 0n) why.push(name);
  if ((eferx & EFER.LME) !== 0n) why.push('EFER.LME');
  if ((eferx & EFER.NXE) !== 0n) why.push('EFER.NX');
  // kvm_post_set_cr0: a WP-only toggle returns early (paging off: nothing; TDP: kvm_init_mmu).
  const wpOnly = cr0x === CR0.WP && cr4x === 0n && eferx === 0n;
  const pagingOn = (regs.cr0 & CR0.PG) !== 0n;
  let resetContext = (cr0x & KVM_MMU_CR0_ROLE_BITS) !== 0n || (cr4x & KVM_MMU_CR4_ROLE_BITS) !== 0n || (eferx & KVM_MMU_EFER_ROLE_BITS) !== 0n;
  let initOnly = false;
  if (wpOnly && (!pagingOn || tdpEnabled)) {
    resetContext = false;
    initOnly = pagingOn;
  }
  const pcideOn = (regs.cr4 & CR4.PCIDE) !== 0n && (old.cr4 & CR4.PCIDE) === 0n;
  const pcideOff = (regs.cr4 & CR4.PCIDE) === 0n && (old.cr4 & CR4.PCIDE) !== 0n;
  if (pcideOn && !tdpEnabled) why.push('CR4.PCIDE 0→1');
  const flushGuest = ((cr0x & CR0.PG) !== 0n && !pagingOn) || (cr4x & CR4.PGE) !== 0n || pcideOff;
  if ((cr4x & CR4.PGE) !== 0n) why.push('CR4.PGE');
  if (pcideOff) why.push('CR4.PCIDE 1→0');
  return { resetContext, initOnly, unload: pcideOn && !tdpEnabled, flushGuest, why };
}
