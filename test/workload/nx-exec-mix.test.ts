/** The NX huge page workload (src/workload/nx-exec-mix.ts) and what KVM does with it. */
import { describe, expect, it } from 'vitest';
import { nxExecMix, nxExecPages } from '../../src/workload/nx-exec-mix';
import { runTrace } from '../../src/workload/trace-run';
import { validateTrace } from '../../src/workload/validate-trace';

describe('nxExecMix', () => {
  it('chooses round(share × pages) executed pages: packed at the start, spread seeded', () => {
    expect([...nxExecPages(1024, 3, 'packed', 1)]).toEqual([0, 1, 2]);
    const a = nxExecPages(1024, 10, 'spread', 5);
    expect(a.size).toBe(10);
    expect([...a]).toEqual([...nxExecPages(1024, 10, 'spread', 5)]);
    expect([...a]).not.toEqual([...nxExecPages(1024, 10, 'spread', 6)]);
    const t = nxExecMix({ regions: 2, execShare: 0.01, seed: 1 });
    expect(validateTrace(t)).toBe(t);
    expect(t.ops.filter((o) => o.t === 'x')).toHaveLength(10); // round(0.01 × 1024)
    expect(t.ops.filter((o) => o.t === 'r')).toHaveLength(1024); // load: every page read once
  });

  it('phases: recovery op between them; load:false fetches without reading first', () => {
    const t = nxExecMix({ regions: 1, execShare: 1, load: false, recoverRatio: 1, after: 'read', seed: 1 });
    const k = t.ops.findIndex((o) => o.t === 'nxrecover');
    expect(t.ops.slice(1, k).every((o) => o.t === 'x')).toBe(true);
    expect(t.ops.slice(k + 1).every((o) => o.t === 'r')).toBe(true);
    expect(t.ops).toHaveLength(1 + 512 + 1 + 512);
  });

  it('NX huge pages on: a region mapped huge and then executed is split once, its 512 children mapped by the split', () => {
    const spec = { name: 'tdp-ept', hostPageSize: '2M', nxHugePages: true } as const;
    const loaded = runTrace(spec, nxExecMix({ regions: 4, execShare: 0.01, layout: 'spread', seed: 3 }));
    // mmu.c:3299 exec faults disallow the huge page; tdp_mmu.c:1288 splits the 2M leaf eagerly,
    // spte.c:322-323 makes the 4K children executable: one split table per region, one fault each.
    expect(loaded.counters.nx_lpage_splits).toBe(4);
    expect(loaded.counters.pf_taken).toBe(1 + 4 + 4); // page-table pool region, 4 huge reads, 4 exec faults
    // Fetched first (no load): tdp_mmu.c:1290 links an empty table, and disallowed_hugepage_adjust
    // (mmu.c:3330-3347) forces every later fault in the region to 4K: 512 faults in the region.
    const cold = runTrace(spec, nxExecMix({ regions: 1, execShare: 1 / 512, layout: 'packed', load: false, after: 'read', seed: 3 }));
    expect(cold.counters.pf_taken).toBe(1 + 512);
    // Mitigation off: no split, one fault per region (spte.c:196 only strips exec when enabled).
    expect(runTrace({ ...spec, nxHugePages: false }, nxExecMix({ regions: 4, execShare: 1, seed: 3 })).counters.pf_taken).toBe(1 + 4);
  });
});
