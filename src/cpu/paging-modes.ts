/**
 * Named register sets, so a note or test says which paging mode it means instead of retyping the
 * CR0/CR4/EFER bits. Each is what a guest OS loads for that mode (CR0.PE|PG, CR0.WP and EFER.NXE
 * on unless asked otherwise); `cr4` adds bits (PGE, PCIDE, SMEP, …) on top of the mode's own.
 */
import { CR0, CR4, EFER, type PagingRegisters } from './registers';
import { checkBigint, checkBool, optObject, refuse } from '../validate/checks';

export interface ModeOptions {
  cr3?: bigint;
  /** CR0.WP (default true). */
  wp?: boolean;
  /** EFER.NXE (default true; ignored by 32-bit paging, which has no NX). */
  nx?: boolean;
  /** Extra CR4 bits, ORed into the mode's. */
  cr4?: bigint;
  smm?: boolean;
  guestMode?: boolean;
}

const MODE_KEYS: readonly string[] = ['cr3', 'wp', 'nx', 'cr4', 'smm', 'guestMode'];

/**
 * The options of a mode: own known keys (a misspelt `pcide` would be ignored), CR3 and the extra
 * CR4 bits u64 bigints, flags booleans. Whether the resulting set is possible is calcCpuRole's.
 */
function checkModeOptions(name: string, v: unknown): ModeOptions {
  const o = optObject<Record<string, unknown>>(name, v);
  for (const k of Object.keys(o)) if (!MODE_KEYS.includes(k)) refuse(`${name}.${k}`, 'unknown-key', `is not a mode option (known: ${MODE_KEYS.join(', ')})`, o[k]);
  for (const k of ['cr3', 'cr4']) if (o[k] !== undefined) checkBigint(`${name}.${k}`, o[k]);
  for (const k of ['wp', 'nx', 'smm', 'guestMode']) if (o[k] !== undefined) checkBool(`${name}.${k}`, o[k]);
  return o as ModeOptions;
}

function regs(o: ModeOptions, cr4: bigint, efer: bigint, paging = true): PagingRegisters {
  const cr0 = CR0.PE | (paging ? CR0.PG : 0n) | (paging && o.wp !== false ? CR0.WP : 0n);
  return {
    cr0,
    cr3: o.cr3 ?? 0n,
    cr4: cr4 | (o.cr4 ?? 0n),
    efer,
    ...(o.smm !== undefined ? { smm: o.smm } : {}),
    ...(o.guestMode !== undefined ? { guestMode: o.guestMode } : {}),
  };
}

/** Protected mode without paging (CR0.PG = 0): KVM's nonpaging MMU. */
export function pagingOff(o: ModeOptions = {}): PagingRegisters {
  checkModeOptions('o', o);
  return regs(o, 0n, 0n, false);
}
/** 32-bit paging with 4 MiB pages (CR4.PSE). */
export function paging32Mode(o: ModeOptions = {}): PagingRegisters {
  checkModeOptions('o', o);
  return regs(o, CR4.PSE, 0n);
}
/** PAE paging (CR4.PAE, no long mode). */
export function paeMode(o: ModeOptions = {}): PagingRegisters {
  checkModeOptions('o', o);
  return regs(o, CR4.PAE, o.nx === false ? 0n : EFER.NXE);
}
/** 4-level paging: long mode (EFER.LME|LMA) with CR4.PAE. */
export function longMode(o: ModeOptions = {}): PagingRegisters {
  checkModeOptions('o', o);
  return regs(o, CR4.PAE, EFER.LME | EFER.LMA | (o.nx === false ? 0n : EFER.NXE));
}
/** 5-level paging: long mode with CR4.LA57. */
export function la57Mode(o: ModeOptions = {}): PagingRegisters {
  checkModeOptions('o', o);
  return regs(o, CR4.PAE | CR4.LA57, EFER.LME | EFER.LMA | (o.nx === false ? 0n : EFER.NXE));
}

/** The register set of each paging mode by its table-mode name (`PageTableBuilder`'s `mode`). */
export const PAGING_MODE_REGS: Readonly<Record<'off' | 'paging32' | 'pae' | 'paging4' | 'paging5', (o?: ModeOptions) => PagingRegisters>> = Object.freeze({
  off: pagingOff,
  paging32: paging32Mode,
  pae: paeMode,
  paging4: longMode,
  paging5: la57Mode,
});
