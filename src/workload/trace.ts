/**
 * A workload trace: plain JSON (numbers and strings only), so traces and their results can be
 * saved, shipped to other machines and merged. GVAs and GPAs are numbers below 2^47: every
 * workload lives in the lower canonical half, where a double is exact.
 *
 * A trace carries its own set-up (`map` ops before the accesses), so it runs unchanged under any
 * configuration: TDP, shadow paging, L2 on nested TDP, L2 shadowed by L1, or a TD.
 */
export type TraceOp =
  /** An access: r(ead), w(rite), x (fetch); `u`: user mode. */
  | { t: 'r' | 'w' | 'x'; va: number; u?: boolean }
  /** The guest maps `n` 4 KiB pages (writes its page tables). `w`/`u`: writable/user; `s`: TD shared. */
  | { t: 'map'; va: number; pa: number; n?: number; w?: boolean; u?: boolean; s?: boolean }
  | { t: 'unmap'; va: number; n?: number }
  /** Write-protect `n` pages (a fork marking memory copy-on-write). */
  | { t: 'wp'; va: number; n?: number }
  /** Switch to address space `as` (MOV CR3; address spaces are numbered from 0). */
  | { t: 'cr3'; as: number }
  | { t: 'invlpg'; va: number }
  /** A full guest TLB flush (MOV CR3 to the same value without PCID, or INVPCID all). */
  | { t: 'flush' }
  /** TD: convert `n` pages at `gpa` to private or shared memory. */
  | { t: 'convert'; gpa: number; n?: number; to: 'private' | 'shared' }
  /**
   * One pass of KVM's NX huge page recovery thread (`kvm_recover_nx_huge_pages`): zap
   * ⌈nx_lpage_splits / ratio⌉ NX-split tables. `ratio`: nx_huge_pages_recovery_ratio (default 60).
   */
  | { t: 'nxrecover'; ratio?: number };

export interface Trace {
  name: string;
  seed: number;
  /** The generator's parameters, recorded for reproducibility. */
  params: Record<string, number | string | boolean>;
  /** Address spaces the trace uses (CR3 values are built per space). */
  spaces: number;
  /** Guest-physical memory the trace needs, in bytes (a multiple of 2 MiB). */
  memory: number;
  ops: TraceOp[];
}

export const TRACE_VA_LIMIT = 2 ** 47;
/**
 * Most pages one map/unmap/wp/convert op covers (64 GiB of 4 KiB pages). Each page of such an op
 * is a step of the run, so an op of 10^9 pages would run for hours: the trace is refused instead.
 */
export const MAX_PAGES_PER_TRACE_OP = 2 ** 24;
/** Most ops one generated trace may have: traces are generated (and held) whole. */
export const MAX_TRACE_OPS = 2 ** 24;
