/** The guest page format implied by a cpu_role and the guest's CPUID (`reset_guest_paging_metadata`). */
import type { CpuFeatures } from '../cpu/registers';
import { CpuRole } from '../role/cpu-role';
import { checkCpuFeatures } from '../cpu/check-registers';
import { refuse } from '../validate/checks';
import type { PageFormat } from './page-format';
import { paging32Format } from './paging32';
import { paeFormat } from './pae';
import { paging4Format } from './paging4';
import { paging5Format } from './paging5';
import type { X86FormatParams } from './x86-params';

/** undefined when paging is off (KVM computes nothing for CR0.PG=0). */
export function formatForCpuRole(role: CpuRole, features: CpuFeatures): PageFormat | undefined {
  if (!(role instanceof CpuRole)) refuse('role', 'cpu-role', 'must be a CpuRole (calcCpuRole)', role);
  checkCpuFeatures('features', features);
  const p: X86FormatParams = {
    maxPhyAddr: features.maxPhyAddr,
    nx: role.isEferNx,
    gbpages: features.gbpages,
    pse: role.isCr4Pse,
    amd: features.vendor === 'amd',
    cr0Wp: role.isCr0Wp,
    cr4Smep: role.isCr4Smep,
    cr4Smap: role.isCr4Smap,
    cr4Pke: role.isCr4Pke,
    kvm: role.kvm,
  };
  switch (role.base.level) {
    case 0:
      return undefined;
    case 2:
      return paging32Format(p);
    case 3:
      return paeFormat(p);
    case 4:
      return paging4Format(p);
    default:
      return paging5Format(p);
  }
}
