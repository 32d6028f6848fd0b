/**
 * Corners where KVM (which the engine follows) and the SDM part ways, pinned explicitly, plus PAE
 * PDPTE-register and protection-key corners that the sweeps do not reach.
 *
 *  - 32-bit paging with EFER.NXE=1: SDM §4.7 sets I/D only for fetches with SMEP=1 or
 *    (CR4.PAE=1 and NXE=1); KVM's walker tests `efer_nx || cr4_smep` (reference §5.1).
 *  - 4 MiB PDEs: KVM always reserves bits 21:17 (it assumes PSE-36); the SDM reserves bits
 *    21:(M'-19) with M' = min(MAXPHYADDR, 40) (reference §3.5).
 */
import { describe, it, expect } from 'vitest';
import { DEFAULT_KVM_VERSION, GuestMemory, GvaWalker, InvalidRegisterStateError, KVM_VERSIONS, PageTableBuilder, gpa, gva, type KvmVersion } from '../../src';
import {
  PF_ID,
  PF_P,
  PF_PK,
  PF_RSVD,
  PF_U,
  E_A,
  E_P,
  E_PS,
  E_RW,
  E_US,
  modelWalk,
  reservedMask,
  type ModelAccess,
  type ModelCpu,
  type PagingMode,
} from '../model/sdm-paging-model';
import { memReader, regsFor } from './model-compare';

const cpuOf = (mode: PagingMode, over: Partial<ModelCpu> = {}): ModelCpu => ({
  mode,
  maxPhyAddr: 46,
  gbpages: true,
  vendor: 'intel',
  cr0WP: true,
  cr4PSE: false,
  cr4SMEP: false,
  cr4SMAP: false,
  cr4PKE: false,
  eferNXE: false,
  pkru: 0,
  ...over,
});

const features = (cpu: ModelCpu) => ({
  maxPhyAddr: cpu.maxPhyAddr,
  nx: true,
  gbpages: cpu.gbpages,
  la57: true,
  smep: true,
  smap: true,
  pku: true,
  vendor: 'intel' as const,
});

function world(mode: PagingMode, maxPhyAddr = 46) {
  const mem = new GuestMemory({ maxPhyAddr });
  mem.addSlot({ base: gpa(0n), size: 1n << 32n });
  const b = new PageTableBuilder(mem, { mode, pool: { base: gpa(0x100000n), size: 0x400000n } });
  return { mem, b, root: BigInt(b.root) };
}

function walkBoth(w: ReturnType<typeof world>, cpu: ModelCpu, va: bigint, acc: ModelAccess, kvmVersion: KvmVersion = DEFAULT_KVM_VERSION) {
  const read = memReader(w.mem);
  const kvm = modelWalk(cpu, w.root, va, acc, read, { idRule: 'kvm', pse36: 'kvm' });
  const sdm = modelWalk(cpu, w.root, va, acc, read, { idRule: 'sdm', pse36: 'sdm' });
  const walker = new GvaWalker(w.mem, regsFor(cpu, w.root), features(cpu), undefined, kvmVersion);
  const r = walker.walk(gva(va), { kind: acc.kind, user: acc.user, implicit: acc.implicit ?? false, ac: acc.ac ?? false });
  return { kvm, sdm, engineCode: r.status === 'fault' ? r.errorCode : 0, r };
}

