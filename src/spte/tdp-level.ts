/**
 * `mmu.c: kvm_mmu_get_tdp_level` with the levels the vendor module passes to `kvm_configure_mmu`:
 * SVM forces the root level to the host's paging depth (`svm.c: get_npt_level`, passed as both
 * `tdp_forced_root_level` and `tdp_max_root_level`); VMX forces nothing and offers 5 levels when the
 * CPU has 5-level EPT (`vmx.c: vmx_get_max_ept_level`). Without a forced level, 5-level TDP is used
 * only when the guest MAXPHYADDR (a TD's GPAW) exceeds 48 bits.
 */
import { checkEnum, checkInt } from '../validate/checks';

export function kvmMmuGetTdpLevel(flavour: 'ept' | 'npt', maxTdpLevel: 4 | 5, guestMaxPhyAddr: number): 4 | 5 {
  checkEnum('flavour', flavour, ['ept', 'npt']);
  checkEnum('maxTdpLevel', maxTdpLevel, [4, 5]);
  checkInt('guestMaxPhyAddr', guestMaxPhyAddr, { min: 32, max: 52 });
  const forced = flavour === 'npt' ? maxTdpLevel : 0;
  if (forced !== 0) return forced;
  if (maxTdpLevel === 5 && guestMaxPhyAddr <= 48) return 4;
  return maxTdpLevel;
}
