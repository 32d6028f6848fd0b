/**
 * An independent reference model of x86 (non-EPT) paging, written from the Intel SDM Vol. 3A
 * rules (chapter 4) in plain if/else logic, for checking the engine's guest page walk.
 *
 *   §4.5   paging-structure formats and reserved bits (4-level / 5-level paging)
 *   §4.4   PAE paging (PDPTE registers, reserved bits 62:M in PDEs and PTEs)
 *   §4.3   32-bit paging (4 MiB pages with CR4.PSE, PSE-36)
 *   §4.6   access rights (U/S, R/W, XD across all levels; CR0.WP, SMEP, SMAP, EFLAGS.AC)
 *   §4.6.2 protection keys (PKRU.AD/WD, user-mode addresses, data accesses only)
 *   §4.7   page-fault error code
 *   §4.8   accessed and dirty flags
 *
 * This file deliberately does NOT use KVM's permission/PKRU bitmask tables (mmu.c
 * update_permission_bitmask / update_pkru_bitmask) nor anything from src/: it walks the tables
 * itself (through a caller-supplied physical-memory reader) and decides each access with the
 * SDM's sentences turned into if/else. Where the engine is meant to follow KVM rather than the
 * hardware, the model has an explicit option and a comment saying so:
 *
 *   - `idRule`: SDM sets I/D only for fetches with SMEP=1 or (PAE=1 and NXE=1); KVM's walker uses
 *     `efer_nx || cr4_smep`, which differs for 32-bit paging with EFER.NXE=1.
 *   - `pse36`: KVM assumes PSE-36 and always reserves bits 21:17 of a 4 MiB PDE; the SDM reserves
 *     bits 21:(M'-19) with M' = min(MAXPHYADDR, 40).
 *   - A table read from a GPA with no memory (no memslot): hardware would read whatever the bus
 *     returns; KVM's walker fails with a not-present style error code (P=0). The model follows KVM.
 *   - A/D on a faulting walk: not architecturally pinned down; KVM sets nothing. Model: nothing.
 *   - PK on a reserved-bit or not-present fault: the walk never reaches a leaf, so there is no
 *     protection key; the model reports PK only for faults decided on a complete translation
 *     (which is what KVM does too).
 */

export type PagingMode = 'paging32' | 'pae' | 'paging4' | 'paging5';
export type AccessKind = 'read' | 'write' | 'fetch';

/** #PF error-code bits (SDM §4.7). */
export const PF_P = 1;
export const PF_W = 2;
export const PF_U = 4;
export const PF_RSVD = 8;
export const PF_ID = 16;
export const PF_PK = 32;

/** Entry bits (SDM Tables 4-4..4-20), as bigints so they work for 4- and 8-byte entries. */
export const E_P = 1n << 0n;
export const E_RW = 1n << 1n;
export const E_US = 1n << 2n;
export const E_PWT = 1n << 3n;
export const E_PCD = 1n << 4n;
export const E_A = 1n << 5n;
export const E_D = 1n << 6n;
export const E_PS = 1n << 7n;
export const E_G = 1n << 8n;
export const E_XD = 1n << 63n;

export interface ModelCpu {
  mode: PagingMode;
  /** Guest MAXPHYADDR (CPUID 8000_0008h:EAX[7:0]). */
  maxPhyAddr: number;
  /** CPUID 8000_0001h:EDX[26] (1-GByte pages). */
  gbpages: boolean;
  /** 'amd' only matters for KVM's AMD-specific reserved bit 8 in non-leaf PML4E/PML5E. */
  vendor?: 'intel' | 'amd';
  cr0WP: boolean;
  cr4PSE: boolean;
  cr4SMEP: boolean;
  cr4SMAP: boolean;
  cr4PKE: boolean;
  eferNXE: boolean;
  /** PKRU register (32 bits). */
  pkru: number;
}

export interface ModelAccess {
  kind: AccessKind;
  /** CPL = 3. */
  user: boolean;
  /** Implicit supervisor access (GDT/LDT/IDT/TSS...): supervisor-mode whatever the CPL. */
  implicit?: boolean;
  /** EFLAGS.AC. */
  ac?: boolean;
}