describe('32-bit paging, EFER.NXE=1: the I/D bit (KVM sets it, the SDM does not)', () => {
  const va = 0x0040_3abcn;
  const cases: Array<{ name: string; pte: bigint; acc: ModelAccess; kvm: number; sdm: number; smep?: boolean }> = [
    { name: 'user fetch, PTE not present', pte: 0n, acc: { kind: 'fetch', user: true }, kvm: PF_U | PF_ID, sdm: PF_U },
    { name: 'supervisor fetch, PTE not present', pte: 0n, acc: { kind: 'fetch', user: false }, kvm: PF_ID, sdm: 0 },
    {
      name: 'user fetch from a supervisor page',
      pte: 0x1234_5000n | E_P | E_RW,
      acc: { kind: 'fetch', user: true },
      kvm: PF_P | PF_U | PF_ID,
      sdm: PF_P | PF_U,
    },
    // with SMEP=1 both agree
    {
      name: 'supervisor fetch from a user page, SMEP=1',
      pte: 0x1234_5000n | E_P | E_RW | E_US,
      acc: { kind: 'fetch', user: false },
      kvm: PF_P | PF_ID,
      sdm: PF_P | PF_ID,
      smep: true,
    },
  ];
  // v6.16 adds I/D when EFER.NX or CR4.SMEP (reference §5.1); 7.3 when ext.has_pferr_fetch, which
  // kvm_calc_cpu_role sets from the same two bits (kvm-7x.md §1.5, §3.3): both versions agree.
  for (const kvmVersion of KVM_VERSIONS) for (const c of cases) {
    it(`KVM ${kvmVersion}: ${c.name}`, () => {
      const w = world('paging32');
      w.b.map(gva(va & ~0xfffn), gpa(0x1234_5000n), { size: '4K', flags: { writable: true, user: true } });
      w.b.setEntry(gva(va), 1, c.pte);
      const cpu = cpuOf('paging32', { eferNXE: true, cr4SMEP: c.smep ?? false });
      const { kvm, sdm, engineCode } = walkBoth(w, cpu, va, c.acc, kvmVersion);
      expect(kvm.errorCode).toBe(c.kvm);
      expect(sdm.errorCode).toBe(c.sdm);
      expect(engineCode, 'the engine follows KVM').toBe(c.kvm);
      // and with NXE=0 nobody sets I/D (unless SMEP)
      const off = walkBoth(w, cpuOf('paging32', { eferNXE: false, cr4SMEP: c.smep ?? false }), va, c.acc, kvmVersion);
      expect(off.engineCode).toBe(c.smep ? c.kvm : c.sdm);
    });
  }
});

describe('32-bit paging, 4 MiB PDE: reserved bits 21:13 (KVM assumes PSE-36)', () => {
  const va = 0x0800_1abcn;
  const bitsWith = (pred: (b: number) => boolean) => [13, 14, 15, 16, 17, 18, 19, 20, 21].filter(pred);
  // SDM: bits 21:(M'-19) reserved, M' = min(MAXPHYADDR, 40); KVM: always 21:17.
  const table: Array<{ M: number; sdmOnly: number[]; kvmOnly: number[] }> = [
    { M: 32, sdmOnly: [13, 14, 15, 16], kvmOnly: [] },
    { M: 36, sdmOnly: [], kvmOnly: [] },
    { M: 39, sdmOnly: [], kvmOnly: [17, 18, 19] },
    { M: 40, sdmOnly: [], kvmOnly: [17, 18, 19, 20] },
    { M: 46, sdmOnly: [], kvmOnly: [17, 18, 19, 20] },
    { M: 52, sdmOnly: [], kvmOnly: [17, 18, 19, 20] },
  ];
  for (const row of table) {
    it(`MAXPHYADDR=${row.M}`, () => {
      const w = world('paging32', row.M);
      w.b.map(gva(0x0800_0000n), gpa(0x0840_0000n), { size: '4M', flags: { writable: true, user: true } });
      const base = w.b.getEntry(gva(va), 2).value;
      const cpu = cpuOf('paging32', { cr4PSE: true, maxPhyAddr: row.M });
      const engineRsvd: number[] = [];
      for (let b = 13; b <= 21; b++) {
        w.b.setEntry(gva(va), 2, base | (1n << BigInt(b)));
        const { engineCode, kvm } = walkBoth(w, cpu, va, { kind: 'read', user: true });
        expect(engineCode, `bit ${b}`).toBe(kvm.errorCode);
        if (engineCode & PF_RSVD) engineRsvd.push(b);
        w.b.setEntry(gva(va), 2, base);
      }
      expect(engineRsvd, 'engine = KVM: bits 21:17').toEqual([17, 18, 19, 20, 21]);
      const sdmMask = reservedMask(cpu, 2, E_PS, { pse36: 'sdm' });
      const sdmBits = bitsWith((b) => ((sdmMask >> BigInt(b)) & 1n) === 1n);
      expect(sdmBits.filter((b) => !engineRsvd.includes(b)), 'reserved by the SDM only').toEqual(row.sdmOnly);
      expect(engineRsvd.filter((b) => !sdmBits.includes(b)), 'reserved by KVM only').toEqual(row.kvmOnly);
    });
  }

  it('PSE-36 address bits 16:13 give PA bits 35:32', () => {
    const w = world('paging32', 46);
    w.b.map(gva(0x0800_0000n), gpa(0x0840_0000n), { size: '4M', flags: { writable: true, user: true } });
    const base = w.b.getEntry(gva(va), 2).value;
    w.b.setEntry(gva(va), 2, base | (0b1011n << 13n));
    const { kvm, r } = walkBoth(w, cpuOf('paging32', { cr4PSE: true }), va, { kind: 'read', user: true });
    expect(kvm.gpa).toBe(0xb_0840_0000n | (va & 0x3f_ffffn));
    expect(r.status === 'ok' ? BigInt(r.gpa) : -1n).toBe(kvm.gpa);
  });
});

