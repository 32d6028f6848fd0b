/**
 * Which KVM the engine models where KVM's observable behaviour or layout differs: the page-role
 * and cpu-role packing (kvm-7x.md §3), the ACC encoding and `permissions[16]` width (§1.4), and
 * the EPT SPTE software bits (§5.5). A value chosen once (per VM, per format, per role) and passed
 * down; nothing reads a global. '7.3' is KVM after the MBEC/GMET (7.2) and chainsaw (7.3) merges;
 * '6.16' is the v6.16.1 tree of kvm-mmu.md. A `Vm` takes DEFAULT_KVM_VERSION ('7.3') unless its
 * `kvm` option says '6.16', and hands the version to every ACC consumer of its pipeline (vCPU
 * roles, gva/ngpa walkers, TDP and shadow MMU SPTEs, guest_mmu, TDX) through `vm.config.kvm`.
 * The standalone builders (calcCpuRole, CpuRole.fromU64, PageRole.pack/fromWord, the format
 * modules, updatePermissionBitmask, makeSpteConfig, GvaWalker, NgpaWalker, Walk2D, decodeAcc)
 * take DEFAULT_KVM_VERSION too when no version is passed; code written against the v6.16
 * reference tables (kvm-mmu.md, oracle/permissions.json) passes '6.16' explicitly.
 */
import { InvalidArgumentError } from './errors';
import { describeValue } from './validate/describe-value';

export type KvmVersion = '7.3' | '6.16';

/** The version a `Vm` models when its options name none. */
export const DEFAULT_KVM_VERSION: KvmVersion = '7.3';

export const KVM_VERSIONS: readonly KvmVersion[] = Object.freeze(['7.3', '6.16']);

/** Validate a user-supplied version (typed error naming the rule). */
export function checkKvmVersion(v: unknown): KvmVersion {
  if (v !== '7.3' && v !== '6.16') {
    throw new InvalidArgumentError('kvm-version', "kvm: the modelled KVM version is '7.3' or '6.16'", describeValue(v));
  }
  return v;
}
