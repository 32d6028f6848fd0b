/**
 * Glue between the reference model (test/model) and the engine's GvaWalker: register encoding,
 * a PhysReader over GuestMemory, case descriptions and result comparison.
 */
import { acc616To73, type KvmVersion } from '../../src';
import { CR0, CR4, EFER, type GuestMemory } from '../../src';
import {
  describeErrorCode,
  type ModelAccess,
  type ModelCpu,
  type ModelResult,
  type PhysReader,
} from '../model/sdm-paging-model';

/** Reader for the model: undefined where GuestMemory has no slot (KVM: table read fails). */
export function memReader(mem: GuestMemory): PhysReader {
  return (a, size) => {
    if (mem.kindOf(a as never) === 'noslot') return undefined;
    return size === 8 ? mem.read64(a as never) : BigInt(mem.read32(a as never) >>> 0);
  };
}

export interface EngineRegs {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  pkru: number;
}

/** Architectural register values for a model CPU description. */
export function regsFor(cpu: ModelCpu, cr3: bigint): EngineRegs {
  let cr0 = CR0.PE | CR0.PG;
  if (cpu.cr0WP) cr0 |= CR0.WP;
  let cr4 = 0n;
  let efer = 0n;
  if (cpu.mode !== 'paging32') cr4 |= CR4.PAE;
  if (cpu.mode === 'paging4' || cpu.mode === 'paging5') efer |= EFER.LME | EFER.LMA;
  if (cpu.mode === 'paging5') cr4 |= CR4.LA57;
  if (cpu.cr4PSE) cr4 |= CR4.PSE;
  if (cpu.cr4SMEP) cr4 |= CR4.SMEP;
  if (cpu.cr4SMAP) cr4 |= CR4.SMAP;
  if (cpu.cr4PKE) cr4 |= CR4.PKE;
  if (cpu.eferNXE) efer |= EFER.NXE;
  return { cr0, cr3, cr4, efer, pkru: cpu.pkru };
}

export function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

/** Short decoding of an x86 paging-structure entry, e.g. "P RW US A ps nx pk1 b51 @0x1000". */
export function decodeEntry(v: bigint, size: 4 | 8 = 8): string {
  const f: string[] = [];
  const names: Array<[number, string]> = [
    [0, 'P'],
    [1, 'RW'],
    [2, 'US'],
    [3, 'PWT'],
    [4, 'PCD'],
    [5, 'A'],
    [6, 'D'],
    [7, 'PS'],
    [8, 'G'],
  ];
  for (const [b, n] of names) if ((v >> BigInt(b)) & 1n) f.push(n);
  if (size === 8) {
    if ((v >> 63n) & 1n) f.push('XD');
    const pk = Number((v >> 59n) & 0xfn);
    if (pk) f.push(`pk${pk}`);
  }
  f.push(`raw=${hex(v)}`);
  return f.join(' ');
}

export function describeCpu(cpu: ModelCpu): string {
  const f: string[] = [cpu.mode, `M=${cpu.maxPhyAddr}`];
  if (cpu.cr0WP) f.push('WP');
  if (cpu.cr4PSE) f.push('PSE');
  if (cpu.eferNXE) f.push('NXE');
  if (cpu.cr4SMEP) f.push('SMEP');
  if (cpu.cr4SMAP) f.push('SMAP');
  if (cpu.cr4PKE) f.push('PKE');
  f.push(`PKRU=${hex(cpu.pkru)}`);
  f.push(cpu.gbpages ? 'gbpages' : 'no-gbpages');
  if (cpu.vendor === 'amd') f.push('amd');
  return f.join(' ');
}

export function describeAccess(a: ModelAccess): string {
  const who = a.implicit ? 'implicit-sup' : a.user ? 'user' : 'sup';
  return `${who} ${a.kind}${a.ac ? ' AC=1' : ''}`;
}

/** The subset of the engine's WalkResult the comparison needs. */
export interface EngineOutcome {
  status: string;
  errorCode?: number;
  level?: number;
  gpa?: bigint;
  reason?: string;
  trace?: ReadonlyArray<{ level: number; entryGpa: bigint; value: bigint; updated?: bigint }>;
}

/**
 * Compare an engine walk with the model. Returns human-readable differences (empty = agree).
 * `traceCheck`: also compare the per-level entry GPAs/values visited.
 */
