/**
 * Property: on a shadow VM, every guest access — read, write or fetch, user or supervisor, with
 * EFLAGS.AC — through random guest PTEs (P, W, U, NX, D, protection key) and PDEs (W, U, NX) onto
 * RAM, a ROM slot or an MMIO gfn, under random CR0.WP and CR4.SMEP/SMAP, and repeated
 * so that later accesses meet the SPTEs and cached MMIO SPTEs the earlier ones built, ends as the
 * independent SDM model (test/model) decides: the same #PF error code, or success — reaching the
 * memslot's frame for RAM and ROM reads, emulated for MMIO and for writes to ROM.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CR0, CR4 } from '../../src';
import { modelWalk, type ModelCpu } from '../model/sdm-paging-model';
import { shadowFixture } from './fixtures';

const NPAGES = 8;
const VA = (i: number) => 0x7000_0000n + BigInt(i >> 2) * 0x20_0000n + BigInt(i & 3) * 0x1000n;
const RAM = 0x80_0000n;
const ROM = 0x4000_0000n; // a read-only slot
const MMIO = 0x5000_0000n; // no slot

type Target = 'ram' | 'rom' | 'mmio';
interface Pte { p: boolean; w: boolean; u: boolean; nx: boolean; d: boolean; pkey: number; target: Target }
interface Pde { w: boolean; u: boolean; nx: boolean }
interface Access { page: number; kind: 'read' | 'write' | 'fetch'; user: boolean; ac: boolean }

const pteArb: fc.Arbitrary<Pte> = fc.record({
  p: fc.boolean(), w: fc.boolean(), u: fc.boolean(), nx: fc.boolean(), d: fc.boolean(), pkey: fc.nat(3),
  target: fc.constantFrom<Target>('ram', 'rom', 'mmio'),
});
const pdeArb: fc.Arbitrary<Pde> = fc.record({ w: fc.boolean(), u: fc.boolean(), nx: fc.boolean() });
const accessArb: fc.Arbitrary<Access> = fc.record({ page: fc.nat(NPAGES - 1), kind: fc.constantFrom('read' as const, 'write' as const, 'fetch' as const), user: fc.boolean(), ac: fc.boolean() });
interface Cpu { wp: boolean; smep: boolean; smap: boolean; pke: boolean; pkru: number }
// CR4.PKE stays off: KVM offers no PKU without TDP (cpuid.c:937-941), so a shadow-paging guest
// never runs with it (setting it #GPs: test/vm/register-writes.test.ts).
const cpuArb: fc.Arbitrary<Cpu> = fc.record({ wp: fc.boolean(), smep: fc.boolean(), smap: fc.boolean(), pke: fc.constant(false), pkru: fc.nat(0xff) });

function run(cpu: Cpu, pdes: Pde[], ptes: Pte[], accesses: Access[]): void {
  const cr0 = CR0.PE | CR0.PG | (cpu.wp ? CR0.WP : 0n);
  const cr4 = (cpu.smep ? CR4.SMEP : 0n) | (cpu.smap ? CR4.SMAP : 0n) | (cpu.pke ? CR4.PKE : 0n);
  const f = shadowFixture('paging4', { hostPageSize: '4K', checking: false, extraRegs: { cr0, cr4 } });
  const rom = f.vm.addMemslot({ base: ROM, size: 0x10_0000n, name: 'rom', readonly: true, hostPageSize: '4K' });
  f.v.setRegisters({ pkru: cpu.pkru });
  const targetGpa = (t: Target, i: number) => (t === 'ram' ? RAM : t === 'rom' ? ROM : MMIO) + BigInt(i) * 0x1000n;
  for (let i = 0; i < NPAGES; i++) {
    const e = ptes[i]!;
    f.pt.map(VA(i), targetGpa(e.target, i), { flags: { writable: e.w, user: e.u, nx: e.nx, accessed: true, dirty: e.d, pkey: e.pkey, notPresent: !e.p } });
  }
  for (let h = 0; h < NPAGES / 4; h++) {
    const d = pdes[h]!;
    const pde = f.pt.getEntry(VA(h * 4), 2).value;
    f.pt.setEntry(VA(h * 4), 2, (pde & ~(6n | (1n << 63n))) | (d.w ? 2n : 0n) | (d.u ? 4n : 0n) | (d.nx ? 1n << 63n : 0n) | 0x20n);
  }
  // The guest changed its tables without the MMU knowing: a flush (MOV CR3) before it runs.
  f.v.setRegisters({ cr3: f.pt.root });
  const mc: ModelCpu = { mode: 'paging4', maxPhyAddr: f.vm.guestMem.maxPhyAddr, gbpages: true, cr0WP: cpu.wp, cr4PSE: false, cr4SMEP: cpu.smep, cr4SMAP: cpu.smap, cr4PKE: cpu.pke, eferNXE: true, pkru: cpu.pkru };
  const mem = f.vm.guestMem;
  const read = (gpa: bigint, size: 4 | 8) => (mem.slotOf(Number(gpa >> 12n)) === undefined ? undefined : size === 4 ? BigInt(mem.read32(gpa as never)) : mem.read64(gpa as never));
  for (const a of accesses) {
    const m = modelWalk(mc, f.v.regs.cr3, VA(a.page), { kind: a.kind, user: a.user, ac: a.ac }, read, { idRule: 'kvm' });
    const r = f.v.access(VA(a.page), { kind: a.kind, user: a.user, ac: a.ac });
    const what = `${a.kind} ${a.user ? 'user' : 'supervisor'}${a.ac ? '+AC' : ''} page ${a.page} ${JSON.stringify(ptes[a.page])}`;
    if (m.status !== 'ok') {
      expect([what, r.status, r.guestWalk.status === 'fault' ? r.guestWalk.errorCode : -1]).toEqual([what, 'guest-pf', m.errorCode]);
      continue;
    }
    const t = ptes[a.page]!.target;
    const want = t === 'mmio' || (t === 'rom' && a.kind === 'write') ? 'emulated' : 'ok';
    expect([what, r.status]).toEqual([what, want]);
    if (want === 'ok') {
      const slot = t === 'rom' ? rom : f.ram;
      expect(BigInt(r.hpa!) >> 12n).toBe(BigInt(slot.pfnBase) + ((m.gpa! - BigInt(slot.base)) >> 12n));
    }
  }
}

describe('shadow paging accesses against the SDM model', () => {
  it('MMIO, ROM, user/fetch/NX, SMEP/SMAP: every outcome as the model decides', () => {
    fc.assert(
      fc.property(cpuArb, fc.array(pdeArb, { minLength: 2, maxLength: 2 }), fc.array(pteArb, { minLength: NPAGES, maxLength: NPAGES }), fc.array(accessArb, { minLength: 8, maxLength: 30 }), run),
      { numRuns: 150, seed: 0x5eed9 },
    );
  });
});
