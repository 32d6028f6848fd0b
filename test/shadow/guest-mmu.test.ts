/**
 * Nested EPT (reference §10): guest_mmu shadows L1's EPT12 while L2 runs. Roles as
 * kvm_calc_shadow_ept_root_page_role computes them, EPT12 faults reflected to L1 versus EPT02
 * misses fixed by KVM, L1's writes to EPT12 (unsync of a 4K EPT12 table; emulation and zap for an
 * upper level), INVEPT, and the switch between root_mmu and guest_mmu on L2 entry and exit.
 */
import { describe, expect, it } from 'vitest';
import { PageTableBuilder, PageRole, makeEptp, EPT_QUAL } from '../../src';

import { nested, DM, GVA, DATA_N, DATA_G } from './nested-fixture';

describe('nested EPT: guest_mmu shadows EPT12', () => {
  it('an L2 access: EPT02 misses on nGPAs are fixed by KVM; the data reaches the frame of EPT12\'s L1 GPA', () => {
    const n = nested({ ad: true, accessed: true });
    n.enter();
    expect(n.v.nested!.active).toBe(true);
    const r = n.v.read(GVA + 0x123n);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    expect(r.l1Gpa).toBe(DATA_G + 0x123n);
    expect(r.gpa).toBe(DATA_N + 0x123n);
    // L2's four tables are consecutive nGPAs in one aligned group of 8 EPT12 leaves with A and D set: the
    // first miss prefetches the other three. Then the data page.
    expect(r.exits.map((e) => [e.kind, e.onGuestTable, e.ret])).toEqual([
      ['ept_violation', true, 'RET_PF_FIXED'],
      ['ept_violation', false, 'RET_PF_FIXED'],
    ]);
    expect(n.v.stats.get('nested_fixed')).toBe(2);
  });

  it('prefetch needs A in EPT12 with A/D on; without A/D its SPTEs are access-tracked and fault again', () => {
    // 4 table pages + 1 data page, one exit each, in both cases (for different reasons).
    for (const o of [{ ad: true, accessed: false }, { ad: false, accessed: false }]) {
      const n = nested(o);
      n.enter();
      const r = n.v.read(GVA);
      expect(r.exits.length).toBe(5);
      expect(r.exits.every((e) => e.ret === 'RET_PF_FIXED')).toBe(true);
    }
  });

  it("roles: kvm_calc_shadow_ept_root_page_role (guest_mode, level and A/D from EPTP12, nothing else) (KVM '6.16')", () => {
    for (const ad of [false, true]) {
      const n = nested({ ad, kvm: '6.16' });
      // L1 touches its EPT12 page table first, so its TDP MMU maps it (writable).
      const leafGpa = BigInt(n.ept.getEntry(DATA_N, 1).gpa) & ~0xfffn;
      n.v.read(DM + leafGpa);
      n.enter();
      n.v.read(GVA);
      const root = n.vm.shadow.find(Number(BigInt(n.ept.root) >> 12n))[0]!;
      expect(root.role.word).toBe(PageRole.pack({ level: 4, access: 7, adDisabled: !ad, guestMode: true }).word);
      const leafTable = n.vm.shadow.find(Number(BigInt(n.ept.getEntry(DATA_N, 1).gpa) >> 12n))[0]!;
      expect(leafTable.role.word).toBe(PageRole.pack({ level: 1, access: 7, adDisabled: !ad, guestMode: true }).word);
      // L1's own TDP mapping of that EPT12 table page is write-protected (W and MMU-writable clear).
      const [, , , spte] = n.vm.tdp.lastSpte(n.vm.tdp.roots[0]!, leafTable.gfn);
      expect(spte & 2n).toBe(0n);
    }
  });

  it('an nGPA EPT12 does not map: an EPT violation is reflected to L1 and L2 stops', () => {
    const n = nested();
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    n.enter();
    const r = n.v.write(GVA + 0x10_0008n);
    expect(r.status).toBe('l1-exit');
    expect(r.nestedExit!.kind).toBe('ept-violation');
    if (r.nestedExit!.kind !== 'ept-violation') return;
    expect(r.nestedExit!.guestPhysicalAddress).toBe(0x380_0008n);
    const q = Number(r.nestedExit!.qualification);
    const want = EPT_QUAL.ACC_WRITE | EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED;
    expect(q & want).toBe(want);
    expect(q & 0x38).toBe(0); // nothing readable/writable/executable: not present in EPT12
    expect(n.v.stats.get('nested_reflected')).toBe(1);
    expect(n.v.nested!.active).toBe(false); // back in L1: vcpu->arch.mmu = root_mmu
  });

  it('a write-only EPT12 leaf is a misconfiguration reflected to L1', () => {
    const n = nested();
    n.ept.setEntry(DATA_N + 0x1000n, 1, (DATA_G + 0x1000n) | 0x2n | (6n << 3n));
    n.enter();
    const r = n.v.read(GVA + 0x1000n);
    expect([r.status, r.nestedExit?.kind]).toEqual(['l1-exit', 'ept-misconfig']);
  });

  it('execute-only EPT12 leaf: L2 may fetch, a read is reflected', () => {
    const n = nested({ execOnly: true });
    n.ept.setEntry(DATA_N + 0x2000n, 1, (DATA_G + 0x2000n) | 0x4n | (6n << 3n));
    n.enter();
    expect(n.v.fetch(GVA + 0x2000n).status).toBe('ok');
    const r = n.v.read(GVA + 0x2000n);
    expect([r.status, r.nestedExit?.kind]).toEqual(['l1-exit', 'ept-violation']);
  });

  it('L1 rewrites a 4K EPT12 leaf: the EPT02 page goes unsync, L2 keeps the old frame until INVEPT', () => {
    const n = nested();
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    const e = n.ept.getEntry(DATA_N, 1);
    const w = n.v.store(DM + BigInt(e.gpa), 0x600_0000n | 7n | (6n << 3n), 8);
    expect(w.status).toBe('ok'); // L1's TDP write fault unsynced the EPT02 page; the store ran in hardware
    const sp = n.vm.shadow.find(Number(BigInt(e.gpa) >> 12n))[0]!;
    expect(sp.unsync).toBe(true);
    n.enter(); // root cache hit, no sync: nested transitions do not sync guest_mmu
    expect(n.v.stats.get('root_cache_hit')).toBe(1);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    n.v.exitNested();
    expect(n.v.invept('single', n.eptp)).toBe(1);
    n.enter();
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(0x600_0000n));
    expect(sp.unsync).toBe(false);
  });

  it('L1 rewrites an upper-level EPT12 entry: emulated, EPT02 entry zapped, effective at once', () => {
    const n = nested();
    n.ept.map(0x340_0000n, 0x700_0000n, { count: 4 }); // another EPT12 page table
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    const pde = n.ept.getEntry(DATA_N, 2);
    const other = n.ept.getEntry(0x340_0000n, 2).value;
    const w = n.v.store(DM + BigInt(pde.gpa), other, 8);
    expect([w.status, w.emulation]).toEqual(['emulated', 'write to a write-protected gfn (shadowed page table)']);
    expect(n.vm.stats.get('mmu_pte_write')).toBe(1);
    n.enter();
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(0x700_0000n));
  });

  it('INVEPT: single-context frees the roots of that EP4TA only; global frees every guest_mmu root', () => {
    const n = nested();
    const ept2 = new PageTableBuilder(n.vm.guestMem, { mode: 'ept4', pool: { base: 0x30_0000n, size: 0x8_0000n } });
    ept2.map(0x100_0000n, 0x100_0000n, { count: 16 });
    ept2.map(DATA_N, DATA_G, { count: 4 });
    const eptpB = makeEptp({ root: ept2.root, level: 4, adEnabled: false });
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    n.enter(eptpB);
    n.v.read(GVA);
    n.v.exitNested();
    expect(n.v.invept('single', n.eptp)).toBe(1); // the previous root (EPTP A)
    expect(n.v.invept('single', n.eptp)).toBe(0);
    expect(n.v.invept('global')).toBe(1); // the current root (EPTP B)
    n.enter(eptpB);
    expect(n.v.stats.get('root_cache_miss')).toBe(3);
  });

  it('a fault reflected to L1 syncs its nGPA in the previous roots of the same EP4TA too (nested_ept_invalidate_addr)', () => {
    // Two EPTPs on one EPT12 (same EP4TA), A/D on and off: two roots, separate EPT02 pages (roles
    // differ in ad_disabled). L1 rewrites a 4K EPT12 leaf: both EPT02 leaf pages go unsync.
    const n = nested({ ad: true, accessed: true });
    const R = 1n | (6n << 3n);
    n.ept.setEntry(DATA_N, 1, DATA_G | R);
    const eptpB = makeEptp({ root: n.ept.root, level: 4, adEnabled: false });
    n.enter(eptpB);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    n.v.exitNested();
    n.enter(); // EPTP A (A/D on): B's root goes to prev_roots
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    n.v.exitNested();
    const e = n.ept.getEntry(DATA_N, 1);
    expect(n.v.store(DM + BigInt(e.gpa), 0x600_0000n | R, 8).status).toBe('ok');
    expect(n.vm.shadow.find(Number(BigInt(e.gpa) >> 12n)).map((sp) => sp.unsync)).toEqual([true, true]);
    n.enter();
    // L2 writes: EPT02 and EPT12 both read-only, an EPT violation for L1 (vmx_tests.c:2988).
    expect(n.v.write(GVA).status).toBe('l1-exit');
    // nested_ept_inject_page_fault (vmx/nested.c:449-457): "we also need to sync it for any other
    // cached EPTP02s based on the same EP4TA" — nested_ept_invalidate_addr (vmx/nested.c:389-407)
    // syncs the nGPA in B's root, so L2 on EPTP B (a root cache hit, no sync: kvm_mmu_new_pgd)
    // sees L1's new frame without an INVEPT.
    n.enter(eptpB);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(0x600_0000n));
  });

  it('L2 entry and exit switch the MMU: L1 accesses go through the TDP root again', () => {
    const n = nested();
    n.l1pt.map(0x7000_0000n, 0x80_0000n, { flags: { writable: true } });
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    const r = n.v.read(0x7000_0000n);
    expect(r.status).toBe('ok');
    expect(r.exits.every((e) => e.kind === 'ept_violation')).toBe(true);
    expect(n.vm.tdp.roots.length).toBe(1);
    expect(n.vm.tdp.roots[0]!.role.guestMode).toBe(false);
  });
});
