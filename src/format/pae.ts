/** PAE paging: four PDPTE registers loaded from CR3, then 2 levels of 8-byte entries. */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize, type PageFormat } from './page-format';
import { x86Format } from './x86-format';
import { checkX86Params } from './format-params';
import type { X86FormatParams } from './x86-params';

const memo = memoize((p: X86FormatParams) => x86Format('pae', 'PAE', 3, { ...p, cr4Pke: false }), { kvm: DEFAULT_KVM_VERSION });

/** The memoized format for `p`, checked first (a bad value never reaches the memo key or the cache). */
export function paeFormat(p: X86FormatParams): PageFormat {
  checkX86Params('p', p);
  return memo(p);
}
