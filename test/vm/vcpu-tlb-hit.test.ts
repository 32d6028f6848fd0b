/**
 * The result of a TLB hit (vcpu-tlb.ts tlbHitResult): it comes priced, every hit gets its own
 * result (none is shared between accesses), and every hit counts (TLB and vCPU counters, the cost
 * totals, an event).
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
    expect([h1 === h2, h2 === h3, h2.exits === h3.exits, h2.guestWalk === h3.guestWalk]).toEqual([false, false, false, false]);
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

});
