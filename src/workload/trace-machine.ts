/**
 * The guest a trace runs in: a VM for the configuration, the guest kernel's page tables (one set
 * per address space), its direct map of the page-table pool, and the guest operations the trace
 * ops become. Page-table changes are guest stores through the direct map, so the shadow MMU
 * (shadow paging, and L1's EPT12 shadowing for nested EPT) sees them as a real guest's would.
 *
 * Layout (GPAs; for L2 configurations these are L2 nGPAs, mapped identity by EPT12 or taken as
 * L1's GPAs): [0, 16 MiB) page-table pool split between the address spaces, then data. L1's EPT12
 * and L1's own root (nested EPT) live above the trace's memory.
 */
import { Vm } from '../vm/vm';
import type { Vcpu } from '../vm/vcpu';
import type { AccessResult } from '../vm/access-result';
import { PageTableBuilder } from '../builder/page-table-builder';
import { makeEptp } from '../nested/eptp';
import { DEFAULT_EPT_CAPS } from '../nested/ept-capabilities';
import { CR0, CR4, EFER } from '../cpu/registers';
import { InvariantViolation } from '../tdp/tdp-mmu';
import { hex } from '../errors';
import { DATA_PA } from './generators';
import type { Trace } from './trace';
import type { ResolvedConfig } from './run-config';
import { checkBool, checkEnum, checkInt, checkLimit, checkObject, refuse } from '../validate/checks';
import { resolveConfig } from './run-config';
import { validateTrace } from './validate-trace';
import { MAX_PAGES_PER_TRACE_OP, TRACE_VA_LIMIT } from './trace';

/** A trace address: a safe integer in [0, 2^47), page aligned where `aligned`. */
function checkTraceVa(name: string, v: unknown, aligned: boolean): number {
  const va = checkInt(name, v, { max: TRACE_VA_LIMIT - 1 });
  if (aligned && va % 4096 !== 0) refuse(name, 'alignment', 'must be 4 KiB aligned', v);
  return va;
}

/** A page count of one op, whose pages from `va` stay below `limit`. */
function checkTracePages(name: string, v: unknown, from: number, limit: number): number {
  const n = checkInt(name, v, { min: 1 });
  checkLimit(name, n, MAX_PAGES_PER_TRACE_OP, 'pages');
  if (from + n * 4096 > limit) refuse(name, 'range', `pages from 0x${from.toString(16)} must end by 0x${limit.toString(16)}`, v);
  return n;
}

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
/** The guest kernel's direct map (Linux's page_offset_base). */
export const DIRECT_MAP = 0xffff_8880_0000_0000n;
const TWO_M = 0x20_0000;
const PTE_P = 1n;
const PTE_W = 2n;
const PTE_U = 4n;
// A and D preset, as Linux does for anonymous memory it maps after a write fault: the walker then
// never rewrites a PTE, so a PTE's value is exactly what the guest kernel last stored.
const PTE_AD = 0x20n | 0x40n;

interface Space {
  builder: PageTableBuilder;
  /** GPA of the 4 KiB PTE for each virtual page number the trace touches. */
  pte: Map<number, number>;
  /** The PTE values the guest kernel stored (it knows its own tables). */
  value: Map<number, bigint>;
}

/** Proof that the constructor's arguments were checked: only this module can pass it (createUnchecked). */
const CHECKED: unique symbol = Symbol('checked');

export class TraceMachine {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly config: ResolvedConfig;
  private readonly spaces: Space[];
  private current = 0;
  private readonly eptp: bigint;
  /** The trace's guest memory in bytes (map's physical addresses lie below it). */
  private readonly memory: number;

