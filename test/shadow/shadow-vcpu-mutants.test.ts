/**
 * src/shadow/shadow-vcpu.ts paths that mutation testing (`npm run mutate`) found unchecked: the
 * records an access returns (exits, guest walk, GPA), the vCPU statistics and events of
 * `kvm_mmu_page_fault`, the emulator's translation of a cached MMIO SPTE
 * (`vcpu_mmio_gva_to_gpa`), the address invalidation of `kvm_inject_emulated_page_fault`, the
 * register-write side (CR4.PGE/PCIDE flushes, PDPTE reloads, MOV CR3 only), and the hardware
 * format the shadow tables are walked with. Expected values come from x86.c/mmu.c of Linux
 * v6.16.1 (cited per assertion).
 *
 * Surviving mutants of shadow-vcpu.ts that no test can kill (equivalent):
 * - shadowHardwareFormat `pse: true`, `amd: true`, `cr4Pke: true`: PSE matters to 2-level paging
 *   only (the hardware walks PAE/4/5-level shadow tables); shadow SPTEs set none of the bits the
 *   AMD variant reserves differently; protection keys are 0 in every SPTE and PKRU is 0 there.
 * - rootMmuSetup's CR3 mask for 32-bit/PAE roles widened to bits 12-51: CR3 of such a guest has
 *   no bits above 31 (the PAE root is loaded from the PDPTEs anyway).
 * - `isPae` → false for PAE/long-mode guests: a 4-byte write to an 8-byte gPTE selects the same
 *   gPTE and is not misaligned whether or not it is widened (mmu.c:5975-5986, 5878-5893).
 * - `root.hpa < 0` → `<= 0`: no shadow page is at host frame 0 (guest RAM is allocated first).
 * - `h.ret === RET_PF.EMULATE && cachedMmioGfn !== undefined` → `true && …`: the gfn is cached
 *   only when handle_mmio_page_fault returned RET_PF_EMULATE.
 * - `guestWalk.status === 'ok'` → true for the emulated record: a record built with WalkStop.Ok
 *   is always ok.
 * - `hostPfnToGfn`'s `return -1` and the access's `g < 0` → false: every frame a shadow SPTE maps
 *   belongs to a memslot.
 * - `!fetch` → true: a fetch's cached MMIO access never permits it (mark_mmio_spte keeps W|U only,
 *   mmu.c:311-314), so the guest tables are walked either way.
 * - `attempt <= MAX_ATTEMPTS` → `<`: no access needs eight exits.
 * - guest_pf's outcome `status === 'fault'` → true, and the `?? 'emulated'` defaults: an injected
 *   fault's record is always a fault, and every RET_PF_EMULATE carries its reason.
 * Not killed: the paging-off emulated record's `gpaKind: 'ram'` (the model labels it so whether or
 * not a memslot backs the GPA, so no test asserts it), `isPae` → true for a 32-bit guest's 4-byte store (no test tells the widened write
 * apart), reserved bits in a present SPTE under an RSVD fault (KVM's WARN, mmu.c:4341-4342,
 * a KVM bug), `RET_PF_SPURIOUS` counting (no fault finds its SPTE already fixed), and the
 * no-progress error texts.
 */
import { describe, expect, it } from 'vitest';
import { CR0, CR4, DEFAULT_FEATURES, EFER, GuestMemory, GvaWalker, InvalidArgumentError, PageTableBuilder, RET_PF, SHADOW_NONPRESENT_VALUE, ShadowVcpu, Vm, hostPfnToGfn, rootMmuSetup, shadowPath, type Vcpu } from '../../src';
import { LONG_MODE } from '../vm/fixtures';
import { hostFrameOf, refuses as refusesAs, shadowFixture, tableOf } from './fixtures';

/** An InvalidArgumentError with `rule` whose message starts with `text`. */
const refuses = (fn: () => unknown, rule: string, text: string) => refusesAs(fn, InvalidArgumentError, rule, text);

