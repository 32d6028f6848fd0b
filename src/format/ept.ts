/**
 * EPT (Intel extended page tables), 4- or 5-level, with or without A/D and execute-only
 * (reference §3.6, §6.2). Permissions use `update_permission_bitmask(ept=true)`; there is no PKRU
 * for EPT. v6.16: ACC_USER means "readable". 7.3: ACC_READ is R, ACC_EXEC is XS (bit 2),
 * ACC_USER_EXEC is XU (bit 10), and with MBEC (secondary control bit 22) an entry is present when
 * bit 10 alone is set (kvm-7x.md §1.1, §1.4).
 */
import { InvalidArgumentError } from '../errors';
import { makePageFormat, memoize, type PageFormat } from './page-format';
import { checkEptParams } from './format-params';
import { resetRsvdsBitsMaskEpt } from './rsvd-bits-mask';
import { updatePermissionBitmask } from './permission-bitmask';
import { checkMaxPhyAddr } from './x86-params';
import { DEFAULT_KVM_VERSION, type KvmVersion } from '../kvm-version';

export interface EptFormatParams {
  /** 4 or 5 (EPTP page-walk length). */
  level: number;
  maxPhyAddr: number;
  /** EPTP bit 6: the walker sets A (bit 8) and D (bit 9). */
  adEnabled: boolean;
  /** EPT capability bit 0. */
  execonly: boolean;
  /** 1 (4K only), 2 (2M, cap bit 16) or 3 (1G, cap bit 17). */
  hugePageLevel: number;
  /** Which KVM's ACC encoding and permissions[] width. Default DEFAULT_KVM_VERSION ('7.3'). */
  kvm?: KvmVersion;
  /** Mode-based execute control (7.3 only): XS/XU split, bit 10 = XU. */
  mbec?: boolean;
}

const memo = memoize((p: EptFormatParams) => {
  checkMaxPhyAddr(p.maxPhyAddr);
  if (p.level !== 4 && p.level !== 5) {
    throw new InvalidArgumentError('ept-level', 'EPT page-walk length is 4 or 5', String(p.level));
  }
  if (![1, 2, 3].includes(p.hugePageLevel)) {
    throw new InvalidArgumentError('ept-huge-level', 'EPT huge page level is 1, 2 or 3', String(p.hugePageLevel));
  }
  const kvm = p.kvm ?? DEFAULT_KVM_VERSION;
  const mbec = p.mbec ?? false;
  if (mbec && kvm !== '7.3') throw new InvalidArgumentError('mbec-version', 'MBEC exists only in the KVM 7.3 model', kvm);
  const { rsvdBitsMask, badMtXwr } = resetRsvdsBitsMaskEpt(p);
  return makePageFormat({
    name: `EPT ${p.level}-level (MAXPHYADDR ${p.maxPhyAddr}${p.adEnabled ? ', A/D' : ''}${p.execonly ? ', exec-only' : ''}${mbec ? ', MBEC' : ''}, huge ≤ ${['', '4K', '2M', '1G'][p.hugePageLevel]}${kvm === '7.3' ? ', KVM 7.3' : ''})`,
    kvm,
    mbec,
    module: 'ept',
    ptType: 'ept',
    rootLevel: p.level,
    hasAd: p.adEnabled,
    pse: false,
    params: { ...p },
    rsvdBitsMask,
    badMtXwr,
    permissions: updatePermissionBitmask({ cr0Wp: false, cr4Smep: false, cr4Smap: false, eferNx: false, ept: true, kvm, mbec }),
    pkruMask: 0,
  });
}, { kvm: DEFAULT_KVM_VERSION, mbec: false });

/** The memoized format for `p`, checked first (a bad value never reaches the memo key or the cache). */
export function eptFormat(p: EptFormatParams): PageFormat {
  checkEptParams('p', p);
  return memo(p);
}
