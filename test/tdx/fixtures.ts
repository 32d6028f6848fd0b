/**
 * A TD with 1 GiB of guest_memfd-backed RAM that userspace made private (attributes start shared,
 * include/linux/kvm_host.h:2533), 4-level guest tables in private memory, one vCPU — booted as a
 * VMM boots a TD: the table pool (the guest image) goes in through KVM_TDX_INIT_MEM_REGION
 * (TDH.MEM.PAGE.ADD, so the guest need not accept it), then KVM_TDX_FINALIZE_VM. Data pages are
 * AUGed at runtime and PENDING until the guest accepts them (`accept`).
 */
import { Vm, PageTableBuilder, MmulabError, type Vcpu, type Memslot, type VmOptions } from '../../src';
import { LONG_MODE } from '../vm/fixtures';

export interface TdFixture {
  vm: Vm;
  ram: Memslot;
  pt: PageTableBuilder;
  v: Vcpu;
  /** The shared bit as a GPA mask, spelled from the rule (not read from the code). */
  shared: bigint;
  /** TDG.MEM.PAGE.ACCEPT of `count` private pages from `gpa`, as a guest does before using them. */
  accept(gpa: bigint, count?: number): void;
}

export const POOL = { base: 0x10_0000n, size: 0x10_0000n };

export function tdFixture(gpaw: 48 | 52 = 48, opts: { septVeDisable?: boolean; finalize?: boolean; tlb?: VmOptions['tlb'] } = {}): TdFixture {
  const vm = new Vm({ type: 'tdx', gpaw, checkInvariants: true, septVeDisable: opts.septVeDisable ?? false, ...(opts.tlb === undefined ? {} : { tlb: opts.tlb }) });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '2M', guestMemfd: true });
  vm.setMemoryAttributes(0n, 1n << 30n, 'private');
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: POOL });
  const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
  if (opts.finalize ?? true) {
    vm.checking = false; // 256 PAGE.ADDs; checked once at the end
    vm.tdInitMemRegion(v, POOL.base, Number(POOL.size >> 12n));
    vm.tdFinalize();
    vm.checking = true;
    vm.afterOperation();
  }
  const accept = (gpa: bigint, count = 1): void => {
    for (let i = 0; i < count; i++) {
      const r = v.tdAccept(gpa + BigInt(i) * 4096n);
      if (r.status !== 'accepted') throw new Error(`accept ${gpa.toString(16)}: ${r.status}`);
    }
  };
  return { vm, ram, pt, v, shared: gpaw === 48 ? 0x8000_0000_0000n : 0x8_0000_0000_0000n, accept };
}

export { caught } from '../support/caught';

/** The rule of the error of class `cls` that `f` throws, or undefined when it returns; other errors propagate. */
export function thrownRule(f: () => unknown, cls: typeof MmulabError = MmulabError): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof cls) return e.rule;
    throw e;
  }
  return undefined;
}

/**
 * A private data page (GPA 0x200000 at GVA 0x70000000, accepted) and a shared one (GPA 0x300000
 * through its alias at GVA 0x71000000), both touched once, so both roots hold a leaf.
 */
export function privateAndSharedTouched(fx: TdFixture): TdFixture {
  const { vm, v, pt, shared, accept } = fx;
  vm.setMemoryAttributes(0x30_0000n, 0x30_1000n, 'shared');
  pt.map(0x7000_0000n, 0x20_0000n);
  pt.map(0x7100_0000n, 0x30_0000n | shared);
  accept(0x20_0000n);
  if (v.read(0x7000_0000n).status !== 'ok' || v.read(0x7100_0000n).status !== 'ok') throw new Error('setup: first touches did not complete');
  return fx;
}
