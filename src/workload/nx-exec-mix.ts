/**
 * A workload for the NX huge page mitigation (mmu.c: disallowed_hugepage_adjust): `regions`
 * 2 MiB-aligned regions of data (512 guest 4 KiB pages each), of which a share `execShare` of the
 * pages is also executed — `spread` across the footprint (seeded choice) or `packed` at its start,
 * as a code segment is. Phase 1 touches every page `passes` times: a read (the loader copying the
 * page in; with `load: false` none) and, for an executed page, a fetch; then optionally one pass of the recovery thread (`nxrecover`,
 * mmu.c: kvm_recover_nx_huge_pages) and phase 2: reads only (`after: 'read'`, the code is no
 * longer run) or phase 1 again (`after: 'exec'`).
 */
import { MAX_PAGES_PER_TRACE_OP, type Trace, type TraceOp } from './trace';
import { checkEnum, checkInt, checkNumber } from '../validate/checks';
import { checkOpCount, checkParams, optChoice, optCount, optFlag, seedOf } from './check-generator-params';
import { DATA_PA, WORKLOAD_VA, xorshift } from './generators';

const PAGE = 4096;
const PAGES_PER_2M = 512;
const LAYOUTS = ['spread', 'packed'] as const;

export interface NxExecMixParams {
  regions: number;
  /** Share of the pages executed, 0..1 (rounded to whole pages). */
  execShare: number;
  layout?: 'spread' | 'packed';
  /** Read each page before fetching it (default true), so its region is mapped huge first. */
  load?: boolean;
  passes?: number;
  /** nx_huge_pages_recovery_ratio of one recovery pass between the phases; omitted: no recovery. */
  recoverRatio?: number;
  /** Phase 2 (after recovery): 'read' every page, 'exec' as phase 1, or 'none'. Default 'none'. */
  after?: 'read' | 'exec' | 'none';
  seed: number;
}

/** The executed pages: `packed` the first k, `spread` k chosen by a seeded partial Fisher–Yates. */
export function nxExecPages(pages: number, k: number, layout: 'spread' | 'packed', seed: number): Set<number> {
  checkInt('pages', pages, { max: MAX_PAGES_PER_TRACE_OP });
  checkInt('k', k, { max: pages });
  checkEnum('layout', layout, LAYOUTS);
  checkInt('seed', seed, { min: Number.MIN_SAFE_INTEGER });
  if (layout === 'packed') return new Set(Array.from({ length: k }, (_, i) => i));
  const r = xorshift(seed);
  const order = Array.from({ length: pages }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + (r() % (pages - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, k));
}

export function nxExecMix(p: NxExecMixParams): Trace {
  checkParams(p);
  const pages = checkInt('p.regions', p.regions, { min: 1, max: MAX_PAGES_PER_TRACE_OP / PAGES_PER_2M }) * PAGES_PER_2M;
  checkNumber('p.execShare', p.execShare, 0, 1);
  const layout = optChoice('layout', p.layout, LAYOUTS, 'spread');
  const passes = optCount('passes', p.passes, 1);
  const after = optChoice('after', p.after, ['read', 'exec', 'none'] as const, 'none');
  optFlag('load', p.load, true);
  if (p.recoverRatio !== undefined) checkInt('p.recoverRatio', p.recoverRatio, { max: 0xffff_ffff });
  seedOf(p.seed);
  checkOpCount(2 + 2 * passes * pages * (after === 'none' ? 1 : 2), p);
  const exec = nxExecPages(pages, Math.round(p.execShare * pages), layout, p.seed);
  const ops: TraceOp[] = [{ t: 'map', va: WORKLOAD_VA, pa: DATA_PA, n: pages, w: true }];
  const load = p.load ?? true;
  const phase = (withExec: boolean) => {
    for (let k = 0; k < passes; k++) {
      for (let i = 0; i < pages; i++) {
        const va = WORKLOAD_VA + i * PAGE;
        const x = withExec && exec.has(i);
        if (!x || load) ops.push({ t: 'r', va });
        if (x) ops.push({ t: 'x', va });
      }
    }
  };
  phase(true);
  if (p.recoverRatio !== undefined) ops.push({ t: 'nxrecover', ratio: p.recoverRatio });
  if (after !== 'none') phase(after === 'exec');
  const params: Trace['params'] = { regions: p.regions, execShare: p.execShare, layout, load, passes, after, ...(p.recoverRatio !== undefined ? { recoverRatio: p.recoverRatio } : {}) };
  return { name: 'nx-exec-mix', seed: p.seed, params, spaces: 1, memory: DATA_PA + pages * PAGE, ops };
}