export function compareOutcome(m: ModelResult, r: EngineOutcome, traceCheck = true): string[] {
  const d: string[] = [];
  if (m.status !== r.status) {
    d.push(`status model=${m.status}(${m.reason}) engine=${r.status}(${r.reason ?? ''})`);
    if (m.status === 'fault') d.push(`model errorCode=${describeErrorCode(m.errorCode)}`);
    if (r.status === 'fault' && r.errorCode !== undefined) d.push(`engine errorCode=${describeErrorCode(r.errorCode)}`);
    return d;
  }
  if (m.status === 'fault') {
    if (m.errorCode !== r.errorCode) {
      d.push(
        `errorCode model=${describeErrorCode(m.errorCode)}(${m.reason}) engine=${describeErrorCode(r.errorCode ?? -1)}(${r.reason ?? ''})`,
      );
    }
  } else if (m.status === 'ok') {
    if (m.gpa !== r.gpa) d.push(`gpa model=${hex(m.gpa ?? -1n)} engine=${hex(r.gpa ?? -1n)}`);
  }
  if (m.level !== r.level) d.push(`level model=${m.level} engine=${r.level}`);
  if (traceCheck && r.trace) {
    // A table that is in no memory slot: the model records no step for the unreadable entry; the
    // engine's trace lists the attempted entry (at the faulting level). Accept exactly that.
    let trace = r.trace;
    if (m.reason === 'no-memory' && trace.length === m.steps.length + 1 && trace[trace.length - 1]!.level === m.level) {
      trace = trace.slice(0, -1);
    }
    let same = m.steps.length === trace.length;
    for (let i = 0; same && i < m.steps.length; i++) {
      const a = m.steps[i]!;
      const b = trace[i]!;
      same = a.level === b.level && a.gpa === BigInt(b.entryGpa) && a.value === b.value;
    }
    if (same) {
      // the engine's record of the A/D update must match the model's final values
      for (let i = 0; i < m.steps.length; i++) {
        const a = m.steps[i]!;
        const upd = trace[i]!.updated;
        const engineFinal = upd ?? trace[i]!.value;
        if (engineFinal !== a.final) d.push(`trace L${a.level}.updated: model final=${hex(a.final)} engine=${upd === undefined ? '(none)' : hex(upd)}`);
      }
    } else {
      const mt = m.steps.map((s) => `${s.level}@${hex(s.gpa)}=${hex(s.value)}`).join(',');
      const et = r.trace.map((s) => `${s.level}@${hex(s.entryGpa)}=${hex(s.value)}`).join(',');
      d.push(`trace model=[${mt}] engine=[${et}]`);
    }
  }
  return d;
}

/**
 * KVM-specific fields of a successful walk (reference §5.1/§5.2), derived in plain logic from the
 * model's steps — not SDM rules, but cheap to check:
 *  - pteAccess: ACC bits exec=1, write=2, user=4 accumulated over the entries that control the
 *    translation (not the PAE PDPTE); exec = XD clear everywhere (always 1 in 32-bit paging);
 *    on a non-write access W is dropped when the leaf's D bit is clear (protect_clean_gpte).
 *  - pkey: bits 62:59 of the leaf for 64-bit formats (0 for 32-bit paging).
 *  - pageSize: 4 KiB × 512^(level-1) (4 MiB for a 32-bit PDE).
 */
export function compareKvmExtras(
  m: ModelResult,
  r: { status: string; pteAccess?: number; pkey?: number; pageSize?: number },
  cpu: ModelCpu,
  acc: ModelAccess,
  kvm: KvmVersion,
): string[] {
  if (m.status !== 'ok' || r.status !== 'ok') return [];
  const d: string[] = [];
  let u = true;
  let w = true;
  let x = true;
  let leaf = 0n;
  for (const s of m.steps) {
    if (s.pdpte) continue;
    if (((s.value >> 2n) & 1n) === 0n) u = false;
    if (((s.value >> 1n) & 1n) === 0n) w = false;
    if (cpu.mode !== 'paging32' && ((s.value >> 63n) & 1n) === 1n) x = false;
    leaf = s.value;
  }
  if (acc.kind !== 'write' && ((leaf >> 6n) & 1n) === 0n) w = false;
  const want616 = (x ? 1 : 0) | (w ? 2 : 0) | (u ? 4 : 0);
  // 7.3 encodes the same rights as READ 1 (always set), WRITE 2, USER 4, EXEC 8 (kvm-7x.md §1.4).
  const want = kvm === '7.3' ? acc616To73(want616, false) : want616;
  if (r.pteAccess !== want) d.push(`pteAccess model=${want} engine=${r.pteAccess}`);
  const pkey = cpu.mode === 'paging32' ? 0 : Number((leaf >> 59n) & 0xfn);
  if (r.pkey !== pkey) d.push(`pkey model=${pkey} engine=${r.pkey}`);
  const size = cpu.mode === 'paging32' ? (m.level === 2 ? 4 << 20 : 4096) : 4096 * 512 ** (m.level - 1);
  if (r.pageSize !== size) d.push(`pageSize model=${size} engine=${r.pageSize}`);
  return d;
}
