/**
 * One fuzzed VM: the engine under test (a Vm with `checkInvariants: true`, one vCPU, the guest's
 * tables) beside the reference model, the operations applied to both, and the cross-check of
 * every result. An access's result is compared with what the reference walks over guest memory
 * and the memslots the fuzzer created say it must be; a harvested dirty log must hold every page
 * the guest wrote; a TD's accept must find the page as the model left it. Anything the engine
 * throws (an InvariantViolation from its own checks included) is a violation too.
 */
import { Vm } from '../vm/vm';
import type { Vcpu } from '../vm/vcpu';
import type { AccessResult } from '../vm/access-result';
import type { Memslot } from '../vm/memslot';
import { PageTableBuilder } from '../builder/page-table-builder';
import { makeEptp } from '../nested/eptp';
import { DEFAULT_EPT_CAPS } from '../nested/ept-capabilities';
import { CR0, CR4, EFER } from '../cpu/registers';
import { gpa as mkGpa } from '../address/address';
import type { FuzzConfig } from './fuzz-config';
import { ReferenceModel, type Expected, type RefSlot } from './reference-model';
import { eptWalk, nptWalk, x86Walk, type StageWalk } from './reference-walk';
import { DIRECT_MAP, REGION_PAGES, TWO_M, VA_A, VA_B, windowBase, type FuzzOp, type FuzzView } from './fuzz-ops';

const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
const PT_SLOT_PAGES = 512;
/** The nGPA range EPT12/NPT12 map 1:1: the table slot and every data window. */
const STAGE2_PAGES = 9 * 512;
const SPACES = 2;
const A_BIT = 0x20n;
const D_BIT = 0x40n;

interface Space {
  root: bigint;
  /** GPA of region A's and region B's PTs (entry i at base + 8i). */
  ptA: bigint;
  ptB: bigint;
  /** GPA of region B's PDE and its value when it points at ptB. */
  pdeB: bigint;
  pointer: bigint;
}

/** An observed result in the reference's terms. */
type Observed =
  | { kind: 'ok'; gpa: bigint; hpa: bigint }
  | { kind: 'ok-emulated'; gpa: bigint }
  | { kind: 'pf'; errorCode: number }
  | { kind: 'mmio' | 'rom' | 've'; gfn: number }
  | { kind: 'l1-exit'; ngfn: number; misconfig: boolean }
  | { kind: 'memory-fault'; gfn: number; private: boolean }
  | { kind: 'other'; text: string };

/** Counts of the outcomes seen, per kind (what the run exercised). */
export type OutcomeCounts = Record<string, number>;

export class FuzzMachine {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly cfg: FuzzConfig;
  readonly ref: ReferenceModel;
  readonly manualProtect: boolean;
  readonly outcomes: OutcomeCounts = {};
  private readonly spaces: Space[] = [];
  private current = 0;
  private readonly engineSlots = new Map<string, Memslot>();
  private nextSlot = 0;
  private readonly eptp: bigint = 0n;
  private readonly ncr3: bigint = 0n;
  private readonly l1Regs = { ...LONG, cr3: 0n };
  private readonly stage2Entry = new Map<number, bigint>();
  private readonly sharedMask: bigint;
  private readonly recentVas: bigint[] = [];
  private readonly recentGfns: number[] = [];
  /**
   * Memslot updates so far (add, delete, move, a dirty-logging flag change): each one is a new
   * memslots generation (kvm_main.c:1664), which makes every MMIO SPTE made before it stale.
   * Counted for every dirty-log op, changed or not, so it over-approximates KVM's count.
   */
  private memslotUpdates = 0;
  /** nested-ept: L2 nGPA frame → `memslotUpdates` when an access to it was last emulated as MMIO. */
  private readonly mmioEmulatedAt = new Map<number, number>();
  /** The nGPA frame of the final stage-2 walk of the last `expect` (-1: none). */
  private lastNgfn = -1;

