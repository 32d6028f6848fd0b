/**
 * What running an L2 on nested TDP costs L0. L1 (an EPT or NPT VM) runs L2 on its own EPT12/NPT12
 * (identity nGPA → GPA, leaves of `leaf` size); KVM shadows it with EPT02/NPT02 (guest_mmu).
 * Round 0 is L2's first touch of its `pages`; each later round L1 gets control (an L2 exit such
 * as a timer), unmaps `edits` of L2's data leaves (stores to EPT12 through its direct map), on EPT
 * issues INVEPT (`vmx/nested.c: handle_invept`), resumes L2, and L2 touches every page again: the
 * unmapped ones fault, KVM reflects the fault to L1 (`nested_ept_inject_page_fault` /
 * `nested_svm_inject_npf_exit`), L1 maps the page back and resumes L2.
 *
 * L0 exits are the engine's `exits` (EPT violations / NPFs of L2, and L1's faults on the EPT12 pages
 * KVM write-protects) plus the L1 instructions that always exit to L0, which the engine does not
 * execute: every VMRESUME/VMRUN (`vmx/nested.c: nested_vmx_run`, `svm/nested.c: nested_svm_vmrun`),
 * every INVEPT, and the L2 exits that hand L1 control other than reflected faults.
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { makeEptp } from '../nested/eptp';
import { DEFAULT_EPT_CAPS } from '../nested/ept-capabilities';
import { longMode } from '../cpu/paging-modes';
import { EFER } from '../cpu/registers';
import { DIRECT_MAP } from '../workload/trace-machine';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { InvalidArgumentError, hex } from '../errors';
import type { AccessResult } from '../vm/access-result';
import { guest, type Guest } from './guest';
import { mapKernelDirectMap } from './fork';
import { checkObject } from '../validate/checks';
import { describeValue } from '../validate/describe-value';

export interface NestedTdpSpec {
  /** L0's paging: EPT (L1 runs L2 with nested EPT) or NPT (nested NPT). */
  host: 'ept' | 'npt';
  /** EPT12/NPT12 leaf size for L2's data (default 4K). */
  leaf?: '4K' | '2M' | '1G';
  /** EPTP12 bit 6, A/D flags for EPT12 (default false; NPT12 always has A/D, so on NPT only true or omitted). */
  ad?: boolean;
  /** L2's data pages (default 1024), at nGPA 1 GiB. */
  pages?: number;
  /** How L0 backs L1's RAM (default 2M). */
  hostPageSize?: '4K' | '2M' | '1G';
  /** Rounds after the cold one (default 3). */
  rounds?: number;
  /** Data leaves L1 unmaps per round (default 0). */
  edits?: number;
  /** EPT: L1's INVEPT after its edits (default 'single'). */
  invept?: 'single' | 'global';
  /** L2 exits per round that hand L1 control without an edit (I/O, timer); each ends with a VMRESUME/VMRUN. Default 0. */
  l1Exits?: number;
  /** L1 also runs a second L2 (its own EPT12/NPT12) after the first each round. Default false. */
  secondL2?: boolean;
}

export interface NestedTdpPhase {
  /** 0: L2's first touch; 1..: a round. */
  round: number;
  /** L2 accesses (every page read, then written, per L2). */
  accesses: number;
  /** Exits the engine takes: L2's EPT violations / NPFs (fixed or reflected) and L1's faults. */
  fault_exits: number;
  nested_fixed: number;
  nested_reflected: number;
  /** VMRESUME / VMRUN executed by L1: each an L0 exit. */
  vm_entries: number;
  /** INVEPT executed by L1: each an L0 exit. */
  invepts: number;
  /** L2 exits handing L1 control that are not reflected faults. */
  l1_exits: number;
  l0_exits: number;
  /** Shadow pages synced (`kvm_sync_page`) and guest entries (EPT12/NPT12 PTEs) the syncs re-read. */
  sync_pages: number;
  sync_gpte_reads: number;
  unsyncs: number;
  root_cache_miss: number;
}

export interface NestedTdpRun extends Guest {
  phases: NestedTdpPhase[];
}