const VA = 0x7000_0000n;
const GPA = 0x80_0000n;
const MMIO = 0x4000_0000n;
const PAGING_OFF = { cr0: CR0.PE, cr3: 0n, cr4: 0n, efer: 0n };
const PF = { P: 1, W: 2, U: 4, RSVD: 8 };

function lastSpte(vm: Vm, v: Vcpu, va: bigint): bigint {
  const ctx = v.shadow!.ctx;
  const path = shadowPath(vm.shadow, ctx, ctx.root.hpa, va);
  const last = path[path.length - 1]!;
  return vm.shadow.readSpte(last.sp, last.idx);
}

describe('ShadowVcpu.access: the records of a completed access', () => {
  it('GPA, guest walk, exit record, attempts, statistics and events of a 4K access with one #PF exit', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const from = f.vm.events.all.length;
    const r = f.v.read(VA + 0x123n);
    expect(r.status).toBe('ok');
    expect(r.gpa).toBe(GPA + 0x123n);
    expect(r.hpa).toBe((hostFrameOf(f, GPA) << 12n) + 0x123n);
    expect(r.attempts).toBe(2);
    expect(r.guestWalk).toMatchObject({ status: 'ok', stage: 'gva_walk', trace: [], gpa: GPA + 0x123n, gfn: Number(GPA >> 12n), level: 1, pageSize: 4096, gpaKind: 'ram' });
    // A #PF intercept (EXCEPTION_NMI) handled by kvm_mmu_page_fault: RET_PF_FIXED, not on a guest table.
    expect(r.exits).toEqual([expect.objectContaining({ kind: 'pf_intercept', reason: 0, gpa: VA + 0x123n, onGuestTable: false, errorCode: 0n, ret: 'RET_PF_FIXED', fast: false, mmio: false })]);
    expect(f.v.stats.get('guest_accesses')).toBe(1);
    expect(f.v.stats.get('exits')).toBe(1);
    expect(f.v.stats.get('pf_exits')).toBe(1);
    expect(f.v.stats.get('pf_taken')).toBe(1); // vcpu->stat.pf_taken (mmu.c kvm_mmu_do_page_fault)
    expect(f.v.stats.get('pf_fixed')).toBe(1);
    expect(f.v.stats.get('pf_emulate')).toBe(0);
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'pf_exit' || e.kind === 'page_fault');
    expect(ev.map((e) => [e.kind, e.vcpu, e.gva, e.code, e.outcome])).toEqual([
      ['pf_exit', 0, VA + 0x123n, 0n, 'page fault in the shadow tables'],
      ['page_fault', 0, VA + 0x123n, 0n, 'RET_PF_FIXED'],
    ]);
    expect(f.v.shadow!.name).toBe('root_mmu'); // init_kvm_softmmu: vcpu->arch.root_mmu
  });

  it('a 2 MiB shadow leaf reports a 2 MiB page; GPA 0 is a GPA', () => {
    const f = shadowFixture('paging4');
    f.pt.map(0x4000_0000n, 0x400_0000n, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    const r = f.v.read(0x4000_1234n);
    expect(r.guestWalk).toMatchObject({ level: 2, pageSize: 0x20_0000, gpa: 0x400_1234n });
    const v0 = f.vm.createVcpu(PAGING_OFF);
    const z = v0.read(0x10n);
    expect(z.gpa).toBe(0x10n);
    expect(z.guestWalk).toMatchObject({ gpa: 0x10n, gfn: 0 });
  });

  it('a frame of a later memslot: the GPA is that slot\'s, not the previous slot\'s end', () => {
    const f = shadowFixture('paging4');
    const more = f.vm.addMemslot({ base: 0x8000_0000n, size: 0x10_0000n, name: 'more' });
    f.pt.map(VA, 0x8000_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    const r = f.v.read(VA);
    expect(r.hpa).toBe(BigInt(more.pfnBase) << 12n);
    expect(r.gpa).toBe(0x8000_0000n);
  });

  it('memslots out of frame order: the slot of lower GPA has the higher frames', () => {
    const vm = new Vm({ mmu: 'shadow', checkInvariants: true, spte: { flavour: 'npt' } });
    const hi = vm.addMemslot({ base: 0x4000_0000n, size: 0x10_0000n, name: 'hi' });
    const ram = vm.addMemslot({ base: 0n, size: 0x400_0000n, name: 'ram' });
    expect(hi.pfnBase).toBeLessThan(ram.pfnBase);
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x40_0000n } });
    pt.map(VA, 0x4000_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    expect(v.read(VA).gpa).toBe(0x4000_0000n);
  });

  it('a guest #PF: the exit, the injected fault\'s record, pf_guest and the guest_pf event', () => {
    const f = shadowFixture('paging4');
    const from = f.vm.events.all.length;
    const r = f.v.write(VA, true);
    expect(r.status).toBe('guest-pf');
    expect(r.exits.map((e) => [e.ret, e.mmio, e.onGuestTable, e.fast])).toEqual([['guest #PF injected', false, false, false]]);
    expect(r.guestWalk).toMatchObject({ status: 'fault', stage: 'gva_walk', errorCode: PF.W | PF.U });
    expect(f.v.stats.get('pf_guest')).toBe(1);
    const ev = f.vm.events.all.slice(from).filter((e) => e.kind === 'guest_pf' || e.kind === 'page_fault');
    expect(ev.map((e) => [e.kind, e.code])).toEqual([['page_fault', BigInt(PF.W | PF.U)], ['guest_pf', BigInt(PF.W | PF.U)]]);
    expect(ev[0]!.outcome).toBe('guest #PF injected');
    expect(ev[1]!.outcome).toBe(r.guestWalk.status === 'fault' ? r.guestWalk.reason : 'none');
    expect(ev[1]!.outcome).not.toBe('');
  });

  it('paging off: an MMIO access is emulated with GPA = GVA; the cached MMIO SPTE is used again without a guest walk', () => {
    const f = shadowFixture('paging4');
    const v0 = f.vm.createVcpu(PAGING_OFF);
    const r = v0.read(MMIO + 0x10n);
    expect(r.status).toBe('emulated');
    expect(r.gpa).toBe(MMIO + 0x10n);
    expect(r.emulation).toMatch(/MMIO/);
    expect(r.guestWalk).toMatchObject({ status: 'ok', stage: 'gva_walk', trace: [], gpa: MMIO + 0x10n, gfn: Number(MMIO >> 12n), level: 1, pageSize: 4096 });
    const again = v0.read(MMIO + 0x20n);
    expect(again.status).toBe('emulated');
    expect(again.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', true]]);
    expect(again.gpa).toBe(MMIO + 0x20n);
  });
});

