/**
 * The masks makeSpteConfig (src/spte/spte-config.ts) derives, value by value, for survivors of
 * `npm run mutate -- --mutate src/spte/spte-config.ts` (its input checks are in
 * spte-config-mutants.test.ts). Expected values come from Linux v6.16.1
 * arch/x86/kvm/mmu/{mmu.c,spte.c} (cited per line), not from the engine.
 *
 * Equivalent mutants (no test can kill them):
 * - spte-config.ts:265 `pse: false` → true in the NPT zeroCheck: PSE only matters for 2-level
 *   (32-bit) paging, and the TDP root is 4 or 5 levels (mmu.c:5328-5331 passes false anyway).
 * - tdp-level.ts:12 `maxTdpLevel === 5` → true: with maxTdpLevel 4, `return 4` and
 *   `return maxTdpLevel` are the same value.
 */
import { describe, expect, it } from 'vitest';
import { makeSpteConfig, nptFormat, type SpteConfigSpec } from '../../src';
import { resetRsvdsBitsMask, resetRsvdsBitsMaskEpt } from '../../src/format/rsvd-bits-mask';

const bit = (n: number) => 1n << BigInt(n);

describe('makeSpteConfig derived values (kvm_mmu_set_ept_masks, reset_tdp_shadow_zero_bits_mask)', () => {
  it('EPT defaults: 6.16 layout; exec-only EPT, so shadow_present_mask is SUPPRESS_VE only (spte.c:465-466)', () => {
    const c = makeSpteConfig({ flavour: 'ept', kvm: '6.16' });
    expect(c.kvm).toBe('6.16');
    expect(c.execOnly).toBe(true);
    expect(c.presentMask).toBe(bit(63));
    // Without exec-only support, VMX_EPT_READABLE_MASK joins it (spte.c:466).
    expect(makeSpteConfig({ flavour: 'ept', execOnly: false, kvm: '6.16' }).presentMask).toBe(bit(0) | bit(63));
    // NPT has no exec-only pages.
    expect(makeSpteConfig({ flavour: 'npt', execOnly: true } as SpteConfigSpec).execOnly).toBe(false);
  });

  it('EPT shadow_zero_check is built with execonly=false (mmu.c:5333-5335): XWR=100 is a bad type (mmu.c:5250-5252)', () => {
    const c = makeSpteConfig({ flavour: 'ept', hostMaxPhyAddr: 46 });
    // REPEAT_BYTE(1ull << 4): the exec-only encoding is flagged for every memory type.
    for (let mt = 0; mt < 8; mt++) expect((c.zeroCheckBadMtXwr >> BigInt(mt * 8 + 4)) & 1n).toBe(1n);
    expect(c.zeroCheckBadMtXwr).toBe(resetRsvdsBitsMaskEpt({ maxPhyAddr: 46, execonly: false, hugePageLevel: 3 }).badMtXwr);
  });

  it('NPT shadow_zero_check: __reset_rsvds_bits_mask(level, nx=true, gbpages, pse=false, amd=true) (mmu.c:5328-5331)', () => {
    for (const maxHugePageLevel of [2, 3] as const) {
      const c = makeSpteConfig({ flavour: 'npt', hostMaxPhyAddr: 46, maxHugePageLevel });
      expect(c.zeroCheck).toEqual(
        resetRsvdsBitsMask({ maxPhyAddr: 46, level: 4, nx: true, gbpages: maxHugePageLevel >= 3, pse: false, amd: true }),
      );
    }
  });

  it('NPT hardware walk format: host long-mode paging with NX, 1 GiB pages iff GBPAGES (mmu.c:5330), no PSE/SMEP/SMAP', () => {
    for (const maxHugePageLevel of [1, 2, 3] as const) {
      const c = makeSpteConfig({ flavour: 'npt', hostMaxPhyAddr: 46, maxHugePageLevel, kvm: '6.16' });
      const expected = nptFormat({ level: 4, maxPhyAddr: 46, nx: true, gbpages: maxHugePageLevel === 3, pse: false, cr4Smep: false, cr4Smap: false, kvm: '6.16' });
      expect(c.hardwareFormat).toEqual(expected);
    }
  });
});
