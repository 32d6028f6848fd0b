/** 32-bit paging: 2 levels of 4-byte entries, 4 MiB pages with CR4.PSE (PSE-36 as KVM assumes). */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize, type PageFormat } from './page-format';
import { x86Format } from './x86-format';
import { checkX86Params } from './format-params';
import type { X86FormatParams } from './x86-params';

const memo = memoize(
  // PKU does not exist outside long mode.
  (p: X86FormatParams) => x86Format('paging32', '32-bit', 2, { ...p, cr4Pke: false }),
  { kvm: DEFAULT_KVM_VERSION },
);

/** The memoized format for `p`, checked first (a bad value never reaches the memo key or the cache). */
export function paging32Format(p: X86FormatParams): PageFormat {
  checkX86Params('p', p);
  return memo(p);
}
