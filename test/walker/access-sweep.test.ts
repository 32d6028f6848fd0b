/**
 * Exhaustive access sweep in the manner of kvm-unit-tests x86/access.c: PTE and PDE flags
 * (P, R/W, U/S, A, D, XD, PS at the PDE, reserved bits 51 and MAXPHYADDR, address bit 36,
 * protection key 0/1, PAT and ignored bits) × CR0.WP × EFER.NXE × CR4.SMEP × CR4.SMAP ×
 * CR4.PKE/PKRU × access kind × user/supervisor × EFLAGS.AC × implicit supervisor accesses, for
 * 4-level and 5-level paging (and a smaller version of the same sweep for PAE and 32-bit paging).
 * Every case is checked against the independent SDM model (test/model/sdm-paging-model.ts):
 * fault or ok, error code, level, GPA, the entries visited, and the A/D bits of every entry on the
 * path read back (getEntry) after the walk.
 *
 * One GuestMemory and one table tree per mode; entries are rewritten raw with setEntry per case
 * (the builder cannot write below a huge or non-present PDE, so the PDE is put back to its table
 * first when the PTE must change). Upper-level entries are restored to their original value
 * (A clear) whenever a walk changed them, so every case starts from exactly its own state.
 */
import { describe, it, expect } from 'vitest';
import { GuestMemory, GvaWalker, KVM_VERSIONS, PageTableBuilder, encodeAccess, gpa, gva, type KvmVersion } from '../../src';
import {
  E_A,
  E_D,
  E_P,
  E_PS,
  E_RW,
  E_US,
  E_XD,
  bitsRange,
  describeErrorCode,
  modelWalk,
  type ModelAccess,
  type ModelCpu,
  type ModelResult,
  type PagingMode,
} from '../model/sdm-paging-model';
import { compareKvmExtras, compareOutcome, decodeEntry, describeAccess, describeCpu, hex, memReader, regsFor } from './model-compare';

const MAXPHY = 46;
const FEATURES = {
  maxPhyAddr: MAXPHY,
  nx: true,
  gbpages: true,
  la57: true,
  smep: true,
  smap: true,
  pku: true,
  vendor: 'intel' as const,
};

const B = (n: number): bigint => 1n << BigInt(n);
const BIT51 = B(51);
const BITM = B(MAXPHY); // reserved: first bit above MAXPHYADDR
const BIT36 = B(36); // an address bit below MAXPHYADDR: not reserved
const pk = (k: number): bigint => BigInt(k) << 59n;
const PRWUS = E_P | E_RW | E_US;

// ---------------------------------------------------------------------------------------------
// per-mode layout

interface ModeSpec {
  mode: PagingMode;
  top: number;
  size: 4 | 8;
  va: bigint;
  /** Frame of the 4 KiB page, of the 2/4 MiB page, of the 1 GiB page. */
  leafAddr: Record<number, bigint>;
  /** Address bits of an entry. */
  addrMask: bigint;
}

const SPECS: Record<PagingMode, ModeSpec> = {
  paging4: {
    mode: 'paging4',
    top: 4,
    size: 8,
    va: 0x0000_7f12_3456_7abcn,
    leafAddr: { 1: 0x1234_5000n, 2: 0x7fe0_0000n, 3: 0x4000_0000n },
    addrMask: bitsRange(12, 51),
  },
  paging5: {
    mode: 'paging5',
    top: 5,
    size: 8,
    va: 0x00ab_cdef_1234_5abcn,
    leafAddr: { 1: 0x1234_5000n, 2: 0x7fe0_0000n, 3: 0x4000_0000n },
    addrMask: bitsRange(12, 51),
  },
  pae: {
    mode: 'pae',
    top: 3,
    size: 8,
    va: 0xc012_3abcn,
    leafAddr: { 1: 0x1234_5000n, 2: 0x7fe0_0000n },
    addrMask: bitsRange(12, 51),
  },
  paging32: {
    mode: 'paging32',
    top: 2,
    size: 4,
    va: 0x0040_3abcn,
    leafAddr: { 1: 0x1234_5000n, 2: 0x0840_0000n },
    addrMask: 0xffff_f000n,
  },
};

// ---------------------------------------------------------------------------------------------
// environment: one memory + table tree per mode

