import { describe, expect, it } from 'vitest';
import { PageRole } from '../../src/role/page-role';
import { ShadowPage } from '../../src/shadow/shadow-page';
import { detectWriteFlooding, detectWriteMisaligned, getWrittenSptes } from '../../src/shadow/track-write';

/**
 * The pieces of `kvm_mmu_track_write` that decide what an emulated write to a shadowed guest page
 * table does, against arch/x86/kvm/mmu/mmu.c of Linux v6.16.1: `detect_write_flooding`
 * (mmu.c:6017-6028), `detect_write_misaligned` (mmu.c:6034-6053), `get_written_sptes`
 * (mmu.c:6055-6084). Each expected value is that C evaluated by hand for the inputs given.
 */
function sp(level: number, fourByte: boolean, quadrant = 0): ShadowPage {
  return new ShadowPage(PageRole.pack({ level, hasFourByteGpte: fourByte, quadrant, access: 7 }), 0x123, 0x9000, 0);
}

describe('detect_write_misaligned', () => {
  it('8-byte gPTEs: a write must stay inside one gPTE and be at least 4 bytes, except a 1-byte write at a gPTE start', () => {
    const p = sp(1, false);
    expect(detectWriteMisaligned(p, 0x5010, 8)).toBe(false);
    expect(detectWriteMisaligned(p, 0x5014, 4)).toBe(false); // (0x14 ^ 0x17) & ~7 = 0
    expect(detectWriteMisaligned(p, 0x5014, 8)).toBe(true); // (0x14 ^ 0x1b) & ~7 = 8
    expect(detectWriteMisaligned(p, 0x5010, 1)).toBe(false); // the andb of clear_bit (mmu.c:6045-6046)
    expect(detectWriteMisaligned(p, 0x5011, 1)).toBe(true); // bytes < 4 (mmu.c:6050)
    expect(detectWriteMisaligned(p, 0x5010, 2)).toBe(true);
    expect(detectWriteMisaligned(p, 0x5ff8, 8)).toBe(false); // offset_in_page of the gpa
  });
  it('4-byte gPTEs (has_4_byte_gpte): pte_size 4', () => {
    const p = sp(1, true);
    expect(detectWriteMisaligned(p, 0x5014, 4)).toBe(false);
    expect(detectWriteMisaligned(p, 0x5014, 8)).toBe(true); // (0x14 ^ 0x1b) & ~3 = 0xc
    expect(detectWriteMisaligned(p, 0x5016, 4)).toBe(true); // (0x16 ^ 0x19) & ~3 = 0xc
    expect(detectWriteMisaligned(p, 0x5014, 1)).toBe(false);
    expect(detectWriteMisaligned(p, 0x5012, 1)).toBe(true);
  });
});

describe('detect_write_flooding', () => {
  it('a level-1 page is never flooded and its count does not move', () => {
    const p = sp(1, false);
    for (let i = 0; i < 5; i++) expect(detectWriteFlooding(p)).toBe(false);
    expect(p.writeFloodingCount).toBe(0);
  });
  it('an upper-level page is flooded at the third write (atomic_inc, then >= 3)', () => {
    const p = sp(2, false);
    expect(detectWriteFlooding(p)).toBe(false);
    expect(detectWriteFlooding(p)).toBe(false);
    expect(p.writeFloodingCount).toBe(2);
    expect(detectWriteFlooding(p)).toBe(true);
    expect(p.writeFloodingCount).toBe(3);
    expect(detectWriteFlooding(p)).toBe(true);
  });
});

describe('get_written_sptes', () => {
  it('8-byte gPTEs: one SPTE, the gPTE index', () => {
    expect(getWrittenSptes(sp(1, false), 0x5018)).toEqual([3]);
    expect(getWrittenSptes(sp(3, false), 0x5ff8)).toEqual([511]);
  });
  it('32-bit PTEs: the offset doubles; the quadrant picks which half of the guest table the page shadows', () => {
    expect(getWrittenSptes(sp(1, true, 0), 0x5010)).toEqual([4]); // 0x10 << 1 = 0x20, / 8
    expect(getWrittenSptes(sp(1, true, 0), 0x5810)).toEqual([]); // quadrant 1 ≠ 0
    expect(getWrittenSptes(sp(1, true, 1), 0x5810)).toEqual([4]);
    expect(getWrittenSptes(sp(1, true, 1), 0x5010)).toEqual([]);
  });
  it('32-bit PDEs: two shadow PDEs per guest PDE, four quadrants (mmu.c:6066-6073)', () => {
    expect(getWrittenSptes(sp(2, true, 0), 0x5014)).toEqual([10, 11]); // 0x14<<1 = 0x28, <<1 = 0x50
    expect(getWrittenSptes(sp(2, true, 1), 0x5404)).toEqual([2, 3]); // 0x808 → 0x1010
    expect(getWrittenSptes(sp(2, true, 0), 0x5404)).toEqual([]);
    expect(getWrittenSptes(sp(2, true, 3), 0x5c04)).toEqual([2, 3]); // 0x1808 → 0x3010
    // "kill rounding error": 0x402 → 0x804 &~7 = 0x800 → 0x1000, quadrant 1, SPTEs 0 and 1.
    expect(getWrittenSptes(sp(2, true, 1), 0x5402)).toEqual([0, 1]);
  });
});
