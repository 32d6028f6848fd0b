/**
 * The result of a TLB hit (vcpu-tlb.ts tlbHitResult): it comes priced, every hit gets its own
 * result and walk record (none is shared between accesses; only the frozen empty `exits` and
 * `trace` arrays are), and every hit counts (TLB and vCPU counters, the cost totals, an event).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, DEFAULT_COST_PARAMS } from '../../src';
import { LONG_MODE } from './fixtures';

const VA = 0x7000_0000n;

function setup() {
  const vm = new Vm({ spte: { flavour: 'ept' }, tlb: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  pt.map(VA, 0x20_0000n, { count: 4, flags: { writable: true } });
  return { vm, v: vm.createVcpu({ ...LONG_MODE, cr3: pt.root }) };
}

describe('TLB-hit results', () => {
  it('each hit gets its own result, equal for equal hits; every hit is counted and priced', () => {
    const { vm, v } = setup();
    const miss = v.read(VA);
    expect(miss.tlb).toBe('miss');
    const h1 = v.read(VA);
    const h2 = v.read(VA);
    const h3 = v.read(VA);
    expect([h1.tlb, h2.tlb, h3.tlb]).toEqual(['l1', 'l1', 'l1']);
    expect(h1).toEqual(h2);
    expect([h1 === h2, h2 === h3, h2.guestWalk === h3.guestWalk]).toEqual([false, false, false]);
    // A caller may keep and change its result without changing another's.
    (h2 as { gpa: bigint }).gpa = 0n;
    expect(h3.gpa).toBe(0x20_0000n);
    // Another address, then another access kind.
    const other = v.read(VA + 8n);
    const w = v.write(VA + 8n);
    expect([other === h3, other.gpa, w === other, w.access.kind, w.tlb]).toEqual([false, 0x20_0008n, false, 'write', 'miss']); // a read-filled clean leaf: a write walks to set D (SDM §4.8)
    // Each hit priced (an L1 hit's modelled cost: cost-model.ts l1TlbHit) and counted.
    expect([h1.cycles, h3.cycles, h3.cost?.tlb]).toEqual([DEFAULT_COST_PARAMS.l1TlbHit.cycles, DEFAULT_COST_PARAMS.l1TlbHit.cycles, DEFAULT_COST_PARAMS.l1TlbHit.cycles]);
    expect(v.tlb!.stats.get('l1_hits')).toBe(4); // h1, h2, h3, other
    expect(vm.events.all.filter((e) => e.kind === 'tlb_hit').length).toBe(4);
    // The totals are the sum of every access's cost.
    expect(v.cycles.cycles).toBe([miss, h1, h2, h3, other, w].reduce((t, r) => t + r.cycles!, 0));
  });

  it('a hit shares one frozen empty exits array and trace; nothing can be pushed onto them', () => {
    const { v } = setup();
    const miss = v.read(VA);
    const [h1, h2] = [v.read(VA), v.read(VA + 16n)];
    expect([h1.tlb, h2.tlb]).toEqual(['l1', 'l1']);
    expect([h1.exits === h2.exits, h1.guestWalk.trace === h2.guestWalk.trace]).toEqual([true, true]);
    for (const a of [h1.exits, h1.guestWalk.trace]) {
      expect(a).toEqual([]);
      expect(Object.isFrozen(a)).toBe(true);
      expect(() => (a as unknown[]).push(1)).toThrow(TypeError);
    }
    // The miss that filled the entry has its own (mutable) arrays: the walk's steps, no exits here.
    expect([miss.exits === h1.exits, miss.guestWalk.trace.length > 0]).toEqual([false, true]);
  });

  it("a hit's result has the fields of the miss that filled its entry, with the same values but for the walk", () => {
    const { v } = setup();
    v.read(VA + 8n); // the TDP fault, so that the miss below walks without an exit
    v.invlpg(VA + 8n);
    const miss = v.read(VA + 8n);
    const hit = v.read(VA + 8n);
    expect([miss.tlb, miss.exits.length, hit.tlb]).toEqual(['miss', 0, 'l1']);
    expect(Object.keys(hit).sort()).toEqual(Object.keys(miss).sort());
    expect(Object.keys(hit.guestWalk).sort()).toEqual(Object.keys(miss.guestWalk).sort());
    const same = (r: typeof miss) => ({ status: r.status, gva: r.gva, access: r.access, gpa: r.gpa, hpa: r.hpa, exits: r.exits, attempts: r.attempts });
    expect(same(hit)).toEqual(same(miss));
    const { trace: _t, adUpdates: _a, ...walk } = miss.guestWalk as typeof miss.guestWalk & { adUpdates: number };
    const { trace, adUpdates, ...hitWalk } = hit.guestWalk as typeof hit.guestWalk & { adUpdates: number };
    expect(hitWalk).toEqual(walk);
    expect([trace, adUpdates]).toEqual([[], 0]);
  });
});