class Env {
  readonly mem: GuestMemory;
  readonly b: PageTableBuilder;
  readonly top: number;
  readonly va: bigint;
  readonly root: bigint;
  readonly entryGpa: bigint[] = [];
  /** Entry values as the builder created them (non-leaf P|RW|US, A clear). */
  readonly orig: bigint[] = [];
  /** What is in memory now (kept exact by reading back after every walk). */
  readonly cur: bigint[] = [];
  readonly read: ReturnType<typeof memReader>;

  constructor(readonly spec: ModeSpec) {
    this.mem = new GuestMemory({ maxPhyAddr: MAXPHY });
    this.mem.addSlot({ base: gpa(0n), size: 1n << 32n });
    this.b = new PageTableBuilder(this.mem, { mode: spec.mode, pool: { base: gpa(0x100000n), size: 0x400000n } });
    this.top = spec.top;
    this.va = spec.va;
    this.root = BigInt(this.b.root);
    this.read = memReader(this.mem);
    this.b.map(gva(this.va & ~0xfffn), gpa(spec.leafAddr[1]!), { size: '4K', flags: { writable: true, user: true } });
    for (let l = this.top; l >= 1; l--) {
      const e = this.b.getEntry(gva(this.va), l);
      this.entryGpa[l] = BigInt(e.gpa);
      this.orig[l] = e.value;
      this.cur[l] = e.value;
    }
  }

  /** The table address the entry at `level` (>= 2) originally pointed to. */
  tableOf(level: number): bigint {
    return this.orig[level]! & this.spec.addrMask;
  }

  private pointsToTable(level: number, v: bigint): boolean {
    return (v & E_P) !== 0n && (v & E_PS) === 0n && (v & this.spec.addrMask) === this.tableOf(level);
  }

  /** Raw write with setEntry; the builder needs the path above to be the original tables. */
  set(level: number, v: bigint): void {
    if (this.cur[level] === v) return;
    for (let l = this.top; l > level; l--) if (!this.pointsToTable(l, this.cur[l]!)) this.set(l, this.orig[l]!);
    const e = this.b.setEntry(gva(this.va), level, v);
    if (BigInt(e.gpa) !== this.entryGpa[level]) throw new Error(`setEntry wrote level ${level} at ${hex(e.gpa)}`);
    this.cur[level] = v;
  }

  /** Bring the path to exactly `want` (by level; undefined = leave as is), writing bottom-up. */
  apply(want: Array<bigint | undefined>): void {
    for (let l = 1; l <= this.top; l++) {
      const v = want[l];
      if (v !== undefined) this.set(l, v);
    }
  }

  rawRead(a: bigint): bigint {
    return this.spec.size === 8 ? this.mem.read64(gpa(a)) : BigInt(this.mem.read32(gpa(a)) >>> 0);
  }

  rawWrite(a: bigint, v: bigint): void {
    if (this.spec.size === 8) this.mem.write64(gpa(a), v);
    else this.mem.write32(gpa(a), Number(v));
  }

  /** Read the path back: getEntry where the builder can reach the entry, else raw memory. */
  readBack(): bigint[] {
    const out: bigint[] = [];
    let reachable = true;
    for (let l = this.top; l >= 1; l--) {
      out[l] = reachable ? this.b.getEntry(gva(this.va), l).value : this.rawRead(this.entryGpa[l]!);
      if (l > 1 && !this.pointsToTable(l, out[l]!)) reachable = false;
    }
    return out;
  }
}

interface Stats {
  count: number;
  mismatches: number;
  first: string[];
  keys: Map<string, number>;
}

function newStats(): Stats {
  return { count: 0, mismatches: 0, first: [], keys: new Map() };
}

interface RegCase {
  cr0WP: boolean;
  eferNXE: boolean;
  cr4SMEP: boolean;
  cr4SMAP: boolean;
  cr4PKE: boolean;
  cr4PSE: boolean;
  pkru: number;
}

function modelCpu(mode: PagingMode, rc: RegCase): ModelCpu {
  return { mode, maxPhyAddr: MAXPHY, gbpages: true, vendor: 'intel', ...rc };
}

/**
 * One case: bring the path to `want`, run model and engine, compare the outcome and the entries
 * read back afterwards with the model's final values.
 */
