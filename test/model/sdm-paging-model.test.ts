/**
 * Self-tests of the reference model: hand-worked cases from the SDM text, so that the model
 * itself can fail independently of the engine.
 */
import { describe, it, expect } from 'vitest';
import {
  E_A,
  E_D,
  E_P,
  E_PS,
  E_RW,
  E_US,
  E_XD,
  PF_ID,
  PF_P,
  PF_PK,
  PF_RSVD,
  PF_U,
  PF_W,
  SparsePhys,
  bitsRange,
  makeEntry,
  modelWalk,
  reservedMask,
  type EntryFlags,
  type ModelAccess,
  type ModelCpu,
  type PagingMode,
} from './sdm-paging-model';

const baseCpu = (over: Partial<ModelCpu> = {}): ModelCpu => ({
  mode: 'paging4',
  maxPhyAddr: 46,
  gbpages: true,
  vendor: 'intel',
  cr0WP: false,
  cr4PSE: false,
  cr4SMEP: false,
  cr4SMAP: false,
  cr4PKE: false,
  eferNXE: true,
  pkru: 0,
  ...over,
});

const VA = 0x0000_7f12_3456_7abcn;
const VA5 = 0x00ab_cdef_1234_5abcn;
const DATA = 0x0000_0012_3456_7000n; // 4 KiB page frame
const TABLES = 0x10_0000n;

/**
 * Builds one translation path by hand: level-`top` table at TABLES, next levels at +0x1000...
 * `flags[level]` gives the flags of the entry at that level (addresses are filled in).
 * `leafLevel` 1 (4 KiB), 2 (2 MiB) or 3 (1 GiB).
 */
