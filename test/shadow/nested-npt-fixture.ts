/**
 * An NPT VM whose L1 runs L2 with nested NPT: L1's tables, NPT12 (x86 format of L1's own mode),
 * L2's tables, and L1's direct map of the NPT12 pool, so that L1 can store to NPT12 entries.
 */
import { Vm, PageTableBuilder, CR0, CR4, EFER, type KvmVersion, type VmOptions } from '../../src';

export const L1_LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE | EFER.SVME };
export const L1_PAE = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.NXE | EFER.SVME };
export const L2_LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
export const DM64 = 0xffff_8880_0000_0000n;
export const DM32 = 0x8000_0000n;
export const GVA = 0x40_0000n;
export const DATA_N = 0x300_0000n; // L2 data nGPA
export const DATA_G = 0x500_0000n; // its L1 GPA
const NPT_POOL = 0x20_0000n;

export function nestedNpt(o: { host?: 4 | 5; npt12?: 'paging4' | 'pae'; l1Cr4?: bigint; kvm?: KvmVersion; gmet?: boolean; tlb?: VmOptions['tlb'] } = {}) {
  const vm = new Vm({ spte: { flavour: 'npt', tdpLevel: o.host ?? 4 }, checkInvariants: true, ...(o.kvm === undefined ? {} : { kvm: o.kvm }), ...(o.tlb === undefined ? {} : { tlb: o.tlb }) });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const mode = o.npt12 ?? 'paging4';
  const l1Base = mode === 'pae' ? L1_PAE : L1_LONG;
  const l1Regs = { ...l1Base, cr4: l1Base.cr4 | (o.l1Cr4 ?? 0n) };
  const l1pt = new PageTableBuilder(vm.guestMem, { mode, pool: { base: 0x10_0000n, size: 0x10_0000n } });
  const npt = new PageTableBuilder(vm.guestMem, { mode, pool: { base: NPT_POOL, size: 0x10_0000n } });
  const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
  const DM = mode === 'pae' ? DM32 : DM64;
  // L1's direct map of its NPT12 pool (writable, supervisor: L1's kernel edits NPT12).
  l1pt.map(DM + NPT_POOL, NPT_POOL, { count: 256, flags: { writable: true, accessed: true, dirty: true } });
  // NPT12: every nested access is a user access and L2's table accesses are writes, so U and W.
  npt.map(0x100_0000n, 0x100_0000n, { count: 16, flags: { writable: true, user: true } });
  l2pt.map(GVA, DATA_N, { count: 4, flags: { writable: true } });
  npt.map(DATA_N, DATA_G, { count: 4, flags: { writable: true, user: true } });
  const v = vm.createVcpu({ ...l1Regs, cr3: l1pt.root });
  const ncr3 = BigInt(npt.root);
  const enter = (p = ncr3) => v.enterNestedNpt({ ncr3: p, l1: { ...l1Regs, cr3: l1pt.root }, l2: { ...L2_LONG, cr3: l2pt.root }, ...(o.gmet === undefined ? {} : { gmet: o.gmet }) });
  const frameOf = (gpa: bigint) => BigInt(ram.pfnBase) + (gpa >> 12n);
  /** L1 stores an NPT12 entry through its direct map. */
  const storeEntry = (ngpa: bigint, level: number, value: bigint) => {
    const e = npt.getEntry(ngpa, level);
    return v.store(DM + BigInt(e.gpa), value, 8);
  };
  return { vm, ram, l1pt, npt, l2pt, v, ncr3, l1Regs, enter, frameOf, storeEntry, DM };
}
