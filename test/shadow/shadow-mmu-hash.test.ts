import { describe, expect, it } from 'vitest';
import { mmuPageHash } from '../../src/shadow/shadow-mmu';

/**
 * `kvm_page_table_hashfn` (mmu.c:1826-1829) is `hash_64(gfn, KVM_MMU_HASH_SHIFT)` with
 * KVM_MMU_HASH_SHIFT 12 (arch/x86/include/asm/kvm_host.h:170) and hash_64 = `val *
 * GOLDEN_RATIO_64 >> (64 - bits)` (include/linux/hash.h:42, 74-78), so the bucket of a gfn — and
 * with it max_mmu_page_hash_collisions — is KVM's. Expected buckets: that product by hand.
 */
describe('mmuPageHash', () => {
  it('is the top 12 bits of gfn * 0x61C8864680B583EB mod 2^64', () => {
    expect(mmuPageHash(0)).toBe(0);
    expect(mmuPageHash(1)).toBe(0x61c);
    expect(mmuPageHash(2)).toBe(0xc39);
    expect(mmuPageHash(0x12345)).toBe(0x4ba);
    expect(mmuPageHash(0xfffff)).toBe(0x29);
  });
});
