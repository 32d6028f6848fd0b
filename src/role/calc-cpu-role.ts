/**
 * `mmu.c: kvm_calc_cpu_role` (reference §2.4), preceded by the validity checks that
 * `kvm_set_cr0` / `kvm_set_cr4` / `kvm_valid_efer` / `kvm_set_cr3` apply, so that an impossible
 * register combination is an error naming the rule rather than a role no CPU could have.
 */
import { InvalidRegisterStateError, hex } from '../errors';
import { CR0, CR4, EFER, type CpuFeatures, type PagingRegisters } from '../cpu/registers';
import { accEncoding } from '../format/acc';
import { checkCpuFeatures, checkRegisterTypes } from '../cpu/check-registers';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';
import { PageRole } from './page-role';
import { CpuRole } from './cpu-role';

const CR4_KNOWN =
  CR4.VME | CR4.PVI | CR4.TSD | CR4.DE | CR4.PSE | CR4.PAE | CR4.MCE | CR4.PGE | CR4.PCE | CR4.OSFXSR |
  CR4.OSXMMEXCPT | CR4.UMIP | CR4.LA57 | CR4.VMXE | CR4.SMXE | CR4.FSGSBASE | CR4.PCIDE | CR4.OSXSAVE |
  CR4.SMEP | CR4.SMAP | CR4.PKE | CR4.CET | CR4.PKS;
const EFER_KNOWN = EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE | EFER.SVME;

function bad(rule: string, message: string, value: bigint): never {
  throw new InvalidRegisterStateError(rule, message, hex(value));
}

/** Check the registers against the architecture and the guest's CPUID. Throws on the first violation. */
export function validatePagingRegisters(regs: PagingRegisters, features: CpuFeatures): void {
  checkRegisterTypes('regs', regs);
  checkCpuFeatures('features', features);
  const { cr0, cr4, efer, cr3 } = regs;
  if (cr0 >> 32n !== 0n) bad('cr0-reserved', 'CR0 bits 63:32 are reserved', cr0);
  if ((cr0 & CR0.PG) !== 0n && (cr0 & CR0.PE) === 0n) bad('cr0-pg-without-pe', 'CR0.PG=1 requires CR0.PE=1', cr0);
  if ((cr0 & CR0.NW) !== 0n && (cr0 & CR0.CD) === 0n) bad('cr0-nw-without-cd', 'CR0.NW=1 requires CR0.CD=1', cr0);
  if ((cr4 & ~CR4_KNOWN) !== 0n) bad('cr4-reserved', 'CR4 has reserved bits set', cr4);
  if ((efer & ~EFER_KNOWN) !== 0n) bad('efer-reserved', 'EFER has reserved bits set', efer);
  if ((cr4 & CR4.LA57) !== 0n && !features.la57) bad('cr4-la57-unsupported', 'CR4.LA57 set but CPUID lacks LA57', cr4);
  if ((cr4 & CR4.SMEP) !== 0n && !features.smep) bad('cr4-smep-unsupported', 'CR4.SMEP set but CPUID lacks SMEP', cr4);
  if ((cr4 & CR4.SMAP) !== 0n && !features.smap) bad('cr4-smap-unsupported', 'CR4.SMAP set but CPUID lacks SMAP', cr4);
  if ((cr4 & CR4.PKE) !== 0n && !features.pku) bad('cr4-pke-unsupported', 'CR4.PKE set but CPUID lacks PKU', cr4);
  if ((efer & EFER.NXE) !== 0n && !features.nx) bad('efer-nx-unsupported', 'EFER.NXE set but CPUID lacks NX', efer);

  const pg = (cr0 & CR0.PG) !== 0n;
  const lme = (efer & EFER.LME) !== 0n;
  const lma = (efer & EFER.LMA) !== 0n;
  const pae = (cr4 & CR4.PAE) !== 0n;
  if (pg && lme && !pae) bad('long-mode-without-pae', 'CR0.PG=1 with EFER.LME=1 requires CR4.PAE=1', cr4);
  if (lma && !pae) bad('lma-without-pae', 'EFER.LMA=1 (long mode active) requires CR4.PAE=1', cr4);
  if (lma !== (pg && lme)) {
    bad('lma-inconsistent', 'EFER.LMA must equal CR0.PG && EFER.LME (the CPU sets it, it cannot disagree)', efer);
  }
  // CR4.LA57=1 outside long mode is legal — an OS sets it before enabling long mode, and the SDM
  // forbids only *changing* it while EFER.LMA=1. KVM ignores it then (cr4_la57 = LMA && LA57).
  if ((cr4 & CR4.PCIDE) !== 0n && !lma) bad('pcide-outside-long-mode', 'CR4.PCIDE=1 requires long mode', cr4);

  // CR3: in long mode bits 63 (PCID no-flush, consumed by MOV) and 62:MAXPHYADDR must be clear;
  // outside long mode only bits 31:0 exist.
  if (lma) {
    if ((cr3 & ~(1n << 63n)) >> BigInt(features.maxPhyAddr) !== 0n) {
      bad('cr3-beyond-maxphyaddr', `CR3 sets bits at or above MAXPHYADDR ${features.maxPhyAddr}`, cr3);
    }
  } else if (cr3 >> 32n !== 0n) {
    bad('cr3-high-bits-outside-long-mode', 'CR3 is 32 bits wide outside long mode', cr3);
  }
}