describe('kvm_mmu_page_fault with PFERR_RSVD (mmu.c:4332-4367, x86.c:7877-7905)', () => {
  it('a cached MMIO SPTE: emulated on the SPTE\'s gfn, an MMIO exit, a noslot record', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, MMIO, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('emulated');
    const r = f.v.read(VA + 0x40n);
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['RET_PF_EMULATE', true]]);
    expect(r.emulation).toMatch(/cached MMIO SPTE/);
    expect(r.guestWalk).toMatchObject({ status: 'ok', stage: 'gva_walk', trace: [], gpa: MMIO + 0x40n, gfn: Number(MMIO >> 12n), level: 1, pageSize: 4096, gpaKind: 'noslot' });
    expect(f.v.stats.get('pf_emulate')).toBe(2);
    expect(f.v.stats.get('pf_taken')).toBe(1); // the cached SPTE is not a page fault taken
  });

  it('the first MMIO access walks the guest: its record is the guest walk\'s', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, MMIO, { flags: { writable: true, accessed: true, dirty: true } });
    const r = f.v.read(VA + 0x8n);
    expect(r.status).toBe('emulated');
    expect(r.guestWalk).toMatchObject({ status: 'ok', stage: 'gva_walk', gpa: MMIO + 0x8n });
    expect(r.gpa).toBe(MMIO + 0x8n);
  });

  it('an RSVD fault on an SPTE that is not MMIO: RET_PF_RETRY, no page fault taken (mmu.c:4362-4366)', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const taken = f.v.stats.get('pf_taken');
    const r = f.v.shadow!.pageFault(VA, PF.P | PF.RSVD, 0);
    expect([r.ret, r.mmio, r.injected]).toEqual([RET_PF.RETRY, false, false]);
    expect(f.v.stats.get('pf_taken')).toBe(taken);
    expect([f.v.stats.get('pf_emulate'), f.v.stats.get('pf_spurious')]).toEqual([0, 0]);
    // No root at all: get_mmio_spte finds no SPTE (mmu.c walk_shadow_page_get_mmio_spte), RETRY too.
    f.v.shadow!.unload();
    expect(f.v.shadow!.pageFault(VA, PF.P | PF.RSVD, 0).ret).toBe(RET_PF.RETRY);
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
  });

  it('a stale RET_PF_RETRY (obsolete root) counts neither emulate nor spurious', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { count: 32, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    f.vm.zapAllFast();
    expect(f.v.shadow!.pageFault(VA + 0x1_0000n, 0, 0).ret).toBe(RET_PF.RETRY);
    expect([f.v.stats.get('pf_emulate'), f.v.stats.get('pf_spurious'), f.v.stats.get('pf_fixed')]).toEqual([0, 0, 1]);
  });

  /** An unsync table with an MMIO gPTE at VA + 0x1000 (cached) and RAM at VA. */
  function unsyncMmio(flags: { writable?: boolean; user?: boolean }, regs: Parameters<typeof shadowFixture>[1] = {}) {
    const f = shadowFixture('paging4', { hostPageSize: '4K', ...regs });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    f.pt.map(VA + 0x1000n, MMIO, { flags: { accessed: true, dirty: true, ...flags } });
    expect(f.v.read(VA + 0x1000n, flags.user === true).status).toBe('emulated');
    expect(f.storePte(VA, 1, f.pt.getEntry(VA, 1).value).status).toBe('ok');
    expect(tableOf(f, VA, 1).unsync).toBe(true);
    return f;
  }

  it('the cached access permits a read: no guest walk, even after the guest cleared its unsync gPTE (x86.c:7890-7896)', () => {
    const f = unsyncMmio({ writable: true });
    f.pt.setEntry(VA + 0x1000n, 1, 0n);
    const r = f.v.read(VA + 0x1000n);
    expect(r.status).toBe('emulated');
    expect(r.gpa).toBe(MMIO);
  });

  it('SMAP with EFLAGS.AC: an explicit supervisor read of a user MMIO page uses the cache; an implicit one walks (permission_fault, x86.c:7890-7892)', () => {
    const f = unsyncMmio({ writable: true, user: true }, { extraRegs: { cr4: CR4.SMAP } });
    f.pt.setEntry(VA + 0x1000n, 1, 0n);
    expect(f.v.access(VA + 0x1000n, { kind: 'read', ac: true }).status).toBe('emulated');
    // An implicit supervisor access ignores AC: SMAP applies, the cache does not permit it, and the
    // walk of the cleared gPTE fails.
    expect(f.v.access(VA + 0x1000n, { kind: 'read', ac: true, implicit: true }).status).toBe('guest-pf');
  });

  it('the cached access denies a write: the walk fails with P|W, and the injected fault invalidates the address (x86.c:983-986)', () => {
    const f = unsyncMmio({ writable: false });
    // The guest points the gPTE at RAM, still read-only, in its unsync table.
    f.pt.setEntry(VA + 0x1000n, 1, (GPA + 0x3000n) | 0x61n);
    const r = f.v.write(VA + 0x1000n);
    expect(r.status).toBe('guest-pf');
    expect(r.exits.map((e) => [e.ret, e.mmio])).toEqual([['guest #PF injected', false]]);
    expect(r.guestWalk).toMatchObject({ status: 'fault', errorCode: PF.P | PF.W });
    // kvm_mmu_invalidate_addr → FNAME(sync_spte): the MMIO SPTE's gfn changed → cleared (sync_mmio_spte).
    expect(lastSpte(f.vm, f.v, VA + 0x1000n)).toBe(SHADOW_NONPRESENT_VALUE);
  });

  it('the cached access denies a write and the new gPTE has reserved bits: a P|W|RSVD fault does not invalidate (x86.c:983-984)', () => {
    const f = unsyncMmio({ writable: false });
    f.pt.setEntry(VA + 0x1000n, 1, (GPA + 0x3000n) | 0x61n | (1n << 50n));
    const before = lastSpte(f.vm, f.v, VA + 0x1000n);
    const r = f.v.write(VA + 0x1000n);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk).toMatchObject({ status: 'fault', errorCode: PF.P | PF.W | PF.RSVD });
    expect(lastSpte(f.vm, f.v, VA + 0x1000n)).toBe(before);
  });

  it('the cached access denies a write and the gPTE is gone: a not-present fault does not invalidate (x86.c:983-984)', () => {
    const f = unsyncMmio({ writable: false });
    f.pt.setEntry(VA + 0x1000n, 1, 0n);
    const before = lastSpte(f.vm, f.v, VA + 0x1000n);
    const r = f.v.write(VA + 0x1000n);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk).toMatchObject({ status: 'fault', errorCode: PF.W });
    expect(lastSpte(f.vm, f.v, VA + 0x1000n)).toBe(before);
  });
});