  constructor(cfg: FuzzConfig, seed: number) {
    this.cfg = cfg;
    this.ref = new ReferenceModel(SPACES);
    this.manualProtect = (seed & 1) === 1 && !cfg.td;
    const vm = cfg.td
      ? new Vm({ type: 'tdx', gpaw: 48, spte: { flavour: 'ept' }, checkInvariants: true })
      : cfg.mmu === 'shadow'
        ? new Vm({ mmu: 'shadow', spte: { flavour: 'npt' }, checkInvariants: true })
        : new Vm({ spte: { flavour: cfg.flavour, adEnabled: cfg.adEnabled, pml: cfg.pml }, checkInvariants: true });
    this.vm = vm;
    this.sharedMask = vm.td === undefined ? 0n : vm.td.config.gpaSharedMask;
    if (this.manualProtect) vm.setManualDirtyLogProtect({ enable: true });
    this.addSlot('pt', 0, PT_SLOT_PAGES, '4K', false, cfg.td);
    // Each space: tables from its own 256 KiB pool; a direct map of the table slot (the kernel
    // writes any space's tables from any space); regions A and B built not-present.
    for (let s = 0; s < SPACES; s++) {
      const b = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: BigInt(s * 0x4_0000), size: 0x4_0000n } });
      b.map(DIRECT_MAP, 0n, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
      b.map(BigInt(VA_A), 0n, { count: REGION_PAGES, flags: { notPresent: true } });
      b.map(BigInt(VA_B), 0n, { count: REGION_PAGES, flags: { notPresent: true } });
      const pde = b.getEntry(BigInt(VA_B), 2);
      this.spaces.push({
        root: b.root as bigint, ptA: b.getEntry(BigInt(VA_A), 1).gpa as bigint, ptB: b.getEntry(BigInt(VA_B), 1).gpa as bigint,
        pdeB: pde.gpa as bigint, pointer: pde.value,
      });
      if (cfg.td) for (let p = 0; p < b.tablesAllocated; p++) this.ref.accepted.add(s * 0x40 + p);
    }
    const root0 = this.spaces[0]!.root;
    if (cfg.level === 'nested-ept' || cfg.level === 'nested-npt') {
      // L1's own tables map the table slot (where EPT12/NPT12 live) so L1 can store to them.
      const l1 = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x18_0000n, size: 0x4_0000n } });
      l1.map(DIRECT_MAP, 0n, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
      const stage2 = new PageTableBuilder(vm.guestMem, { mode: cfg.level === 'nested-ept' ? 'ept4' : 'paging4', pool: { base: 0x10_0000n, size: 0x8_0000n } });
      stage2.map(0n, 0n, { count: STAGE2_PAGES, flags: cfg.level === 'nested-ept' ? { read: true, write: true, exec: true } : { writable: true, user: true, accessed: true, dirty: true } });
      for (let k = 0; k < 8; k++) {
        for (let p = 0; p < 32; p++) {
          const g = windowBase(k) / 4096 + p;
          this.stage2Entry.set(g, stage2.getEntry(BigInt(g) * 4096n, 1).gpa as bigint);
        }
      }
      if (cfg.level === 'nested-ept') {
        this.l1Regs = { ...LONG, cr3: l1.root as bigint };
        this.eptp = makeEptp({ root: stage2.root, level: 4, adEnabled: false });
      } else {
        this.l1Regs = { ...LONG, efer: LONG.efer | EFER.SVME, cr3: l1.root as bigint };
        this.ncr3 = stage2.root as bigint;
      }
      this.vcpu = vm.createVcpu(this.l1Regs);
      this.enterL2();
    } else {
      this.vcpu = vm.createVcpu({ ...LONG, cr3: root0, guestMode: cfg.level === 'nested-shadow' });
    }
    if (cfg.td) {
      vm.setMemoryAttributes(0n, BigInt(PT_SLOT_PAGES * 4096), 'private');
      for (let g = 0; g < PT_SLOT_PAGES; g++) this.ref.privateGfns.add(g);
      for (let s = 0; s < SPACES; s++) vm.tdInitMemRegion(this.vcpu, BigInt(s * 0x4_0000), [...this.ref.accepted].filter((g) => g >> 6 === s).length);
      vm.tdFinalize();
    }
    // Data: a THP-backed slot, a 4K-backed one, and a ROM (a TD: a shared-only slot instead).
    this.addSlot(this.slotName(), 0, 512, '2M', false, cfg.td);
    this.addSlot(this.slotName(), 1, 512, '4K', false, cfg.td);
    this.addSlot(this.slotName(), 2, 64, '2M', !cfg.td, false);
  }

  private slotName(): string {
    return `d${this.nextSlot++}`;
  }

  view(): FuzzView {
    return {
      spaces: SPACES, current: this.current, slots: this.ref.slots, manualProtect: this.manualProtect, td: this.cfg.td,
      nested: this.cfg.level === 'nested-ept' || this.cfg.level === 'nested-npt', maxPhyAddr: this.vm.features.maxPhyAddr,
      sharedBit: this.vm.td?.config.sharedBit ?? 0, nxHugePages: this.vm.nxHugePages, recentVas: this.recentVas, recentGfns: this.recentGfns,
    };
  }

  pointer(space: number): bigint {
    return this.spaces[space]!.pointer;
  }

  private enterL2(): void {
    const l2 = { ...LONG, cr3: this.spaces[this.current]!.root };
    if (this.cfg.level === 'nested-ept') this.vcpu.enterNestedEpt({ eptp: this.eptp, caps: DEFAULT_EPT_CAPS, l2 });
    else this.vcpu.enterNestedNpt({ ncr3: this.ncr3, l1: this.l1Regs, l2 });
  }

  /** Configurations with shadow pages for the guest's accesses (root_mmu without TDP, guest_mmu). */
  private get shadowPages(): boolean {
    return this.cfg.mmu === 'shadow' || this.nestedTdp;
  }

  private get nestedTdp(): boolean {
    return this.cfg.level === 'nested-ept' || this.cfg.level === 'nested-npt';
  }

  /** Create a slot in engine and model (a window index, or 0 with `name` 'pt' for the table slot). */
  private addSlot(name: string, window: number, pages: number, hostPageSize: '4K' | '2M', readonly: boolean, guestMemfd: boolean): void {
    const base = name === 'pt' ? 0 : windowBase(window);
    const s = this.vm.addMemslot({ base: BigInt(base), size: BigInt(pages * 4096), name, hostPageSize, readonly, guestMemfd });
    this.memslotUpdates++;
    this.engineSlots.set(name, s);
    this.ref.slots.push({ name, baseGfn: base / 4096, npages: pages, readonly, pfnBase: s.pfnBase, gmemPfnBase: s.gmemPfnBase, dirtyLogging: false, dirty: new Set() });
    // A VMM makes a TD's guest_memfd memory private before the guest uses it.
    if (this.cfg.td && guestMemfd && name !== 'pt') this.convert(base / 4096, pages, 'private');
  }

  private refSlot(name: string): RefSlot {
    return this.ref.slots.find((s) => s.name === name)!;
  }

  private convert(gfn: number, pages: number, to: 'private' | 'shared'): void {
    this.vm.setMemoryAttributes(BigInt(gfn) * 4096n, BigInt(gfn + pages) * 4096n, to);
    for (let g = gfn; g < gfn + pages; g++) {
      if (to === 'private') this.ref.privateGfns.add(g);
      else {
        // The private page leaves the S-EPT (KVM zaps the other alias): it must be accepted again.
        this.ref.privateGfns.delete(g);
        this.ref.accepted.delete(g);
      }
    }
  }

  /** Apply one operation to engine and model; returns what disagreed, or undefined. */
  apply(op: FuzzOp): string | undefined {
    switch (op.t) {
      case 'access': return this.access(op.va, op.kind, op.user);
      case 'pte': return this.storeEntry(op.space, op.va, op.level, op.value);
      case 'invlpg': {
        this.vcpu.invlpg(op.va);
        // kvm_mmu_invlpg covers every root of the MMU (KVM_MMU_ROOTS_ALL).
        for (let s = 0; s < SPACES; s++) this.ref.stale[s]!.delete(this.pteGpa(s, op.va));
        return undefined;
      }
      case 'flush':
        this.vcpu.flushGuestTlb();
        // kvm_vcpu_flush_tlb_guest syncs the current and the previous roots.
        for (const m of this.ref.stale) m.clear();
        return undefined;
      case 'cr3': {
        this.current = op.space;
        // Nested EPT/NPT: L2's own MOV to CR3, not intercepted (vmx.c:4477-4481, svm.c:1337): only
        // L2's walk changes (Vcpu.setRegisters on guest_mmu), no exit, no MMU work.
        this.vcpu.movCr3(this.spaces[op.space]!.root);
        // kvm_set_cr3 → kvm_invalidate_pcid: without PCID, the new root is synced (KVM_REQ_MMU_SYNC).
        this.ref.stale[op.space]!.clear();
        return undefined;
      }
      case 'slot-add':
        this.addSlot(this.slotName(), op.window, op.pages, op.hostPageSize, op.readonly, op.guestMemfd);
        return undefined;
      case 'slot-delete': {
        const s = this.refSlot(op.slot);
        this.vm.deleteMemslot(this.engineSlots.get(op.slot)!);
        this.memslotUpdates++;
        this.engineSlots.delete(op.slot);
        this.ref.slots.splice(this.ref.slots.indexOf(s), 1);
        for (let g = s.baseGfn; g < s.baseGfn + s.npages; g++) this.ref.accepted.delete(g);
        return undefined;
      }
      case 'slot-move': {
        const s = this.refSlot(op.slot);
        const moved = this.vm.moveMemslot(this.engineSlots.get(op.slot)!, BigInt(windowBase(op.window)));
        this.memslotUpdates++;
        this.engineSlots.set(op.slot, moved);
        s.baseGfn = windowBase(op.window) / 4096;
        return undefined;
      }
      case 'dirty-log': {
        const s = this.refSlot(op.slot);
        this.vm.setDirtyLogging(this.engineSlots.get(op.slot)!, op.on);
        this.memslotUpdates++;
        s.dirtyLogging = op.on;
        s.dirty.clear();
        return undefined;
      }
      case 'dirty-get':
      case 'dirty-clear': {
        const s = this.refSlot(op.slot);
        const slot = this.engineSlots.get(op.slot)!;
        const got = op.t === 'dirty-get' ? this.vm.getDirtyLog(slot) : this.vm.clearDirtyLog(slot);
        const reported = new Set(got.map((g) => Number((g as bigint) >> 12n) - s.baseGfn));
        const missing = [...s.dirty].filter((p) => !reported.has(p));
        this.count(`${op.t}:extra`, reported.size - (s.dirty.size - missing.length));
        if (op.t === 'dirty-clear' || !this.manualProtect) s.dirty.clear();
        if (missing.length > 0) return `${op.t} of ${op.slot} misses written pages ${missing.map((p) => '0x' + (s.baseGfn + p).toString(16)).join(', ')}`;
        return undefined;
      }
      case 'zap': return this.zap(op);
      case 'nx':
        this.vm.setNxHugePages(op.on);
        return undefined;
      case 'nx-recover':
        this.vm.recoverNxHugePages();
        return undefined;
      case 'stage2': return this.stage2(op.ngfn, op.bits);
      case 'accept': return this.accept(op.gfn);
      case 'convert':
        this.convert(op.gfn, op.pages, op.to);
        return undefined;
    }
  }

  private zap(op: Extract<FuzzOp, { t: 'zap' }>): undefined {
    const a = BigInt(op.gfn) * 4096n;
    const b = BigInt(op.gfn + op.pages) * 4096n;
    switch (op.how) {
      case 'range': this.vm.zapGfnRange(a, b); break;
      case 'slot': this.vm.zapSlot(this.engineSlots.get(op.slot!)!); break;
      case 'all': this.vm.zapAll(); break;
      case 'fast': this.vm.zapAllFast(); break;
      case 'unmap': this.vm.unmapGfnRange(a, b, 'shared'); break;
      case 'unmap-private':
        // guest_memfd invalidation (a hole punched): the private pages leave the S-EPT.
        this.vm.unmapGfnRange(a, b, 'private');
        for (let g = op.gfn; g < op.gfn + op.pages; g++) this.ref.accepted.delete(g);
        break;
      case 'age': this.vm.age(a, b); break;
    }
    return undefined;
  }

  /** GPA of the 4 KiB PTE for `va` in `space` (region A or B). */
  private pteGpa(space: number, va: bigint): bigint {
    const sp = this.spaces[space]!;
    const off = Number(va) - VA_A;
    const idx = BigInt(Math.floor(off / 4096) % 512);
    return (off < TWO_M ? sp.ptA : sp.ptB) + idx * 8n;
  }

  private read64(gpa: bigint): bigint {
    return this.vm.guestMem.read64(mkGpa(gpa));
  }

  /** The guest kernel stores an entry through its direct map (tables are in the table slot). */
  private storeEntry(space: number, va: bigint, level: 1 | 2, value: bigint): string | undefined {
    const at = level === 2 ? this.spaces[space]!.pdeB : this.pteGpa(space, va);
    remember(this.recentVas, va & ~0xfffn);
    if ((value & 1n) !== 0n) remember(this.recentGfns, Number((value & ~this.sharedMask & 0xf_ffff_f000n) >> 12n));
    const old = this.read64(at);
    if (this.cfg.staleGuestTranslations && level === 1) this.ref.changed(space, at, old);
    const r = this.vcpu.store(DIRECT_MAP + at, value, 8);
    if (r.status === 'l1-exit') this.enterL2();
    if (r.status !== 'ok' && r.status !== 'emulated') return `the guest kernel's store to its table entry at ${hex(at)} ended ${r.status}`;
    if (this.read64(at) !== value) return `the guest kernel's store to ${hex(at)} left ${hex(this.read64(at))}, not ${hex(value)}`;
    return undefined;
  }

  /** L1 changes its EPT12/NPT12 leaf for `ngfn` and invalidates (INVEPT / the VMRUN TLB flush). */
  private stage2(ngfn: number, bits: number): string | undefined {
    const at = this.stage2Entry.get(ngfn)!;
    const old = this.read64(at);
    const ept = this.cfg.level === 'nested-ept';
    // EPT: RWX (bits 2:0) as drawn; NPT: P, W and XD from the bits, U kept (nested accesses are user).
    const value = ept ? (old & ~7n) | BigInt(bits) : (old & ~(3n | (1n << 63n))) | BigInt(bits & 3) | ((bits & 4) !== 0 ? 1n << 63n : 0n);
    this.vcpu.exitNested();
    const r = this.vcpu.store(DIRECT_MAP + at, value, 8);
    if (ept) this.vcpu.invept('single', this.eptp);
    this.enterL2();
    if (!ept) this.vcpu.flushGuestTlb();
    if (r.status !== 'ok' && r.status !== 'emulated') return `L1's store to its ${ept ? 'EPT12' : 'NPT12'} entry at ${hex(at)} ended ${r.status}`;
    if (this.read64(at) !== value) return `L1's store to ${hex(at)} left ${hex(this.read64(at))}, not ${hex(value)}`;
    return undefined;
  }

  private accept(gfn: number): string | undefined {
    const s = this.ref.slotOf(gfn);
    const ok = this.ref.privateGfns.has(gfn) && s !== undefined && s.gmemPfnBase >= 0;
    const want = !ok ? 'memory-fault' : this.ref.accepted.has(gfn) ? 'already-accepted' : 'accepted';
    const r = this.vcpu.tdAccept(BigInt(gfn) * 4096n);
    if (ok) this.ref.accepted.add(gfn);
    this.count(`accept:${r.status}`);
    return r.status === want ? undefined : `TDG.MEM.PAGE.ACCEPT of gfn ${hex(gfn)}: ${r.status}, the model says ${want}`;
  }

  // ---- accesses ----

  /** A stage-2 translation of an nGPA (identity without nesting). */
  private stage2Walk(ngpa: bigint, acc: { write: boolean; fetch: boolean }): StageWalk {
    const read = (g: bigint) => this.read64(g);
    if (this.cfg.level === 'nested-ept') return eptWalk(read, this.eptp, ngpa, acc);
    if (this.cfg.level === 'nested-npt') return nptWalk(read, this.ncr3, ngpa, acc);
    return { ok: true, gpa: ngpa, leafAt: -1n };
  }

  /** What the access must do under the guest tables as they are, or with `override` applied. */
  expect(va: bigint, acc: { write: boolean; user: boolean; fetch: boolean }, override?: ReadonlyMap<bigint, bigint>): Expected {
    let tableExit: StageWalk | undefined;
    this.lastNgfn = -1;
    // L2's table accesses: EPT12 reads; NPT12 user writes (APM: guest table accesses are user writes).
    const tableAcc = { write: this.cfg.level === 'nested-npt', fetch: false };
    const tableGpa = (g: bigint): bigint | undefined => {
      const t = this.stage2Walk(g, tableAcc);
      if (!t.ok) {
        tableExit = t;
        return undefined;
      }
      return t.gpa;
    };
    const root = this.spaces[this.current]!.root;
    const w = x86Walk((g) => this.read64(g), root, va, acc, this.vm.features.maxPhyAddr, tableGpa, override);
    if (w === undefined) {
      const t = tableExit as StageWalk | undefined;
      return { kind: 'l1-exit', ngfn: -1, misconfig: t !== undefined && !t.ok && t.misconfig };
    }
    if (!w.ok) return { kind: 'pf', errorCode: w.errorCode };
    const shared = this.sharedMask !== 0n && (w.gpa & this.sharedMask) !== 0n;
    const ngpa = w.gpa & ~this.sharedMask;
    const st = this.stage2Walk(ngpa, acc);
    if (override === undefined) this.lastNgfn = Number(ngpa >> 12n);
    if (!st.ok) return { kind: 'l1-exit', ngfn: Number(ngpa >> 12n), misconfig: st.misconfig };
    const gfn = Number(st.gpa >> 12n);
    const c = this.cfg.td ? this.ref.classifyTd(gfn, shared, acc.write) : this.ref.classify(gfn, acc.write);
    if (c.kind === 'ok') {
      return { kind: 'ok', gpa: st.gpa, hpa: BigInt(c.hostPfn) * 4096n + (st.gpa & 0xfffn), tablePage: gfn < PT_SLOT_PAGES, entries: w.entries };
    }
    if (c.kind === 'memory-fault') return { kind: 'memory-fault', gfn, private: c.private };
    return { kind: c.kind, gfn };
  }

  private observe(r: AccessResult): Observed {
    const nat = (g: bigint | undefined) => (g === undefined ? -1n : g & ~this.sharedMask);
    const gpa = nat(r.l1Gpa ?? r.gpa);
    switch (r.status) {
      case 'ok': return { kind: 'ok', gpa, hpa: r.hpa as bigint };
      case 'guest-pf': return { kind: 'pf', errorCode: r.guestWalk.status === 'fault' ? r.guestWalk.errorCode : -1 };
      case 'emulated': {
        const why = r.emulation ?? '';
        if (why.includes('write-protected') || why.includes('write-tracked')) return { kind: 'ok-emulated', gpa };
        return { kind: why.includes('read-only') ? 'rom' : 'mmio', gfn: Number(gpa >> 12n) };
      }
      case 'l1-exit': {
        const e = r.nestedExit;
        const misconfig = e?.kind === 'ept-misconfig';
        const at = e === undefined ? -1n : e.kind === 'npf' ? (e.exitInfo2 as bigint) : (e.guestPhysicalAddress as bigint);
        return { kind: 'l1-exit', ngfn: Number(at >> 12n), misconfig };
      }
      case 'memory-fault': return { kind: 'memory-fault', gfn: Number((r.memoryFault?.gpa ?? -1n) >> 12n), private: r.memoryFault?.isPrivate ?? false };
      case 'guest-ve': return { kind: 've', gfn: Number(gpa >> 12n) };
      default: return { kind: 'other', text: r.status };
    }
  }

  /** Whether the observed result is the expected one. */
  private matches(o: Observed, e: Expected, write: boolean): boolean {
    switch (e.kind) {
      case 'ok':
        if (o.kind === 'ok') return o.gpa === e.gpa && o.hpa === e.hpa;
        // A write to a page the shadow MMU protects (a guest page table) is emulated: the same write.
        return o.kind === 'ok-emulated' && write && e.tablePage && o.gpa === e.gpa;
      case 'pf': return o.kind === 'pf' && o.errorCode === e.errorCode;
      // KVM emulates both: a write to a read-only slot exits to userspace as MMIO (x86.c:
      // emulator_read_write_onepage), so the two are one outcome to the guest.
      case 'mmio':
      case 'rom': return o.kind === 'mmio' || o.kind === 'rom';
      case 've': return o.kind === e.kind;
      case 'l1-exit': return o.kind === 'l1-exit' && o.misconfig === e.misconfig && (e.ngfn < 0 || o.ngfn === e.ngfn);
      case 'memory-fault': return o.kind === 'memory-fault' && o.gfn === e.gfn && o.private === e.private;
    }
  }

  /**
   * nested-ept under KVM 7.3: an L2 fetch from an MMIO nGPA that EPT12 maps execute-only (R = 0)
   * goes to L1 as an EPT violation when EPT02 holds a stale MMIO SPTE for it, although the fetch
   * itself is allowed. The SPTE is a misconfiguration, which has no exit qualification:
   * handle_ept_misconfig passes PFERR_RSVD_MASK alone (vmx.c:5803); handle_mmio_page_fault finds
   * the generation stale (mmu.c:4348-4349, RET_PF_INVALID), so kvm_mmu_do_page_fault runs
   * (mmu.c:6276) and FNAME(page_fault) walks EPT12 with the error code minus RSVD, i.e. 0
   * (paging_tmpl.h:777-778). In 7.3 an access with neither W nor F is a read (kvm-7x.md §1.3 item
   * 1, §1.5 "read (!w && !f): fault on ~Rm"; INFERRED there), which R = 0 refuses, and the walk's
   * fault is injected into L1 (paging_tmpl.h:783-786) as an EPT violation. A current MMIO SPTE
   * (mmu.c:4344-4356) or none (an EPT violation carrying the fetch) emulates instead, so both
   * outcomes are KVM's; this model cannot see EPT02, so it accepts the exit only where a stale
   * SPTE is possible: a memslot update since the last emulated MMIO access to that nGPA (a
   * generation only grows, and every MMIO SPTE is made or matched by such an access).
   * ASSUMPTION (the INFERRED 7.3 read rule): tested in test/fuzz/fuzz.test.ts and
   * test/shadow/guest-mmu-mmio.test.ts.
   */
  private staleMmioSpteReadWalk(e: Expected, o: Observed, fetch: boolean, ngfn: number): boolean {
    if (this.cfg.level !== 'nested-ept' || this.vm.config.kvm !== '7.3' || !fetch || e.kind !== 'mmio') return false;
    if (o.kind !== 'l1-exit' || o.misconfig || o.ngfn !== ngfn) return false;
    const seen = this.mmioEmulatedAt.get(ngfn);
    if (seen === undefined || seen === this.memslotUpdates) return false;
    const read = this.stage2Walk(BigInt(ngfn) * 4096n, { write: false, fetch: false });
    return !read.ok && !read.misconfig;
  }

  private count(key: string, n = 1): void {
    this.outcomes[key] = (this.outcomes[key] ?? 0) + n;
  }

  access(va: bigint, kind: 'r' | 'w' | 'x', user: boolean): string | undefined {
    const acc = { write: kind === 'w', user, fetch: kind === 'x' };
    const fresh = this.expect(va, acc);
    const ngfn = this.lastNgfn;
    const r = this.vcpu.access(va, { kind: kind === 'r' ? 'read' : kind === 'w' ? 'write' : 'fetch', user });
    const o = this.observe(r);
    if (r.status === 'l1-exit') this.enterL2(); // L1 handles the exit and resumes L2
    this.count(`${kind}:${o.kind}`);
    let ok = this.matches(o, fresh, acc.write);
    if (!ok && this.cfg.staleGuestTranslations && (o.kind === 'ok' || o.kind === 'ok-emulated' || o.kind === 'mmio' || o.kind === 'rom')) {
      // A translation the guest changed but has not invalidated (an unsync shadow page), to RAM
      // or to MMIO (an MMIO SPTE keeps the access of the gpte it was made from: mmu.c:
      // handle_mmio_page_fault checks that, not the guest's tables). Never a stale fault.
      const at = Number(va) >= VA_A && Number(va) < VA_B + TWO_M ? this.pteGpa(this.current, va) : -1n;
      for (const old of this.ref.stale[this.current]!.get(at) ?? []) {
        const e = this.expect(va, acc, new Map([[at, old]]));
        if (e.kind !== 'pf' && this.matches(o, e, acc.write)) {
          ok = true;
          this.count('stale-translation');
          break;
        }
      }
    }
    if (!ok && fresh.kind === 'ok' && o.kind === 'mmio' && this.shadowPages) {
      // mmu.c:5090-5104 (sync_mmio_spte): syncing an unsync shadow page (root_mmu without TDP,
      // or guest_mmu's EPT02/NPT02) re-marks an MMIO SPTE
      // with the current generation without looking for a memslot added since, so the access
      // takes the MMIO path; KVM's emulator then reads or writes the RAM now at that GPA
      // (x86.c: emulator_read_write_onepage), the guest-visible result of 'ok'.
      ok = true;
      this.count('mmio-spte-resynced');
    }
    if (!ok && this.staleMmioSpteReadWalk(fresh, o, acc.fetch, ngfn)) {
      ok = true;
      this.count('mmio-stale-spte-read-walk');
    }
    if ((o.kind === 'mmio' || o.kind === 'rom') && ngfn >= 0) this.mmioEmulatedAt.set(ngfn, this.memslotUpdates);
    if (!ok) return `${kind}${user ? ' user' : ''} ${hex(va)}: engine ${describe(o)}${r.emulation ? ` (${r.emulation})` : ''}, reference ${describeExpected(fresh)}`;
    if (o.kind === 'ok' && acc.write) this.ref.wrote(Number(o.gpa >> 12n));
    if (o.kind === 'ok' && fresh.kind === 'ok' && !this.cfg.staleGuestTranslations) {
      // SDM Vol. 3A §4.8: the walk set A in every entry it used and D in the leaf of a write.
      for (const [i, at] of fresh.entries.entries()) {
        const e = this.read64(at); // L2's tables: EPT12/NPT12 map the table slot 1:1
        const last = i === fresh.entries.length - 1;
        if ((e & A_BIT) === 0n || (last && acc.write && (e & D_BIT) === 0n)) {
          return `${kind} ${hex(va)} completed but the guest entry at ${hex(at)} is ${hex(e)} (A${last && acc.write ? '/D' : ''} not set)`;
        }
      }
    }
    return undefined;
  }
}

function remember<T>(list: T[], x: T): void {
  if (list.includes(x)) return;
  list.push(x);
  if (list.length > 24) list.shift();
}

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

function describe(o: Observed): string {
  return JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v));
}

function describeExpected(e: Expected): string {
  const { entries: _e, ...rest } = e as Expected & { entries?: unknown };
  return JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v));
}
