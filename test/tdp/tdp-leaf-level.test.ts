/**
 * `TdpMmu.leafLevelUnchecked` reads SPTEs as 32-bit halves for the sweep's reference model
 * (workload/memory-refs.ts); it must give the level `lastSpteUnchecked` (tdp_mmu.c
 * `kvm_tdp_mmu_get_walk` / `tdp_mmu_for_each_pte` down to the last SPTE) gives, on every table
 * shape: 4 KiB, 2 MiB and 1 GiB leaves, splits and recoveries, zapped ranges, not-present entries
 * at every level, 4- and 5-level EPT and NPT, direct roots with a shared-bit offset and mirror
 * roots. Random operation sequences (fast-check) against the bigint walk.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Counters, InvariantViolation, PageRole, TdpMmu, Vm, VCPU_STAT_NAMES, memslotPfn, newPageFault, type ExternalPageTableHooks, type Memslot, type TdpPage,
} from '../../src';

type Op =
  | { t: 'fault'; gfn: number; write: boolean; mirror: boolean }
  | { t: 'zap'; gfn: number; n: number }
  | { t: 'split'; gfn: number; n: number }
  | { t: 'recover' };

const RAM_PAGES = 1 << 19; // 2 GiB: two 1 GiB regions

interface Setup {
  flavour: 'ept' | 'npt';
  maxTdpLevel: 4 | 5;
  hostPageSize: '4K' | '2M' | '1G';
  gfnDirectBits: number;
  /** 52 puts the host's table frames (top half of host memory) at PFNs of 2^39: SPTE bits 51:32 in use. */
  hostMaxPhyAddr: 46 | 52;
}

function machine(s: Setup) {
  const vm = new Vm({ spte: { flavour: s.flavour, maxTdpLevel: s.maxTdpLevel, hostMaxPhyAddr: s.hostMaxPhyAddr } });
  const slot: Memslot = vm.addMemslot({ base: 0n, size: BigInt(RAM_PAGES) * 4096n, name: 'ram', hostPageSize: s.hostPageSize });
  // Mirror roots need external page table hooks (TDX's S-EPT); these accept every change.
  const hooks: ExternalPageTableHooks = { linkExternalSpt: () => 0, setExternalSpte: () => 0, removeExternalSpte: () => undefined, freeExternalSpt: () => undefined };
  const ctx = Object.create(vm, { external: { value: hooks }, gfnDirectBits: { value: s.gfnDirectBits } }) as Vm;
  const tdp = new TdpMmu(ctx);
  const role = PageRole.pack({ level: vm.config.tdpLevel, direct: true, access: 7 }, vm.config.kvm);
  const direct = tdp.getRoot(role, 0);
  const mirror = s.flavour === 'ept' ? tdp.getRoot(role.with({ isMirror: true }), 0) : undefined;
  const stats = new Counters(VCPU_STAT_NAMES);
  const fault = (root: TdpPage, gfn: number, write: boolean) => {
    const f = newPageFault(BigInt(gfn) * 4096n, write ? 0x2n : 0n);
    f.slot = slot;
    f.pfn = memslotPfn(slot, f.gfn);
    f.mapWritable = true;
    tdp.map(f, root, 0, stats);
  };
  return { vm, slot, tdp, direct, mirror, fault };
}

const gfnArb = fc.oneof(fc.integer({ min: 0, max: RAM_PAGES - 1 }), fc.integer({ min: 0, max: 2047 }), fc.constantFrom(0, 511, 512, 0x3ffff, 0x40000, RAM_PAGES - 1));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('fault' as const), gfn: gfnArb, write: fc.boolean(), mirror: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('zap' as const), gfn: gfnArb, n: fc.integer({ min: 1, max: 1 << 19 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('split' as const), gfn: gfnArb, n: fc.integer({ min: 1, max: 1 << 19 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'recover' as const }) },
);
const setupArb: fc.Arbitrary<Setup> = fc.record({
  flavour: fc.constantFrom('ept' as const, 'npt' as const),
  maxTdpLevel: fc.constantFrom(4 as const, 5 as const),
  hostPageSize: fc.constantFrom('4K' as const, '2M' as const, '1G' as const),
  gfnDirectBits: fc.constantFrom(0, 1 << 20),
  hostMaxPhyAddr: fc.constantFrom(46 as const, 52 as const),
});

