/**
 * Nested NPT (reference §2.5, §6.6, §6.8, §8.3, §10.1, §10.2): guest_mmu shadows L1's NPT12 while
 * L2 runs on an AMD host. NPT02 misses fixed by KVM versus NPT12 faults reflected to L1 as NPF
 * #VMEXITs; roles as kvm_init_shadow_npt_mmu computes them (worked out by hand from the v6.16
 * layout: level 3:0, access 10:8, efer_nx 12, smep_andnot_wp 14, guest_mode 17, passthrough 18);
 * the special roots for a PAE NPT12; the KVM_REQ_MMU_SYNC of every nested transition; bad input.
 */
import { describe, expect, it } from 'vitest';
import { CR4, GpaOutsideMemoryError, InvalidArgumentError, InvalidRegisterStateError, checkShadowInvariants, gpa } from '../../src';
import { nested } from './nested-fixture';
import { nestedNpt, GVA, DATA_N, DATA_G, L2_LONG } from './nested-npt-fixture';

const FINAL = 2 ** 32; // EXITINFO1 bit 32: the final guest-physical access
const PAGE = 2 ** 33; // EXITINFO1 bit 33: an access to an L2 page-table entry

const hostEntry = (vm: ReturnType<typeof nestedNpt>['vm'], pfn: number, idx: number): bigint => {
  const b = vm.host.frames.readBytes(gpa(BigInt(pfn) * 4096n + BigInt(idx) * 8n), 8);
  let v = 0n;
  for (let j = 7; j >= 0; j--) v = (v << 8n) | BigInt(b[j]!);
  return v;
};

