/**
 * Dirty logging as a live migration runs it, on an EPT guest whose RAM the host backs with 2 MiB
 * pages (so KVM maps it with 2 MiB leaves before logging starts): the guest writes its whole
 * footprint once, userspace enables logging on the slot (`x86.c: kvm_mmu_slot_apply_flags`, with or
 * without `eager_page_split`), then each cycle the guest writes `writesPerCycle` distinct pages
 * (seeded, spread over the footprint) and userspace harvests: KVM_GET_DIRTY_LOG
 * (`kvm_main.c: kvm_get_dirty_log_protect`, which re-protects what it reports), or with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (+ INITIALLY_SET) a GET that only reads and a
 * KVM_CLEAR_DIRTY_LOG of the pages it returned (`kvm_clear_dirty_log_protect`).
 * Dirty tracking is by write protection (`kvm_mmu_slot_remove_write_access`) or, with PML, by
 * clearing D (`kvm_mmu_slot_leaf_clear_dirty`) and letting the CPU log the GPA.
 */
import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';
import { guest, type Guest } from './guest';
import { shuffled } from './workloads';
import { checkBool, checkEnum, checkInt, checkObject } from '../validate/checks';

export interface DirtyLogSpec {
  /** Page-modification logging (VMX PML) instead of write protection. */
  pml: boolean;
  /** The `eager_page_split` module parameter (x86.c:190, default on). */
  eagerSplit: boolean;
  /** Guest footprint in 4 KiB pages (a multiple of 512; default 2048 = four 2 MiB regions). */
  pages?: number;
  /** Distinct pages the guest writes per cycle (0..pages). */
  writesPerCycle: number;
  /** Harvest cycles (default 4). */
  cycles?: number;
  /** 'get': KVM_GET_DIRTY_LOG (default); 'clear': manual protect with INITIALLY_SET, GET then KVM_CLEAR_DIRTY_LOG. */
  harvest?: 'get' | 'clear';
  seed?: number;
}

/** What one phase cost: vCPU and VM counter deltas, and the pages the harvest returned. */
export interface DirtyLogPhase {
  /** 0: enabling logging; 1..: a cycle (the guest's writes, then the harvest). */
  cycle: number;
  writes: number;
  exits: number;
  /** Write faults fixed by the fast path (`fast_page_fault`: W restored on an MMU-writable leaf). */
  pf_fast: number;
  /** Faults that took the slow path (`kvm_tdp_mmu_map`), splitting a huge leaf where one was. */
  pf_slow: number;
  pml_full_exits: number;
  huge_page_splits: number;
  /** SPTE writes KVM made (the one set-SPTE path: protect, restore, split, map). */
  spte_changes: number;
  remote_tlb_flush: number;
  /** Pages the harvest reported (guest page-table pages included). */
  logged: number;
  /**
   * The vCPU's exits priced by the VM's cost model (src/cost): exit round trips (fault exits,
   * PML-full exits, harvest kicks) plus KVM's handling of the faults (`fast_page_fault`, the slow
   * path). KVM's work in the ioctls (protecting, the bitmap copy, remote flushes) is not included.
   */
  exit_cycles: number;
}

export interface DirtyLogRun extends Guest {
  phases: DirtyLogPhase[];
}

const VA = 0x4000_0000n;
const PA = 0x20_0000n;

function checkCount(name: string, v: number, min: number, max: number, rule: string): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new InvalidArgumentError(`dirty-log-scenario-${name}`, `${name} must be ${rule}`, describeValue(v));
}

export function dirtyLogScenario(spec: DirtyLogSpec): DirtyLogRun {
  checkObject('spec', spec);
  checkBool('spec.pml', spec.pml);
  checkBool('spec.eagerSplit', spec.eagerSplit);
  if (spec.harvest !== undefined) checkEnum('spec.harvest', spec.harvest, ['get', 'clear']);
  // shuffled() is seeded with seed × 1000 + cycle, a u32.
  if (spec.seed !== undefined) checkInt('spec.seed', spec.seed, { max: 4_000_000 });
  const pages = spec.pages ?? 2048;
  // The footprint lies in [2 MiB, 2 MiB + 512 MiB) of the 1 GiB slot, in whole 2 MiB regions.
  if (!Number.isSafeInteger(pages) || pages < 512 || pages > 512 * 256 || pages % 512 !== 0) throw new InvalidArgumentError('dirty-log-scenario-pages', 'pages must be a multiple of 512 from 512 to 131072', describeValue(pages));
  checkCount('writesPerCycle', spec.writesPerCycle, 0, pages, `an integer from 0 to pages (${pages})`);
  checkCount('cycles', spec.cycles ?? 4, 0, 1000, 'an integer from 0 to 1000');
  const g = guest({ spte: { flavour: 'ept', pml: spec.pml }, hostPageSize: '2M', checkInvariants: false });
  const { vm, vcpu, ram, pt } = g;
  vm.eagerPageSplit = spec.eagerSplit;
  if (spec.harvest === 'clear') vm.setManualDirtyLogProtect({ enable: true, initiallySet: true });
  pt.map(VA, PA, { count: pages, flags: { writable: true, accessed: true, dirty: true } });
  for (let i = 0; i < pages; i++) vcpu.write(VA + BigInt(i) * 4096n);
  const exitCycles = () => vcpu.cycles.exits + vcpu.cycles.kvm + vcpu.cycles.emulation;
  const snap = () => ({ ...vm.stats.snapshot(), ...vcpu.stats.snapshot(), exit_cycles: exitCycles() }) as Record<string, number>;
  const phases: DirtyLogPhase[] = [];
  const phase = (cycle: number, writes: number, run: () => number): void => {
    const a = snap();
    const logged = run();
    const b = snap();
    const d = (k: string) => b[k]! - a[k]!;
    phases.push({ cycle, writes, exits: d('exits'), pf_fast: d('pf_fast'), pf_slow: d('pf_fixed') - d('pf_fast'), pml_full_exits: d('pml_full_exits'),
      huge_page_splits: d('huge_page_splits'), spte_changes: d('spte_changes'), remote_tlb_flush: d('remote_tlb_flush'), logged, exit_cycles: d('exit_cycles') });
  };
  phase(0, 0, () => {
    vm.setDirtyLogging(ram, true);
    return 0;
  });
  for (let c = 1; c <= (spec.cycles ?? 4); c++) {
    phase(c, spec.writesPerCycle, () => {
      for (const i of shuffled(pages, (spec.seed ?? 1) * 1000 + c).slice(0, spec.writesPerCycle)) vcpu.write(VA + BigInt(i) * 4096n);
      const got = vm.getDirtyLog(ram);
      if (spec.harvest === 'clear') vm.clearDirtyLog(ram);
      return got.length;
    });
  }
  return { ...g, phases };
}