describe('kvm_inject_emulated_page_fault after FNAME(page_fault): which faults invalidate the address (x86.c:983-986)', () => {
  /** VA mapped read-only (clean gPTE) in an unsync table, so the guest can rewrite its gPTE. */
  function unsyncRo() {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true } });
    f.pt.map(VA + 0x1000n, GPA + 0x1000n, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok');
    expect(tableOf(f, VA, 1).unsync).toBe(true);
    expect(f.v.shadow!.leafFor(VA)!.spte & 2n).toBe(0n);
    return f;
  }

  it('a protection fault (P|W): the entry is synced, and the gPTE\'s new gfn drops it', () => {
    const f = unsyncRo();
    f.pt.setEntry(VA, 1, (GPA + 0x5000n) | 0x21n); // read-only, another frame
    const r = f.v.write(VA);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk).toMatchObject({ errorCode: PF.P | PF.W });
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
  });

  it('a not-present fault: no invalidation, the old SPTE stays', () => {
    const f = unsyncRo();
    f.pt.setEntry(VA, 1, (GPA + 0x5000n) | 0x20n); // not present
    const r = f.v.write(VA);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk).toMatchObject({ errorCode: PF.W });
    expect(f.v.shadow!.leafFor(VA)).toBeDefined();
  });

  it('a reserved-bit fault (P|W|RSVD): no invalidation, the old SPTE stays', () => {
    const f = unsyncRo();
    f.pt.setEntry(VA, 1, f.pt.getEntry(VA, 1).value | (1n << 50n)); // above the guest MAXPHYADDR
    const r = f.v.write(VA);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk).toMatchObject({ errorCode: PF.P | PF.W | PF.RSVD });
    expect(f.v.shadow!.leafFor(VA)).toBeDefined();
  });
});

