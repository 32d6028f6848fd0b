/**
 * Note 12's nested-MBEC setup in one call: an EPT VM whose L1 runs L2 on an EPT12 (A/D off,
 * execute-only allowed) with one data page, mapped by L2 at a supervisor and at a user GVA, whose
 * EPT12 leaf permissions are the caller's. With `mbec`, L1 enables MBEC in the vmcs12
 * (kvm-7x.md §1.2: the EPT12 leaf's XS and XU are then checked per address kind).
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { longMode } from '../cpu/paging-modes';
import type { KvmVersion } from '../kvm-version';
import { DEFAULT_EPT_CAPS } from '../nested/ept-capabilities';
import { makeEptp } from '../nested/eptp';
import type { Vcpu } from '../vm/vcpu';
import { Vm } from '../vm/vm';
import { checkBigint, checkBool, checkEnum } from '../validate/checks';

/** L2's two GVAs of the data page (supervisor, user) and the page's nGPA. */
export const NESTED_MBEC_LAYOUT = Object.freeze({ gvaSupervisor: 0x40_0000n, gvaUser: 0x80_0000n, dataNgpa: 0x300_0000n });

export interface NestedMbec {
  vm: Vm;
  /** The vCPU, running L2. */
  cpu: Vcpu;
  /** L1's EPT12. */
  ept12: PageTableBuilder;
}

/** `leaf`: the R/W/XS/XU bits of the EPT12 leaf mapping the data page (bits 0-2 and 10). */
export function nestedMbecScenario(kvm: KvmVersion, mbec: boolean, leaf: bigint): NestedMbec {
  checkEnum('kvm', kvm, ['7.3', '6.16']);
  checkBool('mbec', mbec);
  checkBigint('leaf', leaf);
  const { gvaSupervisor, gvaUser, dataNgpa } = NESTED_MBEC_LAYOUT;
  const vm = new Vm({ kvm, spte: { flavour: 'ept' }, checkInvariants: true });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
  const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
  // EPT12's non-leaf entries allow everything (RWX + XU): only the leaf decides.
  const ept12 = new PageTableBuilder(vm.guestMem, { mode: 'ept4', pool: { base: 0x20_0000n, size: 0x10_0000n }, tableFlags: 0x407 });
  const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
  ept12.map(0x100_0000n, 0x100_0000n, { count: 16, flags: { userExec: true } });
  l2pt.map(gvaSupervisor, dataNgpa, { flags: { writable: true } });
  l2pt.map(gvaUser, dataNgpa, { flags: { writable: true, user: true } });
  ept12.map(dataNgpa, 0x500_0000n);
  ept12.setEntry(dataNgpa, 1, (ept12.getEntry(dataNgpa, 1).value & ~0x407n) | leaf);
  const cpu = vm.createVcpu(longMode({ cr3: l1pt.root }));
  cpu.enterNestedEpt({ eptp: makeEptp({ root: ept12.root, level: 4, adEnabled: false }), caps: { ...DEFAULT_EPT_CAPS, executeOnly: true }, l2: longMode({ cr3: l2pt.root }), ...(mbec ? { mbec } : {}) });
  return { vm, cpu, ept12 };
}
