/**
 * The fuzzer's reference translation: plain walks over table contents, written apart from the
 * engine's walker (`walker/walk.ts`) and MMUs. They read memory only (no A/D updates, no caches)
 * and cover just the forms the fuzzer writes, from the SDM rather than from KVM's code:
 *   - 4-level IA-32e paging with CR0.WP=1, EFER.NXE=1, CR4.SMEP/SMAP/PKE=0 (SDM Vol. 3A §4.5,
 *     §4.6: the P/RSVD/W/U/I-D error code, §4.7);
 *   - 4-level EPT without A/D and without mode-based execute (SDM §29.3.2-29.3.3), for L1's EPT12;
 *   - 4-level NPT12, which is x86 paging where every access is a user access (APM Vol. 2 §15.25.5).
 * A walk of a table outside memory is not modelled: the fuzzer keeps every table in a slot it
 * never deletes or moves.
 */

/** Read one 8-byte entry at a GPA (the walk's view of memory). */
export type Read64 = (gpa: bigint) => bigint;

const P = 1n;
const W = 2n;
const U = 4n;
const PS = 0x80n;
const NX = 1n << 63n;
const ADDR = ((1n << 52n) - 1n) & ~0xfffn;

/** #PF error-code bits (SDM Vol. 3A §4.7). */
export const PF_P = 1;
export const PF_W = 2;
export const PF_U = 4;
export const PF_RSVD = 8;
export const PF_ID = 16;

export interface RefAccess {
  write: boolean;
  user: boolean;
  fetch: boolean;
}

export type X86Walk =
  | { ok: true; gpa: bigint; level: number; entries: bigint[] }
  | { ok: false; errorCode: number; level: number };

/**
 * Reserved bits of an entry (SDM Vol. 3A Table 4-14..4-19): physical-address bits at or above
 * MAXPHYADDR (up to bit 51); PS in a PML4E; bits 29:13 of a 1 GiB leaf and 20:13 of a 2 MiB leaf.
 */
function reserved(e: bigint, level: number, maxPhyAddr: number): boolean {
  let mask = ((1n << 52n) - 1n) & ~((1n << BigInt(maxPhyAddr)) - 1n);
  if (level === 4) mask |= PS;
  if (level === 3 && (e & PS) !== 0n) mask |= 0x3fff_e000n;
  if (level === 2 && (e & PS) !== 0n) mask |= 0x1f_e000n;
  return (e & mask) !== 0n;
}

/**
 * Translate `va` through the tables at `cr3`. `tableGpa` maps a table's GPA to where its bytes
 * are read (identity for L1; L2's tables are read after EPT12/NPT12, which the caller does) and
 * may stop the walk (returns undefined) when that translation fails. `override` substitutes
 * entry values by entry GPA (an old value a TLB may still hold).
 */
export function x86Walk(
  read: Read64, cr3: bigint, va: bigint, acc: RefAccess, maxPhyAddr: number,
  tableGpa: (gpa: bigint) => bigint | undefined = (g) => g,
  override?: ReadonlyMap<bigint, bigint>,
): X86Walk | undefined {
  const ec = (acc.write ? PF_W : 0) | (acc.user ? PF_U : 0) | (acc.fetch ? PF_ID : 0);
  let table = cr3 & ADDR;
  let w = true;
  let u = true;
  let nx = false;
  const entries: bigint[] = [];
  for (let level = 4; level >= 1; level--) {
    const idx = (va >> BigInt(12 + 9 * (level - 1))) & 0x1ffn;
    const at = table + idx * 8n;
    const where = tableGpa(at);
    if (where === undefined) return undefined;
    const e = override?.get(at) ?? read(where);
    entries.push(at);
    if ((e & P) === 0n) return { ok: false, errorCode: ec, level };
    if (reserved(e, level, maxPhyAddr)) return { ok: false, errorCode: ec | PF_P | PF_RSVD, level };
    w &&= (e & W) !== 0n;
    u &&= (e & U) !== 0n;
    nx ||= (e & NX) !== 0n;
    const leaf = level === 1 || (level <= 3 && (e & PS) !== 0n);
    if (!leaf) {
      table = e & ADDR;
      continue;
    }
    // SDM §4.6.1: user access to a supervisor page; a write to a read-only page (CR0.WP=1 makes
    // supervisor writes check R/W too); a fetch from an XD page (EFER.NXE=1).
    if ((acc.user && !u) || (acc.write && !w) || (acc.fetch && nx)) return { ok: false, errorCode: ec | PF_P, level };
    const span = 1n << BigInt(12 + 9 * (level - 1));
    const base = level === 1 ? e & ADDR : e & ADDR & ~(span - 1n);
    return { ok: true, gpa: base | (va & (span - 1n)), level, entries };
  }
  return undefined;
}

export type StageWalk = { ok: true; gpa: bigint; leafAt: bigint } | { ok: false; misconfig: boolean };

/**
 * EPT12 (4-level, 4 KiB leaves, no A/D): read needs R, write W, fetch X; an entry with W but not
 * R is a misconfiguration (SDM §29.3.3.1), RWX = 0 is not present. Table accesses are reads.
 */
export function eptWalk(read: Read64, eptp: bigint, ngpa: bigint, acc: { write: boolean; fetch: boolean }, override?: ReadonlyMap<bigint, bigint>): StageWalk {
  let table = eptp & ADDR;
  for (let level = 4; level >= 1; level--) {
    const at = table + ((ngpa >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n;
    const e = override?.get(at) ?? read(at);
    const rwx = Number(e & 7n);
    if ((rwx & 3) === 2) return { ok: false, misconfig: true };
    if (rwx === 0) return { ok: false, misconfig: false };
    if (level > 1 && (e & PS) !== 0n) throw new Error('reference EPT walk: the fuzzer builds EPT12 with 4 KiB leaves only');
    if (level > 1) {
      table = e & ADDR;
      continue;
    }
    const need = acc.fetch ? 4 : acc.write ? 2 : 1;
    if ((rwx & need) === 0) return { ok: false, misconfig: false };
    return { ok: true, gpa: (e & ADDR) | (ngpa & 0xfffn), leafAt: at };
  }
  return { ok: false, misconfig: false };
}

/**
 * NPT12 (4-level x86 format, 4 KiB leaves): every access is a user access; a final write needs W,
 * a final fetch needs XD clear; L2's table accesses are user writes (the fuzzer keeps those
 * entries P|W|U). Reserved bits are not generated here.
 */
export function nptWalk(read: Read64, ncr3: bigint, ngpa: bigint, acc: { write: boolean; fetch: boolean }, override?: ReadonlyMap<bigint, bigint>): StageWalk {
  let table = ncr3 & ADDR;
  let w = true;
  let u = true;
  let nx = false;
  for (let level = 4; level >= 1; level--) {
    const at = table + ((ngpa >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n;
    const e = override?.get(at) ?? read(at);
    if ((e & P) === 0n) return { ok: false, misconfig: false };
    if (level > 1 && (e & PS) !== 0n) throw new Error('reference NPT walk: the fuzzer builds NPT12 with 4 KiB leaves only');
    w &&= (e & W) !== 0n;
    u &&= (e & U) !== 0n;
    nx ||= (e & NX) !== 0n;
    if (level > 1) {
      table = e & ADDR;
      continue;
    }
    if (!u || (acc.write && !w) || (acc.fetch && nx)) return { ok: false, misconfig: false };
    return { ok: true, gpa: (e & ADDR) | (ngpa & 0xfffn), leafAt: at };
  }
  return { ok: false, misconfig: false };
}