describe('register writes without TDP (x86.c:1300-1329, kvm_set_cr3, load_pdptrs)', () => {
  it('CR4.PGE toggled and CR4.PCIDE cleared flush the guest TLB; PCIDE set and other bits do not (x86.c:1326-1328)', () => {
    const f = shadowFixture('paging4');
    const flushes = () => f.v.stats.get('tlb_flush');
    let n = flushes();
    f.v.setRegisters({ cr4: f.v.regs.cr4 | CR4.OSFXSR });
    expect(flushes()).toBe(n);
    f.v.setRegisters({ cr4: f.v.regs.cr4 | CR4.PGE });
    expect(flushes()).toBe(++n);
    f.v.setRegisters({ cr4: f.v.regs.cr4 | CR4.PCIDE });
    expect(flushes()).toBe(n); // 0 → 1: kvm_mmu_unload (x86.c:1314-1316), no flush request
    f.v.setRegisters({ cr4: f.v.regs.cr4 & ~CR4.PCIDE });
    expect(flushes()).toBe(++n);
  });

  it('a CR4 write that is not MOV CR3 does not invalidate the PCID: an unsync gPTE change stays unseen', () => {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { count: 2, flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    expect(f.storePte(VA + 0x1000n, 1, f.pt.getEntry(VA + 0x1000n, 1).value).status).toBe('ok');
    f.pt.setEntry(VA, 1, (GPA + 0x5000n) | 0x63n);
    const old = f.v.shadow!.leafFor(VA)!.spte;
    f.v.setRegisters({ cr4: f.v.regs.cr4 | CR4.OSFXSR });
    f.v.shadow!.load();
    expect(f.v.shadow!.leafFor(VA)!.spte).toBe(old);
    // MOV CR3 (same value, no PCID no-flush bit): kvm_invalidate_pcid → KVM_REQ_MMU_SYNC.
    f.v.movCr3(f.v.regs.cr3);
    f.v.shadow!.load();
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
  });

  it('PAE: MOV CR3 with unchanged PDPTEs keeps the PAE root; changed PDPTEs free it (load_pdptrs, x86.c)', () => {
    const f = shadowFixture('pae');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const frees = () => f.vm.events.all.filter((e) => e.kind === 'root_free').length;
    const n = frees();
    f.v.setRegisters({ cr4: f.v.regs.cr4 | CR4.OSFXSR });
    expect(frees()).toBe(n);
    f.pt.setEntry(0xc000_0000n, 3, 0n); // the guest drops PDPTE 3
    f.v.movCr3(f.v.regs.cr3);
    expect(frees()).toBe(n + 1);
    expect(f.vm.events.all.filter((e) => e.kind === 'root_free').at(-1)!.outcome).toMatch(/^root_mmu /);
  });

  it('a 32-bit guest\'s emulated 4-byte store to its page directory is not widened (CR4.PAE=0, mmu.c:5975-5978): no zap', () => {
    const f = shadowFixture('paging32');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const zapped = f.vm.stats.get('mmu_shadow_zapped');
    // A free PDE of the root table (write-tracked): emulated, one 4-byte gPTE written.
    const pd = BigInt(f.pt.getEntry(VA, 2).gpa) & ~0xfffn;
    expect(f.v.store(f.dm(pd + 0x400n), 0n, 4).status).toBe('emulated');
    expect(f.vm.stats.get('mmu_shadow_zapped')).toBe(zapped);
  });
});

describe('the hardware walk of the shadow tables and the guest roots', () => {
  it('5-level guest: the hardware walks a 5-level shadow root', () => {
    const f = shadowFixture('paging5');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const r = f.v.read(VA);
    expect(r.status).toBe('ok');
    expect(r.exits.length).toBe(1);
    expect(f.v.read(VA).exits.length).toBe(0);
  });

  it('1 GiB shadow leaves (1G host pages under a 1G guest page) are walked by the hardware (gbpages)', () => {
    const f = shadowFixture('paging4');
    f.vm.addMemslot({ base: 1n << 30n, size: 1n << 30n, name: 'big', hostPageSize: '1G' });
    const GB = 0x80_0000_0000n;
    f.pt.map(GB, 1n << 30n, { size: '1G', flags: { writable: true, accessed: true, dirty: true } });
    const r = f.v.read(GB + 0x1234_5678n);
    expect(r.status).toBe('ok');
    expect(f.v.shadow!.leafFor(GB)!.level).toBe(3);
    expect(f.v.read(GB).exits.length).toBe(0);
  });

  it('4-level guest tables above 4 GiB: CR3 bits 12-51 (kvm_init_shadow_mmu walks from CR3 & PT64_BASE_ADDR_MASK)', () => {
    const vm = new Vm({ mmu: 'shadow', checkInvariants: true, spte: { flavour: 'npt' } });
    vm.addMemslot({ base: 0n, size: 0x400_0000n, name: 'ram' });
    vm.addMemslot({ base: 0x1_0000_0000n, size: 0x40_0000n, name: 'high' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x1_0000_0000n, size: 0x40_0000n } });
    pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const v = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    expect(v.read(VA).gpa).toBe(GPA);
  });

  it('PAE: a page directory above 4 GiB (the PDPTE\'s high half, x86.c load_pdptrs)', () => {
    const vm = new Vm({ mmu: 'shadow', checkInvariants: true, spte: { flavour: 'npt' } });
    vm.addMemslot({ base: 0n, size: 0x400_0000n, name: 'ram' });
    vm.addMemslot({ base: 0x1_0000_0000n, size: 0x40_0000n, name: 'high' });
    const pt = new PageTableBuilder(vm.guestMem, { mode: 'pae', pool: { base: 0x1_0000_0000n, size: 0x40_0000n }, root: 0x10_0000n });
    pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG | CR0.WP, cr3: pt.root, cr4: CR4.PAE, efer: EFER.NXE });
    expect(v.read(VA).gpa).toBe(GPA);
  });

  it('INVLPG records its event', () => {
    const f = shadowFixture('paging4');
    const from = f.vm.events.all.length;
    f.v.invlpg(VA);
    expect(f.vm.events.all.slice(from).filter((e) => e.kind === 'invlpg').map((e) => [e.vcpu, e.gva])).toEqual([[0, VA]]);
  });

  it('unload frees the roots: no leaf until the next entry loads them', () => {
    const f = shadowFixture('paging4');
    f.pt.map(VA, GPA, { flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('ok');
    f.v.shadow!.unload();
    expect(f.v.shadow!.ctx.root.hpa).toBe(-1);
    expect(f.v.shadow!.leafFor(VA)).toBeUndefined();
    expect(f.v.read(VA).exits.length).toBe(0); // the same pages are found in the hash again
  });
});

