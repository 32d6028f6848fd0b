/** 5-level paging (CR4.LA57): PML5 above PML4; 57-bit linear addresses. */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize, type PageFormat } from './page-format';
import { x86Format } from './x86-format';
import { checkX86Params } from './format-params';
import type { X86FormatParams } from './x86-params';

const memo = memoize((p: X86FormatParams) => x86Format('paging5', '5-level', 5, p), { kvm: DEFAULT_KVM_VERSION });

/** The memoized format for `p`, checked first (a bad value never reaches the memo key or the cache). */
export function paging5Format(p: X86FormatParams): PageFormat {
  checkX86Params('p', p);
  return memo(p);
}