function runCase(env: Env, w: GvaWalker, cpu: ModelCpu, acc: ModelAccess, want: Array<bigint | undefined>, st: Stats): void {
  const kvm = w.role.kvm;
  env.apply(want);
  const before = env.cur.slice();
  // The engine follows KVM's I/D rule (efer_nx || cr4_smep); it differs from the SDM only for
  // 32-bit paging with NXE=1, which reserved-bits.test.ts pins separately.
  const m: ModelResult = modelWalk(cpu, env.root, env.va, acc, env.read, { idRule: 'kvm' });
  const access = { kind: acc.kind, user: acc.user, implicit: acc.implicit ?? false, ac: acc.ac ?? false };
  // Every other case goes through the raw hot path (walkRaw: walk-fast.ts, whose success leaves
  // the trace to ensureTrace) and its record, so the fast path meets the same model.
  const r =
    st.count % 2 === 0
      ? w.walk(gva(env.va), access)
      : w.recordLast(w.walkRaw(Number(env.va >> 32n), Number(env.va & 0xffff_ffffn), encodeAccess(access)), gva(env.va), access);
  st.count++;
  const diffs = compareOutcome(m, r);
  diffs.push(...compareKvmExtras(m, r, cpu, acc, kvm));
  const after = env.readBack();
  const expected = before.slice();
  for (const s of m.steps) {
    if (s.gpa === env.entryGpa[s.level]) {
      expected[s.level] = s.final;
    } else {
      // off the path (32-bit paging with CR4.PSE=0 follows a PS=1 PDE as a table pointer)
      const now = env.rawRead(s.gpa);
      if (now !== s.final) diffs.push(`L${s.level}@${hex(s.gpa)} after the walk: expected ${hex(s.final)} got ${hex(now)}`);
      if (now !== s.value) env.rawWrite(s.gpa, s.value);
    }
  }
  for (let l = env.top; l >= 1; l--) {
    if (after[l] !== expected[l]) {
      diffs.push(`L${l} entry after the walk: expected ${decodeEntry(expected[l]!, env.spec.size)}, got ${decodeEntry(after[l]!, env.spec.size)}`);
    }
    env.cur[l] = after[l]!;
  }
  if (diffs.length === 0) return;
  st.mismatches++;
  const key =
    `model ${m.status}/${m.reason}/${describeErrorCode(m.errorCode)} vs engine ${r.status}/` +
    `${r.status === 'fault' ? `${r.reason}/${describeErrorCode(r.errorCode)}` : 'ok'} (${describeAccess(acc)})`;
  st.keys.set(key, (st.keys.get(key) ?? 0) + 1);
  if (st.first.length < 30) {
    const path: string[] = [];
    for (let l = env.top; l >= 1; l--) path.push(`    L${l}: ${decodeEntry(before[l]!, env.spec.size)}`);
    st.first.push(`[${describeCpu(cpu)}] ${describeAccess(acc)} va=${hex(env.va)}\n${path.join('\n')}\n    => ${diffs.join('\n    => ')}`);
  }
}

