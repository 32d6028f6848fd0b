import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { makePageFormat, type FormatModule, type PageFormat } from './page-format';
import { resetRsvdsBitsMask } from './rsvd-bits-mask';
import { updatePermissionBitmask, updatePkruBitmask } from './permission-bitmask';
import { checkMaxPhyAddr, x86Name, type X86FormatParams } from './x86-params';

/** The guest-format computation KVM does in `reset_guest_paging_metadata` for a given level. */
export function x86Format(module: FormatModule, mode: string, level: number, p: X86FormatParams, gmet = false): PageFormat {
  checkMaxPhyAddr(p.maxPhyAddr);
  return makePageFormat({
    name: x86Name(mode, p),
    kvm: p.kvm ?? DEFAULT_KVM_VERSION,
    mbec: gmet,
    module,
    ptType: level === 2 ? 32 : 64,
    rootLevel: level,
    hasAd: true,
    pse: p.pse,
    params: { ...p, level },
    rsvdBitsMask: resetRsvdsBitsMask({
      maxPhyAddr: p.maxPhyAddr,
      level,
      nx: p.nx,
      gbpages: p.gbpages,
      pse: p.pse,
      amd: p.amd,
    }),
    badMtXwr: 0n,
    permissions: updatePermissionBitmask({
      cr0Wp: p.cr0Wp,
      cr4Smep: p.cr4Smep,
      cr4Smap: p.cr4Smap,
      eferNx: p.nx,
      ept: false,
      kvm: p.kvm ?? DEFAULT_KVM_VERSION,
    }),
    pkruMask: updatePkruBitmask({ cr4Pke: p.cr4Pke, cr0Wp: p.cr0Wp }),
  });
}