function buildPath(
  mode: PagingMode,
  va: bigint,
  flags: Record<number, EntryFlags>,
  leafLevel = 1,
  leafAddr = DATA,
  raw: Record<number, bigint> = {},
): { phys: SparsePhys; cr3: bigint; entryGpa: Record<number, bigint> } {
  const phys = new SparsePhys();
  const size = mode === 'paging32' ? 4 : 8;
  const top = mode === 'paging32' ? 2 : mode === 'pae' ? 3 : mode === 'paging4' ? 4 : 5;
  const entryGpa: Record<number, bigint> = {};
  let table = TABLES;
  for (let level = top; level >= leafLevel; level--) {
    let idx: number;
    if (mode === 'paging32') idx = Number((va >> (level === 2 ? 22n : 12n)) & 0x3ffn);
    else if (mode === 'pae' && level === 3) idx = Number((va >> 30n) & 3n);
    else idx = Number((va >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);
    const g = table + BigInt(size * idx);
    entryGpa[level] = g;
    const next = TABLES + BigInt(0x1000 * (top - level + 1));
    const addr = level === leafLevel ? leafAddr : next;
    const v = raw[level] ?? makeEntry(addr, { ...(flags[level] ?? {}), ps: level === leafLevel && level > 1 ? true : flags[level]?.ps });
    phys.write(g, size, v);
    table = next;
  }
  return { phys, cr3: TABLES, entryGpa };
}

const PRW_US: EntryFlags = { p: true, rw: true, us: true };

/** A 4-level path with upper levels P|RW|US and the given PTE flags. */
function walk4(cpu: ModelCpu, pte: EntryFlags, access: ModelAccess, upper: EntryFlags = PRW_US) {
  const { phys, cr3 } = buildPath('paging4', VA, { 4: upper, 3: upper, 2: upper, 1: pte });
  return modelWalk(cpu, cr3, VA, access, phys.read);
}

describe('model: SDM §4.6 access rights, hand-worked', () => {
  const roUser: EntryFlags = { p: true, rw: false, us: true };

  it('supervisor write to a read-only user page, WP=0 SMAP=0: allowed, D set', () => {
    const r = walk4(baseCpu(), roUser, { kind: 'write', user: false });
    expect(r.status).toBe('ok');
    expect(r.gpa).toBe(DATA | 0xabcn);
    const leaf = r.steps[r.steps.length - 1]!;
    expect(leaf.final & E_D).toBe(E_D);
    for (const s of r.steps) expect(s.final & E_A).toBe(E_A);
  });

  it('supervisor write to a read-only user page, WP=0 SMAP=1 explicit AC=1: allowed', () => {
    const r = walk4(baseCpu({ cr4SMAP: true }), roUser, { kind: 'write', user: false, ac: true });
    expect(r.status).toBe('ok');
  });

  it('... SMAP=1, AC=0: fault P|W', () => {
    const r = walk4(baseCpu({ cr4SMAP: true }), roUser, { kind: 'write', user: false, ac: false });
    expect(r.errorCode).toBe(PF_P | PF_W);
  });

  it('... SMAP=1, AC=1 but implicit: fault P|W (AC does not override SMAP for implicit accesses)', () => {
    const r = walk4(baseCpu({ cr4SMAP: true }), roUser, { kind: 'write', user: false, ac: true, implicit: true });
    expect(r.status).toBe('fault');
    expect(r.errorCode).toBe(PF_P | PF_W);
    // no A/D on a faulting walk
    for (const s of r.steps) expect(s.final).toBe(s.value);
  });

  it('... WP=1 SMAP=1 AC=1 explicit: still needs R/W=1 → P|W', () => {
    const r = walk4(baseCpu({ cr4SMAP: true, cr0WP: true }), roUser, { kind: 'write', user: false, ac: true });
    expect(r.errorCode).toBe(PF_P | PF_W);
  });

  it('supervisor read of a user page with SMAP=1 AC=0: P; with AC=1: ok; implicit: P', () => {
    const cpu = baseCpu({ cr4SMAP: true });
    expect(walk4(cpu, roUser, { kind: 'read', user: false }).errorCode).toBe(PF_P);
    expect(walk4(cpu, roUser, { kind: 'read', user: false, ac: true }).status).toBe('ok');
    expect(walk4(cpu, roUser, { kind: 'read', user: false, ac: true, implicit: true }).errorCode).toBe(PF_P);
  });

  it('supervisor write to a read-only supervisor page: WP=0 ok, WP=1 P|W', () => {
    const ro: EntryFlags = { p: true, rw: false, us: false };
    expect(walk4(baseCpu(), ro, { kind: 'write', user: false }).status).toBe('ok');
    expect(walk4(baseCpu({ cr0WP: true }), ro, { kind: 'write', user: false }).errorCode).toBe(PF_P | PF_W);
  });

  it('user write to a read-only user page: P|W|U even with WP=0', () => {
    expect(walk4(baseCpu(), roUser, { kind: 'write', user: true }).errorCode).toBe(PF_P | PF_W | PF_U);
  });

  it('user read of a supervisor page: P|U; R/W in an upper level counts too', () => {
    expect(walk4(baseCpu(), { p: true, rw: true }, { kind: 'read', user: true }).errorCode).toBe(PF_P | PF_U);
    // upper levels U/S=0 → supervisor address even if the PTE says user
    const up: EntryFlags = { p: true, rw: true, us: false };
    expect(walk4(baseCpu(), PRW_US, { kind: 'read', user: true }, up).errorCode).toBe(PF_P | PF_U);
    const upRo: EntryFlags = { p: true, rw: false, us: true };
    expect(walk4(baseCpu(), PRW_US, { kind: 'write', user: true }, upRo).errorCode).toBe(PF_P | PF_W | PF_U);
  });

  it('user fetch from an NX page with NXE=1: P|U|I/D', () => {
    const r = walk4(baseCpu(), { p: true, us: true, nx: true }, { kind: 'fetch', user: true });
    expect(r.errorCode).toBe(PF_P | PF_U | PF_ID);
  });

  it('XD in an upper level makes the page non-executable', () => {
    const r = walk4(baseCpu(), PRW_US, { kind: 'fetch', user: true }, { ...PRW_US, nx: true });
    expect(r.errorCode).toBe(PF_P | PF_U | PF_ID);
  });

  it('with NXE=0 bit 63 is reserved (RSVD), and a not-present fetch has no I/D', () => {
    const cpu = baseCpu({ eferNXE: false });
    const r = walk4(cpu, { p: true, us: true, nx: true }, { kind: 'fetch', user: true });
    expect(r.errorCode).toBe(PF_P | PF_RSVD | PF_U);
    const np = walk4(cpu, { p: false }, { kind: 'fetch', user: true });
    expect(np.errorCode).toBe(PF_U);
    // with SMEP=1 the I/D bit is there even without NXE
    const np2 = walk4(baseCpu({ eferNXE: false, cr4SMEP: true }), { p: false }, { kind: 'fetch', user: true });
    expect(np2.errorCode).toBe(PF_U | PF_ID);
  });

  it('supervisor fetch from a user page with SMEP=1: P|I/D (whatever XD and AC)', () => {
    const cpu = baseCpu({ cr4SMEP: true });
    expect(walk4(cpu, PRW_US, { kind: 'fetch', user: false }).errorCode).toBe(PF_P | PF_ID);
    expect(walk4(cpu, PRW_US, { kind: 'fetch', user: false, ac: true }).errorCode).toBe(PF_P | PF_ID);
    expect(walk4(baseCpu(), PRW_US, { kind: 'fetch', user: false }).status).toBe('ok');
  });

  it('PKRU.AD for key 1 on a user read: P|U|PK; key 0 page unaffected', () => {
    const cpu = baseCpu({ cr4PKE: true, pkru: 0b01 << 2 });
    expect(walk4(cpu, { ...PRW_US, pkey: 1 }, { kind: 'read', user: true }).errorCode).toBe(PF_P | PF_U | PF_PK);
    expect(walk4(cpu, { ...PRW_US, pkey: 0 }, { kind: 'read', user: true }).status).toBe('ok');
    // fetches are not subject to protection keys
    expect(walk4(cpu, { ...PRW_US, pkey: 1 }, { kind: 'fetch', user: true }).status).toBe('ok');
    // CR4.PKE=0: ignored
    expect(walk4(baseCpu({ pkru: 0b01 << 2 }), { ...PRW_US, pkey: 1 }, { kind: 'read', user: true }).status).toBe('ok');
  });

  it('PKRU.WD: user write faults; supervisor write only with WP=1; supervisor page unaffected', () => {
    const wd1 = 0b10 << 2;
    const page: EntryFlags = { ...PRW_US, pkey: 1 };
    expect(walk4(baseCpu({ cr4PKE: true, pkru: wd1 }), page, { kind: 'write', user: true }).errorCode).toBe(
      PF_P | PF_W | PF_U | PF_PK,
    );
    expect(walk4(baseCpu({ cr4PKE: true, pkru: wd1 }), page, { kind: 'read', user: true }).status).toBe('ok');
    expect(walk4(baseCpu({ cr4PKE: true, pkru: wd1 }), page, { kind: 'write', user: false }).status).toBe('ok');
    expect(
      walk4(baseCpu({ cr4PKE: true, pkru: wd1, cr0WP: true }), page, { kind: 'write', user: false }).errorCode,
    ).toBe(PF_P | PF_W | PF_PK);
    expect(
      walk4(baseCpu({ cr4PKE: true, pkru: 0b11 << 2 }), { p: true, rw: true, us: false, pkey: 1 }, {
        kind: 'write',
        user: true,
      }).errorCode,
    ).toBe(PF_P | PF_W | PF_U); // supervisor address: no PK, only U/S violation
  });

  it('PK is reported together with an ordinary violation (user write to RO page, WD=1)', () => {
    const cpu = baseCpu({ cr4PKE: true, pkru: 0b10 << 2 });
    expect(walk4(cpu, { p: true, us: true, pkey: 1 }, { kind: 'write', user: true }).errorCode).toBe(
      PF_P | PF_W | PF_U | PF_PK,
    );
  });
});

describe('model: walk order, not-present and reserved bits', () => {
  it('a not-present entry gives P=0 without RSVD even if reserved bits are set', () => {
    const raw = { 1: (1n << 51n) | E_RW | E_US }; // P=0
    const { phys, cr3 } = buildPath('paging4', VA, { 4: PRW_US, 3: PRW_US, 2: PRW_US }, 1, DATA, raw);
    const r = modelWalk(baseCpu(), cr3, VA, { kind: 'write', user: true }, phys.read);
    expect(r.errorCode).toBe(PF_W | PF_U);
    expect(r.level).toBe(1);
  });

  it('a higher-level not-present entry ends the walk before a reserved lower entry is read', () => {
    const raw = { 2: E_RW | E_US | (1n << 51n), 1: E_P | (1n << 51n) };
    const { phys, cr3 } = buildPath('paging4', VA, { 4: PRW_US, 3: PRW_US }, 1, DATA, raw);
    const r = modelWalk(baseCpu(), cr3, VA, { kind: 'read', user: false }, phys.read);
    expect(r.errorCode).toBe(0);
    expect(r.level).toBe(2);
    expect(r.steps.map((s) => s.level)).toEqual([4, 3, 2]);
  });

  it('PML4E bit 7 is reserved: P|RSVD at level 4', () => {
    const { phys, cr3 } = buildPath('paging4', VA, { 4: { ...PRW_US, ps: true }, 3: PRW_US, 2: PRW_US, 1: PRW_US });
    const r = modelWalk(baseCpu(), cr3, VA, { kind: 'read', user: true }, phys.read);
    expect(r.errorCode).toBe(PF_P | PF_RSVD | PF_U);
    expect(r.level).toBe(4);
  });

  it('reserved-bit worked example from the reference (4-level, M=46, NX=1)', () => {
    const cpu = baseCpu();
    expect(reservedMask(cpu, 2, E_PS)).toBe(0x000f_c000_001f_e000n);
    expect(reservedMask(cpu, 2, 0n)).toBe(0x000f_c000_0000_0000n);
    expect(reservedMask(cpu, 4, 0n)).toBe(0x000f_c000_0000_0080n);
    expect(reservedMask(cpu, 3, E_PS)).toBe(0x000f_c000_3fff_e000n);
    expect(reservedMask(baseCpu({ gbpages: false }), 3, E_PS) & E_PS).toBe(E_PS);
    expect(reservedMask(baseCpu({ eferNXE: false }), 1, 0n)).toBe(0x800f_c000_0000_0000n);
    expect(reservedMask(baseCpu({ maxPhyAddr: 52 }), 1, 0n)).toBe(0n);
  });

  it('PAE: PDE/PTE reserve bits 62:M; PDPTE reserves 2:1, 8:5, 63:M', () => {
    const cpu = baseCpu({ mode: 'pae', maxPhyAddr: 36 });
    expect(reservedMask(cpu, 1, 0n)).toBe(bitsRange(36, 62));
    expect(reservedMask(baseCpu({ mode: 'pae', maxPhyAddr: 36, eferNXE: false }), 1, 0n)).toBe(bitsRange(36, 63));
    expect(reservedMask(cpu, 2, E_PS)).toBe(bitsRange(36, 62) | bitsRange(13, 20));
    expect(reservedMask(cpu, 3, 0n)).toBe(0xffff_fff0_0000_01e6n);
  });

  it('32-bit paging: 4 MiB PDE reserves 21:17 (KVM) vs 21:(M\'-19) (SDM); PS ignored without PSE', () => {
    const c = (m: number, pse = true) => baseCpu({ mode: 'paging32', maxPhyAddr: m, cr4PSE: pse, eferNXE: false });
    expect(reservedMask(c(40), 2, E_PS)).toBe(bitsRange(17, 21));
    expect(reservedMask(c(40), 2, E_PS, { pse36: 'sdm' })).toBe(1n << 21n);
    expect(reservedMask(c(36), 2, E_PS, { pse36: 'sdm' })).toBe(bitsRange(17, 21));
    expect(reservedMask(c(32), 2, E_PS, { pse36: 'sdm' })).toBe(bitsRange(13, 21));
    expect(reservedMask(c(46), 2, E_PS, { pse36: 'sdm' })).toBe(1n << 21n);
    expect(reservedMask(c(40, false), 2, E_PS)).toBe(0n);
    expect(reservedMask(c(40), 1, E_PS)).toBe(0n);
  });
});

describe('model: A/D, page sizes and modes', () => {
  it('success sets A at every level and D only in the leaf, only for writes', () => {
    const read = walk4(baseCpu(), PRW_US, { kind: 'read', user: true });
    expect(read.steps.map((s) => s.final & (E_A | E_D))).toEqual([E_A, E_A, E_A, E_A]);
    const write = walk4(baseCpu(), PRW_US, { kind: 'write', user: true });
    expect(write.steps.map((s) => s.final & (E_A | E_D))).toEqual([E_A, E_A, E_A, E_A | E_D]);
  });

  it('2 MiB and 1 GiB leaves: GPA, level, and PAT bit 12 is not an address bit', () => {
    const { phys, cr3 } = buildPath('paging4', VA, { 4: PRW_US, 3: PRW_US, 2: PRW_US }, 2, 0x4000_0000n | 0x1000n);
    const r = modelWalk(baseCpu(), cr3, VA, { kind: 'read', user: true }, phys.read);
    expect(r.status).toBe('ok');
    expect(r.level).toBe(2);
    expect(r.gpa).toBe(0x4000_0000n | (VA & 0x1f_ffffn));
    const g = buildPath('paging4', VA, { 4: PRW_US, 3: PRW_US }, 3, 0x80_0000_0000n);
    const r1 = modelWalk(baseCpu(), g.cr3, VA, { kind: 'write', user: true }, g.phys.read);
    expect(r1.level).toBe(3);
    expect(r1.gpa).toBe(0x80_0000_0000n | (VA & 0x3fff_ffffn));
    expect(r1.steps[1]!.final & (E_A | E_D | E_PS)).toBe(E_A | E_D | E_PS);
    const r2 = modelWalk(baseCpu({ gbpages: false }), g.cr3, VA, { kind: 'read', user: true }, g.phys.read);
    expect(r2.errorCode).toBe(PF_P | PF_RSVD | PF_U);
  });

  it('5-level paging walks 5 entries', () => {
    const { phys, cr3 } = buildPath('paging5', VA5, { 5: PRW_US, 4: PRW_US, 3: PRW_US, 2: PRW_US, 1: PRW_US });
    const r = modelWalk(baseCpu({ mode: 'paging5' }), cr3, VA5, { kind: 'read', user: true }, phys.read);
    expect(r.status).toBe('ok');
    expect(r.steps.map((s) => s.level)).toEqual([5, 4, 3, 2, 1]);
    expect(r.gpa).toBe(DATA | 0xabcn);
  });

  it('PAE: the PDPTE gets no A bit and does not restrict rights; reserved PDPTE → #GP on CR3 load', () => {
    const va = 0xc012_3abcn;
    const { phys, cr3 } = buildPath('pae', va, { 3: { p: true }, 2: PRW_US, 1: PRW_US }, 1, 0x1234_5000n);
    const r = modelWalk(baseCpu({ mode: 'pae' }), cr3, va, { kind: 'write', user: true }, phys.read);
    expect(r.status).toBe('ok');
    expect(r.gpa).toBe(0x1234_5abcn);
    expect(r.steps.map((s) => s.final & (E_A | E_D))).toEqual([0n, E_A, E_A | E_D]);
    const bad = buildPath('pae', va, { 2: PRW_US, 1: PRW_US }, 1, 0x1234_5000n, { 3: makeEntry(TABLES + 0x1000n, { p: true, rw: true }) });
    expect(modelWalk(baseCpu({ mode: 'pae' }), bad.cr3, va, { kind: 'read', user: false }, bad.phys.read).status).toBe('gp');
    const np = buildPath('pae', va, {}, 1, 0x1234_5000n, { 3: 0n });
    const r3 = modelWalk(baseCpu({ mode: 'pae' }), np.cr3, va, { kind: 'fetch', user: false }, np.phys.read);
    expect([r3.errorCode, r3.level]).toEqual([PF_ID, 3]);
  });

  it('32-bit paging: 4 MiB page with PSE-36 bits, and PS ignored with CR4.PSE=0', () => {
    const va = 0x8765_4321n;
    const pde = 0xc040_0000n | (0x5n << 13n) | E_P | E_RW | E_US | E_PS;
    const { phys, cr3 } = buildPath('paging32', va, {}, 2, 0n, { 2: pde });
    const cpu = baseCpu({ mode: 'paging32', cr4PSE: true, eferNXE: false, maxPhyAddr: 36 });
    const r = modelWalk(cpu, cr3, va, { kind: 'read', user: true }, phys.read);
    expect(r.gpa).toBe(0x5_c040_0000n | (va & 0x3f_ffffn));
    expect(r.level).toBe(2);
    // PSE=0: same PDE points to a "table" at 0xc0400000 | bits → entry there is absent (zero) → not present at level 1
    const r2 = modelWalk({ ...cpu, cr4PSE: false }, cr3, va, { kind: 'read', user: true }, phys.read);
    expect([r2.status, r2.level, r2.errorCode]).toEqual(['fault', 1, PF_U]);
  });

  it('32-bit paging with NXE=1: SDM sets no I/D, KVM does (reference §5.1)', () => {
    const va = 0x0040_0abcn;
    const { phys, cr3 } = buildPath('paging32', va, { 2: PRW_US }, 1, 0n, { 1: 0n });
    const cpu = baseCpu({ mode: 'paging32', eferNXE: true });
    expect(modelWalk(cpu, cr3, va, { kind: 'fetch', user: true }, phys.read).errorCode).toBe(PF_U);
    expect(modelWalk(cpu, cr3, va, { kind: 'fetch', user: true }, phys.read, { idRule: 'kvm' }).errorCode).toBe(
      PF_U | PF_ID,
    );
    // 32-bit paging has no XD: a fetch from a present page is allowed even with NXE=1
    const ok = buildPath('paging32', va, { 2: PRW_US, 1: PRW_US });
    expect(modelWalk(cpu, ok.cr3, va, { kind: 'fetch', user: true }, ok.phys.read).status).toBe('ok');
  });

  it('no memory behind a table: not-present style error (KVM)', () => {
    const phys = new SparsePhys((g) => g < 0x1_0000_0000n);
    phys.write(TABLES + 8n * ((VA >> 39n) & 0x1ffn), 8, makeEntry(0x10_0000_0000n, PRW_US));
    const r = modelWalk(baseCpu(), TABLES, VA, { kind: 'write', user: true }, phys.read);
    expect([r.reason, r.errorCode, r.level]).toEqual(['no-memory', PF_W | PF_U, 3]);
  });

  it('entry helpers', () => {
    expect(makeEntry(0x1000n, { p: true, rw: true, us: true, nx: true, pkey: 3 })).toBe(
      0x1000n | E_P | E_RW | E_US | E_XD | (3n << 59n),
    );
  });
});
