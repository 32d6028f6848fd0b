/** What test/spte/spte-vm.test.ts needs beyond the public API. */
export { SPTE_TDP_AD_MASK, SPTE_TDP_AD_WRPROT_ONLY } from '../../src';
export { spteChangeNeedsFlush as spteChangeNeedsFlushForTest } from '../../src/shadow/sync';
