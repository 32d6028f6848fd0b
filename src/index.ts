/**
 * mmulab: a model of the Linux KVM x86 MMU. The modules read as the pipeline they implement:
 * addresses → guest memory → registers and roles → page formats → walkers → table builders.
 */
export * from './errors';
export * from './kvm-version';
export { rsvdBits, joinU64 } from './bits';

export * from './address/address';
export * from './address/canonical';

export * from './memory/mem-slot';
export * from './memory/guest-memory';

export * from './cpu/registers';
export * from './cpu/check-registers';
export { describeValue } from './validate/describe-value';
export * from './cpu/paging-modes';
export * from './role/page-role';
export * from './role/cpu-role';
export * from './role/calc-cpu-role';

export * from './format/acc';
export * from './format/rsvd-bits-mask';
export * from './format/permission-bitmask';
export * from './format/page-format';
export type { X86FormatParams } from './format/x86-params';
export { paging32Format } from './format/paging32';
export { paeFormat } from './format/pae';
export { paging4Format } from './format/paging4';
export { paging5Format } from './format/paging5';
export { eptFormat, type EptFormatParams } from './format/ept';
export { nptFormat, type NptFormatParams } from './format/npt';
export { formatForCpuRole } from './format/format-for-role';

export * from './walker/access';
export * from './walker/walk-result';
export * from './walker/walk-outcome';
export { WalkScratch, WalkStop } from './walker/walk-scratch';
export type { WalkInputs } from './walker/walk';
// The checked walk (the engine's callers use ./walker/walk's unchecked one).
export { walkTablesChecked as walkTables } from './walker/walk-checked';
export { GvaWalker } from './walker/gva-walker';

export * from './builder/table-mode';
export * from './builder/entry-flags';
export * from './builder/page-table-builder';

export * from './display/html';
export * from './display/charts';
export { walkBundle, verdict } from './display/walk-view';
export { formatBundle, accessIndexName } from './display/format-view';
export { cpuRoleBundle, pageRoleBundle } from './display/role-view';
export { richBundle } from './display/rich';
export * from './display/prose';
export * from './claim/claim';
export { costModelBundle, tlbConfigBundle, isCostModel } from './display/cost-view';

export * from './spte/spte-config';
export * from './spte/spte-checked';
export * from './spte/tdp-level';
export * from './spte/huge-page-spte-checked';
export * from './events/stats';
export * from './events/event-log';
export * from './events/tables';
export * from './tdp/ret-pf';
export * from './tdp/page-fault';
export * from './tdp/tdp-page';
export * from './tdp/tdp-mmu';
export * from './tdp/possible-nx-huge-pages';
// The hardware side: per-vCPU TLBs and paging-structure caches, and the cost model.
export * from './tlb/tlb-config';
export * from './tlb/tlb';
export { SetAssoc, type Tagged } from './tlb/set-assoc';
export * from './cost/cost-model';
export * from './vm/recover-nx-huge-pages';
export * from './vm/memslot';
export * from './vm/host-memory';
export * from './vm/exit';
export * from './vm/access-result';
export * from './vm/register-write';
export * from './vm/vcpu';
export type { KvmMmu } from './vm/kvm-mmu';
export type { VcpuVm } from './vm/vcpu-vm';
export * from './vm/vm';
export type { VmDeath } from './vm/vm-death';
export * from './vm/dirty-ring';

// Nested TDP: ngpa walk over L1's EPT12/NPT12 and the 2D walk of L2 accesses.
export * from './nested/nested-during';
export * from './nested/ept-capabilities';
export * from './nested/eptp';
export * from './nested/exit-qualification';
export * from './nested/npf-error-code';
export * from './nested/nested-exit';
export * from './nested/l1-intercept';
export * from './nested/l2-cr-intercept';
export * from './nested/ngpa-walk-result';
export * from './nested/ngpa-walker';
export * from './nested/refs-2d';
export * from './nested/walk-2d-result';
export * from './nested/walk-2d';
export * from './display/nested-view';
export * from './shadow/shadow-page';
export * from './shadow/rmap';
export * from './shadow/gpte';
export * from './shadow/shadow-mmu';
export * from './shadow/shadow-context';
export * from './shadow/unsync';
export * from './shadow/sync';
export * from './shadow/roots';
export * from './shadow/track-write';
export * from './shadow/shadow-fault';
export * from './shadow/shadow-vcpu';
export * from './shadow/guest-mmu';
export * from './shadow/shadow-invariants';
export * from './tdp/root-types';
export * from './tdp/external-hooks';
export * from './tdx/td-config';
export * from './tdx/memory-attributes';
export * from './tdx/memory-fault';
export * from './tdx/tdx-stats';
export * from './tdx/sept';
export * from './tdx/td';
export * from './tdx/tdx-invariants';
export * from './tdx/tdx-page-fault';
export * from './tdx/private-fault';
export * from './tdx/td-accept';
export * from './tdx/set-memory-attributes';

// Workloads, trace runs, fault statistics and sweeps.
export * from './workload/trace';
export * from './workload/generators';
export * from './workload/nx-exec-mix';
export * from './workload/validate-trace';
export * from './workload/config-error';
export * from './workload/run-config';
export * from './workload/trace-machine';
export * from './workload/memory-refs';
// buildResult is TraceRun's own assembly step (it reads the run's private tallies): not public.
export { FAULT_KINDS, type RunTally, type SeriesPoint, type FaultKind, type Derived, type TraceResult } from './workload/trace-result';
export * from './workload/trace-run';
export * from './workload/fault-charts';
export * from './sweep/sweep-error';
export * from './sweep/workload-registry';
export * from './sweep/sweep-jobs';
export * from './sweep/sweep-row';
export * from './sweep/sweep';
export * from './sweep/sweep-io';
export * from './display/tdx-view';
export * from './shadow/guest-mmu-npt';

// Scenarios: a guest in one call, and the workloads notes and tests run on it.
export * from './scenario/guest';
export * from './scenario/fork';
export * from './scenario/workloads';
export * from './scenario/register-write-probe';
export * from './scenario/entry-probe';
export * from './scenario/pt-writes';
export * from './scenario/dirty-log';
export * from './scenario/nested-tdp';
export * from './scenario/mmio-generation';
export * from './scenario/paging-levels';
export * from './scenario/nested-npt-roots';
export * from './scenario/mmu-census';
// The seeded random-operation fuzzer (a reference model cross-checking every access).
export { FUZZ_CONFIGS, fuzzConfig, type FuzzConfig, type FuzzConfigName } from './fuzz/fuzz-config';
export { runFuzz, FuzzRun, MAX_FUZZ_OPS, type FuzzSummary, type FuzzViolation, type FuzzOptions } from './fuzz/fuzz-run';
export * from './scenario/tlb-compare';
export * from './scenario/walk-2d-setup';
export * from './scenario/nested-mbec';
export * from './scenario/td-guest';
export * from './scenario/warm-random-reads';
