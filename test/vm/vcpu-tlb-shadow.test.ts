/**
 * The TLB model under the MMUs KVM builds as shadows — shadow paging (root_mmu without TDP),
 * guest_mmu (nested EPT) — and a TD: hand-computed hit/miss sequences, the stale translation a
 * guest PTE write leaves without INVLPG (what makes unsync correct), and every invalidation those
 * paths perform (kvm_mmu_invlpg, kvm_vcpu_flush_tlb_guest, kvm_mmu_load, kvm_invalidate_pcid,
 * nested INVEPT, VPID tagging across nested transitions).
 */
import { describe, expect, it } from 'vitest';
import { CR4, makeEptp, type VmOptions } from '../../src';
import { shadowFixture } from '../shadow/fixtures';
import { nested, GVA, DATA_N, DATA_G } from '../shadow/nested-fixture';
import { tdFixture } from '../tdx/fixtures';
import { nestedNpt } from '../shadow/nested-npt-fixture';

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const GPA2 = 0x90_0000n;
const FLAGS = { writable: true, accessed: true, dirty: true };
/** A fully associative 4-entry L1 DTLB, no STLB, no paging-structure caches: LRU by hand. */
const TINY: VmOptions['tlb'] = {
  dtlb4k: { entries: 4, ways: 4 }, stlb: { entries: 0, ways: 1 },
  pml4eCache: { entries: 0, ways: 1 }, pdpteCache: { entries: 0, ways: 1 }, pdeCache: { entries: 0, ways: 1 },
};

function shadow(tlb: VmOptions['tlb'] = true) {
  const f = shadowFixture('paging4', { hostPageSize: '4K', tlb });
  f.pt.map(VA, GPA, { count: 8, flags: FLAGS });
  return f;
}

/** Page i of `base`, read in order, `passes` times: the TLB outcome of each access. */
function sequence(read: (a: bigint) => { tlb?: string }, base: bigint, pages: number, passes: number): string[] {
  const out: string[] = [];
  for (let p = 0; p < passes; p++) for (let i = 0; i < pages; i++) out.push(read(base + BigInt(i) * 4096n).tlb ?? '?');
  return out;
}

