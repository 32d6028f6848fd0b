/** Shadow-paging VMs (no TDP) for every guest paging mode, with a direct map of the guest's own page tables. */
import { Vm, PageTableBuilder, CR0, CR4, EFER, type Vcpu, type Memslot, type TableMode, type PagingRegisters, type KvmVersion, type ShadowPage, type VmOptions } from '../../src';

export type GuestMode = 'paging32' | 'pae' | 'paging4' | 'paging5';

export interface ShadowFixture {
  vm: Vm;
  ram: Memslot;
  pt: PageTableBuilder;
  v: Vcpu;
  mode: GuestMode;
  regs: PagingRegisters;
  /** Where the guest sees its table pool (a direct map), so it can store to its own page tables. */
  dm: (gpa: bigint) => bigint;
  entryBytes: 4 | 8;
  /** Guest store into the entry at `level` on the path of `va` (through the vCPU: hardware or emulation). */
  storePte: (va: bigint, level: number, value: bigint) => ReturnType<Vcpu['store']>;
}

export const POOL = { base: 0x10_0000n, size: 0x10_0000n };
/** The direct map covers this much from POOL.base (room for other address spaces' pools). */
export const DM_SIZE = 0x30_0000n;

export function regsFor(mode: GuestMode, extra: { cr0?: bigint; cr4?: bigint; efer?: bigint } = {}): PagingRegisters {
  const cr0 = extra.cr0 ?? CR0.PE | CR0.PG | CR0.WP;
  const base: Record<GuestMode, PagingRegisters> = {
    paging32: { cr0, cr3: 0n, cr4: CR4.PSE, efer: 0n },
    pae: { cr0, cr3: 0n, cr4: CR4.PAE, efer: EFER.NXE },
    paging4: { cr0, cr3: 0n, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA | EFER.NXE },
    paging5: { cr0, cr3: 0n, cr4: CR4.PAE | CR4.LA57, efer: EFER.LME | EFER.LMA | EFER.NXE },
  };
  const r = base[mode];
  return { ...r, cr4: r.cr4 | (extra.cr4 ?? 0n), efer: extra.efer ?? r.efer };
}

export function shadowFixture(mode: GuestMode = 'paging4', o: { hostPageSize?: '4K' | '2M'; maxMmuPages?: number; checking?: boolean; extraRegs?: Parameters<typeof regsFor>[1]; kvm?: KvmVersion; tlb?: VmOptions['tlb'] } = {}): ShadowFixture {
  const vmOpts: ConstructorParameters<typeof Vm>[0] = { mmu: 'shadow', checkInvariants: o.checking ?? true, spte: { flavour: 'npt', tdpLevel: mode === 'paging5' ? 5 : 4 } };
  if (o.kvm !== undefined) vmOpts.kvm = o.kvm;
  if (o.maxMmuPages !== undefined) vmOpts.maxMmuPages = o.maxMmuPages;
  if (o.tlb !== undefined) vmOpts.tlb = o.tlb;
  const vm = new Vm(vmOpts);
  const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: o.hostPageSize ?? '2M' });
  const pt = new PageTableBuilder(vm.guestMem, { mode: mode as TableMode, pool: POOL });
  const dmBase = mode === 'paging32' || mode === 'pae' ? 0xc000_0000n : mode === 'paging5' ? 0xff11_0000_0000_0000n : 0xffff_8880_0000_0000n;
  const dm = (g: bigint) => dmBase + g;
  const entryBytes = mode === 'paging32' ? 4 : 8;
  mapDirect(pt, dm);
  // PAE: the PDPTEs are registers loaded by MOV CR3; give every quarter a page directory now.
  if (mode === 'pae') for (let q = 0n; q < 4n; q++) if (q !== 3n) pt.setEntry(q << 30n, 2, 0n);
  const regs = { ...regsFor(mode, o.extraRegs), cr3: pt.root };
  const v = vm.createVcpu(regs);
  const storePte = (va: bigint, level: number, value: bigint) => {
    const e = pt.getEntry(va, level);
    return v.store(dm(e.gpa as bigint), value, entryBytes);
  };
  return { vm, ram, pt, v, mode, regs, dm, entryBytes, storePte };
}

/** The kernel's direct map of the page-table pools, with 4K pages (writable, supervisor, A/D set). */
export function mapDirect(pt: PageTableBuilder, dm: (g: bigint) => bigint): void {
  pt.map(dm(POOL.base), POOL.base, { count: Number(DM_SIZE >> 12n), flags: { writable: true, accessed: true, dirty: true } });
}

/** The frame the memslot says backs a GPA (independent of the MMU). */
export function hostFrameOf(f: ShadowFixture, gpa: bigint): bigint {
  return BigInt(f.ram.pfnBase) + (gpa >> 12n) - BigInt(f.ram.baseGfn);
}

/** The level-`level` shadow page of the guest table on the path of `va`. */
export function tableOf(f: ShadowFixture, va: bigint, level: number): ShadowPage {
  return f.vm.shadow.find(Number(BigInt(f.pt.getEntry(va, level).gpa) >> 12n), (sp) => sp.level === level)[0]!;
}

/**
 * A 4-level guest with n page tables, one per 2 MiB from `va`, each shadowed (a read) and then
 * unsynced (a guest store to one of its PTEs: a write fault on the shadowed gfn).
 */
export function unsyncPts(n: number, va: bigint, gpa: bigint): ShadowFixture {
  const f = shadowFixture('paging4', { hostPageSize: '4K' });
  const at = (i: bigint) => va + i * 0x20_0000n;
  for (let i = 0n; i < BigInt(n); i++) f.pt.map(at(i), gpa + i * 0x1000n, { flags: { writable: true, accessed: true, dirty: true } });
  for (let i = 0n; i < BigInt(n); i++) if (f.v.read(at(i)).status !== 'ok') throw new Error('setup: read did not complete');
  for (let i = 0n; i < BigInt(n); i++) {
    if (f.storePte(at(i), 1, f.pt.getEntry(at(i), 1).value).status !== 'ok') throw new Error('setup: PTE store did not complete');
  }
  return f;
}

// The refusal assertions live in ./refusal (one copy for every shadow test).
export { err as thrownBy, refuses } from './refusal';
