/**
 * Turn the hot walk's scratch into a readable record: per-level trace, verdict and reason.
 * walk-record-fast.ts makes the same record in one pass for the walks that only read (GvaWalker.walk
 * tries it first); a change to a record's keys or values here must be made there too, and
 * test/walker/walk-record-fast.test.ts fails until it is.
 */
import { type Gfn, type Gpa, type Gva, type Ngpa, gfn as mkGfn } from '../address/address';
import { joinU64 } from '../bits';
import { decodeErrorCode, PFERR } from '../format/acc';
import type { CpuRole } from '../role/cpu-role';
import type { Access } from './access';
import type { WalkInputs } from './walk';
import { ensureTrace } from './walk-fast';
import { type WalkScratch, WalkStop } from './walk-scratch';
import type { WalkFault, WalkResult, WalkStage, WalkStep, WalkStepDraft } from './walk-result';

const REASON_OF: Readonly<Record<number, WalkFault['reason']>> = Object.freeze({
  [WalkStop.NotPresent]: 'not-present',
  [WalkStop.Reserved]: 'reserved-bit',
  [WalkStop.Permission]: 'protection',
  [WalkStop.TableNoSlot]: 'table-outside-memory',
  [WalkStop.PdpteNotPresent]: 'pdpte-not-present',
  [WalkStop.SecondStage]: 'second-stage',
});

export function buildRecord(
  w: WalkInputs,
  s: WalkScratch,
  stop: number,
  address: Gva | Ngpa,
  access: Access,
  role: CpuRole | undefined,
  stage: WalkStage,
  /** `address`'s bits 11:0 when the caller has them as a number (saves a bigint operation). */
  pageOffset?: number,
): WalkResult {
  ensureTrace(w, s);
  const fmt = w.format;
  const ept = fmt.ptType === 'ept';
  const top = s.usedPdptr ? 3 : s.maxLevel;
  const stopLevel = s.level;
  // Sized once: pushing onto [] gives every trace a 17-slot store for its 1 to 5 steps.
  const trace: WalkStep[] = new Array<WalkStep>(top - stopLevel + 1);
  // Every bigint is made fresh through the view (inline): remembering them (U64Memo) cost more
  // than it saved on walks that share only their top levels — a lookup per value, and a store
  // of a new bigint into a long-lived table on every miss.
  const u64 = s.view;
  const leafStop = stop === WalkStop.Ok || stop === WalkStop.Permission;
  const presentMask = ept ? (fmt.mbec ? 0x407 : 7) : 1;
  // With pdptesFromMemory a staged walk read the PDPTE through the second stage (with
  // pdptesUnstaged an unstaged one too, directly): a memory read, not a register.
  const pdptSource = w.pdptesFromMemory === true && (w.translate !== undefined || w.pdptesUnstaged === true) ? 'memory' : 'pdptr-register';
  for (let level = top; level >= stopLevel; level--) {
    const lo = s.lo[level]!;
    const isPdptr = s.usedPdptr && level === 3;
    const e = isPdptr ? w.pdptBase + s.index[3]! * 8 : s.tableGfn[level]! * 4096 + s.index[level]! * fmt.entryBytes; // < 2^53
    const step: WalkStepDraft = {
      level,
      source: isPdptr ? pdptSource : s.noSlot && level === stopLevel ? 'no-memory' : 'memory',
      entryGpa: u64.makeNum(e) as Gpa,
      value: u64.make(lo, s.hi[level]!),
      present: (lo & presentMask) !== 0,
      leaf: leafStop && level === stopLevel,
      access: isPdptr ? fmt.acc.ALL : s.acc[level]!,
    };
    if (s.updated[level]) step.updated = u64.make(s.newLo[level]!, s.newHi[level]!);
    trace[top - level] = step;
  }
  if (stop === WalkStop.Ok) {
    const g = s.gfn;
    // The frame's halves and the page offset, made into one bigint (a frame is below 2^40).
    const off = pageOffset ?? Number(BigInt.asUintN(12, address as bigint));
    const gpa = u64.make((((g & 0xfffff) << 12) | off) >>> 0, (g / 0x100000) >>> 0) as Gpa; // g < 2^40: >>> 0 floors
    const pageSize = fmt.indexBits === 10 ? (stopLevel === 2 ? 4 << 20 : 4096) : stopLevel === 1 ? 4096 : stopLevel === 2 ? 0x20_0000 : 4096 * 512 ** (stopLevel - 1);
    let ad = 0;
    for (let l = 0; l < 6; l++) ad += s.updated[l]!;
    return {
      status: 'ok',
      stage,
      address,
      access,
      trace,
      gpa,
      gfn: w.translate === undefined ? (g as Gfn) : mkGfn(g), // a frame from an entry is below 2^40; a second stage's is checked
      level: stopLevel,
      pageSize,
      pteAccess: s.pteAccess,
      pkey: s.pkey,
      gpaKind: w.mem.kindOfGfnUnchecked(g),
      adUpdates: ad,
    };
  }
  const reason = REASON_OF[stop]!;
  return {
    status: 'fault',
    stage,
    address,
    access,
    trace,
    errorCode: s.errorCode,
    errorCodeText: decodeErrorCode(s.errorCode),
    reason,
    detail: explain(w, s, stop, access, role),
    level: stopLevel,
  };
}