describe('shadow paging through the TLB', () => {
  it('4 pages twice in a 4-entry LRU DTLB: 4 misses, then 4 L1 hits; 5 pages twice: LRU thrashes, 10 misses', () => {
    // SDM Vol. 3A §4.10.2: a translation is cached after a walk; a 4-entry fully associative
    // array holds 4 pages, and with LRU the 5th evicts the 1st, so a cyclic 5-page scan never hits.
    const f = shadow(TINY);
    expect(sequence((a) => f.v.read(a), VA, 4, 2)).toEqual(['miss', 'miss', 'miss', 'miss', 'l1', 'l1', 'l1', 'l1']);
    const g = shadow(TINY);
    expect(sequence((a) => g.v.read(a), VA, 5, 2)).toEqual(Array(10).fill('miss'));
    expect(g.v.tlb!.stats.get('misses')).toBe(10);
    expect(g.v.tlb!.stats.get('l1_hits')).toBe(0);
  });

  it('a miss walks the 4 shadow levels; with the PDE cached the next page reads only the PT (SDM Vol. 3A §4.10.3.2)', () => {
    const f = shadow();
    expect(f.v.read(VA).walkRefs).toBe(4); // PML4E, PDPTE, PDE, PTE of the shadow root (level 4)
    // The fault on VA prefetched its neighbours (FNAME(pte_prefetch)), so VA+4K walks at once,
    // and the PSC holds VA's PDE (SDM §4.10.3.1: cached on VA's walk): only the PTE is read.
    const r = f.v.read(VA + 0x1000n);
    expect([r.tlb, r.exits.length, r.walkRefs]).toEqual(['miss', 0, 1]);
    expect(f.v.tlb!.stats.get('psc_hits')).toBe(1);
    expect(f.v.read(VA).walkRefs).toBe(0); // a hit walks nothing
  });

  it('a guest PTE write without INVLPG: the hit keeps the old frame; INVLPG (kvm_mmu_invlpg → flush_tlb_gva) removes it', () => {
    const f = shadow();
    expect(f.v.read(VA).tlb).toBe('miss');
    const old = f.v.read(VA);
    expect([old.tlb, old.gpa]).toEqual(['l1', GPA]);
    // The guest repoints its PTE with a store: the shadowed PT page unsyncs (mmu_try_to_unsync_pages),
    // the store completes without any flush of VA (mmu.c: kvm_unsync_page flushes nothing).
    const pte = f.pt.getEntry(VA, 1).value;
    expect(f.storePte(VA, 1, (pte & ~0x000f_ffff_ffff_f000n) | GPA2).status).toBe('ok');
    const stale = f.v.read(VA + 8n);
    expect([stale.tlb, stale.gpa, stale.hpa]).toEqual(['l1', GPA + 8n, old.hpa! + 8n]);
    const n = f.vm.events.all.length;
    f.v.invlpg(VA);
    // kvm_mmu_invalidate_addr: flush_tlb_gva first (mmu.c:6379) = INVVPID individual-address
    // (vmx.c:3257-3264): VA's entry in the L1 DTLB and the STLB, and every PSC entry of the VPID
    // (SDM Vol. 3C "INVVPID"), 3 on VA's path and 3 on the direct-map store's: 2 + 6. Then
    // __kvm_mmu_invalidate_addr syncs the SPTE to the new frame, a leaf change that flushes remote
    // TLBs: INVVPID all-context (vmx.c:3224-3226), which finds the direct-map page's two copies.
    expect(f.vm.events.all.slice(n).filter((e) => e.kind === 'tlb_invalidate').map((e) => e.outcome)).toEqual(['INVVPID type 0 vpid 1: 8 entries', 'INVVPID type 2 vpid 0: 2 entries']);
    const fresh = f.v.read(VA + 8n);
    expect([fresh.tlb, fresh.gpa]).toEqual(['miss', GPA2 + 8n]);
  });

  it('a guest TLB flush (kvm_vcpu_flush_tlb_guest: sync roots, then vpid_sync_context) removes the stale entry too', () => {
    const f = shadow();
    f.v.read(VA);
    const pte = f.pt.getEntry(VA, 1).value;
    f.storePte(VA, 1, (pte & ~0x000f_ffff_ffff_f000n) | GPA2);
    expect(f.v.read(VA)).toMatchObject({ tlb: 'l1', gpa: GPA });
    f.v.flushGuestTlb();
    expect(f.v.tlb!.stats.get('flush_guest')).toBe(1); // x86.c:3636-3651
    const r = f.v.read(VA);
    expect([r.tlb, r.gpa]).toEqual(['miss', GPA2]);
  });

  it('MOV CR3 (intercepted): kvm_invalidate_pcid requests KVM_REQ_TLB_FLUSH_CURRENT, the whole VPID (x86.c:1397-1400, vmx.c:3253-3254)', () => {
    const f = shadow();
    f.v.read(VA);
    expect(f.v.read(VA).tlb).toBe('l1');
    const cur = f.v.tlb!.stats.get('flush_current');
    f.v.movCr3(f.pt.root as bigint);
    expect(f.v.read(VA).tlb).toBe('miss');
    expect(f.v.tlb!.stats.get('flush_current')).toBe(cur + 1);
  });

  it('PCIDE: MOV CR3 with bit 63 keeps the PCID\'s entries (no kvm_invalidate_pcid, x86.c:1462); a reset unloads, and kvm_mmu_load flushes (mmu.c:5919)', () => {
    const f = shadow();
    f.v.setRegisters({ cr4: f.regs.cr4 | CR4.PCIDE });
    const root = f.pt.root as bigint;
    f.v.movCr3(root | 1n);
    expect(f.v.read(VA).tlb).toBe('miss');
    f.v.movCr3(root | 1n | (1n << 63n));
    expect(f.v.read(VA).tlb).toBe('l1');
    // CR0.WP is a shadow role bit: kvm_mmu_reset_context frees the roots; the reload flushes.
    const cur = f.v.tlb!.stats.get('flush_current');
    f.v.setRegisters({ cr0: f.regs.cr0 & ~0x10000n });
    expect(f.v.read(VA).tlb).toBe('miss');
    expect(f.v.tlb!.stats.get('flush_current')).toBe(cur + 1);
  });

  it('a zap reaches the TLB: kvm_flush_remote_tlbs → kvm_vcpu_flush_tlb_all = INVVPID all-context with EPT off (vmx.c:3224-3226)', () => {
    const f = shadow();
    f.v.read(VA);
    expect(f.v.read(VA).tlb).toBe('l1');
    const n = f.vm.events.all.length;
    f.vm.zapGfnRange(GPA, GPA + 0x1000n);
    expect(f.v.tlb!.stats.get('flush_all')).toBe(1);
    // VA in the L1 DTLB and the STLB, its PML4E, PDPTE and PDE in the PSCs: 2 + 3.
    expect(f.vm.events.all.slice(n).filter((e) => e.kind === 'tlb_invalidate').map((e) => e.outcome)).toEqual(['INVVPID type 2 vpid 0: 5 entries']);
    expect(f.v.read(VA).tlb).toBe('miss');
  });

  it('off: every access walks, as before (a stale gPTE still reads through the unsync shadow SPTE)', () => {
    const f = shadow(false);
    f.v.read(VA);
    expect(f.v.read(VA).tlb).toBe('miss');
    const pte = f.pt.getEntry(VA, 1).value;
    f.storePte(VA, 1, (pte & ~0x000f_ffff_ffff_f000n) | GPA2);
    expect(f.v.read(VA).gpa).toBe(GPA); // the unsync SPTE, not a TLB
    expect(f.v.tlb).toBeUndefined();
  });
});

