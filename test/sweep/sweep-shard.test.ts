import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sweep } from '../../src/sweep/sweep';
import { sweepJobs, type SweepSpec } from '../../src/sweep/sweep-jobs';
import { saveSweep, loadSweep, mergeSweeps } from '../../src/sweep/sweep-io';
import { parseShard, shardJobs } from '../../src/sweep/sweep-shard';
import { sweepCli } from '../../src/sweep/sweep-cli';
import { SweepError } from '../../src/sweep/sweep-error';

const SPEC: SweepSpec = {
  configs: ['tdp-ept', 'shadow'],
  workloads: [
    { generator: 'uniform', params: { pages: [16, 32], accesses: [30] } },
    { generator: 'fork-storm', params: { pages: [8], forks: [2], writesPerFork: [2] } },
  ],
  seeds: [1, 2],
};
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mmulab-shard-'));

describe('sweep shards', () => {
  it('K/N parses 1-based; anything else is a typed error naming the value', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShard({ index: 1, count: 1 })).toEqual({ index: 1, count: 1 });
    for (const bad of ['0/3', '4/3', '1/0', '-1/2', '1.5/2', 'a/b', '3', '', '1/3/4', '9999999999/9999999999']) {
      expect(() => parseShard(bad), bad).toThrow(SweepError);
      expect(() => parseShard(bad)).toThrow(expect.objectContaining({ rule: 'sweep-shard', value: bad }));
    }
    expect(() => parseShard({ index: 3, count: 2 })).toThrow(expect.objectContaining({ rule: 'sweep-shard' }));
  });

  it('every job is in exactly one shard, round robin', () => {
    const jobs = sweepJobs(SPEC); // 2 configs × (2 + 1) params × 2 seeds = 12
    expect(jobs).toHaveLength(12);
    const parts = [1, 2, 3, 4, 5].map((k) => shardJobs(jobs, { index: k, count: 5 }).map((j) => j.index));
    expect(parts).toEqual([[0, 5, 10], [1, 6, 11], [2, 7], [3, 8], [4, 9]]);
    expect(parts.flat().sort((a, b) => a - b)).toEqual(jobs.map((j) => j.index));
  });

  it('3 shards run apart and merged with the spec save to the same bytes as one run', async () => {
    const dir = tmp();
    const whole = await sweep({ ...SPEC, workers: 1 });
    saveSweep(whole, path.join(dir, 'whole.arrow'));
    const files: string[] = [];
    // Shards on 2 workers (rows must land in job order within a shard) and in-process.
    for (const k of [3, 1, 2]) {
      const part = await sweep({ ...SPEC, workers: k === 2 ? 2 : 1, shard: `${k}/3` });
      expect(part.numRows()).toBe(4);
      const f = path.join(dir, `part-${k}.arrow`);
      saveSweep(part, f);
      files.push(f);
    }
    const merged = mergeSweeps(files.map(loadSweep), { spec: SPEC });
    saveSweep(merged, path.join(dir, 'merged.arrow'));
    expect(fs.readFileSync(path.join(dir, 'merged.arrow')).equals(fs.readFileSync(path.join(dir, 'whole.arrow')))).toBe(true);
    // Without the spec, the merge still holds every row (in key order).
    expect(mergeSweeps(files.map(loadSweep)).numRows()).toBe(12);
    // A missing shard is an error when the spec is given, not a smaller table.
    expect(() => mergeSweeps(files.slice(0, 2).map(loadSweep), { spec: SPEC })).toThrow(expect.objectContaining({ rule: 'sweep-merge-missing' }));
    expect(() => mergeSweeps([whole], { spec: { ...SPEC, seeds: [1] } })).toThrow(expect.objectContaining({ rule: 'sweep-merge-foreign' }));
    // Under vitest each worker transpiles the engine as it loads: minutes on a loaded 2-core machine.
  }, 240_000);

  it('a shard past the last job is refused before anything runs', async () => {
    let calls = 0;
    // Checked at the call, before a promise exists (sweep validates its options synchronously).
    expect(() => sweep({ ...SPEC, workers: 1, shard: '13/13', onProgress: () => calls++ })).toThrow(expect.objectContaining({ rule: 'sweep-shard-empty' }));
    expect(() => sweep({ ...SPEC, workers: 1, shard: '0/2' })).toThrow(expect.objectContaining({ rule: 'sweep-shard' }));
    expect(calls).toBe(0);
  });

  it('the CLI runs shards and merges them as a job array would; bad arguments exit 2 naming them, writing nothing', async () => {
    const dir = tmp();
    const spec = path.join(dir, 'spec.json');
    fs.writeFileSync(spec, JSON.stringify(SPEC));
    const err: string[] = [];
    const out: string[] = [];
    const io = { err: (l: string) => err.push(l), out: (l: string) => out.push(l) };
    for (const k of [1, 2]) expect(await sweepCli(['run', '--spec', spec, '--shard', `${k}/2`, '--workers', '1', '--out', path.join(dir, `p${k}.arrow`)], io)).toBe(0);
    expect(err.some((l) => /shard 1\/2: 6\/6 jobs/.test(l))).toBe(true);
    expect(await sweepCli(['merge', '--spec', spec, '--out', path.join(dir, 'all.arrow'), path.join(dir, 'p1.arrow'), path.join(dir, 'p2.arrow')], io)).toBe(0);
    expect(out.at(-1)).toMatch(/2 parts, 12 rows/);
    const whole = await sweep({ ...SPEC, workers: 1 });
    saveSweep(whole, path.join(dir, 'whole.arrow'));
    expect(fs.readFileSync(path.join(dir, 'all.arrow')).equals(fs.readFileSync(path.join(dir, 'whole.arrow')))).toBe(true);

    const before = fs.readdirSync(dir).sort();
    err.length = 0;
    expect(await sweepCli(['run', '--spec', spec, '--shard', '3/2', '--out', path.join(dir, 'x.arrow')], io)).toBe(2);
    expect(err.join('\n')).toMatch(/3\/2.*sweep-shard/);
    expect(await sweepCli(['run', '--spec', path.join(dir, 'nope.json'), '--out', path.join(dir, 'x.arrow')], io)).toBe(2);
    expect(await sweepCli(['merge', '--spec', spec, '--out', path.join(dir, 'x.arrow'), path.join(dir, 'p1.arrow')], io)).toBe(2);
    expect(err.join('\n')).toMatch(/sweep-merge-missing/);
    expect(await sweepCli(['frobnicate'], io)).toBe(2);
    expect(await sweepCli(['run', '--bogus'], io)).toBe(2);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  }, 120_000);
});