function bitsList(v: bigint): string {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if ((v >> BigInt(i)) & 1n) out.push(i);
  return out.join(', ');
}

function explain(w: WalkInputs, s: WalkScratch, stop: number, a: Access, role: CpuRole | undefined): string {
  const L = s.level;
  const fmt = w.format;
  switch (stop) {
    case WalkStop.NotPresent:
      return `level-${L} entry is not present`;
    case WalkStop.PdpteNotPresent:
      return 'the PDPTE register for this address is not present';
    case WalkStop.SecondStage:
      return 'the second translation stage (TDP hardware walk or ngpa walk) faulted; see its own record';
    case WalkStop.TableNoSlot:
      return `the level-${L} table at GFN 0x${s.tableGfn[L]!.toString(16)} is in no memory slot`;
    case WalkStop.Reserved: {
      const v = joinU64(s.lo[L]!, s.hi[L]!);
      const large = Number((v >> 7n) & 1n);
      const hit = v & fmt.rsvdBitsMask[large]![L - 1]!;
      const mt = fmt.ptType === 'ept' && ((fmt.badMtXwr >> (v & 63n)) & 1n) === 1n;
      const parts: string[] = [];
      if (hit !== 0n) parts.push(`reserved bit(s) ${bitsList(hit)} set in the level-${L} ${large ? 'large ' : ''}entry`);
      if (mt) parts.push(`memory type/XWR combination 0x${(v & 63n).toString(16)} is invalid (bad_mt_xwr)`);
      return parts.join('; ');
    }
    default: {
      const acc = s.pteAccess;
      const why: string[] = [];
      if ((s.errorCode & PFERR.PK) !== 0) {
        why.push(`protection key ${s.pkey} denies it (PKRU AD/WD = ${(w.pkru >>> (s.pkey * 2)) & 3})`);
      }
      const user = a.user === true;
      const E = fmt.acc;
      const userPage = (acc & E.USER) !== 0;
      if (fmt.ptType === 'ept') {
        // v6.16 keeps R in the USER slot; 7.3 has ACC_READ, and XU (USER_EXEC) for user-mode
        // addresses with MBEC.
        const readable = (acc & (fmt.kvm === '7.3' ? E.READ : E.USER)) !== 0;
        const xu = fmt.mbec && user;
        if (a.kind === 'read' && !readable) why.push('EPT entry not readable');
        if (a.kind === 'write' && (acc & E.WRITE) === 0) why.push('EPT entry not writable');
        if (a.kind === 'fetch' && (acc & (xu ? E.USER_EXEC : E.EXEC)) === 0) {
          why.push(fmt.mbec ? `EPT entry not executable for ${xu ? 'user-mode (XU)' : 'supervisor-mode (XS)'} addresses` : 'EPT entry not executable');
        }
        return why.join('; ');
      }
      if (user && !userPage) why.push('user access to a supervisor page');
      if (a.kind === 'write' && (acc & E.WRITE) === 0 && (user || role?.isCr0Wp)) {
        why.push(user ? 'user write to a read-only page' : 'supervisor write to a read-only page with CR0.WP=1');
      }
      if (a.kind === 'fetch' && (acc & E.EXEC) === 0 && role?.isEferNx) why.push('fetch from a no-execute page');
      if (!user && a.kind === 'fetch' && userPage && role?.isCr4Smep) why.push('SMEP: supervisor fetch from a user page');
      if (!user && a.kind !== 'fetch' && userPage && role?.isCr4Smap && !(a.ac && !a.implicit)) {
        why.push(`SMAP: supervisor ${a.kind} of a user page (${a.implicit ? 'implicit access' : 'EFLAGS.AC=0'})`);
      }
      return why.join('; ') || 'permission denied';
    }
  }
}

