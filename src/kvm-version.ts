/**
 * Which KVM the engine models where KVM's observable behaviour or layout differs: the page-role
 * and cpu-role packing (kvm-7x.md §3), the ACC encoding and `permissions[16]` width (§1.4), and
 * the EPT SPTE software bits (§5.5). A value chosen once (per VM, per format, per role) and passed
 * down; nothing reads a global. '7.3' is KVM after the MBEC/GMET (7.2) and chainsaw (7.3) merges;
 * '6.16' is the v6.16.1 tree of kvm-mmu.md. Constructors given no version take '6.16', which is
 * also what the Vm pipeline (vCPU, TDP/shadow MMU, nested) still runs: it does not yet pass a
 * version to its ACC consumers.
 */
import { InvalidArgumentError } from './errors';

export type KvmVersion = '7.3' | '6.16';

export const KVM_VERSIONS: readonly KvmVersion[] = Object.freeze(['7.3', '6.16']);

/** Validate a user-supplied version (typed error naming the rule). */
export function checkKvmVersion(v: unknown): KvmVersion {
  if (v !== '7.3' && v !== '6.16') {
    throw new InvalidArgumentError('kvm-version', "the modelled KVM version is '7.3' or '6.16'", String(v));
  }
  return v;
}
