/** Architectural bits of the registers that shape paging (SDM Vol. 3A §2.5, §4.1). */
export const CR0 = Object.freeze({
  PE: 1n << 0n,
  MP: 1n << 1n,
  EM: 1n << 2n,
  TS: 1n << 3n,
  ET: 1n << 4n,
  NE: 1n << 5n,
  WP: 1n << 16n,
  AM: 1n << 18n,
  NW: 1n << 29n,
  CD: 1n << 30n,
  PG: 1n << 31n,
});

export const CR4 = Object.freeze({
  VME: 1n << 0n,
  PVI: 1n << 1n,
  TSD: 1n << 2n,
  DE: 1n << 3n,
  PSE: 1n << 4n,
  PAE: 1n << 5n,
  MCE: 1n << 6n,
  PGE: 1n << 7n,
  PCE: 1n << 8n,
  OSFXSR: 1n << 9n,
  OSXMMEXCPT: 1n << 10n,
  UMIP: 1n << 11n,
  LA57: 1n << 12n,
  VMXE: 1n << 13n,
  SMXE: 1n << 14n,
  FSGSBASE: 1n << 16n,
  PCIDE: 1n << 17n,
  OSXSAVE: 1n << 18n,
  SMEP: 1n << 20n,
  SMAP: 1n << 21n,
  PKE: 1n << 22n,
  CET: 1n << 23n,
  PKS: 1n << 24n,
});

/**
 * CR0 bits whose change makes a PAE-mode MOV CR0 reload the PDPTEs (`kvm_cache_regs.h:
 * X86_CR0_PDPTR_BITS`, used by `x86.c: kvm_set_cr0`).
 */
export const CR0_PDPTR_BITS = CR0.CD | CR0.NW | CR0.PG;

/** CR4 bits whose change makes a PAE-mode MOV CR4 reload the PDPTEs (`X86_CR4_PDPTR_BITS`, `kvm_set_cr4`). */
export const CR4_PDPTR_BITS = CR4.PGE | CR4.PSE | CR4.PAE | CR4.SMEP;

/** CR3[11:0]: the PCID when CR4.PCIDE=1 (`X86_CR3_PCID_MASK`). */
export const CR3_PCID_MASK = 0xfffn;

export const EFER = Object.freeze({
  SCE: 1n << 0n,
  LME: 1n << 8n,
  LMA: 1n << 10n,
  NXE: 1n << 11n,
  SVME: 1n << 12n,
});

/** EFLAGS.AC: overrides SMAP for explicit supervisor accesses. */
export const EFLAGS_AC = 1n << 18n;

/** The registers a guest walk depends on. Values are bigint, as a user would type them. */
export interface PagingRegisters {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  /** PKRU (32 bits): AD = bit 2k, WD = bit 2k+1 for key k. Default 0. */
  pkru?: number;
  /** In System Management Mode (role.smm). Default false. */
  smm?: boolean;
  /** Running L2 (role.guest_mode). Default false. */
  guestMode?: boolean;
}

/** What guest CPUID advertises: it feeds reserved-bit masks and which CR4/EFER bits are legal. */
export interface CpuFeatures {
  /** CPUID 0x80000008 EAX[7:0], 32..52. */
  maxPhyAddr: number;
  /** EFER.NXE may be set (CPUID 0x80000001 EDX[20]). */
  nx: boolean;
  /** 1 GiB pages (CPUID 0x80000001 EDX[26]); without it bit 7 of a PDPTE is reserved. */
  gbpages: boolean;
  la57: boolean;
  smep: boolean;
  smap: boolean;
  pku: boolean;
  /** AMD-compatible CPUs reserve bit 8 of non-leaf PML4Es/PML5Es (`guest_cpuid_is_amd_compatible`). */
  vendor: 'intel' | 'amd';
}

/** A modern Intel guest: MAXPHYADDR 46 and every paging feature. */
export const DEFAULT_FEATURES: Readonly<CpuFeatures> = Object.freeze({
  maxPhyAddr: 46,
  nx: true,
  gbpages: true,
  la57: true,
  smep: true,
  smap: true,
  pku: true,
  vendor: 'intel',
});