export interface ModelOptions {
  /** I/D bit rule. 'sdm' (default): fetch && (SMEP || (PAE && NXE)). 'kvm': fetch && (SMEP || NXE). */
  idRule?: 'sdm' | 'kvm';
  /** 4 MiB PDE reserved bits. 'kvm' (default): bits 21:17. 'sdm': bits 21:(min(M,40)-19). */
  pse36?: 'kvm' | 'sdm';
}

/** Reads `size` bytes (little endian) at a guest-physical address; undefined = no memory there. */
export type PhysReader = (gpa: bigint, size: 4 | 8) => bigint | undefined;

export interface ModelStep {
  level: number;
  /** GPA of the entry. */
  gpa: bigint;
  /** Value read. */
  value: bigint;
  /** Value after the walk (A/D set on success). Equal to `value` on a fault. */
  final: bigint;
  /** True for a PAE PDPTE (comes from a PDPTE register; has no A bit). */
  pdpte?: boolean;
}

export type ModelReason =
  | 'ok'
  | 'not-present'
  | 'reserved'
  | 'no-memory'
  | 'protection'
  | 'pdpte-invalid';

export interface ModelResult {
  /** 'gp': PAE only, a present PDPTE has reserved bits: MOV to CR3 would #GP (no #PF walk). */
  status: 'ok' | 'fault' | 'gp';
  reason: ModelReason;
  /** 0 when ok. */
  errorCode: number;
  /** Leaf level on success or on a protection fault; level of the offending entry otherwise. */
  level: number;
  /** Translated GPA (ok only). */
  gpa?: bigint;
  /** Protection key of the leaf (4/5-level paging only, else 0). */
  pkey: number;
  /** PK fault component explained (protection faults only). */
  pkFault: boolean;
  steps: ModelStep[];
}

// ---------------------------------------------------------------------------------------------
// small bit helpers (local, so nothing is shared with the engine)