describe('a stale MMIO SPTE under a write-tracked gfn: fault->rsvd stays set (mmu_internal.h:357)', () => {
  it('a write through it skips page_fault_handle_page_track (mmu.c:4369-4370): FNAME(fetch) installs a write-protected SPTE and the write is emulated', () => {
    // CR0.WP=0: a supervisor write to the read-only gPTE is allowed (paging_tmpl.h:810-822), while
    // the MMIO SPTE cached from the read carries no W, so make_spte asks mmu_try_to_unsync_pages.
    const f = shadowFixture('paging4', { hostPageSize: '4K', extraRegs: { cr0: CR0.PE | CR0.PG } });
    const G = 0x4000_0000n;
    f.pt.map(VA, G, { flags: { accessed: true, dirty: true } });
    expect(f.v.read(VA).status).toBe('emulated'); // no memslot yet: an MMIO SPTE
    const slot = f.vm.addMemslot({ base: G, size: 0x20_0000n, name: 'late' }); // a new MMIO generation
    // The guest makes G a page directory (write-tracked once shadowed, mmu.c account_shadowed).
    const VA2 = 0xc000_0000n;
    f.pt.placeTable(2, VA2, G);
    f.pt.map(VA2, 0x600_0000n, { size: '2M', flags: { writable: true, accessed: true, dirty: true } });
    expect(f.v.read(VA2).status).toBe('ok');
    expect(f.vm.shadow.isWriteTracked(Number(G >> 12n))).toBe(true);
    const r = f.v.write(VA);
    // kvm_mmu_page_fault: the RSVD fault finds a stale MMIO SPTE (RET_PF_INVALID, mmu.c:4349-4350) and
    // calls kvm_mmu_do_page_fault with the error code unchanged (mmu.c:6276): fault->rsvd is set, so
    // page_fault_handle_page_track returns false; FNAME(page_fault) strips RSVD for the walk only
    // (paging_tmpl.h:778). mmu_set_spte → make_spte: G is write-tracked → wrprot (spte.c:235-237)
    // → RET_PF_WRITE_PROTECTED (mmu.c:3050-3051) → emulated.
    expect(r.status).toBe('emulated');
    expect(r.exits.map((e) => e.ret)).toEqual(['RET_PF_EMULATE']);
    const leaf = f.v.shadow!.leafFor(VA)!;
    expect(leaf).toBeDefined();
    expect(leaf.spte & 2n).toBe(0n);
    expect(Number((leaf.spte >> 12n) & 0xff_ffff_ffffn)).toBe(slot.pfnBase);
  });
});

