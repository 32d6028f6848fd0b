import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { profiledSweep, sweep } from '../../src/sweep/sweep';
import { saveSweep, loadSweep, mergeSweeps } from '../../src/sweep/sweep-io';
import { SweepError } from '../../src/sweep/sweep-error';
import { ConfigurationError } from '../../src/workload/config-error';
import type { SweepOptions } from '../../src/sweep/sweep';

const SPEC: SweepOptions = {
  configs: ['tdp-ept', 'shadow', 'nested-shadow'],
  workloads: [
    { generator: 'uniform', params: { pages: [16, 32], accesses: [40] } },
    { generator: 'fork-storm', params: { pages: [8], forks: [2], writesPerFork: [3] } },
  ],
  seeds: [1, 2],
};
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mmulab-sweep-'));

describe('sweep', () => {
  it('one row per config x workload x params x seed, identical with 1 and 2 workers, with progress', async () => {
    const seen: [number, number][] = [];
    const one = await sweep({ ...SPEC, workers: 1, onProgress: (d, t) => seen.push([d, t]) });
    const two = await sweep({ ...SPEC, workers: 2 });
    expect(one.numRows()).toBe(3 * (2 + 1) * 2);
    expect(seen.at(-1)).toEqual([18, 18]);
    expect(seen.map((s) => s[0])).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    expect(two.objects()).toEqual(one.objects());
    expect(one.columnNames()).toEqual(expect.arrayContaining(['config', 'workload', 'params', 'seed', 'exits', 'pf_fixed', 'mmu_pte_write', 'exits_per_1000']));
    // Rows of the same job differ only by seed: the seeds reached the generator.
    const u = one.filter((d: { workload: string; config: string; params: string }) => d.workload === 'uniform' && d.config === 'shadow' && d.params === '{"accesses":40,"pages":16}').objects() as { seed: number; exits: number }[];
    expect(u.map((r) => r.seed)).toEqual([1, 2]);
    // Under vitest each worker transpiles the engine as it loads: minutes on a loaded 2-core machine.
  }, 180_000);

  it('the saved table is the same bytes at 1 and 3 workers, and the profile accounts for every job on its thread', async () => {
    // 3 workers finish jobs out of order (longest first, 3 at a time); 1 vs 2 is the test above.
    const dir = tmp();
    const bytes: Buffer[] = [];
    for (const workers of [1, 3]) {
      const { table, profile } = await profiledSweep({ ...SPEC, workers });
      const f = path.join(dir, `w${workers}.arrow`);
      saveSweep(table, f);
      bytes.push(fs.readFileSync(f));
      // Each job ran once, on one thread: in-process on `main`, else spread over the pool.
      expect(profile.jobs).toBe(18);
      expect(profile.threads.map((t) => t.thread)).toEqual(workers === 1 ? ['main'] : Array.from({ length: workers }, (_, i) => `worker ${i}`));
      expect(profile.threads.reduce((n, t) => n + t.jobs, 0)).toBe(18);
    }
    expect(bytes[1]!.equals(bytes[0]!)).toBe(true);
  }, 240_000);

  it('saves and reloads as Arrow, and merges parts run apart in any order', async () => {
    const dir = tmp();
    const a = await sweep({ ...SPEC, configs: ['tdp-ept'], workers: 1 });
    const b = await sweep({ ...SPEC, configs: ['shadow', 'nested-shadow'], workers: 1 });
    const whole = await sweep({ ...SPEC, workers: 1 });
    saveSweep(a, path.join(dir, 'a.arrow'));
    saveSweep(b, path.join(dir, 'b.arrow'));
    const ra = loadSweep(path.join(dir, 'a.arrow'));
    expect(ra.objects()).toEqual(a.objects());
    const m1 = mergeSweeps([loadSweep(path.join(dir, 'b.arrow')), ra]);
    const m2 = mergeSweeps([ra, loadSweep(path.join(dir, 'b.arrow'))]);
    expect(m1.objects()).toEqual(m2.objects());
    expect(m1.objects()).toEqual(mergeSweeps([whole]).objects());
    expect(() => mergeSweeps([ra, ra])).toThrow(expect.objectContaining({ rule: 'sweep-merge-duplicate' }));
  }, 60_000);

  it('bad input: typed errors and nothing run', async () => {
    let calls = 0;
    const onProgress = () => calls++;
    const bad = async (o: Partial<SweepOptions>) => sweep({ ...SPEC, workers: 1, onProgress, ...o });
    await expect(bad({ configs: [] })).rejects.toMatchObject({ rule: 'sweep-no-configs' });
    await expect(bad({ workloads: [{ generator: 'nope', params: {} }] })).rejects.toMatchObject({ rule: 'sweep-unknown-workload' });
    await expect(bad({ workloads: [{ generator: 'uniform', params: { pages: ['x' as unknown as number] } }] })).rejects.toMatchObject({ rule: 'sweep-param-values' });
    await expect(bad({ workloads: [{ generator: 'uniform', params: { colour: [1] } }] })).rejects.toMatchObject({ rule: 'sweep-unknown-param' });
    await expect(bad({ workloads: [{ generator: 'uniform', params: { pages: [0], accesses: [5] } }] })).rejects.toBeInstanceOf(SweepError);
    await expect(bad({ configs: [{ name: 'shadow', td: true }] })).rejects.toBeInstanceOf(ConfigurationError);
    await expect(bad({ workers: 0 })).rejects.toMatchObject({ rule: 'sweep-workers' });
    expect(calls).toBe(0);
  });

  it('a failed save leaves no file behind', () => {
    const dir = tmp();
    const f = path.join(dir, 'x.arrow');
    expect(() => saveSweep({ columnNames: () => ['config'] } as never, f)).toThrow(SweepError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
