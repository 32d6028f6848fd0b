/**
 * Shards: a deterministic slice of a sweep's job list, so a batch system's job array (SLURM
 * `--array=1-N`, a Kubernetes Indexed Job) can run one sweep across machines and merge the parts.
 * Shard K of N (1-based, as `--shard 1/3`) takes the jobs whose index is K-1 modulo N: round robin,
 * so each shard gets every configuration and workload in turn and the slices take similar time.
 */
import { SweepError } from './sweep-error';

export interface Shard {
  /** 1-based: 1 ≤ index ≤ count. */
  index: number;
  count: number;
}

/** Parse `K/N`; a typed error names the value and the rule otherwise. */
export function parseShard(s: string | Shard): Shard {
  if (typeof s === 'object' && s !== null) return checkShard(s.index, s.count, JSON.stringify(s));
  const m = typeof s === 'string' ? /^(\d{1,9})\/(\d{1,9})$/.exec(s.trim()) : null;
  if (m === null) throw new SweepError('sweep-shard', 'shard is K/N with integers 1 ≤ K ≤ N (e.g. 2/3)', String(s));
  return checkShard(Number(m[1]), Number(m[2]), s);
}

function checkShard(index: unknown, count: unknown, shown: string): Shard {
  if (!Number.isSafeInteger(count) || (count as number) < 1 || !Number.isSafeInteger(index) || (index as number) < 1 || (index as number) > (count as number)) {
    throw new SweepError('sweep-shard', 'shard is K/N with integers 1 ≤ K ≤ N (e.g. 2/3)', shown);
  }
  return Object.freeze({ index: index as number, count: count as number });
}

/** The jobs shard K of N runs. Every job lands in exactly one shard. */
export function shardJobs<J extends { index: number }>(jobs: readonly J[], shard: Shard): J[] {
  return jobs.filter((j) => j.index % shard.count === shard.index - 1);
}