describe('nested NPT: guest_mmu shadows NPT12', () => {
  it('an L2 access: NPT02 misses are fixed by KVM (NPF, RET_PF_FIXED); the data reaches the frame of NPT12\'s L1 GPA', () => {
    const n = nestedNpt();
    n.enter();
    expect(n.v.nestedNpt!.active).toBe(true);
    const r = n.v.read(GVA + 0x123n);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    expect(r.l1Gpa).toBe(DATA_G + 0x123n);
    expect(r.gpa).toBe(DATA_N + 0x123n);
    // Four L2 tables (NPT12 leaves without A: no prefetch), then the data page.
    expect(r.exits.map((e) => [e.kind, e.onGuestTable, e.ret])).toEqual([
      ...Array(4).fill(['npf', true, 'RET_PF_FIXED']),
      ['npf', false, 'RET_PF_FIXED'],
    ]);
    expect(n.v.stats.get('nested_fixed')).toBe(5);
    expect(n.v.read(GVA + 0x123n).exits).toEqual([]);
  });

  it('not present in NPT12: an NPF is reflected to L1 (EXITINFO1 = W|U | GUEST_FINAL, EXITINFO2 = nGPA) and L2 stops', () => {
    const n = nestedNpt();
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    n.enter();
    const r = n.v.write(GVA + 0x10_0008n);
    expect(r.status).toBe('l1-exit');
    const x = r.nestedExit!;
    expect(x.kind).toBe('npf');
    if (x.kind !== 'npf') return;
    expect(x.exitCode).toBe(0x400);
    expect(x.exitInfo1).toBe(FINAL + 0x6);
    expect(x.exitInfo2).toBe(0x380_0008n);
    expect(n.v.stats.get('nested_reflected')).toBe(1);
    expect(n.v.nestedNpt!.active).toBe(false); // #VMEXIT: vcpu->arch.mmu = root_mmu
  });

  it('write to a read-only NPT12 page; NX fetch with L1 EFER.NXE; U=0 (every nested access is user): reflected with P set', () => {
    const n = nestedNpt();
    n.npt.map(DATA_N + 0x1000n, DATA_G + 0x1000n, { flags: { writable: false, user: true } });
    n.npt.map(DATA_N + 0x2000n, DATA_G + 0x2000n, { flags: { writable: true, user: true, nx: true } });
    n.npt.map(DATA_N + 0x3000n, DATA_G + 0x3000n, { flags: { writable: true, user: false } });
    const cases: [bigint, 'read' | 'write' | 'fetch', 'ok' | number][] = [
      [0x1000n, 'read', 'ok'],
      [0x1000n, 'write', FINAL + 0x7], // P|W|U
      [0x2000n, 'read', 'ok'],
      [0x2000n, 'fetch', FINAL + 0x15], // P|U|I/D
      [0x3000n, 'read', FINAL + 0x5], // P|U: a user access to a supervisor NPT12 page
      [0x3000n, 'write', FINAL + 0x7],
    ];
    for (const [off, kind, want] of cases) {
      if (!n.v.nestedNpt?.active) n.enter();
      const r = n.v.access(GVA + off, { kind });
      if (want === 'ok') expect(r.status).toBe('ok');
      else {
        expect([r.status, r.nestedExit?.kind]).toEqual(['l1-exit', 'npf']);
        if (r.nestedExit?.kind === 'npf') expect([r.nestedExit.exitInfo1, r.nestedExit.exitInfo2]).toEqual([want, DATA_N + off]);
      }
    }
  });

  it('L2 page-table accesses need NPT12 write: a read-only L2 table page is an NPF with GUEST_PAGE', () => {
    const n = nestedNpt();
    const root = BigInt(n.l2pt.root);
    n.npt.setEntry(root, 1, root | 0x5n); // P|U, no W
    n.enter();
    const r = n.v.read(GVA);
    expect(r.nestedExit?.kind).toBe('npf');
    if (r.nestedExit?.kind !== 'npf') return;
    expect(r.nestedExit.exitInfo1).toBe(PAGE + 0x7); // P|W|U
    expect(r.nestedExit.exitInfo2).toBe(root);
  });

  it("roles: 4-level NPT12 on a 4-level host (CR0 = PG only: WP off, so L1 SMEP shows as smep_andnot_wp) (KVM '6.16')", () => {
    for (const [cr4, want] of [[0n, 0x21704], [CR4.SMEP, 0x25704]] as const) {
      const n = nestedNpt({ l1Cr4: cr4, kvm: '6.16' });
      n.enter();
      n.v.read(GVA);
      const ctx = n.v.nestedNpt!.ctx!;
      expect(ctx.rootRole.word).toBe(want); // level 4 | ACC_ALL<<8 | efer_nx | [smep_andnot_wp] | guest_mode
      expect(ctx.cpuRole.base.word).toBe(want);
      const root = n.vm.shadow.find(Number(n.ncr3 >> 12n)).filter((sp) => sp.level === 4)[0]!;
      expect(root.role.word).toBe(want);
      expect(ctx.root.sp).toBe(root);
    }
  });

  it("roles, KVM '7.3': base.cr4_smep is GMET, not L1's CR4.SMEP (kvm-7x.md §3.1 layout, §3.3)", () => {
    // level 4 | ACC_ALL 0xF << 8 | efer_nx (bit 13) | guest_mode (bit 17); cr4_smep (bit 20) = GMET.
    for (const cr4 of [0n, CR4.SMEP]) {
      for (const [gmet, want] of [[false, 0x22f04], [true, 0x122f04]] as const) {
        const n = nestedNpt({ l1Cr4: cr4, gmet });
        n.enter();
        n.v.read(GVA);
        const ctx = n.v.nestedNpt!.ctx!;
        expect(ctx.rootRole.word).toBe(want);
        expect(n.vm.shadow.find(Number(n.ncr3 >> 12n)).filter((sp) => sp.level === 4)[0]!.role.word).toBe(want);
      }
    }
  });

  it("roles: 4-level NPT12 on a 5-level host: a passthrough root over the NPT12 root table (KVM '6.16')", () => {
    const n = nestedNpt({ host: 5, kvm: '6.16' });
    n.enter();
    n.v.read(GVA);
    const ctx = n.v.nestedNpt!.ctx!;
    expect(ctx.rootRole.word).toBe(0x61705); // level 5 | ACC_ALL<<8 | efer_nx | guest_mode | passthrough
    expect(ctx.cpuRole.base.word).toBe(0x21704);
    const sps = n.vm.shadow.find(Number(n.ncr3 >> 12n));
    expect(sps.map((sp) => sp.role.word).sort()).toEqual([0x21704, 0x61705]);
    expect(ctx.root.sp!.role.word).toBe(0x61705);
    expect(ctx.root.sp!.role.passthrough).toBe(true);
  });

  it('roles: PAE NPT12 on 4- and 5-level hosts: special roots (pml4_root/pml5_root → pae_root, P|A|W|U), no SP behind them', () => {
    for (const host of [4, 5] as const) {
      const n = nestedNpt({ host, npt12: 'pae', kvm: '6.16' });
      n.enter();
      expect(n.v.read(GVA).status).toBe('ok');
      const ctx = n.v.nestedNpt!.ctx!;
      expect(ctx.cpuRole.base.level).toBe(3);
      expect(ctx.rootRole.word).toBe(0x21700 | host);
      expect(ctx.root.sp).toBe(null);
      expect(ctx.root.hpa).toBe(host === 5 ? ctx.pml5RootPfn : ctx.pml4RootPfn);
      expect(n.vm.shadow.pageAt(ctx.root.hpa)).toBe(undefined);
      if (host === 5) expect(hostEntry(n.vm, ctx.pml5RootPfn, 0)).toBe((BigInt(ctx.pml4RootPfn) << 12n) | 0x27n);
      expect(hostEntry(n.vm, ctx.pml4RootPfn, 0)).toBe((BigInt(ctx.paeRootPfn) << 12n) | 0x27n);
      // L2's data at nGPA 0x300_0000 is in quarter 0: pae_root[0] → a level-2 SP for the NPT12 PD.
      const sp = ctx.paeRootSps[0]!;
      expect(sp.role.word).toBe(0x21702);
      expect(hostEntry(n.vm, ctx.paeRootPfn, 0)).toBe((BigInt(sp.pfn) << 12n) | 0x27n);
      expect(ctx.paeRootSps.slice(1)).toEqual([null, null, null]); // PDPTEs 1..3 not present in NPT12
    }
  });

  it('every transition syncs: an L1 edit of an NPT12 leaf reaches L2 at the next VMRUN, without any INVLPGA', () => {
    const n = nestedNpt();
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    const w = n.storeEntry(DATA_N, 1, 0x600_0000n | 0x7n);
    expect(w.status).toBe('ok'); // L1's write unsynced the 4K NPT02 page; the store ran in hardware
    const leafTable = Number(BigInt(n.npt.getEntry(DATA_N, 1).gpa) >> 12n);
    const sp = n.vm.shadow.find(leafTable)[0]!;
    expect(sp.unsync).toBe(true);
    n.enter(); // root cache hit, and KVM_REQ_MMU_SYNC syncs it
    expect(n.v.stats.get('root_cache_hit')).toBe(1);
    expect(sp.unsync).toBe(false);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(0x600_0000n));
  });

  it('an upper-level NPT12 edit is emulated and zaps the NPT02 entry; L2 sees it after re-entry', () => {
    const n = nestedNpt();
    n.npt.map(0x340_0000n, 0x700_0000n, { count: 4, flags: { writable: true, user: true } });
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    const w = n.storeEntry(DATA_N, 2, n.npt.getEntry(0x340_0000n, 2).value);
    expect([w.status, w.emulation]).toEqual(['emulated', 'write to a write-protected gfn (shadowed page table)']);
    n.enter();
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(0x700_0000n));
  });

  it('invariants hold in checking mode through entries, fixes, reflections, L1 edits and exits', () => {
    for (const o of [{}, { host: 5 as const }, { npt12: 'pae' as const }]) {
      const n = nestedNpt(o);
      n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
      n.enter();
      for (let i = 0; i < 4; i++) n.v.write(GVA + BigInt(i) * 4096n);
      expect(n.v.read(GVA + 0x10_0000n).status).toBe('l1-exit');
      n.storeEntry(DATA_N + 0x1000n, 1, (DATA_G + 0x3000n) | 0x7n);
      n.enter();
      expect(BigInt(n.v.read(GVA + 0x1000n).hpa!) >> 12n).toBe(n.frameOf(DATA_G + 0x3000n));
      n.v.exitNested();
      checkShadowInvariants(n.vm.shadow);
    }
  });

  describe('bad input: typed errors, state untouched', () => {
    it('nested NPT on an EPT VM', () => {
      const n = nested();
      const before = n.vm.shadow.allPages.length;
      const f = () => n.v.enterNestedNpt({ ncr3: 0x20_0000n, l1: { ...L2_LONG, efer: L2_LONG.efer | 0x1000n, cr3: 0n }, l2: { ...L2_LONG, cr3: 0x100_0000n } });
      expect(f).toThrow(InvalidArgumentError);
      expect(f).toThrow(/rule: nested-npt-needs-npt/);
      expect(n.v.nestedNpt).toBe(undefined);
      expect(n.vm.shadow.allPages.length).toBe(before);
    });

    it('an nCR3 outside L1 memory, an NPT12 level L1\'s mode cannot have, an NPT12 deeper than the host', () => {
      const n = nestedNpt();
      n.enter();
      n.v.read(GVA);
      n.v.exitNested();
      const mmu = n.v.nestedNpt!;
      const snap = () => [mmu.active, mmu.ncr3, mmu.ctx!.root, mmu.ctx!.rootRole.word, n.vm.shadow.allPages.length, n.vm.events.length];
      const before = snap();
      const l1 = { ...n.l1Regs, cr3: n.l1pt.root };
      const l2 = { ...L2_LONG, cr3: n.l2pt.root };
      const bad: [() => void, new (...a: never[]) => Error, string][] = [
        [() => n.v.enterNestedNpt({ ncr3: 0x8000_0000n, l1, l2 }), GpaOutsideMemoryError, 'ncr3-outside-l1-memory'],
        [() => n.v.enterNestedNpt({ ncr3: n.ncr3, l1, l2, level: 3 }), InvalidRegisterStateError, 'npt-level-vs-l1-mode'],
        [() => n.v.enterNestedNpt({ ncr3: n.ncr3, l1: { ...l1, cr4: l1.cr4 | CR4.LA57 }, l2 }), InvalidRegisterStateError, 'npt12-deeper-than-host'],
      ];
      for (const [f, cls, rule] of bad) {
        let err: unknown;
        try {
          f();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(cls);
        expect((err as { rule: string }).rule).toBe(rule);
        expect(snap()).toEqual(before);
      }
    });
  });
});
