/** 4-level paging (IA-32e): PML4, PDPT, PD, PT; 48-bit linear addresses. */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize } from './page-format';
import { x86Format } from './x86-format';
import type { X86FormatParams } from './x86-params';

export const paging4Format = memoize((p: X86FormatParams) => x86Format('paging4', '4-level', 4, p), { kvm: DEFAULT_KVM_VERSION });