describe('PAE: the PDPTE registers', () => {
  const va = 0xc012_3abcn;
  const setup = () => {
    const w = world('pae');
    w.b.map(gva(va & ~0xfffn), gpa(0x1234_5000n), { size: '4K', flags: { writable: true, user: true } });
    return w;
  };
  const cpu = cpuOf('pae', { eferNXE: true });

  it('a not-present PDPTE: #PF with P=0 at level 3, even with junk in the other bits (no #GP)', () => {
    for (const junk of [0n, 0xffff_ffff_ffff_fffen]) {
      const w = setup();
      w.b.setEntry(gva(va), 3, junk);
      for (const acc of [
        { kind: 'write', user: true },
        { kind: 'fetch', user: false },
      ] as ModelAccess[]) {
        const { kvm, engineCode, r } = walkBoth(w, cpu, va, acc);
        expect(kvm.status).toBe('fault');
        expect(engineCode).toBe(kvm.errorCode);
        expect(r.status === 'fault' ? r.level : 0).toBe(3);
        expect(engineCode & PF_P).toBe(0);
      }
    }
  });

  it('a present PDPTE with a reserved bit: loading CR3 fails (#GP), not a #PF', () => {
    for (const bit of [1, 2, 5, 6, 7, 8, 46, 52, 63]) {
      const w = setup();
      const base = w.b.getEntry(gva(va), 3).value;
      w.b.setEntry(gva(va), 3, base | (1n << BigInt(bit)));
      const m = modelWalk(cpu, w.root, va, { kind: 'read', user: false }, memReader(w.mem));
      expect(m.status, `bit ${bit}`).toBe('gp');
      expect(() => new GvaWalker(w.mem, regsFor(cpu, w.root), features(cpu)), `bit ${bit}`).toThrow(InvalidRegisterStateError);
    }
  });

  it('the walk uses the PDPTEs loaded at MOV CR3, sets no A in them, and sees memory changes only after a reload', () => {
    const w = setup();
    const walker = new GvaWalker(w.mem, regsFor(cpu, w.root), features(cpu));
    const pdpte = w.b.getEntry(gva(va), 3);
    const r1 = walker.walk(gva(va), { kind: 'write', user: true });
    expect(r1.status).toBe('ok');
    expect(w.b.getEntry(gva(va), 3).value, 'PAE PDPTEs have no A bit').toBe(pdpte.value);
    expect(w.b.getEntry(gva(va), 2).value & E_A).toBe(E_A);
    w.b.setEntry(gva(va), 3, 0n); // in memory only
    expect(walker.walk(gva(va), { kind: 'read', user: true }).status, 'stale PDPTE register still used').toBe('ok');
    walker.reloadPdptrs();
    const r3 = walker.walk(gva(va), { kind: 'read', user: true });
    expect(r3.status === 'fault' ? [r3.errorCode, r3.level] : 'ok').toEqual([PF_U, 3]);
  });
});

