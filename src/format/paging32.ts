/** 32-bit paging: 2 levels of 4-byte entries, 4 MiB pages with CR4.PSE (PSE-36 as KVM assumes). */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize } from './page-format';
import { x86Format } from './x86-format';
import type { X86FormatParams } from './x86-params';

export const paging32Format = memoize(
  // PKU does not exist outside long mode.
  (p: X86FormatParams) => x86Format('paging32', '32-bit', 2, { ...p, cr4Pke: false }),
  { kvm: DEFAULT_KVM_VERSION },
);