describe('the public edge of shadow-vcpu.ts: what it accepts, and each refusal\'s rule and text', () => {
  function warmed() {
    const f = shadowFixture('paging4', { hostPageSize: '4K' });
    f.pt.map(VA, GPA, { flags: { writable: true, user: true } });
    expect(f.v.read(VA).status).toBe('ok');
    const otherMem = new GuestMemory({ maxPhyAddr: f.vm.guestMem.maxPhyAddr });
    const stranger = new GvaWalker(otherMem, f.v.regs, { ...DEFAULT_FEATURES, maxPhyAddr: otherMem.maxPhyAddr });
    return { f, sv: f.v.shadow!, stranger };
  }

  it('rootMmuSetup: a walker, and the memory it walks', () => {
    const { f, stranger } = warmed();
    refuses(() => rootMmuSetup({} as never, f.v.regs, f.vm.guestMem, 46), 'gva-walker', 'walker must be a GvaWalker');
    refuses(() => rootMmuSetup(f.v.walker, f.v.regs, stranger.mem, 46), 'guest-memory', 'guestMem must be the memory the walker walks');
  });

  it('hostPfnToGfn: -1 (no frame) is a frame argument and maps to no gfn; a slot\'s pfnBase is checked by name', () => {
    const { f } = warmed();
    const slots = f.vm.memslots;
    expect(hostPfnToGfn(slots, -1)).toBe(-1);
    refuses(() => hostPfnToGfn([{ ...slots[0]!, pfnBase: -1 }], 0), 'integer-range', 'slots[0].pfnBase ');
  });

  it('new ShadowVcpu: the VM\'s ShadowMmu, an index of 0 or more, Counters, a walker of this VM', () => {
    const { f, stranger } = warmed();
    const [vm, stats, w, r] = [f.vm, f.v.stats, f.v.walker, f.v.regs];
    refuses(() => new ShadowVcpu({ shadow: 5 } as never, 5, stats, w, r), 'shadow-mmu', 'vm.shadow must be the VM\'s ShadowMmu');
    refuses(() => new ShadowVcpu(vm, -1, stats, w, r), 'vcpu-index', 'index must be a vCPU index (0 or more)');
    refuses(() => new ShadowVcpu(vm, 5, {} as never, w, r), 'counters', 'stats must be the vCPU\'s Counters');
    // Checked in parameter order: with the walker bad too, the statistics are named first.
    refuses(() => new ShadowVcpu(vm, 5, {} as never, {} as never, r), 'counters', 'stats must be the vCPU\'s Counters');
    refuses(() => new ShadowVcpu(vm, 5, stats, {} as never, r), 'gva-walker', 'walker must be a GvaWalker');
    refuses(() => new ShadowVcpu(vm, 5, stats, stranger, r), 'guest-memory', 'walker must walk this VM\'s guest memory');
  });

  it('afterSetRegisters: a walker of this VM; pageFault: access flags AC and implicit only', () => {
    const { f, sv, stranger } = warmed();
    const r = f.v.regs;
    refuses(() => sv.afterSetRegisters(r, r, {} as never, false, false, false), 'gva-walker', 'walker must be a GvaWalker');
    refuses(() => sv.afterSetRegisters(r, r, stranger, false, false, false), 'guest-memory', 'walker must walk this VM\'s guest memory');
    refuses(() => sv.pageFault(VA, 0, 1), 'access-flags', 'accessFlags must be ACCESS_AC and/or ACCESS_IMPLICIT');
  });
});