  constructor(config: ResolvedConfig, trace: Trace, checked?: typeof CHECKED) {
    if (checked !== CHECKED) {
      // The configuration as resolveConfig gives it, and a well-formed trace, before any VM exists.
      checkObject('config', config);
      const resolved = resolveConfig(config);
      for (const k of ['paging', 'level'] as const) if (config[k] !== resolved[k]) refuse(`config.${k}`, 'resolved-config', `must be ${JSON.stringify(resolved[k])} for ${config.name} (a resolveConfig result)`, config[k]);
      validateTrace(trace);
    }
    this.config = config;
    this.memory = trace.memory;
    const nested = config.level === 'nested-ept';
    const pages = trace.memory / 4096;
    // EPT12 (4 KiB leaves, identity) and L1's own root, above the trace's memory.
    const eptFrames = Math.ceil(pages / 512) + Math.ceil(pages / 512 / 512) + 4;
    const extra = nested ? Math.ceil(((eptFrames + 2) * 4096) / TWO_M) * TWO_M : 0;
    const nx = config.nxHugePages;
    const hw = { ...(config.tlb ? { tlb: true } : {}), ...(config.cost ? { cost: config.cost } : {}) };
    const vm = config.td
      ? new Vm({ type: 'tdx', gpaw: 48, spte: { flavour: 'ept', nxHugePages: nx }, ...hw })
      : config.paging === 'shadow' ? new Vm({ mmu: 'shadow', spte: { flavour: 'npt', nxHugePages: nx }, ...hw }) : new Vm({ spte: { flavour: config.paging, nxHugePages: nx }, ...hw });
    const ramSize = BigInt(trace.memory + extra);
    vm.addMemslot({ base: 0n, size: ramSize, name: 'ram', hostPageSize: config.hostPageSize, guestMemfd: config.td });
    // A TD's RAM is private once userspace says so (attributes start shared), as a VMM does at boot.
    if (config.td) vm.setMemoryAttributes(0n, ramSize, 'private');
    // Each address space gets an equal share of the 16 MiB pool; every space maps the whole pool
    // in its direct map, so the kernel can write any space's tables from any space.
    const share = Math.floor(DATA_PA / 4096 / trace.spaces) * 4096;
    this.spaces = [];
    for (let s = 0; s < trace.spaces; s++) {
      const builder = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: BigInt(s * share), size: BigInt(share) } });
      builder.map(DIRECT_MAP, 0n, { size: '2M', count: DATA_PA / TWO_M, flags: { writable: true, accessed: true, dirty: true } });
      this.spaces.push({ builder, pte: new Map(), value: new Map() });
    }
    this.prebuild(trace);
    const root0 = this.spaces[0]!.builder.root as bigint;
    if (nested) {
      const ept = new PageTableBuilder(vm.guestMem, { mode: 'ept4', pool: { base: BigInt(trace.memory), size: BigInt(extra - 4096) } });
      ept.map(0n, 0n, { count: pages, flags: { accessed: true, dirty: true } });
      const l1 = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: BigInt(trace.memory + extra - 4096), size: 4096n } });
      this.vcpu = vm.createVcpu({ ...LONG, cr3: l1.root });
      this.eptp = makeEptp({ root: ept.root, level: 4, adEnabled: false });
      this.enterL2(root0);
    } else {
      this.eptp = 0n;
      // nested-shadow: L1 shadows L2 and L0 runs L1's shadow tables on TDP with role.guest_mode.
      // The engine has no L1 hypervisor, so L2's own tables stand for L1's shadow tables (they
      // translate the same GVAs to the same GPAs); the exits L1 takes are counted separately.
      this.vcpu = vm.createVcpu({ ...LONG, cr3: root0, guestMode: config.level === 'nested-shadow' });
    }
    this.vm = vm;
    if (config.td) {
      // Boot as a VMM boots a TD: the guest image (its page tables) through KVM_TDX_INIT_MEM_REGION
      // (TDH.MEM.PAGE.ADD: usable without TDG.MEM.PAGE.ACCEPT), then KVM_TDX_FINALIZE_VM.
      this.spaces.forEach((sp, k) => vm.tdInitMemRegion(this.vcpu, BigInt(k * share), sp.builder.tablesAllocated));
      vm.tdFinalize();
    }
  }

  private enterL2(cr3: bigint): void {
    this.vcpu.enterNestedEpt({ eptp: this.eptp, caps: DEFAULT_EPT_CAPS, l2: { ...LONG, cr3 } });
  }

  /** Create (non-present) 4 KiB PTEs for every page a map/unmap/wp touches, before the guest runs. */
  private prebuild(trace: Trace): void {
    const vpns: Set<number>[] = this.spaces.map(() => new Set());
    let s = 0;
    for (const op of trace.ops) {
      if (op.t === 'cr3') s = op.as;
      else if (op.t === 'map' || op.t === 'unmap' || op.t === 'wp') {
        const first = op.va / 4096;
        for (let i = 0; i < (op.n ?? 1); i++) vpns[s]!.add(first + i);
      }
    }
    this.spaces.forEach((sp, k) => {
      const sorted = [...vpns[k]!].sort((a, b) => a - b);
      for (let i = 0; i < sorted.length; ) {
        let j = i + 1;
        while (j < sorted.length && sorted[j] === sorted[j - 1]! + 1) j++;
        sp.builder.map(BigInt(sorted[i]!) * 4096n, 0n, { count: j - i, flags: { notPresent: true } });
        i = j;
      }
      for (const v of sorted) sp.pte.set(v, Number(sp.builder.getEntry(BigInt(v) * 4096n, 1).gpa as bigint));
    });
  }

  /**
   * The PTEs of pages [va, va + n pages) exist in the current space: the trace declared them (a
   * map/unmap/wp op, see prebuild), so the guest kernel has a PTE to store to. Checked before the
   * first store, so a refused op changes nothing.
   */
  private checkPrebuilt(va: number, n: number): void {
    const sp = this.spaces[this.current]!;
    for (let i = 0; i < n; i++) if (!sp.pte.has(va / 4096 + i)) refuse('va', 'trace-pte', `must lie in pages the trace's map/unmap/wp ops name for address space ${this.current} (page 0x${(va + i * 4096).toString(16)} has no PTE)`, va);
  }

  /** A guest kernel store to one of its PTEs, through the direct map. */
  private storePte(vpn: number, value: bigint): void {
    const sp = this.spaces[this.current]!;
    const at = sp.pte.get(vpn)!;
    const r = this.vcpu.store(DIRECT_MAP + BigInt(at), value, 8);
    if (r.status !== 'ok' && r.status !== 'emulated') {
      throw new InvariantViolation('trace-pt-store', `the guest kernel's page-table store did not complete (${r.status})`, hex(at));
    }
    sp.value.set(vpn, value);
  }

  /**
   * @internal The constructor without its argument checks, for TraceRun: it resolved the
   * configuration (resolveConfig) and ran validateTrace, so the machine need not do it again.
   */
  static createUnchecked(config: ResolvedConfig, trace: Trace): TraceMachine {
    return new TraceMachine(config, trace, CHECKED);
  }

  access(kind: 'r' | 'w' | 'x', va: number, user: boolean): AccessResult {
    checkEnum('kind', kind, ['r', 'w', 'x']);
    checkTraceVa('va', va, false);
    checkBool('user', user);
    return this.accessUnchecked(kind, va, user);
  }

  /**
   * The op methods without their argument checks, for TraceRun: it ran validateTrace, which checks
   * every op's arguments, so checking them again per op would be the same work in the run's loop.
   */
  accessUnchecked(kind: 'r' | 'w' | 'x', va: number, user: boolean): AccessResult {
    const k = kind === 'r' ? 'read' : kind === 'w' ? 'write' : 'fetch';
    return this.vcpu.access(BigInt(va), { kind: k, user });
  }

  /**
   * `s` (TDs only): shared memory. The guest converts the range first (TDG.VP.VMCALL<MapGPA>,
   * which userspace turns into KVM_SET_MEMORY_ATTRIBUTES), then maps it with the shared bit set
   * in the PTE's address; elsewhere `s` is ignored.
   */
  map(va: number, pa: number, n: number, w: boolean, u: boolean, s = false): void {
    checkTraceVa('va', va, true);
    checkInt('pa', pa, { max: this.memory - 1 });
    if (pa % 4096 !== 0) refuse('pa', 'alignment', 'must be 4 KiB aligned', pa);
    checkTracePages('n', n, va, TRACE_VA_LIMIT);
    checkTracePages('n', n, pa, this.memory);
    checkBool('w', w);
    checkBool('u', u);
    checkBool('s', s);
    this.mapUnchecked(va, pa, n, w, u, s);
  }

  mapUnchecked(va: number, pa: number, n: number, w: boolean, u: boolean, s = false): void {
    this.checkPrebuilt(va, n);
    const shared = s && this.config.td;
    if (shared) this.convert(pa, n, 'shared');
    // A TD guest accepts private memory before it uses it (Linux accepts unaccepted memory as it
    // allocates it): TDG.MEM.PAGE.ACCEPT, an exit and PAGE.AUG the first time.
    else if (this.config.td) this.accept(pa, n);
    const alias = shared ? BigInt(this.vm.gfnDirectBits) * 4096n : 0n;
    for (let i = 0; i < n; i++) this.storePte(va / 4096 + i, (BigInt(pa + i * 4096) | alias) | PTE_P | (w ? PTE_W : 0n) | (u ? PTE_U : 0n) | PTE_AD);
  }

  /** TD: convert a GPA range between private and shared; KVM zaps the other alias. */
  convert(gpa: number, n: number, to: 'private' | 'shared'): void {
    if (!this.config.td) refuse('convert', 'td-only', 'converts memory of a TD only', this.config.name);
    checkTraceVa('gpa', gpa, true);
    checkTracePages('n', n, gpa, this.memory);
    checkEnum('to', to, ['private', 'shared']);
    this.vm.setMemoryAttributes(BigInt(gpa), BigInt(gpa + n * 4096), to);
    // Linux's tdx_enc_status_changed accepts the pages it converted back to private.
    if (to === 'private') this.accept(gpa, n);
  }

  /** TD: TDG.MEM.PAGE.ACCEPT of [gpa, gpa + n pages) (already accepted pages are left as they are). */
  private accept(gpa: number, n: number): void {
    for (let i = 0; i < n; i++) {
      const r = this.vcpu.tdAccept(BigInt(gpa + i * 4096));
      if (r.status === 'memory-fault') throw new InvariantViolation('trace-td-accept', 'the guest could not accept a private page', hex(gpa + i * 4096));
    }
  }

  unmap(va: number, n: number): void {
    checkTracePages('n', n, checkTraceVa('va', va, true), TRACE_VA_LIMIT);
    this.unmapUnchecked(va, n);
  }

  unmapUnchecked(va: number, n: number): void {
    this.checkPrebuilt(va, n);
    for (let i = 0; i < n; i++) this.storePte(va / 4096 + i, 0n);
  }

  /** Write-protect present PTEs; absent ones stay as they are (nothing to protect). */
  wp(va: number, n: number): void {
    checkTracePages('n', n, checkTraceVa('va', va, true), TRACE_VA_LIMIT);
    this.wpUnchecked(va, n);
  }

  wpUnchecked(va: number, n: number): void {
    const sp = this.spaces[this.current]!;
    for (let i = 0; i < n; i++) {
      const v = sp.value.get(va / 4096 + i) ?? 0n;
      if ((v & PTE_P) !== 0n && (v & PTE_W) !== 0n) this.storePte(va / 4096 + i, v & ~PTE_W);
    }
  }

  cr3(space: number): void {
    checkInt('space', space, { max: this.spaces.length - 1 });
    this.current = space;
    const root = this.spaces[space]!.builder.root as bigint;
    // nested-ept: L2's own MOV to CR3, which L1 does not intercept here and L0 never does with EPT
    // (vmx.c:4477-4481): the CPU loads it, KVM does nothing (Vcpu.setRegisters on guest_mmu).
    this.vcpu.movCr3(root);
  }

  invlpg(va: number): void {
    checkTraceVa('va', va, false);
    this.vcpu.invlpg(BigInt(va));
  }

  flush(): void {
    this.vcpu.flushGuestTlb();
  }

  /** The NX huge page recovery worker runs once (ratio: the VM's nx_huge_pages_recovery_ratio). */
  nxRecover(ratio?: number): void {
    // nx_huge_pages_recovery_ratio is a uint module parameter.
    if (ratio !== undefined) checkInt('ratio', ratio, { max: 0xffff_ffff });
    this.vm.recoverNxHugePages(ratio);
  }
}
