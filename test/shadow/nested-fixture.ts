/** An EPT VM whose L1 runs L2 with nested EPT: L1's tables, EPT12, L2's tables, and L1's direct map of EPT12. */
import { Vm, PageTableBuilder, makeEptp, CR0, CR4, EFER, DEFAULT_EPT_CAPS, type KvmVersion, type VmOptions } from '../../src';

export const LONG = { cr0: CR0.PE | CR0.PG | CR0.WP, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE };
export const DM = 0xffff_8880_0000_0000n;
export const GVA = 0x40_0000n;
export const DATA_N = 0x300_0000n; // L2 data nGPA
export const DATA_G = 0x500_0000n; // its L1 GPA

export function nested(o: { ad?: boolean; execOnly?: boolean; accessed?: boolean; pml?: boolean; kvm?: KvmVersion; tlb?: VmOptions['tlb'] } = {}) {
  const vm = new Vm({ spte: { flavour: 'ept', pml: o.pml ?? false }, checkInvariants: true, ...(o.kvm === undefined ? {} : { kvm: o.kvm }), ...(o.tlb === undefined ? {} : { tlb: o.tlb }) });
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  const ept = new PageTableBuilder(vm.guestMem, { mode: 'ept4', pool: { base: 0x20_0000n, size: 0x10_0000n } });
  const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
  // L1's direct map of its EPT12 pool, so that L1 can store to EPT12 entries.
  l1pt.map(DM + 0x20_0000n, 0x20_0000n, { count: 256, flags: { writable: true, accessed: true, dirty: true } });
  // L2's page tables: identity. With EPT A/D on, the CPU's accesses to them are writes, so a
  // prefetched EPT02 entry avoids an exit only if the EPT12 leaf is accessed and dirty.
  ept.map(0x100_0000n, 0x100_0000n, { count: 16, flags: { accessed: o.accessed ?? false, dirty: o.accessed ?? false } });
  l2pt.map(GVA, DATA_N, { count: 4, flags: { writable: true } });
  ept.map(DATA_N, DATA_G, { count: 4 });
  const v = vm.createVcpu({ ...LONG, cr3: l1pt.root });
  const eptp = makeEptp({ root: ept.root, level: 4, adEnabled: o.ad ?? false });
  const caps = { ...DEFAULT_EPT_CAPS, executeOnly: o.execOnly ?? true };
  const enter = (p = eptp, vpid?: number) => v.enterNestedEpt({ eptp: p, caps, l2: { ...LONG, cr3: l2pt.root }, ...(vpid === undefined ? {} : { vpid }) });
  const frameOf = (gpa: bigint) => BigInt(ram.pfnBase) + (gpa >> 12n);
  return { vm, ram, l1pt, ept, l2pt, v, eptp, enter, frameOf, caps };
}