const ONE_G = 1n << 30n;
const DATA_NGPA = ONE_G;
const L2_VA = 0x4000_0000n;
/** L2's page tables (nGPA = GPA) and the EPT12/NPT12 pools, one each per L2. */
const L2_PT = (k: number) => 0x100_0000n + BigInt(k) * 0x10_0000n;
const TDP12 = (k: number) => 0x20_0000n + BigInt(k) * 0x40_0000n;
const LEAF_BYTES = { '4K': 0x1000n, '2M': 0x20_0000n, '1G': ONE_G } as const;
/** EPT12 RWX + WB memory type; NPT12 P|W|U|A|D. */
const EPT12_LEAF = 0x7n | (6n << 3n);
const NPT12_LEAF = 0x67n;
const EPT12_A = 0x100n;
const PS = 0x80n;

interface L2 {
  tdp12: PageTableBuilder;
  pt: PageTableBuilder;
  /** GPA backing L2's data (nGPA DATA_NGPA + x → dataGpa + x). */
  dataGpa: bigint;
  pointer: bigint;
}

function checkCount(name: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(`nested-tdp-scenario-${name}`, `${name} must be an integer from 0 to ${max}`, describeValue(v));
}

export function nestedTdpScenario(spec: NestedTdpSpec): NestedTdpRun {
  checkObject('spec', spec);
  if (spec.host !== 'ept' && spec.host !== 'npt') throw new InvalidArgumentError('nested-tdp-scenario-host', "host must be 'ept' or 'npt'", describeValue(spec.host));
  if (spec.ad === false && spec.host === 'npt') throw new InvalidArgumentError('nested-tdp-scenario-ad', 'NPT12 always has A/D bits: ad cannot be false on NPT', 'false');
  const ept = spec.host === 'ept';
  const leaf = spec.leaf ?? '4K';
  if (typeof leaf !== 'string' || !Object.hasOwn(LEAF_BYTES, leaf)) throw new InvalidArgumentError('nested-tdp-scenario-leaf', "leaf must be '4K', '2M' or '1G'", describeValue(leaf));
  const pages = spec.pages ?? 1024;
  // L2's data lies in [1 GiB, 2 GiB) of nGPA; 1..262144 pages.
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > 262144) throw new InvalidArgumentError('nested-tdp-scenario-pages', 'pages must be an integer from 1 to 262144 (1 GiB)', describeValue(pages));
  for (const k of ['edits', 'l1Exits', 'rounds'] as const) checkCount(k, spec[k] ?? 0, 100_000);
  const nL2 = spec.secondL2 ? 2 : 1;
  /** EPT12/NPT12 leaves mapping L2's data. */
  const leaves = Number((BigInt(pages) * 0x1000n + LEAF_BYTES[leaf] - 1n) / LEAF_BYTES[leaf]);
  // An L1 that runs L2 with VMRUN has EFER.SVME set (else VMRUN is #UD).
  const regs = ept ? {} : { efer: longMode().efer | EFER.SVME };
  const g = guest({ spte: { flavour: spec.host }, hostPageSize: spec.hostPageSize ?? '2M', ramBytes: 4n * ONE_G, regs, checkInvariants: false });
  const { vm, vcpu } = g;
  mapKernelDirectMap(g.pt, TDP12(0), 0x400 * nL2); // L1 edits its EPT12/NPT12 through its direct map
  const l1Regs = vcpu.l1Regs;
  const l2s: L2[] = Array.from({ length: nL2 }, (_, k) => {
    const tdp12 = new PageTableBuilder(vm.guestMem, { mode: ept ? 'ept4' : 'paging4', pool: { base: TDP12(k), size: 0x40_0000n } });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: L2_PT(k), size: 0x10_0000n } });
    pt.map(L2_VA, DATA_NGPA, { count: pages, flags: { writable: true, accessed: true, dirty: true } });
    // With EPTP12 A/D on, L1 maps with A set and D clear (it tracks L2's writes, the reason to turn
    // A/D on); without, the bits mean nothing. NPT12 (always A/D) with both set, as an L1 maps memory
    // already written.
    const flags = ept ? { accessed: spec.ad ?? false, dirty: false } : { writable: true, user: true, accessed: true, dirty: true };
    const dataGpa = ONE_G * BigInt(k + 1);
    // L2's tables (identity, 4 KiB leaves below 1 GiB unless L1 maps 1 GiB leaves), then its data.
    if (leaf === '1G') tdp12.map(0n, 0n, { size: '1G', flags });
    else tdp12.map(L2_PT(k), L2_PT(k), { count: 256, flags });
    tdp12.map(DATA_NGPA, dataGpa, { size: leaf, count: leaves, flags });
    const pointer = ept ? makeEptp({ root: tdp12.root, level: 4, adEnabled: spec.ad ?? false }) : BigInt(tdp12.root);
    return { tdp12, pt, dataGpa, pointer };
  });
  let entries = 0;
  let invepts = 0;
  let l1Exits = 0;
  const enter = (l2: L2): void => {
    entries++;
    const l2Regs = longMode({ cr3: l2.pt.root });
    if (ept) vcpu.enterNestedEpt({ eptp: l2.pointer, caps: DEFAULT_EPT_CAPS, l2: l2Regs });
    else vcpu.enterNestedNpt({ ncr3: l2.pointer, l1: l1Regs, l2: l2Regs });
  };
  /** L1 stores one leaf of L2's data mapping (0: unmapped). */
  const storeLeaf = (l2: L2, i: number, mapped: boolean): void => {
    const off = BigInt(i) * LEAF_BYTES[leaf];
    const at = l2.tdp12.getEntry(DATA_NGPA + off, leaf === '4K' ? 1 : leaf === '2M' ? 2 : 3).gpa as bigint;
    const bits = ept ? EPT12_LEAF | (spec.ad ? EPT12_A : 0n) : NPT12_LEAF;
    const value = mapped ? (l2.dataGpa + off) | bits | (leaf === '4K' ? 0n : PS) : 0n;
    const r = vcpu.store(DIRECT_MAP + at, value, 8);
    if (r.status !== 'ok' && r.status !== 'emulated') throw new InvariantViolation('nested-tdp-l1-store', `L1's store to its EPT12/NPT12 did not complete (${r.status})`, hex(at));
  };
  /** L2 touches every page (read, then write); a reflected fault is handled by L1, which maps the leaf back. */
  const touch = (l2: L2): number => {
    let n = 0;
    for (const kind of ['read', 'write'] as const) {
      for (let i = 0; i < pages; i++) {
        for (let r: AccessResult = vcpu.access(L2_VA + BigInt(i) * 0x1000n, { kind }); r.status !== 'ok'; r = vcpu.access(L2_VA + BigInt(i) * 0x1000n, { kind })) {
          if (r.status !== 'l1-exit') throw new InvariantViolation('nested-tdp-l2-access', `L2's access did not complete (${r.status})`, hex(L2_VA + BigInt(i) * 0x1000n));
          storeLeaf(l2, Number((BigInt(i) * 0x1000n) / LEAF_BYTES[leaf]), true);
          enter(l2);
        }
        n++;
      }
    }
    return n;
  };
  const snap = () => ({ ...vm.stats.snapshot(), ...vcpu.stats.snapshot(), unsyncs: vm.events.all.filter((e) => e.kind === 'unsync').length, entries, invepts, l1Exits }) as Record<string, number>;
  const phases: NestedTdpPhase[] = [];
  const phase = (round: number, run: () => number): void => {
    const a = snap();
    const accesses = run();
    const b = snap();
    const d = (k: string) => b[k]! - a[k]!;
    const row = { round, accesses, fault_exits: d('exits'), nested_fixed: d('nested_fixed'), nested_reflected: d('nested_reflected'), vm_entries: d('entries'), invepts: d('invepts'), l1_exits: d('l1Exits') };
    phases.push({ ...row, l0_exits: row.fault_exits + row.vm_entries + row.invepts + row.l1_exits, sync_pages: d('mmu_sync_pages'), sync_gpte_reads: d('mmu_sync_gpte_reads'), unsyncs: d('unsyncs'), root_cache_miss: d('root_cache_miss') });
  };
  const edits = Math.min(spec.edits ?? 0, leaves);
  /** L1 resumes L2, which touches its pages until an exit hands L1 control again. */
  const slice = (l2: L2): number => {
    enter(l2);
    const t = touch(l2);
    vcpu.exitNested();
    l1Exits++;
    return t;
  };
  phase(0, () => l2s.reduce((n, l2) => n + slice(l2), 0));
  for (let round = 1; round <= (spec.rounds ?? 3); round++) {
    phase(round, () => l2s.reduce((n, l2, k) => {
      for (let e = 0; e < (spec.l1Exits ?? 0); e++) {
        enter(l2);
        vcpu.exitNested();
        l1Exits++;
      }
      if (k === 0 && edits > 0) {
        for (let e = 0; e < edits; e++) storeLeaf(l2, (round * edits + e) % leaves, false);
        if (ept) {
          vcpu.invept(spec.invept ?? 'single', l2.pointer);
          invepts++;
        }
      }
      return n + slice(l2);
    }, 0));
  }
  return { ...g, phases };
}