function report(st: Stats): string {
  const keys = [...st.keys.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${n} × ${k}`);
  return `${st.mismatches} of ${st.count} cases disagree with the model.\nBy kind:\n${keys.join('\n')}\nFirst cases:\n${st.first.join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// dimensions

function flagsProduct(bits: bigint[]): bigint[] {
  const out: bigint[] = [];
  for (let m = 0; m < 1 << bits.length; m++) {
    let v = 0n;
    for (let i = 0; i < bits.length; i++) if (m & (1 << i)) v |= bits[i]!;
    out.push(v);
  }
  return out;
}

/** A table configuration: PDE (table flags or a whole value) and PTE value. */
interface TableCase {
  /** 'table': PDE = PTE-table address | pde; 'raw': pde is the whole value. */
  pdeKind: 'table' | 'raw';
  pde: bigint;
  /** undefined: the PTE is not on the walk (the PDE maps a 2/4 MiB page); left as it is. */
  pte: bigint | undefined;
}

/**
 * Flag dimensions per format. 64-bit formats: XD; 4/5-level: protection key 0/1. Reserved-bit
 * probes: 4/5-level bits 51 and MAXPHYADDR; PAE adds bit 60 (62:M are reserved there, ignored in
 * 4/5-level); 32-bit paging has no reserved bits in PTEs and table PDEs, and bits 21/17 (KVM's
 * PSE-36 assumption) in a 4 MiB PDE.
 */
function tableCases(spec: ModeSpec): TableCase[] {
  const is64 = spec.size === 8;
  const long = spec.mode === 'paging4' || spec.mode === 'paging5';
  const data = spec.leafAddr[1]!;
  const big = spec.leafAddr[2]!;
  const leafBits = [E_RW, E_US, ...(is64 ? [E_XD] : []), ...(long ? [pk(1)] : []), E_A, E_D];
  const tableBits = [E_RW, E_US, ...(is64 ? [E_XD] : [])];
  const rsvPte = !is64 ? [] : spec.mode === 'pae' ? [BIT51, BITM, B(60)] : [BIT51, BITM];
  const rsvBig = !is64 ? [B(21), B(17)] : spec.mode === 'pae' ? [BIT51, BITM, B(60), B(13), B(20)] : [BIT51, BITM, B(13), B(20)];
  const addrBig = is64 ? [BIT36, B(12) /* PAT */] : [B(13) /* PSE-36: PA bit 32 */, B(12) /* PAT */];
  const ignoredPte = is64 && long ? B(8) | B(9) | B(10) | B(11) | B(52) | B(58) : B(8) | B(9) | B(10) | B(11);
  const ignoredPde = is64 && long ? E_D | B(8) | B(9) | B(11) | B(52) | B(62) : B(9) | B(11);

  const cases: TableCase[] = [];
  const ptes: bigint[] = [];
  for (const f of flagsProduct(leafBits)) ptes.push(data | E_P | f);
  for (const r of rsvPte) ptes.push(data | PRWUS | r); // reserved
  if (is64) ptes.push(data | PRWUS | BIT36); // address bit below MAXPHYADDR: GPA moves up
  ptes.push(0n); // not present
  ptes.push(data | E_RW | E_US | E_A | E_D | (is64 ? E_XD | BIT51 : 0n)); // not present, junk in the rest
  ptes.push(data | PRWUS | E_PS); // bit 7 = PAT in a PTE: not reserved
  ptes.push(data | PRWUS | ignoredPte); // G and ignored bits
  // PDE → table crossed with every PTE. The PDE's A bit is taken from the PTE's D bit, so
  // (PDE.A, PTE.A, PTE.D) takes all 8 combinations without another factor of 2.
  for (const f of flagsProduct(tableBits)) {
    for (const pte of ptes) {
      const pdeA = (pte & E_D) !== 0n ? E_A : 0n;
      cases.push({ pdeKind: 'table', pde: E_P | f | pdeA, pte });
    }
  }
  const cleanPte = data | PRWUS;
  for (const r of rsvPte) cases.push({ pdeKind: 'table', pde: PRWUS | r, pte: cleanPte }); // reserved PDE
  cases.push({ pdeKind: 'raw', pde: 0n, pte: cleanPte }); // not-present PDE
  cases.push({ pdeKind: 'table', pde: E_RW | E_US | E_PS | (is64 ? BIT51 | E_XD : B(21)), pte: cleanPte }); // not present, junk
  cases.push({ pdeKind: 'table', pde: PRWUS | ignoredPde, pte: cleanPte }); // ignored bits
  // PDE → 2 MiB (4 MiB) page
  for (const f of flagsProduct(leafBits)) cases.push({ pdeKind: 'raw', pde: big | E_P | E_PS | f, pte: undefined });
  for (const extra of [...rsvBig, ...addrBig]) cases.push({ pdeKind: 'raw', pde: big | PRWUS | E_PS | extra, pte: undefined });
  return cases;
}

// PKRU: AD(k) = bit 2k, WD(k) = bit 2k+1.
const AD1 = 1 << 2;
const WD1 = 1 << 3;
const AD0WD0 = 3;

function regCases(mode: PagingMode, withPk: boolean): RegCase[] {
  const out: RegCase[] = [];
  const long = mode === 'paging4' || mode === 'paging5';
  const pkOptions: Array<[boolean, number]> =
    withPk && long
      ? [
          [false, 0],
          [false, AD0WD0 | AD1 | WD1], // PKE=0: PKRU must be ignored
          [true, 0],
          [true, AD1],
          [true, WD1],
          [true, AD1 | WD1],
          [true, AD0WD0], // key 0 disabled: pages with key 1 unaffected
        ]
      : [[false, 0]];
  // CR4.PSE only changes anything in 32-bit paging (PS always counts in PAE and long mode)
  const pseOptions = mode === 'paging32' ? [false, true] : [false];
  for (const cr0WP of [false, true])
    for (const eferNXE of [false, true])
      for (const cr4SMEP of [false, true])
        for (const cr4SMAP of [false, true])
          for (const cr4PSE of pseOptions)
            for (const [cr4PKE, pkru] of pkOptions) out.push({ cr0WP, eferNXE, cr4SMEP, cr4SMAP, cr4PKE, cr4PSE, pkru });
  return out;
}

function accessCases(): ModelAccess[] {
  const out: ModelAccess[] = [];
  for (const kind of ['read', 'write', 'fetch'] as const) {
    out.push({ kind, user: true, ac: false });
    if (kind === 'read') out.push({ kind, user: true, ac: true }); // AC is irrelevant for user accesses
    out.push({ kind, user: false, ac: false });
    out.push({ kind, user: false, ac: true });
    if (kind !== 'fetch') {
      // implicit supervisor accesses (GDT/IDT/TSS) are data accesses; AC never overrides SMAP
      out.push({ kind, user: false, implicit: true, ac: false });
      out.push({ kind, user: false, implicit: true, ac: true });
    }
  }
  return out;
}

function walkerFor(env: Env, cpu: ModelCpu, kvm: KvmVersion): GvaWalker {
  return new GvaWalker(env.mem, regsFor(cpu, env.root), FEATURES, undefined, kvm);
}

function sweepFlags(spec: ModeSpec, kvm: KvmVersion): Stats {
  const env = new Env(spec);
  const st = newStats();
  const tables = tableCases(spec);
  const accesses = accessCases();
  const want: Array<bigint | undefined> = [];
  for (let l = 3; l <= env.top; l++) want[l] = env.orig[l];
  for (const rc of regCases(spec.mode, true)) {
    const cpu = modelCpu(spec.mode, rc);
    const w = walkerFor(env, cpu, kvm);
    for (const t of tables) {
      want[2] = t.pdeKind === 'table' ? env.tableOf(2) | t.pde : t.pde;
      want[1] = t.pte;
      for (const acc of accesses) runCase(env, w, cpu, acc, want, st);
    }
  }
  return st;
}

// ---------------------------------------------------------------------------------------------
// sweep 2: rights accumulated over every level (PML5E/PML4E/PDPTE/PDE/PTE), 4K/2M/1G leaves

interface PathCase {
  leafLevel: number;
  /** Level whose entry has R/W=0 (0 = none), U/S=0, XD=1. */
  roAt: number;
  supAt: number;
  nxAt: number;
  /** Non-leaf entries start with A=1. */
  upperA: boolean;
}

function pathCases(top: number): PathCase[] {
  const out: PathCase[] = [];
  for (const leafLevel of [1, 2, 3]) {
    const choices = [0];
    for (let l = top; l >= leafLevel; l--) choices.push(l);
    for (const roAt of choices)
      for (const supAt of choices)
        for (const nxAt of choices)
          for (const upperA of [false, true]) out.push({ leafLevel, roAt, supAt, nxAt, upperA });
  }
  return out;
}

function pathWant(env: Env, c: PathCase): Array<bigint | undefined> {
  const want: Array<bigint | undefined> = [];
  for (let l = env.top; l >= 1; l--) {
    if (l < c.leafLevel) {
      want[l] = undefined;
      continue;
    }
    let v = l === c.leafLevel ? env.spec.leafAddr[l]! | (l > 1 ? E_PS : 0n) : env.tableOf(l);
    v |= E_P;
    if (c.roAt !== l) v |= E_RW;
    if (c.supAt !== l) v |= E_US;
    if (c.nxAt === l) v |= E_XD;
    if (c.upperA && l > c.leafLevel) v |= E_A;
    want[l] = v;
  }
  return want;
}

function sweepPath(spec: ModeSpec, kvm: KvmVersion): Stats {
  const env = new Env(spec);
  const st = newStats();
  const cases = pathCases(env.top);
  const accesses = accessCases();
  for (const rc of regCases(spec.mode, false)) {
    const cpu = modelCpu(spec.mode, rc);
    const w = walkerFor(env, cpu, kvm);
    for (const c of cases) {
      const want = pathWant(env, c);
      for (const acc of accesses) runCase(env, w, cpu, acc, want, st);
    }
  }
  return st;
}

// ---------------------------------------------------------------------------------------------
// expected sizes (so that the sweep cannot silently shrink)

const ACCESSES = 14;
const EXPECTED_TABLES: Record<PagingMode, number> = {
  // (64 leaf flag combos + 2 rsvd + addr36 + 2 not-present + PAT + ignored) × 8 PDE flag combos
  // + (2 rsvd PDEs + not-present + junk not-present + ignored) + 64 2M leaves + (4 rsvd + addr36 + PAT)
  paging4: 71 * 8 + 5 + 64 + 6, // 643
  paging5: 71 * 8 + 5 + 64 + 6,
  // PAE: 32 leaf combos (no PK) + 3 rsvd + addr36 + 2 + 2; × 8; + (3 + 3); + 32 + (5 + 2)
  pae: 40 * 8 + 6 + 32 + 7, // 365
  // 32-bit: 16 leaf combos + 0 rsvd + 2 + 2; × 4; + (0 + 3); + 16 + (2 + 2)
  paging32: 20 * 4 + 3 + 16 + 4, // 103
};
const EXPECTED_REGS: Record<PagingMode, number> = { paging4: 112, paging5: 112, pae: 16, paging32: 32 };
const EXPECTED_FLAG_CASES: Record<PagingMode, number> = {
  paging4: 1_008_224,
  paging5: 1_008_224,
  pae: 81_760,
  paging32: 46_144,
};
// path sweep: per leaf level, (levels at or above the leaf + 1)^3 placements × 2 (upper A)
const EXPECTED_PATH_CASES = { paging4: 96_768, paging5: 181_440 };

describe('access sweep (access.c style) against the SDM model', () => {
  it('dimension sizes are as designed', () => {
    for (const mode of ['paging4', 'paging5', 'pae', 'paging32'] as const) {
      expect(tableCases(SPECS[mode]).length, mode).toBe(EXPECTED_TABLES[mode]);
      expect(regCases(mode, true).length, mode).toBe(EXPECTED_REGS[mode]);
      expect(EXPECTED_TABLES[mode] * EXPECTED_REGS[mode] * ACCESSES, mode).toBe(EXPECTED_FLAG_CASES[mode]);
    }
    expect(accessCases().length).toBe(ACCESSES);
    expect(pathCases(4).length * 16 * ACCESSES).toBe(EXPECTED_PATH_CASES.paging4);
    expect(pathCases(5).length * 16 * ACCESSES).toBe(EXPECTED_PATH_CASES.paging5);
  });

  for (const kvm of KVM_VERSIONS) for (const mode of ['paging4', 'paging5', 'pae', 'paging32'] as const) {
    it(`KVM ${kvm}, ${mode}: PTE × PDE flags × registers × accesses agree with the model`, () => {
      const t0 = performance.now();
      const st = sweepFlags(SPECS[mode], kvm);
      console.log(`${mode} flag sweep: ${st.count} cases, ${(performance.now() - t0).toFixed(0)} ms, ${st.mismatches} mismatches`);
      expect(st.count).toBe(EXPECTED_FLAG_CASES[mode]);
      expect(st.mismatches, report(st)).toBe(0);
    }, 400_000);
  }

  for (const kvm of KVM_VERSIONS) for (const mode of ['paging4', 'paging5'] as const) {
    it(`KVM ${kvm}, ${mode}: rights accumulated over all levels (4K/2M/1G leaves) agree with the model`, () => {
      const t0 = performance.now();
      const st = sweepPath(SPECS[mode], kvm);
      console.log(`${mode} path sweep: ${st.count} cases, ${(performance.now() - t0).toFixed(0)} ms, ${st.mismatches} mismatches`);
      expect(st.count).toBe(EXPECTED_PATH_CASES[mode]);
      expect(st.mismatches, report(st)).toBe(0);
    }, 400_000);
  }
});
