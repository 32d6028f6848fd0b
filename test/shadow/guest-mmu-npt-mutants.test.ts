/**
 * Nested NPT (src/shadow/guest-mmu-npt.ts) and what both guest_mmu flavours share
 * (src/shadow/nested-access.ts): what mutation testing showed the other tests miss — PAE NPT12
 * PDPTEs beyond the first (read at entry, at each KVM walk and again when a root is reloaded), L1's
 * CPUID for NPT12's reserved bits, GMET in NPT02 and in the re-walk for L1's NPF, frame 0 of L1,
 * nGPAs beyond a 32-bit NPT12, the MMIO fast path and its counters, the records of entries, exits,
 * syncs and reflected NPFs, a #PF delivered to L2, a second memslot, and the invalidation of the
 * faulting address before a fault is reflected.
 *
 * Equivalent mutants left (line numbers of f41bd2a; no input can tell them apart):
 * guest-mmu-npt.ts
 * - 71 `pse: false` → true: NPT02 uses the 4/5-level format, where PSE selects nothing.
 * - 71 `cr4Smep: false` → true: with GMET a supervisor fetch from a U=1 NPT02 page faults anyway.
 * - 71 `maxHugePageLevel >= 3` (4): without 1 GiB host pages KVM builds no 1 GiB NPT02 leaf, and the
 *   tests' L1 memory has none (a 1 GiB-backed slot would kill `false`/`> 3`: not done).
 * - 77 `i < 4` → `i <= 4`: a fifth PDPTE is never read (pae_root has four entries).
 * - 79 `< 0` → false (and its block): nCR3's 32-byte PDPT lies in one page, which the entry
 *   checked is in L1 memory; `<= 0` (a PAE PDPT at L1 GPA 0) is not killed.
 * - 102 `active = false` → true: the object is created only by `enterNestedNpt`, which sets it.
 * - 120 `!mbec` → false: without GMET every NPT access is user (the walker's default) and the
 *   error code always has PFERR_USER, so the closure gives the same walk.
 * - 139, 140, 141 `!== undefined` → true: an absent and an undefined option are the same.
 * - 156 `levels === 3` → true: the PDPTE copies are read only through a PAE format or root.
 * - 171 `isPae` (3): ShadowContext never reads isPae.
 * - 204 `syncRequested = true` → false, 209 `= false` → true: syncRoots does not read the flag, and
 *   every VMRUN sets it again.
 * - 219 `hpa < 0` → true / `<= 0`: mmuLoad returns at once with a valid root (a table frame, never 0).
 * - 221 `pdptHalves !== undefined` → true: a non-PAE root reads no PDPTEs.
 * - 242 `g < 0` → false (and its texts): an NPT02 leaf always maps a memslot's frame (an invariant).
 * - 255 `i * 2 + 1` → `i * 2 - 1`: the high halves of these PDPTEs are 0 (tables below 4 GiB).
 * - 270 `isMmioSpte` → true, 272 (2): an RSVD NPF stops at an MMIO SPTE, so the RET_PF_RETRY branch
 *   (handle_mmio_page_fault's, mmu.c:4359-4363) is not reached.
 * - 278, 288, 295 'NPT12' and `?.`: the text of an invariant violation; an NPF always has its
 *   pending record.
 * - 316 `attempt <= MAX` → `<`: no access needs eight exits.
 * - l2PdptesThroughNpt12's `frameOfUnchecked(g) < 0` → `<= 0`: guest memory's frame index 0 is never
 *   an L1 RAM page the PDPT can sit in (none of the fixture's 1 GiB RAM gfns has it); the PDPT at
 *   L1 GPA 0 and outside L1 memory are tested in test/shadow/nested-pae-pdptes.test.ts.
 * Not killed yet: 126 (the rootRole getter), 151 (L2's CPUID: the hardware walk of L2's tables does
 * not read it), 294 (the record of an NPF found by the emulator's walk), 336 (no-progress texts).
 * nested-access.ts
 * - 54 (4): the invariant of the second look; both walks read the same L1 memory.
 * - 96 `find(...)` → true: not killed (needs a slot list where the first slot is not the data's).
 * - 100 `guestWalk.status === 'ok'` → true: the walk ended Ok, so the record is 'ok'.
 * Not killed yet: 58 (RET_PF_WRITE_PROTECTED: L2 writing its own EPT12/NPT12 page), 62 `true`, 63
 * (RET_PF_SPURIOUS), 82 (an emulation that is not MMIO).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, DEFAULT_FEATURES, EPT_QUAL, GpaOutsideMemoryError, InvalidArgumentError, InvalidRegisterStateError } from '../../src';
import { nestedNpt, GVA, DATA_N, DATA_G, L1_LONG, L2_LONG } from './nested-npt-fixture';
import { nested, DM, GVA as EGVA, DATA_N as EDATA_N, DATA_G as EDATA_G } from './nested-fixture';

const P = 1n, RW = 2n, US = 4n, NX = 1n << 63n;
const FINAL = 2 ** 32; // svm/nested.c:49-54: EXITINFO1 keeps the hardware exit's bit 32 (GUEST_FINAL)

function npf(r: ReturnType<ReturnType<typeof nestedNpt>['v']['read']>): number {
  expect(r.status).toBe('l1-exit');
  if (r.nestedExit?.kind !== 'npf') throw new Error('no NPF');
  return r.nestedExit.exitInfo1;
}

function thrown(f: () => unknown): Error & { rule?: string; value?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { rule?: string; value?: string };
  }
  throw new Error('nothing thrown');
}

describe('nested NPT: a PAE NPT12 (nested_svm_get_tdp_pdptr) beyond its first PDPTE', () => {
  it('an nGPA under PDPTE 1 is translated: the PDPTEs come from nCR3 + 8 * index (svm/nested.c:59-72)', () => {
    const n = nestedNpt({ npt12: 'pae' });
    n.npt.map(0x4000_0000n, DATA_G, { flags: { writable: true, user: true } });
    n.l2pt.map(GVA + 0x10_0000n, 0x4000_0000n, { flags: { writable: true } });
    n.enter();
    // mmu_alloc_shadow_roots reads the four PDPTEs through get_pdptr (mmu.c:3968); each KVM walk
    // of NPT12 reads them again (FNAME(walk_addr_generic) with mmu->get_pdptr).
    const r = n.v.read(GVA + 0x10_0010n);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(DATA_G));
  });

  it('a root reloaded after a fast zap reads the PDPTEs L1 wrote since the entry', () => {
    const n = nestedNpt({ npt12: 'pae' });
    n.enter();
    expect(n.v.read(GVA).status).toBe('ok');
    // L1's PDPT is not shadowed by a shadow page (pae_root holds copies), so KVM sees a new PDPTE
    // only when it builds a root: kvm_mmu_zap_all_fast makes the root obsolete, the next entry
    // frees it (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS) and mmu_alloc_shadow_roots reads get_pdptr (mmu.c:3968).
    n.npt.map(0x8000_0000n, DATA_G + 0x1000n, { flags: { writable: true, user: true } });
    n.l2pt.map(GVA + 0x10_0000n, 0x8000_0000n, { flags: { writable: true } });
    n.vm.zapAllFast();
    const r = n.v.read(GVA + 0x10_0000n);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(DATA_G + 0x1000n));
  });

  it('L2 using an nGPA at 4 GiB with a 32-bit NPT12 is refused (typed error) instead of aliasing into pae_root', () => {
    const n = nestedNpt({ npt12: 'pae' });
    n.l2pt.map(GVA + 0x10_0000n, 0x1_0000_0000n, { flags: { writable: true } });
    n.enter();
    const e = thrown(() => n.v.read(GVA + 0x10_0000n));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect([e.rule, e.value]).toEqual(['ngpa-beyond-npt12', '0x100000000']);
    expect(e.message).toMatch(/L2 used an nGPA beyond what the 3-level NPT12 translates/);
  });
});

describe("nested NPT: L1's CPUID and frame 0", () => {
  it('L1 without 1 GiB pages: a 1 GiB NPT12 leaf has a reserved bit, an NPF with RSVD for L1', () => {
    for (const gbpages of [false, true]) {
      const n = nestedNpt();
      n.npt.map(0x4000_0000n, 0n, { size: '1G', flags: { writable: true, user: true } });
      n.l2pt.map(GVA + 0x10_0000n, 0x4000_0000n + DATA_G, { flags: { writable: true } });
      n.v.enterNestedNpt({ ncr3: n.ncr3, l1: { ...n.l1Regs, cr3: n.l1pt.root }, l2: { ...L2_LONG, cr3: n.l2pt.root }, features: { ...DEFAULT_FEATURES, gbpages } });
      const r = n.v.read(GVA + 0x10_0000n);
      if (gbpages) {
        expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(DATA_G));
        continue;
      }
      // reset_guest_rsvds_bits_mask (mmu.c:5211) with L1's CPUID: without GBPAGES bit 7 of a PDPTE
      // is reserved (mmu.c:5129-5130); paging_tmpl.h:421 RSVD|P, :477 | user (every NPT access).
      expect(npf(r)).toBe(FINAL + 0xd);
    }
  });

  it('nCR3 at L1 GPA 0 and data at L1 GPA 0 are in L1 memory', () => {
    const vm = new Vm({ spte: { flavour: 'npt' }, checkInvariants: true });
    const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
    const npt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0n, size: 0x10_0000n } });
    const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
    expect(npt.root).toBe(0n);
    npt.map(0x100_0000n, 0x100_0000n, { count: 16, flags: { writable: true, user: true } });
    npt.map(DATA_N, 0x30_0000n, { flags: { writable: true, user: true } });
    l2pt.map(GVA, DATA_N, { flags: { writable: true } });
    const v = vm.createVcpu({ ...L1_LONG, cr3: l1pt.root });
    v.enterNestedNpt({ ncr3: 0n, l1: { ...L1_LONG, cr3: l1pt.root }, l2: { ...L2_LONG, cr3: l2pt.root } });
    expect(BigInt(v.read(GVA + 8n).hpa!)).toBe(BigInt(ram.pfnBase) * 4096n + 0x30_0008n);
    // An L2 page at L1 GPA 0 itself (the NPT12 root's frame; L1 may map it to L2).
    npt.map(DATA_N + 0x1000n, 0n, { flags: { writable: true, user: true } });
    l2pt.map(GVA + 0x1000n, DATA_N + 0x1000n, { flags: { writable: true } });
    v.exitNested();
    v.enterNestedNpt({ ncr3: 0n, l1: { ...L1_LONG, cr3: l1pt.root }, l2: { ...L2_LONG, cr3: l2pt.root } });
    const r = v.read(GVA + 0x1010n);
    expect(r.l1Gpa).toBe(0x10n);
    expect(BigInt(r.hpa!)).toBe(BigInt(ram.pfnBase) * 4096n + 0x10n);
  });
});

describe("nested NPT with GMET (KVM '7.3'): NPT02 is walked with GMET and NX", () => {
  function gmet(leaf: bigint) {
    const n = nestedNpt({ gmet: true });
    const old = n.npt.getEntry(DATA_N, 1).value;
    n.npt.setEntry(DATA_N, 1, (old & ~(P | RW | US | NX)) | leaf);
    n.l2pt.map(GVA + 0x10_0000n, DATA_N, { flags: { writable: true, user: true } });
    n.enter();
    return n;
  }

  it('U=1 page: a supervisor read builds the NPT02 leaf, a supervisor fetch then faults in NPT02 and reaches L1', () => {
    const n = gmet(P | RW | US);
    expect(n.v.read(GVA).status).toBe('ok');
    const r = n.v.fetch(GVA);
    expect(r.exits.map((e) => e.kind)).toEqual(['npf']);
    // svm_npt.c:158-160 npt_gmet_us: EXITINFO1 & ~U == 0x1_0000_0011.
    const info = npf(r);
    expect(info - (info & 4)).toBe(0x1_0000_0011);
  });

  it('an NX page read twice: the second read runs on the NX NPT02 leaf without an exit', () => {
    const n = gmet(P | RW | NX);
    expect(n.v.read(GVA).status).toBe('ok');
    const r = n.v.read(GVA);
    expect([r.status, r.exits.length]).toEqual(['ok', 0]);
  });

  it('a user-mode fetch from an NX page: L1\'s NPF carries U (the access\'s own, ASSUMPTION kvm-7x.md §2.1)', () => {
    const n = gmet(P | RW | US | NX);
    const r = n.v.fetch(GVA + 0x10_0000n, true);
    // paging_tmpl.h:477-479: errcode | user_fault | PFERR_FETCH (EFER.NX); P from the NX check;
    // with GMET a user-mode access is a user access (UNVERIFIED in kvm-7x.md §2.1).
    expect(npf(r)).toBe(FINAL + 0x15);
  });
});

describe('nested NPT: records and counters of entries, exits, NPFs and the transition sync', () => {
  it('VMRUN, fixed NPFs and #VMEXIT: events, counters, attempts', () => {
    const n = nestedNpt();
    const from = n.vm.events.length;
    n.enter();
    expect(n.v.nestedNpt!.name).toBe('guest_mmu');
    expect(n.v.nestedNpt!.l2Walker!.role.base.guestMode).toBe(true); // kvm_calc_cpu_role: is_guest_mode
    const pick = (start: number) => n.vm.events.all.slice(start).filter((e) => e.kind === 'nested_exit' || e.kind === 'sync').map((e) => [e.kind, e.gpa, e.outcome]);
    // nested_svm_init_mmu_context (svm/nested.c:90-102); nested_svm_transition_tlb_flush
    // (svm/nested.c:485-504): KVM_REQ_MMU_SYNC on VMRUN (guest_mmu) and #VMEXIT (root_mmu, direct).
    expect(pick(from)).toEqual([
      ['nested_exit', n.ncr3, 'VMRUN: vcpu->arch.mmu = guest_mmu (shadow NPT)'],
      ['sync', null, 'KVM_REQ_MMU_SYNC (VMRUN): guest_mmu roots synced'],
    ]);
    const before = n.vm.events.length;
    const r = n.v.read(GVA + 0x18n);
    expect(r.status).toBe('ok');
    const k = r.exits.length;
    expect(k).toBeGreaterThan(0);
    expect(r.attempts).toBe(k + 1);
    // Each NPF: npf_interception → kvm_mmu_page_fault: pf_taken++ and pf_fixed++ (mmu.c:6274, 6290).
    for (const [s, want] of [['exits', k], ['npf_exits', k], ['pf_taken', k], ['pf_fixed', k], ['nested_fixed', k], ['guest_accesses', 1]] as const) expect(n.v.stats.get(s)).toBe(want);
    const evs = n.vm.events.all.slice(before);
    expect(evs.filter((e) => e.kind === 'npf').map((e) => [e.gva, e.gpa, e.code, e.outcome])).toEqual(r.exits.map((x) => [GVA + 0x18n, x.gpa, x.info, 'L2: NPT02 (shadow of NPT12)']));
    expect(evs.filter((e) => e.kind === 'page_fault').map((e) => [e.gpa, e.code, e.outcome])).toEqual(r.exits.map((x) => [x.gpa, x.errorCode, 'RET_PF_FIXED']));
    expect(r.exits.at(-1)!.gpa).toBe(DATA_N + 0x18n);
    expect(r.exits.every((x) => x.fast === false && x.mmio === false)).toBe(true);
    // mmu_alloc_shadow_roots for guest_mmu at nCR3 (roots.ts mmuLoad names the MMU).
    expect(n.vm.events.all.slice(from).filter((e) => e.kind === 'root_alloc').map((e) => e.outcome)).toEqual([`guest_mmu pgd 0x${n.ncr3.toString(16)}`]);
    const mid = n.vm.events.length;
    n.v.exitNested();
    expect(pick(mid)).toEqual([
      ['nested_exit', null, '#VMEXIT: vcpu->arch.mmu = root_mmu'],
      ['sync', null, 'KVM_REQ_MMU_SYNC (#VMEXIT): root_mmu is direct, nothing to sync'],
    ]);
  });

  it('a reflected NPF: the exit record and the #VMEXIT it causes', () => {
    const n = nestedNpt();
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    n.enter();
    const from = n.vm.events.length;
    const r = n.v.write(GVA + 0x10_0000n);
    expect(npf(r)).toBe(FINAL + 6); // not present: W|U (paging_tmpl.h:477), svm/nested.c:49-54
    expect(r.exits.at(-1)).toMatchObject({ ret: 'reflected to L1', fast: false, mmio: false });
    const why = 'NPT12 fault reflected to L1 (#VMEXIT NPF)';
    expect(n.vm.events.all.slice(from).filter((e) => e.kind === 'nested_exit' || e.kind === 'sync').map((e) => e.outcome)).toEqual([
      `${why}: vcpu->arch.mmu = root_mmu`,
      `KVM_REQ_MMU_SYNC (${why}): root_mmu is direct, nothing to sync`,
    ]);
  });

  it('an L2 #PF (L2 maps nothing there) is delivered by the hardware: no exit, a guest_pf record', () => {
    const n = nestedNpt();
    n.enter();
    n.v.read(GVA); // L2's tables are in NPT02 now
    const r = n.v.write(GVA + 0x80_0000n);
    // svm.c:1331-1335: with NPT, #PF is not intercepted; L2's walk faults: not present, write (error code 2).
    expect([r.status, r.exits.length, r.attempts]).toEqual(['guest-pf', 0, 1]);
    const e = n.vm.events.all.at(-1)!;
    expect([e.kind, e.gva, e.code, e.outcome]).toEqual(['guest_pf', GVA + 0x80_0000n, 2n, 'L2 #PF (delivered by hardware)']);
  });

  it('errors name the rule, the value and the reason', () => {
    const shadowVm = new Vm({ mmu: 'shadow', spte: { flavour: 'npt' } });
    shadowVm.addMemslot({ base: 0n, size: 1n << 24n, name: 'ram' });
    const sv = shadowVm.createVcpu({ ...L1_LONG, cr3: 0x1000n });
    const e1 = thrown(() => sv.enterNestedNpt({ ncr3: 0x2000n, l1: { ...L1_LONG, cr3: 0x1000n }, l2: { ...L2_LONG, cr3: 0x3000n } }));
    expect([e1.rule, e1.value]).toEqual(['nested-npt-needs-npt', 'shadow']);
    expect(e1.message).toMatch(/nested NPT needs an NPT host \(this VM uses EPT or shadow paging\)/);
    const n5 = nestedNpt();
    const n = nestedNpt({ npt12: 'paging4' });
    const e2 = thrown(() => n.v.enterNestedNpt({ ncr3: 0x3000_0000n, l1: { ...n.l1Regs, cr3: n.l1pt.root }, l2: { ...L2_LONG, cr3: n.l2pt.root } }));
    expect(e2).toBeInstanceOf(GpaOutsideMemoryError);
    expect([e2.rule, e2.value]).toEqual(['ncr3-outside-l1-memory', '0x30000000']);
    expect(e2.message).toMatch(/nCR3's root table is not in L1's memory/);
    // A 5-level NPT12 (L1 with LA57) on a 4-level host: root_role.level = host NPT level (mmu.c:5725).
    const l1la57 = { ...n5.l1Regs, cr4: n5.l1Regs.cr4 | (1n << 12n), cr3: n5.l1pt.root };
    const e3 = thrown(() => n5.v.enterNestedNpt({ ncr3: n5.ncr3, l1: l1la57, l2: { ...L2_LONG, cr3: n5.l2pt.root }, level: 5 }));
    expect(e3).toBeInstanceOf(InvalidRegisterStateError);
    expect([e3.rule, e3.value]).toEqual(['npt12-deeper-than-host', '5']);
    expect(e3.message).toMatch(/a 5-level NPT12 cannot be shadowed by 4-level NPT02 roots/);
  });
});

describe('nested NPT: the MMIO fast path (handle_mmio_page_fault) and its counters', () => {
  const MMIO_N = 0x380_0000n;
  const MMIO_G = 0x4000_0000n; // above the 1 GiB slot: no memslot, an MMIO SPTE in NPT02
  function device() {
    const n = nestedNpt();
    n.npt.map(MMIO_N, MMIO_G, { flags: { writable: true, user: true, accessed: true, dirty: true } });
    n.l2pt.map(GVA + 0x10_0000n, MMIO_N, { flags: { writable: true, accessed: true, dirty: true } });
    n.enter();
    return n;
  }

  it('first access: a page fault emulated (pf_emulate); then cached: RSVD NPF emulated as MMIO, no page fault taken', () => {
    const n = device();
    const first = n.v.read(GVA + 0x10_0000n);
    expect([first.status, first.emulation, first.exits.at(-1)!.ret]).toEqual(['emulated', 'MMIO', 'RET_PF_EMULATE']);
    // mmu.c:6290-6292: the final fault counts pf_emulate, the table fixes before it pf_fixed.
    expect(n.v.stats.get('pf_emulate')).toBe(1);
    expect(n.v.stats.get('pf_fixed')).toBe(first.exits.length - 1);
    expect(n.v.stats.get('nested_fixed')).toBe(first.exits.length - 1);
    const taken = n.v.stats.get('pf_taken');
    const r = n.v.read(GVA + 0x10_0000n);
    // kvm_mmu_page_fault (mmu.c:6262-6270): PFERR_RSVD → handle_mmio_page_fault → RET_PF_EMULATE
    // before pf_taken (mmu.c:6274).
    expect([r.status, r.emulation, r.exits.length, r.exits[0]!.mmio]).toEqual(['emulated', 'MMIO', 1, true]);
    expect(n.v.stats.get('pf_taken')).toBe(taken);
    // hardware: EXITINFO1 = P|RSVD|U with GUEST_FINAL for the reserved NPT02 entry.
    expect(Number(r.exits[0]!.info) & 0xd).toBe(0xd);
  });

  it('a stale MMIO SPTE (new memslot generation) takes a page fault (pf_taken) and is emulated again', () => {
    const n = device();
    n.v.read(GVA + 0x10_0000n);
    const taken = n.v.stats.get('pf_taken');
    n.vm.addMemslot({ base: 0x8000_0000n, size: 0x1000n, name: 'unrelated' }); // kvm_main.c: a new generation
    const r = n.v.read(GVA + 0x10_0000n);
    // mmu.c:4348-4349: generation mismatch → RET_PF_INVALID → pf_taken++ (mmu.c:6274).
    expect([r.status, r.emulation]).toEqual(['emulated', 'MMIO']);
    expect(n.v.stats.get('pf_taken')).toBe(taken + 1);
  });
});

describe('guest_mmu (both flavours): memslots and the address of a reflected fault', () => {
  it('data in a second memslot: the host frame is that slot\'s (its first gfn)', () => {
    const n = nested();
    // A slot allocated first elsewhere, so that 'hi' is not backed right after 'ram' (then the
    // frame of 'ram' extended past its end would be the same number).
    n.vm.addMemslot({ base: 3n << 30n, size: 0x1000n, name: 'spacer', hostPageSize: '4K' });
    const hi = n.vm.addMemslot({ base: 1n << 30n, size: 0x10_0000n, name: 'hi', hostPageSize: '4K' });
    expect(hi.pfnBase).not.toBe(n.ram.pfnBase + 0x40000);
    n.ept.map(0x380_0000n, 1n << 30n);
    n.l2pt.map(EGVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    n.enter();
    const r = n.v.read(EGVA + 0x10_0020n);
    expect(r.l1Gpa).toBe((1n << 30n) + 0x20n);
    expect(BigInt(r.hpa!)).toBe(BigInt(hi.pfnBase) * 4096n + 0x20n);
  });

  /** A read-only EPT02 entry for EGVA in an unsync page, whose EPT12 entry L1 then rewrites to `next` (no INVEPT). */
  function staleReadOnly(next: bigint) {
    const n = nested();
    const R = 1n | (6n << 3n);
    n.ept.setEntry(EDATA_N, 1, EDATA_G | R);
    n.enter();
    expect(BigInt(n.v.read(EGVA).hpa!) >> 12n).toBe(n.frameOf(EDATA_G));
    n.v.exitNested();
    const e = n.ept.getEntry(EDATA_N, 1);
    expect(n.v.store(DM + BigInt(e.gpa), next, 8).status).toBe('ok'); // unsync: no exit
    n.enter();
    return n;
  }

  it('a present EPT12 fault reflected to L1 first syncs the faulting nGPA in the unsync EPT02 page (x86.c:983-986)', () => {
    const n = staleReadOnly(0x600_0000n | 1n | (6n << 3n)); // unsync: L2 still sees EDATA_G
    const w = n.v.write(EGVA);
    // EPT02 (R) refuses the write; EPT12 (R) too: a present fault. kvm_inject_emulated_page_fault
    // invalidates the address in the current root before injecting (x86.c:983-986), which syncs
    // the unsync EPT02 entry from EPT12; vmx_tests.c:2988 EPT_VLT_WR | EPT_VLT_PERM_RD.
    expect(w.status).toBe('l1-exit');
    if (w.nestedExit?.kind !== 'ept-violation') throw new Error('no EPT violation');
    expect(w.nestedExit.qualification & 0x3f).toBe(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ);
    n.enter(); // no INVEPT
    expect(BigInt(n.v.read(EGVA).hpa!) >> 12n).toBe(n.frameOf(0x600_0000n));
  });

  it('an EPT12 entry made not present: the reflected fault does not invalidate the nGPA, the stale EPT02 entry stays (x86.c:983-984)', () => {
    const n = staleReadOnly(0n);
    // EPT02 (R) refuses the write; EPT12 has no entry: a not-present fault (PFERR_PRESENT clear),
    // so kvm_inject_emulated_page_fault skips kvm_mmu_invalidate_addr (x86.c:983-986).
    const w = n.v.write(EGVA);
    expect(w.status).toBe('l1-exit');
    if (w.nestedExit?.kind !== 'ept-violation') throw new Error('no EPT violation');
    expect(w.nestedExit.qualification & 0x3f).toBe(EPT_QUAL.ACC_WRITE); // vmx_tests.c:2977 ept_access_violation(0, OP_WRITE, EPT_VLT_WR)
    n.enter();
    // Until L1's INVEPT, L2 still reads through the stale entry (the hardware's cached translation).
    expect(BigInt(n.v.read(EGVA).hpa!) >> 12n).toBe(n.frameOf(EDATA_G));
  });

  it('an EPT12 entry with a reserved bit: the reflected misconfiguration does not invalidate the nGPA (x86.c:983-984)', () => {
    // Bit 51 is reserved in an EPT entry below MAXPHYADDR 52 (SDM Vol. 3C 29.3.3.1; paging_tmpl.h
    // FNAME(is_rsvd_bits_set) → PFERR_RSVD_MASK, which x86.c:983-984 excludes from the invalidation).
    const n = staleReadOnly(EDATA_G | 1n | 2n | (6n << 3n) | (1n << 51n));
    const w = n.v.write(EGVA);
    expect(w.status).toBe('l1-exit');
    expect(w.nestedExit?.kind).toBe('ept-misconfig'); // nested_ept_inject_page_fault, vmx/nested.c:438-440
    n.enter();
    expect(BigInt(n.v.read(EGVA).hpa!) >> 12n).toBe(n.frameOf(EDATA_G));
  });
});
