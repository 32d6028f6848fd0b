/**
 * NPT (AMD nested paging) tables use the ordinary x86 format of the *host* paging mode — for
 * L1's NPT12, L1's CR4/EFER — with CR0.WP ignored and CR4.PKE cleared
 * (`kvm_init_shadow_npt_mmu`, reference §2.5, §6.6). Every access through it is a user access.
 */
import { memoize, type PageFormat } from './page-format';
import { checkNptParams } from './format-params';
import { x86Format } from './x86-format';
import { checkMaxPhyAddr } from './x86-params';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';

export interface NptFormatParams {
  /** 2 (32-bit L1), 3 (PAE L1), 4 or 5. */
  level: number;
  maxPhyAddr: number;
  /** L1's EFER.NXE */
  nx: boolean;
  gbpages: boolean;
  /** L1's CR4.PSE */
  pse: boolean;
  /** L1's CR4.SMEP/SMAP: kept in the role, but never fire because NPT accesses are user accesses. */
  cr4Smep: boolean;
  cr4Smap: boolean;
  /** Which KVM's ACC encoding and permissions[] width. Default DEFAULT_KVM_VERSION ('7.3'). */
  kvm?: KvmVersion;
  /**
   * GMET (7.3 only; VMCB nested_ctl bit 3): `base.cr4_smep` of the NPT role is GMET, not L1's
   * CR4.SMEP (kvm-7x.md §2.2), so supervisor fetches from U=1 NPT pages fault (SMEP on the NPT U
   * bit). Without GMET, 7.3's NPT role has cr4_smep = 0: every NPT access is a user access, so
   * SMEP could never fire anyway (INFERRED, §3.3).
   */
  gmet?: boolean;
}

const memo = memoize((p: NptFormatParams) => {
  checkMaxPhyAddr(p.maxPhyAddr);
  if (![2, 3, 4, 5].includes(p.level)) {
    throw new InvalidArgumentError('npt-level', 'NPT levels follow L1 paging: 2, 3, 4 or 5', String(p.level));
  }
  const kvm = p.kvm ?? DEFAULT_KVM_VERSION;
  const gmet = p.gmet ?? false;
  if (gmet && kvm !== '7.3') throw new InvalidArgumentError('gmet-version', 'GMET exists only in the KVM 7.3 model', kvm);
  return x86Format('npt', `NPT ${p.level}-level${gmet ? ' GMET' : ''}`, p.level, {
    maxPhyAddr: p.maxPhyAddr,
    nx: p.nx,
    gbpages: p.gbpages,
    pse: p.pse,
    amd: true,
    // ASSUMPTION (kvm-7x.md §2.2, 7.2 "hard code more bits in kvm_init_shadow_npt_mmu",
    // ec65797ce341, UNVERIFIED): with GMET the nested accesses stop being forced user accesses, so
    // the walk must check W for supervisor writes: CR0.WP is on. Without GMET every access is a
    // user access and WP is irrelevant (v6.16 passes CR0 = PG only).
    cr0Wp: gmet,
    cr4Smep: kvm === '7.3' ? gmet : p.cr4Smep,
    cr4Smap: p.cr4Smap,
    cr4Pke: false,
    kvm,
  }, gmet);
}, { kvm: DEFAULT_KVM_VERSION, gmet: false });

/** The memoized format for `p`, checked first (a bad value never reaches the memo key or the cache). */
export function nptFormat(p: NptFormatParams): PageFormat {
  checkNptParams('p', p);
  return memo(p);
}
