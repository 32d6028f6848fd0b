/** The cost model: parameter set, overrides, the arithmetic of one access, and what it is charged for. */
import { describe, expect, it } from 'vitest';
import { makeCostModel, accessCost, kvmHandlingCycles, walkRefCycles, costModelRows, DEFAULT_COST_PARAMS, COST_PARAM_NAMES, InvalidArgumentError, costModelBundle, richBundle, Vm, PageTableBuilder, CR0, CR4, EFER } from '../../src';

const EXIT = (ret: string, fast = false, mmio = false) => ({ ret, fast, mmio });

describe('cost model', () => {
  it('every parameter has cycles, what it is, a source and a status', () => {
    for (const n of COST_PARAM_NAMES) {
      const p = DEFAULT_COST_PARAMS[n];
      expect(p.cycles).toBeGreaterThanOrEqual(0);
      expect(p.what.length).toBeGreaterThan(10);
      expect(p.source.length).toBeGreaterThan(10);
      expect(['measured', 'recalled', 'assumption']).toContain(p.status);
    }
    // The published figures this model cites (checked while writing it).
    expect([DEFAULT_COST_PARAMS.walkRefL1.cycles, DEFAULT_COST_PARAMS.walkRefL2.cycles, DEFAULT_COST_PARAMS.walkRefL3.cycles]).toEqual([4, 12, 44]); // Opt. manual, Skylake cache table
    expect(DEFAULT_COST_PARAMS.vmExitEntry.cycles).toBe(1360); // LKML 2020-12, pre-/post-VMRUN +1344..1376
  });

  it('arithmetic: tlb + refs × walk latency + exits × round trip + KVM handling per RET_PF_* + emulation + userspace + remote flushes', () => {
    const m = makeCostModel({ cycles: { stlbHit: 10, walkRefL2: 100, vmExitEntry: 1000, kvmFaultSlow: 10_000, kvmFaultFast: 20_000, kvmMmio: 30_000, emulation: 5, userspaceExit: 7, remoteTlbFlush: 3 } });
    const c = accessCost(m, { tlb: 'miss', walkRefs: 24, exits: [EXIT('RET_PF_FIXED'), EXIT('RET_PF_FIXED', true), EXIT('RET_PF_EMULATE', false, true)], emulated: true, userspaceExit: true, remoteFlushes: 2 });
    expect(c).toEqual({ tlb: 10, walk: 2400, exits: 3000, kvm: 60_000, emulation: 5, userspace: 7, remoteFlush: 6, cycles: 10 + 2400 + 3000 + 60_000 + 5 + 7 + 6 });
    expect(accessCost(m, { tlb: 'l1', walkRefs: 0, exits: [], emulated: false, userspaceExit: false, remoteFlushes: 0 }).cycles).toBe(DEFAULT_COST_PARAMS.l1TlbHit.cycles);
    expect(accessCost(m, { tlb: 'stlb', walkRefs: 0, exits: [], emulated: false, userspaceExit: false, remoteFlushes: 0 }).cycles).toBe(10);
  });

  it('KVM handling by outcome; walk references priced at the chosen level', () => {
    const m = makeCostModel({ walkRefLevel: 'DRAM' });
    const p = m.params;
    expect(kvmHandlingCycles(m, EXIT('RET_PF_RETRY'))).toBe(p.kvmFaultRetry.cycles);
    expect(kvmHandlingCycles(m, EXIT('RET_PF_SPURIOUS'))).toBe(p.kvmFaultSpurious.cycles);
    expect(kvmHandlingCycles(m, EXIT('RET_PF_SPURIOUS', true))).toBe(p.kvmFaultFast.cycles);
    expect(kvmHandlingCycles(m, EXIT('RET_PF_EMULATE', false, true))).toBe(p.kvmMmio.cycles);
    expect(walkRefCycles(m)).toBe(p.walkRefDram.cycles);
    expect(walkRefCycles(makeCostModel({ walkRefLevel: 'L1' }))).toBe(4);
  });

  it('overrides are marked in the table; bad overrides are typed errors', () => {
    const m = makeCostModel({ cycles: { vmExitEntry: 900 } });
    const row = costModelRows(m).find((r) => r.name === 'vmExitEntry')!;
    expect([row.cycles, row.source]).toEqual([900, 'override (this run)']);
    expect(() => makeCostModel({ cycles: { nope: 1 } as never })).toThrow(/unknown cost parameter/);
    expect(() => makeCostModel({ cycles: { stlbHit: -1 } })).toThrow(InvalidArgumentError);
    expect(() => makeCostModel({ walkRefLevel: 'L4' as never })).toThrow(/walkRefLevel/);
  });

  it('renders as a table naming each number\'s source and status', () => {
    const b = costModelBundle(makeCostModel());
    expect(richBundle(makeCostModel())).toEqual(b);
    const text = b['text/plain'] as string;
    for (const n of COST_PARAM_NAMES) expect(text).toContain(n);
    expect(text).toContain('248966-045');
    expect(text).toContain('assumption');
    expect(b['text/html'] as string).toMatch(/^<table class="mmulab"><caption>Cost model/);
  });
});

describe('cycles in access results', () => {
  it('a cold TDP access is priced from its counts; a TLB hit costs the L1 hit', () => {
    const cost = { cycles: { l1TlbHit: 1, stlbHit: 10, walkRefL2: 100, vmExitEntry: 1000, kvmFaultSlow: 10_000 } };
    const vm = new Vm({ spte: { flavour: 'ept' }, tlb: true, cost });
    vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
    pt.map(0x7000_0000n, 0x20_0000n);
    const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE, cr3: pt.root });
    const r = v.read(0x7000_0000n);
    // Two exits (the tables' 2 MiB TDP page, then the data's), both RET_PF_FIXED by the slow path.
    expect(r.exits.map((e) => [e.ret, e.fast])).toEqual([['RET_PF_FIXED', false], ['RET_PF_FIXED', false]]);
    expect(r.cycles).toBe(10 + r.walkRefs! * 100 + 2 * 1000 + 2 * 10_000);
    const h = v.read(0x7000_0000n);
    expect([h.tlb, h.cycles]).toEqual(['l1', 1]);
    expect(v.cycles.cycles).toBe(r.cycles! + 1);
  });
});