describe('nested EPT (guest_mmu) through the TLB', () => {
  it('L2\'s combined mappings hit; 4 pages twice: 4 misses then 4 L1 hits', () => {
    const n = nested({ tlb: true, accessed: true });
    n.enter();
    expect(sequence((a) => n.v.read(a), GVA, 4, 2)).toEqual(['miss', 'miss', 'miss', 'miss', 'l1', 'l1', 'l1', 'l1']);
    expect(n.v.read(GVA).gpa).toBe(DATA_N);
    expect(n.v.read(GVA).hpa).toBe(n.frameOf(DATA_G) << 12n);
  });

  it('vmcs12 without VPID: every transition is KVM_REQ_TLB_FLUSH_GUEST of vpid01 (vmx/nested.c:1226-1228); L1\'s entries go too', () => {
    const n = nested({ tlb: true, accessed: true });
    const l1va = 0xffff_8880_0020_0000n;
    n.v.read(l1va);
    expect(n.v.read(l1va).tlb).toBe('l1');
    n.enter();
    n.v.read(GVA);
    expect(n.v.read(GVA).tlb).toBe('l1');
    n.v.exitNested();
    expect(n.v.read(l1va).tlb).toBe('miss');
    n.enter();
    expect(n.v.read(GVA).tlb).toBe('miss');
  });

  it('vmcs12 with VPID: L2 runs as vpid02, EPTP02-tagged; L1 and L2 entries survive the transitions (vmx/nested.c:1241-1254)', () => {
    const n = nested({ tlb: true, accessed: true });
    const l1va = 0xffff_8880_0020_0000n;
    n.v.read(l1va);
    n.enter(n.eptp, 5);
    expect(n.v.currentVpid).not.toBe(1);
    expect(n.v.read(GVA).tlb).toBe('miss'); // the first vpid12 is new: flushed, and L2 had nothing yet
    expect(n.v.read(GVA).tlb).toBe('l1');
    const [e] = n.v.tlb!.snapshot().l1d.filter((x) => x.guestFrame === Number(DATA_N >> 12n));
    expect([e!.vpid, e!.eptp]).toEqual([n.v.currentVpid, n.v.nested!.ctx!.root.hpa]);
    n.v.exitNested();
    expect(n.v.currentVpid).toBe(1); // vmx_get_current_vpid: vpid01 in L1
    expect(n.v.read(l1va).tlb).toBe('miss'); // flushed by the first entry's vpid12 change (vpid01 then current)
    expect(n.v.read(l1va).tlb).toBe('l1');
    n.enter(n.eptp, 5);
    expect(n.v.read(GVA).tlb).toBe('l1'); // same vpid12: no flush
    n.v.exitNested();
    expect(n.v.read(l1va).tlb).toBe('l1');
    n.enter(n.eptp, 6); // vpid12 changed: KVM_REQ_TLB_FLUSH_GUEST of vpid02
    expect(n.v.read(GVA).tlb).toBe('miss');
  });

  it('INVEPT single-context of EPTP12 frees the root; the reload\'s flush_tlb_current (INVEPT of EPTP02) drops L2\'s entries', () => {
    const n = nested({ tlb: true, accessed: true });
    n.enter(n.eptp, 5);
    n.v.read(GVA);
    n.v.exitNested();
    // Another EPTP: no root matches (nested_ept_root_matches, vmx/nested.c:5929-5938), nothing flushed.
    expect(n.v.invept('single', makeEptp({ root: 0x30_0000n, level: 4, adEnabled: false }))).toBe(0);
    n.enter(n.eptp, 5);
    expect(n.v.read(GVA).tlb).toBe('l1');
    n.v.exitNested();
    expect(n.v.invept('single', n.eptp)).toBe(1);
    const cur = n.v.tlb!.stats.get('flush_current');
    n.enter(n.eptp, 5);
    expect(n.v.read(GVA).tlb).toBe('miss');
    expect(n.v.tlb!.stats.get('flush_current')).toBe(cur + 1); // kvm_mmu_load (mmu.c:5919)
    expect(n.vm.events.all.filter((e) => e.kind === 'tlb_invalidate').some((e) => (e.outcome ?? '').startsWith('INVEPT single-context'))).toBe(true);
  });

  it('INVEPT global frees every guest_mmu root (vmx/nested.c:5940-5941): the next L2 access misses', () => {
    const n = nested({ tlb: true, accessed: true });
    n.enter(n.eptp, 5);
    n.v.read(GVA);
    expect(n.v.read(GVA).tlb).toBe('l1');
    n.v.exitNested();
    expect(n.v.invept('global')).toBe(1);
    n.enter(n.eptp, 5);
    expect(n.v.read(GVA).tlb).toBe('miss');
  });

  it('a 2D miss through EPT02 with nothing cached: (4+1)(4+1) − 1 = 24 references (Bhargava et al., ASPLOS 2008 §2)', () => {
    const n = nested({ tlb: { nestedTlb: { entries: 0, ways: 1 }, nestedPml4eCache: { entries: 0, ways: 1 }, nestedPdpteCache: { entries: 0, ways: 1 }, nestedPdeCache: { entries: 0, ways: 1 }, pml4eCache: { entries: 0, ways: 1 }, pdpteCache: { entries: 0, ways: 1 }, pdeCache: { entries: 0, ways: 1 } }, accessed: true });
    n.enter(n.eptp, 5);
    n.v.read(GVA);
    n.v.invlpg(GVA);
    const r = n.v.read(GVA);
    expect([r.tlb, r.exits.length, r.walkRefs]).toEqual(['miss', 0, 24]);
  });
});

