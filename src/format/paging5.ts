/** 5-level paging (CR4.LA57): PML5 above PML4; 57-bit linear addresses. */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize } from './page-format';
import { x86Format } from './x86-format';
import type { X86FormatParams } from './x86-params';

export const paging5Format = memoize((p: X86FormatParams) => x86Format('paging5', '5-level', 5, p), { kvm: DEFAULT_KVM_VERSION });
