/**
 * GFN ranges against huge shadow leaves: `kvm_unmap_gfn_range` → `__kvm_rmap_zap_gfn_range`
 * walks the rmaps of levels 4K..KVM_MAX_HUGEPAGE_LEVEL from `gfn_to_rmap(start)` to
 * `gfn_to_rmap(end - 1)` (mmu.c:1524-1531, 1633-1641), and `kvm_rmap_age_gfn_range` steps each
 * level's rmaps from range->start while gfn < range->end (mmu.c:1719-1722), so a range touching
 * any 4K of a 2 MiB leaf reaches that leaf, and a range ending where it starts (end exclusive) or
 * starting where it ends does not. Linux v6.16.1.
 */
import { describe, expect, it } from 'vitest';
import { shadowFixture } from './fixtures';

const VA = 0x4000_0000n;
const GPA = 0x400_0000n;
const HUGE = 0x20_0000n;

function hugeMapped() {
  const f = shadowFixture('paging4');
  f.pt.map(VA, GPA, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
  expect(f.v.read(VA + 0x5000n).status).toBe('ok');
  expect(f.vm.stats.get('pages_2m')).toBe(1);
  return f;
}

describe('unmap over a 2 MiB shadow leaf', () => {
  it('a range holding only its last 4 KiB zaps the whole leaf, with one flush', () => {
    const f = hugeMapped();
    const flushes = f.vm.stats.get('remote_tlb_flush');
    expect(f.vm.unmapGfnRange(GPA + HUGE - 0x1000n, GPA + HUGE)).toBe(1);
    expect(f.vm.stats.get('pages_2m')).toBe(0);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes + 1);
  });

  it('a range holding only its first 4 KiB zaps it too', () => {
    const f = hugeMapped();
    expect(f.vm.unmapGfnRange(GPA, GPA + 0x1000n)).toBe(1);
    expect(f.vm.stats.get('pages_2m')).toBe(0);
  });

  it('ranges that end at its start or start at its end leave it, and do not flush', () => {
    const f = hugeMapped();
    const flushes = f.vm.stats.get('remote_tlb_flush');
    expect(f.vm.unmapGfnRange(GPA - 0x1000n, GPA)).toBe(0);
    expect(f.vm.unmapGfnRange(GPA + HUGE, GPA + HUGE + 0x1000n)).toBe(0);
    expect(f.vm.stats.get('pages_2m')).toBe(1);
    expect(f.vm.stats.get('remote_tlb_flush')).toBe(flushes);
  });
});

describe('age / test_age over a 2 MiB shadow leaf', () => {
  it('a range inside the leaf finds it young; outside ranges do not', () => {
    const f = hugeMapped();
    expect(f.vm.testAge(GPA - 0x1000n, GPA)).toBe(false);
    expect(f.vm.testAge(GPA + HUGE, GPA + HUGE + 0x1000n)).toBe(false);
    expect(f.vm.testAge(GPA + HUGE - 0x1000n, GPA + HUGE)).toBe(true);
    expect(f.vm.age(GPA + HUGE, GPA + 2n * HUGE)).toBe(0);
    expect(f.vm.age(GPA - 0x1000n, GPA)).toBe(0);
    // mmu.c:1733-1744: the young leaf is aged once; then it is old.
    expect(f.vm.age(GPA + 0x1000n, GPA + 0x2000n)).toBe(1);
    expect(f.vm.testAge(GPA, GPA + HUGE)).toBe(false);
    expect(f.vm.stats.get('pages_2m')).toBe(1);
  });
});