describe('nested NPT (guest_mmu) through the TLB', () => {
  it('L2 hits between transitions; every VMRUN and #VMEXIT flushes the shared ASID (svm/nested.c:503-504 → svm_flush_tlb_current, svm.c:4151-4164)', () => {
    const n = nestedNpt({ tlb: true });
    const l1va = 0xffff_8880_0020_0000n; // L1's direct map of NPT12
    n.v.read(l1va);
    expect(n.v.read(l1va).tlb).toBe('l1');
    n.enter();
    expect(sequence((a) => n.v.read(a), 0x40_0000n, 2, 2)).toEqual(['miss', 'miss', 'l1', 'l1']);
    const e = n.v.tlb!.snapshot().l1d.find((x) => x.guestFrame === 0x3000); // DATA_N's frame
    expect([e!.vpid, e!.eptp]).toEqual([1, -1]); // the ASID is the tag; NPT has no EPTP
    n.v.exitNested();
    expect(n.v.read(l1va).tlb).toBe('miss');
    // KVM_REQ_TLB_FLUSH_CURRENT: L1's first root load (kvm_mmu_load, mmu.c:5919), VMRUN
    // (svm/nested.c:504), guest_mmu's first root load (mmu.c:5919), #VMEXIT (svm/nested.c:504).
    expect(n.v.tlb!.stats.get('flush_current')).toBe(4);
  });
});

describe('a TD through the TLB', () => {
  it('private pages hit after the first access; entries carry the S-EPT root as their EPTP tag (tdx.c:2836-2839)', () => {
    const t = tdFixture(48, { tlb: true });
    const { v, pt, accept } = t;
    pt.map(VA, GPA, { count: 4, flags: FLAGS });
    accept(GPA, 4);
    expect(sequence((a) => v.read(a), VA, 4, 2)).toEqual(['miss', 'miss', 'miss', 'miss', 'l1', 'l1', 'l1', 'l1']);
    expect(v.tlb!.snapshot().l1d.every((e) => e.eptp === t.vm.td!.sept.rootPfn)).toBe(true);
  });

  it('converting a private page to shared zaps it, and the remote flush (tdx_flush_tlb_all: INVEPT global, tdx.c:2847-2860) drops its entry', () => {
    const t = tdFixture(48, { tlb: true });
    t.pt.map(VA, GPA, { flags: FLAGS });
    t.accept(GPA);
    t.v.read(VA);
    expect(t.v.read(VA).tlb).toBe('l1');
    const n = t.vm.events.all.length;
    t.vm.setMemoryAttributes(GPA, GPA + 0x1000n, 'shared');
    expect(t.vm.events.all.slice(n).some((e) => e.kind === 'tlb_invalidate' && (e.outcome ?? '').startsWith('INVEPT global'))).toBe(true);
    // Without the flush the hit would keep reading the zapped private page; now the walk finds the
    // private GPA shared: KVM_EXIT_MEMORY_FAULT (kvm_mmu_faultin_pfn, mmu.c:4588-4590).
    const r = t.v.read(VA);
    expect([r.tlb, r.status]).toEqual(['miss', 'memory-fault']);
  });
});
