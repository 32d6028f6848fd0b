/** Shared set-ups for the nested tests: L1 memory, EPT12/NPT12 built with the table builder. */
import {
  GuestMemory, PageTableBuilder, NgpaWalker, Walk2D, makeEptp, gpa, CR0, CR4, EFER, DEFAULT_EPT_CAPS, DEFAULT_FEATURES,
  type EptCapabilities, type KvmVersion, type PagingRegisters, type TableMode, type Ngpa,
} from '../../src';

export const LM = EFER.LME | EFER.LMA;
/** L1 RAM [0, 4 GiB), ROM [4 GiB, +1 MiB). */
export const ROM_BASE = 0x1_0000_0000n;
/** Nested (EPT12/NPT12) table pool and L2 table pool (nGPA, identity-mapped by default). */
export const NESTED_POOL = 0x0100_0000n;
export const L2_POOL = 0x0200_0000n;

export function l1Mem(maxPhyAddr = 46): GuestMemory {
  const mem = new GuestMemory({ maxPhyAddr });
  mem.addSlot({ base: gpa(0n), size: 1n << 32n, name: 'ram' });
  mem.addSlot({ base: gpa(ROM_BASE), size: 0x10_0000n, readonly: true, name: 'rom' });
  return mem;
}

export interface EptSetupOptions {
  level?: 4 | 5;
  ad?: boolean;
  caps?: Partial<EptCapabilities>;
  mem?: GuestMemory;
  onWriteLogDirty?: (p: Ngpa) => void;
  /** The modelled KVM; unset = the engine's default (7.3). Tests of v6.16 behaviour pass '6.16'. */
  kvm?: KvmVersion;
}

export function eptSetup(o: EptSetupOptions = {}) {
  const mem = o.mem ?? l1Mem();
  const level = o.level ?? 4;
  const b = new PageTableBuilder(mem, { mode: level === 5 ? 'ept5' : 'ept4', pool: { base: gpa(NESTED_POOL), size: 0x100_0000n } });
  const caps = { ...DEFAULT_EPT_CAPS, ...o.caps };
  const cfg = {
    eptp: makeEptp({ root: b.root, level, adEnabled: o.ad ?? false }), caps,
    ...(o.onWriteLogDirty ? { onWriteLogDirty: o.onWriteLogDirty } : {}),
    ...(o.kvm ? { kvm: o.kvm } : {}),
  };
  const w = NgpaWalker.ept(mem, cfg);
  return { mem, b, w, tdp: 'ept' as const };
}

/** L1's registers for an NPT12 of a given level. */
export function l1RegsFor(level: 2 | 3 | 4 | 5, nx = true): PagingRegisters {
  const svme = EFER.SVME | (nx && level >= 3 ? EFER.NXE : 0n);
  switch (level) {
    case 2: return { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PSE, efer: svme };
    case 3: return { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE, efer: svme };
    case 4: return { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE, efer: LM | svme };
    default: return { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: CR4.PAE | CR4.LA57, efer: LM | svme };
  }
}

export const NPT_MODE: Record<2 | 3 | 4 | 5, TableMode> = { 2: 'paging32', 3: 'pae', 4: 'paging4', 5: 'paging5' };

export function nptSetup(o: { level?: 2 | 3 | 4 | 5; nx?: boolean; mem?: GuestMemory; kvm?: KvmVersion } = {}) {
  const mem = o.mem ?? l1Mem();
  const level = o.level ?? 4;
  const b = new PageTableBuilder(mem, { mode: NPT_MODE[level], pool: { base: gpa(NESTED_POOL), size: 0x100_0000n } });
  const w = NgpaWalker.npt(mem, {
    ncr3: b.root, l1: l1RegsFor(level, o.nx ?? true), features: { ...DEFAULT_FEATURES, maxPhyAddr: mem.maxPhyAddr, vendor: 'amd' },
    ...(o.kvm ? { kvm: o.kvm } : {}),
  });
  return { mem, b, w, tdp: 'npt' as const };
}

/** The words of some frames, to check that a refused operation changed nothing. */
export function snapshot(mem: GuestMemory, firstGpa: bigint, frames: number): bigint[] {
  const out: bigint[] = [];
  for (let f = 0; f < frames; f++) {
    for (let o = 0n; o < 4096n; o += 8n) out.push(mem.read64(gpa(firstGpa + BigInt(f) * 4096n + o)));
  }
  return out;
}

// ---- 2D set-ups ----

