/**
 * nestedTdpScenario against KVM v6.16.1: EPT02/NPT02 leaf sizes (paging_tmpl.h: FNAME(page_fault)
 * caps the level at the EPT12 walk's, mmu.c: kvm_mmu_hugepage_adjust at the host's), EPT12 A/D
 * (paging_tmpl.h:109 protect_clean_gpte, :159 prefetch only accessed gPTEs; spte.c:245-246 a
 * prefetched SPTE without A/D is access-tracked), reflected faults, INVEPT (vmx/nested.c:5874
 * handle_invept) and the sync on every VMRUN (svm/nested.c:485 nested_svm_transition_tlb_flush)
 * that nested EPT never does (vmx/nested.c:1200-1228).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, nestedTdpScenario } from '../../src';

const PAGES = 1024;
/** L2's page-table pages (PML4, PDPT, PD, PTs) and a margin: exits on them are not data exits. */
const TABLES = 8;

describe('nestedTdpScenario', () => {
  it('EPT12 leaf size: one exit per 4 KiB page, per 2 MiB region, and with 1 GiB host pages per 1 GiB', () => {
    const cold = (leaf: '4K' | '2M' | '1G', hostPageSize: '2M' | '1G' = '2M') => nestedTdpScenario({ host: 'ept', leaf, hostPageSize, rounds: 0 }).phases[0]!.fault_exits;
    // A/D off: prefetched EPT02 SPTEs are access-tracked (spte.c:245-246), so each 4 KiB page exits once.
    expect(cold('4K')).toBeGreaterThanOrEqual(PAGES);
    expect(cold('4K')).toBeLessThanOrEqual(PAGES + TABLES);
    expect(cold('2M')).toBeLessThanOrEqual(PAGES / 512 + TABLES);
    // With 2 MiB host pages a 1 GiB EPT12 leaf is still mapped 2 MiB at a time (kvm_mmu_hugepage_adjust).
    expect(cold('1G')).toBeGreaterThanOrEqual(PAGES / 512);
    expect(cold('1G', '1G')).toBeLessThan(cold('1G'));
  });
  it('EPT12 A/D on: reads prefetch 8 at a time (A set, paging_tmpl.h:159), each first write to a clean leaf exits (protect_clean_gpte)', () => {
    const on = nestedTdpScenario({ host: 'ept', ad: true, rounds: 0 }).phases[0]!;
    expect(on.fault_exits).toBeGreaterThanOrEqual(PAGES + PAGES / 8);
    expect(on.fault_exits).toBeLessThanOrEqual(PAGES + PAGES / 8 + TABLES);
  });
  it('NPT12 (A/D always, entries accessed): reads prefetch 8 at a time and writes do not exit', () => {
    const c = nestedTdpScenario({ host: 'npt', rounds: 0 }).phases[0]!;
    expect(c.fault_exits).toBeGreaterThanOrEqual(PAGES / 8);
    expect(c.fault_exits).toBeLessThanOrEqual(PAGES / 8 + TABLES);
  });
  it('each unmapped leaf is reflected to L1 and ends with a VMRESUME; EPT: one INVEPT and one EPT12 page synced per round', () => {
    const [, r1] = nestedTdpScenario({ host: 'ept', edits: 16, rounds: 1 }).phases;
    expect([r1!.nested_reflected, r1!.vm_entries, r1!.invepts]).toEqual([16, 17, 1]);
    // Reflected, then fixed after L1 maps it back: two EPT violations per edit (nested_ept_inject_page_fault, ept_page_fault).
    expect(r1!.nested_fixed).toBe(16);
    // vmx/nested.c:1200-1228: no sync on VM entry; only the reload after INVEPT syncs (mmu.c:5891 kvm_mmu_load).
    expect(r1!.sync_pages).toBe(1);
  });
  it('NPT: every VMRUN syncs (svm/nested.c:485-504), so each VMRUN after an NPT12 store re-reads the page', () => {
    const [, r1] = nestedTdpScenario({ host: 'npt', edits: 16, rounds: 1 }).phases;
    expect([r1!.nested_reflected, r1!.vm_entries, r1!.invepts]).toEqual([16, 17, 0]);
    expect(r1!.sync_pages).toBe(r1!.vm_entries);
    // L1 stores again into the page each sync write-protected: it goes unsync again each time.
    expect(r1!.unsyncs).toBe(r1!.vm_entries);
  });
  it('INVEPT global frees the other L2\'s root too (one more root-cache miss) but no shadow page: no more exits (mmu.c:3698 mmu_free_root_page)', () => {
    const run = (invept: 'single' | 'global') => nestedTdpScenario({ host: 'ept', edits: 4, invept, secondL2: true, rounds: 1, pages: 256 }).phases[1]!;
    const [s, g] = [run('single'), run('global')];
    expect(g.root_cache_miss).toBe(s.root_cache_miss + 1);
    expect(g.l0_exits).toBe(s.l0_exits);
  });
});

describe('nestedTdpScenario: bad input', () => {
  it('is refused with a typed error naming the argument', () => {
    expect(() => nestedTdpScenario({ host: 'npt', ad: false })).toThrow(InvalidArgumentError);
    expect(() => nestedTdpScenario({ host: 'ept', pages: 0 })).toThrow(/pages/);
    expect(() => nestedTdpScenario({ host: 'ept', edits: -1 })).toThrow(/edits/);
    expect(() => nestedTdpScenario({ host: 'ept', leaf: '4M' as '4K' })).toThrow(/leaf/);
  });
});
