/**
 * The MMU configurations the random-operation fuzzer runs, and how each is built. One name per
 * distinct KVM code path: TDP MMU on EPT (A/D on, A/D off, PML), on NPT (always with A/D: AMD's
 * NPT has no A/D-disable control, so `spte-config.ts` forces it on), shadow paging, L2 on nested
 * EPT (guest_mmu shadowing EPT12), L2 on nested NPT (guest_mmu shadowing NPT12), L2 on root_mmu
 * with guest_mode roles (L1 shadows L2 itself), and a TD (mirror root + S-EPT).
 */
import { checkEnum } from '../validate/checks';

export const FUZZ_CONFIGS = ['ept-ad', 'ept-noad', 'ept-pml', 'npt', 'shadow', 'nested-ept', 'nested-npt', 'nested-shadow', 'td'] as const;
export type FuzzConfigName = (typeof FUZZ_CONFIGS)[number];

export interface FuzzConfig {
  name: FuzzConfigName;
  flavour: 'ept' | 'npt';
  mmu: 'tdp' | 'shadow';
  adEnabled: boolean;
  pml: boolean;
  /** Where the guest the fuzzer drives runs. */
  level: 'l1' | 'nested-ept' | 'nested-npt' | 'nested-shadow';
  td: boolean;
  /**
   * The engine may legitimately return a translation the guest has since changed without
   * invalidating it (an unsync shadow page is a TLB: synced by INVLPG, a flush or a CR3 load).
   * Without shadowing of the guest's tables, every access sees the tables as they are.
   */
  staleGuestTranslations: boolean;
}

export function fuzzConfig(config: string): FuzzConfig {
  // Own membership (never a prototype key), and the message names the argument.
  const name = checkEnum('config', config, FUZZ_CONFIGS, 'fuzz-config');
  const base = { flavour: 'ept' as const, mmu: 'tdp' as const, adEnabled: true, pml: false, level: 'l1' as const, td: false, staleGuestTranslations: false };
  switch (name) {
    case 'ept-ad': return { ...base, name };
    case 'ept-noad': return { ...base, name, adEnabled: false };
    case 'ept-pml': return { ...base, name, pml: true };
    case 'npt': return { ...base, name, flavour: 'npt' };
    case 'shadow': return { ...base, name, mmu: 'shadow', flavour: 'npt', staleGuestTranslations: true };
    case 'nested-ept': return { ...base, name, level: 'nested-ept' };
    case 'nested-npt': return { ...base, name, flavour: 'npt', level: 'nested-npt' };
    case 'nested-shadow': return { ...base, name, level: 'nested-shadow' };
    case 'td': return { ...base, name, td: true };
  }
}
