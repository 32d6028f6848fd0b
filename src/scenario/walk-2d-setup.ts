/**
 * The 2D-walk setup of note 06 in one call: L1's memory, L1's EPT12 mapping L2's table pool and
 * L2's data (4 KiB or 2 MiB leaves), L2's own page tables in one paging mode, and KVM's emulation
 * walk over both (`Walk2D`: `nested_mmu` walking L2's tables, every table nGPA and the final one
 * translated through EPT12 by `kvm_translate_gpa` → `ept_gva_to_gpa`).
 */
import { gpa } from '../address/address';
import { PageTableBuilder } from '../builder/page-table-builder';
import type { TableMode } from '../builder/table-mode';
import { PAGING_MODE_REGS } from '../cpu/paging-modes';
import { DEFAULT_FEATURES } from '../cpu/registers';
import { GuestMemory } from '../memory/guest-memory';
import { DEFAULT_EPT_CAPS } from '../nested/ept-capabilities';
import { makeEptp } from '../nested/eptp';
import { NgpaWalker } from '../nested/ngpa-walker';
import { Walk2D } from '../nested/walk-2d';
import { checkEnum } from '../validate/checks';

/** Where things live (L1 GPAs, L2 nGPAs and GVAs) in `walk2dSetup`'s L1 memory. */
export const WALK2D_LAYOUT = Object.freeze({
  /** EPT12's table pool (L1 GPA, 16 MiB). */
  nestedPool: 0x0100_0000n,
  /** L2's table pool: nGPA = GPA (1 MiB used). */
  l2Pool: 0x0200_0000n,
  /** L2's data as L2 sees it (nGPA) … */
  dataNgpa: 0x0300_0000n,
  /** … and where EPT12 puts it (L1 GPA). */
  dataGpa: 0x0500_0000n,
  /** The GVA L2's tables map to `dataNgpa` (16 pages, user, writable). */
  gva: 0x0040_0000n,
});

export interface Walk2DSetup {
  /** L1's EPT12 (its `root` is the EPTP's table). */
  ept: PageTableBuilder;
  /** L2's page tables; undefined with L2 paging off. */
  l2: PageTableBuilder | undefined;
  /** KVM's emulation walk of an L2 address. */
  walk: Walk2D;
}

/**
 * L2 in `l2Mode` ('off': paging disabled) on an `eptLevels`-level EPT12 (A/D on) whose leaves for
 * L2's tables and data are `leaf` sized; L1 and L2 have MAXPHYADDR 46.
 */
export function walk2dSetup(l2Mode: 'off' | 'paging32' | 'pae' | 'paging4' | 'paging5', eptLevels: 4 | 5, leaf: '4K' | '2M' = '4K'): Walk2DSetup {
  checkEnum('l2Mode', l2Mode, ['off', 'paging32', 'pae', 'paging4', 'paging5']);
  checkEnum('eptLevels', eptLevels, [4, 5]);
  checkEnum('leaf', leaf, ['4K', '2M']);
  const L = WALK2D_LAYOUT;
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 32n, name: 'L1 RAM' });
  const ept = new PageTableBuilder(mem, { mode: eptLevels === 5 ? 'ept5' : 'ept4', pool: { base: gpa(L.nestedPool), size: 0x100_0000n } });
  // L2's table pages at nGPA = GPA; L2's data at nGPA dataNgpa → GPA dataGpa.
  ept.map(L.l2Pool, L.l2Pool, leaf === '2M' ? { size: '2M' } : { count: 256 });
  ept.map(L.dataNgpa, L.dataGpa, leaf === '2M' ? { size: '2M' } : { count: 16 });
  const nested = NgpaWalker.ept(mem, { eptp: makeEptp({ root: ept.root, level: eptLevels, adEnabled: true }), caps: DEFAULT_EPT_CAPS });
  const l2 = l2Mode === 'off' ? undefined : new PageTableBuilder(mem, { mode: l2Mode satisfies TableMode, pool: { base: gpa(L.l2Pool), size: 0x10_0000n } });
  l2?.map(L.gva, L.dataNgpa, { count: 16, flags: { writable: true, user: true } });
  const walk = new Walk2D(nested, { regs: PAGING_MODE_REGS[l2Mode]({ cr3: l2?.root ?? 0n }), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46 } });
  return { ept, l2, walk };
}
