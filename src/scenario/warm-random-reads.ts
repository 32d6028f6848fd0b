/**
 * Random reads over a footprint KVM has already mapped (a warm-up read of every page first, so
 * the measured reads take no exit): the TLB misses, the walk references they cost after the
 * paging-structure and nested caches, and the modelled cycles. An EPT VM, a 4-level guest.
 */
import { PageTableBuilder } from '../builder/page-table-builder';
import { longMode } from '../cpu/paging-modes';
import type { TlbConfigSpec } from '../tlb/tlb-config';
import { Vm } from '../vm/vm';
import { xorshift } from '../workload/generators';
import { checkBigint, checkEnum, checkInt, checkObject, refuse } from '../validate/checks';
import { hex } from '../errors';

export interface WarmRandomReadsParams {
  /** The TLB model's configuration (caches turned off with `{ entries: 0, ways: 1 }`). */
  tlb: TlbConfigSpec;
  /** Host page size of RAM, so the TDP leaf size (`kvm_mmu_hugepage_adjust`). */
  hostPageSize: '4K' | '2M';
  /** Pages mapped, `stride` bytes apart in both the linear and the guest-physical space. */
  pages: number;
  stride: bigint;
  /** Measured reads, at seeded random pages. */
  accesses: number;
  seed: number;
}

export interface WarmRandomReads {
  exits: number;
  /** Measured reads that missed the TLB and walked. */
  misses: number;
  /** Memory references of those walks. */
  walkRefs: number;
  /** Modelled cycles of the measured reads. */
  cycles: number;
}

/** First linear address of the footprint (a PML4 slot of its own); its GPAs start at 16 MiB. */
const VA0 = 0x40_0000_0000n;
const GPA0 = 0x100_0000n;

export function warmRandomReads(p: WarmRandomReadsParams): WarmRandomReads {
  checkObject('p', p);
  checkEnum('p.hostPageSize', p.hostPageSize, ['4K', '2M']);
  // The footprint lies in one PML4 slot (512 GiB) from VA0 and in the 1 GiB of RAM from 16 MiB.
  const stride = checkBigint('p.stride', p.stride, { min: 0x1000n, max: 1n << 30n, align: 0x1000n });
  const pages = checkInt('p.pages', p.pages, { min: 1, max: 0x1_0000 });
  if (BigInt(pages) * stride > (1n << 30n) - GPA0) refuse('p.pages', 'footprint', `× p.stride must fit the ${hex((1n << 30n) - GPA0)} bytes of RAM above ${hex(GPA0)}`, pages);
  checkInt('p.accesses', p.accesses, { max: 1 << 24 });
  checkInt('p.seed', p.seed, { max: 0xffff_ffff });
  const vm = new Vm({ spte: { flavour: 'ept' }, tlb: p.tlb });
  vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: p.hostPageSize });
  const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
  const vaOf = (i: number): bigint => VA0 + BigInt(i) * p.stride;
  for (let i = 0; i < p.pages; i++) pt.map(vaOf(i), GPA0 + BigInt(i) * p.stride, { flags: { writable: true } });
  const v = vm.createVcpu(longMode({ cr3: pt.root }));
  for (let i = 0; i < p.pages; i++) v.read(vaOf(i));
  const rnd = xorshift(p.seed);
  const out: WarmRandomReads = { exits: 0, misses: 0, walkRefs: 0, cycles: 0 };
  for (let i = 0; i < p.accesses; i++) {
    const r = v.read(vaOf(rnd() % p.pages));
    out.cycles += r.cycles!;
    out.exits += r.exits.length;
    if (r.tlb === 'miss') {
      out.walkRefs += r.walkRefs!;
      out.misses++;
    }
  }
  return out;
}