describe('leafLevelUnchecked: the level of lastSpteUnchecked, from the SPTE halves', () => {
  it('agrees with the bigint walk on random table shapes, roots and GFNs (mapped, neighbours, unmapped, beyond RAM)', () => {
    fc.assert(
      // Far GFNs stay below 2^40 with the largest shared bit (gfnDirectBits 2^20) added, so every probe
      // is compared and the check below (some level was compared) cannot fail for a skipped probe.
      fc.property(setupArb, fc.array(opArb, { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 2 ** 40 - 1 - 2 ** 20 }), { maxLength: 8 }), (s, ops, far) => {
        const m = machine(s);
        const probes = new Set<number>(far);
        for (const op of ops) {
          if (op.t === 'fault') {
            m.fault(op.mirror && m.mirror ? m.mirror : m.direct, op.gfn, op.write);
            for (const d of [-1, 0, 1, 511, 512]) if (op.gfn + d >= 0) probes.add(op.gfn + d);
          } else if (op.t === 'zap') m.tdp.zapLeafs(op.gfn, Math.min(op.gfn + op.n, RAM_PAGES));
          else if (op.t === 'split') m.tdp.splitRange(op.gfn, Math.min(op.gfn + op.n, RAM_PAGES));
          else m.tdp.recoverHugePages(m.slot);
        }
        const levels = new Set<number>();
        for (const root of m.mirror ? [m.direct, m.mirror] : [m.direct]) {
          for (const gfn of probes) {
            // A direct root's walk is at the GFN with its shared bit (gfnBitsOf), as KVM's callers pass it.
            const g = gfn + m.tdp.gfnBitsOf(root);
            if (g > 2 ** 40 - 1) continue;
            const want = m.tdp.lastSpteUnchecked(root, g)[2];
            levels.add(want);
            expect(m.tdp.leafLevelUnchecked(root, g), `gfn ${g.toString(16)} root L${root.level}${root.role.isMirror ? ' mirror' : ''}`).toBe(want);
          }
        }
        return levels.size > 0 || probes.size === 0;
      }),
      { numRuns: 100 },
    );
  });

  it('stops at each level where the entry is not present or a huge leaf: 1 GiB, 2 MiB, 4 KiB, empty', () => {
    for (const [hostPageSize, want] of [['1G', 3], ['2M', 2], ['4K', 1]] as const) {
      const m = machine({ flavour: 'ept', maxTdpLevel: 4, hostPageSize, gfnDirectBits: 0, hostMaxPhyAddr: 52 });
      expect(m.tdp.leafLevelUnchecked(m.direct, 0x1234)).toBe(4); // empty root: its own entry is not present
      m.fault(m.direct, 0x40000 + 0x1234, true);
      expect(m.tdp.lastSpteUnchecked(m.direct, 0x40000 + 0x1234)[2]).toBe(want);
      expect(m.tdp.leafLevelUnchecked(m.direct, 0x40000 + 0x1234)).toBe(want);
      // The other 1 GiB region shares the level-4 table only: not present at level 3.
      expect(m.tdp.leafLevelUnchecked(m.direct, 0x1234)).toBe(3);
    }
  });

  it('a non-leaf SPTE pointing at no TDP page is the same InvariantViolation as lastSpteUnchecked raises', () => {
    const m = machine({ flavour: 'npt', maxTdpLevel: 4, hostPageSize: '4K', gfnDirectBits: 0, hostMaxPhyAddr: 46 });
    m.fault(m.direct, 0x10, false);
    // Point the root's entry 0 at a frame that holds no TDP page (a bug the walk must not hide).
    const [sp, idx] = m.tdp.lastSpteUnchecked(m.direct, 0x10);
    expect(sp.level).toBe(1);
    const entry = BigInt(m.direct.pfn) * 4096n;
    const old = m.vm.host.frames.read64(entry as never);
    m.vm.host.frames.write64(entry as never, (old & ~0x000f_ffff_ffff_f000n) | (BigInt(sp.pfn + 12345) << 12n));
    expect(idx).toBe(0x10);
    const bigintError = (() => { try { m.tdp.lastSpteUnchecked(m.direct, 0x10); } catch (e) { return e; } })();
    const numberError = (() => { try { m.tdp.leafLevelUnchecked(m.direct, 0x10); } catch (e) { return e; } })();
    expect(bigintError).toBeInstanceOf(InvariantViolation);
    expect(numberError).toBeInstanceOf(InvariantViolation);
    expect((numberError as Error).message).toBe((bigintError as Error).message);
  });
});