/** Mask of bits lo..hi inclusive; 0 when hi < lo. */
export function bitsRange(lo: number, hi: number): bigint {
  if (hi < lo) return 0n;
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

function has(v: bigint, mask: bigint): boolean {
  return (v & mask) !== 0n;
}

export function rootLevel(mode: PagingMode): number {
  if (mode === 'paging32') return 2;
  if (mode === 'pae') return 3;
  if (mode === 'paging4') return 4;
  return 5;
}

export function entrySize(mode: PagingMode): 4 | 8 {
  return mode === 'paging32' ? 4 : 8;
}

/** Index of the entry at `level` for linear address `va`. */
export function entryIndex(mode: PagingMode, va: bigint, level: number): number {
  if (mode === 'paging32') {
    // PDE: bits 31:22, PTE: bits 21:12.
    if (level === 2) return Number((va >> 22n) & 0x3ffn);
    return Number((va >> 12n) & 0x3ffn);
  }
  if (mode === 'pae' && level === 3) {
    // PDPTE: bits 31:30.
    return Number((va >> 30n) & 3n);
  }
  const shift = 12 + 9 * (level - 1);
  return Number((va >> BigInt(shift)) & 0x1ffn);
}

/**
 * Is the entry at `level` a leaf (maps a page) — assuming it is present and has no reserved
 * bit set? SDM: a PTE always maps a page; PS (bit 7) in a PDE maps a 2 MiB page (4 MiB for
 * 32-bit paging, only with CR4.PSE=1, otherwise bit 7 is ignored); PS in a 4/5-level PDPTE maps a
 * 1 GiB page (bit 7 is reserved without 1-GByte page support, so that case never gets here).
 */
export function isLeaf(cpu: ModelCpu, level: number, value: bigint): boolean {
  if (level === 1) return true;
  if (cpu.mode === 'paging32') {
    return level === 2 && cpu.cr4PSE && has(value, E_PS);
  }
  if (cpu.mode === 'pae') {
    return level === 2 && has(value, E_PS);
  }
  if (level === 2) return has(value, E_PS);
  if (level === 3) return cpu.gbpages && has(value, E_PS);
  return false; // PML4E / PML5E: bit 7 reserved
}

/**
 * Reserved bits of a present entry at `level` (SDM §4.3, §4.4.2, §4.5 tables), given the entry's
 * own bit 7 (which selects between the "maps a page" and "references a table" formats).
 */
export function reservedMask(cpu: ModelCpu, level: number, value: bigint, opts: ModelOptions = {}): bigint {
  const M = cpu.maxPhyAddr;
  const ps = has(value, E_PS);

  if (cpu.mode === 'paging32') {
    // 32-bit paging (Tables 4-4..4-6): 4-byte entries; no XD; a PDE with CR4.PSE=0 ignores PS.
    if (level === 2 && cpu.cr4PSE && ps) {
      // 4 MiB PDE: bits (M'-20):13 hold PA[(M'-1):32], bits 21:(M'-19) are reserved, with
      // M' = min(MAXPHYADDR, 40) (and M' = 32 when MAXPHYADDR is not above 32).
      if ((opts.pse36 ?? 'kvm') === 'kvm') {
        // KVM ASSUMPTION: KVM treats every guest as having 36-bit PSE (is_cpuid_PSE36() returns
        // 1) and always reserves bits 21:17, independent of the guest's MAXPHYADDR.
        return bitsRange(17, 21);
      }
      const mPrime = Math.max(32, Math.min(M, 40));
      return bitsRange(mPrime - 19, 21);
    }
    return 0n; // 4 KiB PDE and PTE: no reserved bits
  }

  if (cpu.mode === 'pae') {
    if (level === 3) {
      // PDPTE (Table 4-8): bits 2:1, 8:5 and 63:M reserved (no XD in a PDPTE).
      return bitsRange(1, 2) | bitsRange(5, 8) | bitsRange(M, 63);
    }
    // PAE PDE/PTE (Tables 4-9..4-11): bits 62:M reserved; bit 63 is XD if NXE else reserved.
    let m = bitsRange(M, 62);
    if (!cpu.eferNXE) m |= E_XD;
    if (level === 2 && ps) m |= bitsRange(13, 20); // 2 MiB page: bits 20:13 reserved
    return m;
  }

  // 4-level and 5-level paging (Tables 4-14..4-20): bits 51:M reserved everywhere; bit 63 is
  // reserved when IA32_EFER.NXE = 0; bits 62:52 are ignored (62:59 = protection key in leaves).
  let m = bitsRange(M, 51);
  if (!cpu.eferNXE) m |= E_XD;
  if (level === 5 || level === 4) {
    // PML5E / PML4E: bit 7 (PS) must be 0.
    m |= E_PS;
    // KVM ASSUMPTION (vendor 'amd' only): KVM also reserves bit 8 of non-leaf PML4Es/PML5Es
    // (`nonleaf_bit8_rsvd`; AMD APM: bits 8:7 MBZ in a PML4E). Not in PDPTEs: KVM once reserved
    // it there too and dropped that ("AMD only reserves bit 8 in PML4Es, not PDPEs").
    if (cpu.vendor === 'amd') m |= E_G;
    return m;
  }
  if (level === 3) {
    if (ps) {
      if (!cpu.gbpages) return m | E_PS; // 1-GByte pages not supported: bit 7 reserved
      return m | bitsRange(13, 29); // 1 GiB page: bits 29:13 reserved (bit 12 is PAT)
    }
    return m;
  }
  if (level === 2) {
    if (ps) return m | bitsRange(13, 20); // 2 MiB page: bits 20:13 reserved (bit 12 is PAT)
    return m;
  }
  return m; // PTE (bit 7 is PAT)
}

/** Physical address of the next table referenced by a present non-leaf entry. */
function tableAddress(cpu: ModelCpu, value: bigint): bigint {
  if (cpu.mode === 'paging32') return value & 0xfffff000n;
  return value & bitsRange(12, 51);
}

/** Translated address for a leaf at `level`. */
function leafAddress(cpu: ModelCpu, level: number, value: bigint, va: bigint): bigint {
  if (cpu.mode === 'paging32') {
    if (level === 1) return (value & 0xfffff000n) | (va & 0xfffn);
    // 4 MiB page: PA[31:22] from bits 31:22, PA[39:32] from bits 20:13 (PSE-36).
    const high = ((value >> 13n) & 0xffn) << 32n;
    return (value & 0xffc00000n) | high | (va & 0x3fffffn);
  }
  const pageShift = 12 + 9 * (level - 1);
  const frameMask = bitsRange(pageShift, 51);
  const offsetMask = (1n << BigInt(pageShift)) - 1n;
  return (value & frameMask) | (va & offsetMask);
}

/** SDM §4.7 I/D rule (or KVM's variant). */
function idBit(cpu: ModelCpu, access: ModelAccess, opts: ModelOptions): number {
  if (access.kind !== 'fetch') return 0;
  if (cpu.cr4SMEP) return PF_ID;
  const paeOn = cpu.mode !== 'paging32';
  if ((opts.idRule ?? 'sdm') === 'kvm') {
    // KVM walker: `if (fetch && (efer_nx || cr4_smep)) errcode |= PFERR_FETCH_MASK`.
    return cpu.eferNXE ? PF_ID : 0;
  }
  return paeOn && cpu.eferNXE ? PF_ID : 0;
}

/** Is the access a user-mode access (SDM §4.6: CPL=3 and not an implicit supervisor access)? */
export function isUserModeAccess(access: ModelAccess): boolean {
  return access.user && !access.implicit;
}

/** The W/U/I-D part of the error code, common to every kind of fault. */
function accessBits(cpu: ModelCpu, access: ModelAccess, opts: ModelOptions): number {
  let e = 0;
  if (access.kind === 'write') e |= PF_W;
  if (isUserModeAccess(access)) e |= PF_U;
  e |= idBit(cpu, access, opts);
  return e;
}

export interface RightsDecision {
  allowed: boolean;
  /** Protection-key violation (SDM §4.6.2), reported in the PK bit of the error code. */
  pk: boolean;
}

/**
 * SDM §4.6.1 / §4.6.2 for a complete translation, in plain logic.
 *  userAddr: U/S=1 in every paging-structure entry controlling the translation.
 *  writable: R/W=1 in every such entry.
 *  executable: XD=0 in every such entry (only meaningful when NXE=1).
 */
export function decideAccess(
  cpu: ModelCpu,
  access: ModelAccess,
  userAddr: boolean,
  writable: boolean,
  executable: boolean,
  pkey: number,
): RightsDecision {
  const nxOn = cpu.eferNXE && cpu.mode !== 'paging32'; // 32-bit paging has no XD bit
  const execOk = !nxOn || executable;
  const userMode = isUserModeAccess(access);
  const explicitWithAC = !access.implicit && access.ac === true;
  let allowed: boolean;

  if (!userMode) {
    // ---- supervisor-mode access ----
    if (access.kind === 'read') {
      if (!userAddr) {
        allowed = true; // data may be read from any supervisor-mode address
      } else if (!cpu.cr4SMAP) {
        allowed = true; // SMAP off: user-mode addresses readable too
      } else if (explicitWithAC) {
        allowed = true; // SMAP on, explicit access with EFLAGS.AC=1
      } else {
        allowed = false; // SMAP on, AC=0 or implicit access
      }
    } else if (access.kind === 'write') {
      if (!userAddr) {
        if (!cpu.cr0WP) allowed = true;
        else allowed = writable;
      } else {
        let smapOk: boolean;
        if (!cpu.cr4SMAP) smapOk = true;
        else if (explicitWithAC) smapOk = true;
        else smapOk = false;
        if (!smapOk) allowed = false;
        else if (!cpu.cr0WP) allowed = true;
        else allowed = writable;
      }
    } else {
      // instruction fetch
      if (!userAddr) {
        allowed = execOk;
      } else if (cpu.cr4SMEP) {
        allowed = false; // SMEP: never fetch from user-mode addresses in supervisor mode
      } else {
        allowed = execOk;
      }
    }
  } else {
    // ---- user-mode access ----
    if (!userAddr) {
      allowed = false; // user-mode accesses may only touch user-mode addresses
    } else if (access.kind === 'read') {
      allowed = true;
    } else if (access.kind === 'write') {
      allowed = writable; // CR0.WP does not matter for user-mode writes
    } else {
      allowed = execOk;
    }
  }

  // ---- protection keys (SDM §4.6.2): 4/5-level paging with CR4.PKE=1, user-mode addresses,
  // data accesses only (fetches are not affected). Supervisor-mode addresses use PKS, which the
  // model (like mainline KVM) does not emulate.
  let pk = false;
  const longMode = cpu.mode === 'paging4' || cpu.mode === 'paging5';
  if (longMode && cpu.cr4PKE && userAddr && access.kind !== 'fetch') {
    const ad = ((cpu.pkru >>> (2 * pkey)) & 1) === 1;
    const wd = ((cpu.pkru >>> (2 * pkey + 1)) & 1) === 1;
    if (ad) {
      pk = true; // access-disable: no data reads or writes
    } else if (access.kind === 'write' && wd) {
      if (userMode) pk = true; // user-mode write with WD=1
      else if (cpu.cr0WP) pk = true; // supervisor write with WD=1 only when CR0.WP=1
    }
  }
  if (pk) allowed = false;
  return { allowed, pk };
}

/**
 * Walk the paging structures for `va` from CR3, reading memory with `read`, and decide the
 * access. Pure: does not write memory; the resulting entry values are in `steps[i].final`.
 */
export function modelWalk(
  cpu: ModelCpu,
  cr3: bigint,
  va: bigint,
  access: ModelAccess,
  read: PhysReader,
  opts: ModelOptions = {},
): ModelResult {
  const mode = cpu.mode;
  const size = entrySize(mode);
  const steps: ModelStep[] = [];
  const accBits = accessBits(cpu, access, opts);

  const fault = (reason: ModelReason, level: number, errorCode: number): ModelResult => {
    for (const s of steps) s.final = s.value;
    return { status: 'fault', reason, errorCode, level, pkey: 0, pkFault: false, steps };
  };

  let level = rootLevel(mode);
  let table: bigint;

  if (mode === 'pae') {
    // PAE: MOV to CR3 loads the four PDPTEs from the 32-byte aligned table at CR3[31:5]; a
    // present PDPTE with a reserved bit makes that load #GP. The walk then uses the register.
    const base = cr3 & 0xffffffe0n;
    for (let i = 0; i < 4; i++) {
      const p = read(base + BigInt(8 * i), 8);
      if (p === undefined) continue; // KVM: an unreadable PDPT fails the load; not exercised here
      if (has(p, E_P) && has(p, reservedMask(cpu, 3, p, opts))) {
        return {
          status: 'gp',
          reason: 'pdpte-invalid',
          errorCode: 0,
          level: 3,
          pkey: 0,
          pkFault: false,
          steps,
        };
      }
    }
    const idx = entryIndex(mode, va, 3);
    const pGpa = base + BigInt(8 * idx);
    const pdpte = read(pGpa, 8);
    if (pdpte === undefined) return fault('no-memory', 3, accBits);
    steps.push({ level: 3, gpa: pGpa, value: pdpte, final: pdpte, pdpte: true });
    if (!has(pdpte, E_P)) return fault('not-present', 3, accBits);
    table = tableAddress(cpu, pdpte);
    level = 2;
  } else if (mode === 'paging32') {
    table = cr3 & 0xfffff000n;
  } else {
    table = cr3 & bitsRange(12, 51);
  }

  // Rights accumulated over the entries that control the translation (not the PAE PDPTE).
  let userAddr = true;
  let writable = true;
  let executable = true;
  let leafValue = 0n;

  for (;;) {
    const eGpa = table + BigInt(size * entryIndex(mode, va, level));
    const v = read(eGpa, size);
    if (v === undefined) return fault('no-memory', level, accBits);
    steps.push({ level, gpa: eGpa, value: v, final: v });

    // Not present: P=0 in the error code, nothing else of the entry is looked at.
    if (!has(v, E_P)) return fault('not-present', level, accBits);
    // Reserved bit: P=1 and RSVD=1.
    if (has(v, reservedMask(cpu, level, v, opts))) return fault('reserved', level, PF_P | PF_RSVD | accBits);

    if (!has(v, E_US)) userAddr = false;
    if (!has(v, E_RW)) writable = false;
    if (mode !== 'paging32' && has(v, E_XD)) executable = false;

    if (isLeaf(cpu, level, v)) {
      leafValue = v;
      break;
    }
    table = tableAddress(cpu, v);
    level -= 1;
  }

  const longMode = mode === 'paging4' || mode === 'paging5';
  const pkey = longMode ? Number((leafValue >> 59n) & 0xfn) : 0;
  const d = decideAccess(cpu, access, userAddr, writable, executable, pkey);
  if (!d.allowed) {
    const r = fault('protection', level, PF_P | accBits | (d.pk ? PF_PK : 0));
    r.pkey = pkey;
    r.pkFault = d.pk;
    return r;
  }

  // Success: §4.8 — A in every paging-structure entry used (a PAE PDPTE has no A bit), D in the
  // leaf for a write.
  for (const s of steps) {
    let f = s.value;
    if (!s.pdpte) f |= E_A;
    if (s.level === level && !s.pdpte && access.kind === 'write') f |= E_D;
    s.final = f;
  }
  return {
    status: 'ok',
    reason: 'ok',
    errorCode: 0,
    level,
    gpa: leafAddress(cpu, level, leafValue, va),
    pkey,
    pkFault: false,
    steps,
  };
}

// ---------------------------------------------------------------------------------------------
// helpers for tests

export interface EntryFlags {
  p?: boolean;
  rw?: boolean;
  us?: boolean;
  pwt?: boolean;
  pcd?: boolean;
  a?: boolean;
  d?: boolean;
  ps?: boolean;
  g?: boolean;
  nx?: boolean;
  pkey?: number;
}

/** Build an entry value from an address and flags. */
export function makeEntry(addr: bigint, f: EntryFlags): bigint {
  let v = addr;
  if (f.p) v |= E_P;
  if (f.rw) v |= E_RW;
  if (f.us) v |= E_US;
  if (f.pwt) v |= E_PWT;
  if (f.pcd) v |= E_PCD;
  if (f.a) v |= E_A;
  if (f.d) v |= E_D;
  if (f.ps) v |= E_PS;
  if (f.g) v |= E_G;
  if (f.nx) v |= E_XD;
  if (f.pkey) v |= BigInt(f.pkey & 0xf) << 59n;
  return v;
}

/** Describe an error code as text, e.g. "P|W|U". */
export function describeErrorCode(e: number): string {
  const parts: string[] = [];
  if (e & PF_P) parts.push('P');
  if (e & PF_W) parts.push('W');
  if (e & PF_U) parts.push('U');
  if (e & PF_RSVD) parts.push('RSVD');
  if (e & PF_ID) parts.push('I/D');
  if (e & PF_PK) parts.push('PK');
  return parts.length ? parts.join('|') : '0';
}

/** A PhysReader over a plain Map of 4 KiB pages (for the model's own tests). */
export class SparsePhys {
  private readonly bytes = new Map<bigint, Uint8Array>();

  constructor(private readonly present: (gpa: bigint) => boolean = () => true) {}

  private page(gpa: bigint, create: boolean): Uint8Array | undefined {
    const k = gpa >> 12n;
    let p = this.bytes.get(k);
    if (!p && create) {
      p = new Uint8Array(4096);
      this.bytes.set(k, p);
    }
    return p;
  }

  write(gpa: bigint, size: 4 | 8, value: bigint): void {
    const p = this.page(gpa, true)!;
    const off = Number(gpa & 0xfffn);
    for (let i = 0; i < size; i++) p[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }

  readonly read: PhysReader = (gpa, size) => {
    if (!this.present(gpa)) return undefined;
    const p = this.page(gpa, false);
    if (!p) return 0n;
    const off = Number(gpa & 0xfffn);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(p[off + i]!);
    return v;
  };
}
