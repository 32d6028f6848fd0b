/**
 * `enum kvm_tdp_mmu_root_types` (tdp_mmu.h, v6.16) and `tdp_mmu_root_match`: which roots a TDP MMU
 * operation walks. Non-TDX VMs only ever have direct roots, so every filter that includes
 * KVM_DIRECT_ROOTS behaves as before for them.
 */
import { TdpPage } from './tdp-page';
import { checkBool, checkEnum, checkInt, refuse } from '../validate/checks';

export const KVM_INVALID_ROOTS = 1 << 0;
export const KVM_DIRECT_ROOTS = 1 << 1;
export const KVM_MIRROR_ROOTS = 1 << 2;
export const KVM_VALID_ROOTS = KVM_DIRECT_ROOTS | KVM_MIRROR_ROOTS;
export const KVM_ALL_ROOTS = KVM_VALID_ROOTS | KVM_INVALID_ROOTS;

export type RootTypes = number;

/** `tdp_mmu_root_match`: an invalid root needs KVM_INVALID_ROOTS, then direct/mirror by role. */
export function rootMatch(root: TdpPage, types: RootTypes): boolean {
  if (!(root instanceof TdpPage)) refuse('root', 'tdp-page', 'must be a TdpPage', root);
  checkInt('types', types, { max: KVM_ALL_ROOTS });
  if ((types & KVM_VALID_ROOTS) === 0) return false; // KVM WARNs: a filter must name a root kind
  if (root.role.invalid && (types & KVM_INVALID_ROOTS) === 0) return false;
  return (types & (root.role.isMirror ? KVM_MIRROR_ROOTS : KVM_DIRECT_ROOTS)) !== 0;
}

/** `enum kvm_gfn_range_filter`. */
export type GfnRangeFilter = 'private' | 'shared' | 'both';

/** `kvm_gfn_range_filter_to_root_types`: only a VM with mirrored TDP has mirror roots to pick. */
export function filterToRootTypes(hasMirroredTdp: boolean, filter: GfnRangeFilter): RootTypes {
  checkBool('hasMirroredTdp', hasMirroredTdp);
  checkEnum('filter', filter, ['private', 'shared', 'both']);
  if (!hasMirroredTdp) return KVM_DIRECT_ROOTS;
  let t = 0;
  if (filter !== 'shared') t |= KVM_MIRROR_ROOTS;
  if (filter !== 'private') t |= KVM_DIRECT_ROOTS;
  return t;
}

export function rootTypesText(types: RootTypes): string {
  checkInt('types', types, { max: KVM_ALL_ROOTS });
  const out: string[] = [];
  if (types & KVM_DIRECT_ROOTS) out.push('DIRECT');
  if (types & KVM_MIRROR_ROOTS) out.push('MIRROR');
  if (types & KVM_INVALID_ROOTS) out.push('INVALID');
  return out.join('|');
}
