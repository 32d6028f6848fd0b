/** PAE paging: four PDPTE registers loaded from CR3, then 2 levels of 8-byte entries. */
import { DEFAULT_KVM_VERSION } from '../kvm-version';
import { memoize } from './page-format';
import { x86Format } from './x86-format';
import type { X86FormatParams } from './x86-params';

export const paeFormat = memoize((p: X86FormatParams) => x86Format('pae', 'PAE', 3, { ...p, cr4Pke: false }), { kvm: DEFAULT_KVM_VERSION });