/**
 * `kvm_calc_cpu_role`. Validates first. `kvm` picks the role layout: 7.3 puts CR4.SMEP in
 * `base.cr4_smep` (no `smep_andnot_wp`), sets `ext.has_pferr_fetch = CR4.SMEP || EFER.NXE` and
 * `base.access = ACC_ALL = 0xF` (kvm-7x.md §3.3, INFERRED there from the fields: no 7.x C text of
 * this function was read). Paging off: as in 6.16, only direct/access/smm/guest_mode/valid are
 * set (has_pferr_fetch stays 0; INFERRED, KVM returns before the paging bits).
 */
export function calcCpuRole(regs: PagingRegisters, features: CpuFeatures, kvm: KvmVersion = DEFAULT_KVM_VERSION): CpuRole {
  validatePagingRegisters(regs, features);
  const { cr0, cr4, efer } = regs;
  const ACC_ALL = accEncoding(kvm).ALL;
  const smm = regs.smm ? 1 : 0;
  const guestMode = regs.guestMode ?? false;
  if ((cr0 & CR0.PG) === 0n) {
    // Paging off: level 0, direct=1; nothing else about paging is tracked.
    return CpuRole.ofUnchecked(PageRole.packUnchecked({ access: ACC_ALL, smm, guestMode, direct: true }, kvm), { valid: true });
  }
  const wp = (cr0 & CR0.WP) !== 0n;
  const smep = (cr4 & CR4.SMEP) !== 0n;
  const smap = (cr4 & CR4.SMAP) !== 0n;
  const pae = (cr4 & CR4.PAE) !== 0n;
  const lma = (efer & EFER.LMA) !== 0n;
  const la57 = (cr4 & CR4.LA57) !== 0n;
  const nx = (efer & EFER.NXE) !== 0n;
  const v73 = kvm === '7.3';
  // The registers are validated above: every field below is in range by construction.
  const base = PageRole.packUnchecked({
    access: ACC_ALL,
    smm,
    guestMode,
    eferNx: nx,
    cr0Wp: wp,
    smepAndnotWp: !v73 && smep && !wp,
    cr4Smep: v73 && smep,
    smapAndnotWp: smap && !wp,
    hasFourByteGpte: !pae,
    level: lma ? (la57 ? 5 : 4) : pae ? 3 : 2,
  }, kvm);
  return CpuRole.ofUnchecked(base, {
    valid: true,
    cr4Smep: !v73 && smep,
    hasPferrFetch: v73 && (smep || nx),
    cr4Smap: smap,
    cr4Pse: (cr4 & CR4.PSE) !== 0n,
    cr4Pke: lma && (cr4 & CR4.PKE) !== 0n,
    cr4La57: lma && la57,
    eferLma: lma,
  });
}
