import { InvalidArgumentError } from '../errors';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';

/** Inputs shared by the x86 (non-EPT) guest formats: CPUID facts and the cpu_role bits that matter. */
export interface X86FormatParams {
  maxPhyAddr: number;
  /** EFER.NXE */
  nx: boolean;
  /** CPUID GBPAGES */
  gbpages: boolean;
  /** CR4.PSE */
  pse: boolean;
  /** guest CPUID is AMD-compatible */
  amd: boolean;
  cr0Wp: boolean;
  cr4Smep: boolean;
  cr4Smap: boolean;
  /** cpu_role.ext.cr4_pke (long mode only) */
  cr4Pke: boolean;
  /** Which KVM's ACC encoding and permissions[] width. Default DEFAULT_KVM_VERSION ('7.3'). */
  kvm?: KvmVersion;
}

export function checkMaxPhyAddr(m: number): void {
  if (!Number.isInteger(m) || m < 32 || m > 52) {
    throw new InvalidArgumentError('maxphyaddr-range', 'MAXPHYADDR must be an integer from 32 to 52', String(m));
  }
}

export function x86Name(mode: string, p: X86FormatParams): string {
  const flags = [
    p.nx ? 'NX' : null,
    p.gbpages ? 'GBPAGES' : null,
    p.pse ? 'PSE' : null,
    p.amd ? 'AMD' : null,
    p.cr0Wp ? 'WP' : null,
    p.cr4Smep ? 'SMEP' : null,
    p.cr4Smap ? 'SMAP' : null,
    p.cr4Pke ? 'PKE' : null,
  ].filter((x) => x !== null);
  return `${mode} (MAXPHYADDR ${p.maxPhyAddr}${flags.length ? ', ' + flags.join(' ') : ''}${(p.kvm ?? DEFAULT_KVM_VERSION) === '7.3' ? ', KVM 7.3' : ''})`;
}
