/**
 * The cost model: cycles per modelled event, each with what it is, where the number comes from
 * and how sure that source is. `makeCostModel(overrides)` gives the parameter set a run uses;
 * `accessCost` prices one access from what the engine counted for it.
 *
 * status: 'measured' — a published measurement checked while writing this; 'recalled' — a
 * published figure quoted from memory, not checked here (UNVERIFIED); 'assumption' — no published
 * figure found: an order-of-magnitude placeholder to be replaced (the rendered table says so).
 */
import { InvalidArgumentError } from '../errors';
import { checkArray, checkBool, checkEnum, checkInt, checkObject, checkString, optObject, refuse } from '../validate/checks';
import { describeValue } from '../validate/describe-value';

export type CostStatus = 'measured' | 'recalled' | 'assumption';

export interface CostParam {
  cycles: number;
  what: string;
  source: string;
  status: CostStatus;
}

export const COST_PARAM_NAMES = [
  'l1TlbHit', 'stlbHit', 'walkRefL1', 'walkRefL2', 'walkRefL3', 'walkRefDram', 'vmExitEntry',
  'kvmFaultSlow', 'kvmFaultFast', 'kvmFaultSpurious', 'kvmFaultRetry', 'kvmMmio', 'emulation',
  'userspaceExit', 'remoteTlbFlush',
] as const;
export type CostParamName = (typeof COST_PARAM_NAMES)[number];

/** Which cache level serves a walk's memory references ('mean' = the four levels weighted by `walkMix`). */
export type WalkRefLevel = 'L1' | 'L2' | 'L3' | 'DRAM';

export interface CostModel {
  readonly params: Readonly<Record<CostParamName, Readonly<CostParam>>>;
  /** Level whose latency each walk reference costs. Default L2 (assumption, see `walkRefLevel` in the table). */
  readonly walkRefLevel: WalkRefLevel;
}

const OPT_CACHE = 'Intel 64 and IA-32 Architectures Optimization Reference Manual 248966-045, Skylake client cache parameters table ("fastest latency")';
const LKML_SVM = 'KVM SVM VMLOAD/VMSAVE patch thread, LKML 2020-12 (lkml.iu.edu/hypermail/linux/kernel/2012.2/00527.html): pre-VMRUN → post-VMRUN +1344..1376 cycles, measured on an AMD (SVM) host';
const PLACEHOLDER = 'ASSUMPTION: no published per-outcome measurement found; order-of-magnitude placeholder — override with a measurement (e.g. perf trace of kvm_mmu_page_fault)';

export const DEFAULT_COST_PARAMS: Readonly<Record<CostParamName, Readonly<CostParam>>> = Object.freeze({
  l1TlbHit: { cycles: 0, what: 'L1 TLB hit (the DTLB lookup is inside the L1D load-to-use latency)', source: 'ASSUMPTION from ' + OPT_CACHE + ': the 4-cycle L1D load-to-use latency is quoted for loads that hit the L1 DTLB, so a hit adds nothing to it', status: 'assumption' },
  stlbHit: { cycles: 9, what: 'L1 TLB miss, STLB hit', source: '7-cpu.com "Intel Skylake" page (L1 DTLB miss, STLB hit: 9 cycles) — recalled; a Haswell measurement seen while writing this gives 12 cycles (PC Watch 2013-06-21, pc.watch.impress.co.jp article 20130621-s_haswell2 p. 15)', status: 'recalled' },
  walkRefL1: { cycles: 4, what: 'one walk memory reference served by the L1D', source: OPT_CACHE + ': L1D 4 cycles', status: 'measured' },
  walkRefL2: { cycles: 12, what: 'one walk memory reference served by the L2', source: OPT_CACHE + ': L2 12 cycles', status: 'measured' },
  walkRefL3: { cycles: 44, what: 'one walk memory reference served by the L3', source: OPT_CACHE + ': L3 44 cycles', status: 'measured' },
  walkRefDram: { cycles: 250, what: 'one walk memory reference served by DRAM', source: '7-cpu.com "Intel Skylake" (i7-6700, 4 GHz): RAM latency 42 cycles + 51 ns ≈ 246 cycles — recalled', status: 'recalled' },
  vmExitEntry: { cycles: 1360, what: 'VM exit + VM entry round trip (hardware world switch and the minimal KVM exit path)', source: LKML_SVM, status: 'measured' },
  kvmFaultSlow: { cycles: 4000, what: 'KVM: kvm_mmu_page_fault slow path, RET_PF_FIXED (faultin + map)', source: PLACEHOLDER, status: 'assumption' },
  kvmFaultFast: { cycles: 500, what: 'KVM: fast_page_fault fixed the SPTE (RET_PF_FIXED, fast)', source: PLACEHOLDER, status: 'assumption' },
  kvmFaultSpurious: { cycles: 400, what: 'KVM: RET_PF_SPURIOUS (the SPTE was already fixed)', source: PLACEHOLDER, status: 'assumption' },
  kvmFaultRetry: { cycles: 400, what: 'KVM: RET_PF_RETRY (nothing installed; the guest retries)', source: PLACEHOLDER, status: 'assumption' },
  kvmMmio: { cycles: 300, what: 'KVM: MMIO fault recognised from an MMIO SPTE / the MMIO cache (handle_mmio_page_fault)', source: PLACEHOLDER, status: 'assumption' },
  emulation: { cycles: 2000, what: 'KVM: instruction emulation after RET_PF_EMULATE (x86_emulate_instruction)', source: PLACEHOLDER, status: 'assumption' },
  userspaceExit: { cycles: 2528, what: 'exit to userspace and back (KVM_RUN ioctl round trip), e.g. KVM_EXIT_MEMORY_FAULT', source: LKML_SVM.replace('pre-VMRUN → post-VMRUN +1344..1376 cycles', 'KVM_RUN ioctl entry → ioctl exit 2528..2576 cycles'), status: 'measured' },
  remoteTlbFlush: { cycles: 5000, what: 'KVM: kvm_flush_remote_tlbs (requests + IPIs to running vCPUs + INVEPT)', source: PLACEHOLDER, status: 'assumption' },
});