describe('protection keys: every key, AD and WD', () => {
  it('keys 0..15 against PKRU patterns, user and supervisor accesses, WP on/off', () => {
    const va = 0x0000_7f12_3456_7abcn;
    const w = world('paging4');
    w.b.map(gva(va & ~0xfffn), gpa(0x1234_5000n), { size: '4K', flags: { writable: true, user: true } });
    const base = w.b.getEntry(gva(va), 1).value;
    let n = 0;
    for (let k = 0; k < 16; k++) {
      const patterns = [0, 1 << (2 * k), 2 ** (2 * k + 1), 3 * 4 ** k, (0xffff_ffff & ~(3 * 4 ** k)) >>> 0, 0xffff_ffff];
      for (const pkru of patterns)
        for (const wp of [false, true]) {
          const cpu = cpuOf('paging4', { cr4PKE: true, pkru: pkru >>> 0, cr0WP: wp, eferNXE: true });
          w.b.setEntry(gva(va), 1, base | (BigInt(k) << 59n));
          const walker = new GvaWalker(w.mem, regsFor(cpu, w.root), features(cpu));
          for (const acc of [
            { kind: 'read', user: true },
            { kind: 'write', user: true },
            { kind: 'write', user: false },
            { kind: 'read', user: false, implicit: true },
            { kind: 'fetch', user: true },
          ] as ModelAccess[]) {
            w.b.setEntry(gva(va), 1, base | (BigInt(k) << 59n));
            const m = modelWalk(cpu, w.root, va, acc, memReader(w.mem));
            const r = walker.walk(gva(va), { kind: acc.kind, user: acc.user, implicit: acc.implicit ?? false });
            const code = r.status === 'fault' ? r.errorCode : 0;
            expect(code, `key ${k} PKRU=${pkru.toString(16)} WP=${wp} ${JSON.stringify(acc)}`).toBe(m.errorCode);
            n++;
          }
        }
    }
    expect(n).toBe(16 * 6 * 2 * 5);
    // spot check from the SDM text: AD for key 15 blocks a user read of a key-15 page
    const cpu = cpuOf('paging4', { cr4PKE: true, pkru: 0x4000_0000, eferNXE: true });
    w.b.setEntry(gva(va), 1, base | (15n << 59n));
    const r = new GvaWalker(w.mem, regsFor(cpu, w.root), features(cpu)).walk(gva(va), { kind: 'read', user: true });
    expect(r.status === 'fault' ? r.errorCode : 0).toBe(PF_P | PF_U | PF_PK);
  });
});

describe('protection keys outside 4/5-level paging', () => {
  it('CR4.PKE=1 with PAE or 32-bit paging: PKRU is ignored (SDM §4.6.2; KVM: cr4_pke only with LMA)', () => {
    for (const mode of ['pae', 'paging32'] as const) {
      const va = 0x0040_3abcn;
      const w = world(mode);
      w.b.map(gva(va & ~0xfffn), gpa(0x1234_5000n), { size: '4K', flags: { writable: true, user: true } });
      const cpu = cpuOf(mode, { cr4PKE: true, pkru: 0xffff_ffff, cr0WP: true });
      for (const acc of [
        { kind: 'read', user: true },
        { kind: 'write', user: true },
        { kind: 'write', user: false },
      ] as ModelAccess[]) {
        const { kvm, r } = walkBoth(w, cpu, va, acc);
        expect(kvm.status, `${mode} ${acc.kind}`).toBe('ok');
        expect(r.status, `${mode} ${acc.kind}`).toBe('ok');
      }
    }
  });
});