export type L2Mode = 'off' | 'paging32' | 'pae' | 'paging4' | 'paging5';
export type NestedKind = 'ept4' | 'ept5' | 'npt2' | 'npt3' | 'npt4' | 'npt5';
export const L2_MODES: readonly L2Mode[] = ['off', 'paging32', 'pae', 'paging4', 'paging5'];
export const NESTED_KINDS: readonly NestedKind[] = ['ept4', 'ept5', 'npt2', 'npt3', 'npt4', 'npt5'];
/** L2 data: GVA → nGPA DATA_N → GPA DATA_G (not identity, so that nGPA and GPA differ). */
export const GVA = 0x0040_0000n;
export const DATA_N = 0x0300_0000n;
export const DATA_G = 0x0500_0000n;

export function l2Regs(mode: L2Mode, cr3: bigint): PagingRegisters {
  const pg = CR0.PE | CR0.PG | CR0.WP;
  switch (mode) {
    case 'off': return { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n };
    case 'paging32': return { cr0: pg, cr3, cr4: CR4.PSE, efer: 0n };
    case 'pae': return { cr0: pg, cr3, cr4: CR4.PAE, efer: EFER.NXE };
    case 'paging4': return { cr0: pg, cr3, cr4: CR4.PAE, efer: LM | EFER.NXE };
    default: return { cr0: pg, cr3, cr4: CR4.PAE | CR4.LA57, efer: LM | EFER.NXE };
  }
}

/**
 * L2 on L1's nested tables: the L2 table pool is identity-mapped (nGPA = GPA) so that the builder
 * can write L2's tables straight into L1 memory; 16 data pages map GVA → DATA_N → DATA_G.
 */
export function twoDSetup(l2: L2Mode, nk: NestedKind, o: { ad?: boolean; kvm?: KvmVersion } = {}) {
  const mem = l1Mem();
  const level = Number(nk[3]);
  const s = nk.startsWith('ept') ? eptSetup({ mem, level: level as 4 | 5, ad: o.ad ?? false, ...(o.kvm ? { kvm: o.kvm } : {}) })
    : nptSetup({ mem, level: level as 2 | 3 | 4 | 5, ...(o.kvm ? { kvm: o.kvm } : {}) });
  const leafFlags = s.tdp === 'ept' ? {} : { user: true, writable: true };
  s.b.map(L2_POOL, L2_POOL, { count: 256, flags: leafFlags });
  s.b.map(DATA_N, DATA_G, { count: 16, flags: leafFlags });
  const features = { ...DEFAULT_FEATURES, maxPhyAddr: Math.min(46, s.w.addressBits) };
  let l2b: PageTableBuilder | undefined;
  let cr3 = 0n;
  if (l2 !== 'off') {
    l2b = new PageTableBuilder(mem, { mode: l2, pool: { base: gpa(L2_POOL), size: 0x10_0000n } });
    l2b.map(GVA, DATA_N, { count: 16, flags: { writable: true, user: true } });
    cr3 = l2b.root;
  }
  const w2 = new Walk2D(s.w, { regs: l2Regs(l2, cr3), features });
  return { ...s, l2b, w2, gva: l2 === 'off' ? DATA_N : GVA };
}

export { caught } from '../support/caught';

/** MBEC set-up: a supervisor (U=0) and a user (U=1) L2 page, both on nGPA DATA_N. */
export const MBEC_GVA_S = 0x40_0000n;
export const MBEC_GVA_U = 0x80_0000n;

/**
 * L2 on a KVM 7.3 EPT12 with MBEC whose DATA_N leaf has the rights `leaf` (R 1, W 2, XS 4, XU
 * 0x400); tables are R|W|X|XU (EPT_PRESENT under MBEC, kvm-unit-tests __setup_ept).
 */
export function mbecTwoDSetup(leaf: bigint) {
  const mem = l1Mem();
  const b = new PageTableBuilder(mem, { mode: 'ept4', pool: { base: gpa(NESTED_POOL), size: 0x100_0000n }, tableFlags: 0x407 });
  b.map(L2_POOL, L2_POOL, { count: 256, flags: { userExec: true } });
  b.map(DATA_N, DATA_G);
  b.setEntry(DATA_N, 1, (b.getEntry(DATA_N, 1).value & ~0x407n) | leaf);
  const w = NgpaWalker.ept(mem, { eptp: makeEptp({ root: b.root, level: 4, adEnabled: false }), caps: DEFAULT_EPT_CAPS, kvm: '7.3', mbec: true });
  const l2 = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(L2_POOL), size: 0x10_0000n } });
  l2.map(MBEC_GVA_S, DATA_N, { flags: { writable: true } });
  l2.map(MBEC_GVA_U, DATA_N, { flags: { writable: true, user: true } });
  return { w, w2: new Walk2D(w, { regs: l2Regs('paging4', l2.root), features: { ...DEFAULT_FEATURES, maxPhyAddr: 46 } }) };
}