export interface CostModelSpec {
  /** Cycles per parameter (overrides the default number; the table then says "override"). */
  cycles?: Partial<Record<CostParamName, number>>;
  walkRefLevel?: WalkRefLevel;
}

const LEVELS: readonly WalkRefLevel[] = ['L1', 'L2', 'L3', 'DRAM'];

export function makeCostModel(spec: CostModelSpec = {}): CostModel {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new InvalidArgumentError('cost-model', 'spec: the cost model spec is an object', describeValue(spec));
  const params: Record<string, CostParam> = { ...DEFAULT_COST_PARAMS };
  const cycles = optObject<Record<string, unknown>>('spec.cycles', spec.cycles);
  for (const k of Reflect.ownKeys(cycles)) {
    if (typeof k !== 'string' || !(COST_PARAM_NAMES as readonly string[]).includes(k)) throw new InvalidArgumentError('cost-param', `spec.cycles: unknown cost parameter; known: ${COST_PARAM_NAMES.join(', ')}`, describeValue(k));
    const v = cycles[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError('cost-cycles', `spec.cycles.${k}: cycles are a finite number >= 0`, describeValue(v));
    params[k] = Object.freeze({ ...params[k]!, cycles: v, source: 'override (this run)', status: 'measured' as const });
  }
  const walkRefLevel = spec.walkRefLevel ?? 'L2';
  if (!LEVELS.includes(walkRefLevel)) throw new InvalidArgumentError('cost-walk-level', 'spec.walkRefLevel is L1, L2, L3 or DRAM', describeValue(walkRefLevel));
  return Object.freeze({ params: Object.freeze(params) as CostModel['params'], walkRefLevel });
}

/** A model as makeCostModel makes it: every parameter with a cycle count, a known walk level. */
function checkCostModel(v: unknown): CostModel {
  const m = checkObject<CostModel>('m', v);
  const ok = typeof m.params === 'object' && m.params !== null && LEVELS.includes(m.walkRefLevel) &&
    COST_PARAM_NAMES.every((n) => typeof m.params[n]?.cycles === 'number');
  if (!ok) refuse('m', 'cost-model', 'must be a cost model made by makeCostModel', v);
  return m;
}

function checkExit(name: string, v: unknown): { ret: string; fast: boolean; mmio: boolean } {
  const e = checkObject<{ ret: string; fast: boolean; mmio: boolean }>(name, v);
  checkString(`${name}.ret`, e.ret);
  checkBool(`${name}.fast`, e.fast);
  checkBool(`${name}.mmio`, e.mmio);
  return e;
}

export const DEFAULT_COST_MODEL: CostModel = makeCostModel();

/** What the engine counted for one access. */
export interface AccessCostInputs {
  tlb: 'l1' | 'stlb' | 'miss';
  walkRefs: number;
  exits: readonly { ret: string; fast: boolean; mmio: boolean }[];
  emulated: boolean;
  userspaceExit: boolean;
  remoteFlushes: number;
}

export interface AccessCost {
  cycles: number;
  tlb: number;
  walk: number;
  exits: number;
  kvm: number;
  emulation: number;
  userspace: number;
  remoteFlush: number;
}

export function walkRefCycles(m: CostModel): number {
  return walkRefCyclesUnchecked(checkCostModel(m));
}

function walkRefCyclesUnchecked(m: CostModel): number {
  const p = m.params;
  return m.walkRefLevel === 'L1' ? p.walkRefL1.cycles : m.walkRefLevel === 'L2' ? p.walkRefL2.cycles : m.walkRefLevel === 'L3' ? p.walkRefL3.cycles : p.walkRefDram.cycles;
}

/** KVM's handling of one exit by its RET_PF_* outcome (the exit round trip is priced apart). */
export function kvmHandlingCycles(m: CostModel, e: { ret: string; fast: boolean; mmio: boolean }): number {
  return kvmHandlingCyclesUnchecked(checkCostModel(m), checkExit('e', e));
}

function kvmHandlingCyclesUnchecked(m: CostModel, e: { ret: string; fast: boolean; mmio: boolean }): number {
  const p = m.params;
  if (e.mmio) return p.kvmMmio.cycles;
  switch (e.ret) {
    case 'RET_PF_FIXED': return e.fast ? p.kvmFaultFast.cycles : p.kvmFaultSlow.cycles;
    case 'RET_PF_SPURIOUS': return e.fast ? p.kvmFaultFast.cycles : p.kvmFaultSpurious.cycles;
    case 'RET_PF_RETRY': return p.kvmFaultRetry.cycles;
    case 'RET_PF_EMULATE': return p.kvmFaultSlow.cycles;
    default: return p.kvmFaultSlow.cycles; // -EFAULT and others: the slow path ran
  }
}

export function accessCost(m: CostModel, x: AccessCostInputs): AccessCost {
  checkCostModel(m);
  checkObject('x', x);
  checkEnum('x.tlb', x.tlb, ['l1', 'stlb', 'miss']);
  checkInt('x.walkRefs', x.walkRefs);
  checkArray('x.exits', x.exits).forEach((e, i) => checkExit(`x.exits[${i}]`, e));
  checkBool('x.emulated', x.emulated);
  checkBool('x.userspaceExit', x.userspaceExit);
  checkInt('x.remoteFlushes', x.remoteFlushes);
  return accessCostUnchecked(m, x);
}

/** `accessCost` for the vCPU's access path (its inputs are the engine's own counts). */
export function accessCostUnchecked(m: CostModel, x: AccessCostInputs): AccessCost {
  const p = m.params;
  const tlb = x.tlb === 'l1' ? p.l1TlbHit.cycles : x.tlb === 'stlb' ? p.stlbHit.cycles : p.stlbHit.cycles; // a miss looked up both levels first
  const walk = x.walkRefs * walkRefCyclesUnchecked(m);
  const exits = x.exits.length * p.vmExitEntry.cycles;
  let kvm = 0;
  for (const e of x.exits) kvm += kvmHandlingCyclesUnchecked(m, e);
  const emulation = x.emulated ? p.emulation.cycles : 0;
  const userspace = x.userspaceExit ? p.userspaceExit.cycles : 0;
  const remoteFlush = x.remoteFlushes * p.remoteTlbFlush.cycles;
  return { cycles: tlb + walk + exits + kvm + emulation + userspace + remoteFlush, tlb, walk, exits, kvm, emulation, userspace, remoteFlush };
}

/** The parameter set as rows (display layer renders them; notes print them). */
export function costModelRows(m: CostModel): { name: string; cycles: number; what: string; source: string; status: CostStatus }[] {
  checkCostModel(m);
  const rows: { name: string; cycles: number; what: string; source: string; status: CostStatus }[] = COST_PARAM_NAMES.map((n) => ({ name: n, ...m.params[n] }));
  rows.push({ name: 'walkRefLevel', cycles: walkRefCyclesUnchecked(m), what: `walk references are priced at the ${m.walkRefLevel} latency`, source: 'ASSUMPTION: page-table entries of a warm walk are mostly cached; choose L1/L2/L3/DRAM per run', status: 'assumption' });
  return rows;
}
